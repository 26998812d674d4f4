//! The SQL store, written once for every database it runs on.
//!
//! [`SqlStore`] holds a sqlx pool of one database and implements
//! [`TokenStore`] with the same statements on each: they use `$n`
//! placeholders, which PostgreSQL and SQLite both read. What truly differs
//! between the two is a [`Dialect`]: whether a refresh locks the session row
//! and how `touch` treats a row being refreshed. Opening a pool (file
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
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// What one database does differently. Implemented by sqlx's database
/// types, so a store is `SqlStore<Sqlite>` or `SqlStore<Postgres>`.
pub trait Dialect: Database {
    /// Appended to the `SELECT` that starts a refresh. With a lock, the
    /// refresh reads and writes in one transaction that holds the row;
    /// without one, the write applies only if the row still holds the
    /// generation that was read (optimistic).
    const LOCK_FOR_REFRESH: Option<&'static str>;

    /// The `touch` statement: `$1` the time, `$2` the session key.
    const TOUCH: &'static str;

    /// Rows a statement changed (sqlx has no trait for it).
    fn rows_affected(done: &Self::QueryResult) -> u64;
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
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            sealer: Arc::clone(&self.sealer),
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
        Self { pool, sealer }
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
        let query = |sql| {
            sqlx::query_as::<DB, SessionRow>(sqlx::AssertSqlSafe(sql)).bind(key.as_str().to_owned())
        };
        let (tx, current) = match DB::LOCK_FOR_REFRESH {
            None => (
                None,
                self.open(
                    key,
                    query(LOAD.to_owned()).fetch_optional(&self.pool).await?,
                )?,
            ),
            Some(lock) => {
                let mut tx = self.pool.begin().await?;
                let row = query(format!("{LOAD} {lock}"))
                    .fetch_optional(&mut *tx)
                    .await?;
                let current = self.open(key, row)?;
                // Nothing to refresh: let go of the lock (if a row that
                // cannot be opened was locked) straight away.
                if current.is_some() {
                    (Some(tx), current)
                } else {
                    tx.rollback().await?;
                    (None, None)
                }
            }
        };
        let read = current.as_ref().map_or(0, |r| r.generation);
        let (store, key) = (self.clone(), key.clone());
        let finish: Finish = Box::new(move |outcome| {
            async move {
                let is_replace = matches!(outcome, RefreshOutcome::Replace(_));
                let statement = match outcome {
                    RefreshOutcome::Keep => None,
                    RefreshOutcome::Delete => Some(
                        sqlx::query::<DB>(DELETE_GENERATION)
                            .bind(key.as_str().to_owned())
                            .bind(read),
                    ),
                    RefreshOutcome::Replace(record) => {
                        let row = codec::seal_session(&store.sealer, &key, &record);
                        Some(
                            sqlx::query::<DB>(REPLACE)
                                .bind(row.key_id)
                                .bind(row.sealed)
                                .bind(row.user_id)
                                .bind(row.expires_at)
                                .bind(row.has_refresh)
                                .bind(row.generation)
                                .bind(row.last_seen_at)
                                .bind(row.obtained_at)
                                .bind(key.as_str().to_owned())
                                .bind(read),
                        )
                    }
                };
                let affected = match (statement, tx) {
                    (None, Some(tx)) => {
                        tx.commit().await?;
                        return Ok(true);
                    }
                    (None, None) => return Ok(true),
                    (Some(statement), Some(mut tx)) => {
                        let done = statement.execute(&mut *tx).await?;
                        tx.commit().await?;
                        DB::rows_affected(&done)
                    }
                    (Some(statement), None) => {
                        DB::rows_affected(&statement.execute(&store.pool).await?)
                    }
                };
                // A delete that found the row gone still ended the session.
                Ok(!is_replace || affected == 1)
            }
            .boxed()
        });
        Ok(Box::new(SqlRefresh { current, finish }))
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

/// A session taken for refreshing: with a locking dialect, in a transaction
/// holding the row until `finish` commits or the guard is dropped (rolled
/// back when the pool takes the connection back).
struct SqlRefresh {
    current: Option<SessionRecord>,
    finish: Finish,
}

#[async_trait]
impl RefreshGuard for SqlRefresh {
    fn current(&self) -> Option<&SessionRecord> {
        self.current.as_ref()
    }

    async fn finish(self: Box<Self>, outcome: RefreshOutcome) -> Result<bool, StoreError> {
        if self.current.is_none() {
            return Ok(matches!(outcome, RefreshOutcome::Keep));
        }
        (self.finish)(outcome).await
    }
}
