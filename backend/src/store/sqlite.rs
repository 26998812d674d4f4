//! The single-machine store: SQLite in WAL mode through sqlx, with the
//! migrations in `backend/migrations/sqlite` embedded in the binary.
//!
//! One process per database file: the refresh guard here is optimistic (the
//! write applies only if the row still holds the generation that was read),
//! which keeps a logout during a refresh from bringing the session back. The
//! in-process single flight in `crate::tokens` keeps refreshes to one per
//! session; cross-process locking is the PostgreSQL store's job.

use super::codec::{self, PendingRow, SessionRow};
use super::seal::Sealer;
use super::{RefreshGuard, RefreshOutcome, SessionRecord, StoreError, TokenStore};
use crate::session::SessionKey;
use crate::session::pending::PendingLogin;
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{FromRow, Row, SqlitePool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    sealer: Arc<Sealer>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating the file and its folder if missing) and migrates.
    ///
    /// # Errors
    /// The database cannot be opened or migrated.
    pub async fn connect(url: &str, sealer: Arc<Sealer>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let path = options.get_filename();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, sealer })
    }

    fn session_row(row: &SqliteRow) -> Result<SessionRow, sqlx::Error> {
        SessionRow::from_row(row)
    }

    async fn load_row(&self, key: &SessionKey) -> Result<Option<SessionRow>, StoreError> {
        let row = sqlx::query(
            "SELECT key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at
             FROM sessions WHERE session_key = ?",
        )
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Self::session_row).transpose()?)
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        match self.load_row(key).await? {
            Some(row) => codec::open_session(&self.sealer, key, row),
            None => Ok(None),
        }
    }

    async fn save(&self, key: &SessionKey, record: &SessionRecord) -> Result<(), StoreError> {
        let row = codec::seal_session(&self.sealer, key, record);
        sqlx::query(
            "INSERT INTO sessions
               (session_key, key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
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

    async fn delete(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM sessions WHERE session_key = ?
             RETURNING key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at",
        )
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match row.as_ref().map(Self::session_row).transpose()? {
            Some(row) => codec::open_session(&self.sealer, key, row),
            None => Ok(None),
        }
    }

    async fn touch(&self, key: &SessionKey, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE session_key = ?")
            .bind(now)
            .bind(key.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn begin_refresh(&self, key: &SessionKey) -> Result<Box<dyn RefreshGuard>, StoreError> {
        let current = self.load(key).await?;
        Ok(Box::new(SqliteRefresh {
            store: self.clone(),
            key: key.clone(),
            current,
        }))
    }

    async fn put_pending(&self, login: &PendingLogin) -> Result<(), StoreError> {
        let row = codec::seal_pending(&self.sealer, login);
        sqlx::query(
            "INSERT INTO pending_logins (state_key, browser_key, key_id, sealed, expires_at)
             VALUES (?, ?, ?, ?, ?)",
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
            "DELETE FROM pending_logins WHERE state_key = ?
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
        let done = sqlx::query("DELETE FROM pending_logins WHERE expires_at < ?")
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
             FROM sessions WHERE last_seen_at < ? ORDER BY last_seen_at LIMIT ?",
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

/// Optimistic guard: the outcome applies only if the row still holds the
/// generation that was read.
struct SqliteRefresh {
    store: SqliteStore,
    key: SessionKey,
    current: Option<SessionRecord>,
}

#[async_trait]
impl RefreshGuard for SqliteRefresh {
    fn current(&self) -> Option<&SessionRecord> {
        self.current.as_ref()
    }

    async fn finish(self: Box<Self>, outcome: RefreshOutcome) -> Result<bool, StoreError> {
        let Some(read) = &self.current else {
            return Ok(matches!(outcome, RefreshOutcome::Keep));
        };
        match outcome {
            RefreshOutcome::Keep => Ok(true),
            RefreshOutcome::Delete => {
                sqlx::query("DELETE FROM sessions WHERE session_key = ? AND generation = ?")
                    .bind(self.key.as_str())
                    .bind(read.generation)
                    .execute(&self.store.pool)
                    .await?;
                Ok(true)
            }
            RefreshOutcome::Replace(record) => {
                let row = codec::seal_session(&self.store.sealer, &self.key, &record);
                let done = sqlx::query(
                    "UPDATE sessions SET key_id = ?, sealed = ?, user_id = ?, expires_at = ?,
                       has_refresh = ?, generation = ?, last_seen_at = ?
                     WHERE session_key = ? AND generation = ?",
                )
                .bind(&row.key_id)
                .bind(&row.sealed)
                .bind(&row.user_id)
                .bind(row.expires_at)
                .bind(row.has_refresh)
                .bind(row.generation)
                .bind(row.last_seen_at)
                .bind(self.key.as_str())
                .bind(read.generation)
                .execute(&self.store.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    }
}
