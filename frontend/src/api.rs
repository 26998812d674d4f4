//! Every HTTP call the SPA makes, and the one error type they return.
//!
//! The backend is same-origin (served by it, or proxied by `trunk serve`), so
//! requests are relative and the session cookie rides along on its own. The
//! browser never sees a TradeStation token: it talks to `/api/ts/*` only (see
//! `CONTRACT.md`, *HTTP interface*).
//!
//! What this module owns: building paths (user input is percent-encoded),
//! sending with `gloo-net`, turning answers into `shared` types, and turning
//! every failure into an [`ApiError`] whose `Display` is the sentence a person
//! reads. It does not own retries: views decide (a *Retry* button, the 429
//! countdown, a stream's backoff in [`stream`]).
//!
//! Next: [`stream`] reads the chunked market-data streams.

pub mod stream;

use std::fmt;

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;
use shared::api::{ErrorBody, ErrorCode, OkResponse, StatusResponse};
use shared::ts::accounts::{AccountsResponse, BalancesResponse, OrdersResponse, PositionsResponse};
use shared::ts::bars::BarsResponse;
use shared::ts::options::ExpirationsResponse;
use web_sys::AbortSignal;

/// Seconds to wait on a `429` that names no usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER_SECS: u32 = 5;
/// Upper bound on any `Retry-After` we honour, so a bogus header cannot park
/// a view for hours.
pub const MAX_RETRY_AFTER_SECS: u32 = 300;

/// Why a call failed, in the terms a view acts on.
///
/// Matched on the contract's [`ErrorCode`], never on message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// `401 not_authenticated`: no session, or it holds no tokens.
    NotAuthenticated,
    /// `401 session_expired`: TradeStation refused the refresh token.
    SessionExpired,
    /// `502 upstream_error` / `504 upstream_timeout`, or a 5xx from
    /// TradeStation itself: worth a retry.
    Upstream { timeout: bool },
    /// `429`: wait `retry_after_secs` (from `Retry-After`) and try again.
    RateLimited { retry_after_secs: u32 },
    /// Any other error answer; `message` comes from the error body.
    Http { status: u16, message: String },
    /// No answer at all: offline, or the app's server is down.
    Network,
    /// An answer this build cannot read.
    Decode,
}

impl ApiError {
    /// The contract code this error came from, for `data-code` attributes.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAuthenticated => ErrorCode::NotAuthenticated.as_str(),
            Self::SessionExpired => ErrorCode::SessionExpired.as_str(),
            Self::Upstream { timeout: false } => ErrorCode::UpstreamError.as_str(),
            Self::Upstream { timeout: true } => ErrorCode::UpstreamTimeout.as_str(),
            Self::RateLimited { .. } => "rate_limited",
            Self::Http { .. } => "http",
            Self::Network => "network",
            Self::Decode => "decode",
        }
    }

    /// True when the person must sign in (again) before anything works.
    pub fn needs_sign_in(&self) -> bool {
        matches!(self, Self::NotAuthenticated | Self::SessionExpired)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAuthenticated => f.write_str("You are not signed in to TradeStation."),
            Self::SessionExpired => {
                f.write_str("Your TradeStation session ended, sign in again.")
            }
            Self::Upstream { timeout: false } => f.write_str(
                "TradeStation could not be reached or answered with an error. Try again in a moment.",
            ),
            Self::Upstream { timeout: true } => {
                f.write_str("TradeStation took too long to answer. Try again in a moment.")
            }
            Self::RateLimited { retry_after_secs } => write!(
                f,
                "Rate limited by TradeStation, retrying in {retry_after_secs} s."
            ),
            Self::Http { status, message } => write!(f, "{message} (HTTP {status})"),
            Self::Network => f.write_str(
                "The app's server could not be reached. Check your connection and try again.",
            ),
            Self::Decode => f.write_str("The server sent an answer this page cannot read."),
        }
    }
}

impl std::error::Error for ApiError {}

