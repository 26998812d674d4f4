//! A built-in imitation of TradeStation, so the app works offline and the
//! tests have a provider to talk to.
//!
//! Its own crate, depending on `shared` and never on the backend; the
//! backend mounts it (`router.nest(layout::MOUNT, sim.router())`) behind its
//! default `simulator` feature, so a production build leaves it out. It
//! imitates TradeStation where the app's correctness depends on it:
//!
//! - an Auth0-like sign-in: an HTML authorize page (Authorize / Deny), the
//!   token endpoint (code with PKCE, refresh with switchable rotation),
//!   revocation that ends **every** refresh token of the user, an RS256
//!   `id_token` and its JWKS;
//! - the v3 data endpoints with TradeStation's shapes (built from
//!   [`shared::ts`]), `{"Error","Message"}` bodies, partial `Errors` arrays,
//!   rate-limit headers, and chunked streams with heartbeats and objects
//!   split across chunks;
//! - trading like TradeStation's SIM: order confirm and placement, fills at
//!   the touch, resting limit and stop orders, DAY expiry, cancel/replace
//!   with TradeStation's messages, buying power, the refused long→short
//!   flip, duplicate `OrderConfirmID`s, OCO and bracket groups, options;
//!   the order and position streams; the v2 symbol look-up.
//!
//! Tests pin trading prices ([`Simulator::set_price`]) and stop or move the
//! trading clock ([`Simulator::set_clock`], [`Simulator::advance_clock`]),
//! so fills are deterministic without sleeping. Each user's book (cash,
//! holdings, orders) lives in memory and is seeded on first use.
//!
//! Tokens are self-validating (MAC'd with [`SimConfig::token_key`]), so a
//! session survives a restart of the app given the same key. In memory only:
//! issued authorization codes, per-user revocation instants, the latest
//! generation of each rotated refresh-token family, the instant of
//! [`Simulator::expire_access_tokens`] and rate-limit windows. A restart
//! therefore forgets revocations and spent rotated tokens.
//!
//! # Layout
//! - [`layout`]: the URL layout, exported once ([`SimUrls`]).
//! - [`auth`](self::auth): authorize page, token and revoke endpoints.
//! - [`keys`](self::keys): the RSA key, JWKS, discovery, `id_token`.
//! - [`tokens`](self::tokens): MAC'd access and refresh tokens.
//! - [`data`](self::data): bearer check, rate limits, REST market data.
//! - [`brokerage`](self::brokerage): accounts, balances, positions, orders.
//! - [`orders`](self::orders): the matching engine (one book per user).
//! - [`execution`](self::execution): the `/v3/orderexecution` routes.
//! - [`lookup`](self::lookup): the v2 symbol suggest and search.
//! - [`market`](self::market): deterministic prices, quotes, bars, symbols.
//! - [`options`](self::options): expirations, strikes, Black-Scholes chains.
//! - [`stream`](self::stream): the newline-delimited streaming bodies.
//! - [`account_stream`](self::account_stream): the order and position streams.
//! - [`calendar`](self::calendar): civil dates and RFC 3339 without a crate.
//! - [`num`](self::num): hashing, noise, rounding, decimal formatting (a leaf).

mod account_stream;
mod auth;
mod brokerage;
mod calendar;
mod data;
mod execution;
mod keys;
pub mod layout;
mod lookup;
mod market;
mod num;
mod options;
mod orders;
mod stream;
mod tokens;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use shared::ts::error::ErrorResponse;

use self::keys::SigningKey;
pub use self::layout::SimUrls;
use self::market::Market;
use self::orders::{Book, Touch};
use self::tokens::TokenCodec;

