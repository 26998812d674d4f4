//! The order routes under `/api/ts/v3/orderexecution/`, and TradeStation's
//! symbol look-up under `/api/ts/v2/data/symbols/`.
//!
//! Checks run in a fixed order: method (the router's 405), `X-CSRF: 1` on
//! `POST`/`PUT`/`DELETE`, the path, the trading switch (`TS_TRADING`), the
//! session, then the body — JSON by `Content-Type`, at most 64 KiB, and the
//! `shared` order types, whose error names the bad field. Nothing that fails
//! a check is forwarded. What passes is forwarded as the bytes received, so
//! fields we do not know reach TradeStation untouched.
//!
//! Placements (`…/orders`, `…/ordergroups`) go through
//! [`crate::orders::OrderDesk::place`], keyed on the confirm id(s); previews,
//! replace and cancel through [`crate::orders::forward`]. Either way a
//! request is retried only after a `401`. Every order request writes one
//! `order` log line and counts in `ts_orders_total`.

use super::proxy::{allowed_header, forward_get, segment_allowed as segment_ok, send_with};
use super::{AppState, require_csrf};
use crate::error::ApiError;
use crate::listener::CloseConnection;
use crate::orders::{Answer, Finished, Upstream, forward, order_key};
use crate::session::SessionKey;
use crate::tokens::Usable;
use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::Bytes;
use serde_json::Value;
use shared::ts::orders::{
    InvalidOrder, OrderGroupRequest, OrderReplaceRequest, OrderRequest, is_order_id,
};
use std::sync::Arc;
use std::time::Instant;

/// The largest order body accepted.
pub const MAX_BODY: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    let csrf = || middleware::from_fn(require_csrf);
    // A `GET` of an order route is a passthrough path that is not forwarded:
    // `400 invalid_path`, as for any other path under `/v3/orderexecution/`.
    Router::new()
        .route(
            "/api/ts/v3/orderexecution/orderconfirm",
            post(|s: State<AppState>, r: Request| submit(s, r, Action::Confirm))
                .route_layer(csrf())
                .get(not_forwarded),
        )
        .route(
            "/api/ts/v3/orderexecution/orders",
            post(|s: State<AppState>, r: Request| submit(s, r, Action::Place))
                .route_layer(csrf())
                .get(not_forwarded),
        )
        .route(
            "/api/ts/v3/orderexecution/ordergroupconfirm",
            post(|s: State<AppState>, r: Request| submit(s, r, Action::GroupConfirm))
                .route_layer(csrf())
                .get(not_forwarded),
        )
        .route(
            "/api/ts/v3/orderexecution/ordergroups",
            post(|s: State<AppState>, r: Request| submit(s, r, Action::GroupPlace))
                .route_layer(csrf())
                .get(not_forwarded),
        )
        .route(
            "/api/ts/v3/orderexecution/orders/{order_id}",
            put(|s: State<AppState>, r: Request| submit(s, r, Action::Replace))
                .delete(|s: State<AppState>, r: Request| submit(s, r, Action::Cancel))
                .route_layer(csrf())
                .get(not_forwarded),
        )
        .route("/api/ts/v3/orderexecution/routes", get(lookup))
        .route("/api/ts/v3/orderexecution/activationtriggers", get(lookup))
        .route("/api/ts/v2/data/symbols/suggest/{text}", get(symbols))
        .route("/api/ts/v2/data/symbols/search/{criteria}", get(symbols))
}

async fn not_forwarded() -> ApiError {
    ApiError::InvalidPath
}

/// Which order request this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Confirm,
    Place,
    GroupConfirm,
    GroupPlace,
    Replace,
    Cancel,
}

impl Action {
    /// The `action` label of `ts_orders_total` and of the `order` log line.
    fn label(self) -> &'static str {
        match self {
            Self::Confirm | Self::GroupConfirm => "confirm",
            Self::Place => "place",
            Self::GroupPlace => "group",
            Self::Replace => "replace",
            Self::Cancel => "cancel",
        }
    }

    fn method(self) -> Method {
        match self {
            Self::Replace => Method::PUT,
            Self::Cancel => Method::DELETE,
            _ => Method::POST,
        }
    }
}

/// What the audit line says about the order(s); never a token.
#[derive(Debug, Default)]
struct Audit {
    account_ids: Vec<String>,
    symbols: Vec<String>,
    quantities: Vec<String>,
    order_types: Vec<String>,
    confirm_ids: Vec<String>,
}

impl Audit {
    fn add(&mut self, order: &OrderRequest) {
        if !self.account_ids.contains(&order.account_id) {
            self.account_ids.push(order.account_id.clone());
        }
        self.symbols.push(order.symbol.clone());
        self.quantities.push(order.quantity.clone());
        self.order_types.push(order.order_type.as_str().to_owned());
        if let Some(id) = &order.order_confirm_id {
            self.confirm_ids.push(id.clone());
        }
    }
}

