//! The SQL store, written once for every database it runs on.
//!
//! [`SqlStore`] holds a sqlx pool of one database and implements
//! [`TokenStore`] with the same statements on each: they use `$n`
//! placeholders, which PostgreSQL and SQLite both read. What truly differs
//! between the two is a [`Dialect`]: whether a refresh holds the session row
//! with a lease ([`LeaseSql`]; PostgreSQL, several processes) or writes
//! optimistically (SQLite, one process), and how `touch` is written. Opening a pool (file
//! options, connection bounds) lives beside each dialect in
//! [`super::sqlite`] and [`super::postgres`]; sealing rows in
//! [`super::codec`].

use super::codec::{self, PendingRow, SessionRow};
use super::seal::Sealer;
use super::{RefreshGuard, RefreshOutcome, SessionRecord, StoreError, TokenStore};
use crate::session::SessionKey;
use crate::session::pending::PendingLogin;
use async_trait::async_trait;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// First pause between attempts to take a lease held elsewhere; doubles up
/// to [`LEASE_POLL_MAX`].
const LEASE_POLL_FIRST: Duration = Duration::from_millis(25);
const LEASE_POLL_MAX: Duration = Duration::from_millis(250);

/// What one database does differently. Implemented by sqlx's database
/// types, so a store is `SqlStore<Sqlite>` or `SqlStore<Postgres>`.
pub trait Dialect: Database {
    /// How a refresh holds its session across processes. `None`: it does
    /// not (one process owns the database); the write applies only if the
    /// row still holds the generation that was read (optimistic). `Some`: a
    /// lease on the row, taken and given back by short autocommitted
    /// statements, so no connection is held while the token endpoint
    /// answers.
    const LEASE: Option<LeaseSql>;

    /// The `touch` statement: `$1` the time, `$2` the session key.
    const TOUCH: &'static str;