/// How the simulator behaves. Build it with [`SimConfig::new`] and override
/// fields with struct-update syntax.
#[derive(Clone)]
pub struct SimConfig {
    /// `iss` of the id_tokens, with trailing slash, e.g.
    /// `"http://127.0.0.1:8000/sim/"`. Every absolute URL the simulator
    /// announces (discovery) is built from it.
    pub issuer: String,
    /// The one API key the simulator accepts.
    pub client_id: String,
    /// Its secret; compared in constant time.
    pub client_secret: String,
    /// Lifetime of access tokens (TradeStation: 20 minutes).
    pub access_token_ttl: Duration,
    /// Off (TradeStation's default): refresh answers carry no refresh token
    /// and the old one stays valid. On: every refresh returns a new refresh
    /// token and the presented one is spent.
    pub rotate_refresh_tokens: bool,
    /// Key of the HMAC-SHA256 that makes tokens self-validating, so sessions
    /// survive a restart of the app given the same key.
    pub token_key: [u8; 32],
    /// Market data determinism: the same seed gives the same prices at the
    /// same instant.
    pub seed: u64,
    /// How often a stream looks for changes (default 750 ms).
    pub tick_interval: Duration,
    /// Silence after which a stream sends a heartbeat (TradeStation: 5 s).
    pub heartbeat_interval: Duration,
    /// Data requests allowed per user in each 5-minute window before `429`;
    /// `0` disables the limit. Default 5000: generous, as the point is the
    /// headers, not the refusal.
    pub rate_limit: u32,
    /// The redirect URIs `/authorize` accepts, compared exactly (an app's
    /// registered callbacks). Empty accepts any absolute http(s) URL.
    pub redirect_uris: Vec<String>,
    /// On (TradeStation's SIM): market orders fill and cancels complete
    /// inside the request that sends them. Off: they are acknowledged
    /// (`ACK`, `UCN`) and complete at the next price step, as on a live
    /// venue. Resting orders are checked on every price step either way.
    pub instant_fills: bool,
}

impl SimConfig {
    /// TradeStation's defaults: 20-minute access tokens, no rotation, a 750 ms
    /// stream tick, a 5 s heartbeat, seed 0.
    pub fn new(
        issuer: String,
        client_id: String,
        client_secret: String,
        token_key: [u8; 32],
    ) -> Self {
        Self {
            issuer,
            client_id,
            client_secret,
            access_token_ttl: Duration::from_secs(20 * 60),
            rotate_refresh_tokens: false,
            token_key,
            seed: 0,
            tick_interval: Duration::from_millis(750),
            heartbeat_interval: Duration::from_secs(5),
            rate_limit: 5000,
            redirect_uris: Vec::new(),
            instant_fills: true,
        }
    }

    /// Fixed test credentials (`sim-client` / `sim-secret`) and a fixed key.
    pub fn for_tests(issuer: String) -> Self {
        Self::new(issuer, "sim-client".into(), "sim-secret".into(), [7; 32])
    }

    /// The issuer with exactly one trailing slash, for joining paths.
    fn base(&self) -> String {
        format!("{}/", self.issuer.trim_end_matches('/'))
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("access_token_ttl", &self.access_token_ttl)
            .field("rotate_refresh_tokens", &self.rotate_refresh_tokens)
            .field("token_key", &"[redacted]")
            .field("seed", &self.seed)
            .field("tick_interval", &self.tick_interval)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("rate_limit", &self.rate_limit)
            .field("instant_fills", &self.instant_fills)
            .field("redirect_uris", &self.redirect_uris)
            .finish()
    }
}

/// A snapshot of the simulator's counters, for tests and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Every call of the token endpoint, whatever its outcome.
    pub token_requests: u64,
    /// Successful `authorization_code` grants.
    pub code_grants: u64,
    /// Successful `refresh_token` grants.
    pub refresh_grants: u64,
    /// `refresh_token` grants answered `invalid_grant`.
    pub refresh_refused: u64,
    /// Revocations of a valid refresh token (each ends all of the user's).
    pub revocations: u64,
    /// Every call of a `/v3/…` data endpoint, stream opens included.
    pub api_requests: u64,
    /// Data calls refused with 401.
    pub api_unauthorized: u64,
    /// Streams whose body is still held by a client (a gauge): back to zero
    /// once every client has hung up.
    pub open_streams: u64,
    /// Calls of `POST /v3/orderexecution/orders` and `…/ordergroups` that
    /// passed the bearer check, whatever their outcome: what reached the
    /// broker.
    pub order_requests: u64,
    /// Orders accepted into a book (a group counts each order).
    pub orders_placed: u64,
    /// Orders refused inside a 200 (`Errors[]`).
    pub orders_rejected: u64,
    /// Fills.
    pub orders_filled: u64,
    /// Calls of `orderconfirm` and `ordergroupconfirm`.
    pub order_confirms: u64,
    /// Accepted cancels and replaces.
    pub order_cancels: u64,
    pub order_replaces: u64,
}

