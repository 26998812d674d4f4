//! The in-process session cache: a [`TokenStore`] in front of another, for
//! a store that only this process writes (SQLite, which [`super::open`]
//! claims for one process).
//!
//! Sessions read are kept for [`CACHE_TTL`], so a busy browser costs one
//! store read per half second rather than one per request. Every write goes
//! through this wrapper and updates the cache at once, so the cache never
//! holds a session the store no longer has. A refresh always reads the store
//! (`begin_refresh` is not cached), so a cached token never causes a second
//! refresh. A store shared by replicas (PostgreSQL) is not wrapped: another
//! replica's logout must stop this one from using the tokens at once.

use super::{RefreshGuard, RefreshOutcome, SessionRecord, StoreError, TokenStore};
use crate::session::SessionKey;
use crate::session::pending::PendingLogin;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a cached session is used without reading the store again (a
/// bound on staleness should anything write the store behind our back).
pub const CACHE_TTL: Duration = Duration::from_millis(500);

/// Cached sessions above this count trigger a purge of stale entries.
const CACHE_PURGE_AT: usize = 10_000;

type Entries = Mutex<HashMap<SessionKey, (Instant, SessionRecord)>>;

/// See the module documentation.
#[derive(Debug)]
pub struct CachedStore {
    inner: Arc<dyn TokenStore>,
    /// A std mutex, never held across an `.await`.
    entries: Arc<Entries>,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn TokenStore>) -> Self {
        Self {
            inner,
            entries: Arc::default(),
        }
    }

    fn get(&self, key: &SessionKey) -> Option<SessionRecord> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, record)| record.clone())
    }
}

fn put(entries: &Entries, key: &SessionKey, record: &SessionRecord) {
    let mut entries = entries.lock().unwrap_or_else(PoisonError::into_inner);
    if entries.len() >= CACHE_PURGE_AT {
        entries.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
    }
    entries.insert(key.clone(), (Instant::now(), record.clone()));
}

fn remove(entries: &Entries, key: &SessionKey) {
    entries
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(key);
}

#[async_trait]
impl TokenStore for CachedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        if let Some(record) = self.get(key) {
            return Ok(Some(record));
        }
        let record = self.inner.load(key).await?;
        match &record {
            Some(record) => put(&self.entries, key, record),
            None => remove(&self.entries, key),
        }
        Ok(record)
    }

    async fn save(&self, key: &SessionKey, record: &SessionRecord) -> Result<(), StoreError> {
        let saved = self.inner.save(key, record).await;
        match saved {
            Ok(()) => put(&self.entries, key, record),
            Err(_) => remove(&self.entries, key),
        }
        saved
    }

    async fn delete(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        remove(&self.entries, key);
        let removed = self.inner.delete(key).await;
        // A request that read the session meanwhile may have cached it again.
        remove(&self.entries, key);
        removed
    }

    async fn touch(&self, key: &SessionKey, now: i64) -> Result<(), StoreError> {
        self.inner.touch(key, now).await?;
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, record)) = entries.get_mut(key) {
            record.last_seen_at = now;
        }
        Ok(())
    }

    async fn begin_refresh(&self, key: &SessionKey) -> Result<Box<dyn RefreshGuard>, StoreError> {
        let guard = self.inner.begin_refresh(key).await?;
        match guard.current() {
            Some(current) => put(&self.entries, key, current),
            None => remove(&self.entries, key),
        }
        Ok(Box::new(CachedRefresh {
            guard,
            entries: Arc::clone(&self.entries),
            key: key.clone(),
        }))
    }

    async fn put_pending(&self, login: &PendingLogin) -> Result<(), StoreError> {
        self.inner.put_pending(login).await
    }

    async fn take_pending(
        &self,
        state_key: &str,
        browser_key: &str,
    ) -> Result<Option<PendingLogin>, StoreError> {
        self.inner.take_pending(state_key, browser_key).await
    }

    async fn purge_pending(&self, now: i64) -> Result<u64, StoreError> {
        self.inner.purge_pending(now).await
    }

    async fn idle_sessions(
        &self,
        seen_before: i64,
        limit: u32,
    ) -> Result<Vec<(SessionKey, Option<SessionRecord>)>, StoreError> {
        self.inner.idle_sessions(seen_before, limit).await
    }

    async fn count_sessions(&self) -> Result<u64, StoreError> {
        self.inner.count_sessions().await
    }
}

/// Keeps the cache in step with what a refresh writes.
struct CachedRefresh {
    guard: Box<dyn RefreshGuard>,
    entries: Arc<Entries>,
    key: SessionKey,
}

#[async_trait]
impl RefreshGuard for CachedRefresh {
    fn current(&self) -> Option<&SessionRecord> {
        self.guard.current()
    }

    async fn finish(self: Box<Self>, outcome: RefreshOutcome) -> Result<bool, StoreError> {
        let written = match &outcome {
            RefreshOutcome::Replace(record) => Some(record.clone()),
            RefreshOutcome::Delete | RefreshOutcome::Keep => None,
        };
        let deletes = matches!(outcome, RefreshOutcome::Delete);
        let applied = self.guard.finish(outcome).await;
        match (&applied, written) {
            (Ok(true), Some(record)) => put(&self.entries, &self.key, &record),
            (Ok(true), None) if !deletes => {}
            _ => remove(&self.entries, &self.key),
        }
        applied
    }
}
