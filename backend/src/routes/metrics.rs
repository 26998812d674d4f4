//! `GET /metrics`: Prometheus text format, unauthenticated.
//!
//! Counters and the latency histogram are recorded where things happen
//! (`crate::tokens`, `super::proxy`); the sessions gauge is read from the
//! store at each scrape, so every replica reports the shared truth. No label
//! ever holds a session id or a token.

use super::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// The process-wide recorder, installed on first use (several apps in one
/// test process share it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("ts_upstream_request_duration_seconds".to_owned()),
                &[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ],
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let handle = match builder.install_recorder() {
            Ok(handle) => handle,
            // Another recorder is installed: keep a private one so /metrics
            // still answers.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        };
        for result in ["ok", "invalid_grant", "error"] {
            metrics::counter!("ts_refresh_total", "result" => result).increment(0);
        }
        metrics::describe_counter!("ts_refresh_total", "Token refreshes by result.");
        metrics::describe_counter!(
            "ts_upstream_requests_total",
            "Calls to the TradeStation API by status (timeout and error for no answer)."
        );
        metrics::describe_histogram!(
            "ts_upstream_request_duration_seconds",
            metrics::Unit::Seconds,
            "Time until the TradeStation API's response headers arrived."
        );
        metrics::describe_gauge!("ts_sessions", "Sessions holding tokens.");
        handle
    })
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.store.count_sessions().await {
        Ok(n) => metrics::gauge!("ts_sessions").set(n as f64),
        Err(e) => tracing::warn!(cause = %e, "metrics: could not count sessions"),
    }
    let mut response = handle().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
