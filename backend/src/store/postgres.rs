//! The multi-replica store: PostgreSQL through sqlx, with the migrations in
//! `backend/migrations/postgres` embedded in the binary and run at start-up.
//!
//! Rows have the same columns and the same sealed format as the SQLite store
//! ([`super::codec`]), so the two differ only in how they lock.
//!
//! # Locking
//!
//! [`TokenStore::begin_refresh`] opens a transaction and takes the session
//! row's lock (`SELECT … FOR UPDATE`), then reads the row: whoever gets the
//! lock sees what the previous holder wrote, so replicas that waited use the
//! winner's tokens instead of refreshing again. [`RefreshGuard::finish`]
//! writes in that transaction and commits; dropping the guard rolls back.
//! The lock lives in the transaction, so it also ends when the holder's
//! connection does (a replica that dies releases it).
//!
//! Every pooled connection runs with `lock_timeout` and
//! `idle_in_transaction_session_timeout` set to the `lock_wait` given to
//! [`PostgresStore::connect`]: no statement waits longer than that for a
//! lock (it fails with [`StoreError::is_lock_timeout`]), and the server ends
//! a guard's transaction left idle longer than that, so a hung holder cannot
//! keep the lock either. `delete` and `save` of a session being refreshed wait
//! for the refresh to commit; `delete` then removes (and returns) the
//! refreshed row, so a logout is never undone by a refresh. `touch` skips a
//! row that is locked rather than wait for it.
//!
//! Start-up migrations run on a connection of their own without those
//! bounds; sqlx serialises them across replicas with an advisory lock.

use super::codec::{self, PendingRow, SessionRow};
use super::seal::Sealer;
use super::{RefreshGuard, RefreshOutcome, SessionRecord, StoreError, TokenStore};
use crate::session::SessionKey;
use crate::session::pending::PendingLogin;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, FromRow, PgConnection, PgPool, Postgres, Row, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per replica. A refresh in progress holds one for its whole
/// length (the upstream call included), and the in-process single flight
/// keeps that to one per session being refreshed.
const MAX_CONNECTIONS: u32 = 16;

/// SQLSTATE `lock_not_available`: `lock_timeout` expired.
const LOCK_NOT_AVAILABLE: &str = "55P03";

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sealer: Arc<Sealer>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl StoreError {
    /// Whether PostgreSQL gave up waiting for a lock (a refresh on another
    /// task or replica held the session longer than `lock_wait`).
    pub fn is_lock_timeout(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => {
                e.code().as_deref() == Some(LOCK_NOT_AVAILABLE)
            }
            _ => false,
        }
    }
}

impl PostgresStore {
    /// Connects, migrates (waiting for any replica migrating at the same
    /// time), and opens a pool whose connections wait at most `lock_wait` for
    /// a lock and end a transaction left idle longer than that. Pass the
    /// upstream timeout plus a margin: a refresh holds the lock across its
    /// call to the token endpoint. The database must exist.
    ///
    /// # Errors
    /// The URL does not parse, the server cannot be reached, or a migration
    /// fails.
    pub async fn connect(
        url: &str,
        sealer: Arc<Sealer>,
        lock_wait: Duration,
    ) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;

        let mut conn = PgConnection::connect_with(&options).await?;
        // `run_direct` rather than `run`: the future of `run` cannot be
        // proven `Send` (sqlx's `Acquire` lifetimes), which would keep this
        // constructor out of `tokio::spawn`.
        MIGRATOR.run_direct(None, &mut conn, false).await?;
        conn.close().await?;

