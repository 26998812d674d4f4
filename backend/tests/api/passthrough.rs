//! The passthrough against the simulator: data, refresh before expiry, the
//! 401 retry, and streams.

use crate::helpers::{TestApp, error_code};
use futures_util::StreamExt;
use std::time::Duration;

/// Sends `n` requests for `path` at once; every one must answer 200.
async fn all_succeed(app: &TestApp, path: &str, n: usize) {
    let calls = (0..n).map(|_| app.client.get(app.url(path)).send());
    for response in futures_util::future::join_all(calls).await {
        assert_eq!(response.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn accounts_come_through_with_the_sessions_token() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    let response = app.get("/api/ts/v3/brokerage/accounts").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("json")
    );
    let body: shared::ts::accounts::AccountsResponse = response.json().await.unwrap();
    assert!(!body.accounts.is_empty());
}

#[tokio::test]
async fn queries_and_encoded_symbols_are_forwarded_as_they_are() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    let response = app
        .get("/api/ts/v3/marketdata/barcharts/MSFT?interval=5&unit=Minute&barsback=3")
        .await;
    assert_eq!(response.status(), 200);
    let body: shared::ts::bars::BarsResponse = response.json().await.unwrap();
    assert_eq!(body.bars.len(), 3);
    let response = app.get("/api/ts/v3/marketdata/quotes/MSFT,NOPE1").await;
    let body: shared::ts::quotes::QuotesResponse = response.json().await.unwrap();
    assert_eq!(body.quotes.len(), 1);
    assert_eq!(body.errors.len(), 1, "partial errors pass through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_is_refreshed_once_for_many_concurrent_calls() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    let before = app.status().await.expires_at.unwrap();
    app.clock.advance(1200 - 30);
    all_succeed(&app, "/api/ts/v3/brokerage/accounts", 40).await;
    assert_eq!(app.sim().stats().refresh_grants, 1);
    assert!(app.status().await.expires_at.unwrap() > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_401_refreshes_once_and_retries() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    // Old enough for a 401 to be blamed on the token.
    app.clock.advance(30);
    app.sim().expire_access_tokens();
    all_succeed(&app, "/api/ts/v3/brokerage/accounts", 20).await;
    let stats = app.sim().stats();
    assert_eq!(stats.refresh_grants, 1);
    assert!(stats.api_unauthorized >= 1);
}

#[tokio::test]
async fn an_upstream_401_on_a_token_younger_than_30_s_is_answered_as_is() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    app.clock.advance(29);
    app.sim().expire_access_tokens();
    for _ in 0..20 {
        let response = app.get("/api/ts/v3/brokerage/accounts").await;
        assert_eq!(response.status(), 401);
    }
    let stats = app.sim().stats();
    assert_eq!(stats.refresh_grants, 0);
    assert_eq!(stats.api_unauthorized, 20);
}

#[tokio::test]
async fn rotation_keeps_the_session_working_across_refreshes() {
    let app = TestApp::spawn_with(&[("SIM_REFRESH_ROTATION", "true")]).await;
    app.sign_in().await;
    for _ in 0..3 {
        app.clock.advance(1200);
        assert_eq!(app.get("/api/ts/v3/brokerage/accounts").await.status(), 200);
    }
    assert_eq!(app.sim().stats().refresh_grants, 3);
    assert_eq!(app.sim().stats().refresh_refused, 0);
}

#[tokio::test]
async fn a_refused_refresh_ends_the_session() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    let other = TestApp::spawn_second_browser(&app);
    other.sign_in().await;
    other.logout().await; // revokes every refresh token of this user
    app.clock.advance(1200);
    let response = app.get("/api/ts/v3/brokerage/accounts").await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_code(response).await, "session_expired");
    assert!(!app.status().await.authenticated);
    let response = app.get("/api/ts/v3/brokerage/accounts").await;
    assert_eq!(error_code(response).await, "not_authenticated");
}

#[tokio::test]
async fn a_quote_stream_arrives_chunk_by_chunk_and_ends_upstream_when_the_browser_leaves() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    let response = app
        .get("/api/ts/v3/marketdata/stream/quotes/MSFT,AAPL")
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("vnd.tradestation.streams")
    );
    // The first lines arrive while the stream is still open: nothing waits
    // for the (endless) body to finish.
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while text.matches('\n').count() < 2 {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("stream lines within 10 s")
            .expect("the stream is open")
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(first.get("Symbol").is_some() || first.get("Heartbeat").is_some());
    assert_eq!(app.sim().stats().open_streams, 1);

    drop(body);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app.sim().stats().open_streams != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "upstream stream not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
