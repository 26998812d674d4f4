//! The quotes watchlist: which symbols, and where they are kept.
//!
//! The URL (`/quotes?symbols=MSFT,AAPL`) wins, so a link shares a watchlist;
//! otherwise local storage (`ts.watchlist`) remembers the last one; otherwise
//! a small default. Every change is written to both. Parsing is pure and
//! tested in `tests/logic.rs`; the storage calls are the only browser part
//! (built for wasm only).

/// Local storage key.
pub const STORAGE_KEY: &str = "ts.watchlist";
/// TradeStation's quote stream takes at most 100 symbols; a screen of rows
/// stays readable well below that.
pub const MAX_SYMBOLS: usize = 50;
/// What a first visit shows.
pub const DEFAULT: [&str; 3] = ["MSFT", "AAPL", "SPY"];

/// One symbol as typed, normalised: trimmed, upper-case, and only the
/// characters TradeStation symbols use (`$SPX.X`, `@ES`, `BRK.B`, `ESZ24`).
pub fn normalise(raw: &str) -> Result<String, String> {
    let symbol = raw.trim().to_ascii_uppercase();
    if symbol.is_empty() {
        return Err("Type a symbol, e.g. MSFT.".to_owned());
    }
    if symbol.len() > 24 {
        return Err(format!("“{symbol}” is too long for a symbol."));
    }
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '$' | '@' | '#' | '^' | '_' | '-');
    if !symbol.chars().all(allowed) {
        return Err(format!(
            "“{symbol}” is not a symbol TradeStation knows how to quote."
        ));
    }
    Ok(symbol)
}

/// A comma- or space-separated list, normalised and de-duplicated in order.
/// Invalid entries are reported together; valid ones are kept.
pub fn parse_list(input: &str) -> (Vec<String>, Vec<String>) {
    let mut symbols: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    for part in input
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        match normalise(part) {
            Ok(s) if !symbols.contains(&s) => symbols.push(s),
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    if symbols.len() > MAX_SYMBOLS {
        symbols.truncate(MAX_SYMBOLS);
        errors.push(format!("A watchlist holds at most {MAX_SYMBOLS} symbols."));
    }
    (symbols, errors)
}

/// Adds `new` (a list as typed) to `list`; returns the errors to show.
pub fn add(list: &mut Vec<String>, new: &str) -> Vec<String> {
    let (symbols, mut errors) = parse_list(new);
    if symbols.is_empty() && errors.is_empty() {
        errors.push("Type a symbol, e.g. MSFT.".to_owned());
    }
    for s in symbols {
        if list.len() >= MAX_SYMBOLS {
            errors.push(format!("A watchlist holds at most {MAX_SYMBOLS} symbols."));
            break;
        }
        if !list.contains(&s) {
            list.push(s);
        }
    }
    errors
}

/// The `symbols` query value.
pub fn to_param(list: &[String]) -> String {
    list.join(",")
}

/// The initial watchlist from the URL's `symbols` value, else storage, else
/// [`DEFAULT`].
pub fn initial(from_url: Option<&str>, from_storage: Option<&str>) -> Vec<String> {
    for source in [from_url, from_storage].into_iter().flatten() {
        let (symbols, _) = parse_list(source);
        if !symbols.is_empty() {
            return symbols;
        }
    }
    DEFAULT.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(target_arch = "wasm32")]
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The stored watchlist, if any.
#[cfg(target_arch = "wasm32")]
pub fn load() -> Option<String> {
    storage()?.get_item(STORAGE_KEY).ok()?
}

/// Remembers the watchlist (best effort: private windows may refuse).
#[cfg(target_arch = "wasm32")]
pub fn save(list: &[String]) {
    if let Some(s) = storage() {
        let _ = s.set_item(STORAGE_KEY, &to_param(list));
    }
}
