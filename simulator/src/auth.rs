//! The simulated sign-in (TradeStation's Auth0 tenant): the authorize page,
//! the token endpoint and revocation.
//!
//! - `GET /authorize` validates the request and shows a sign-in page; bad
//!   requests get a 400 page and are never redirected anywhere.
//! - `POST /authorize` re-validates the same parameters (the form is not
//!   trusted) and redirects back with a single-use code (60 s) or
//!   `error=access_denied`.
//! - `POST /oauth/token` takes client credentials in the form body only
//!   (`client_secret_post`; HTTP Basic is refused, as TradeStation documents
//!   only the body style), checks PKCE S256, and refreshes with or without
//!   rotation. Errors follow RFC 6749 §5.2; `invalid_grant` is a 403, as
//!   Auth0 answers it.
//! - `POST /oauth/revoke` (JSON or form) ends **every** refresh token of the
//!   user, as TradeStation documents.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;
use subtle::ConstantTimeEq;
use url::Url;

use super::calendar;
use super::keys::{IdTokenClaims, at_hash};
use super::tokens::{AccessClaims, RefreshClaims};
use super::{Counters, Params, PendingCode, SimConfig, Simulator};

/// Lifetime of an authorization code.
/// Authorization codes held at once; each lives a minute.
const MAX_PENDING_CODES: usize = 10_000;
const CODE_TTL_MS: i64 = 60_000;
/// Lifetime of an `id_token`.
const ID_TOKEN_TTL_SECS: i64 = 3600;
/// Longest parameter value accepted on the authorize endpoint.
const MAX_PARAM_LEN: usize = 2048;
/// User name when the form leaves it empty.
const DEFAULT_USER: &str = "trader";

/// A validated authorization request.
#[derive(Debug, Clone)]
struct AuthorizeRequest {
    client_id: String,
    redirect_uri: Url,
    audience: String,
    scope: String,
    state: String,
    code_challenge: Option<String>,
    nonce: Option<String>,
}

impl AuthorizeRequest {
    /// The hidden fields that carry the request through the form.
    fn hidden_fields(&self) -> Vec<(&'static str, &str)> {
        let mut fields = vec![
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("audience", self.audience.as_str()),
            ("scope", self.scope.as_str()),
            ("state", self.state.as_str()),
        ];
        if let Some(challenge) = &self.code_challenge {
            fields.push(("code_challenge", challenge));
            fields.push(("code_challenge_method", "S256"));
        }
        if let Some(nonce) = &self.nonce {
            fields.push(("nonce", nonce));
        }
        fields
    }
}

/// Checks an authorization request; the error is the sentence for the page.
fn validate(params: &Params, config: &SimConfig) -> Result<AuthorizeRequest, String> {
    if let Some((name, _)) = params.0.iter().find(|(_, v)| v.len() > MAX_PARAM_LEN) {
        return Err(format!("Parameter {name} is too long."));
    }
    let required = |name: &str| -> Result<String, String> {
        match params.get(name).map(str::trim) {
            Some(v) if !v.is_empty() => Ok(v.to_owned()),
            _ => Err(format!("Parameter {name} is required.")),
        }
    };
    let client_id = required("client_id")?;
    if client_id != config.client_id {
        return Err("Unknown client_id.".into());
    }
    let redirect_uri = required("redirect_uri")?;
    let redirect_uri = Url::parse(&redirect_uri)
        .ok()
        .filter(|u| {
            matches!(u.scheme(), "http" | "https") && u.has_host() && u.fragment().is_none()
        })
        .ok_or("redirect_uri must be an absolute http(s) URL without a fragment.")?;
    if !config.redirect_uris.is_empty()
        && !config
            .redirect_uris
            .iter()
            .any(|r| r == redirect_uri.as_str())
    {
        return Err("redirect_uri is not registered for this client.".into());
    }
    if params.get("response_type") != Some("code") {
        return Err("response_type must be code.".into());
    }
    let audience = required("audience")?;
    let scope = required("scope")?;
    if !scope.split(' ').any(|s| s == "openid") {
        return Err("scope must include openid.".into());
    }
    let state = required("state")?;
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, None) => None,
        (Some(challenge), Some("S256")) => {
            let well_formed = challenge.len() == 43
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err("code_challenge must be a base64url SHA-256 digest.".into());
            }
            Some(challenge.to_owned())
        }
        (Some(_), _) => return Err("code_challenge_method must be S256.".into()),
        (None, Some(_)) => {
            return Err("code_challenge_method was sent without code_challenge.".into());
        }
    };
    let nonce = params
        .get("nonce")
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    Ok(AuthorizeRequest {
        client_id,
        redirect_uri,
        audience,
        scope,
        state,
        code_challenge,
        nonce,
    })
}

