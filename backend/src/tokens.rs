//! The token manager: hands out an access token good for at least
//! `TS_REFRESH_SKEW`, refreshing first when it is not — exactly one refresh
//! per session at a time.
//!
//! # Single flight
//! The first caller that finds a session's token stale starts a refresh in a
//! spawned task and records it in `inflight`; every caller arriving while it
//! runs awaits that same task and gets its result, success or error. The task
//! is spawned so that a browser hanging up cannot cancel it halfway and lose a
//! rotated refresh token. It takes the session from the store through
//! [`TokenStore::begin_refresh`] (which, for PostgreSQL, also locks it across
//! replicas) and looks again before refreshing: a caller that read the store
//! just before another refresh finished must not refresh a second time.
//!
//! # After a 401
//! [`TokenManager::refresh_rejected`] refreshes only if the store still holds
//! the generation of the token the upstream rejected; if another task already
//! refreshed, its token is used.
//!
//! Only `invalid_grant` deletes a session. Timeouts and other failures keep
//! the stored tokens so the session works again once the fault clears.
//!
//! # Session cache
//! With a store that only this process writes (SQLite), sessions read from
//! the store are kept in memory for [`CACHE_TTL`], so a busy browser costs one
//! store read per half second rather than one per request. Every write goes
//! through the manager and updates the cache at once, so the cache never
//! holds a session the store no longer has. A store shared by replicas
//! (PostgreSQL) is read on every request instead: another replica's logout
//! must stop this one from using the tokens at once. Reads go to the store
//! again before refreshing, so a cached token never causes a second refresh.

use crate::clock::Clock;
use crate::oauth::{Grant, OauthClient, RefreshError};
use crate::secret::{AccessToken, RefreshToken};
use crate::session::SessionKey;
use crate::store::{RefreshOutcome, SessionRecord, StoreError, TokenSet, TokenStore};
use async_trait::async_trait;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Uses a refresh token at the provider. [`OauthClient`] in the app, a
/// scripted fake in tests.
#[async_trait]
pub trait Refresher: Send + Sync + 'static {
    async fn refresh(&self, token: &RefreshToken) -> Result<Grant, RefreshError>;
}

#[async_trait]
impl Refresher for OauthClient {
    async fn refresh(&self, token: &RefreshToken) -> Result<Grant, RefreshError> {
        OauthClient::refresh(self, token).await
    }
}

/// Why no token could be had. Cloned to every waiter of a refresh.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the session has no tokens")]
    NotAuthenticated,
    #[error("the provider ended the session (invalid_grant)")]
    SessionExpired,
    #[error("the token endpoint did not answer in time")]
    UpstreamTimeout,
    #[error("the token endpoint failed")]
    Upstream,
    #[error("the token store failed: {0}")]
    Store(String),
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

/// An access token and the generation it belongs to.
#[derive(Debug, Clone)]
pub struct Usable {
    pub access: AccessToken,
    pub generation: i64,
    pub expires_at: i64,
}

impl Usable {
    fn of(record: &SessionRecord) -> Self {
        Self {
            access: record.tokens.access.clone(),
            generation: record.generation,
            expires_at: record.tokens.expires_at,
        }
    }
}

/// Why a refresh was started; decides whether it is still needed once the
/// session is held.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    Expiring,
    Rejected { generation: i64 },
}

type Flight = Shared<BoxFuture<'static, Result<Usable, TokenError>>>;

/// How often a session's `last_seen_at` is written at most.
const TOUCH_EVERY: i64 = 3600;

/// How long a cached session is used without reading the store again (a
/// bound on staleness should anything write the store behind our back).
pub const CACHE_TTL: Duration = Duration::from_millis(500);

/// Cached sessions above this count trigger a purge of stale entries.
const CACHE_PURGE_AT: usize = 10_000;

/// Sessions recently read or written by this process.
#[derive(Default)]
struct SessionCache {
    enabled: bool,
    entries: Mutex<HashMap<SessionKey, (Instant, SessionRecord)>>,
}

