//! The multi-replica store: PostgreSQL through sqlx, with the migrations in
//! `backend/migrations/postgres` embedded in the binary and run at start-up.
//!
//! Rows have the same columns, statements and sealed format as the SQLite
//! store ([`super::sql`], [`super::codec`]), so the two differ only in how
//! they lock.
//!
//! # Locking
//!
//! [`TokenStore::begin_refresh`](super::TokenStore::begin_refresh) opens a
//! transaction and takes the session row's lock (`SELECT … FOR UPDATE`),
//! then reads the row: whoever gets the lock sees what the previous holder
//! wrote, so replicas that waited use the winner's tokens instead of
//! refreshing again. [`RefreshGuard::finish`](super::RefreshGuard::finish)
//! writes in that transaction and commits; dropping the guard rolls back.
//! The lock lives in the transaction, so it also ends when the holder's
//! connection does (a replica that dies releases it).
//!
//! Every pooled connection runs with `lock_timeout` and
//! `idle_in_transaction_session_timeout` set to the `lock_wait` given to
//! [`SqlStore::connect`]: no statement waits longer than that for a
//! lock (it fails with [`StoreError::is_lock_timeout`]), and the server ends
//! a guard's transaction left idle longer than that, so a hung holder cannot
//! keep the lock either. `delete` and `save` of a session being refreshed wait
//! for the refresh to commit; `delete` then removes (and returns) the
//! refreshed row, so a logout is never undone by a refresh. `touch` skips a
//! row that is locked rather than wait for it.
//!
//! Start-up migrations run on a connection of their own without those
//! bounds; sqlx serialises them across replicas with an advisory lock.

use super::StoreError;
use super::seal::Sealer;
use super::sql::{Dialect, SqlStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgQueryResult};
use sqlx::{Connection, PgConnection, Postgres};
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

pub type PostgresStore = SqlStore<Postgres>;

impl Dialect for Postgres {
    const LOCK_FOR_REFRESH: Option<&'static str> = Some("FOR UPDATE");
    /// Best effort: a row held by a refresh is skipped, not waited for.
    const TOUCH: &'static str = "UPDATE sessions SET last_seen_at = $1
         WHERE session_key = (SELECT session_key FROM sessions
                              WHERE session_key = $2 FOR UPDATE SKIP LOCKED)";

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
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

impl SqlStore<Postgres> {
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
        Ok(Self::new(pool, sealer))
    }
}
