//! The backend's own JSON: what `/api/ts/status` answers and the error body
//! every failing route writes (see `CONTRACT.md`, *HTTP interface*).

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
}

impl StatusResponse {
    /// What a browser without tokens sees.
    pub fn signed_out() -> Self {
        Self {
            authenticated: false,
            user_id: None,
            expires_at: None,
            has_refresh_token: false,
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
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
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
