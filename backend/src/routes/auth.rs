//! Sign-in, callback, status and logout (`/api/ts/...`).
//!
//! The login binds its `state`, PKCE verifier and nonce to this browser (the
//! `ts_login` cookie) in the store; the callback takes that pending login out
//! of the store before anything else, so a `state` works once, from the
//! browser that started it, within ten minutes — and a bad one never reaches
//! the token endpoint. A completed sign-in gets a fresh session id.

use super::{AppState, require_csrf};
use crate::error::ApiError;
use crate::oauth::ExchangeError;
use crate::oauth::id_token::IdTokenError;
use crate::secret::AuthorizationCode;
use crate::session::cookie::LOGIN_TTL;
use crate::session::pending::{PendingLogin, safe_return_to};
use crate::session::{SessionId, hash_hex};
use crate::store::{SessionRecord, TokenSet};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::api::{OkResponse, StatusResponse};
use subtle::ConstantTimeEq;

pub fn router(state: AppState) -> Router<AppState> {
    let limited = middleware::from_fn_with_state(state, super::rate_limit::limit_sign_in);
    Router::new()
        .route("/api/ts/login", get(login).route_layer(limited.clone()))
        .route("/api/ts/callback", get(callback).route_layer(limited))
        .route("/api/ts/status", get(status))
        .route(
            "/api/ts/logout",
            post(logout).route_layer(middleware::from_fn(require_csrf)),
        )
}

/// The first value of `name` in a raw query; lenient about everything else.
fn query_param(raw: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(raw?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn auth_error(code: &str) -> Response {
    see_other(&format!("/?auth_error={code}"))
}

/// `GET /api/ts/login?return_to=/path`: 303 to the provider's authorize URL.
async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let return_to = safe_return_to(query_param(query.as_deref(), "return_to").as_deref());
    let (url, secrets) = state.oauth.authorize_url();

    // Reuse this browser's binding while it lasts, so logins started in two
    // tabs both complete — but only a value this backend issued (its MAC
    // checks out); anything else a client sends is replaced by a fresh one.
    let binding = crate::session::cookie::read(&headers, state.cookies.login_name())
        .filter(|value| state.login_bindings.issued(value))
        .map_or_else(|| state.login_bindings.issue(), str::to_owned);

    let expires_at = state.clock.now() + i64::try_from(LOGIN_TTL.as_secs()).unwrap_or(i64::MAX / 2);
    let pending = PendingLogin {
        state_key: hash_hex(secrets.state.expose_secret()),
        browser_key: hash_hex(&binding),
        verifier: secrets.verifier,
        nonce: secrets.nonce,
        return_to,
        expires_at,
    };
    state.store.put_pending(&pending).await?;

    let mut response = see_other(url.as_str());
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.cookies.set_login(&binding));
    Ok(response)
}

/// `GET /api/ts/callback?code=…&state=…` (or `?error=…&state=…`).
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.as_deref();
    let pending = take_pending(&state, &headers, query_param(query, "state")).await?;

    if let Some(error) = query_param(query, "error") {
        let valid = !error.is_empty()
            && error.len() <= 64
            && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        let code = if valid {
            error.as_str()
        } else {
            "provider_error"
        };
        tracing::info!(provider_error = code, "the provider declined the sign-in");
        return Ok(auth_error(code));
    }
    let Some(code) = query_param(query, "code").filter(|c| !c.is_empty()) else {
        tracing::info!("callback without code or error");
        return Ok(auth_error("exchange_failed"));
    };

    let grant = match state
        .oauth
        .exchange(AuthorizationCode::new(code), &pending.verifier)
        .await
    {
        Ok(grant) => grant,
        Err(ExchangeError::Refused(reason)) => {
            tracing::warn!(%reason, "code exchange refused");
            return Ok(auth_error("exchange_failed"));
        }
        Err(error) => {
            tracing::warn!(%error, "code exchange failed");
            return Ok(auth_error("upstream_error"));
        }
    };

    let user_id = match &grant.id_token {
        None => None,
        Some(jwt) => match state.oauth.id_tokens.verify(jwt, &pending.nonce).await {
            Ok(claims) => claims.subject,
            Err(IdTokenError::Invalid(reason)) => {
                tracing::warn!(%reason, "id_token rejected; nothing stored");
                return Ok(auth_error("invalid_id_token"));
            }
            Err(error @ IdTokenError::Jwks(_)) => {
                tracing::warn!(%error, "id_token could not be checked; nothing stored");
                return Ok(auth_error("upstream_error"));
            }
        },
    };

    let now = state.clock.now();
    let lifetime = i64::try_from(grant.expires_in.as_secs()).unwrap_or(i64::MAX / 2);
    let record = SessionRecord {
        tokens: TokenSet {
            access: grant.access,
            refresh: grant.refresh,
            expires_at: now.saturating_add(lifetime),
            obtained_at: now,
        },
        user_id,
        generation: 1,
        created_at: now,
        last_seen_at: now,
    };
    // A fresh id: whatever id this browser had before signing in is
    // discarded with its tokens (no session fixation).
    if let Some(old) = state.session_key(&headers) {
        state.tokens.forget(&old).await?;
    }
    let id = SessionId::generate();
    let key = id.key();
    state.tokens.create(&key, &record).await?;
    tracing::info!(
        session = key.short(),
        expires_at = record.tokens.expires_at,
        has_refresh_token = record.tokens.refresh.is_some(),
        "token exchange ok; signed in"
    );

    // The login cookie stays: another tab's login may still need it, and it
    // lapses by itself.
    let mut response = see_other(&pending.return_to);
    response.headers_mut().append(
        header::SET_COOKIE,
        state.cookies.set_session(id.expose_secret()),
    );
    Ok(response)
}

