//! Redirects and the JSON error body (`{"error","message"}`) every failing
//! route writes.

use url::Url;

/// The `Location` of a redirect, resolved against a placeholder origin when
/// it is relative (`/`, `/?auth_error=…`).
///
/// # Panics
/// There is no `Location`, or it is not a URL.
pub fn location(response: &reqwest::Response) -> Url {
    let value = response
        .headers()
        .get(reqwest::header::LOCATION)
        .expect("a Location header")
        .to_str()
        .expect("a textual Location");
    Url::parse(value)
        .or_else(|_| Url::parse("http://relative.invalid").and_then(|base| base.join(value)))
        .expect("a Location that is a URL")
}

/// The `error` code of a JSON error body; `""` when the body is not one.
pub fn error_code_of(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    json["error"].as_str().unwrap_or_default().to_owned()
}

/// The error code of a response that must be a contract error: a JSON body
/// with a code and a non-empty human `message`.
///
/// # Panics
/// The body is not such an error.
pub async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an error body carries a message: {body}"
    );
    body["error"].as_str().expect("an error code").to_owned()
}
