//! Token manager behaviour with a scripted refresher and a real SQLite store.

use super::*;
use crate::clock::ManualClock;
use crate::secret::EncryptionKey;
use crate::session::SessionId;
use crate::store::cache::CachedStore;
use crate::store::seal::Sealer;
use crate::store::sqlite::SqliteStore;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, Semaphore};

/// Answers from a script, counts calls, and can hold every call at a gate.
struct FakeRefresher {
    calls: AtomicUsize,
    script: Mutex<VecDeque<Result<Grant, RefreshError>>>,
    gate: Option<Semaphore>,
    entered: Notify,
    seen: Mutex<Vec<String>>,
}

impl FakeRefresher {
    fn new(script: Vec<Result<Grant, RefreshError>>, gated: bool) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            script: Mutex::new(script.into()),
            gate: gated.then(|| Semaphore::new(0)),
            entered: Notify::new(),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn release(&self) {
        if let Some(gate) = &self.gate {
            gate.add_permits(1000);
        }
    }
}

#[async_trait]
impl Refresher for FakeRefresher {
    async fn refresh(&self, token: &RefreshToken) -> Result<Grant, RefreshError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.seen
            .lock()
            .unwrap()
            .push(token.expose_secret().to_owned());
        self.entered.notify_one();
        if let Some(gate) = &self.gate {
            let _permit = gate.acquire().await.expect("gate open");
        }
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .expect("the refresher was called more often than scripted")
    }
}

/// `n` tasks asking for a token at once.
fn spawn_callers(
    manager: &TokenManager,
    key: &SessionKey,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<Usable, TokenError>>> {
    (0..n)
        .map(|_| {
            let manager = manager.clone();
            let key = key.clone();
            tokio::spawn(async move { manager.valid_token(&key).await })
        })
        .collect()
}

/// Yields until `n` callers wait on the session's refresh (bounded: fails
/// after 5 s of real time rather than hanging).
async fn wait_for_waiters(manager: &TokenManager, key: &SessionKey, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while manager.waiters(key) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n} callers joined the refresh",
            manager.waiters(key)
        );
        tokio::task::yield_now().await;
    }
}

fn grant(access: &str, refresh: Option<&str>) -> Result<Grant, RefreshError> {
    Ok(Grant {
        access: AccessToken::new(access),
        refresh: refresh.map(RefreshToken::new),
        expires_in: Duration::from_secs(1200),
        id_token: None,
    })
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    clock: ManualClock,
    key: SessionKey,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let sealer = Arc::new(Sealer::new(&EncryptionKey::new([9; 32]), &[]));
        let store = Arc::new(SqliteStore::connect(&url, sealer).await.unwrap());
        Self {
            _dir: dir,
            store,
            clock: ManualClock::new(),
            key: SessionId::generate().key(),
        }
    }

    /// Stores a session whose access token expires `expires_in` seconds from now.
    async fn session(&self, expires_in: i64, refresh: Option<&str>) {
        let now = self.clock.now();
        let record = SessionRecord {
            tokens: TokenSet {
                access: AccessToken::new("old-access"),
                refresh: refresh.map(RefreshToken::new),
                expires_at: now + expires_in,
                // Not known: counts as old, so a 401 may refresh it.
                obtained_at: 0,
            },
            user_id: Some("user-1".into()),
            generation: 1,
            created_at: now,
            last_seen_at: now,
        };
        self.store.save(&self.key, &record).await.unwrap();
    }

    fn manager(&self, refresher: Arc<FakeRefresher>) -> TokenManager {
        TokenManager::new(
            Arc::new(CachedStore::new(self.store.clone())),
            refresher,
            Arc::new(self.clock.clone()),
            Duration::from_secs(60),
        )
    }

    /// The refresh token the store holds for the session.
    async fn stored_refresh(&self) -> String {
        let stored = self.stored().await.expect("a session");
        stored
            .tokens
            .refresh
            .expect("a refresh token")
            .expose_secret()
            .to_owned()
    }

    async fn stored(&self) -> Option<SessionRecord> {
        self.store.load(&self.key).await.unwrap()
    }
}

