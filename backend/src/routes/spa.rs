//! The built SPA (`STATIC_DIR`) at `/`, with `index.html` for client-side
//! routes; unknown `/api` paths answer the JSON 404 instead.
//!
//! Files go out gzip-compressed to browsers that accept it (the wasm shrinks
//! to about a third). Only here: API answers and streams are never
//! compressed, which would hold stream lines back.
//!
//! Without a build a small page says how to make one, and still links to
//! sign-in and status so the backend can be tried on its own.

use super::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::response::{Html, IntoResponse, Response};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};

pub async fn fallback(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::NotFound.into_response();
    }
    let dir = &state.settings.static_dir;
    let index = dir.join("index.html");
    if !index.is_file() {
        return Html(NOT_BUILT).into_response();
    }
    let serve = ServiceBuilder::new()
        .layer(CompressionLayer::new())
        .service(ServeDir::new(dir).fallback(ServeFile::new(index)));
    match serve.oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TradeStation dashboard</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>The app's pages are not built</h1>
<p>The backend runs, but <code>STATIC_DIR</code> holds no <code>index.html</code>.
Build the SPA with <code>trunk build --release</code> (or start everything with
<code>scripts/run.sh</code>).</p>
<p><a href="/api/ts/login">Sign in with TradeStation</a> · <a href="/api/ts/status">Session status</a></p>
</body></html>"#;