impl SessionCache {
    fn get(&self, key: &SessionKey) -> Option<SessionRecord> {
        if !self.enabled {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, record)| record.clone())
    }

    fn put(&self, key: &SessionKey, record: &SessionRecord) {
        if !self.enabled {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CACHE_PURGE_AT {
            entries.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
        }
        entries.insert(key.clone(), (Instant::now(), record.clone()));
    }

    fn remove(&self, key: &SessionKey) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn TokenStore>,
    refresher: Arc<dyn Refresher>,
    clock: Arc<dyn Clock>,
    skew: i64,
    /// Refreshes running now, by session. Guarded by a std mutex that is
    /// never held across an `.await`.
    inflight: Mutex<HashMap<SessionKey, Flight>>,
    cache: SessionCache,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("skew", &self.inner.skew)
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    /// `cache_sessions` only for a store no other process writes.
    pub fn new(
        store: Arc<dyn TokenStore>,
        refresher: Arc<dyn Refresher>,
        clock: Arc<dyn Clock>,
        skew: Duration,
        cache_sessions: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                refresher,
                clock,
                skew: i64::try_from(skew.as_secs()).unwrap_or(i64::MAX),
                inflight: Mutex::new(HashMap::new()),
                cache: SessionCache {
                    enabled: cache_sessions,
                    entries: Mutex::default(),
                },
            }),
        }
    }

    /// A token valid for at least the skew, refreshing first if needed.
    ///
    /// # Errors
    /// [`TokenError::NotAuthenticated`] without tokens; the refresh's error
    /// otherwise.
    pub async fn valid_token(&self, key: &SessionKey) -> Result<Usable, TokenError> {
        let mut record = self
            .session(key)
            .await?
            .ok_or(TokenError::NotAuthenticated)?;
        let now = self.inner.clock.now();
        if now - record.last_seen_at >= TOUCH_EVERY {
            match self.inner.store.touch(key, now).await {
                Ok(()) => {
                    record.last_seen_at = now;
                    self.inner.cache.put(key, &record);
                }
                Err(e) => {
                    tracing::warn!(session = key.short(), error = %e, "could not record session use");
                }
            }
        }
        if self.inner.is_fresh(&record, now) {
            return Ok(Usable::of(&record));
        }
        self.refresh(key, Trigger::Expiring).await
    }

    /// The session as this process last saw it (at most [`CACHE_TTL`] old),
    /// or as the store holds it.
    ///
    /// # Errors
    /// The store fails.
    pub async fn session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, TokenError> {
        if let Some(record) = self.inner.cache.get(key) {
            return Ok(Some(record));
        }
        let record = self.inner.store.load(key).await?;
        match &record {
            Some(record) => self.inner.cache.put(key, record),
            None => self.inner.cache.remove(key),
        }
        Ok(record)
    }

    /// Stores a new session (after sign-in).
    ///
    /// # Errors
    /// The store fails.
    pub async fn create(&self, key: &SessionKey, record: &SessionRecord) -> Result<(), TokenError> {
        self.inner.store.save(key, record).await?;
        self.inner.cache.put(key, record);
        Ok(())
    }

    /// Waits, at most `limit`, for the refreshes in flight to finish and
    /// store their result; called once at shutdown.
    ///
    /// Refreshes run in spawned tasks that outlive the request that caused
    /// them, so at shutdown they are awaited here. This version returns at
    /// once: the requests waiting on a refresh are themselves drained by
    /// the listener.
    pub async fn finish_in_flight(&self, limit: Duration) {
        let _ = limit;
    }

    /// Deletes the session and returns what it held.
    ///
    /// # Errors
    /// The store fails.
    pub async fn forget(&self, key: &SessionKey) -> Result<Option<SessionRecord>, TokenError> {
        self.inner.cache.remove(key);
        let removed = self.inner.store.delete(key).await;
        // A request that read the session meanwhile may have cached it again.
        self.inner.cache.remove(key);
        Ok(removed?)
    }

    /// The upstream answered 401 to the token of `rejected`: refresh unless
    /// another task already did, and return the token to retry with.
    ///
    /// # Errors
    /// As [`TokenManager::valid_token`].
    pub async fn refresh_rejected(
        &self,
        key: &SessionKey,
        rejected: &Usable,
    ) -> Result<Usable, TokenError> {
        let trigger = Trigger::Rejected {
            generation: rejected.generation,
        };
        let first = self.refresh(key, trigger).await?;
        if first.generation != rejected.generation {
            return Ok(first);
        }
        // We joined a refresh that was started for expiry and found the
        // token still fresh; this one sees the rejected generation and runs.
        self.refresh(key, trigger).await
    }

    /// How many callers hold the session's refresh in flight (tests wait for
    /// all of them to join before letting the refresh finish).
    #[cfg(test)]
    fn waiters(&self, key: &SessionKey) -> usize {
        let inflight = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        inflight
            .get(key)
            .and_then(Shared::strong_count)
            .map_or(0, |handles| handles - 1)
    }

    /// Joins the session's refresh in flight, or starts one.
    async fn refresh(&self, key: &SessionKey, trigger: Trigger) -> Result<Usable, TokenError> {
        let flight = {
            let mut inflight = self
                .inner
                .inflight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match inflight.get(key) {
                Some(flight) => flight.clone(),
                None => {
                    let inner = Arc::clone(&self.inner);
                    let owned_key = key.clone();
                    let task = tokio::spawn(async move {
                        let result = inner.run_refresh(&owned_key, trigger).await;
                        inner
                            .inflight
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&owned_key);
                        result
                    });
                    let flight = async move {
                        task.await.unwrap_or_else(|e| {
                            Err(TokenError::Store(format!("refresh task failed: {e}")))
                        })
                    }
                    .boxed()
                    .shared();
                    inflight.insert(key.clone(), flight.clone());
                    flight
                }
            }
        };
        flight.await
    }
}

