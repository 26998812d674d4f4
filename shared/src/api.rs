//! The backend's own JSON: what `/api/ts/status` answers and the error body
//! every failing route writes (`docs/interface.md` lists every code).

use serde::{Deserialize, Serialize};

/// `GET /api/ts/status`.
///
/// `authenticated` means the session holds tokens. `expires_at` (Unix
/// seconds) may lie in the past while a refresh token is held: status never
/// refreshes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResponse {
    pub authenticated: bool,
    pub user_id: Option<String>,
    pub expires_at: Option<i64>,
    pub has_refresh_token: bool,
    /// Which TradeStation the backend talks to. Absent from an older backend.
    #[serde(default)]
    pub environment: Environment,
    /// Whether the order routes work (`TS_TRADING`).
    #[serde(default)]
    pub trading: bool,
}

/// Where orders go: the built-in simulator, TradeStation's SIM
/// (`https://sim-api.tradestation.com`), or live trading (any other API base).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Simulator,
    Sim,
    /// The default when unknown: the cautious reading.
    #[default]
    Live,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simulator => "simulator",
            Self::Sim => "sim",
            Self::Live => "live",
        }
    }
}

impl StatusResponse {
    /// What a browser without tokens sees.
    pub fn signed_out() -> Self {
        Self {
            authenticated: false,
            user_id: None,
            expires_at: None,
            has_refresh_token: false,
            environment: Environment::Live,
            trading: false,
        }
    }
}

/// `{"ok": true}` from `/health` and `/api/ts/logout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OkResponse {
    pub ok: bool,
}

/// Every JSON error body: `{"error": "<snake_case_code>", "message": "<sentence>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
}

/// The error codes of the contract. Clients match on these, never on the
/// message text. A code this build does not know deserialises as
/// [`ErrorCode::Other`] so an older SPA still shows the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotAuthenticated,
    SessionExpired,
    UpstreamError,
    UpstreamTimeout,
    CsrfRequired,
    InvalidState,
    InvalidPath,
    MethodNotAllowed,
    NotFound,
    BadRequest,
    Internal,
    StoreUnavailable,
    TradingDisabled,
    InvalidOrder,
    UnsupportedMediaType,
    PayloadTooLarge,
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// The snake_case code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAuthenticated => "not_authenticated",
            Self::SessionExpired => "session_expired",
            Self::UpstreamError => "upstream_error",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::CsrfRequired => "csrf_required",
            Self::InvalidState => "invalid_state",
            Self::InvalidPath => "invalid_path",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NotFound => "not_found",
            Self::BadRequest => "bad_request",
            Self::Internal => "internal",
            Self::StoreUnavailable => "store_unavailable",
            Self::TradingDisabled => "trading_disabled",
            Self::InvalidOrder => "invalid_order",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialise_as_their_snake_case_names() {
        for code in [
            ErrorCode::NotAuthenticated,
            ErrorCode::SessionExpired,
            ErrorCode::UpstreamError,
            ErrorCode::UpstreamTimeout,
            ErrorCode::CsrfRequired,
            ErrorCode::InvalidState,
            ErrorCode::InvalidPath,
            ErrorCode::MethodNotAllowed,
            ErrorCode::NotFound,
            ErrorCode::TradingDisabled,
            ErrorCode::InvalidOrder,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::PayloadTooLarge,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn status_names_the_environment_in_lower_case() {
        let mut status = StatusResponse::signed_out();
        status.environment = Environment::Simulator;
        status.trading = true;
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["environment"], "simulator");
        assert_eq!(json["trading"], true);
        for env in [Environment::Simulator, Environment::Sim, Environment::Live] {
            assert_eq!(serde_json::to_value(env).unwrap(), env.as_str());
        }
    }

    #[test]
    fn an_unknown_code_still_parses() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":"brand_new","message":"Something."}"#).unwrap();
        assert_eq!(body.error, ErrorCode::Other);
        assert_eq!(body.message, "Something.");
    }
}