impl SimStats {
    /// What happened between `before` and `self`: every counter as a
    /// difference; the `open_streams` gauge as it is now.
    pub fn since(&self, before: &SimStats) -> SimStats {
        let d = |now: u64, then: u64| now.saturating_sub(then);
        SimStats {
            token_requests: d(self.token_requests, before.token_requests),
            code_grants: d(self.code_grants, before.code_grants),
            refresh_grants: d(self.refresh_grants, before.refresh_grants),
            refresh_refused: d(self.refresh_refused, before.refresh_refused),
            revocations: d(self.revocations, before.revocations),
            api_requests: d(self.api_requests, before.api_requests),
            api_unauthorized: d(self.api_unauthorized, before.api_unauthorized),
            open_streams: self.open_streams,
            order_requests: d(self.order_requests, before.order_requests),
            orders_placed: d(self.orders_placed, before.orders_placed),
            orders_rejected: d(self.orders_rejected, before.orders_rejected),
            orders_filled: d(self.orders_filled, before.orders_filled),
            order_confirms: d(self.order_confirms, before.order_confirms),
            order_cancels: d(self.order_cancels, before.order_cancels),
            order_replaces: d(self.order_replaces, before.order_replaces),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    token_requests: AtomicU64,
    code_grants: AtomicU64,
    refresh_grants: AtomicU64,
    refresh_refused: AtomicU64,
    revocations: AtomicU64,
    api_requests: AtomicU64,
    api_unauthorized: AtomicU64,
    open_streams: AtomicU64,
    order_requests: AtomicU64,
    orders_placed: AtomicU64,
    orders_rejected: AtomicU64,
    orders_filled: AtomicU64,
    order_confirms: AtomicU64,
    order_cancels: AtomicU64,
    order_replaces: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// An authorization code waiting for its exchange (single use, 60 s).
#[derive(Debug, Clone)]
struct PendingCode {
    client_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    nonce: Option<String>,
    user: String,
    scope: String,
    expires_ms: i64,
}

/// A fixed rate-limit window of one user.
#[derive(Debug, Clone, Copy)]
struct Quota {
    window_start_ms: i64,
    used: u32,
}

/// The little the simulator must remember. Guarded by a `std` mutex that is
/// never held across an `.await`.
#[derive(Debug, Default)]
struct State {
    codes: HashMap<String, PendingCode>,
    /// Refresh tokens of a user issued at or before this stamp are revoked.
    revoked_before: HashMap<String, u64>,
    /// Latest generation of each rotated refresh-token family.
    families: HashMap<[u8; 16], u32>,
    quotas: HashMap<String, Quota>,
}

struct Inner {
    config: SimConfig,
    key: SigningKey,
    codec: TokenCodec,
    market: Market,
    state: Mutex<State>,
    counters: Counters,
    token_delay_ms: AtomicU64,
    /// Access tokens issued at or before this stamp answer 401.
    access_floor: AtomicU64,
    /// Last issue stamp handed out; stamps strictly increase.
    last_stamp: AtomicU64,
    /// Each user's brokerage book, created on first use. Locked before
    /// `forced` when both are needed, never across an `.await`.
    books: Mutex<HashMap<String, Book>>,
    /// Prices tests pin with [`Simulator::set_price`].
    forced: Mutex<HashMap<String, f64>>,
    /// The trading clock in Unix ms; [`WALL_CLOCK`] follows the wall clock.
    clock_ms: AtomicI64,
}

/// [`Inner::clock_ms`] when no manual clock is set.
const WALL_CLOCK: i64 = i64::MIN;

/// The simulator: cheap to clone, all clones share one state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("config", &self.inner.config)
            .field("kid", &self.inner.key.kid())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Builds a simulator with a fresh RSA-2048 signing key (and so a fresh
    /// `kid`) for its id_tokens. Key generation takes a moment.
    ///
    /// # Panics
    /// If the operating system's random number generator fails.
    pub fn new(config: SimConfig) -> Self {
        let codec = TokenCodec::new(&config.token_key);
        let market = Market::new(config.seed);
        Self {
            inner: Arc::new(Inner {
                key: SigningKey::generate(),
                codec,
                market,
                config,
                state: Mutex::new(State::default()),
                counters: Counters::default(),
                token_delay_ms: AtomicU64::new(0),
                access_floor: AtomicU64::new(0),
                last_stamp: AtomicU64::new(0),
                books: Mutex::new(HashMap::new()),
                forced: Mutex::new(HashMap::new()),
                clock_ms: AtomicI64::new(WALL_CLOCK),
            }),
        }
    }

    /// The routes, relative to the mount point (`/sim`).
    pub fn router(&self) -> Router {
        let v3 = Router::new()
            .route("/v3/brokerage/accounts", get(brokerage::accounts))
            .route(
                "/v3/brokerage/accounts/{ids}/balances",
                get(brokerage::balances),
            )
            .route(
                "/v3/brokerage/accounts/{ids}/positions",
                get(brokerage::positions),
            )
            .route(
                "/v3/brokerage/accounts/{ids}/orders",
                get(brokerage::orders),
            )
            .route(
                "/v3/brokerage/accounts/{ids}/historicalorders",
                get(brokerage::historical_orders),
            )
            .route(
                "/v3/brokerage/stream/accounts/{ids}/orders",
                get(account_stream::orders),
            )
            .route(
                "/v3/brokerage/stream/accounts/{ids}/positions",
                get(account_stream::positions),
            )
            .route("/v2/data/symbols/suggest/{text}", get(lookup::suggest))
            .route("/v2/data/symbols/search/{criteria}", get(lookup::search))
            .merge(execution::router())
            .route("/v3/marketdata/quotes/{symbols}", get(data::quotes))
            .route("/v3/marketdata/barcharts/{symbol}", get(data::bars))
            .route("/v3/marketdata/symbols/{symbols}", get(data::symbols))
            .route(
                "/v3/marketdata/options/expirations/{underlying}",
                get(data::expirations),
            )
            .route(
                "/v3/marketdata/options/strikes/{underlying}",
                get(data::strikes),
            )
            .route(
                "/v3/marketdata/stream/quotes/{symbols}",
                get(stream::quotes),
            )
            .route(
                "/v3/marketdata/stream/options/chains/{underlying}",
                get(stream::option_chain),
            )
            .route_layer(middleware::from_fn_with_state(
                self.clone(),
                data::authenticate,
            ));
        Router::new()
            .route(
                "/authorize",
                get(auth::authorize_page).post(auth::authorize_decision),
            )
            .route("/oauth/token", post(auth::token))
            .route("/oauth/revoke", post(auth::revoke))
            .route("/.well-known/jwks.json", get(keys::jwks))
            .route(
                "/.well-known/openid-configuration",
                get(keys::openid_configuration),
            )
            .merge(v3)
            .fallback(not_found)
            .with_state(self.clone())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        let c = &self.inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SimStats {
            token_requests: load(&c.token_requests),
            code_grants: load(&c.code_grants),
            refresh_grants: load(&c.refresh_grants),
            refresh_refused: load(&c.refresh_refused),
            revocations: load(&c.revocations),
            api_requests: load(&c.api_requests),
            api_unauthorized: load(&c.api_unauthorized),
            open_streams: load(&c.open_streams),
            order_requests: load(&c.order_requests),
            orders_placed: load(&c.orders_placed),
            orders_rejected: load(&c.orders_rejected),
            orders_filled: load(&c.orders_filled),
            order_confirms: load(&c.order_confirms),
            order_cancels: load(&c.order_cancels),
            order_replaces: load(&c.order_replaces),
        }
    }

    /// From now on every access token issued before this call answers 401,
    /// as if it had expired (tests of the refresh-after-401 path).
    pub fn expire_access_tokens(&self) {
        let stamp = self.stamp();
        self.inner.access_floor.fetch_max(stamp, Ordering::SeqCst);
    }

    /// Makes the token endpoint wait this long before answering, so tests can
    /// hold refreshes in flight. Default zero.
    pub fn set_token_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.inner.token_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Pins the trading price of `symbol` (any case): orders fill, rest and
    /// trigger against it, positions and balances are valued at it, with
    /// the usual bid/ask spread around it. Resting orders are checked at
    /// once. Market-data quotes and streams keep the modelled path.
    pub fn set_price(&self, symbol: &str, price: f64) {
        lock(&self.inner.forced).insert(symbol.trim().to_ascii_uppercase(), price);
        self.advance_books();
    }

    /// Lets `symbol` follow the modelled price path again.
    pub fn clear_price(&self, symbol: &str) {
        lock(&self.inner.forced).remove(&symbol.trim().to_ascii_uppercase());
    }

    /// Stops the trading clock at `unix_ms` (orders, fills, expiry and
    /// valuations read it); resting orders are checked up to it at once.
    pub fn set_clock(&self, unix_ms: i64) {
        self.inner
            .clock_ms
            .store(unix_ms.max(WALL_CLOCK + 1), Ordering::SeqCst);
        self.advance_books();
    }

    /// Moves a stopped clock forward (from the wall clock's reading when
    /// none is set), checking resting orders at every price step on the way.
    pub fn advance_clock(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.set_clock(self.now_ms().saturating_add(by));
    }

    /// The trading clock follows the wall clock again (the default).
    pub fn use_wall_clock(&self) {
        self.inner.clock_ms.store(WALL_CLOCK, Ordering::SeqCst);
    }

    /// The trading clock in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self.inner.clock_ms.load(Ordering::SeqCst) {
            WALL_CLOCK => calendar::now_ms(),
            ms => ms,
        }
    }

    /// The prices an order meets: a pinned price, else the market's path.
    fn touch(&self, inst: &market::Instrument, t_ms: i64) -> Touch {
        let forced = lock(&self.inner.forced).get(&inst.symbol).copied();
        let last = forced.unwrap_or_else(|| self.market().price(inst, t_ms));
        let (bid, ask) = Market::bid_ask(inst, last);
        Touch { last, bid, ask }
    }

    /// Runs `f` on `user`'s book (seeded on first use) after bringing it
    /// to the trading clock's now.
    fn with_book<T>(&self, user: &str, f: impl FnOnce(&mut Book) -> T) -> T {
        let now = self.now_ms();
        let prices = |inst: &market::Instrument, t: i64| self.touch(inst, t);
        let mut books = lock(&self.inner.books);
        let book = books
            .entry(user.to_owned())
            .or_insert_with(|| brokerage::seed_book(self.market(), self.config().seed, user, now));
        let activity = book.advance(now, &prices, self.config().instant_fills);
        Counters::add(&self.counters().orders_filled, activity.fills);
        f(book)
    }

    /// Brings every book to the trading clock's now.
    fn advance_books(&self) {
        let now = self.now_ms();
        let prices = |inst: &market::Instrument, t: i64| self.touch(inst, t);
        let mut books = lock(&self.inner.books);
        for book in books.values_mut() {
            let activity = book.advance(now, &prices, self.config().instant_fills);
            Counters::add(&self.counters().orders_filled, activity.fills);
        }
    }

    /// A strictly increasing issue stamp (wall-clock microseconds, bumped
    /// when two calls fall in the same microsecond). Comparing stamps decides
    /// revocation and forced expiry, so "issued before" is never ambiguous.
    fn stamp(&self) -> u64 {
        let now = calendar::now_micros();
        let previous = self
            .inner
            .last_stamp
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or(now);
        now.max(previous + 1)
    }

    fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    fn market(&self) -> &Market {
        &self.inner.market
    }

    fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data behind:
        // keep serving rather than poisoning every later request.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A `std` mutex that keeps serving after a panic elsewhere (plain data).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// TradeStation's error body with a status.
fn ts_error(status: StatusCode, error: &str, message: &str) -> Response {
    let mut response = (
        status,
        axum::Json(ErrorResponse::new(error.to_owned(), message.to_owned())),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn bad_request(message: &str) -> Response {
    ts_error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

async fn not_found() -> Response {
    ts_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The requested resource does not exist.",
    )
}

/// Query or form parameters in order, duplicates kept.
#[derive(Debug, Default)]
struct Params(Vec<(String, String)>);

impl Params {
    /// Lenient: an unparsable string gives no parameters.
    fn parse(raw: &str) -> Self {
        Self(serde_urlencoded::from_str(raw).unwrap_or_default())
    }

    /// Strict, for request bodies.
    fn parse_body(raw: &[u8]) -> Option<Self> {
        serde_urlencoded::from_bytes(raw).ok().map(Self)
    }

    /// The first value of `name` (exact match, as OAuth wants).
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, ignoring ASCII case (TradeStation's query
    /// parameters are written `barsback`, `strikeProximity`, …).
    fn get_ci(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.0.iter().filter(|(k, _)| k == name).count()
    }
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod trading_tests;