#[tokio::test]
async fn a_fresh_token_is_used_without_refreshing() {
    let f = Fixture::new().await;
    f.session(600, Some("r1")).await;
    let refresher = FakeRefresher::new(vec![], false);
    let token = f
        .manager(refresher.clone())
        .valid_token(&f.key)
        .await
        .unwrap();
    assert_eq!(token.access.expose_secret(), "old-access");
    assert_eq!(refresher.calls(), 0);
}

#[tokio::test]
async fn a_token_within_the_skew_is_refreshed_first() {
    let f = Fixture::new().await;
    f.session(30, Some("r1")).await;
    let refresher = FakeRefresher::new(vec![grant("new-access", None)], false);
    let token = f
        .manager(refresher.clone())
        .valid_token(&f.key)
        .await
        .unwrap();
    assert_eq!(token.access.expose_secret(), "new-access");
    assert_eq!(token.generation, 2);
    assert_eq!(refresher.calls(), 1);
    let stored = f.stored().await.unwrap();
    assert_eq!(stored.tokens.access.expose_secret(), "new-access");
    assert_eq!(stored.tokens.expires_at, f.clock.now() + 1200);
    // No rotation: the old refresh token is kept.
    assert_eq!(stored.tokens.refresh.unwrap().expose_secret(), "r1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_callers_on_an_expired_token_cause_one_refresh() {
    let f = Fixture::new().await;
    f.session(-5, Some("r1")).await;
    let refresher = FakeRefresher::new(vec![grant("new-access", Some("r2"))], true);
    let manager = f.manager(refresher.clone());
    let callers = spawn_callers(&manager, &f.key, 500);
    refresher.entered.notified().await;
    // Every caller joins the one refresh while it is held at the gate.
    wait_for_waiters(&manager, &f.key, 500).await;
    refresher.release();
    for caller in callers {
        let token = caller.await.unwrap().unwrap();
        assert_eq!(token.access.expose_secret(), "new-access");
    }
    assert_eq!(refresher.calls(), 1);
    assert_eq!(
        f.stored()
            .await
            .unwrap()
            .tokens
            .refresh
            .unwrap()
            .expose_secret(),
        "r2",
        "a rotated refresh token replaces the old one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_error_reaches_every_waiter_and_keeps_the_tokens() {
    let f = Fixture::new().await;
    f.session(-5, Some("r1")).await;
    let refresher = FakeRefresher::new(vec![Err(RefreshError::Upstream("503".into()))], true);
    let manager = f.manager(refresher.clone());
    let callers = spawn_callers(&manager, &f.key, 50);
    refresher.entered.notified().await;
    wait_for_waiters(&manager, &f.key, 50).await;
    refresher.release();
    for caller in callers {
        assert_eq!(caller.await.unwrap().unwrap_err(), TokenError::Upstream);
    }
    assert_eq!(refresher.calls(), 1);
    let kept = f.stored().await.unwrap();
    assert_eq!(kept.tokens.refresh.unwrap().expose_secret(), "r1");
    assert_eq!(kept.generation, 1);
}

#[tokio::test]
async fn a_timeout_is_reported_as_such_and_keeps_the_tokens() {
    let f = Fixture::new().await;
    f.session(-5, Some("r1")).await;
    let refresher = FakeRefresher::new(vec![Err(RefreshError::Timeout)], false);
    let err = f.manager(refresher).valid_token(&f.key).await.unwrap_err();
    assert_eq!(err, TokenError::UpstreamTimeout);
    assert!(f.stored().await.is_some());
}

#[tokio::test]
async fn invalid_grant_deletes_the_session() {
    let f = Fixture::new().await;
    f.session(-5, Some("r1")).await;
    let refresher = FakeRefresher::new(vec![Err(RefreshError::InvalidGrant)], false);
    let manager = f.manager(refresher);
    assert_eq!(
        manager.valid_token(&f.key).await.unwrap_err(),
        TokenError::SessionExpired
    );
    assert!(f.stored().await.is_none());
    assert_eq!(
        manager.valid_token(&f.key).await.unwrap_err(),
        TokenError::NotAuthenticated
    );
}

#[tokio::test]
async fn an_expired_token_without_refresh_token_ends_the_session() {
    let f = Fixture::new().await;
    f.session(-5, None).await;
    let refresher = FakeRefresher::new(vec![], false);
    let err = f
        .manager(refresher.clone())
        .valid_token(&f.key)
        .await
        .unwrap_err();
    assert_eq!(err, TokenError::SessionExpired);
    assert_eq!(refresher.calls(), 0);
    assert!(f.stored().await.is_none());
}

#[tokio::test]
async fn no_session_is_not_authenticated() {
    let f = Fixture::new().await;
    let refresher = FakeRefresher::new(vec![], false);
    let err = f.manager(refresher).valid_token(&f.key).await.unwrap_err();
    assert_eq!(err, TokenError::NotAuthenticated);
}

#[tokio::test]
async fn rotation_replaces_the_refresh_token_used_next_time() {
    let f = Fixture::new().await;
    f.session(-5, Some("r1")).await;
    let refresher = FakeRefresher::new(
        vec![grant("a2", Some("r2")), grant("a3", Some("r3"))],
        false,
    );
    let manager = f.manager(refresher.clone());
    manager.valid_token(&f.key).await.unwrap();
    f.clock.advance(1200);
    let token = manager.valid_token(&f.key).await.unwrap();
    assert_eq!(token.access.expose_secret(), "a3");
    assert_eq!(*refresher.seen.lock().unwrap(), ["r1", "r2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_is_refreshed_once_however_many_saw_the_401() {
    let f = Fixture::new().await;
    f.session(600, Some("r1")).await;
    let refresher = FakeRefresher::new(vec![grant("a2", None)], false);
    let manager = f.manager(refresher.clone());
    let rejected = manager.valid_token(&f.key).await.unwrap();
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let manager = manager.clone();
            let key = f.key.clone();
            let rejected = rejected.clone();
            tokio::spawn(async move { manager.refresh_rejected(&key, &rejected).await })
        })
        .collect();
    for caller in callers {
        let token = caller.await.unwrap().unwrap().expect("refreshed");
        assert_eq!(token.access.expose_secret(), "a2");
    }
    // A latecomer holding the old token uses the new one without refreshing.
    let late = manager.refresh_rejected(&f.key, &rejected).await.unwrap();
    let late = late.expect("the new token");
    assert_eq!(late.access.expose_secret(), "a2");
    assert_eq!(refresher.calls(), 1);
}

#[tokio::test]
async fn a_refresh_finishes_and_is_stored_when_its_caller_hangs_up() {
    let f = Fixture::new().await;
    f.session(-5, Some("r1")).await;
    let refresher = FakeRefresher::new(vec![grant("a2", Some("r2"))], true);
    let manager = f.manager(refresher.clone());
    hang_up_during_refresh(&manager, &f.key, &refresher).await;
    refresher.release();
    // The next caller joins the same refresh or reads its stored result.
    let token = manager.valid_token(&f.key).await.unwrap();
    assert_eq!(token.access.expose_secret(), "a2");
    assert_eq!(refresher.calls(), 1);
    assert_eq!(f.stored_refresh().await, "r2");
}

#[tokio::test]
async fn a_logout_during_a_refresh_is_not_undone() {
    let f = Fixture::new().await;
    f.session(-5, Some("r1")).await;
    let refresher = FakeRefresher::new(vec![grant("a2", Some("r2"))], true);
    let manager = f.manager(refresher.clone());
    let caller = {
        let manager = manager.clone();
        let key = f.key.clone();
        tokio::spawn(async move { manager.valid_token(&key).await })
    };
    refresher.entered.notified().await;
    f.store.delete(&f.key).await.unwrap();
    refresher.release();
    assert_eq!(
        caller.await.unwrap().unwrap_err(),
        TokenError::NotAuthenticated
    );
    assert!(f.stored().await.is_none());
}

/// Makes every write of a refresh's result fail, as SQLite does when
/// another writer holds it too long, until [`writes_heal`].
async fn writes_fail(f: &Fixture) {
    sqlx::query(
        "CREATE TRIGGER refuse_refresh BEFORE UPDATE ON sessions
         BEGIN SELECT RAISE(ABORT, 'database is locked'); END",
    )
    .execute(f.store.pool())
    .await
    .unwrap();
}

async fn writes_heal(f: &Fixture) {
    sqlx::query("DROP TRIGGER refuse_refresh")
        .execute(f.store.pool())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_whose_write_fails_is_kept_retried_and_used() {
    let f = Fixture::new().await;
    f.session(-5, Some("r1")).await;
    let refresher = FakeRefresher::new(
        vec![grant("a2", Some("r2")), grant("a3", Some("r3"))],
        false,
    );
    let manager = f.manager(refresher.clone());
    writes_fail(&f).await;

    // Every caller gets the new token although the store refused it.
    for caller in spawn_callers(&manager, &f.key, 10) {
        let token = caller.await.unwrap().unwrap();
        assert_eq!(token.access.expose_secret(), "a2");
    }
    // Until it is stored, the session is served from memory, refresh-free.
    let token = manager.valid_token(&f.key).await.unwrap();
    assert_eq!(token.access.expose_secret(), "a2");
    assert_eq!(f.stored().await.unwrap().generation, 1, "not stored yet");

    writes_heal(&f).await;
    assert!(manager.finish_in_flight(Duration::from_secs(5)).await);
    let stored = f.stored().await.unwrap();
    assert_eq!(stored.tokens.access.expose_secret(), "a2");
    assert_eq!(stored.tokens.refresh.unwrap().expose_secret(), "r2");

    // The next refresh uses the rotated token.
    f.clock.advance(1200);
    let token = manager.valid_token(&f.key).await.unwrap();
    assert_eq!(token.access.expose_secret(), "a3");
    assert_eq!(*refresher.seen.lock().unwrap(), ["r1", "r2"]);
}

#[tokio::test]
async fn finish_in_flight_waits_for_a_refresh_whose_caller_left() {
    let f = Fixture::new().await;
    f.session(-5, Some("r1")).await;
    let refresher = FakeRefresher::new(vec![grant("a2", Some("r2"))], true);
    let manager = f.manager(refresher.clone());
    hang_up_during_refresh(&manager, &f.key, &refresher).await;
    // Held at the gate: shutdown cannot finish it in time.
    assert!(!manager.finish_in_flight(Duration::from_millis(50)).await);
    refresher.release();
    assert!(manager.finish_in_flight(Duration::from_secs(5)).await);
    assert_eq!(f.stored_refresh().await, "r2");
}

/// A caller starts a refresh and hangs up while the refresher holds it.
async fn hang_up_during_refresh(
    manager: &TokenManager,
    key: &SessionKey,
    refresher: &FakeRefresher,
) {
    let caller = spawn_callers(manager, key, 1).remove(0);
    refresher.entered.notified().await;
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
}

/// A session whose token was obtained `age` seconds ago and is fresh for
/// twenty minutes.
async fn session_aged(f: &Fixture, age: i64) {
    let now = f.clock.now();
    let record = SessionRecord {
        tokens: TokenSet {
            access: AccessToken::new("old-access"),
            refresh: Some(RefreshToken::new("r1")),
            expires_at: now + 1200,
            obtained_at: now - age,
        },
        user_id: Some("user-1".into()),
        generation: 1,
        created_at: now - age,
        last_seen_at: now,
    };
    f.store.save(&f.key, &record).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_401s_on_a_token_younger_than_30_s_refresh_nothing() {
    let f = Fixture::new().await;
    session_aged(&f, 29).await;
    let refresher = FakeRefresher::new(vec![], false);
    let manager = f.manager(refresher.clone());
    let rejected = manager.valid_token(&f.key).await.unwrap();
    for _ in 0..20 {
        assert!(
            manager
                .refresh_rejected(&f.key, &rejected)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(refresher.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_401s_on_a_token_30_s_old_refresh_once() {
    let f = Fixture::new().await;
    session_aged(&f, 30).await;
    let refresher = FakeRefresher::new(vec![grant("a2", None)], false);
    let manager = f.manager(refresher.clone());
    let rejected = manager.valid_token(&f.key).await.unwrap();
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let (manager, key, rejected) = (manager.clone(), f.key.clone(), rejected.clone());
            tokio::spawn(async move { manager.refresh_rejected(&key, &rejected).await })
        })
        .collect();
    for caller in callers {
        let token = caller.await.unwrap().unwrap().expect("refreshed");
        assert_eq!(token.access.expose_secret(), "a2");
    }
    assert_eq!(refresher.calls(), 1);
}