/// Takes the pending login for `state` out of the store (single use) and
/// checks that this browser started it and that it has not expired.
async fn take_pending(
    state: &AppState,
    headers: &HeaderMap,
    oauth_state: Option<String>,
) -> Result<PendingLogin, ApiError> {
    let oauth_state = oauth_state.filter(|s| !s.is_empty() && s.len() <= 512);
    let Some(oauth_state) = oauth_state else {
        tracing::info!("callback without state");
        return Err(ApiError::InvalidState);
    };
    let binding = crate::session::cookie::read(headers, state.cookies.login_name())
        .map(hash_hex)
        .unwrap_or_default();
    let Some(pending) = state
        .store
        .take_pending(&hash_hex(&oauth_state), &binding)
        .await?
    else {
        tracing::info!("callback with an unknown or used state, or another browser's");
        return Err(ApiError::InvalidState);
    };
    let same_browser: bool = binding
        .as_bytes()
        .ct_eq(pending.browser_key.as_bytes())
        .into();
    if !same_browser {
        tracing::warn!("callback state belongs to another browser");
        return Err(ApiError::InvalidState);
    }
    if pending.expires_at < state.clock.now() {
        tracing::info!("callback for an expired login");
        return Err(ApiError::InvalidState);
    }
    Ok(pending)
}

/// `GET /api/ts/status`. Never refreshes.
async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<StatusResponse>, ApiError> {
    let Some(key) = state.session_key(&headers) else {
        return Ok(Json(with_trading(&state, StatusResponse::signed_out())));
    };
    let status = match state.tokens.session(&key).await? {
        None => StatusResponse::signed_out(),
        Some(record) => StatusResponse {
            authenticated: true,
            user_id: record.user_id,
            expires_at: Some(record.tokens.expires_at),
            has_refresh_token: record.tokens.refresh.is_some(),
            ..StatusResponse::signed_out()
        },
    };
    Ok(Json(with_trading(&state, status)))
}

/// Where orders go and whether they may.
fn with_trading(state: &AppState, status: StatusResponse) -> StatusResponse {
    StatusResponse {
        environment: state.orders.environment(),
        trading: state.orders.trading(),
        ..status
    }
}

/// `POST /api/ts/logout` (with `X-CSRF: 1`): revoke, forget, expire the
/// cookie. Idempotent.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(key) = state.session_key(&headers) {
        let removed = state.tokens.forget(&key).await?;
        let refresh = removed.and_then(|r| r.tokens.refresh);
        match refresh {
            Some(token) if state.settings.revoke_on_logout => {
                match state.oauth.revoke(&token).await {
                    Ok(()) => {
                        tracing::info!(session = key.short(), "signed out; refresh token revoked")
                    }
                    Err(reason) => tracing::warn!(
                        session = key.short(),
                        %reason,
                        "signed out; revoking the refresh token failed"
                    ),
                }
            }
            _ => tracing::info!(session = key.short(), "signed out; tokens forgotten"),
        }
    }
    let mut response = Json(OkResponse { ok: true }).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.cookies.clear_session());
    Ok(response)
}
