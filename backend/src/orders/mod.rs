//! Orders: forwarding an order request to TradeStation at most once per
//! `OrderConfirmID`, and never blindly again.
//!
//! The routes (`crate::routes::orders`) check the request; this module sends
//! it. [`OrderDesk::place`] is the exactly-once path for `POST …/orders` and
//! `…/ordergroups`; [`forward`] is the one-shot path every order request
//! takes (previews, replace, cancel, and a placement's own attempt).
//!
//! # Exactly once
//! An order key is the hash of the user (or, without one, the session) and
//! the confirm id(s) ([`order_key`]). Within a process, [`flight::Flights`]
//! runs one attempt per key and hands its result to every concurrent
//! duplicate. Across processes sharing `DATABASE_URL`, the attempt first
//! claims the key in the [`ledger::Ledger`]: a definite answer already
//! recorded is replayed; another replica's attempt in flight is waited for
//! by polling its row (every 25 ms, backing off to 250 ms) until it is
//! answered or its lease lapses. Replicas must agree on the time of day
//! within a second or so: leases and expiry are Unix seconds.
//!
//! # No blind retries
//! [`forward`] sends once, and again only after an upstream `401` (with the
//! token refreshed). A timeout, a 5xx or a lost connection is an
//! [`Finished::Unknown`] outcome: the order may or may not have been placed,
//! so it is not resent; the ledger marks it and the *next* request with the
//! same id is forwarded again (TradeStation refuses a confirm id it has
//! already placed). Nothing-sent failures (no session, refresh refused)
//! release the key.
//!
//! Each attempt is bounded by its lease less a margin, so a live replica
//! never holds a key past its lease.

pub mod flight;
pub mod ledger;

use crate::clock::Clock;
use crate::error::ApiError;
use crate::tokens::Usable;
use async_trait::async_trait;
use bytes::Bytes;
use flight::Flights;
use ledger::{Claim, Ledger};
use shared::api::Environment;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// How long a recorded answer is replayed.
pub const REPLAY_FOR_SECS: i64 = 24 * 3600;

/// How often expired ledger rows are deleted at most (per process).
const PURGE_EVERY_SECS: i64 = 60;

/// An upstream answer, read whole: status, the allow-listed headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Answer {
    /// `[status, headers]` as JSON, a newline, then the body.
    pub fn encode(&self) -> Vec<u8> {
        let head = serde_json::to_vec(&(self.status, &self.headers)).unwrap_or_default();
        let mut out = Vec::with_capacity(head.len() + 1 + self.body.len());
        out.extend_from_slice(&head);
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    pub fn decode(raw: &[u8]) -> Option<Self> {
        let split = raw.iter().position(|b| *b == b'\n')?;
        let (status, headers): (u16, Vec<(String, String)>) =
            serde_json::from_slice(&raw[..split]).ok()?;
        Some(Self {
            status,
            headers,
            body: Bytes::copy_from_slice(&raw[split + 1..]),
        })
    }
}

/// How an order request ended. Cloned to every duplicate that waited.
#[derive(Debug, Clone)]
pub enum Finished {
    /// TradeStation answered (2xx or 4xx); `replayed` when the answer is a
    /// recorded one rather than this attempt's.
    Answered { answer: Arc<Answer>, replayed: bool },
    /// Nothing reached TradeStation (no session, refresh refused, store
    /// down): the error as any route would answer it.
    NotSent(ApiError),
    /// Sent, outcome unknown: `UpstreamTimeout` or `UpstreamError`.
    Unknown(ApiError),
}

impl Finished {
    /// The `result` label of `ts_orders_total`.
    pub fn metric_result(&self) -> String {
        match self {
            Self::Answered { answer, .. } => answer.status.to_string(),
            Self::Unknown(ApiError::UpstreamTimeout) => "timeout".to_owned(),
            Self::Unknown(_) => "error".to_owned(),
            Self::NotSent(e) => e.status().as_u16().to_string(),
        }
    }
}

/// One order request's way to TradeStation: [`crate::routes::orders`] over
/// the app's HTTP client and token manager, a scripted fake in tests.
#[async_trait]
pub trait Upstream: Send + Sync + 'static {
    /// A token for the session.
    async fn token(&self) -> Result<Usable, ApiError>;
    /// A new token after TradeStation rejected `rejected` with a 401;
    /// `None` when the token is too young to blame, so the 401 stands.
    async fn refresh_after(&self, rejected: &Usable) -> Result<Option<Usable>, ApiError>;
    /// Sends the request once and reads the answer whole. Errors are
    /// `UpstreamTimeout` or `UpstreamError` and mean the request may have
    /// been received.
    async fn send(&self, token: &Usable) -> Result<Answer, ApiError>;
}

/// Sends an order request: once, and once more only after a `401`.
pub async fn forward(upstream: &dyn Upstream) -> Finished {
    let token = match upstream.token().await {
        Ok(token) => token,
        Err(e) => return Finished::NotSent(e),
    };
    let answer = match upstream.send(&token).await {
        Ok(answer) => answer,
        Err(e) => return Finished::Unknown(e),
    };
    let answer = if answer.status == 401 {
        // A 401 means TradeStation did not take the order: safe to resend.
        match upstream.refresh_after(&token).await {
            Ok(Some(token)) => match upstream.send(&token).await {
                Ok(answer) => answer,
                Err(e) => return Finished::Unknown(e),
            },
            Ok(None) => answer,
            Err(e) => return Finished::NotSent(e),
        }
    } else {
        answer
    };
    if answer.status >= 500 {
        tracing::warn!(
            status = answer.status,
            "order request answered with a server error"
        );
        return Finished::Unknown(ApiError::UpstreamError);
    }
    Finished::Answered {
        answer: Arc::new(answer),
        replayed: false,
    }
}

