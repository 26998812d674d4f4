//! TradeStation's error body, `{"Error":"Unauthorized","Message":"…"}`, sent
//! with 400/401/403/404/429/503/504 (`ErrorResponse` in the v3 OpenAPI
//! document).
//!
//! Errors *inside* a 200 answer are elsewhere: partial per-account entries in
//! [`super::accounts::AccountError`], per-symbol ones in
//! [`super::quotes::SymbolError`], and in-stream errors in
//! [`super::stream::StreamError`].

use serde::{Deserialize, Serialize};

/// The body of a failed TradeStation request.
///
/// `Error` is one of `BadRequest`, `Unauthorized`, `Forbidden`, `NotFound`,
/// `TooManyRequests`, `InternalServerError`, `NotImplemented`,
/// `ServiceUnavailable`, `GatewayTimeout`; `Message` is a human sentence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ErrorResponse {
    /// An error body with both fields set.
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: Some(error.into()),
            message: Some(message.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_body_parses_and_round_trips() {
        let json = r#"{"Error":"Unauthorized","Message":"<description>"}"#;
        let body: ErrorResponse = serde_json::from_str(json).unwrap();
        assert_eq!(body, ErrorResponse::new("Unauthorized", "<description>"));
        assert_eq!(serde_json::to_string(&body).unwrap(), json);
    }

    #[test]
    fn missing_fields_are_none() {
        let body: ErrorResponse = serde_json::from_str("{}").unwrap();
        assert_eq!(body, ErrorResponse::default());
    }
}
