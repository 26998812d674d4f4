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
        let decoded = percent_decode_str(segment).decode_utf8().ok()?;
        let bad = segment.is_empty()
            || decoded == "."
            || decoded == ".."
            || decoded.contains(['/', '\\'])
            || decoded.chars().any(char::is_control);
        if bad {
            return None;
        }
    }
    (count > 0).then_some(rest)
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
    forward_get(
        &state,
        request.headers(),
        request.uri().query(),
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
    Ok(relay(upstream, state.settings.stream_idle_timeout))
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

/// The upstream response as ours: status, allowed headers, streamed body.
fn relay(upstream: reqwest::Response, idle: Duration) -> Response {
    let status = upstream.status();
    let mut headers = HeaderMap::new();
    for (name, value) in upstream.headers() {
        if allowed_header(name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    let chunks = upstream.bytes_stream();
    let body = futures_util::stream::unfold(chunks, move |mut chunks| async move {
        match tokio::time::timeout(idle, chunks.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok::<Bytes, std::io::Error>(chunk), chunks)),
            Ok(Some(Err(e))) => {
                tracing::warn!(cause = %e.without_url(), "upstream body failed mid-way");
                Some((Err(std::io::Error::other("upstream body failed")), chunks))
            }
            Ok(None) => None,
            Err(_) => {
                tracing::info!(idle_secs = idle.as_secs(), "upstream stream idle; closed");
                None
            }
        }
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
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
        ] {
            assert_eq!(forwardable(path), None, "{path}");
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
