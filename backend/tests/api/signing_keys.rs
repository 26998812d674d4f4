//! The provider rotates its id_token signing key: the app fetches the key
//! set again when an id_token names a key it has not seen.

use crate::helpers::TestApp;
use axum::extract::Request;
use simulator::{SimConfig, Simulator};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tower::ServiceExt;

#[tokio::test]
async fn a_new_signing_key_is_fetched_when_an_id_token_names_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{origin}/sim/");
    // Two providers under one issuer, each with its own RSA key and kid.
    let before = Simulator::new(SimConfig::for_tests(issuer.clone())).router();
    let after = Simulator::new(SimConfig::for_tests(issuer.clone())).router();
    let rotated = Arc::new(AtomicBool::new(false));
    let switch = {
        let rotated = rotated.clone();
        tower::service_fn(move |request: Request| {
            let provider = if rotated.load(Ordering::SeqCst) {
                after.clone()
            } else {
                before.clone()
            };
            async move { provider.oneshot(request).await }
        })
    };
    let router = axum::Router::new().nest_service("/sim", switch);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let vars = [
        ("TS_CLIENT_ID", "sim-client".to_owned()),
        ("TS_CLIENT_SECRET", "sim-secret".to_owned()),
        ("TS_AUTH_URL", format!("{origin}/sim/authorize")),
        ("TS_TOKEN_URL", format!("{origin}/sim/oauth/token")),
        ("TS_REVOKE_URL", format!("{origin}/sim/oauth/revoke")),
        ("TS_ISSUER", issuer.clone()),
        ("TS_JWKS_URL", format!("{origin}/sim/.well-known/jwks.json")),
        ("TS_BASE_URL", format!("{origin}/sim")),
        ("TS_REDIRECT_URI", "{app}/api/ts/callback".to_owned()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(&vars).await;

    let first = app.sign_in().await;
    assert_eq!(first.headers()["location"], "/");
    rotated.store(true, Ordering::SeqCst);
    let other = TestApp::spawn_second_browser(&app);
    let second = other.sign_in().await;
    assert_eq!(
        second.headers()["location"],
        "/",
        "the id_token signed with the new key was accepted"
    );
    assert!(other.status().await.authenticated);
}
