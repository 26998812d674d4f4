//! `GET /health`: the process is up and the store answers.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use shared::api::OkResponse;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// `200 {"ok":true}`, or `503 {"ok":false}` when the store does not answer,
/// so a load balancer takes the replica out.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<OkResponse>) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(OkResponse { ok: true })),
        Err(e) => {
            tracing::error!(cause = %e, "health check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(OkResponse { ok: false }),
            )
        }
    }
}
