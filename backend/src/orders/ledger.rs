//! The cross-replica half of exactly-once: the `order_ledger` table, in
//! SQLite and in PostgreSQL (migrations `0002_orders.sql`).
//!
//! # Claiming
//!
//! [`Ledger::claim`] is one upsert: it inserts an `in_flight` row owned by
//! the caller, or takes over an existing row only when that row has expired
//! (24 h), its lease ran out (the replica that held it died or hung), or it
//! records an `unknown` outcome the caller did not itself wait on. Both
//! databases run an `INSERT … ON CONFLICT DO UPDATE … WHERE` atomically
//! against concurrent inserts of the same key, so of any number of replicas
//! exactly one gets the row back from `RETURNING`; the others read the row
//! and either replay its definite answer or wait for it.
//!
//! A row is only ever changed by its owner (every later write checks
//! `owner`), so an attempt whose lease was taken over cannot overwrite the
//! newer attempt's outcome. No connection is held while the order is with
//! TradeStation: waiting replicas poll the row (see `super`), which costs a
//! short query per poll instead of a pool connection per order in flight.
//!
//! Answers are sealed with the store's [`Sealer`], bound to their row's key,
//! like session tokens: they hold account numbers and order ids.

use super::Answer;
use crate::store::StoreError;
use crate::store::seal::Sealer;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// What a claim found.
#[derive(Debug, Clone)]
pub enum Claim {
    /// The caller owns the key now and forwards the order.
    Claimed,
    /// A definite answer is recorded: replay it.
    Done(Answer),
    /// Another attempt, by `owner`, is in flight.
    InFlight { owner: String },
    /// The attempt the caller waited on ended with an unknown outcome
    /// (`status` is what that attempt answered: 502 or 504).
    Unknown { status: u16 },
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The order ledger over the app's database.
#[derive(Clone)]
pub struct Ledger {
    pool: Pool,
    sealer: Arc<Sealer>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        };
        f.debug_struct("Ledger").field("database", &kind).finish()
    }
}

/// Runs the same statement on whichever pool the ledger has (placeholders
/// are `$N`, which both databases read).
macro_rules! on_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

type Row = (String, String, Option<i64>, Option<String>, Option<Vec<u8>>);