/// `GET /authorize`: the sign-in page, or a 400 page.
pub(super) async fn authorize_page(
    State(sim): State<Simulator>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""));
    match validate(&params, sim.config()) {
        Ok(request) => page(StatusCode::OK, &sign_in_page(&request)),
        Err(message) => error_page(&message),
    }
}

/// `POST /authorize`: the user's decision.
pub(super) async fn authorize_decision(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_form(&headers) {
        return error_page("The form must be sent as application/x-www-form-urlencoded.");
    }
    let Some(params) = Params::parse_body(&body) else {
        return error_page("The form could not be read.");
    };
    let request = match validate(&params, sim.config()) {
        Ok(request) => request,
        Err(message) => return error_page(&message),
    };
    let mut target = request.redirect_uri.clone();
    match params.get("decision") {
        Some("deny") => {
            target
                .query_pairs_mut()
                .append_pair("error", "access_denied")
                .append_pair(
                    "error_description",
                    "The user denied the authorization request.",
                )
                .append_pair("state", &request.state);
        }
        Some("authorize") => {
            let user = match params.get("username").map(str::trim) {
                None | Some("") => DEFAULT_USER.to_owned(),
                Some(name) if valid_user(name) => name.to_owned(),
                Some(_) => {
                    return error_page(
                        "A user name has 1 to 64 letters, digits, dots, dashes, underscores or @.",
                    );
                }
            };
            let code = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
            let now = calendar::now_ms();
            {
                let mut state = sim.state();
                state.codes.retain(|_, pending| pending.expires_ms > now);
                // Bounded: past the cap the code closest to expiry goes, so
                // a flood of sign-in clicks cannot grow memory.
                while state.codes.len() >= MAX_PENDING_CODES {
                    let oldest = state
                        .codes
                        .iter()
                        .min_by_key(|(_, pending)| pending.expires_ms)
                        .map(|(code, _)| code.clone());
                    match oldest {
                        Some(code) => state.codes.remove(&code),
                        None => break,
                    };
                }
                state.codes.insert(
                    code.clone(),
                    PendingCode {
                        client_id: request.client_id.clone(),
                        redirect_uri: request.redirect_uri.to_string(),
                        code_challenge: request.code_challenge.clone(),
                        nonce: request.nonce.clone(),
                        user,
                        scope: request.scope.clone(),
                        expires_ms: now + CODE_TTL_MS,
                    },
                );
            }
            target
                .query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", &request.state);
        }
        _ => return error_page("Choose Authorize or Deny."),
    }
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(target.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    no_store(response)
}

fn valid_user(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// The answer of a successful grant (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    token_type: &'static str,
    expires_in: u64,
    scope: String,
}

/// `POST /oauth/token`.
pub(super) async fn token(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    Counters::bump(&sim.counters().token_requests);
    let delay = sim.inner.token_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if let Some(response) = refuse_basic(&headers) {
        return response;
    }
    if !is_form(&headers) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body must be application/x-www-form-urlencoded.",
        );
    }
    let Some(params) = Params::parse_body(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body could not be read.",
        );
    };
    for name in [
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "client_id",
        "client_secret",
    ] {
        if params.count(name) > 1 {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("Parameter {name} is repeated."),
            );
        }
    }
    let Some(grant_type) = params.get("grant_type") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required.",
        );
    };
    if !client_ok(
        sim.config(),
        params.get("client_id"),
        params.get("client_secret"),
    ) {
        return invalid_client();
    }
    match grant_type {
        "authorization_code" => code_grant(&sim, &params),
        "refresh_token" => refresh_grant(&sim, &params),
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token.",
        ),
    }
}

