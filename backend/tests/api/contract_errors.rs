//! The contract's error table and its order of checks: method, then
//! `X-CSRF`, then path, then session.

use crate::helpers::{TestApp, error_code};

#[tokio::test]
async fn health_answers_ok_when_the_store_does() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"ok": true}));
}

#[tokio::test]
async fn data_without_a_session_is_not_authenticated() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/ts/v3/brokerage/accounts").await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_code(response).await, "not_authenticated");
    // A cookie that is not one of ours is no session either.
    let response = app
        .client
        .get(app.url("/api/ts/v3/brokerage/accounts"))
        .header("cookie", "ts_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn status_without_a_session_is_signed_out() {
    let app = TestApp::spawn().await;
    let body: serde_json::Value = app.get("/api/ts/status").await.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"authenticated": false, "user_id": null, "expires_at": null, "has_refresh_token": false, "environment": "simulator", "trading": true})
    );
}

#[tokio::test]
async fn the_method_is_checked_before_csrf_path_and_session() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (reqwest::Method::POST, "/api/ts/v3/brokerage/accounts"),
        (reqwest::Method::DELETE, "/api/ts/v3/brokerage/%2e%2e/x"),
        (reqwest::Method::PUT, "/api/ts/status"),
        (reqwest::Method::GET, "/api/ts/logout"),
        (reqwest::Method::POST, "/api/ts/login"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(error_code(response).await, "method_not_allowed");
    }
}

#[tokio::test]
async fn csrf_must_be_exactly_one() {
    let app = TestApp::spawn().await;
    for value in [None, Some("0"), Some("true"), Some("11"), Some("yes")] {
        let mut request = app.client.post(app.url("/api/ts/logout"));
        if let Some(value) = value {
            request = request.header("X-CSRF", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{value:?}");
        assert_eq!(error_code(response).await, "csrf_required");
    }
}

#[tokio::test]
async fn the_path_is_checked_before_the_session() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/ts/v3/",
        "/api/ts/v3/brokerage",
        "/api/ts/v3/brokerage/",
        "/api/ts/v3/orderexecution/orders",
        "/api/ts/v3/brokerage/%2e%2e/orderexecution",
        "/api/ts/v3/brokerage/accounts%2F..%2F..",
        "/api/ts/v3/marketdata/quotes/a%5cb",
        "/api/ts/v3/brokerage//accounts",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(error_code(response).await, "invalid_path");
    }
}

#[tokio::test]
async fn unknown_api_paths_are_json_404_and_other_paths_serve_the_spa() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/nope").await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "not_found");
    let response = app.get("/accounts").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn the_spa_is_served_with_index_html_for_client_side_routes() {
    let app = TestApp::spawn().await;
    let dist = app.dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><title>spa</title>").unwrap();
    std::fs::write(dist.join("app.js"), "console.log(1)").unwrap();
    assert!(
        app.get("/")
            .await
            .text()
            .await
            .unwrap()
            .contains("<title>spa</title>")
    );
    assert!(
        app.get("/chart/MSFT")
            .await
            .text()
            .await
            .unwrap()
            .contains("<title>spa</title>")
    );
    assert_eq!(
        app.get("/app.js").await.text().await.unwrap(),
        "console.log(1)"
    );

    // Static files are compressed for browsers that accept it.
    std::fs::write(dist.join("big.wasm"), vec![b'a'; 64 * 1024]).unwrap();
    let response = app
        .client
        .get(app.url("/big.wasm"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert!(response.bytes().await.unwrap().len() < 4 * 1024);
}

#[tokio::test]
async fn cors_allows_exactly_the_configured_origins_with_credentials() {
    let app = TestApp::spawn().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/ts/logout"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "x-csrf")
            .send()
    };
    let allowed = preflight("http://localhost:8080").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:8080"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let refused = preflight("http://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn api_answers_are_never_cached() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/ts/status").await;
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").await;
    assert!(response.headers().get("x-request-id").is_some());
}

#[tokio::test]
async fn metrics_speak_prometheus_without_session_ids() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    app.clock.advance(1200);
    assert_eq!(app.get("/api/ts/v3/brokerage/accounts").await.status(), 200);
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for needle in [
        "ts_refresh_total{result=\"ok\"}",
        "ts_refresh_total{result=\"invalid_grant\"}",
        "ts_refresh_total{result=\"error\"}",
        "ts_upstream_requests_total{status=\"200\"}",
        "ts_upstream_request_duration_seconds_bucket",
        "ts_sessions",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    let session = app.session_cookie().unwrap();
    assert!(!text.contains(&session));
}
