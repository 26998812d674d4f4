//! Types that both sides of the app agree on, by construction.
//!
//! Serde only: no axum, no leptos, so this crate builds for the native backend
//! and for the wasm frontend alike.
//!
//! # Layout
//! - [`api`]: the backend's own JSON — session status and the error body with
//!   its [`api::ErrorCode`].
//! - [`ts`]: TradeStation v3 payloads the SPA shows and the simulator serves.
//! - [`stream_kind`]: what a stream's `Error` and `StreamStatus` values
//!   mean (which ones end the request).

pub mod api;
pub mod stream_kind;
pub mod ts;
