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
//! [`TokenStore::begin_refresh`] (which, for PostgreSQL, also takes a lease
//! on it across replicas) and looks again before refreshing: a caller that read the store
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
//! # The 30-second rule
//! An upstream 401 on a token younger than [`REJECTED_MIN_AGE`] is answered
//! as it is, without a refresh: a token that new was just issued, so the
//! provider would issue the same kind again, and a client looping on 401s
//! must not turn each one into a refresh.
//!
//! # A refresh never loses a token
//! When the store cannot take a refresh's result (SQLite busy, PostgreSQL
//! unreachable), the new tokens stay in memory ([`Inner::unsaved`]) and are
//! served from there, the callers waiting on the flight get the new access
//! token at once, and a task writes them with backoff until they are stored
//! or the process stops. The flight stays registered until then, so no
//! second refresh starts with the refresh token the first one rotated away.
//! Every refresh runs on a [`TaskTracker`]: [`TokenManager::finish_in_flight`]
//! lets them end (and store) before the process exits.
//!
//! Sessions are not cached here: a store only this process writes is read
//! through [`crate::store::cache::CachedStore`], chosen where it is opened.

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
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    /// When the token was obtained (Unix seconds; 0 when not known).
    pub obtained_at: i64,
}

impl Usable {
    fn of(record: &SessionRecord) -> Self {
        Self {
            access: record.tokens.access.clone(),
            generation: record.generation,
            expires_at: record.tokens.expires_at,
            obtained_at: record.tokens.obtained_at,
        }
    }
}