fn code_grant(sim: &Simulator, params: &Params) -> Response {
    let Some(code) = params.get("code") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code is required.",
        );
    };
    // Taken out whatever happens next: a code is good for one attempt.
    let pending = sim.state().codes.remove(code);
    let refused = || invalid_grant("Invalid authorization code");
    let Some(pending) = pending.filter(|p| p.expires_ms > calendar::now_ms()) else {
        return refused();
    };
    if Some(pending.client_id.as_str()) != params.get("client_id")
        || Some(pending.redirect_uri.as_str()) != params.get("redirect_uri")
    {
        return refused();
    }
    if let Some(challenge) = &pending.code_challenge {
        let verified = params
            .get("code_verifier")
            .is_some_and(|verifier| pkce_matches(verifier, challenge));
        if !verified {
            return invalid_grant("Failed to verify code verifier");
        }
    }
    let access_token = issue_access(sim, &pending.user, &pending.scope);
    let refresh_token = pending
        .scope
        .split(' ')
        .any(|s| s == "offline_access")
        .then(|| issue_refresh(sim, &pending.user, &pending.scope, rand::random(), 0));
    let now_secs = calendar::now_ms() / 1000;
    let claims = IdTokenClaims {
        iss: sim.config().issuer.clone(),
        sub: format!("auth0|sim-{}", pending.user),
        aud: pending.client_id.clone(),
        iat: now_secs,
        exp: now_secs + ID_TOKEN_TTL_SECS,
        nonce: pending.nonce.clone(),
        name: pending.user.clone(),
        nickname: pending.user.clone(),
        updated_at: calendar::rfc3339(now_secs * 1000),
        at_hash: at_hash(&access_token),
    };
    let Some(id_token) = sim.inner.key.id_token(&claims) else {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Signing failed.",
        );
    };
    Counters::bump(&sim.counters().code_grants);
    token_response(
        sim,
        access_token,
        refresh_token,
        Some(id_token),
        pending.scope,
    )
}

fn refresh_grant(sim: &Simulator, params: &Params) -> Response {
    let Some(presented) = params.get("refresh_token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is required.",
        );
    };
    let refused = || {
        Counters::bump(&sim.counters().refresh_refused);
        invalid_grant("Unknown or invalid refresh token.")
    };
    let Some(claims) = sim.inner.codec.open_refresh(presented) else {
        return refused();
    };
    let rotate = sim.config().rotate_refresh_tokens;
    // Check and spend under one lock: of two refreshes racing with the same
    // rotated token, exactly one wins.
    let next_generation = {
        let mut state = sim.state();
        if state
            .revoked_before
            .get(&claims.user)
            .is_some_and(|revoked| claims.issued <= *revoked)
        {
            None
        } else if rotate {
            match state.families.get(&claims.family) {
                Some(latest) if *latest != claims.generation => None,
                _ => {
                    let next = claims.generation.saturating_add(1);
                    state.families.insert(claims.family, next);
                    Some(Some(next))
                }
            }
        } else {
            Some(None)
        }
    };
    let Some(next_generation) = next_generation else {
        return refused();
    };
    let access_token = issue_access(sim, &claims.user, &claims.scope);
    let refresh_token = next_generation.map(|generation| {
        issue_refresh(sim, &claims.user, &claims.scope, claims.family, generation)
    });
    Counters::bump(&sim.counters().refresh_grants);
    token_response(sim, access_token, refresh_token, None, claims.scope)
}

fn issue_access(sim: &Simulator, user: &str, scope: &str) -> String {
    let ttl = i64::try_from(sim.config().access_token_ttl.as_millis()).unwrap_or(i64::MAX);
    sim.inner.codec.seal_access(&AccessClaims {
        user: user.to_owned(),
        scope: scope.to_owned(),
        issued: sim.stamp(),
        expires_ms: calendar::now_ms().saturating_add(ttl),
    })
}

