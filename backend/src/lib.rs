//! The backend: health and the static SPA for now.

use axum::{Json, Router, routing::get};
use shared::api::OkResponse;
use std::process::ExitCode;
use tower_http::services::{ServeDir, ServeFile};

pub fn app(static_dir: &str) -> Router {
    let index = format!("{static_dir}/index.html");
    Router::new()
        .route("/health", get(|| async { Json(OkResponse { ok: true }) }))
        .fallback_service(ServeDir::new(static_dir).fallback(ServeFile::new(index)))
}

pub async fn main_entry() -> ExitCode {
    let addr = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let static_dir = std::env::var("STATIC_DIR").unwrap_or_else(|_| "dist".into());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("BIND_ADDR: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on http://{addr}/");
    match axum::serve(listener, app(&static_dir)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
