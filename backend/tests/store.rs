//! Store contract tests: one behaviour suite run against every `TokenStore`
//! backend, after `route_tests!` in tower-sessions-stores.
//!
//! [`store_contract_tests!`] expands the shared bodies in [`contract`] once
//! per backend: SQLite on a temporary file, and PostgreSQL on a fresh
//! database created for each test from `TEST_DATABASE_URL` (which
//! `scripts/test.sh` sets from a throwaway cluster, `scripts/pg.sh`). Without
//! that variable the PostgreSQL variants fail, unless `SKIP_POSTGRES_TESTS=1`
//! skips them, each saying `skipped: <test name>` on stderr.
//!
//! [`postgres_locking`] covers what only the PostgreSQL store promises: one
//! refresh per session across replicas, bounded waits, leases that expire
//! when their holder dies or is kept by a write that failed, and no pooled
//! connection held by a refresh in flight. Waiting is ordered with oneshot
//! channels and by watching the lease columns and `pg_stat_activity`; where
//! a test shows that something does *not* happen while a lease is held it
//! looks for a bounded time (300 ms), never sleeps as synchronisation.

use backend::secret::{AccessToken, EncryptionKey, Nonce, PkceVerifier, RefreshToken};
use backend::session::pending::PendingLogin;
use backend::session::{SessionId, SessionKey, hash_hex, random_token};
use backend::store::seal::Sealer;
use backend::store::{self, RefreshOutcome, SessionRecord, TokenSet, TokenStore};
use sqlx::{Connection, PgConnection, Row};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Long enough never to fire in a passing test.
const LOCK_WAIT: Duration = Duration::from_secs(10);

fn sealer(current: u8, former: &[u8]) -> Arc<Sealer> {
    let former: Vec<EncryptionKey> = former
        .iter()
        .map(|b| EncryptionKey::new([*b; 32]))
        .collect();
    Arc::new(Sealer::new(&EncryptionKey::new([current; 32]), &former))
}

fn new_key() -> SessionKey {
    SessionId::generate().key()
}

/// A record whose tokens are unique to this call, so a raw row can be
/// searched for them.
fn record(generation: i64, last_seen_at: i64) -> SessionRecord {
    let tag = &random_token()[..12];
    SessionRecord {
        tokens: TokenSet {
            access: AccessToken::new(format!("access-{tag}-{generation}")),
            refresh: Some(RefreshToken::new(format!("refresh-{tag}-{generation}"))),
            expires_at: 1_700_000_000 + generation * 1200,
            obtained_at: 1_700_000_000 + generation * 1200 - 1200,
        },
        user_id: Some("user-42".to_owned()),
        generation,
        created_at: 1_000,
        last_seen_at,
    }
}

/// What a refresh writes: the next generation with new tokens.
fn refreshed(previous: &SessionRecord) -> SessionRecord {
    let mut next = record(previous.generation + 1, previous.last_seen_at + 1);
    next.created_at = previous.created_at;
    next
}

#[track_caller]
fn assert_same(got: &SessionRecord, want: &SessionRecord) {
    assert_eq!(
        got.tokens.access.expose_secret(),
        want.tokens.access.expose_secret()
    );
    assert_eq!(
        got.tokens.refresh.as_ref().map(|r| r.expose_secret()),
        want.tokens.refresh.as_ref().map(|r| r.expose_secret())
    );
    assert_eq!(got.tokens.expires_at, want.tokens.expires_at);
    assert_eq!(got.tokens.obtained_at, want.tokens.obtained_at);
    assert_eq!(got.user_id, want.user_id);
    assert_eq!(got.generation, want.generation);
    assert_eq!(got.created_at, want.created_at);
    assert_eq!(got.last_seen_at, want.last_seen_at);
}

