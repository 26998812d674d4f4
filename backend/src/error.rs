//! `ApiError`: one variant per error the contract names, written as
//! `{"error": "<code>", "message": "<sentence>"}`.
//!
//! Messages are fixed sentences, never an internal error's text; causes are
//! logged where they are known. [`json_fallbacks`] turns axum's own empty
//! 404/405 answers under `/api` into the same JSON.

use crate::tokens::TokenError;
use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shared::api::{ErrorBody, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiError {
    NotAuthenticated,
    SessionExpired,
    UpstreamError,
    UpstreamTimeout,
    CsrfRequired,
    InvalidState,
    InvalidPath,
    MethodNotAllowed,
    NotFound,
    StoreUnavailable,
    TradingDisabled,
    /// The sentence naming the bad field is given with [`ApiError::with_message`].
    InvalidOrder,
    UnsupportedMediaType,
    PayloadTooLarge,
}

impl ApiError {
    pub fn status(self) -> StatusCode {
        match self {
            Self::NotAuthenticated | Self::SessionExpired => StatusCode::UNAUTHORIZED,
            Self::UpstreamError => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::CsrfRequired => StatusCode::FORBIDDEN,
            Self::InvalidState | Self::InvalidPath => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::TradingDisabled => StatusCode::FORBIDDEN,
            Self::InvalidOrder => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    pub fn code(self) -> ErrorCode {
        match self {
            Self::NotAuthenticated => ErrorCode::NotAuthenticated,
            Self::SessionExpired => ErrorCode::SessionExpired,
            Self::UpstreamError => ErrorCode::UpstreamError,
            Self::UpstreamTimeout => ErrorCode::UpstreamTimeout,
            Self::CsrfRequired => ErrorCode::CsrfRequired,
            Self::InvalidState => ErrorCode::InvalidState,
            Self::InvalidPath => ErrorCode::InvalidPath,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::NotFound => ErrorCode::NotFound,
            Self::StoreUnavailable => ErrorCode::StoreUnavailable,
            Self::TradingDisabled => ErrorCode::TradingDisabled,
            Self::InvalidOrder => ErrorCode::InvalidOrder,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::NotAuthenticated => "Not signed in with TradeStation.",
            Self::SessionExpired => "Your TradeStation session ended. Please sign in again.",
            Self::UpstreamError => "TradeStation could not be reached or sent a bad answer.",
            Self::UpstreamTimeout => "TradeStation did not answer in time.",
            Self::CsrfRequired => "This request must carry the header X-CSRF: 1.",
            Self::InvalidState => {
                "This sign-in link is invalid, was already used or has expired. Please sign in again."
            }
            Self::InvalidPath => {
                "Only GET requests under /v3/brokerage/ and /v3/marketdata/ are forwarded."
            }
            Self::MethodNotAllowed => "This method is not allowed here.",
            Self::NotFound => "There is no such API endpoint.",
            Self::StoreUnavailable => "The session store is not available right now.",
            Self::TradingDisabled => {
                "Trading is turned off on this server (TS_TRADING); orders are not sent."
            }
            Self::InvalidOrder => "The order does not match TradeStation's order fields.",
            Self::UnsupportedMediaType => "The body must be JSON (Content-Type: application/json).",
            Self::PayloadTooLarge => "The body is larger than 64 KiB.",
        }
    }

    /// This error with a sentence of the caller's (an order's bad field, an
    /// order whose state is unknown). The sentence must hold nothing secret.
    pub fn with_message(self, message: String) -> Response {
        let body = ErrorBody {
            error: self.code(),
            message,
        };
        (self.status(), Json(body)).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code(),
            message: self.message().to_owned(),
        };
        (self.status(), Json(body)).into_response()
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NotAuthenticated => Self::NotAuthenticated,
            TokenError::SessionExpired => Self::SessionExpired,
            TokenError::UpstreamTimeout => Self::UpstreamTimeout,
            TokenError::Upstream => Self::UpstreamError,
            TokenError::Store(cause) => {
                tracing::error!(%cause, "token store failed");
                Self::StoreUnavailable
            }
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(cause = %e, "token store failed");
        Self::StoreUnavailable
    }
}

/// Marks a response relayed from upstream: its 404/405 is passed through
/// untouched by [`json_fallbacks`].
#[derive(Debug, Clone, Copy)]
pub struct Relayed;

/// Middleware for `/api`: a 404 or 405 that axum produced with no body
/// becomes the contract's JSON (a 405 keeps its `Allow` header).
pub async fn json_fallbacks(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let replacement = match response.status() {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::NOT_FOUND => ApiError::NotFound,
        _ => return response,
    };
    if response.headers().contains_key(header::CONTENT_TYPE)
        || response.extensions().get::<Relayed>().is_some()
    {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut json = replacement.into_response();
    if let Some(allow) = allow {
        json.headers_mut().insert(header::ALLOW, allow);
    }
    json.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    json
}