/// A checked body: the bytes to forward, the audit facts, and the confirm
/// ids a placement is keyed on.
struct Checked {
    body: Option<Bytes>,
    audit: Audit,
    confirm_ids: Vec<String>,
}

async fn submit(State(state): State<AppState>, request: Request, action: Action) -> Response {
    let started = Instant::now();
    let order_id = match action {
        Action::Replace | Action::Cancel => {
            let raw = request
                .uri()
                .path()
                .strip_prefix("/api/ts/v3/orderexecution/orders/")
                .unwrap_or_default();
            if !is_order_id(raw) {
                return ApiError::InvalidPath.into_response();
            }
            Some(raw.to_owned())
        }
        _ => None,
    };
    if !state.orders.trading() {
        return ApiError::TradingDisabled.into_response();
    }
    let Some(key) = state.session_key(request.headers()) else {
        return ApiError::NotAuthenticated.into_response();
    };
    let record = match state.tokens.session(&key).await {
        Ok(Some(record)) => record,
        Ok(None) => return ApiError::NotAuthenticated.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let checked = match check_body(request, action).await {
        Ok(checked) => checked,
        Err(response) => return *response,
    };

    let path = match &order_id {
        Some(id) => format!("/v3/orderexecution/orders/{id}"),
        None => request_path(action).to_owned(),
    };
    let base = state.settings.base_url.as_str().trim_end_matches('/');
    let upstream = Arc::new(HttpUpstream {
        target: format!("{base}{path}"),
        log_path: path,
        state: state.clone(),
        key: key.clone(),
        method: action.method(),
        body: checked.body,
    });

    let (finished, replayed) = match action {
        Action::Place | Action::GroupPlace => {
            let user = match &record.user_id {
                Some(sub) => format!("user:{sub}"),
                None => format!("session:{}", key.as_str()),
            };
            let mut ids: Vec<&str> = checked.confirm_ids.iter().map(String::as_str).collect();
            ids.sort_unstable();
            state.orders.place(&order_key(&user, &ids), upstream).await
        }
        _ => (forward(upstream.as_ref()).await, false),
    };

    let result = finished.metric_result();
    metrics::counter!("ts_orders_total", "action" => action.label(), "result" => result.clone())
        .increment(1);
    let order_ids = match &finished {
        Finished::Answered { answer, .. } => returned_order_ids(&answer.body),
        _ => Vec::new(),
    };
    let audit = &checked.audit;
    tracing::info!(
        action = action.label(),
        account_id = %audit.account_ids.join(","),
        symbols = %audit.symbols.join(","),
        quantity = %audit.quantities.join(","),
        order_type = %audit.order_types.join(","),
        order_confirm_id = %audit.confirm_ids.join(","),
        order_id = order_id.as_deref().unwrap_or(""),
        upstream_status = %result,
        order_ids = %order_ids.join(","),
        replayed,
        latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "order"
    );
    respond(finished, replayed)
}

fn request_path(action: Action) -> &'static str {
    match action {
        Action::Confirm => "/v3/orderexecution/orderconfirm",
        Action::GroupConfirm => "/v3/orderexecution/ordergroupconfirm",
        Action::GroupPlace => "/v3/orderexecution/ordergroups",
        _ => "/v3/orderexecution/orders",
    }
}

/// Content type, size and shape of the body; a cancel has none.
async fn check_body(request: Request, action: Action) -> Result<Checked, Box<Response>> {
    if action == Action::Cancel {
        return Ok(Checked {
            body: None,
            audit: Audit::default(),
            confirm_ids: Vec::new(),
        });
    }
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Box::new(ApiError::UnsupportedMediaType.into_response()));
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(Box::new(ApiError::PayloadTooLarge.into_response()));
    }
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| Box::new(ApiError::PayloadTooLarge.into_response()))?;
    let value: Value = serde_json::from_slice(&body).map_err(|_| {
        Box::new(ApiError::InvalidOrder.with_message("The body is not valid JSON.".to_owned()))
    })?;
    let invalid = |e: InvalidOrder| {
        Box::new(
            ApiError::InvalidOrder
                .with_message(format!("Invalid order field {}: {}.", e.field, e.problem)),
        )
    };
    let mut audit = Audit::default();
    let mut confirm_ids = Vec::new();
    match action {
        Action::Confirm => audit.add(&OrderRequest::try_from(value).map_err(invalid)?),
        Action::Place => {
            let order = OrderRequest::parse_for_placing(value).map_err(invalid)?;
            confirm_ids.extend(order.order_confirm_id.clone());
            audit.add(&order);
        }
        Action::GroupConfirm | Action::GroupPlace => {
            let group = if action == Action::GroupPlace {
                OrderGroupRequest::parse_for_placing(value)
            } else {
                OrderGroupRequest::try_from(value)
            }
            .map_err(invalid)?;
            confirm_ids.extend(group.confirm_ids().into_iter().map(str::to_owned));
            for order in &group.orders {
                audit.add(order);
            }
        }
        Action::Replace => {
            let replace = OrderReplaceRequest::try_from(value).map_err(invalid)?;
            audit.quantities.extend(replace.quantity);
            audit
                .order_types
                .extend(replace.order_type.map(|t| t.as_str().to_owned()));
        }
        Action::Cancel => {}
    }
    Ok(Checked {
        body: Some(body),
        audit,
        confirm_ids,
    })
}

