//! The HTTP routes and the state they share.
//!
//! Each module owns its routes; [`router`] merges them, applies CORS to the
//! API, turns axum's bare 404/405 into the contract's JSON, and sends every
//! other unknown path to the SPA. The simulator is mounted by `lib.rs`, not
//! here.

pub mod auth;
pub mod health;
pub mod metrics;
pub mod orders;
pub mod proxy;
pub mod rate_limit;
pub mod spa;

use crate::clock::Clock;
use crate::error::{self, ApiError};
use crate::oauth::OauthClient;
use crate::orders::OrderDesk;
use crate::session::cookie::{self, CookiePolicy};
use crate::session::{SessionId, SessionKey};
use crate::store::TokenStore;
use crate::tokens::TokenManager;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use url::Url;

/// Settings the routes read, fixed at start-up.
#[derive(Debug, Clone)]
pub struct RouteSettings {
    /// `{base_url}/v3/...` is where the passthrough goes.
    pub base_url: Url,
    pub http_timeout: Duration,
    pub stream_idle_timeout: Duration,
    pub revoke_on_logout: bool,
    pub allowed_origins: Vec<String>,
    pub static_dir: PathBuf,
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<dyn TokenStore>,
    pub tokens: TokenManager,
    pub oauth: Arc<OauthClient>,
    /// The shared client for the passthrough: connect timeout only, so a
    /// stream is never cut by a total-request timeout.
    pub http: reqwest::Client,
    pub cookies: CookiePolicy,
    pub clock: Arc<dyn Clock>,
    /// Cancelled when the process shuts down: open passthrough streams end
    /// so the drain is not held up by them.
    pub shutdown: CancellationToken,
    pub sign_in_limiter: Arc<rate_limit::SignInLimiter>,
    /// Issues and recognises the pending-login binding cookie.
    pub login_bindings: Arc<crate::session::binding::LoginBindings>,
    pub settings: Arc<RouteSettings>,
    /// The trading switch and the exactly-once order machinery.
    pub orders: OrderDesk,
}

impl AppState {
    /// The session the request's cookie names, if it has the shape of one.
    pub fn session_id(&self, headers: &HeaderMap) -> Option<SessionId> {
        cookie::read(headers, self.cookies.session_name()).and_then(SessionId::parse)
    }

    pub fn session_key(&self, headers: &HeaderMap) -> Option<SessionKey> {
        self.session_id(headers).map(|id| id.key())
    }
}

/// The whole app but the simulator.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(auth::router(state.clone()))
        .merge(proxy::router())
        .merge(orders::router())
        .layer(cors(&state.settings.allowed_origins))
        .layer(middleware::map_response(no_store));
    Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(api)
        .fallback(spa::fallback)
        .layer(middleware::from_fn(error::json_fallbacks))
        .with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::CONTENT_TYPE, HeaderName::from_static("x-csrf")])
        .expose_headers([HeaderName::from_static("idempotent-replayed")])
        .max_age(Duration::from_secs(600))
}

/// API answers are per session: never cached.
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// `X-CSRF: 1` on state-changing requests, checked after the method (the
/// router answers 405 first) and before anything else.
pub async fn require_csrf(request: Request, next: middleware::Next) -> Response {
    let ok = request
        .headers()
        .get("x-csrf")
        .is_some_and(|v| v.as_bytes() == b"1");
    if ok {
        next.run(request).await
    } else {
        ApiError::CsrfRequired.into_response()
    }
}
