//! The paths the SPA requests, with user input percent-encoded. Pure.

/// Percent-encodes one path segment or query value (a symbol, an account
/// id), exactly as the browser's `encodeURIComponent` does: letters,
/// digits and `-_.!~*'()` stay, every other byte of the UTF-8 becomes
/// `%XX`.
pub fn encode_segment(segment: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(segment.len());
    for &b in segment.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// `a,b,c` with each item percent-encoded (the comma stays literal: it is
/// TradeStation's list separator).
pub fn encode_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| encode_segment(s.as_ref()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The passthrough URL for a TradeStation v3 path (`"marketdata/quotes/MSFT"`).
pub fn v3_url(path_and_query: &str) -> String {
    format!("/api/ts/v3/{path_and_query}")
}

/// Where the *Sign in* link points; the backend comes back to `return_to`,
/// which must stay on this site (anything else becomes `/`).
pub fn login_url(return_to: &str) -> String {
    let return_to = if return_to.starts_with('/') && !return_to.starts_with("//") {
        return_to
    } else {
        "/"
    };
    format!("/api/ts/login?return_to={}", encode_segment(return_to))
}

/// The quote stream's path for a watchlist.
pub fn quote_stream_url<S: AsRef<str>>(symbols: &[S]) -> String {
    v3_url(&format!(
        "marketdata/stream/quotes/{}",
        encode_list(symbols)
    ))
}

/// The option-chain stream's path. `expiration` is the date part
/// (`YYYY-MM-DD`) of an [`shared::ts::options::Expiration`].
pub fn chain_stream_url(underlying: &str, expiration: &str) -> String {
    v3_url(&format!(
        "marketdata/stream/options/chains/{}?expiration={}",
        encode_segment(underlying),
        encode_segment(expiration)
    ))
}