fn pending(expires_at: i64) -> PendingLogin {
    PendingLogin {
        state_key: hash_hex(&random_token()),
        browser_key: hash_hex(&random_token()),
        verifier: PkceVerifier::new(random_token()),
        nonce: Nonce::new(random_token()),
        return_to: "/accounts?tab=orders".to_owned(),
        expires_at,
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A session row as the database holds it.
#[derive(Debug)]
struct RawSession {
    session_key: String,
    key_id: String,
    sealed: Vec<u8>,
    user_id: Option<String>,
}

impl RawSession {
    fn mentions(&self, needle: &str) -> bool {
        self.session_key.contains(needle)
            || self.key_id.contains(needle)
            || self.user_id.as_deref().is_some_and(|u| u.contains(needle))
            || contains(&self.sealed, needle)
    }
}

enum Backend {
    Sqlite {
        _dir: TempDir,
    },
    Postgres {
        /// `TEST_DATABASE_URL`: where databases are created and dropped.
        admin_url: String,
        database: String,
    },
}

/// One empty database of one backend, for one test.
struct Harness {
    url: String,
    backend: Backend,
}

impl Harness {
    async fn sqlite() -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}/tokens.db", dir.path().display());
        Some(Self {
            url,
            backend: Backend::Sqlite { _dir: dir },
        })
    }

    /// `None` when `TEST_DATABASE_URL` is not set and
    /// `SKIP_POSTGRES_TESTS=1`; a failure when neither is set.
    async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            // Never a silent pass without a database: fail, unless told to
            // skip, and then say which test was skipped.
            assert!(
                std::env::var("SKIP_POSTGRES_TESTS").as_deref() == Ok("1"),
                "TEST_DATABASE_URL is not set: PostgreSQL tests need it (scripts/test.sh \
                 starts a database), or SKIP_POSTGRES_TESTS=1 to skip them"
            );
            use std::io::Write;
            let test = std::thread::current().name().unwrap_or("?").to_owned();
            // Straight to stderr: the test harness captures `eprintln!`.
            let _ = writeln!(std::io::stderr(), "skipped: {test}");
            return None;
        };
        let database = format!("store_test_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        admin.close().await.ok();
        let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{database}"));
        Some(Self {
            url: url.into(),
            backend: Backend::Postgres {
                admin_url,
                database,
            },
        })
    }

    async fn store(&self, sealer: Arc<Sealer>) -> Arc<dyn TokenStore> {
        self.store_waiting(sealer, LOCK_WAIT).await
    }

    /// A store of its own (its own pool): another replica.
    async fn store_waiting(&self, sealer: Arc<Sealer>, lock_wait: Duration) -> Arc<dyn TokenStore> {
        store::connect(&self.url, sealer, lock_wait)
            .await
            .expect("store connects and migrates")
    }

    async fn raw_sessions(&self) -> Vec<RawSession> {
        const SQL: &str = "SELECT session_key, key_id, sealed, user_id FROM sessions";
        fn raw<R: Row>(row: &R) -> RawSession
        where
            for<'r> &'r str: sqlx::ColumnIndex<R>,
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            RawSession {
                session_key: row.get("session_key"),
                key_id: row.get("key_id"),
                sealed: row.get("sealed"),
                user_id: row.get("user_id"),
            }
        }
        match self.backend {
            Backend::Sqlite { .. } => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(SQL).fetch_all(&mut conn).await.unwrap();
                rows.iter().map(raw).collect()
            }
            Backend::Postgres { .. } => {
                let mut conn = PgConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(SQL).fetch_all(&mut conn).await.unwrap();
                rows.iter().map(raw).collect()
            }
        }
    }

    /// PostgreSQL: a connection to the admin database and this test's name.
    async fn admin(&self) -> (PgConnection, String) {
        let Backend::Postgres {
            admin_url,
            database,
        } = &self.backend
        else {
            panic!("PostgreSQL only");
        };
        let conn = PgConnection::connect(admin_url).await.unwrap();
        (conn, database.clone())
    }

    /// PostgreSQL: how many connections of this test's database sit in a
    /// transaction or wait for a lock (a refresh in flight holds neither).
    async fn held_connections(&self) -> i64 {
        let (mut admin, database) = self.admin().await;
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = $1
               AND (state LIKE 'idle in transaction%' OR wait_event_type = 'Lock')",
        )
        .bind(&database)
        .fetch_one(&mut admin)
        .await
        .unwrap()
    }

    /// PostgreSQL: the sessions whose refresh lease is held now.
    async fn leased_sessions(&self) -> i64 {
        let mut conn = PgConnection::connect(&self.url).await.unwrap();
        let n = sqlx::query_scalar(
            "SELECT count(*) FROM sessions WHERE refresh_lease_owner IS NOT NULL
               AND refresh_lease_until > (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.ok();
        n
    }

    async fn cleanup(self) {
        if let Backend::Postgres {
            admin_url,
            database,
        } = &self.backend
        {
            let mut admin = PgConnection::connect(admin_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await
            .expect("drop the test database");
        }
    }
}

/// Expands every shared body in [`contract`] as a test against one backend.
macro_rules! store_contract_tests {
    ($backend:ident, $harness:path) => {
        store_contract_tests!(@cases $backend, $harness;
            ping_answers,
            save_and_load_roundtrip,
            tokens_are_not_readable_in_the_row,
            session_key_is_stored_only_as_its_hash,
            delete_returns_the_record,
            touch_and_idle_sessions,
            pending_login_is_single_use,
            a_browser_keeps_only_its_five_newest_pending_logins,
            another_browser_presenting_the_state_gets_nothing_and_the_login_stays,
            purge_pending_deletes_past_one_batch,
            purge_pending_removes_only_expired,
            count_sessions_counts_rows,
            row_sealed_with_a_forgotten_key_loads_as_none,
            rotated_key_opens_and_next_write_reseals,
            refresh_guard_replace_applies,
            refresh_guard_delete_and_keep,
            refresh_guard_without_session_writes_nothing,
            logout_during_refresh_is_never_undone,
        );
    };
    (@cases $backend:ident, $harness:path; $($case:ident),+ $(,)?) => {
        mod $backend {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(harness) = $harness().await else { return };
                    contract::$case(&harness).await;
                    harness.cleanup().await;
                }
            )+
        }
    };
}