/// How a refresh ended, for its task.
enum Held {
    /// Answered and, if it wrote, stored.
    Done(Result<Usable, TokenError>),
    /// Refreshed, but the store refused the write: `record` (read from
    /// generation `read`) must still be stored.
    Unsaved { record: SessionRecord, read: i64 },
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

/// An upstream 401 forces a refresh only for a token at least this old
/// (seconds since it was obtained).
pub const REJECTED_MIN_AGE: i64 = 30;

/// The first wait before writing a refresh's result again, doubled up to
/// [`STORE_RETRY_MAX`].
const STORE_RETRY_FIRST: Duration = Duration::from_millis(50);
const STORE_RETRY_MAX: Duration = Duration::from_secs(2);

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
    /// Refreshed sessions whose write to the store has not succeeded yet;
    /// read before the store. Same mutex rule as `inflight`.
    unsaved: Mutex<HashMap<SessionKey, SessionRecord>>,
    /// Every refresh task, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Cancelled when shutdown stops waiting: retries give up.
    stopping: CancellationToken,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("skew", &self.inner.skew)
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    pub fn new(
        store: Arc<dyn TokenStore>,
        refresher: Arc<dyn Refresher>,
        clock: Arc<dyn Clock>,
        skew: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                refresher,
                clock,
                skew: i64::try_from(skew.as_secs()).unwrap_or(i64::MAX),
                inflight: Mutex::new(HashMap::new()),
                unsaved: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
                stopping: CancellationToken::new(),
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
                Ok(()) => record.last_seen_at = now,
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

    /// The session: a refresh's result not stored yet, or what the store
    /// holds.
    ///
    /// # Errors
    /// The store fails.
    pub async fn session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, TokenError> {
        if let Some(record) = self.inner.unsaved_get(key) {
            return Ok(Some(record));
        }
        Ok(self.inner.store.load(key).await?)
    }

    /// Stores a new session (after sign-in).
    ///
    /// # Errors
    /// The store fails.
    pub async fn create(&self, key: &SessionKey, record: &SessionRecord) -> Result<(), TokenError> {
        self.inner.store.save(key, record).await?;
        Ok(())
    }

    /// Deletes the session and returns what it held.
    ///
    /// # Errors
    /// The store fails.
    pub async fn forget(&self, key: &SessionKey) -> Result<Option<SessionRecord>, TokenError> {
        Ok(self.inner.store.delete(key).await?)
    }

    /// The upstream answered 401 to the token of `rejected`: refresh unless
    /// another task already did, and return the token to retry with.
    /// `None` when `rejected` is younger than [`REJECTED_MIN_AGE`]: answer
    /// the upstream's 401 as it is, nothing was refreshed.
    ///
    /// # Errors
    /// As [`TokenManager::valid_token`].
    pub async fn refresh_rejected(
        &self,
        key: &SessionKey,
        rejected: &Usable,
    ) -> Result<Option<Usable>, TokenError> {
        let age = self.inner.clock.now() - rejected.obtained_at;
        if age < REJECTED_MIN_AGE {
            tracing::info!(
                session = key.short(),
                age,
                "upstream rejected a token younger than 30 s; not refreshing"
            );
            return Ok(None);
        }
        let trigger = Trigger::Rejected {
            generation: rejected.generation,
        };
        let first = self.refresh(key, trigger).await?;
        if first.generation != rejected.generation {
            return Ok(Some(first));
        }
        // We joined a refresh that was started for expiry and found the
        // token still fresh; this one sees the rejected generation and runs.
        self.refresh(key, trigger).await.map(Some)
    }

    /// For shutdown: waits until every refresh in flight has finished and
    /// stored its result (including one still retrying a failed store
    /// write), or until `deadline` has passed. At the deadline, refreshes
    /// still retrying give up and say so in the log. Returns whether all
    /// finished in time. Call it after the listener stopped accepting, with
    /// at most `TS_HTTP_TIMEOUT` (a refresh's token call is bounded by it).
    pub async fn finish_in_flight(&self, deadline: Duration) -> bool {
        self.inner.tasks.close();
        let done = tokio::time::timeout(deadline, self.inner.tasks.wait())
            .await
            .is_ok();
        if !done {
            self.inner.stopping.cancel();
            tracing::warn!("shutdown: refreshes still in flight at the deadline");
        }
        done
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
                    let (reply, answer) = oneshot::channel();
                    inner.tasks.clone().spawn(async move {
                        inner.run_refresh(&owned_key, trigger, reply).await;
                        inner
                            .inflight
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&owned_key);
                    });
                    let flight = async move {
                        answer.await.unwrap_or_else(|_| {
                            Err(TokenError::Store("the refresh task ended early".to_owned()))
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

    fn unsaved_get(&self, key: &SessionKey) -> Option<SessionRecord> {
        let unsaved = self.unsaved.lock().unwrap_or_else(PoisonError::into_inner);
        unsaved.get(key).cloned()
    }

    fn unsaved_set(&self, key: &SessionKey, record: Option<SessionRecord>) {
        let mut unsaved = self.unsaved.lock().unwrap_or_else(PoisonError::into_inner);
        match record {
            Some(record) => unsaved.insert(key.clone(), record),
            None => unsaved.remove(key),
        };
    }

    /// Runs one refresh and answers its callers on `reply`; when its result
    /// could not be stored at once, keeps writing it until stored or
    /// shutdown, serving it from memory meanwhile.
    async fn run_refresh(
        &self,
        key: &SessionKey,
        trigger: Trigger,
        reply: oneshot::Sender<Result<Usable, TokenError>>,
    ) {
        match self.refresh_held(key, trigger).await {
            Held::Done(result) => {
                let _ = reply.send(result);
            }
            Held::Unsaved { record, read } => {
                self.unsaved_set(key, Some(record.clone()));
                let _ = reply.send(Ok(Usable::of(&record)));
                self.store_until_done(key, read, &record).await;
                self.unsaved_set(key, None);
            }
        }
    }

    /// Writes a refresh's result (read from generation `read`) with backoff
    /// until it is stored, the session is gone, or shutdown gives up.
    async fn store_until_done(&self, key: &SessionKey, read: i64, record: &SessionRecord) {
        let mut wait = STORE_RETRY_FIRST;
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.stopping.cancelled() => {
                    tracing::error!(
                        session = key.short(),
                        "shutdown: a refreshed token could not be stored and is lost"
                    );
                    return;
                }
            }
            match self.store_once(key, read, record).await {
                Ok(()) => {
                    tracing::info!(
                        session = key.short(),
                        "refreshed token stored after a retry"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(session = key.short(), error = %e, "refreshed token not stored yet; retrying");
                }
            }
            wait = (wait * 2).min(STORE_RETRY_MAX);
        }
    }

    /// One attempt of [`Inner::store_until_done`]. `Ok` also when there is
    /// nothing left to write: the session ended meanwhile, or an earlier
    /// attempt did apply though it reported an error.
    async fn store_once(
        &self,
        key: &SessionKey,
        read: i64,
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        let guard = self.store.begin_refresh(key).await?;
        let outcome = match guard.current() {
            Some(current) if current.generation == read => RefreshOutcome::Replace(record.clone()),
            Some(_) | None => RefreshOutcome::Keep,
        };
        if matches!(outcome, RefreshOutcome::Keep) {
            tracing::info!(
                session = key.short(),
                "session changed while its refreshed token waited to be stored"
            );
        }
        guard.finish(outcome).await?;
        Ok(())
    }

    /// The refresh itself, with the session held through the store.
    async fn refresh_held(&self, key: &SessionKey, trigger: Trigger) -> Held {
        match self.refresh_guarded(key, trigger).await {
            Ok(held) => held,
            Err(e) => Held::Done(Err(e)),
        }
    }

    async fn refresh_guarded(
        &self,
        key: &SessionKey,
        trigger: Trigger,
    ) -> Result<Held, TokenError> {
        let guard = self.store.begin_refresh(key).await?;
        let Some(current) = guard.current().cloned() else {
            guard.finish(RefreshOutcome::Keep).await?;
            return Err(TokenError::NotAuthenticated);
        };
        let now = self.clock.now();
        let needed = match trigger {
            Trigger::Expiring => !self.is_fresh(&current, now),
            Trigger::Rejected { generation } => {
                current.generation == generation || !self.is_fresh(&current, now)
            }
        };
        if !needed {
            guard.finish(RefreshOutcome::Keep).await?;
            return Ok(Held::Done(Ok(Usable::of(&current))));
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
                        obtained_at: now,
                    },
                    user_id: current.user_id.clone(),
                    generation: current.generation + 1,
                    created_at: current.created_at,
                    last_seen_at: now,
                };
                metrics::counter!("ts_refresh_total", "result" => "ok").increment(1);
                tracing::info!(
                    session = key.short(),
                    expires_at = record.tokens.expires_at,
                    rotated,
                    "token refresh ok"
                );
                match guard.finish(RefreshOutcome::Replace(record.clone())).await {
                    Ok(true) => Ok(Held::Done(Ok(Usable::of(&record)))),
                    Ok(false) => {
                        tracing::info!(
                            session = key.short(),
                            "session ended while its refresh ran; new tokens dropped"
                        );
                        Err(TokenError::NotAuthenticated)
                    }
                    Err(e) => {
                        tracing::warn!(
                            session = key.short(),
                            error = %e,
                            "refreshed token could not be stored; kept in memory and retried"
                        );
                        Ok(Held::Unsaved {
                            record,
                            read: current.generation,
                        })
                    }
                }
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
