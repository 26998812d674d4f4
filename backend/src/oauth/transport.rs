//! The HTTP function `oauth2` sends its token requests through.
//!
//! The whole exchange, body included, must finish within `TS_HTTP_TIMEOUT`.
//! 5xx answers, and non-2xx answers that are not an OAuth error document,
//! become [`TransportError::Status`] so they are never mistaken for the
//! provider refusing a grant.

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The shared `reqwest` client with the per-request time bound.
#[derive(Debug, Clone)]
pub struct Transport {
    pub http: reqwest::Client,
    pub timeout: Duration,
}

impl<'c> AsyncHttpClient<'c> for Transport {
    type Error = TransportError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(&self.http, self.timeout, request))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("no answer within the timeout")]
    Timeout,
    #[error("request failed: {0}")]
    Failed(String),
    #[error("answered status {0}")]
    Status(u16),
}

async fn send(
    http: &reqwest::Client,
    timeout: Duration,
    request: HttpRequest,
) -> Result<HttpResponse, TransportError> {
    let request = reqwest::Request::try_from(request)
        .map_err(|e| TransportError::Failed(e.without_url().to_string()))?;
    let path = request.url().path().to_owned();
    let started = std::time::Instant::now();
    let result = exchange(http, timeout, request).await;
    let status = match &result {
        Ok(response) => response.status().as_u16().to_string(),
        Err(TransportError::Status(code)) => code.to_string(),
        Err(TransportError::Timeout) => "timeout".to_owned(),
        Err(TransportError::Failed(_)) => "error".to_owned(),
    };
    tracing::info!(
        method = "POST",
        path,
        status,
        latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "token endpoint call"
    );
    result
}

async fn exchange(
    http: &reqwest::Client,
    timeout: Duration,
    request: reqwest::Request,
) -> Result<HttpResponse, TransportError> {
    let exchange = async {
        let response = http.execute(request).await?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .cloned();
        let body = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, content_type, body))
    };
    let (status, content_type, body) = match tokio::time::timeout(timeout, exchange).await {
        Err(_) => return Err(TransportError::Timeout),
        Ok(Err(e)) if e.is_timeout() => return Err(TransportError::Timeout),
        Ok(Err(e)) => return Err(TransportError::Failed(e.without_url().to_string())),
        Ok(Ok(parts)) => parts,
    };
    if status.is_server_error() || (!status.is_success() && !is_oauth_error(&body)) {
        return Err(TransportError::Status(status.as_u16()));
    }
    let mut builder = axum::http::Response::builder().status(status);
    if let Some(content_type) = content_type {
        builder = builder.header(axum::http::header::CONTENT_TYPE, content_type);
    }
    builder
        .body(body.to_vec())
        .map_err(|e| TransportError::Failed(e.to_string()))
}

/// An RFC 6749 §5.2 error document: a JSON object with a string `error`.
fn is_oauth_error(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct OauthError {
        #[allow(dead_code)]
        error: String,
    }
    serde_json::from_slice::<OauthError>(body).is_ok()
}
