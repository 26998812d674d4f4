//! The requests themselves (browser only): sending with `gloo-net`, reading
//! answers into `shared` types, and the error answers' headers and bodies.

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;
use shared::api::{OkResponse, StatusResponse};
use shared::ts::accounts::{AccountsResponse, BalancesResponse, OrdersResponse, PositionsResponse};
use shared::ts::bars::BarsResponse;
use shared::ts::options::ExpirationsResponse;
use web_sys::AbortSignal;

use super::error::{ApiError, DEFAULT_RETRY_AFTER_SECS, MAX_RETRY_AFTER_SECS, error_from_body};
use super::path::{encode_list, encode_segment, v3_url};

/// `Retry-After` as whole seconds: delta-seconds, or an HTTP date measured
/// against `now_ms` (Unix milliseconds). Missing or unreadable: the default.
///
/// Dates go through the browser's `Date.parse`, which reads every form an
/// HTTP date may take; that is why this lives on the browser side.
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

/// `GET /api/ts/status`.
pub async fn status() -> Result<StatusResponse, ApiError> {
    get_json("/api/ts/status", None).await
}

/// `POST /api/ts/logout`, with the `X-CSRF` header the backend requires.
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
