//! Sign-in, status, logout and restart, against the simulator.

use crate::helpers::{TestApp, error_code, location};
use std::collections::HashMap;
use url::Url;

#[tokio::test]
async fn signing_in_with_the_simulator_lands_signed_in_on_the_app() {
    let app = TestApp::spawn().await;
    assert!(!app.status().await.authenticated);

    let callback = app.sign_in().await;
    assert_eq!(callback.status(), 303);
    assert_eq!(location(&callback).path(), "/");
    let set_cookie: Vec<_> = callback
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("ts_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(
        !session.contains("Secure"),
        "plain http has no Secure cookie"
    );

    let status = app.status().await;
    assert!(status.authenticated);
    assert_eq!(status.user_id.as_deref(), Some("auth0|sim-trader"));
    assert!(status.has_refresh_token);
    let expires_at = status.expires_at.expect("expiry");
    let now = backend::clock::Clock::now(&app.clock);
    assert!(
        (now + 1100..=now + 1300).contains(&expires_at),
        "{expires_at} vs {now}"
    );
    assert_eq!(app.sim().stats().code_grants, 1);
}

#[tokio::test]
async fn login_redirects_to_the_provider_with_every_parameter() {
    let app = TestApp::spawn().await;
    let authorize = app.start_login(None).await;
    assert_eq!(authorize.path(), "/sim/authorize");
    let params: HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], "simulated-client");
    assert_eq!(params["audience"], "https://api.tradestation.com");
    assert_eq!(params["redirect_uri"], app.url("/api/ts/callback"));
    assert_eq!(
        params["scope"],
        "openid profile offline_access MarketData ReadAccount Trade"
    );
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["code_challenge"].len(), 43);
    // 256 random bits each, base64url.
    assert_eq!(params["state"].len(), 43);
    assert_eq!(params["nonce"].len(), 43);
    let second = app.start_login(None).await;
    let second: HashMap<_, _> = second.query_pairs().into_owned().collect();
    assert_ne!(params["state"], second["state"]);
    assert_ne!(params["nonce"], second["nonce"]);
}

#[tokio::test]
async fn return_to_is_honoured_only_for_same_site_paths() {
    for (asked, landed) in [
        ("/accounts?tab=orders", "/accounts?tab=orders"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ] {
        let app = TestApp::spawn().await;
        let authorize = app.start_login(Some(asked)).await;
        let callback = app.decide(&authorize, "authorize").await;
        let response = app.client.get(callback).send().await.unwrap();
        assert_eq!(response.status(), 303);
        let target = response.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(target, landed, "return_to={asked}");
    }
}

#[tokio::test]
async fn signing_in_issues_a_fresh_session_id() {
    let app = TestApp::spawn().await;
    let base = Url::parse(&app.base).unwrap();
    let planted = "A".repeat(43);
    app.jar
        .add_cookie_str(&format!("ts_session={planted}; Path=/"), &base);
    app.sign_in().await;
    let session = app.session_cookie().expect("a session");
    assert_ne!(session, planted);
    assert!(app.status().await.authenticated);
}

#[tokio::test]
async fn denying_on_the_provider_page_returns_an_auth_error_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let authorize = app.start_login(None).await;
    let callback = app.decide(&authorize, "deny").await;
    let response = app.client.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        "/?auth_error=access_denied"
    );
    assert!(!app.status().await.authenticated);
    assert_eq!(app.sim().stats().token_requests, 0);
}

#[tokio::test]
async fn a_provider_error_outside_the_safe_alphabet_becomes_provider_error() {
    let app = TestApp::spawn().await;
    let authorize = app.start_login(None).await;
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let mut callback = Url::parse(&app.url("/api/ts/callback")).unwrap();
    callback
        .query_pairs_mut()
        .append_pair("error", "<script>")
        .append_pair("state", &state);
    let response = app.client.get(callback).send().await.unwrap();
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        "/?auth_error=provider_error"
    );
}

/// Every way a `state` can be wrong answers `400 invalid_state` and never
/// reaches the token endpoint.
#[tokio::test]
async fn bad_missing_replayed_foreign_or_expired_state_never_reaches_the_token_endpoint() {
    let app = TestApp::spawn().await;
    let authorize = app.start_login(None).await;
    let callback = app.decide(&authorize, "authorize").await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();

    let with = |state: Option<&str>| {
        let mut url = Url::parse(&app.url("/api/ts/callback")).unwrap();
        url.query_pairs_mut().append_pair("code", &code);
        if let Some(state) = state {
            url.query_pairs_mut().append_pair("state", state);
        }
        url
    };
    for url in [with(None), with(Some("")), with(Some("made-up-state"))] {
        let response = app.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(error_code(response).await, "invalid_state");
    }

    // Foreign: another browser presents this browser's callback.
    let stranger = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = stranger.get(callback.clone()).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "invalid_state");

    // Replayed: the login stayed for its own browser, which completes it;
    // its callback used again is refused.
    assert_eq!(
        app.client
            .get(callback.clone())
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    let grants_after_first = app.sim().stats().token_requests;
    let response = app.client.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "invalid_state");

    // Expired: ten minutes pass between login and callback.
    let authorize = app.start_login(None).await;
    let callback = app.decide(&authorize, "authorize").await;
    app.clock.advance(601);
    let response = app.client.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "invalid_state");

    assert_eq!(app.sim().stats().token_requests, grants_after_first);
    assert_eq!(app.sim().stats().code_grants, 1);
}