    /// Rows a statement changed (sqlx has no trait for it).
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

/// The statements of a refresh lease (see [`super::postgres`] for why a
/// lease). Every one names the lease's owner, a random value per guard, so
/// a holder whose lease expired and was taken over writes nothing.
#[derive(Debug, Clone, Copy)]
pub struct LeaseSql {
    /// Takes the lease and returns the row: `$1` the session key, `$2` the
    /// new owner, `$3` the lease's length in milliseconds, `$4` an owner
    /// whose lease this process kept after a failed write (or `NULL`). No
    /// row when the session is gone or another holder's lease runs.
    pub take: &'static str,
    /// Gives the lease back: `$1` the session key, `$2` the owner.
    pub release: &'static str,
    /// The shared `REPLACE` statement that also clears the lease: `$11` the
    /// owner.
    pub replace: &'static str,
    /// The shared `DELETE_GENERATION` statement, by the lease's owner: `$3`
    /// the owner.
    pub delete: &'static str,
}

/// Pending logins one browser may hold; a newer one drops the oldest.
pub const PENDING_PER_BROWSER: i64 = 5;

/// Rows an expired-login purge deletes per statement: small enough that
/// SQLite's write lock is held for a moment only.
pub const PURGE_BATCH: i64 = 500;

const LOAD: &str = "SELECT key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at, obtained_at
     FROM sessions WHERE session_key = $1";

const SAVE: &str = "INSERT INTO sessions
       (session_key, key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at, obtained_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (session_key) DO UPDATE SET
       key_id = excluded.key_id, sealed = excluded.sealed, user_id = excluded.user_id,
       expires_at = excluded.expires_at, has_refresh = excluded.has_refresh,
       generation = excluded.generation, last_seen_at = excluded.last_seen_at,
       obtained_at = excluded.obtained_at";

const DELETE: &str = "DELETE FROM sessions WHERE session_key = $1
     RETURNING key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at, obtained_at";

/// A refresh's write: applies only to the generation the refresh read (with
/// a row lock that is always so; without one it catches a logout or another
/// writer meanwhile).
const REPLACE: &str = "UPDATE sessions SET key_id = $1, sealed = $2, user_id = $3, expires_at = $4,
       has_refresh = $5, generation = $6, last_seen_at = $7, obtained_at = $8
     WHERE session_key = $9 AND generation = $10";

const DELETE_GENERATION: &str = "DELETE FROM sessions WHERE session_key = $1 AND generation = $2";

const PUT_PENDING: &str =
    "INSERT INTO pending_logins (state_key, browser_key, key_id, sealed, expires_at, issued_us)
     VALUES ($1, $2, $3, $4, $5, $6)";

/// Keeps the browser's newest [`PENDING_PER_BROWSER`] pending logins.
const TRIM_PENDING: &str = "DELETE FROM pending_logins WHERE browser_key = $1 AND state_key NOT IN
       (SELECT state_key FROM pending_logins WHERE browser_key = $1
        ORDER BY issued_us DESC, state_key DESC LIMIT $2)";

/// Single use, and only by the browser the login is bound to: a state
/// presented by another browser matches no row and the login stays.
const TAKE_PENDING: &str = "DELETE FROM pending_logins WHERE state_key = $1 AND browser_key = $2
     RETURNING state_key, browser_key, key_id, sealed, expires_at";

const PURGE_PENDING: &str = "DELETE FROM pending_logins WHERE state_key IN
       (SELECT state_key FROM pending_logins WHERE expires_at < $1 LIMIT $2)";

const IDLE: &str = "SELECT session_key, key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at, obtained_at
     FROM sessions WHERE last_seen_at < $1 ORDER BY last_seen_at LIMIT $2";

const COUNT: &str = "SELECT COUNT(*) FROM sessions";

/// A session row with its key, as the idle sweep lists them.
#[derive(sqlx::FromRow)]
struct KeyedSessionRow {
    session_key: String,
    #[sqlx(flatten)]
    row: SessionRow,
}

/// The store on one database.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
    sealer: Arc<Sealer>,
    /// How long a refresh lease lasts, and about how long a refresh waits
    /// for another holder's lease ([`Dialect::LEASE`] only).
    lease_for: Duration,
    /// Leases this process keeps after a refresh's write failed, by session
    /// key: the retry takes them over (and so extends them) while no other
    /// replica may refresh with the refresh token that was rotated out.
    kept: Arc<Mutex<HashMap<String, String>>>,
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            sealer: Arc::clone(&self.sealer),
            lease_for: self.lease_for,
            kept: Arc::clone(&self.kept),
        }
    }
}

impl<DB: Database> std::fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("database", &DB::NAME)
            .finish_non_exhaustive()
    }
}

impl<DB: Database> SqlStore<DB> {
    /// Wraps a pool that is already migrated.
    pub fn new(pool: Pool<DB>, sealer: Arc<Sealer>) -> Self {
        Self {
            pool,
            sealer,
            lease_for: Duration::from_secs(30),
            kept: Arc::default(),
        }
    }

    /// Sets how long a refresh lease lasts (and how long a refresh waits
    /// for one held elsewhere): the upstream timeout plus a margin.
    #[must_use]
    pub fn leasing_for(mut self, lease_for: Duration) -> Self {
        self.lease_for = lease_for.max(Duration::from_millis(1));
        self
    }

    fn kept_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic elsewhere cannot leave the map half-written: every use
        // is one insert, get or remove.
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pool, for what a dialect adds around the shared statements.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    fn open(
        &self,
        key: &SessionKey,
        row: Option<SessionRow>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        match row {
            Some(row) => codec::open_session(&self.sealer, key, row),
            None => Ok(None),
        }
    }
}

/// A strictly increasing microsecond stamp for pending logins issued by this
/// process (two in the same microsecond still order).
fn issued_us() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let previous = LAST.fetch_max(now, Ordering::Relaxed);
    if previous >= now {
        LAST.fetch_add(1, Ordering::Relaxed) + 1
    } else {
        now
    }
}

/// The session-row query `sql` with the session key bound to `$1`.
macro_rules! by_key {
    ($sql:expr, $key:expr) => {
        sqlx::query_as::<DB, SessionRow>($sql).bind($key.as_str().to_owned())
    };
}