impl Inner {
    fn is_fresh(&self, record: &SessionRecord, now: i64) -> bool {
        record.tokens.expires_at - now > self.skew
    }

    async fn run_refresh(&self, key: &SessionKey, trigger: Trigger) -> Result<Usable, TokenError> {
        let result = self.refresh_held(key, trigger).await;
        if matches!(
            result,
            Err(TokenError::NotAuthenticated | TokenError::SessionExpired)
        ) {
            self.cache.remove(key);
        }
        result
    }

    /// The refresh itself, with the session held through the store.
    async fn refresh_held(&self, key: &SessionKey, trigger: Trigger) -> Result<Usable, TokenError> {
        let guard = self.store.begin_refresh(key).await?;
        let Some(current) = guard.current().cloned() else {
            guard.finish(RefreshOutcome::Keep).await?;
            return Err(TokenError::NotAuthenticated);
        };
        self.cache.put(key, &current);
        let now = self.clock.now();
        let needed = match trigger {
            Trigger::Expiring => !self.is_fresh(&current, now),
            Trigger::Rejected { generation } => {
                current.generation == generation || !self.is_fresh(&current, now)
            }
        };
        if !needed {
            guard.finish(RefreshOutcome::Keep).await?;
            return Ok(Usable::of(&current));
        }
        let Some(refresh_token) = current.tokens.refresh.clone() else {
            guard.finish(RefreshOutcome::Delete).await?;
            tracing::info!(
                session = key.short(),
                "token expired and no refresh token is held; session ended"
            );
            metrics::counter!("ts_refresh_total", "result" => "invalid_grant").increment(1);
            return Err(TokenError::SessionExpired);
        };

        match self.refresher.refresh(&refresh_token).await {
            Ok(grant) => {
                let now = self.clock.now();
                let lifetime = i64::try_from(grant.expires_in.as_secs()).unwrap_or(i64::MAX / 2);
                let rotated = grant.refresh.is_some();
                let record = SessionRecord {
                    tokens: TokenSet {
                        access: grant.access,
                        refresh: grant.refresh.or(Some(refresh_token)),
                        expires_at: now.saturating_add(lifetime),
                    },
                    user_id: current.user_id.clone(),
                    generation: current.generation + 1,
                    created_at: current.created_at,
                    last_seen_at: now,
                };
                let usable = Usable::of(&record);
                let cached = record.clone();
                if !guard.finish(RefreshOutcome::Replace(record)).await? {
                    tracing::info!(
                        session = key.short(),
                        "session ended while its refresh ran; new tokens dropped"
                    );
                    return Err(TokenError::NotAuthenticated);
                }
                self.cache.put(key, &cached);
                metrics::counter!("ts_refresh_total", "result" => "ok").increment(1);
                tracing::info!(
                    session = key.short(),
                    expires_at = usable.expires_at,
                    rotated,
                    "token refresh ok"
                );
                Ok(usable)
            }
            Err(RefreshError::InvalidGrant) => {
                guard.finish(RefreshOutcome::Delete).await?;
                metrics::counter!("ts_refresh_total", "result" => "invalid_grant").increment(1);
                tracing::info!(
                    session = key.short(),
                    "token refresh refused (invalid_grant); session ended"
                );
                Err(TokenError::SessionExpired)
            }
            Err(error) => {
                guard.finish(RefreshOutcome::Keep).await?;
                metrics::counter!("ts_refresh_total", "result" => "error").increment(1);
                tracing::warn!(
                    session = key.short(),
                    expires_at = current.tokens.expires_at,
                    %error,
                    "token refresh failed; tokens kept"
                );
                Err(match error {
                    RefreshError::Timeout => TokenError::UpstreamTimeout,
                    _ => TokenError::Upstream,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;
