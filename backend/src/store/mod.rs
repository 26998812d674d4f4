//! The token store: sessions and pending logins, sealed at rest.
//!
//! [`TokenStore`] is the one interface callers see; [`sqlite::SqliteStore`]
//! is the single-machine default and [`postgres::PostgresStore`] sits beside
//! it for several replicas; [`connect`] picks one from `DATABASE_URL`.
//! Implementations seal and open values with [`seal::Sealer`] through
//! [`codec`], so callers handle plain types and never a ciphertext.
//!
//! Refresh goes through [`TokenStore::begin_refresh`]: it hands out the
//! session as it is *now*, under whatever lock the store can hold across
//! processes, and [`RefreshGuard::finish`] writes the outcome. The token
//! manager (`crate::tokens`) decides what happens in between.

pub mod codec;
pub mod postgres;
pub mod seal;
pub mod sqlite;

use crate::secret::{AccessToken, RefreshToken};
use crate::session::SessionKey;
use crate::session::pending::PendingLogin;
use async_trait::async_trait;
use seal::Sealer;
use std::sync::Arc;
use std::time::Duration;

/// The tokens of one session.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access: AccessToken,
    pub refresh: Option<RefreshToken>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub tokens: TokenSet,
    /// `sub` of the validated id_token.
    pub user_id: Option<String>,
    /// Counts refreshes. A caller that saw the upstream reject the token of
    /// generation `g` refreshes only if the store still holds `g`.
    pub generation: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// What a refresh decided.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// New tokens (generation already advanced by the caller).
    Replace(SessionRecord),
    /// The provider refused the refresh token: the session is over.
    Delete,
    /// Nothing to write (a transient failure, or another refresh won).
    Keep,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored value is malformed: {0}")]
    Malformed(String),
}

/// A session held for refreshing.
#[async_trait]
pub trait RefreshGuard: Send {
    /// The session as the store held it when the guard was taken; `None`
    /// when there is none (logged out, swept, or sealed with a forgotten key).
    fn current(&self) -> Option<&SessionRecord>;

    /// Writes `outcome` and releases the guard. Returns `false` when the
    /// write did not apply because the session changed or vanished meanwhile
    /// (a logout during the refresh): the caller must not use its tokens.
    async fn finish(self: Box<Self>, outcome: RefreshOutcome) -> Result<bool, StoreError>;
}

/// Storage for sessions and pending logins.
#[async_trait]
pub trait TokenStore: Send + Sync + std::fmt::Debug + 'static {
    /// Whether the store answers (for `/health`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// `None` for no row, and for a row sealed with a key that is no longer
    /// configured (logged as a warning).
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError>;

    /// Inserts or replaces the session.
    async fn save(&self, key: &SessionKey, record: &SessionRecord) -> Result<(), StoreError>;

    /// Removes the session and returns what it held, if it could be opened.
    async fn delete(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError>;

    /// Records use of the session at `now` (the idle sweep reads it).
    async fn touch(&self, key: &SessionKey, now: i64) -> Result<(), StoreError>;

    /// Holds the session for a refresh; see [`RefreshGuard`].
    async fn begin_refresh(&self, key: &SessionKey) -> Result<Box<dyn RefreshGuard>, StoreError>;

    async fn put_pending(&self, login: &PendingLogin) -> Result<(), StoreError>;

    /// Removes and returns the pending login for this state: single use.
    async fn take_pending(&self, state_key: &str) -> Result<Option<PendingLogin>, StoreError>;

    /// Deletes pending logins that expired before `now`.
    async fn purge_pending(&self, now: i64) -> Result<u64, StoreError>;

    /// Up to `limit` sessions last seen before `seen_before`.
    async fn idle_sessions(
        &self,
        seen_before: i64,
        limit: u32,
    ) -> Result<Vec<(SessionKey, Option<SessionRecord>)>, StoreError>;

    /// Sessions holding tokens.
    async fn count_sessions(&self) -> Result<u64, StoreError>;
}

/// Opens the store `url` names (`DATABASE_URL`): `sqlite:…` is the
/// single-machine [`sqlite::SqliteStore`], `postgres://…` or
/// `postgresql://…` the multi-replica [`postgres::PostgresStore`], which
/// waits at most `lock_wait` for a session another refresh holds. Either is
/// migrated before this returns.
///
/// # Errors
/// An unsupported scheme (the error does not repeat the URL, which may hold a
/// password), or the database cannot be opened or migrated.
pub async fn connect(
    url: &str,
    sealer: Arc<Sealer>,
    lock_wait: Duration,
) -> Result<Arc<dyn TokenStore>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, sealer).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PostgresStore::connect(url, sealer, lock_wait).await?,
        ))
    } else {
        Err(StoreError::Database(sqlx::Error::Configuration(
            "DATABASE_URL must start with sqlite:, postgres:// or postgresql://".into(),
        )))
    }
}