/// `Retry-After` as whole seconds: delta-seconds, or an HTTP date measured
/// against `now_ms` (Unix milliseconds). Missing or unreadable: the default.
pub fn parse_retry_after(header: Option<&str>, now_ms: f64) -> u32 {
    let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
        return DEFAULT_RETRY_AFTER_SECS;
    };
    let secs = if let Ok(secs) = value.parse::<u64>() {
        secs
    } else {
        let at = js_sys::Date::parse(value);
        if at.is_nan() {
            return DEFAULT_RETRY_AFTER_SECS;
        }
        ((at - now_ms) / 1000.0).ceil().max(0.0) as u64
    };
    secs.clamp(1, u64::from(MAX_RETRY_AFTER_SECS)) as u32
}

/// Turns a non-2xx answer into an [`ApiError`]. Reads the body once.
pub async fn error_from_response(resp: Response) -> ApiError {
    let status = resp.status();
    if status == 429 {
        let header = resp.headers().get("retry-after");
        return ApiError::RateLimited {
            retry_after_secs: parse_retry_after(header.as_deref(), js_sys::Date::now()),
        };
    }
    let text = resp.text().await.unwrap_or_default();
    error_from_body(status, &text)
}

/// The body half of [`error_from_response`]: our contract's `ErrorBody`
/// first, then TradeStation's `{"Error","Message"}` passed through, then the
/// bare status.
pub fn error_from_body(status: u16, body: &str) -> ApiError {
    if let Ok(ErrorBody { error, message }) = serde_json::from_str::<ErrorBody>(body) {
        return match error {
            ErrorCode::NotAuthenticated => ApiError::NotAuthenticated,
            ErrorCode::SessionExpired => ApiError::SessionExpired,
            ErrorCode::UpstreamError => ApiError::Upstream { timeout: false },
            ErrorCode::UpstreamTimeout => ApiError::Upstream { timeout: true },
            _ => ApiError::Http { status, message },
        };
    }
    if status >= 500 {
        return ApiError::Upstream {
            timeout: status == 504,
        };
    }
    let message = serde_json::from_str::<shared::ts::error::ErrorResponse>(body)
        .ok()
        .and_then(|e| e.message.or(e.error))
        .unwrap_or_else(|| "The request failed.".to_owned());
    ApiError::Http { status, message }
}

async fn send(request: Result<Request, gloo_net::Error>) -> Result<Response, ApiError> {
    let request = request.map_err(|_| ApiError::Network)?;
    let resp = request.send().await.map_err(|_| ApiError::Network)?;
    if resp.ok() {
        Ok(resp)
    } else {
        Err(error_from_response(resp).await)
    }
}

async fn get_json<T: DeserializeOwned>(
    url: &str,
    signal: Option<&AbortSignal>,
) -> Result<T, ApiError> {
    let resp = send(
        Request::get(url)
            .header("Accept", "application/json")
            .abort_signal(signal)
            .build(),
    )
    .await?;
    let text = resp.text().await.map_err(|_| ApiError::Network)?;
    serde_json::from_str(&text).map_err(|_| ApiError::Decode)
}

/// A signal that aborts the request when the current reactive owner is
/// cleaned up: the page unmounted, or its resource is fetching anew.
pub fn abort_on_cleanup() -> Option<AbortSignal> {
    let controller = web_sys::AbortController::new().ok()?;
    let signal = controller.signal();
    let controller = send_wrapper::SendWrapper::new(controller);
    leptos::prelude::on_cleanup(move || controller.abort());
    Some(signal)
}

/// Percent-encodes one path segment (a symbol, an account id).
pub fn encode_segment(segment: &str) -> String {
    String::from(js_sys::encode_uri_component(segment))
}