impl Ledger {
    /// Opens a small pool of its own on `url` (`DATABASE_URL`). The token
    /// store must have been opened first: its migrations create the table.
    ///
    /// # Errors
    /// The URL is neither SQLite nor PostgreSQL, or the database cannot be
    /// reached.
    pub async fn connect(url: &str, sealer: Arc<Sealer>) -> Result<Self, StoreError> {
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(5));
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_with(options)
                    .await?,
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?,
            )
        } else {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                "DATABASE_URL must start with sqlite:, postgres:// or postgresql://".into(),
            )));
        };
        Ok(Self { pool, sealer })
    }

    /// Claims `key` for `owner` until `lease_until`, or says who holds it.
    /// `waited_on` is the owner of the attempt this caller has been waiting
    /// for, if any: its unknown outcome is reported rather than taken over.
    ///
    /// # Errors
    /// The database fails.
    pub async fn claim(
        &self,
        key: &str,
        owner: &str,
        now: i64,
        lease_until: i64,
        expires_at: i64,
        waited_on: Option<&str>,
    ) -> Result<Claim, StoreError> {
        // A few rounds: a row can change between the upsert and the read.
        for _ in 0..4 {
            let claimed: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(
                "INSERT INTO order_ledger
                   (order_key, state, owner, lease_until, expires_at, status, key_id, sealed)
                 VALUES ($1, 'in_flight', $2, $3, $4, NULL, NULL, NULL)
                 ON CONFLICT (order_key) DO UPDATE SET
                   state = 'in_flight', owner = excluded.owner,
                   lease_until = excluded.lease_until, expires_at = excluded.expires_at,
                   status = NULL, key_id = NULL, sealed = NULL
                 WHERE order_ledger.expires_at <= $5
                    OR (order_ledger.state = 'in_flight' AND order_ledger.lease_until <= $5)
                    OR (order_ledger.state = 'unknown' AND order_ledger.owner <> $6)
                 RETURNING owner",
            )
            .bind(key)
            .bind(owner)
            .bind(lease_until)
            .bind(expires_at)
            .bind(now)
            .bind(waited_on.unwrap_or(""))
            .fetch_optional(pool)
            .await?);
            if claimed.is_some_and(|(o,)| o == owner) {
                return Ok(Claim::Claimed);
            }
            let row: Option<Row> = on_pool!(self, pool => sqlx::query_as(
                "SELECT state, owner, status, key_id, sealed FROM order_ledger WHERE order_key = $1",
            )
            .bind(key)
            .fetch_optional(pool)
            .await?);
            let Some((state, holder, status, key_id, sealed)) = row else {
                continue;
            };
            match state.as_str() {
                "in_flight" => return Ok(Claim::InFlight { owner: holder }),
                "unknown" if waited_on == Some(holder.as_str()) => {
                    let status = status.and_then(|s| u16::try_from(s).ok()).unwrap_or(502);
                    return Ok(Claim::Unknown { status });
                }
                "done" => match self.open(key, key_id.as_deref(), sealed.as_deref()) {
                    Some(answer) => return Ok(Claim::Done(answer)),
                    None => {
                        // Sealed with a key no longer configured, or damaged:
                        // forgotten, so the order can be sent again
                        // (TradeStation refuses a confirm id it has seen).
                        tracing::warn!("a recorded order answer could not be opened; forgotten");
                        self.release_row(key, &holder, "done").await?;
                    }
                },
                _ => {}
            }
        }
        Ok(Claim::InFlight {
            owner: String::new(),
        })
    }

    fn open(&self, key: &str, key_id: Option<&str>, sealed: Option<&[u8]>) -> Option<Answer> {
        let plain = self.sealer.open(key_id?, &aad(key), sealed?).ok()?;
        Answer::decode(&plain)
    }

    /// Records the definite answer of `owner`'s attempt.
    ///
    /// # Errors
    /// The database fails.
    pub async fn finish(&self, key: &str, owner: &str, answer: &Answer) -> Result<(), StoreError> {
        let (key_id, sealed) = self.sealer.seal(&aad(key), &answer.encode());
        on_pool!(self, pool => sqlx::query(
            "UPDATE order_ledger SET state = 'done', status = $3, key_id = $4, sealed = $5
             WHERE order_key = $1 AND owner = $2",
        )
        .bind(key)
        .bind(owner)
        .bind(i64::from(answer.status))
        .bind(&key_id)
        .bind(&sealed)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Records that `owner`'s attempt ended with an unknown outcome.
    ///
    /// # Errors
    /// The database fails.
    pub async fn mark_unknown(
        &self,
        key: &str,
        owner: &str,
        status: u16,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE order_ledger SET state = 'unknown', status = $3
             WHERE order_key = $1 AND owner = $2",
        )
        .bind(key)
        .bind(owner)
        .bind(i64::from(status))
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Gives up `owner`'s claim: nothing was sent.
    ///
    /// # Errors
    /// The database fails.
    pub async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        self.release_row(key, owner, "in_flight").await
    }

    async fn release_row(&self, key: &str, owner: &str, state: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "DELETE FROM order_ledger WHERE order_key = $1 AND owner = $2 AND state = $3",
        )
        .bind(key)
        .bind(owner)
        .bind(state)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Deletes rows that expired before `now`.
    ///
    /// # Errors
    /// The database fails.
    pub async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let done = on_pool!(self, pool => sqlx::query(
            "DELETE FROM order_ledger WHERE expires_at <= $1",
        )
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done)
    }
}

/// Binds a sealed answer to its row.
fn aad(key: &str) -> Vec<u8> {
    format!("order_ledger:{key}").into_bytes()
}