/// How a refresh takes its session, for each kind of [`Dialect::LEASE`].
impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> Option<String>: Encode<'a, DB> + Type<DB>,
    for<'a> Vec<u8>: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> bool: Encode<'a, DB> + Type<DB>,
    for<'r> SessionRow: FromRow<'r, DB::Row>,
{
    /// Without a lease: the write applies only to the generation read.
    fn optimistic_guard(&self, key: &SessionKey, current: Option<SessionRecord>) -> SqlRefresh {
        let read = current.as_ref().map_or(0, |r| r.generation);
        let (store, key) = (self.clone(), key.clone());
        let finish: Finish = Box::new(move |outcome| {
            async move {
                let affected = match outcome {
                    RefreshOutcome::Keep => return Ok(true),
                    RefreshOutcome::Delete => {
                        sqlx::query::<DB>(DELETE_GENERATION)
                            .bind(key.as_str().to_owned())
                            .bind(read)
                            .execute(&store.pool)
                            .await?;
                        // A delete that found the row gone still ended the
                        // session.
                        return Ok(true);
                    }
                    RefreshOutcome::Replace(record) => {
                        let row = codec::seal_session(&store.sealer, &key, &record);
                        let done = sqlx::query::<DB>(REPLACE)
                            .bind(row.key_id)
                            .bind(row.sealed)
                            .bind(row.user_id)
                            .bind(row.expires_at)
                            .bind(row.has_refresh)
                            .bind(row.generation)
                            .bind(row.last_seen_at)
                            .bind(row.obtained_at)
                            .bind(key.as_str().to_owned())
                            .bind(read)
                            .execute(&store.pool)
                            .await?;
                        DB::rows_affected(&done)
                    }
                };
                Ok(affected == 1)
            }
            .boxed()
        });
        SqlRefresh {
            current,
            finish: Some(finish),
            release_on_drop: None,
        }
    }

    /// Gives back the lease `owner` holds on `key`'s row.
    fn release(
        &self,
        key: &SessionKey,
        owner: &str,
        sql: LeaseSql,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        let pool = self.pool.clone();
        let (key, owner) = (key.as_str().to_owned(), owner.to_owned());
        async move {
            sqlx::query::<DB>(sql.release)
                .bind(key)
                .bind(owner)
                .execute(&pool)
                .await?;
            Ok(())
        }
        .boxed()
    }

    /// With a lease: one autocommitted statement takes it if it is free
    /// (or expired, or kept by this process after a failed write) and reads
    /// the row; otherwise the caller polls, backing off, for about as long
    /// as a lease lasts. The row read after a wait is the previous holder's
    /// write, so waiters use the winner's tokens.
    async fn leased_guard(
        &self,
        key: &SessionKey,
        sql: LeaseSql,
    ) -> Result<Box<dyn RefreshGuard>, StoreError> {
        let owner = format!("{:032x}", rand::random::<u128>());
        let lease_ms = i64::try_from(self.lease_for.as_millis()).unwrap_or(i64::MAX);
        // A little past one lease: a waiter queued behind a holder that
        // died still sees that lease expire and takes over.
        let deadline = Instant::now() + self.lease_for + 2 * LEASE_POLL_MAX;
        let mut pause = LEASE_POLL_FIRST;
        loop {
            let kept = self.kept_lock().get(key.as_str()).cloned();
            let taken = by_key!(sql.take, key)
                .bind(owner.clone())
                .bind(lease_ms)
                .bind(kept.clone())
                .fetch_optional(&self.pool)
                .await?;
            if let Some(row) = taken {
                if let Some(kept) = kept {
                    let mut leases = self.kept_lock();
                    if leases.get(key.as_str()) == Some(&kept) {
                        leases.remove(key.as_str());
                    }
                }
                return self.hold(key, owner, row, sql).await;
            }
            // Nothing taken: the session is gone, or leased elsewhere.
            if by_key!(LOAD, key)
                .fetch_optional(&self.pool)
                .await?
                .is_none()
            {
                return Ok(Box::new(SqlRefresh::empty()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::LockTimeout);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(LEASE_POLL_MAX);
        }
    }

    /// The guard over a row whose lease `owner` just took.
    async fn hold(
        &self,
        key: &SessionKey,
        owner: String,
        row: SessionRow,
        sql: LeaseSql,
    ) -> Result<Box<dyn RefreshGuard>, StoreError> {
        let current = match self.open(key, Some(row)) {
            Ok(Some(current)) => current,
            // Nothing to refresh (sealed with a forgotten key): give the
            // lease back straight away.
            Ok(None) => {
                self.release(key, &owner, sql).await?;
                return Ok(Box::new(SqlRefresh::empty()));
            }
            Err(e) => {
                tokio::spawn(self.release(key, &owner, sql));
                return Err(e);
            }
        };
        let read = current.generation;
        let on_drop = self.release(key, &owner, sql);
        let release_on_drop: Release = Box::new(move || {
            // Dropped without `finish` (a refresh that gave up): the lease
            // goes back now rather than when it expires.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(on_drop);
            }
        });
        let (store, key) = (self.clone(), key.clone());
        let finish: Finish = Box::new(move |outcome| {
            async move {
                match outcome {
                    RefreshOutcome::Keep => {
                        store.release(&key, &owner, sql).await?;
                        Ok(true)
                    }
                    RefreshOutcome::Delete => {
                        sqlx::query::<DB>(sql.delete)
                            .bind(key.as_str().to_owned())
                            .bind(read)
                            .bind(owner)
                            .execute(&store.pool)
                            .await?;
                        Ok(true)
                    }
                    RefreshOutcome::Replace(record) => {
                        let row = codec::seal_session(&store.sealer, &key, &record);
                        let written = sqlx::query::<DB>(sql.replace)
                            .bind(row.key_id)
                            .bind(row.sealed)
                            .bind(row.user_id)
                            .bind(row.expires_at)
                            .bind(row.has_refresh)
                            .bind(row.generation)
                            .bind(row.last_seen_at)
                            .bind(row.obtained_at)
                            .bind(key.as_str().to_owned())
                            .bind(read)
                            .bind(owner.clone())
                            .execute(&store.pool)
                            .await;
                        match written {
                            // Applies to nothing after a logout (the row is
                            // gone) or once another holder took over.
                            Ok(done) => Ok(DB::rows_affected(&done) == 1),
                            // The lease stays: the write is retried with a
                            // new guard, which takes this lease over, and no
                            // other replica refreshes meanwhile with the
                            // refresh token just rotated out.
                            Err(e) => {
                                store.kept_lock().insert(key.as_str().to_owned(), owner);
                                Err(e.into())
                            }
                        }
                    }
                }
            }
            .boxed()
        });
        Ok(Box::new(SqlRefresh {
            current: Some(current),
            finish: Some(finish),
            release_on_drop: Some(release_on_drop),
        }))
    }
}

#[async_trait]
impl<DB> TokenStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> Option<String>: Encode<'a, DB> + Type<DB>,
    for<'a> Vec<u8>: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> bool: Encode<'a, DB> + Type<DB>,
    for<'r> SessionRow: FromRow<'r, DB::Row>,
    for<'r> KeyedSessionRow: FromRow<'r, DB::Row>,
    for<'r> PendingRow: FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query::<DB>("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let row = by_key!(LOAD, key).fetch_optional(&self.pool).await?;
        self.open(key, row)
    }

    async fn save(&self, key: &SessionKey, record: &SessionRecord) -> Result<(), StoreError> {
        let row = codec::seal_session(&self.sealer, key, record);
        sqlx::query::<DB>(SAVE)
            .bind(key.as_str().to_owned())
            .bind(row.key_id)
            .bind(row.sealed)
            .bind(row.user_id)
            .bind(row.expires_at)
            .bind(row.has_refresh)
            .bind(row.generation)
            .bind(row.created_at)
            .bind(row.last_seen_at)
            .bind(row.obtained_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let row = by_key!(DELETE, key).fetch_optional(&self.pool).await?;
        self.open(key, row)
    }

    async fn touch(&self, key: &SessionKey, now: i64) -> Result<(), StoreError> {
        sqlx::query::<DB>(DB::TOUCH)
            .bind(now)
            .bind(key.as_str().to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn begin_refresh(&self, key: &SessionKey) -> Result<Box<dyn RefreshGuard>, StoreError> {
        match DB::LEASE {
            None => {
                let row = by_key!(LOAD, key).fetch_optional(&self.pool).await?;
                let current = self.open(key, row)?;
                Ok(Box::new(self.optimistic_guard(key, current)))
            }
            Some(sql) => self.leased_guard(key, sql).await,
        }
    }

    async fn put_pending(&self, login: &PendingLogin) -> Result<(), StoreError> {
        let row = codec::seal_pending(&self.sealer, login);
        let mut tx = self.pool.begin().await?;
        sqlx::query::<DB>(PUT_PENDING)
            .bind(row.state_key)
            .bind(row.browser_key.clone())
            .bind(row.key_id)
            .bind(row.sealed)
            .bind(row.expires_at)
            .bind(issued_us())
            .execute(&mut *tx)
            .await?;
        sqlx::query::<DB>(TRIM_PENDING)
            .bind(row.browser_key)
            .bind(PENDING_PER_BROWSER)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_pending(
        &self,
        state_key: &str,
        browser_key: &str,
    ) -> Result<Option<PendingLogin>, StoreError> {
        let row = sqlx::query_as::<DB, PendingRow>(TAKE_PENDING)
            .bind(state_key.to_owned())
            .bind(browser_key.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => codec::open_pending(&self.sealer, row),
            None => Ok(None),
        }
    }

    async fn purge_pending(&self, now: i64) -> Result<u64, StoreError> {
        let mut purged = 0;
        loop {
            let done = sqlx::query::<DB>(PURGE_PENDING)
                .bind(now)
                .bind(PURGE_BATCH)
                .execute(&self.pool)
                .await?;
            let n = DB::rows_affected(&done);
            purged += n;
            if n < PURGE_BATCH.unsigned_abs() {
                return Ok(purged);
            }
            // Let logins and refreshes write between batches.
            tokio::task::yield_now().await;
        }
    }

    async fn idle_sessions(
        &self,
        seen_before: i64,
        limit: u32,
    ) -> Result<Vec<(SessionKey, Option<SessionRecord>)>, StoreError> {
        let rows = sqlx::query_as::<DB, KeyedSessionRow>(IDLE)
            .bind(seen_before)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for KeyedSessionRow { session_key, row } in rows {
            let key = SessionKey::from_stored(session_key);
            let record = codec::open_session(&self.sealer, &key, row)?;
            out.push((key, record));
        }
        Ok(out)
    }

    async fn count_sessions(&self) -> Result<u64, StoreError> {
        let (n,) = sqlx::query_as::<DB, (i64,)>(COUNT)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Writes a refresh's outcome; built by `begin_refresh`, where the
/// database's bounds are known, so the guard itself is not generic.
type Finish =
    Box<dyn FnOnce(RefreshOutcome) -> BoxFuture<'static, Result<bool, StoreError>> + Send>;

/// Gives a lease back when its guard is dropped without `finish`.
type Release = Box<dyn FnOnce() + Send>;

/// A session taken for refreshing: with a lease, the row is held by it
/// until `finish` writes and clears it, the guard is dropped (released in
/// the background), or it expires.
struct SqlRefresh {
    current: Option<SessionRecord>,
    finish: Option<Finish>,
    release_on_drop: Option<Release>,
}

impl SqlRefresh {
    /// No session: nothing is held and nothing can be written.
    fn empty() -> Self {
        Self {
            current: None,
            finish: None,
            release_on_drop: None,
        }
    }
}

impl Drop for SqlRefresh {
    fn drop(&mut self) {
        if let Some(release) = self.release_on_drop.take() {
            release();
        }
    }
}

#[async_trait]
impl RefreshGuard for SqlRefresh {
    fn current(&self) -> Option<&SessionRecord> {
        self.current.as_ref()
    }

    async fn finish(mut self: Box<Self>, outcome: RefreshOutcome) -> Result<bool, StoreError> {
        // `finish` releases or keeps the lease itself.
        self.release_on_drop = None;
        match (self.current.is_some(), self.finish.take()) {
            (true, Some(finish)) => finish(outcome).await,
            _ => Ok(matches!(outcome, RefreshOutcome::Keep)),
        }
    }
}
