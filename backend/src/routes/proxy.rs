//! The passthrough: `GET /api/ts/v3/{*path}` → `GET {TS_BASE_URL}/v3/{path}`
//! with the session's bearer token.
//!
//! Only `GET`, only under `brokerage/` and `marketdata/`, with the path
//! checked on its raw (still percent-encoded) form: no `.`/`..` segments, no
//! empty segments, no encoded or literal slashes or backslashes inside one.
//! Outbound requests carry only the bearer token, `Accept` and the query.
//! Bodies stream through as they arrive — TradeStation's market-data streams
//! run for minutes — and a stream silent for `TS_STREAM_IDLE_TIMEOUT` is
//! closed. An upstream 401 causes one forced refresh and one retry.

use super::AppState;
use crate::error::ApiError;
use crate::listener::CloseConnection;
use crate::tokens::Usable;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use futures_util::StreamExt;
use percent_encoding::percent_decode_str;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/ts/v3", get(passthrough))
        .route("/api/ts/v3/", get(passthrough))
        .route("/api/ts/v3/{*path}", get(passthrough))
}

/// The part after `/api/ts/v3/` if it may be forwarded.
pub fn forwardable(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/ts/v3/")?;
    let mut segments = rest.split('/');
    let prefix = segments.next()?;
    if prefix != "brokerage" && prefix != "marketdata" {
        return None;
    }
    let mut count = 0;
    for segment in segments {
        count += 1;
        if !segment_allowed(segment) {
            return None;
        }
    }
    (count > 0).then_some(rest)
}

/// One raw path segment: only unreserved characters, `$ , ! * ' ( ) : @ + =`
/// and `%XX` escapes; decoded it must be UTF-8 without control characters
/// and without `/ \ % ;` (an encoded slash, a double encoding, a matrix
/// parameter), and neither `.` nor `..`.
pub fn segment_allowed(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {}
            b'$' | b',' | b'!' | b'*' | b'\'' | b'(' | b')' | b':' | b'@' | b'+' | b'=' => {}
            b'%' => {
                let hex = bytes.get(i + 1..i + 3);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 2;
            }
            _ => return false,
        }
        i += 1;
    }
    let Ok(decoded) = percent_decode_str(segment).decode_utf8() else {
        return false;
    };
    !(segment.is_empty()
        || decoded == "."
        || decoded == ".."
        || decoded.contains(['/', '\\', '%', ';'])
        || decoded.chars().any(char::is_control))
}

/// Headers copied back to the browser: nothing else (never `Set-Cookie`).
/// `Content-Length` is framing: kept, a sized answer needs no chunking.
pub(crate) fn allowed_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-type")
        || name.eq_ignore_ascii_case("content-length")
        || name.eq_ignore_ascii_case("retry-after")
        || name.len() > 12 && name[..12].eq_ignore_ascii_case("x-ratelimit-")
}

async fn passthrough(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let path = forwardable(request.uri().path()).ok_or(ApiError::InvalidPath)?;
    let upstream_path = format!("/v3/{path}");
    let closer = request.extensions().get::<CloseConnection>().cloned();
    forward_get(
        &state,
        request.headers(),
        request.uri().query(),
        closer,
        &upstream_path,
    )
    .await
}

/// Forwards a checked `GET` to `{TS_BASE_URL}{upstream_path}?{query}` with
/// the session's token (one refresh and retry after a 401) and relays the
/// answer. The order routes' look-ups use it too.
pub(crate) async fn forward_get(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    closer: Option<CloseConnection>,
    upstream_path: &str,
) -> Result<Response, ApiError> {
    let key = state
        .session_key(headers)
        .ok_or(ApiError::NotAuthenticated)?;
    let base = state.settings.base_url.as_str().trim_end_matches('/');
    let mut target = format!("{base}{upstream_path}");
    if let Some(query) = query {
        target.push('?');
        target.push_str(query);
    }
    let accept = headers
        .get(header::ACCEPT)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("application/json"));
    let log_path = upstream_path;

    let token = state.tokens.valid_token(&key).await?;
    let upstream = send(state, &target, log_path, &token, &accept).await?;
    let upstream = if upstream.status() == StatusCode::UNAUTHORIZED {
        // `None`: the token is too young to blame; the 401 goes back as is.
        match state.tokens.refresh_rejected(&key, &token).await? {
            Some(token) => {
                drop(upstream);
                send(state, &target, log_path, &token, &accept).await?
            }
            None => upstream,
        }
    } else {
        upstream
    };
    Ok(relay(
        upstream,
        state.settings.stream_idle_timeout,
        state.shutdown.clone(),
        closer,
    ))
}

