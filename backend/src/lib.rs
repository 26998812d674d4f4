//! The backend for frontend: keeps TradeStation's client secret, signs
//! browsers in, keeps each browser's tokens sealed in a store, refreshes them
//! one at a time, and forwards the SPA's data requests with them.
//!
//! # Layout
//! - [`config`]: the environment, typed; [`secret`]: redacting newtypes.
//! - [`oauth`]: authorize URL, code exchange, refresh, revoke, id_token.
//! - [`session`]: session ids, cookies, pending logins.
//! - [`store`]: the [`store::TokenStore`] trait, SQLite and PostgreSQL.
//! - [`tokens`]: the token manager (single flight per session).
//! - [`orders`]: order requests forwarded at most once per `OrderConfirmID`.
//! - [`routes`]: health, auth, passthrough, SPA; [`error`]: the JSON errors.
//! - [`simulation`]: simulation mode — the `simulator` crate, mounted here
//!   and nowhere else, behind the default `simulator` feature.
//! - [`keyfile`]: the encryption key, generated into the data folder in
//!   simulation mode.
//! - [`telemetry`]: logging; [`clock`]: time, replaceable in tests.
//! - [`listener`]: the HTTP/1 listener: head and idle timeouts, the
//!   connection cap, the drain on shutdown.
//!
//! [`start`] builds the app for a bound listener; [`run`] serves it with the
//! configured limits until a shutdown future completes, then drains;
//! [`serve`] is the same with default limits. `main.rs` only reads the
//! configuration and calls `start` and `run`.

pub mod clock;
pub mod config;
pub mod error;
pub mod keyfile;
pub mod listener;
pub mod oauth;
pub mod orders;
pub mod routes;
pub mod secret;
pub mod session;
pub mod simulation;
pub mod store;
pub mod sweep;
pub mod telemetry;
pub mod tokens;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Mode};
use crate::oauth::{OauthClient, ProviderSettings};
use crate::routes::{AppState, RouteSettings};
use crate::session::cookie::CookiePolicy;
use crate::store::TokenStore;
use crate::store::seal::Sealer;
use crate::tokens::TokenManager;
use axum::Router;
use axum::http::HeaderName;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use url::Url;

/// What the app needs besides its configuration; tests replace the clock.
#[derive(Debug, Clone)]
pub struct Overrides {
    pub clock: Arc<dyn Clock>,
}

impl Default for Overrides {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
        }
    }
}

/// A built app, ready to serve.
#[derive(Debug)]
pub struct Started {
    pub router: Router,
    /// The address a browser should open.
    pub origin: Url,
    /// The simulator, in simulation mode.
    pub simulator: Option<simulation::Simulator>,
    pub state: AppState,
    /// The sweeps; [`sweep::BackgroundTasks::shutdown`] stops them.
    pub background: sweep::BackgroundTasks,
    /// SQLite: this process's claim on the database file, held as long as
    /// this value lives.
    pub store_lock: Option<store::sqlite::ProcessLock>,
}

