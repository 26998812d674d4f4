//! The token store: sessions and pending logins, sealed at rest.
//!
//! [`TokenStore`] is the one interface callers see. [`sql::SqlStore`]
//! implements it once for both databases: SQLite ([`sqlite`]) is the
//! single-machine default and PostgreSQL ([`postgres`]) serves several
//! replicas. [`DatabaseUrl`] is `DATABASE_URL` parsed (the one place its
//! scheme is checked); [`open`] picks the store from it at start-up, with
//! the in-process [`cache::CachedStore`] in front of a store only this
//! process writes. Stores seal and open values with [`seal::Sealer`] through
//! [`codec`], so callers handle plain types and never a ciphertext.
//!
//! Refresh goes through [`TokenStore::begin_refresh`]: it hands out the
//! session as it is *now*, under whatever lock the store can hold across
//! processes, and [`RefreshGuard::finish`] writes the outcome. The token
//! manager (`crate::tokens`) decides what happens in between.

pub mod cache;
pub mod codec;
pub mod postgres;
pub mod seal;
pub mod sql;
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
    /// When `access` was obtained (Unix seconds; 0 when not known, which
    /// counts as old). An upstream 401 forces a refresh only for a token
    /// at least [`crate::tokens::REJECTED_MIN_AGE`] old.
    pub obtained_at: i64,
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
    #[error(
        "another process is using this SQLite database (lock file {}); several processes need a postgres:// DATABASE_URL",
        .0.display()
    )]
    InUse(std::path::PathBuf),
    /// A refresh of this session held elsewhere (another task or replica)
    /// did not end within the store's wait.
    #[error("gave up waiting for a refresh of this session held elsewhere")]
    LockTimeout,
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

    /// Stores a pending login. A browser (`browser_key`) holds at most
    /// [`sql::PENDING_PER_BROWSER`]: a newer one drops its oldest.
    async fn put_pending(&self, login: &PendingLogin) -> Result<(), StoreError>;

    /// Removes and returns the pending login for this state when it is bound
    /// to `browser_key`: single use, and only by its own browser. Another
    /// browser presenting the state gets `None` and the login stays.
    async fn take_pending(
        &self,
        state_key: &str,
        browser_key: &str,
    ) -> Result<Option<PendingLogin>, StoreError>;

    /// Deletes pending logins that expired before `now`, a small batch per
    /// statement so no write lock is held for long.
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

/// `DATABASE_URL`, parsed: which database, and the URL to reach it. The one
/// place the scheme is checked. `Debug` hides a password.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite:…`: one process on one machine.
    Sqlite(String),
    /// `postgres://…` or `postgresql://…`: any number of replicas.
    Postgres(String),
}

/// `DATABASE_URL` names no database we support. Does not repeat the value,
/// which may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected sqlite://path or postgres://… (the value is not shown: it may hold a password)")]
pub struct UnsupportedDatabase;

impl std::str::FromStr for DatabaseUrl {
    type Err = UnsupportedDatabase;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(url.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            Err(UnsupportedDatabase)
        }
    }
}

impl DatabaseUrl {
    /// The URL as configured, password included: for the driver only.
    pub fn expose_url(&self) -> &str {
        match self {
            Self::Sqlite(url) | Self::Postgres(url) => url,
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(url) => f.debug_tuple("Sqlite").field(url).finish(),
            Self::Postgres(url) => {
                let shown = match url::Url::parse(url) {
                    Ok(mut parsed) if parsed.password().is_some() => {
                        let _ = parsed.set_password(Some("redacted"));
                        parsed.to_string()
                    }
                    Ok(parsed) => parsed.to_string(),
                    Err(_) => "[unparsable]".to_owned(),
                };
                f.debug_tuple("Postgres").field(&shown).finish()
            }
        }
    }
}

impl PartialEq<&str> for DatabaseUrl {
    fn eq(&self, other: &&str) -> bool {
        self.expose_url() == *other
    }
}

impl From<UnsupportedDatabase> for StoreError {
    fn from(e: UnsupportedDatabase) -> Self {
        StoreError::Database(sqlx::Error::Configuration(
            format!("DATABASE_URL: {e}").into(),
        ))
    }
}

/// Opens the store `url` names (`DATABASE_URL`), without a cache or a
/// process lock: what tests and tools use to reach a database directly.
/// On PostgreSQL a refresh lease lasts `lock_wait`, and a refresh waits
/// about that long for one held elsewhere ([`StoreError::LockTimeout`]). Either is migrated before this returns.
///
/// # Errors
/// An unsupported scheme (the error does not repeat the URL, which may hold a
/// password), or the database cannot be opened or migrated.
pub async fn connect(
    url: &str,
    sealer: Arc<Sealer>,
    lock_wait: Duration,
) -> Result<Arc<dyn TokenStore>, StoreError> {
    connect_to(&url.parse()?, sealer, lock_wait).await
}

/// [`connect`] for a parsed URL.
///
/// # Errors
/// As [`connect`].
pub async fn connect_to(
    url: &DatabaseUrl,
    sealer: Arc<Sealer>,
    lock_wait: Duration,
) -> Result<Arc<dyn TokenStore>, StoreError> {
    Ok(match url {
        DatabaseUrl::Sqlite(url) => Arc::new(sqlite::SqliteStore::connect(url, sealer).await?),
        DatabaseUrl::Postgres(url) => {
            Arc::new(postgres::PostgresStore::connect(url, sealer, lock_wait).await?)
        }
    })
}

/// The store the app runs on, and what must live as long as it.
#[derive(Debug)]
pub struct Opened {
    pub store: Arc<dyn TokenStore>,
    /// SQLite: this process's claim on the database file.
    pub lock: Option<sqlite::ProcessLock>,
}

/// Opens the store for the app: SQLite is claimed for this process (a second
/// process on the same file is refused) and read through the in-process
/// [`cache::CachedStore`]; PostgreSQL, shared by replicas, is read on every
/// request so another replica's logout counts at once.
///
/// # Errors
/// As [`connect`]; [`StoreError::InUse`] when another process has the
/// SQLite file.
pub async fn open(
    url: &DatabaseUrl,
    sealer: Arc<Sealer>,
    lock_wait: Duration,
) -> Result<Opened, StoreError> {
    match url {
        DatabaseUrl::Sqlite(raw) => {
            let lock = sqlite::ProcessLock::acquire(raw)?;
            let store = connect_to(url, sealer, lock_wait).await?;
            Ok(Opened {
                store: Arc::new(cache::CachedStore::new(store)),
                lock: Some(lock),
            })
        }
        DatabaseUrl::Postgres(_) => Ok(Opened {
            store: connect_to(url, sealer, lock_wait).await?,
            lock: None,
        }),
    }
}