/// The exactly-once key of a placement by `user` with these confirm ids
/// (sorted, for a group). `user` is `user:<sub>` or `session:<key>`.
pub fn order_key(user: &str, confirm_ids: &[&str]) -> String {
    crate::session::hash_hex(&format!("orders v1\n{user}\n{}", confirm_ids.join("\n")))
}

/// Order settings and the exactly-once machinery. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OrderDesk {
    inner: Arc<Desk>,
}

struct Desk {
    flights: Flights<Finished>,
    /// `None` only in unit tests of the in-process flight.
    ledger: Option<Ledger>,
    clock: Arc<dyn Clock>,
    lease: Duration,
    environment: Environment,
    trading: bool,
    last_purge: AtomicI64,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderDesk")
            .field("environment", &self.environment)
            .field("trading", &self.trading)
            .field("ledger", &self.ledger)
            .finish_non_exhaustive()
    }
}

impl OrderDesk {
    /// `http_timeout` bounds each upstream step; an attempt's lease covers a
    /// refresh and two sends with their bodies.
    pub fn new(
        ledger: Option<Ledger>,
        clock: Arc<dyn Clock>,
        http_timeout: Duration,
        environment: Environment,
        trading: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Desk {
                flights: Flights::default(),
                ledger,
                clock,
                lease: http_timeout * 5 + Duration::from_secs(5),
                environment,
                trading,
                last_purge: AtomicI64::new(0),
            }),
        }
    }

    pub fn environment(&self) -> Environment {
        self.inner.environment
    }

    /// Whether the order routes work.
    pub fn trading(&self) -> bool {
        self.inner.trading
    }

    /// Forwards the placement for `key` at most once (see the module doc).
    /// The `bool` is `true` when the answer is another request's (joined in
    /// this process, or recorded in the ledger): `Idempotent-Replayed`.
    pub async fn place(&self, key: &str, upstream: Arc<dyn Upstream>) -> (Finished, bool) {
        let desk = Arc::clone(&self.inner);
        let owned = key.to_owned();
        let work = async move { desk.place_once(&owned, upstream).await };
        let (finished, joined) = self
            .inner
            .flights
            .run(key, work, || Finished::Unknown(ApiError::UpstreamError))
            .await;
        let replayed = joined || matches!(finished, Finished::Answered { replayed: true, .. });
        (finished, replayed)
    }

    /// Callers waiting on `key`'s flight in this process (for tests).
    pub fn waiting(&self, key: &str) -> usize {
        self.inner.flights.holders(key)
    }
}

impl Desk {
    async fn place_once(&self, key: &str, upstream: Arc<dyn Upstream>) -> Finished {
        let Some(ledger) = &self.ledger else {
            return self.bounded(upstream.as_ref()).await;
        };
        self.purge_now_and_then(ledger).await;
        let owner = crate::session::random_token();
        let lease = i64::try_from(self.lease.as_secs()).unwrap_or(i64::MAX / 4);
        let give_up = Instant::now() + self.lease * 2;
        let mut waited_on: Option<String> = None;
        let mut pause = Duration::from_millis(25);
        loop {
            let now = self.clock.now();
            let claim = ledger
                .claim(
                    key,
                    &owner,
                    now,
                    now + lease,
                    now + REPLAY_FOR_SECS,
                    waited_on.as_deref(),
                )
                .await;
            match claim {
                Err(e) => {
                    tracing::error!(cause = %e, "order ledger failed; order not sent");
                    return Finished::NotSent(ApiError::StoreUnavailable);
                }
                Ok(Claim::Claimed) => break,
                Ok(Claim::Done(answer)) => {
                    return Finished::Answered {
                        answer: Arc::new(answer),
                        replayed: true,
                    };
                }
                Ok(Claim::Unknown { status }) => {
                    return Finished::Unknown(if status == 504 {
                        ApiError::UpstreamTimeout
                    } else {
                        ApiError::UpstreamError
                    });
                }
                Ok(Claim::InFlight { owner: other }) => {
                    if Instant::now() >= give_up {
                        return Finished::Unknown(ApiError::UpstreamTimeout);
                    }
                    if !other.is_empty() {
                        waited_on = Some(other);
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
            }
        }

        let finished = self.bounded(upstream.as_ref()).await;
        let recorded = match &finished {
            Finished::Answered { answer, .. } => ledger.finish(key, &owner, answer).await,
            Finished::NotSent(_) => ledger.release(key, &owner).await,
            Finished::Unknown(e) => ledger.mark_unknown(key, &owner, e.status().as_u16()).await,
        };
        if let Err(e) = recorded {
            // The caller still gets the answer; a duplicate sent later is
            // forwarded again and refused by TradeStation itself.
            tracing::error!(cause = %e, "order ledger could not record an order's outcome");
        }
        finished
    }

    /// [`forward`], cut off before the lease lapses.
    async fn bounded(&self, upstream: &dyn Upstream) -> Finished {
        let limit = self.lease.saturating_sub(Duration::from_secs(2));
        tokio::time::timeout(limit, forward(upstream))
            .await
            .unwrap_or(Finished::Unknown(ApiError::UpstreamTimeout))
    }

    async fn purge_now_and_then(&self, ledger: &Ledger) {
        let now = self.clock.now();
        let last = self.last_purge.load(Ordering::Relaxed);
        if now - last < PURGE_EVERY_SECS
            || self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        match ledger.purge(now).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "expired order ledger rows deleted"),
            Err(e) => tracing::warn!(cause = %e, "order ledger purge failed"),
        }
    }
}

#[cfg(test)]
mod tests;
