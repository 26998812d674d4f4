//! Every HTTP call the SPA makes, and the one error type they return.
//!
//! The backend is same-origin (served by it, or proxied by `trunk serve`), so
//! requests are relative and the session cookie rides along on its own. The
//! browser never sees a TradeStation token: it talks to the backend's
//! `/api/ts/*` endpoints only, and TradeStation's own paths go through its
//! passthrough under `/api/ts/v3/`.
//!
//! What this module owns: building paths (user input is percent-encoded,
//! [`path`]), sending with `gloo-net` (`http`, browser only), turning answers
//! into `shared` types, and turning every failure into an [`ApiError`] whose
//! `Display` is the sentence a person reads ([`error`]). It does not own
//! retries: views decide (a *Retry* button, the 429 countdown, a stream's
//! backoff in [`stream`]).
//!
//! Next: [`stream`] reads the chunked market-data streams.

mod error;
#[cfg(target_arch = "wasm32")]
mod http;
mod path;
pub mod stream;

pub use error::{ApiError, DEFAULT_RETRY_AFTER_SECS, MAX_RETRY_AFTER_SECS, error_from_body};
#[cfg(target_arch = "wasm32")]
pub use http::{
    BarQuery, abort_on_cleanup, accounts, balances, bars, error_from_response, expirations, logout,
    orders, parse_retry_after, positions, status,
};
pub use path::{
    chain_stream_url, encode_list, encode_segment, login_url, quote_stream_url, v3_url,
};