store_contract_tests!(sqlite, Harness::sqlite);
store_contract_tests!(postgres, Harness::postgres);

/// The shared bodies: what every store must do.
mod contract {
    use super::*;

    pub async fn ping_answers(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        store.ping().await.unwrap();
    }

    pub async fn save_and_load_roundtrip(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let key = new_key();
        assert!(store.load(&key).await.unwrap().is_none());

        let first = record(1, 2_000);
        store.save(&key, &first).await.unwrap();
        assert_same(&store.load(&key).await.unwrap().unwrap(), &first);

        // Saving again replaces, but keeps when the session was created.
        let mut second = record(5, 3_000);
        second.tokens.refresh = None;
        second.user_id = None;
        store.save(&key, &second).await.unwrap();
        let mut want = second.clone();
        want.created_at = first.created_at;
        assert_same(&store.load(&key).await.unwrap().unwrap(), &want);

        assert!(store.load(&new_key()).await.unwrap().is_none());
    }

    pub async fn tokens_are_not_readable_in_the_row(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let key = new_key();
        let rec = record(1, 2_000);
        store.save(&key, &rec).await.unwrap();
        let pend = pending(i64::MAX);
        store.put_pending(&pend).await.unwrap();

        let rows = h.raw_sessions().await;
        assert_eq!(rows.len(), 1);
        let access = rec.tokens.access.expose_secret();
        let refresh = rec.tokens.refresh.as_ref().unwrap().expose_secret();
        assert!(!rows[0].mentions(access), "access token stored in clear");
        assert!(!rows[0].mentions(refresh), "refresh token stored in clear");
        assert!(!rows[0].mentions("access-") && !rows[0].mentions("refresh-"));
        assert!(rows[0].sealed.len() > access.len() + refresh.len());
    }