#[tokio::test]
async fn two_logins_started_in_two_tabs_both_complete() {
    let app = TestApp::spawn().await;
    let first = app.start_login(Some("/quotes")).await;
    let second = app.start_login(Some("/options")).await;
    let first_callback = app.decide(&first, "authorize").await;
    let second_callback = app.decide(&second, "authorize").await;
    let a = app.client.get(first_callback).send().await.unwrap();
    assert_eq!(a.status(), 303);
    let b = app.client.get(second_callback).send().await.unwrap();
    assert_eq!(b.status(), 303);
    assert_eq!(a.headers()["location"], "/quotes");
    assert_eq!(b.headers()["location"], "/options");
}

#[tokio::test]
async fn logout_revokes_forgets_and_expires_the_cookie() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    let response = app.logout().await;
    assert_eq!(response.status(), 200);
    let cleared = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cleared.starts_with("ts_session=;") && cleared.contains("Max-Age=0"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"ok": true}));
    assert!(!app.status().await.authenticated);
    assert_eq!(app.sim().stats().revocations, 1);
    assert_eq!(app.state.store.count_sessions().await.unwrap(), 0);
}

#[tokio::test]
async fn logout_ends_the_same_users_other_sessions_as_tradestation_does() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    let other = TestApp::spawn_second_browser(&app);
    other.sign_in().await;
    app.logout().await;

    // The other browser's refresh token died with the revoke.
    app.clock.advance(1300);
    let response = other.get("/api/ts/v3/brokerage/accounts").await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_code(response).await, "session_expired");
    assert!(!other.status().await.authenticated);
}

#[tokio::test]
async fn logout_without_revoking_when_configured_so() {
    let app = TestApp::spawn_with(&[("TS_REVOKE_ON_LOGOUT", "false")]).await;
    app.sign_in().await;
    assert_eq!(app.logout().await.status(), 200);
    assert!(!app.status().await.authenticated);
    assert_eq!(app.sim().stats().revocations, 0);
}

#[tokio::test]
async fn logout_is_idempotent_but_still_needs_the_csrf_header() {
    let app = TestApp::spawn().await;
    assert_eq!(app.logout().await.status(), 200);
    let response = app
        .client
        .post(app.url("/api/ts/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "csrf_required");
}

#[tokio::test]
async fn a_restart_on_the_same_database_keeps_the_session() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    let before = app.status().await;
    let clock = app.clock.clone();
    let (dir, vars, jar) = app.stop().await;

    let app = TestApp::spawn_in(dir, vars, clock).await;
    // The new server listens on another port; carry the cookie over.
    let cookie = jar
        .cookies(&Url::parse("http://127.0.0.1/").unwrap())
        .map(|h| h.to_str().unwrap().to_owned());
    let cookie = cookie.expect("the first app's cookie");
    let status: shared::api::StatusResponse = app
        .client
        .get(app.url("/api/ts/status"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status, before);
    let accounts = app
        .client
        .get(app.url("/api/ts/v3/brokerage/accounts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(accounts.status(), 200);
}

use reqwest::cookie::CookieStore;

#[tokio::test]
async fn the_sweep_ends_only_sessions_idle_past_the_limit() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    let active = TestApp::spawn_second_browser(&app);
    active.sign_in().await;
    let idle = std::time::Duration::from_secs(30 * 86_400);

    assert_eq!(backend::sweep::sweep_once(&app.state, idle).await, 0);
    app.clock.advance(29 * 86_400);
    // The second browser keeps using its session; the first does not.
    assert_eq!(
        active.get("/api/ts/v3/brokerage/accounts").await.status(),
        200
    );
    app.clock.advance(2 * 86_400);
    assert_eq!(backend::sweep::sweep_once(&app.state, idle).await, 1);
    assert!(!app.status().await.authenticated);
    assert!(active.status().await.authenticated);
    assert_eq!(
        app.sim().stats().revocations,
        1,
        "the idle session's token was revoked"
    );
}
