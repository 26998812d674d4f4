//! A TradeStation that fails: 500s, garbage, silence, resets. Every fault is
//! a 502 or 504 with the tokens kept, and the session works again once the
//! fault clears.

use crate::helpers::{TestApp, error_code};
use crate::upstream::{Fault, FaultyUpstream};
use futures_util::StreamExt;
use std::time::Duration;

const ACCOUNTS: &str = "/api/ts/v3/brokerage/accounts";

async fn signed_in(upstream: &FaultyUpstream) -> TestApp {
    let app = upstream.app(&[]).await;
    let response = app.sign_in().await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    assert!(app.status().await.authenticated);
    app
}

async fn assert_tokens_kept(app: &TestApp) {
    let status = app.status().await;
    assert!(
        status.authenticated && status.has_refresh_token,
        "{status:?}"
    );
}

#[tokio::test]
async fn token_endpoint_faults_during_a_refresh_keep_the_tokens() {
    let upstream = FaultyUpstream::start().await;
    let app = signed_in(&upstream).await;
    app.clock.advance(1200);
    for (fault, code, status) in [
        (Fault::ServerError, "upstream_error", 502),
        (Fault::Garbage, "upstream_error", 502),
        (Fault::Reset, "upstream_error", 502),
        (Fault::Stall, "upstream_timeout", 504),
    ] {
        upstream.set(fault);
        let response = app.get(ACCOUNTS).await;
        assert_eq!(response.status(), status, "{fault:?}");
        assert_eq!(error_code(response).await, code, "{fault:?}");
        assert_tokens_kept(&app).await;
    }
    upstream.set(Fault::Pass);
    assert_eq!(app.get(ACCOUNTS).await.status(), 200);
    assert_eq!(upstream.sim.stats().refresh_grants, 1);
}

#[tokio::test]
async fn data_endpoint_faults_answer_502_or_504_and_keep_the_session() {
    let upstream = FaultyUpstream::start().await;
    let app = signed_in(&upstream).await;
    for (fault, code, status) in [
        (Fault::Reset, "upstream_error", 502),
        (Fault::Stall, "upstream_timeout", 504),
    ] {
        upstream.set(fault);
        let response = app.get(ACCOUNTS).await;
        assert_eq!(response.status(), status, "{fault:?}");
        assert_eq!(error_code(response).await, code);
        assert_tokens_kept(&app).await;
    }
    upstream.set(Fault::Pass);
    assert_eq!(app.get(ACCOUNTS).await.status(), 200);
}

#[tokio::test]
async fn upstream_errors_pass_through_with_retry_after_but_without_cookies() {
    let upstream = FaultyUpstream::start().await;
    let app = signed_in(&upstream).await;
    upstream.set(Fault::RateLimited);
    let response = app.get("/api/ts/v3/marketdata/quotes/MSFT").await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
    assert!(response.headers().get("set-cookie").is_none());
    assert!(response.headers().get("server").is_none());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["Error"], "TooManyRequests");
}

#[tokio::test]
async fn outbound_requests_carry_our_bearer_token_and_nothing_of_the_browsers() {
    let upstream = FaultyUpstream::start().await;
    let app = signed_in(&upstream).await;
    let response = app
        .client
        .get(app.url("/api/ts/v3/marketdata/quotes/MSFT?extra=1"))
        .header("authorization", "Bearer browser-supplied")
        .header("x-custom", "browser")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = upstream.seen.lock().unwrap().clone();
    let request = seen
        .iter()
        .rev()
        .find(|r| r.starts_with("GET /sim/v3/marketdata/quotes/MSFT?extra=1 "))
        .expect("the forwarded request")
        .to_ascii_lowercase();
    assert!(request.contains("authorization: bearer "));
    assert!(!request.contains("browser-supplied"));
    assert!(!request.contains("cookie:"));
    assert!(!request.contains("x-custom"));
}

#[tokio::test]
async fn an_idle_stream_is_closed() {
    let upstream = FaultyUpstream::start().await;
    let app = upstream.app(&[("TS_STREAM_IDLE_TIMEOUT", "1")]).await;
    app.sign_in().await;
    upstream.set(Fault::SilentStream);
    let response = app.get("/api/ts/v3/marketdata/stream/quotes/MSFT").await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let first = body.next().await.expect("one line").unwrap();
    assert!(std::str::from_utf8(&first).unwrap().contains("Heartbeat"));
    let end = tokio::time::timeout(Duration::from_secs(10), body.next())
        .await
        .expect("the idle stream ends within the idle timeout");
    assert!(end.is_none(), "closed, not failed");
}

#[tokio::test]
async fn code_exchange_faults_redirect_with_an_auth_error_and_store_nothing() {
    let upstream = FaultyUpstream::start().await;
    let app = upstream.app(&[]).await;
    for (fault, auth_error) in [
        (Fault::ServerError, "upstream_error"),
        (Fault::Garbage, "upstream_error"),
        (Fault::Stall, "upstream_error"),
        (Fault::Reset, "upstream_error"),
    ] {
        let authorize = app.start_login(None).await;
        let callback = app.decide(&authorize, "authorize").await;
        upstream.set(fault);
        let response = app.client.get(callback).send().await.unwrap();
        upstream.set(Fault::Pass);
        assert_eq!(response.status(), 303, "{fault:?}");
        assert_eq!(
            response.headers()["location"].to_str().unwrap(),
            format!("/?auth_error={auth_error}"),
            "{fault:?}"
        );
        assert!(!app.status().await.authenticated);
    }
}

#[tokio::test]
async fn a_refused_code_redirects_with_exchange_failed() {
    let upstream = FaultyUpstream::start().await;
    let app = upstream.app(&[]).await;
    let authorize = app.start_login(None).await;
    let mut callback = app.decide(&authorize, "authorize").await;
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    callback
        .query_pairs_mut()
        .clear()
        .append_pair("code", "not-a-code-the-provider-issued")
        .append_pair("state", &state);
    let response = app.client.get(callback).send().await.unwrap();
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        "/?auth_error=exchange_failed"
    );
    assert!(!app.status().await.authenticated);
}

#[tokio::test]
async fn an_id_token_from_the_wrong_issuer_is_refused_and_nothing_stored() {
    let upstream = FaultyUpstream::start().await;
    let app = upstream
        .app(&[("TS_ISSUER", "https://signin.tradestation.com/")])
        .await;
    let response = app.sign_in().await;
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        "/?auth_error=invalid_id_token"
    );
    assert!(!app.status().await.authenticated);
    assert_eq!(app.state.store.count_sessions().await.unwrap(), 0);
}