/// `a,b,c` with each item percent-encoded (the comma stays literal: it is
/// TradeStation's list separator).
pub fn encode_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| encode_segment(s.as_ref()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The passthrough URL for a TradeStation v3 path (`"marketdata/quotes/MSFT"`).
pub fn v3_url(path_and_query: &str) -> String {
    format!("/api/ts/v3/{path_and_query}")
}

/// Where the *Sign in* link points; the backend comes back to `return_to`.
pub fn login_url(return_to: &str) -> String {
    let return_to = if return_to.starts_with('/') && !return_to.starts_with("//") {
        return_to
    } else {
        "/"
    };
    format!("/api/ts/login?return_to={}", encode_segment(return_to))
}

/// `GET /api/ts/status`.
pub async fn status() -> Result<StatusResponse, ApiError> {
    get_json("/api/ts/status", None).await
}

/// `POST /api/ts/logout`, with the CSRF header the contract requires.
pub async fn logout() -> Result<OkResponse, ApiError> {
    let resp = send(
        Request::post("/api/ts/logout")
            .header("X-CSRF", "1")
            .build(),
    )
    .await?;
    let text = resp.text().await.map_err(|_| ApiError::Network)?;
    serde_json::from_str(&text).map_err(|_| ApiError::Decode)
}

/// `GET /v3/brokerage/accounts`.
pub async fn accounts(signal: Option<&AbortSignal>) -> Result<AccountsResponse, ApiError> {
    get_json(&v3_url("brokerage/accounts"), signal).await
}

/// `GET /v3/brokerage/accounts/{ids}/balances`.
pub async fn balances(
    ids: &[String],
    signal: Option<&AbortSignal>,
) -> Result<BalancesResponse, ApiError> {
    let url = v3_url(&format!("brokerage/accounts/{}/balances", encode_list(ids)));
    get_json(&url, signal).await
}

/// `GET /v3/brokerage/accounts/{ids}/positions`.
pub async fn positions(
    ids: &[String],
    signal: Option<&AbortSignal>,
) -> Result<PositionsResponse, ApiError> {
    let url = v3_url(&format!(
        "brokerage/accounts/{}/positions",
        encode_list(ids)
    ));
    get_json(&url, signal).await
}

/// `GET /v3/brokerage/accounts/{ids}/orders` (today's and open orders).
pub async fn orders(
    ids: &[String],
    signal: Option<&AbortSignal>,
) -> Result<OrdersResponse, ApiError> {
    let url = v3_url(&format!("brokerage/accounts/{}/orders", encode_list(ids)));
    get_json(&url, signal).await
}

/// `GET /v3/marketdata/options/expirations/{underlying}`.
pub async fn expirations(
    underlying: &str,
    signal: Option<&AbortSignal>,
) -> Result<ExpirationsResponse, ApiError> {
    let url = v3_url(&format!(
        "marketdata/options/expirations/{}",
        encode_segment(underlying)
    ));
    get_json(&url, signal).await
}

/// What `/barcharts` is asked for: `interval`, `unit`, `barsback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarQuery {
    pub interval: u32,
    pub unit: &'static str,
    pub bars_back: u32,
}

/// `GET /v3/marketdata/barcharts/{symbol}`.
pub async fn bars(
    symbol: &str,
    query: BarQuery,
    signal: Option<&AbortSignal>,
) -> Result<BarsResponse, ApiError> {
    let url = v3_url(&format!(
        "marketdata/barcharts/{}?interval={}&unit={}&barsback={}",
        encode_segment(symbol),
        query.interval,
        query.unit,
        query.bars_back
    ));
    get_json(&url, signal).await
}

/// The quote stream's path for a watchlist.
pub fn quote_stream_url<S: AsRef<str>>(symbols: &[S]) -> String {
    v3_url(&format!(
        "marketdata/stream/quotes/{}",
        encode_list(symbols)
    ))
}

/// The option-chain stream's path. `expiration` is the date part
/// (`YYYY-MM-DD`) of an [`shared::ts::options::Expiration`].
pub fn chain_stream_url(underlying: &str, expiration: &str) -> String {
    v3_url(&format!(
        "marketdata/stream/options/chains/{}?expiration={}",
        encode_segment(underlying),
        encode_segment(expiration)
    ))
}