    pub async fn session_key_is_stored_only_as_its_hash(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let id = SessionId::generate();
        let key = id.key();
        store.save(&key, &record(1, 2_000)).await.unwrap();

        let rows = h.raw_sessions().await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].session_key, key.as_str());
        assert_eq!(rows[0].session_key, hash_hex(id.expose_secret()));
        assert!(!rows[0].mentions(id.expose_secret()), "session id stored");
    }

    pub async fn delete_returns_the_record(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let (key, other) = (new_key(), new_key());
        let rec = record(3, 2_000);
        store.save(&key, &rec).await.unwrap();
        store.save(&other, &record(1, 2_000)).await.unwrap();

        assert_same(&store.delete(&key).await.unwrap().unwrap(), &rec);
        assert!(store.load(&key).await.unwrap().is_none());
        assert!(store.delete(&key).await.unwrap().is_none());
        assert!(store.load(&other).await.unwrap().is_some(), "only that one");
    }

    pub async fn touch_and_idle_sessions(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let keys: Vec<SessionKey> = (0..4).map(|_| new_key()).collect();
        for (i, key) in (0_i64..).zip(&keys) {
            store.save(key, &record(1, 100 * (i + 1))).await.unwrap();
        }
        // Seen at 100, 200, 300, 400; the first is used again at 500.
        store.touch(&keys[0], 500).await.unwrap();
        store.touch(&new_key(), 500).await.unwrap();
        assert_eq!(
            store.load(&keys[0]).await.unwrap().unwrap().last_seen_at,
            500
        );

        let idle = store.idle_sessions(350, 10).await.unwrap();
        let idle_keys: Vec<&SessionKey> = idle.iter().map(|(k, _)| k).collect();
        assert_eq!(idle_keys, vec![&keys[1], &keys[2]], "oldest first");
        assert!(idle.iter().all(|(_, r)| r.is_some()));
        assert_eq!(idle[0].1.as_ref().unwrap().last_seen_at, 200);

        let one = store.idle_sessions(350, 1).await.unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].0, keys[1]);
        assert!(store.idle_sessions(100, 10).await.unwrap().is_empty());
    }

    pub async fn pending_login_is_single_use(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let login = pending(5_000);
        store.put_pending(&login).await.unwrap();

        let taken = store
            .take_pending(&login.state_key, &login.browser_key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken.state_key, login.state_key);
        assert_eq!(taken.browser_key, login.browser_key);
        assert_eq!(taken.verifier, login.verifier);
        assert_eq!(taken.nonce, login.nonce);
        assert_eq!(taken.return_to, login.return_to);
        assert_eq!(taken.expires_at, login.expires_at);

        assert!(
            store
                .take_pending(&login.state_key, &login.browser_key)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .take_pending(&hash_hex("unknown"), &login.browser_key)
                .await
                .unwrap()
                .is_none()
        );
    }

    pub async fn a_browser_keeps_only_its_five_newest_pending_logins(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let first = pending(5_000);
        let mut logins = vec![first.clone()];
        for _ in 0..6 {
            let mut next = pending(5_000);
            next.browser_key.clone_from(&first.browser_key);
            logins.push(next);
        }
        let other_browser = pending(5_000);
        store.put_pending(&other_browser).await.unwrap();
        for login in &logins {
            store.put_pending(login).await.unwrap();
        }
        // Seven issued: the two oldest are gone, the five newest answer.
        for (i, login) in logins.iter().enumerate() {
            let taken = store
                .take_pending(&login.state_key, &login.browser_key)
                .await
                .unwrap();
            assert_eq!(taken.is_some(), i >= 2, "login {i}");
        }
        let taken = store
            .take_pending(&other_browser.state_key, &other_browser.browser_key)
            .await
            .unwrap();
        assert!(taken.is_some(), "another browser's login is not counted");
    }

    pub async fn another_browser_presenting_the_state_gets_nothing_and_the_login_stays(
        h: &Harness,
    ) {
        let store = h.store(sealer(1, &[])).await;
        let login = pending(5_000);
        store.put_pending(&login).await.unwrap();
        let stranger = hash_hex(&random_token());
        assert!(
            store
                .take_pending(&login.state_key, &stranger)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .take_pending(&login.state_key, "")
                .await
                .unwrap()
                .is_none()
        );
        let taken = store
            .take_pending(&login.state_key, &login.browser_key)
            .await
            .unwrap()
            .expect("the rightful browser still finishes");
        assert_eq!(taken.verifier, login.verifier);
    }

    pub async fn purge_pending_deletes_past_one_batch(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let batch = usize::try_from(store::sql::PURGE_BATCH).unwrap();
        let expired: Vec<PendingLogin> = (0..batch + 7).map(|_| pending(100)).collect();
        let puts = expired.iter().map(|login| store.put_pending(login));
        for put in futures_util::future::join_all(puts).await {
            put.unwrap();
        }
        let live = pending(1_000);
        store.put_pending(&live).await.unwrap();
        assert_eq!(
            store.purge_pending(500).await.unwrap(),
            u64::try_from(batch + 7).unwrap()
        );
        assert!(
            store
                .take_pending(&live.state_key, &live.browser_key)
                .await
                .unwrap()
                .is_some()
        );
    }

    pub async fn purge_pending_removes_only_expired(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let (old, older, live) = (pending(400), pending(100), pending(1_000));
        for login in [&old, &older, &live] {
            store.put_pending(login).await.unwrap();
        }
        assert_eq!(store.purge_pending(500).await.unwrap(), 2);
        assert_eq!(store.purge_pending(500).await.unwrap(), 0);
        assert!(
            store
                .take_pending(&old.state_key, &old.browser_key)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .take_pending(&older.state_key, &older.browser_key)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .take_pending(&live.state_key, &live.browser_key)
                .await
                .unwrap()
                .is_some()
        );
    }

    pub async fn count_sessions_counts_rows(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        assert_eq!(store.count_sessions().await.unwrap(), 0);
        let (a, b) = (new_key(), new_key());
        store.save(&a, &record(1, 100)).await.unwrap();
        store.save(&b, &record(1, 100)).await.unwrap();
        store.save(&b, &record(2, 100)).await.unwrap();
        assert_eq!(store.count_sessions().await.unwrap(), 2);
        store.delete(&a).await.unwrap();
        assert_eq!(store.count_sessions().await.unwrap(), 1);
    }

    pub async fn row_sealed_with_a_forgotten_key_loads_as_none(h: &Harness) {
        let before = h.store(sealer(1, &[])).await;
        let key = new_key();
        before.save(&key, &record(1, 100)).await.unwrap();
        let login = pending(5_000);
        before.put_pending(&login).await.unwrap();

        // Key 1 is no longer configured, not even as a former key.
        let after = h.store(sealer(2, &[])).await;
        assert!(after.load(&key).await.unwrap().is_none());
        let idle = after.idle_sessions(1_000, 10).await.unwrap();
        assert_eq!(idle.len(), 1);
        assert!(idle[0].0 == key && idle[0].1.is_none());
        let guard = after.begin_refresh(&key).await.unwrap();
        assert!(guard.current().is_none());
        assert!(guard.finish(RefreshOutcome::Keep).await.unwrap());
        assert!(
            after
                .take_pending(&login.state_key, &login.browser_key)
                .await
                .unwrap()
                .is_none()
        );

        // Still removable, so the sweep can clear it.
        assert!(after.delete(&key).await.unwrap().is_none());
        assert_eq!(after.count_sessions().await.unwrap(), 0);
    }

    pub async fn rotated_key_opens_and_next_write_reseals(h: &Harness) {
        let (old_key, new_key_) = (sealer(1, &[]), sealer(2, &[1]));
        let before = h.store(Arc::clone(&old_key)).await;
        let key = new_key();
        let rec = record(1, 100);
        before.save(&key, &rec).await.unwrap();
        let login = pending(5_000);
        before.put_pending(&login).await.unwrap();
        assert_eq!(h.raw_sessions().await[0].key_id, old_key.current_key_id());

        // Key 2 is current, key 1 a former key: old rows still open.
        let rotated = h.store(Arc::clone(&new_key_)).await;
        let loaded = rotated.load(&key).await.unwrap().unwrap();
        assert_same(&loaded, &rec);
        assert!(
            rotated
                .take_pending(&login.state_key, &login.browser_key)
                .await
                .unwrap()
                .is_some()
        );

        // The next write seals with key 2 ...
        let guard = rotated.begin_refresh(&key).await.unwrap();
        let next = refreshed(guard.current().unwrap());
        assert!(
            guard
                .finish(RefreshOutcome::Replace(next.clone()))
                .await
                .unwrap()
        );
        let row = &h.raw_sessions().await[0];
        assert_eq!(row.key_id, new_key_.current_key_id());
        assert_ne!(row.key_id, old_key.current_key_id());

        // ... so key 1 can then be dropped altogether.
        let only_new = h.store(sealer(2, &[])).await;
        assert_same(&only_new.load(&key).await.unwrap().unwrap(), &next);
        only_new.save(&key, &rec).await.unwrap();
        assert_eq!(h.raw_sessions().await[0].key_id, new_key_.current_key_id());
    }

    pub async fn refresh_guard_replace_applies(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let key = new_key();
        let rec = record(7, 100);
        store.save(&key, &rec).await.unwrap();

        let guard = store.begin_refresh(&key).await.unwrap();
        assert_same(guard.current().unwrap(), &rec);
        let next = refreshed(&rec);
        assert!(
            guard
                .finish(RefreshOutcome::Replace(next.clone()))
                .await
                .unwrap()
        );

        let loaded = store.load(&key).await.unwrap().unwrap();
        assert_same(&loaded, &next);
        assert_eq!(loaded.generation, 8);

        // The next guard starts from what the last one wrote.
        let guard = store.begin_refresh(&key).await.unwrap();
        assert_same(guard.current().unwrap(), &next);
        assert!(guard.finish(RefreshOutcome::Keep).await.unwrap());
    }

    pub async fn refresh_guard_delete_and_keep(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let (kept, deleted) = (new_key(), new_key());
        let rec = record(2, 100);
        store.save(&kept, &rec).await.unwrap();
        store.save(&deleted, &record(2, 100)).await.unwrap();

        let guard = store.begin_refresh(&kept).await.unwrap();
        assert!(guard.finish(RefreshOutcome::Keep).await.unwrap());
        assert_same(&store.load(&kept).await.unwrap().unwrap(), &rec);

        let guard = store.begin_refresh(&deleted).await.unwrap();
        assert!(guard.finish(RefreshOutcome::Delete).await.unwrap());
        assert!(store.load(&deleted).await.unwrap().is_none());
        assert_eq!(store.count_sessions().await.unwrap(), 1);
    }

    pub async fn refresh_guard_without_session_writes_nothing(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let key = new_key();
        let guard = store.begin_refresh(&key).await.unwrap();
        assert!(guard.current().is_none());
        let applied = guard
            .finish(RefreshOutcome::Replace(record(1, 100)))
            .await
            .unwrap();
        assert!(!applied);
        assert!(store.load(&key).await.unwrap().is_none());
        assert_eq!(store.count_sessions().await.unwrap(), 0);
    }

    /// A logout racing a refresh: the logout goes through at once (it
    /// waits for no refresh), and the refresh's write then applies to
    /// nothing (`finish` answers `false`), so the session stays gone.
    pub async fn logout_during_refresh_is_never_undone(h: &Harness) {
        let store = h.store(sealer(1, &[])).await;
        let key = new_key();
        let rec = record(1, 100);
        store.save(&key, &rec).await.unwrap();

        let guard = store.begin_refresh(&key).await.unwrap();
        let next = refreshed(guard.current().unwrap());
        let deleted = tokio::time::timeout(Duration::from_secs(2), store.delete(&key))
            .await
            .expect("a logout does not wait for a refresh")
            .unwrap()
            .unwrap();
        assert_same(&deleted, &rec);
        let applied = guard
            .finish(RefreshOutcome::Replace(next.clone()))
            .await
            .unwrap();
        assert!(!applied, "finish after a delete must report it");
        assert!(store.load(&key).await.unwrap().is_none(), "resurrected");
        assert_eq!(store.count_sessions().await.unwrap(), 0);
    }
}

