//! Logging: `tracing` with a human format by default and JSON lines with
//! `LOG_FORMAT=json`; every line of a request carries its request id.
//!
//! The subscriber is generic over its writer so tests capture what the app
//! logs and check that no secret is in it. Log fields are chosen, never
//! dumped: request spans hold the method and the path, never the query (the
//! OAuth callback's query holds the code and state).

use crate::config::LogFormat;
use axum::http::Request;
use tracing::Span;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// A subscriber writing to `writer`; colours only with `ansi`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: &str,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(false);
    match format {
        LogFormat::Pretty => Box::new(builder.finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
    }
}

/// Installs the process-wide subscriber writing to stderr. A second call
/// (tests that start several apps) is a no-op.
pub fn init(format: LogFormat, filter: &str) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ =
        tracing::subscriber::set_global_default(subscriber(format, filter, std::io::stderr, ansi));
}

/// The span each request runs in: request id, method, path (no query).
pub fn request_span<B>(request: &Request<B>) -> Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// Whether an incoming `X-Request-Id` may be kept: 1–64 of `[A-Za-z0-9_-]`.
/// Anything else could forge log lines or carry a secret into them.
pub fn acceptable_request_id(value: &[u8]) -> bool {
    (1..=64).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

/// Runs before the request id is set: removes an incoming `X-Request-Id`
/// that is not acceptable, so the backend generates one instead.
pub async fn drop_bad_request_id<B>(mut request: Request<B>) -> Request<B> {
    let headers = request.headers_mut();
    let all_ok = headers
        .get_all("x-request-id")
        .iter()
        .all(|v| acceptable_request_id(v.as_bytes()));
    if !all_ok || headers.get_all("x-request-id").iter().count() > 1 {
        headers.remove("x-request-id");
    }
    request
}

#[cfg(test)]
mod tests {
    use super::acceptable_request_id;

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        for ok in ["a", "req-123_ABC", &"x".repeat(64)] {
            assert!(acceptable_request_id(ok.as_bytes()), "{ok}");
        }
        for bad in ["", &"x".repeat(65), "a b", "a\nb", "id;drop", "é", "a/b"] {
            assert!(!acceptable_request_id(bad.as_bytes()), "{bad}");
        }
    }
}