/// One upstream `GET`, bounded until its response headers arrive.
async fn send(
    state: &AppState,
    target: &str,
    log_path: &str,
    token: &Usable,
    accept: &HeaderValue,
) -> Result<reqwest::Response, ApiError> {
    send_with(state, Method::GET, target, log_path, token, accept, None).await
}

/// One upstream call with `method` and, if given, a JSON body, bounded until
/// its response headers arrive; counted and logged like every upstream call.
pub(crate) async fn send_with(
    state: &AppState,
    method: Method,
    target: &str,
    log_path: &str,
    token: &Usable,
    accept: &HeaderValue,
    body: Option<Bytes>,
) -> Result<reqwest::Response, ApiError> {
    let started = Instant::now();
    let method_name = method.as_str().to_owned();
    let mut request = state
        .http
        .request(method, target)
        .bearer_auth(token.access.expose_secret())
        .header(header::ACCEPT, accept.clone());
    if let Some(body) = body {
        request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    let request = request.send();
    let outcome = tokio::time::timeout(state.settings.http_timeout, request).await;
    let elapsed = started.elapsed();
    let result = match outcome {
        Err(_) => Err(("timeout", ApiError::UpstreamTimeout)),
        Ok(Err(e)) if e.is_timeout() => Err(("timeout", ApiError::UpstreamTimeout)),
        Ok(Err(e)) => {
            tracing::warn!(cause = %e.without_url(), path = log_path, "upstream request failed");
            Err(("error", ApiError::UpstreamError))
        }
        Ok(Ok(response)) => Ok(response),
    };
    let status = match &result {
        Ok(response) => response.status().as_u16().to_string(),
        Err((label, _)) => (*label).to_owned(),
    };
    metrics::counter!("ts_upstream_requests_total", "status" => status.clone()).increment(1);
    metrics::histogram!("ts_upstream_request_duration_seconds").record(elapsed.as_secs_f64());
    tracing::info!(
        method = %method_name,
        path = log_path,
        status = %status,
        latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "upstream call"
    );
    result.map_err(|(_, error)| error)
}

/// How many chunks wait between the upstream reader and the browser.
const RELAY_BUFFER: usize = 16;

/// The upstream response as ours: status, allowed headers, streamed body.
///
/// A forwarding task reads the upstream and hands chunks to the body over a
/// bounded channel. It ends the stream — dropping the upstream response,
/// which cancels it upstream — when the upstream is silent for `idle`, when
/// the browser has not taken a chunk for `idle` (its socket is full: the
/// channel stays full), when the browser hangs up, or at shutdown.
fn relay(
    upstream: reqwest::Response,
    idle: Duration,
    shutdown: CancellationToken,
    closer: Option<CloseConnection>,
) -> Response {
    let status = upstream.status();
    let mut headers = HeaderMap::new();
    for (name, value) in upstream.headers() {
        if allowed_header(name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(RELAY_BUFFER);
    tokio::spawn(async move {
        tokio::select! {
            () = forward(upstream, idle, tx, closer) => {}
            () = shutdown.cancelled() => {
                tracing::info!("stream ended: shutting down");
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    // An upstream 404/405 is TradeStation's answer: kept as it is.
    response.extensions_mut().insert(crate::error::Relayed);
    response
}

async fn forward(
    upstream: reqwest::Response,
    idle: Duration,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    closer: Option<CloseConnection>,
) {
    let mut chunks = upstream.bytes_stream();
    loop {
        let item = match tokio::time::timeout(idle, chunks.next()).await {
            Ok(Some(Ok(chunk))) => Ok(chunk),
            Ok(Some(Err(e))) => {
                tracing::warn!(cause = %e.without_url(), "upstream body failed mid-way");
                Err(std::io::Error::other("upstream body failed"))
            }
            Ok(None) => return,
            Err(_) => {
                tracing::info!(idle_secs = idle.as_secs(), "upstream stream idle; closed");
                return;
            }
        };
        let failed = item.is_err();
        match tokio::time::timeout(idle, tx.send(item)).await {
            Ok(Ok(())) if !failed => {}
            Ok(Ok(())) => return,
            // The body was dropped: the browser hung up.
            Ok(Err(_)) => return,
            Err(_) => {
                tracing::info!(
                    idle_secs = idle.as_secs(),
                    "browser stopped reading the stream; closed"
                );
                if let Some(closer) = closer {
                    closer.close();
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokerage_and_marketdata_paths_are_forwarded_as_they_are() {
        for path in [
            "/api/ts/v3/brokerage/accounts",
            "/api/ts/v3/brokerage/accounts/123,456/balances",
            "/api/ts/v3/marketdata/quotes/MSFT,AAPL",
            "/api/ts/v3/marketdata/quotes/%24SPX.X",
            "/api/ts/v3/marketdata/stream/options/chains/MSFT",
            "/api/ts/v3/marketdata/symbols/MSFT%20261218C450",
            "/api/ts/v3/marketdata/quotes/$SPX.X,@ES,BRK.B",
            "/api/ts/v3/marketdata/quotes/a~b_c-d!e*f'g(h)i:j+k=l",
            "/api/ts/v3/marketdata/symbols/%C3%A9t%C3%A9",
            "/api/ts/v3/marketdata/quotes/...",
        ] {
            assert_eq!(
                forwardable(path),
                path.strip_prefix("/api/ts/v3/"),
                "{path}"
            );
        }
    }

    #[test]
    fn everything_else_is_refused() {
        for path in [
            "/api/ts/v3/",
            "/api/ts/v3",
            "/api/ts/v3/brokerage",
            "/api/ts/v3/brokerage/",
            "/api/ts/v3/orderexecution/orders",
            "/api/ts/v3/brokerage/../orderexecution/orders",
            "/api/ts/v3/brokerage/accounts/..",
            "/api/ts/v3/brokerage/%2e%2e/x",
            "/api/ts/v3/brokerage/./accounts",
            "/api/ts/v3/brokerage/a%2Fb",
            "/api/ts/v3/brokerage/a%2fb",
            "/api/ts/v3/brokerage/a%5Cb",
            "/api/ts/v3/brokerage/a\\b",
            "/api/ts/v3/brokerage//accounts",
            "/api/ts/v3/marketdata/quotes/%0aX",
            "/api/ts/v3/marketdata/quotes/%ff",
            "/api/ts/v3/Brokerage/accounts",
            "/api/ts/v3/marketdata/quotes/MSFT%252F",
            "/api/ts/v3/marketdata/quotes/MSFT%25",
            "/api/ts/v3/marketdata/quotes/MSFT;jsessionid=1",
            "/api/ts/v3/marketdata/quotes/MSFT%3Bx",
            "/api/ts/v3/marketdata/quotes/MSFT%2",
            "/api/ts/v3/marketdata/quotes/MSFT%zz",
            "/api/ts/v3/marketdata/quotes/a b",
            "/api/ts/v3/marketdata/quotes/<script>",
            "/api/ts/v3/marketdata/quotes/%7f",
            "/api/ts/v3/marketdata/quotes/%c3%28",
            "/api/ts/v3/marketdata/quotes/x\"y",
            "/api/ts/v3/brokerage/%2E",
            "/api/ts/v3/brokerage/.%2e",
        ] {
            assert_eq!(forwardable(path), None, "{path}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn a_segment_of_allowed_characters_is_forwarded(
            segment in "[A-Za-z0-9_~$,!*'():@+=-][A-Za-z0-9._~$,!*'():@+=-]{0,30}"
        ) {
            let path = format!("/api/ts/v3/marketdata/quotes/{segment}");
            proptest::prop_assert!(forwardable(&path).is_some());
        }

        #[test]
        fn no_accepted_path_decodes_to_a_traversal_or_a_separator(path in "\\PC{0,40}") {
            let full = format!("/api/ts/v3/brokerage/{path}");
            if let Some(rest) = forwardable(&full) {
                for segment in rest.split('/').skip(1) {
                    let decoded = percent_decode_str(segment).decode_utf8_lossy();
                    proptest::prop_assert!(decoded != "." && decoded != "..");
                    proptest::prop_assert!(!decoded.contains(['\\', '%', ';']));
                    proptest::prop_assert!(!decoded.chars().any(char::is_control));
                    proptest::prop_assert!(!segment.is_empty());
                }
            }
        }

        #[test]
        fn any_encoded_forbidden_byte_is_refused(
            prefix in "[A-Za-z0-9]{0,8}",
            byte in proptest::sample::select(vec![0x00u8, 0x0a, 0x1f, 0x7f, b'/', b'\\', b'%', b';']),
            lower in proptest::bool::ANY,
        ) {
            let escape = if lower { format!("%{byte:02x}") } else { format!("%{byte:02X}") };
            let path = format!("/api/ts/v3/marketdata/quotes/{prefix}{escape}");
            proptest::prop_assert!(forwardable(&path).is_none());
        }
    }

    #[test]
    fn only_the_allow_list_of_headers_goes_back() {
        for name in [
            "Content-Type",
            "retry-after",
            "X-RateLimit-Remaining",
            "x-ratelimit-reset",
        ] {
            assert!(allowed_header(name), "{name}");
        }
        for name in [
            "set-cookie",
            "x-ratelimit-",
            "server",
            "authorization",
            "transfer-encoding",
        ] {
            assert!(!allowed_header(name), "{name}");
        }
    }
}