#[tokio::test]
async fn unknown_database_scheme_is_refused() {
    let err = store::connect("mysql://user:hunter2@db/app", sealer(1, &[]), LOCK_WAIT)
        .await
        .expect_err("refused");
    let message = err.to_string();
    assert!(message.contains("DATABASE_URL"), "{message}");
    assert!(!message.contains("hunter2"), "password echoed: {message}");
}

/// What only the PostgreSQL store promises: one refresh per session across
/// replicas, no unbounded waits, and no lock outliving its holder.
mod postgres_locking {
    use super::*;
    use tokio::sync::oneshot;

    /// Seeds one session and returns its key and record.
    async fn seeded(store: &Arc<dyn TokenStore>) -> (SessionKey, SessionRecord) {
        let key = new_key();
        let rec = record(1, 100);
        store.save(&key, &rec).await.unwrap();
        (key, rec)
    }

    async fn refresh_err(store: &Arc<dyn TokenStore>, key: &SessionKey) -> store::StoreError {
        match store.begin_refresh(key).await {
            Ok(_) => panic!("begin_refresh should have failed"),
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn second_refresh_waits_for_the_first_and_sees_its_result() {
        let Some(h) = Harness::postgres().await else {
            return;
        };
        let replica_a = h.store(sealer(1, &[])).await;
        let replica_b = h.store(sealer(1, &[])).await;
        let (key, rec) = seeded(&replica_a).await;

        let (held_tx, held_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let first = tokio::spawn({
            let key = key.clone();
            async move {
                let guard = replica_a.begin_refresh(&key).await.unwrap();
                let next = refreshed(guard.current().unwrap());
                held_tx.send(next.clone()).unwrap();
                go_rx.await.unwrap();
                guard.finish(RefreshOutcome::Replace(next)).await.unwrap()
            }
        });
        let next = held_rx.await.unwrap();

        let second = tokio::spawn({
            let key = key.clone();
            async move {
                let guard = replica_b.begin_refresh(&key).await.unwrap();
                let seen = guard.current().cloned();
                assert!(guard.finish(RefreshOutcome::Keep).await.unwrap());
                seen
            }
        });
        // Bounded look: the second guard is not handed out while the first
        // is held, and waiting for it holds no connection.
        let mut second = second;
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut second)
                .await
                .is_err(),
            "second guard taken while first held"
        );
        assert_eq!(h.held_connections().await, 0);

        go_tx.send(()).unwrap();
        assert!(first.await.unwrap());
        let seen = second.await.unwrap().expect("session still there");
        assert_eq!(seen.generation, rec.generation + 1);
        assert_same(&seen, &next);
        h.cleanup().await;
    }

    /// The token manager's pattern on three replicas at once: take the
    /// guard, refresh only if the generation is still the one that expired.
    /// The refresher holds on until every other caller is queued behind its
    /// lock, so they all had the chance to see the stale generation.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_callers_on_three_replicas_refresh_once() {
        const CALLERS: usize = 30;
        let Some(h) = Harness::postgres().await else {
            return;
        };
        let mut replicas = Vec::new();
        for _ in 0..3 {
            replicas.push(h.store(sealer(1, &[])).await);
        }
        let (key, rec) = seeded(&replicas[0]).await;

        let (held_tx, mut held_rx) = tokio::sync::mpsc::channel::<oneshot::Sender<()>>(1);
        let start = Arc::new(tokio::sync::Barrier::new(CALLERS));
        let callers: Vec<_> = (0..CALLERS)
            .map(|i| {
                let (store, key) = (Arc::clone(&replicas[i % 3]), key.clone());
                let (start, held_tx) = (Arc::clone(&start), held_tx.clone());
                let stale = rec.generation;
                tokio::spawn(async move {
                    start.wait().await;
                    let guard = store.begin_refresh(&key).await.unwrap();
                    let current = guard.current().unwrap().clone();
                    if current.generation != stale {
                        assert!(guard.finish(RefreshOutcome::Keep).await.unwrap());
                        return 0;
                    }
                    let (go_tx, go_rx) = oneshot::channel();
                    held_tx.try_send(go_tx).expect("a second refresher");
                    go_rx.await.unwrap();
                    let next = refreshed(&current);
                    assert!(guard.finish(RefreshOutcome::Replace(next)).await.unwrap());
                    1
                })
            })
            .collect();
        drop(held_tx);

        let go = held_rx.recv().await.expect("one caller refreshes");
        // Every other caller is queued behind the lease: none is handed the
        // session while it is held, and none holds a connection meanwhile.
        let queued = Instant::now();
        while queued.elapsed() < Duration::from_millis(300) {
            assert!(
                callers.iter().all(|c| !c.is_finished()),
                "guard taken while held"
            );
            assert_eq!(h.held_connections().await, 0);
            assert_eq!(h.leased_sessions().await, 1);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        go.send(()).unwrap();
        let mut refreshes = 0;
        for caller in callers {
            refreshes += caller.await.unwrap();
        }
        assert_eq!(refreshes, 1);
        assert!(held_rx.recv().await.is_none());
        let stored = replicas[2].load(&key).await.unwrap().unwrap();
        assert_eq!(stored.generation, rec.generation + 1);
        h.cleanup().await;
    }

    #[tokio::test]
    async fn lock_wait_is_bounded() {
        let Some(h) = Harness::postgres().await else {
            return;
        };
        let holder = h.store(sealer(1, &[])).await;
        let impatient = h
            .store_waiting(sealer(1, &[]), Duration::from_millis(200))
            .await;
        let (key, rec) = seeded(&holder).await;

        let guard = holder.begin_refresh(&key).await.unwrap();
        let started = Instant::now();
        let err = refresh_err(&impatient, &key).await;
        assert!(err.is_lock_timeout(), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(started.elapsed() < Duration::from_secs(5));

        let next = refreshed(&rec);
        assert!(
            guard
                .finish(RefreshOutcome::Replace(next.clone()))
                .await
                .unwrap()
        );
        assert_same(&impatient.load(&key).await.unwrap().unwrap(), &next);
        h.cleanup().await;
    }

    #[tokio::test]
    async fn dropped_guard_releases_the_lock() {
        let Some(h) = Harness::postgres().await else {
            return;
        };
        // The holder would keep an idle transaction for a minute, so only
        // the drop can let the second guard in.
        let holder = h
            .store_waiting(sealer(1, &[]), Duration::from_secs(60))
            .await;
        let other = h.store(sealer(1, &[])).await;
        let (key, rec) = seeded(&holder).await;

        let guard = holder.begin_refresh(&key).await.unwrap();
        drop(guard);
        let guard = other.begin_refresh(&key).await.unwrap();
        assert_same(guard.current().unwrap(), &rec);
        assert!(guard.finish(RefreshOutcome::Keep).await.unwrap());

        // Nothing a dropped guard did is kept.
        assert_same(&holder.load(&key).await.unwrap().unwrap(), &rec);
        h.cleanup().await;
    }

    /// A replica that dies holding a lease (nothing released it) blocks
    /// the session for one lease at most; the next holder reads the row as
    /// it was and the dead holder's write goes nowhere.
    #[tokio::test]
    async fn lease_left_by_a_dead_replica_expires() {
        let Some(h) = Harness::postgres().await else {
            return;
        };
        let dead = h
            .store_waiting(sealer(1, &[]), Duration::from_millis(400))
            .await;
        let other = h.store(sealer(1, &[])).await;
        let (key, rec) = seeded(&dead).await;

        let guard = dead.begin_refresh(&key).await.unwrap();
        let started = Instant::now();
        let second = other.begin_refresh(&key).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_same(second.current().unwrap(), &rec);
        let next = refreshed(&rec);
        assert!(
            second
                .finish(RefreshOutcome::Replace(next.clone()))
                .await
                .unwrap()
        );
        assert!(
            !guard
                .finish(RefreshOutcome::Replace(refreshed(&rec)))
                .await
                .unwrap(),
            "an expired holder's write must not apply"
        );
        assert_same(&other.load(&key).await.unwrap().unwrap(), &next);
        h.cleanup().await;
    }

    /// More refreshes in flight than the pool has connections: each holds
    /// its lease, none a connection, so the store keeps answering.
    #[tokio::test]
    async fn refreshes_in_flight_hold_no_pool_connection() {
        const SESSIONS: usize = 40;
        let Some(h) = Harness::postgres().await else {
            return;
        };
        let store = h.store(sealer(1, &[])).await;
        let mut guards = Vec::new();
        for _ in 0..SESSIONS {
            let (key, _) = seeded(&store).await;
            guards.push(store.begin_refresh(&key).await.unwrap());
        }
        assert_eq!(h.leased_sessions().await, i64::try_from(SESSIONS).unwrap());
        assert_eq!(h.held_connections().await, 0);
        let started = Instant::now();
        store.ping().await.unwrap();
        let (key, rec) = seeded(&store).await;
        assert_same(&store.load(&key).await.unwrap().unwrap(), &rec);
        let took = started.elapsed();
        eprintln!("ping + save + load with {SESSIONS} refreshes held: {took:?}");
        assert!(took < Duration::from_millis(500), "{took:?}");
        for guard in guards {
            assert!(guard.finish(RefreshOutcome::Keep).await.unwrap());
        }
        assert_eq!(h.leased_sessions().await, 0);
        h.cleanup().await;
    }

    /// A refresh whose write fails keeps the lease: another replica cannot
    /// refresh with the refresh token just rotated out, while the retry on
    /// the same replica takes the lease over and stores.
    #[tokio::test]
    async fn a_failed_write_keeps_the_lease_for_its_retry() {
        let Some(h) = Harness::postgres().await else {
            return;
        };
        let refresher = h.store(sealer(1, &[])).await;
        let other = h
            .store_waiting(sealer(1, &[]), Duration::from_millis(300))
            .await;
        let (key, rec) = seeded(&refresher).await;
        let mut conn = PgConnection::connect(&h.url).await.unwrap();
        for sql in [
            "CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RAISE EXCEPTION 'write refused'; END $$",
            "CREATE TRIGGER refuse_write BEFORE UPDATE OF sealed ON sessions
               FOR EACH ROW EXECUTE FUNCTION refuse_write()",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }

        let guard = refresher.begin_refresh(&key).await.unwrap();
        let next = refreshed(guard.current().unwrap());
        assert!(
            guard
                .finish(RefreshOutcome::Replace(next.clone()))
                .await
                .is_err()
        );
        assert_eq!(h.leased_sessions().await, 1, "the lease is kept");
        let err = refresh_err(&other, &key).await;
        assert!(err.is_lock_timeout(), "{err}");

        sqlx::query("DROP TRIGGER refuse_write ON sessions")
            .execute(&mut conn)
            .await
            .unwrap();
        let started = Instant::now();
        let retry = refresher.begin_refresh(&key).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "retry waited"
        );
        assert_eq!(retry.current().unwrap().generation, rec.generation);
        assert!(
            retry
                .finish(RefreshOutcome::Replace(next.clone()))
                .await
                .unwrap()
        );
        assert_eq!(h.leased_sessions().await, 0);
        let seen = other.begin_refresh(&key).await.unwrap();
        assert_same(seen.current().unwrap(), &next);
        assert!(seen.finish(RefreshOutcome::Keep).await.unwrap());
        conn.close().await.ok();
        h.cleanup().await;
    }

    #[tokio::test]
    async fn touch_does_not_wait_for_a_refresh() {
        let Some(h) = Harness::postgres().await else {
            return;
        };
        let holder = h.store(sealer(1, &[])).await;
        let impatient = h
            .store_waiting(sealer(1, &[]), Duration::from_millis(200))
            .await;
        let (key, _) = seeded(&holder).await;

        let guard = holder.begin_refresh(&key).await.unwrap();
        impatient.touch(&key, 9_000).await.unwrap();
        assert!(guard.finish(RefreshOutcome::Keep).await.unwrap());
        impatient.touch(&key, 9_001).await.unwrap();
        assert_eq!(
            holder.load(&key).await.unwrap().unwrap().last_seen_at,
            9_001
        );
        h.cleanup().await;
    }

    #[tokio::test]
    async fn replicas_starting_together_migrate_once() {
        let Some(h) = Harness::postgres().await else {
            return;
        };
        // Each start migrates on a connection of its own, all at once.
        let starts = (0..4).map(|_| store::connect(&h.url, sealer(1, &[]), LOCK_WAIT));
        let stores: Vec<_> = futures_util::future::join_all(starts)
            .await
            .into_iter()
            .map(|started| started.expect("every replica starts"))
            .collect();
        let mut conn = PgConnection::connect(&h.url).await.unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
            .unwrap()
            .count();
        assert_eq!(usize::try_from(applied).unwrap(), files);
        for store in &stores {
            store.ping().await.unwrap();
        }
        conn.close().await.ok();
        drop(stores);
        h.cleanup().await;
    }
}