/// Why the app could not start. One line each.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("TOKEN_ENCRYPTION_KEY: {0}")]
    Key(#[from] keyfile::KeyFileError),
    #[error("{0}")]
    NoSimulator(#[from] simulation::NotBuiltIn),
    #[error("DATABASE_URL: the store could not be opened: {0}")]
    Store(#[from] store::StoreError),
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// The origin browsers reach a listener at (a wildcard bind is reached on
/// loopback).
fn origin_of(addr: SocketAddr) -> Url {
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let url = format!("http://{host}:{}", addr.port());
    Url::parse(&url).unwrap_or_else(|_| Url::parse("http://127.0.0.1").expect("static URL"))
}

/// Builds the app for `listener`'s address.
///
/// # Errors
/// The key cannot be read or written, or the store cannot be opened.
pub async fn start(
    config: &Config,
    listener_addr: SocketAddr,
    overrides: Overrides,
) -> Result<Started, StartError> {
    let origin = origin_of(listener_addr);
    routes::metrics::handle();
    let key = keyfile::load(&config.encryption_key)?;
    let sealer = Arc::new(Sealer::new(&key, &config.old_keys));
    let lock_wait = config.http_timeout + Duration::from_secs(5);
    let opened = store::open(&config.database_url, sealer.clone(), lock_wait).await?;
    let store: Arc<dyn TokenStore> = opened.store;
    let ledger = orders::ledger::Ledger::connect(config.database_url.expose_url(), sealer).await?;

    let (credentials, simulator) = match &config.mode {
        Mode::TradeStation(ts) => (ts.as_ref().clone(), None),
        Mode::Simulator(settings) => {
            let (credentials, simulator) = simulation::start(config, settings, &origin, &key)?;
            (credentials, Some(simulator))
        }
    };
    let provider = ProviderSettings {
        client_id: credentials.client_id,
        client_secret: credentials.client_secret,
        endpoints: credentials.endpoints,
        redirect_uri: credentials.redirect_uri,
        audience: config.audience.clone(),
        scope: config.scope.clone(),
        timeout: config.http_timeout,
    };

    let http = reqwest::Client::builder()
        .connect_timeout(config.http_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tradestation-app/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StartError::Http(e.to_string()))?;
    let secure = provider.redirect_uri.scheme() == "https";
    let base_url = provider.endpoints.base_url.clone();
    let oauth = Arc::new(OauthClient::new(provider, http.clone()));
    let tokens = TokenManager::new(
        store.clone(),
        oauth.clone(),
        overrides.clock.clone(),
        config.refresh_skew,
    );
    let session_max_age = config
        .session_idle
        .unwrap_or(Duration::from_secs(30 * 86_400));
    let orders = orders::OrderDesk::new(
        Some(ledger),
        overrides.clock.clone(),
        config.http_timeout,
        config.environment(),
        config.trading_enabled(),
    );
    let state = AppState {
        orders,
        store,
        tokens,
        oauth,
        http,
        cookies: CookiePolicy::new(secure, session_max_age),
        clock: overrides.clock,
        shutdown: CancellationToken::new(),
        sign_in_limiter: Arc::new(routes::rate_limit::SignInLimiter::new(
            config.rate_limit_per_minute,
            config.trusted_proxies.clone(),
        )),
        login_bindings: Arc::new(session::binding::LoginBindings::new(&key)),
        settings: Arc::new(RouteSettings {
            base_url,
            http_timeout: config.http_timeout,
            stream_idle_timeout: config.stream_idle_timeout,
            revoke_on_logout: config.revoke_on_logout,
            allowed_origins: config.allowed_origins.clone(),
            static_dir: config.static_dir.clone(),
        }),
    };

    let router = simulation::mount(routes::router(state.clone()), simulator.as_ref());
    let request_id = HeaderName::from_static("x-request-id");
    let router = router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(telemetry::request_span)
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::map_request(
            telemetry::drop_bad_request_id::<axum::body::Body>,
        ));

    let background = sweep::spawn_all(&state, config.session_idle);
    Ok(Started {
        router,
        origin,
        simulator,
        state,
        background,
        store_lock: opened.lock,
    })
}

/// Serves `router` on `listener` with default [`listener::Limits`] until
/// `shutdown` completes, then drains.
///
/// # Errors
/// The listener fails.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = CancellationToken::new();
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    listener::serve(listener, router, listener::Limits::default(), stop).await
}

/// Serves a started app with the configured limits until `shutdown`
/// completes; then stops accepting, ends the passthrough streams, and waits
/// for open requests and in-flight refreshes — all within
/// `TS_HTTP_TIMEOUT + 2` seconds, inside the promised `+ 5`.
///
/// # Errors
/// The listener fails.
pub async fn run(
    listener: TcpListener,
    started: Started,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = started.state.shutdown.clone();
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    let limits = listener::Limits {
        max_connections: config.max_connections,
        drain_timeout: config.http_timeout + Duration::from_secs(2),
        ..listener::Limits::default()
    };
    let tokens = started.state.tokens.clone();
    let refreshes = async {
        stop.cancelled().await;
        tokens.finish_in_flight(config.http_timeout).await;
    };
    let Started {
        router,
        background,
        store_lock,
        ..
    } = started;
    let (served, ()) = tokio::join!(
        listener::serve(listener, router, limits, stop.clone()),
        refreshes
    );
    background.shutdown().await;
    // The store's claim on its file ends last, after every write.
    drop(store_lock);
    served
}