fn issue_refresh(
    sim: &Simulator,
    user: &str,
    scope: &str,
    family: [u8; 16],
    generation: u32,
) -> String {
    if sim.config().rotate_refresh_tokens {
        sim.state().families.insert(family, generation);
    }
    sim.inner.codec.seal_refresh(&RefreshClaims {
        user: user.to_owned(),
        scope: scope.to_owned(),
        issued: sim.stamp(),
        family,
        generation,
    })
}

fn token_response(
    sim: &Simulator,
    access_token: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
    scope: String,
) -> Response {
    no_store(
        axum::Json(TokenResponse {
            access_token,
            refresh_token,
            id_token,
            token_type: "Bearer",
            expires_in: sim.config().access_token_ttl.as_secs(),
            scope,
        })
        .into_response(),
    )
}

/// `BASE64URL-NOPAD(SHA256(verifier)) == challenge` (RFC 7636 §4.6).
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// `POST /oauth/revoke`: `{"client_id","client_secret","token"}` as JSON or
/// a form (`refresh_token` is accepted for `token`). A valid refresh token
/// ends all of its user's refresh tokens; an unknown one is ignored (200,
/// RFC 7009 §2.2).
pub(super) async fn revoke(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(response) = refuse_basic(&headers) {
        return response;
    }
    let fields: Vec<(String, String)> = if is_json(&headers) {
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body) {
            Ok(map) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect(),
            Err(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The JSON body could not be read.",
                );
            }
        }
    } else if is_form(&headers) {
        match Params::parse_body(&body) {
            Some(params) => params.0,
            None => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The body could not be read.",
                );
            }
        }
    } else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body must be JSON or application/x-www-form-urlencoded.",
        );
    };
    let params = Params(fields);
    if !client_ok(
        sim.config(),
        params.get("client_id"),
        params.get("client_secret"),
    ) {
        return invalid_client();
    }
    let Some(token) = params.get("token").or_else(|| params.get("refresh_token")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required.",
        );
    };
    if let Some(claims) = sim.inner.codec.open_refresh(token) {
        let stamp = sim.stamp();
        sim.state().revoked_before.insert(claims.user, stamp);
        Counters::bump(&sim.counters().revocations);
    }
    no_store(StatusCode::OK.into_response())
}

fn client_ok(config: &SimConfig, id: Option<&str>, secret: Option<&str>) -> bool {
    let id_ok = id == Some(config.client_id.as_str());
    let secret_ok =
        secret.is_some_and(|s| bool::from(s.as_bytes().ct_eq(config.client_secret.as_bytes())));
    id_ok && secret_ok
}

fn refuse_basic(headers: &HeaderMap) -> Option<Response> {
    let value = headers.get(header::AUTHORIZATION)?;
    let basic = value
        .to_str()
        .ok()
        .and_then(|v| v.split(' ').next())
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic"));
    basic.then(|| {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "HTTP Basic client authentication is not supported: send client_id and client_secret in the form body.",
        )
    })
}

fn invalid_client() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Unknown client or wrong client secret.",
    )
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::FORBIDDEN, "invalid_grant", description)
}

/// `{"error","error_description"}` (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    no_store(
        (
            status,
            axum::Json(serde_json::json!({"error": error, "error_description": description})),
        )
            .into_response(),
    )
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

fn is_form(headers: &HeaderMap) -> bool {
    media_type(headers).as_deref() == Some("application/x-www-form-urlencoded")
}

fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).as_deref() == Some("application/json")
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
background:#f3f5f8;font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1c2430}\
main{background:#fff;width:100%;max-width:380px;padding:32px;border-radius:8px;box-shadow:0 2px 12px rgba(0,0,0,.08)}\
h1{font-size:20px;margin:0 0 4px}p{margin:0 0 16px;color:#4a5563}label{display:block;font-weight:600;margin-bottom:4px}\
input[type=text]{box-sizing:border-box;width:100%;padding:9px 10px;border:1px solid #c5ccd6;border-radius:4px;font:inherit;margin-bottom:16px}\
.scope{font-size:13px;background:#f3f5f8;padding:8px;border-radius:4px;word-break:break-word}\
.buttons{display:flex;gap:12px;margin-top:8px}button{flex:1;padding:10px;border-radius:4px;font:inherit;font-weight:600;cursor:pointer}\
#authorize{background:#0a5cd8;border:1px solid #0a5cd8;color:#fff}#deny{background:#fff;border:1px solid #c5ccd6;color:#1c2430}\
.note{font-size:12px;margin:20px 0 0;text-align:center}.error{color:#b42318}";

fn sign_in_page(request: &AuthorizeRequest) -> String {
    let hidden: String = request
        .hidden_fields()
        .into_iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape(name),
                escape(value)
            )
        })
        .collect();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>TradeStation Simulator — sign in</title><style>{STYLE}</style></head>\n<body><main>\n\
<h1>TradeStation Simulator — sign in</h1>\n\
<p>Sign in to let <strong>{client}</strong> use your simulated TradeStation accounts.</p>\n\
<form method=\"post\" action=\"authorize\">\n\
<label for=\"username\">User name</label>\n\
<input type=\"text\" id=\"username\" name=\"username\" value=\"{DEFAULT_USER}\" autocomplete=\"username\" maxlength=\"64\">\n\
<p class=\"scope\">Requested access: {scope}</p>\n{hidden}\
<div class=\"buttons\">\
<button type=\"submit\" id=\"authorize\" name=\"decision\" value=\"authorize\">Authorize</button>\
<button type=\"submit\" id=\"deny\" name=\"decision\" value=\"deny\" formnovalidate>Deny</button>\
</div>\n</form>\n\
<p class=\"note\">Simulated sign-in: no password, no real account, no real money.</p>\n\
</main></body></html>\n",
        client = escape(&request.client_id),
        scope = escape(&request.scope),
    )
}

fn error_page(message: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>TradeStation Simulator — error</title><style>{STYLE}</style></head>\n<body><main>\n\
<h1>Sign-in request refused</h1>\n<p class=\"error\" id=\"error\">{}</p>\n\
<p class=\"note\">The application sent an invalid authorization request.</p>\n</main></body></html>\n",
        escape(message)
    );
    page(StatusCode::BAD_REQUEST, &body)
}