/// `Orders[].OrderID` of a place answer, or `OrderID` of a replace/cancel.
fn returned_order_ids(body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = value
        .get("Orders")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("OrderID").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    ids.extend(
        value
            .get("OrderID")
            .and_then(Value::as_str)
            .map(str::to_owned),
    );
    ids
}

/// The order's outcome as the browser sees it.
fn respond(finished: Finished, replayed: bool) -> Response {
    let mut response = match finished {
        Finished::Answered { answer, .. } => relay(&answer),
        Finished::NotSent(error) => error.into_response(),
        Finished::Unknown(error @ ApiError::UpstreamTimeout) => error.with_message(
            "TradeStation did not answer in time. The order's state is unknown: check your orders before sending it again."
                .to_owned(),
        ),
        Finished::Unknown(error) => error.with_message(
            "TradeStation could not be reached or failed. The order's state is unknown: check your orders before sending it again."
                .to_owned(),
        ),
    };
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn relay(answer: &Answer) -> Response {
    let mut response = Response::new(Body::from(answer.body.clone()));
    *response.status_mut() = axum::http::StatusCode::from_u16(answer.status)
        .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The app's way to TradeStation for one order request.
struct HttpUpstream {
    state: AppState,
    key: SessionKey,
    method: Method,
    target: String,
    log_path: String,
    body: Option<Bytes>,
}

#[async_trait]
impl Upstream for HttpUpstream {
    async fn token(&self) -> Result<Usable, ApiError> {
        Ok(self.state.tokens.valid_token(&self.key).await?)
    }

    async fn refresh_after(&self, rejected: &Usable) -> Result<Option<Usable>, ApiError> {
        Ok(self
            .state
            .tokens
            .refresh_rejected(&self.key, rejected)
            .await?)
    }

    async fn send(&self, token: &Usable) -> Result<Answer, ApiError> {
        let accept = HeaderValue::from_static("application/json");
        let response = send_with(
            &self.state,
            self.method.clone(),
            &self.target,
            &self.log_path,
            token,
            &accept,
            self.body.clone(),
        )
        .await?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| allowed_header(name.as_str()) && *name != header::CONTENT_LENGTH)
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let body = tokio::time::timeout(self.state.settings.http_timeout, response.bytes())
            .await
            .map_err(|_| ApiError::UpstreamTimeout)?
            .map_err(|e| {
                tracing::warn!(cause = %e.without_url(), "order answer body failed mid-way");
                ApiError::UpstreamError
            })?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// `GET …/orderexecution/routes` and `…/activationtriggers`: plain
/// passthrough, under the trading switch like every order route.
async fn lookup(State(state): State<AppState>, request: Request) -> Response {
    if !state.orders.trading() {
        return ApiError::TradingDisabled.into_response();
    }
    let path = request
        .uri()
        .path()
        .strip_prefix("/api/ts")
        .unwrap_or_default()
        .to_owned();
    forward_get(
        &state,
        request.headers(),
        request.uri().query(),
        request.extensions().get::<CloseConnection>().cloned(),
        &path,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/ts/v2/data/symbols/{suggest|search}/{segment}` →
/// `{TS_BASE_URL}/v2/data/symbols/…`, the segment checked on its raw form.
async fn symbols(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path();
    let segment = path.rsplit('/').next().unwrap_or_default();
    if !segment_ok(segment) {
        return ApiError::InvalidPath.into_response();
    }
    let path = path.strip_prefix("/api/ts").unwrap_or_default().to_owned();
    forward_get(
        &state,
        request.headers(),
        request.uri().query(),
        request.extensions().get::<CloseConnection>().cloned(),
        &path,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_segments_follow_the_passthrough_rules() {
        for good in [
            "MSFT",
            "N=MS%26C=Stock",
            "MSFT%20261218C450",
            "$SPX.X",
            "a:b@c+d",
        ] {
            assert!(segment_ok(good), "{good}");
        }
        for bad in [
            "", ".", "..", "%2e%2e", "a%2Fb", "a%5Cb", "a%25b", "a%3Bb", "a%0Ab", "a b", "a&b",
            "%ff", "%4", "%",
        ] {
            assert!(!segment_ok(bad), "{bad}");
        }
    }

    #[test]
    fn returned_order_ids_come_from_either_answer_shape() {
        let placed =
            br#"{"Orders":[{"OrderID":"1","Message":"Sent"},{"OrderID":"2"}],"Errors":[]}"#;
        assert_eq!(returned_order_ids(placed), ["1", "2"]);
        assert_eq!(
            returned_order_ids(br#"{"OrderID":"9","Message":"Cancel request sent"}"#),
            ["9"]
        );
        assert!(returned_order_ids(b"not json").is_empty());
    }
}
