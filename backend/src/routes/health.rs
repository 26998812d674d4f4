//! `GET /health`: the process is up and the store answers.
//!
//! The store's answer is awaited at most [`PING_WITHIN`], so an unreachable
//! database (or a pool with no connection free) turns into `503` within two
//! seconds instead of a load balancer's own timeout.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use shared::api::OkResponse;
use std::time::Duration;

/// How long `/health` waits for the store.
pub const PING_WITHIN: Duration = Duration::from_millis(1500);

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// `200 {"ok":true}`, or `503 {"ok":false}` when the store does not answer,
/// so a load balancer takes the replica out.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<OkResponse>) {
    let answer = tokio::time::timeout(PING_WITHIN, state.store.ping()).await;
    match answer {
        Ok(Ok(())) => (StatusCode::OK, Json(OkResponse { ok: true })),
        Ok(Err(e)) => {
            tracing::error!(cause = %e, "health check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(OkResponse { ok: false }),
            )
        }
        Err(_) => {
            tracing::error!("health check: the store did not answer within 1.5 s");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(OkResponse { ok: false }),
            )
        }
    }
}
