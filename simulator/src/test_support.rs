//! Helpers for the simulator's unit tests: a simulator with test credentials,
//! one-shot requests against its router, and a scripted sign-in.

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use super::{SimConfig, Simulator};

pub(super) const ISSUER: &str = "http://127.0.0.1:9/sim/";
pub(super) const CLIENT_ID: &str = "sim-client";
pub(super) const SECRET: &str = "sim-secret";
pub(super) const REDIRECT: &str = "http://localhost:8000/api/ts/callback";
pub(super) const SCOPE: &str = "openid profile offline_access MarketData ReadAccount";

/// A simulator with test credentials, adjusted by `tune`.
pub(super) fn simulator(tune: impl FnOnce(&mut SimConfig)) -> Simulator {
    let mut config = SimConfig::for_tests(ISSUER.into());
    tune(&mut config);
    Simulator::new(config)
}

/// An answer, fully read.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(super) fn location(&self) -> url::Url {
        let location = self.headers[header::LOCATION].to_str().unwrap();
        url::Url::parse(location).unwrap()
    }
}

pub(super) async fn send(sim: &Simulator, request: Request<Body>) -> Answer {
    let response = sim.router().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

pub(super) async fn get(sim: &Simulator, uri: &str, token: Option<&str>) -> Answer {
    let mut request = Request::get(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    send(sim, request.body(Body::empty()).unwrap()).await
}

pub(super) async fn post_form(sim: &Simulator, uri: &str, pairs: &[(&str, &str)]) -> Answer {
    let body = serde_urlencoded::to_string(pairs).unwrap();
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    send(sim, request).await
}

/// A PKCE pair: `(verifier, S256 challenge)`.
pub(super) fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The parameters of an authorization request, as the backend sends them.
pub(super) fn authorize_params<'a>(challenge: &'a str, nonce: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("audience", "https://api.tradestation.com"),
        ("scope", SCOPE),
        ("state", "state-123"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("nonce", nonce),
    ]
}

/// Clicks Authorize as `user`; returns the code from the redirect.
pub(super) async fn authorize(sim: &Simulator, challenge: &str, nonce: &str, user: &str) -> String {
    let mut form = authorize_params(challenge, nonce);
    form.push(("username", user));
    form.push(("decision", "authorize"));
    let answer = post_form(sim, "/authorize", &form).await;
    assert_eq!(answer.status, StatusCode::FOUND, "{}", answer.text());
    let location = answer.location();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1;
    code.into_owned()
}

pub(super) async fn exchange(sim: &Simulator, code: &str, verifier: &str) -> Answer {
    post_form(
        sim,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
        ],
    )
    .await
}

pub(super) async fn refresh(sim: &Simulator, refresh_token: &str) -> Answer {
    post_form(
        sim,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
        ],
    )
    .await
}

/// The tokens of a completed sign-in.
#[derive(Debug)]
pub(super) struct Tokens {
    pub access: String,
    pub refresh: String,
}

/// Signs `user` in through the whole code flow.
pub(super) async fn sign_in(sim: &Simulator, user: &str) -> Tokens {
    let (verifier, challenge) = pkce();
    let code = authorize(sim, &challenge, "nonce-1", user).await;
    let answer = exchange(sim, &code, &verifier).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let json = answer.json();
    let field = |name: &str| json[name].as_str().unwrap().to_owned();
    Tokens {
        access: field("access_token"),
        refresh: field("refresh_token"),
    }
}
