//! The multi-replica store: PostgreSQL through sqlx, with the migrations in
//! `backend/migrations/postgres` embedded in the binary and run at start-up.
//!
//! Rows have the same columns, statements and sealed format as the SQLite
//! store ([`super::sql`], [`super::codec`]), so the two differ only in how
//! they lock.
//!
//! # Locking
//!
//! A refresh holds its session with a lease on the row: two columns,
//! `refresh_lease_owner` (random per guard) and `refresh_lease_until` (on
//! the database's clock). [`TokenStore::begin_refresh`](super::TokenStore::begin_refresh)
//! takes it with one autocommitted `UPDATE … WHERE` the lease is free or
//! expired `… RETURNING` the row, so the connection goes back to the pool at
//! once and none is held while the token endpoint answers: with more slow
//! refreshes than pooled connections, `/health` and other sessions still
//! get one. A refresh that finds the lease held polls (25 ms doubling to
//! 250 ms) for about one lease; when it gets the lease it reads what the
//! previous holder wrote, so replicas that waited use the winner's tokens
//! instead of refreshing again.
//!
//! [`RefreshGuard::finish`](super::RefreshGuard::finish) writes with a
//! compare-and-set on the owner (and the generation read) and clears the
//! lease in the same statement. A logout simply deletes the row: the
//! refresher's write then applies to nothing and `finish` answers `false`,
//! so a logout is never undone. Dropping the guard gives the lease back in
//! the background. A replica that dies leaves its lease to expire after
//! `lock_wait` (the upstream timeout plus a margin), and another replica
//! takes over. A `finish` whose write fails keeps the lease: the token
//! manager retries the write with a new guard, which takes the kept lease
//! over (extending it), so no other replica refreshes meanwhile with the
//! refresh token that was just rotated out.
//!
//! Why not a row lock or an advisory lock: either lives in a session of the
//! server, so the holder must keep a connection (a pooled one, or a
//! dedicated one per refresh in flight) for the whole upstream call. With
//! the pool that starves everything else; with dedicated connections the
//! number of refreshes in flight is bounded by `max_connections` of the
//! server instead, and a connection that breaks mid-refresh silently drops
//! the lock while the refresh goes on. A lease is plain data: it costs no
//! connection, survives a reconnect, and its owner is checked on every
//! write.
//!
//! Every pooled connection runs with `lock_timeout` and
//! `idle_in_transaction_session_timeout` set to `lock_wait`: the row locks
//! the short statements take are bounded too.
//!
//! Start-up migrations run on a connection of their own without those
//! bounds; sqlx serialises them across replicas with an advisory lock.

use super::StoreError;
use super::seal::Sealer;
use super::sql::{Dialect, LeaseSql, SqlStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgQueryResult};
use sqlx::{Connection, PgConnection, Postgres};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per replica. A refresh holds one only for the moment of
/// each statement (see the module doc), never across the upstream call.
const MAX_CONNECTIONS: u32 = 16;

/// The database's clock in milliseconds: every replica's lease is measured
/// on one clock, whatever the replicas' own clocks say.
macro_rules! now_ms {
    () => {
        "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
    };
}

/// SQLSTATE `lock_not_available`: `lock_timeout` expired.
const LOCK_NOT_AVAILABLE: &str = "55P03";

pub type PostgresStore = SqlStore<Postgres>;

impl Dialect for Postgres {
    const LEASE: Option<LeaseSql> = Some(LeaseSql {
        take: concat!(
            "UPDATE sessions SET refresh_lease_owner = $2, refresh_lease_until = ",
            now_ms!(),
            " + $3
             WHERE session_key = $1 AND (refresh_lease_until IS NULL OR refresh_lease_until < ",
            now_ms!(),
            " OR refresh_lease_owner = $4)
             RETURNING key_id, sealed, user_id, expires_at, has_refresh, generation, created_at, last_seen_at, obtained_at"
        ),
        release: "UPDATE sessions SET refresh_lease_owner = NULL, refresh_lease_until = NULL
             WHERE session_key = $1 AND refresh_lease_owner = $2",
        replace: "UPDATE sessions SET key_id = $1, sealed = $2, user_id = $3, expires_at = $4,
               has_refresh = $5, generation = $6, last_seen_at = $7, obtained_at = $8,
               refresh_lease_owner = NULL, refresh_lease_until = NULL
             WHERE session_key = $9 AND generation = $10 AND refresh_lease_owner = $11",
        delete: "DELETE FROM sessions
             WHERE session_key = $1 AND generation = $2 AND refresh_lease_owner = $3",
    });
    /// Best effort: a row held by a refresh is skipped, not waited for.
    const TOUCH: &'static str = "UPDATE sessions SET last_seen_at = $1
         WHERE session_key = (SELECT session_key FROM sessions
                              WHERE session_key = $2 FOR UPDATE SKIP LOCKED)";

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }
}

impl StoreError {
    /// Whether the store gave up waiting for a refresh on another task or
    /// replica (its lease outlasted the wait), or PostgreSQL for a row lock.
    pub fn is_lock_timeout(&self) -> bool {
        match self {
            StoreError::LockTimeout => true,
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
    /// a lock and end a transaction left idle longer than that. A refresh
    /// lease lasts `lock_wait` too: pass the upstream timeout plus a margin,
    /// as a refresh holds it across its call to the token endpoint. The
    /// database must exist.
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
        Ok(Self::new(pool, sealer).leasing_for(lock_wait))
    }
}
