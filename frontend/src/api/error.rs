//! [`ApiError`], the one error every call returns, and how an error answer
//! becomes one. Pure: the body is read by the HTTP half, matched here.

use std::fmt;

use shared::api::{ErrorBody, ErrorCode};

/// Seconds to wait on a `429` that names no usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER_SECS: u32 = 5;
/// Upper bound on any `Retry-After` we honour, so a bogus header cannot park
/// a view for hours.
pub const MAX_RETRY_AFTER_SECS: u32 = 300;

/// Why a call failed, in the terms a view acts on.
///
/// Matched on the backend's [`ErrorCode`], never on message text.
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
    /// The backend's code this error came from, for `data-code` attributes.
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

/// The body half of turning a non-2xx answer into an [`ApiError`]: the
/// backend's `ErrorBody` first, then TradeStation's `{"Error","Message"}`
/// passed through, then the bare status.
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