fn page(status: StatusCode, body: &str) -> Response {
    let mut response = (status, Html(body.to_owned())).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use axum::http::Request;
    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::Value;

    fn query_of(pairs: &[(&str, &str)]) -> String {
        serde_urlencoded::to_string(pairs).unwrap()
    }

    fn error_of(answer: &Answer) -> String {
        answer.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn the_authorize_page_carries_the_request_escaped_with_both_buttons() {
        let sim = simulator(|_| {});
        let (_, challenge) = pkce();
        let mut params = authorize_params(&challenge, "n\"<script>");
        params.retain(|(k, _)| *k != "state");
        params.push(("state", "<b>x</b>&\"'"));
        let answer = get(&sim, &format!("/authorize?{}", query_of(&params)), None).await;
        assert_eq!(answer.status, StatusCode::OK);
        let html = answer.text();
        assert!(html.contains("TradeStation Simulator — sign in"));
        assert!(html.contains("id=\"authorize\"") && html.contains("id=\"deny\""));
        assert!(html.contains("<form method=\"post\" action=\"authorize\">"));
        assert!(html.contains("value=\"&lt;b&gt;x&lt;/b&gt;&amp;&quot;&#39;\""));
        assert!(html.contains("value=\"n&quot;&lt;script&gt;\""));
        assert!(!html.contains("<script>") && !html.contains("<b>x"));
    }

    #[tokio::test]
    async fn only_a_registered_redirect_uri_is_accepted_when_some_are_listed() {
        let sim = simulator(|c| c.redirect_uris = vec![REDIRECT.to_owned()]);
        let (_, challenge) = pkce();
        let mut params = authorize_params(&challenge, "n");
        let page = get(&sim, &format!("/authorize?{}", query_of(&params)), None).await;
        assert_eq!(page.status, StatusCode::OK, "the app's own callback");
        params.retain(|(k, _)| *k != "redirect_uri");
        params.push(("redirect_uri", "http://evil.example/cb"));
        let page = get(&sim, &format!("/authorize?{}", query_of(&params)), None).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "a foreign callback");
        assert!(page.text().contains("not registered"));
    }

    #[tokio::test]
    async fn bad_authorize_requests_get_an_error_page_and_no_redirect() {
        let sim = simulator(|_| {});
        let (_, challenge) = pkce();
        let cases: Vec<(&str, &str)> = vec![
            ("client_id", "someone-else"),
            ("redirect_uri", "javascript:alert(1)"),
            ("redirect_uri", "/relative"),
            ("response_type", "token"),
            ("scope", "MarketData"),
            ("audience", ""),
            ("state", ""),
            ("code_challenge_method", "plain"),
            ("code_challenge", "short"),
        ];
        for (name, value) in cases {
            let mut params = authorize_params(&challenge, "n");
            params.retain(|(k, _)| *k != name);
            params.push((name, value));
            let query = query_of(&params);
            let page = get(&sim, &format!("/authorize?{query}"), None).await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "{name}={value}");
            assert!(page.text().contains("Sign-in request refused"));
            let mut form = params.clone();
            form.push(("decision", "authorize"));
            let post = post_form(&sim, "/authorize", &form).await;
            assert_eq!(post.status, StatusCode::BAD_REQUEST, "{name}={value}");
            assert!(!post.headers.contains_key(header::LOCATION));
        }
    }

    #[tokio::test]
    async fn deny_redirects_back_with_access_denied_and_the_state() {
        let sim = simulator(|_| {});
        let (_, challenge) = pkce();
        let mut form = authorize_params(&challenge, "n");
        form.push(("decision", "deny"));
        let answer = post_form(&sim, "/authorize", &form).await;
        assert_eq!(answer.status, StatusCode::FOUND);
        let location = answer.location();
        assert!(location.as_str().starts_with(REDIRECT));
        let pairs: Vec<(String, String)> = location.query_pairs().into_owned().collect();
        assert!(pairs.contains(&("error".into(), "access_denied".into())));
        assert!(pairs.contains(&("state".into(), "state-123".into())));
        assert!(pairs.iter().any(|(k, _)| k == "error_description"));
        assert!(!pairs.iter().any(|(k, _)| k == "code"));
    }

    #[tokio::test]
    async fn the_code_flow_with_pkce_issues_tokens_and_an_id_token_the_jwks_verifies() {
        let sim = simulator(|_| {});
        let (verifier, challenge) = pkce();
        let code = authorize(&sim, &challenge, "nonce-42", "alice").await;
        let answer = exchange(&sim, &code, &verifier).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");
        let json = answer.json();
        assert_eq!(json["token_type"], "Bearer");
        assert_eq!(json["expires_in"], 1200);
        assert_eq!(json["scope"], SCOPE);
        let access = json["access_token"].as_str().unwrap();
        assert!(json["refresh_token"].is_string());

        let jwks = get(&sim, "/.well-known/jwks.json", None).await.json();
        let key = &jwks["keys"][0];
        assert_eq!(
            (
                key["kty"].as_str(),
                key["alg"].as_str(),
                key["use"].as_str()
            ),
            (Some("RSA"), Some("RS256"), Some("sig"))
        );
        let id_token = json["id_token"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(id_token).unwrap();
        assert_eq!(header.kid.as_deref(), key["kid"].as_str());
        let decoding = DecodingKey::from_rsa_components(
            key["n"].as_str().unwrap(),
            key["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[CLIENT_ID]);
        let claims = jsonwebtoken::decode::<Value>(id_token, &decoding, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["sub"], "auth0|sim-alice");
        assert_eq!(claims["nonce"], "nonce-42");
        assert_eq!(claims["name"], "alice");
        assert!(claims["updated_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(claims["at_hash"], at_hash(access));
        assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());

        let accounts = get(&sim, "/v3/brokerage/accounts", Some(access)).await;
        assert_eq!(accounts.status, StatusCode::OK);
        assert_eq!(sim.stats().code_grants, 1);
    }

    #[tokio::test]
    async fn a_wrong_verifier_is_refused_and_spends_the_code() {
        let sim = simulator(|_| {});
        let (verifier, challenge) = pkce();
        let code = authorize(&sim, &challenge, "n", "trader").await;
        let (other, _) = pkce();
        let answer = exchange(&sim, &code, &other).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert_eq!(error_of(&answer), "invalid_grant");
        let again = exchange(&sim, &code, &verifier).await;
        assert_eq!(error_of(&again), "invalid_grant");
        assert_eq!(sim.stats().code_grants, 0);
    }

    #[tokio::test]
    async fn a_code_works_once_and_only_with_its_redirect_uri() {
        let sim = simulator(|_| {});
        let (verifier, challenge) = pkce();
        let code = authorize(&sim, &challenge, "n", "trader").await;
        assert_eq!(
            exchange(&sim, &code, &verifier).await.status,
            StatusCode::OK
        );
        let reused = exchange(&sim, &code, &verifier).await;
        assert_eq!(
            (reused.status, error_of(&reused)),
            (StatusCode::FORBIDDEN, "invalid_grant".into())
        );

        let code = authorize(&sim, &challenge, "n", "trader").await;
        let answer = post_form(
            &sim,
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://localhost:8000/elsewhere"),
                ("code_verifier", &verifier),
                ("client_id", CLIENT_ID),
                ("client_secret", SECRET),
            ],
        )
        .await;
        assert_eq!(error_of(&answer), "invalid_grant");
        assert_eq!(
            exchange(&sim, "made-up", &verifier).await.status,
            StatusCode::FORBIDDEN
        );
    }

    #[tokio::test]
    async fn client_authentication_is_form_only_and_checked() {
        let sim = simulator(|_| {});
        let tokens = sign_in(&sim, "trader").await;
        let basic = Request::post("/oauth/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, "Basic c2ltLWNsaWVudDpzaW0tc2VjcmV0")
            .body(axum::body::Body::from(format!(
                "grant_type=refresh_token&refresh_token={}",
                tokens.refresh
            )))
            .unwrap();
        let answer = send(&sim, basic).await;
        assert_eq!(
            (answer.status, error_of(&answer)),
            (StatusCode::UNAUTHORIZED, "invalid_client".into())
        );

        let wrong = post_form(
            &sim,
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &tokens.refresh),
                ("client_id", CLIENT_ID),
                ("client_secret", "nope"),
            ],
        )
        .await;
        assert_eq!(
            (wrong.status, error_of(&wrong)),
            (StatusCode::UNAUTHORIZED, "invalid_client".into())
        );

        let grant = post_form(
            &sim,
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("client_id", CLIENT_ID),
                ("client_secret", SECRET),
            ],
        )
        .await;
        assert_eq!(
            (grant.status, error_of(&grant)),
            (StatusCode::BAD_REQUEST, "unsupported_grant_type".into())
        );

        let json = Request::post("/oauth/token")
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from("{}"))
            .unwrap();
        let answer = send(&sim, json).await;
        assert_eq!(
            (answer.status, error_of(&answer)),
            (StatusCode::BAD_REQUEST, "invalid_request".into())
        );
    }

    #[tokio::test]
    async fn without_rotation_a_refresh_keeps_the_old_refresh_token_valid() {
        let sim = simulator(|_| {});
        let tokens = sign_in(&sim, "trader").await;
        for _ in 0..2 {
            let answer = refresh(&sim, &tokens.refresh).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
            let json = answer.json();
            assert!(json.get("refresh_token").is_none());
            assert!(json.get("id_token").is_none());
            let access = json["access_token"].as_str().unwrap();
            assert_ne!(access, tokens.access);
            assert_eq!(
                get(&sim, "/v3/brokerage/accounts", Some(access))
                    .await
                    .status,
                StatusCode::OK
            );
        }
        assert_eq!(sim.stats().refresh_grants, 2);
    }

    #[tokio::test]
    async fn with_rotation_each_refresh_spends_the_presented_token() {
        let sim = simulator(|c| c.rotate_refresh_tokens = true);
        let tokens = sign_in(&sim, "trader").await;
        let first = refresh(&sim, &tokens.refresh).await.json();
        let second_token = first["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(second_token, tokens.refresh);

        let replay = refresh(&sim, &tokens.refresh).await;
        assert_eq!(replay.status, StatusCode::FORBIDDEN);
        assert_eq!(replay.json()["error"], "invalid_grant");
        assert_eq!(
            replay.json()["error_description"],
            "Unknown or invalid refresh token."
        );

        let next = refresh(&sim, &second_token).await;
        assert_eq!(next.status, StatusCode::OK);
        assert!(next.json()["refresh_token"].is_string());
        let stats = sim.stats();
        assert_eq!((stats.refresh_grants, stats.refresh_refused), (2, 1));
    }

    #[tokio::test]
    async fn revoke_ends_every_refresh_token_of_that_user_only() {
        let sim = simulator(|_| {});
        let first = sign_in(&sim, "trader").await;
        let second = sign_in(&sim, "trader").await;
        let other = sign_in(&sim, "someone").await;
        let body = serde_json::json!({"client_id": CLIENT_ID, "client_secret": SECRET, "token": first.refresh});
        let request = Request::post("/oauth/revoke")
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        assert_eq!(send(&sim, request).await.status, StatusCode::OK);
        for token in [&first.refresh, &second.refresh] {
            let answer = refresh(&sim, token).await;
            assert_eq!(
                (answer.status, error_of(&answer)),
                (StatusCode::FORBIDDEN, "invalid_grant".into())
            );
        }
        assert_eq!(refresh(&sim, &other.refresh).await.status, StatusCode::OK);
        // Access tokens stay valid until they expire, as at TradeStation.
        assert_eq!(
            get(&sim, "/v3/brokerage/accounts", Some(&first.access))
                .await
                .status,
            StatusCode::OK
        );
        // A later sign-in works again; the form style with `refresh_token` works too.
        let later = sign_in(&sim, "trader").await;
        assert_eq!(refresh(&sim, &later.refresh).await.status, StatusCode::OK);
        let form = post_form(
            &sim,
            "/oauth/revoke",
            &[
                ("client_id", CLIENT_ID),
                ("client_secret", SECRET),
                ("refresh_token", &later.refresh),
            ],
        )
        .await;
        assert_eq!(form.status, StatusCode::OK);
        assert_eq!(
            refresh(&sim, &later.refresh).await.status,
            StatusCode::FORBIDDEN
        );
        let stranger = post_form(
            &sim,
            "/oauth/revoke",
            &[
                ("client_id", CLIENT_ID),
                ("client_secret", "x"),
                ("token", &other.refresh),
            ],
        )
        .await;
        assert_eq!(stranger.status, StatusCode::UNAUTHORIZED);
        assert_eq!(sim.stats().revocations, 2);
    }

    #[tokio::test]
    async fn forged_and_foreign_refresh_tokens_are_invalid_grants() {
        let sim = simulator(|_| {});
        let tokens = sign_in(&sim, "trader").await;
        let foreign = simulator(|c| c.token_key = [8; 32]);
        assert_eq!(
            refresh(&foreign, &tokens.refresh).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            refresh(&sim, &tokens.access).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(refresh(&sim, "garbage").await.status, StatusCode::FORBIDDEN);
        // Same key, new process: the session survives a restart.
        let restarted = simulator(|_| {});
        assert_eq!(
            refresh(&restarted, &tokens.refresh).await.status,
            StatusCode::OK
        );
        assert_eq!(sim.stats().refresh_refused, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_token_delay_holds_answers_back() {
        let sim = simulator(|_| {});
        let tokens = sign_in(&sim, "trader").await;
        sim.set_token_delay(Duration::from_secs(3));
        let started = tokio::time::Instant::now();
        assert_eq!(refresh(&sim, &tokens.refresh).await.status, StatusCode::OK);
        assert!(started.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test]
    async fn discovery_names_absolute_endpoints_under_the_issuer() {
        let sim = simulator(|_| {});
        let doc = get(&sim, "/.well-known/openid-configuration", None)
            .await
            .json();
        assert_eq!(doc["issuer"], ISSUER);
        assert_eq!(doc["token_endpoint"], format!("{ISSUER}oauth/token"));
        assert_eq!(doc["authorization_endpoint"], format!("{ISSUER}authorize"));
        assert_eq!(doc["jwks_uri"], format!("{ISSUER}.well-known/jwks.json"));
        assert_eq!(doc["revocation_endpoint"], format!("{ISSUER}oauth/revoke"));
    }
}
