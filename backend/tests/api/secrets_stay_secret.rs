//! No token, code, client secret or session id in any response body or
//! header that is not meant for it, nor in any log line.

use crate::helpers::captured_logs;
use crate::upstream::FaultyUpstream;

#[tokio::test]
async fn logs_and_responses_never_contain_a_secret() {
    let upstream = FaultyUpstream::start().await;
    let app = upstream.app(&[("SIM_REFRESH_ROTATION", "true")]).await;

    let authorize = app.start_login(None).await;
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    // Read the PKCE verifier this login keeps (and put the login back).
    let state_key = backend::session::hash_hex(&state);
    let browser_key = backend::session::hash_hex(&app.cookie("ts_login").expect("login cookie"));
    let pending = app
        .state
        .store
        .take_pending(&state_key, &browser_key)
        .await
        .unwrap()
        .expect("the pending login");
    let verifier = pending.verifier.expose_secret().to_owned();
    app.state.store.put_pending(&pending).await.unwrap();
    let callback = app.decide(&authorize, "authorize").await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let signed_in = app.client.get(callback).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let session_id = app.session_cookie().expect("signed in");

    let key = backend::session::SessionId::parse(&session_id)
        .unwrap()
        .key();
    let record = app.state.store.load(&key).await.unwrap().unwrap();
    let access = record.tokens.access.expose_secret().to_owned();
    let refresh = record.tokens.refresh.unwrap().expose_secret().to_owned();

    // Use the session: data, a refresh, status, logout.
    let mut bodies = Vec::new();
    for path in [
        "/api/ts/status",
        "/api/ts/v3/brokerage/accounts",
        "/api/ts/v3/marketdata/quotes/MSFT",
    ] {
        let response = app.get(path).await;
        bodies.push(format!("{:?}", response.headers()));
        bodies.push(response.text().await.unwrap());
    }
    app.clock.advance(1200);
    let response = app.get("/api/ts/v3/brokerage/accounts").await;
    assert_eq!(response.status(), 200);
    bodies.push(format!("{:?}", response.headers()));
    bodies.push(response.text().await.unwrap());
    let refreshed = app.state.store.load(&key).await.unwrap().unwrap();
    let access2 = refreshed.tokens.access.expose_secret().to_owned();
    let refresh2 = refreshed.tokens.refresh.unwrap().expose_secret().to_owned();
    let response = app.logout().await;
    bodies.push(response.text().await.unwrap());

    let secrets = [
        ("access token", access.as_str()),
        ("refresh token", refresh.as_str()),
        ("refreshed access token", access2.as_str()),
        ("rotated refresh token", refresh2.as_str()),
        ("authorization code", code.as_str()),
        ("PKCE verifier", verifier.as_str()),
        ("state", state.as_str()),
        ("session id", session_id.as_str()),
        ("client secret", "sim-secret"),
    ];
    let logs = captured_logs();
    assert!(logs.contains("token refresh ok"), "the refresh was logged");
    for (what, secret) in secrets {
        assert!(secret.len() >= 10, "{what} is too short to search for");
        assert!(!logs.contains(secret), "the logs contain the {what}");
        for body in &bodies {
            assert!(!body.contains(secret), "a response contains the {what}");
        }
    }
}