        // 0 would mean "no limit" to PostgreSQL.
        let millis = lock_wait.as_millis().clamp(1, i32::MAX as u128);
        let bounded = options.options([
            ("lock_timeout", format!("{millis}ms")),
            ("idle_in_transaction_session_timeout", format!("{millis}ms")),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(lock_wait.max(Duration::from_secs(1)))
            .connect_with(bounded)
            .await?;
        Ok(Self { pool, sealer })
    }

    fn session_row(row: &PgRow) -> Result<SessionRow, sqlx::Error> {
        SessionRow::from_row(row)
    }

    fn open(
        &self,
        key: &SessionKey,
        row: Option<PgRow>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        match row.as_ref().map(Self::session_row).transpose()? {
            Some(row) => codec::open_session(&self.sealer, key, row),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at
             FROM sessions WHERE session_key = $1",
        )
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await?;
        self.open(key, row)
    }

    async fn save(&self, key: &SessionKey, record: &SessionRecord) -> Result<(), StoreError> {
        let row = codec::seal_session(&self.sealer, key, record);
        sqlx::query(
            "INSERT INTO sessions
               (session_key, key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (session_key) DO UPDATE SET
               key_id = excluded.key_id, sealed = excluded.sealed, user_id = excluded.user_id,
               expires_at = excluded.expires_at, has_refresh = excluded.has_refresh,
               generation = excluded.generation, last_seen_at = excluded.last_seen_at",
        )
        .bind(key.as_str())
        .bind(&row.key_id)
        .bind(&row.sealed)
        .bind(&row.user_id)
        .bind(row.expires_at)
        .bind(row.has_refresh)
        .bind(row.generation)
        .bind(row.created_at)
        .bind(row.last_seen_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Waits (at most `lock_wait`) for a refresh holding the row, then
    /// deletes what that refresh wrote and returns it.
    async fn delete(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM sessions WHERE session_key = $1
             RETURNING key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at",
        )
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await?;
        self.open(key, row)
    }

    /// Best effort: a row held by a refresh is skipped, not waited for.
    async fn touch(&self, key: &SessionKey, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $1
             WHERE session_key = (SELECT session_key FROM sessions
                                  WHERE session_key = $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(now)
        .bind(key.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn begin_refresh(&self, key: &SessionKey) -> Result<Box<dyn RefreshGuard>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at
             FROM sessions WHERE session_key = $1 FOR UPDATE",
        )
        .bind(key.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let current = self.open(key, row)?;
        // Nothing to refresh: let go of the lock (if a row that cannot be
        // opened was locked) straight away.
        let tx = match current {
            Some(_) => Some(tx),
            None => {
                tx.rollback().await?;
                None
            }
        };
        Ok(Box::new(PostgresRefresh {
            tx,
            sealer: Arc::clone(&self.sealer),
            key: key.clone(),
            current,
        }))
    }

    async fn put_pending(&self, login: &PendingLogin) -> Result<(), StoreError> {
        let row = codec::seal_pending(&self.sealer, login);
        sqlx::query(
            "INSERT INTO pending_logins (state_key, browser_key, key_id, sealed, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.state_key)
        .bind(&row.browser_key)
        .bind(&row.key_id)
        .bind(&row.sealed)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_pending(&self, state_key: &str) -> Result<Option<PendingLogin>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM pending_logins WHERE state_key = $1
             RETURNING state_key, browser_key, key_id, sealed, expires_at",
        )
        .bind(state_key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let row = PendingRow::from_row(&row)?;
        codec::open_pending(&self.sealer, row)
    }

    async fn purge_pending(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM pending_logins WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn idle_sessions(
        &self,
        seen_before: i64,
        limit: u32,
    ) -> Result<Vec<(SessionKey, Option<SessionRecord>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT session_key, key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at
             FROM sessions WHERE last_seen_at < $1 ORDER BY last_seen_at LIMIT $2",
        )
        .bind(seen_before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let key = SessionKey::from_stored(row.try_get("session_key")?);
            let record = codec::open_session(&self.sealer, &key, Self::session_row(row)?)?;
            out.push((key, record));
        }
        Ok(out)
    }

    async fn count_sessions(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Holds the session row's lock in an open transaction until `finish`
/// commits or the guard is dropped (rolled back when the pool takes the
/// connection back).
struct PostgresRefresh {
    /// `None` when there was no session to hold.
    tx: Option<Transaction<'static, Postgres>>,
    sealer: Arc<Sealer>,
    key: SessionKey,
    current: Option<SessionRecord>,
}

#[async_trait]
impl RefreshGuard for PostgresRefresh {
    fn current(&self) -> Option<&SessionRecord> {
        self.current.as_ref()
    }

    async fn finish(mut self: Box<Self>, outcome: RefreshOutcome) -> Result<bool, StoreError> {
        let Some(mut tx) = self.tx.take() else {
            return Ok(matches!(outcome, RefreshOutcome::Keep));
        };
        let applied = match outcome {
            RefreshOutcome::Keep => true,
            RefreshOutcome::Delete => {
                sqlx::query("DELETE FROM sessions WHERE session_key = $1")
                    .bind(self.key.as_str())
                    .execute(&mut *tx)
                    .await?;
                true
            }
            RefreshOutcome::Replace(record) => {
                let row = codec::seal_session(&self.sealer, &self.key, &record);
                let done = sqlx::query(
                    "UPDATE sessions SET key_id = $1, sealed = $2, user_id = $3, expires_at = $4,
                       has_refresh = $5, generation = $6, last_seen_at = $7
                     WHERE session_key = $8",
                )
                .bind(&row.key_id)
                .bind(&row.sealed)
                .bind(&row.user_id)
                .bind(row.expires_at)
                .bind(row.has_refresh)
                .bind(row.generation)
                .bind(row.last_seen_at)
                .bind(self.key.as_str())
                .execute(&mut *tx)
                .await?;
                // Always 1: the row is locked, nobody can have removed it.
                done.rows_affected() == 1
            }
        };
        tx.commit().await?;
        Ok(applied)
    }
}
