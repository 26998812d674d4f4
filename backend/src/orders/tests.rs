//! The exactly-once flight and the no-blind-retry rule, against a scripted
//! upstream held at a gate (no sleeps), with and without a SQLite ledger.

use super::*;
use crate::clock::ManualClock;
use crate::secret::{AccessToken, EncryptionKey};
use crate::store::seal::Sealer;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use tokio::sync::Semaphore;

/// Answers sends from a script, counts calls, and can hold sends at a gate.
struct Scripted {
    sends: AtomicUsize,
    refreshes: AtomicUsize,
    script: Mutex<VecDeque<Result<Answer, ApiError>>>,
    gate: Option<Semaphore>,
}

impl Scripted {
    fn new(script: Vec<Result<Answer, ApiError>>, gated: bool) -> Arc<Self> {
        Arc::new(Self {
            sends: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
            script: Mutex::new(script.into()),
            gate: gated.then(|| Semaphore::new(0)),
        })
    }

    fn open(&self) {
        if let Some(gate) = &self.gate {
            gate.add_permits(1000);
        }
    }

    fn sends(&self) -> usize {
        self.sends.load(Ordering::SeqCst)
    }
}

fn token(generation: i64) -> Usable {
    Usable {
        access: AccessToken::new(format!("access-{generation}")),
        generation,
        expires_at: i64::MAX,
        obtained_at: 0,
    }
}

#[async_trait]
impl Upstream for Scripted {
    async fn token(&self) -> Result<Usable, ApiError> {
        Ok(token(1))
    }

    async fn refresh_after(&self, rejected: &Usable) -> Result<Option<Usable>, ApiError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(Some(token(rejected.generation + 1)))
    }

    async fn send(&self, _token: &Usable) -> Result<Answer, ApiError> {
        self.sends.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            let _permit = gate.acquire().await.expect("gate open");
        }
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .expect("an unexpected extra upstream call")
    }
}

fn answer(status: u16, body: &str) -> Result<Answer, ApiError> {
    Ok(Answer {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(body.to_owned()),
    })
}

fn desk(ledger: Option<Ledger>) -> OrderDesk {
    OrderDesk::new(
        ledger,
        Arc::new(ManualClock::new()),
        Duration::from_secs(2),
        Environment::Simulator,
        true,
    )
}

async fn sqlite_ledger(dir: &tempfile::TempDir) -> Ledger {
    let url = format!("sqlite://{}/tokens.db", dir.path().display());
    let sealer = Arc::new(Sealer::new(&EncryptionKey::new([7; 32]), &[]));
    // The store's migrations create the ledger table.
    crate::store::sqlite::SqliteStore::connect(&url, sealer.clone())
        .await
        .unwrap();
    Ledger::connect(&url, sealer).await.unwrap()
}

async fn wait_for(desk: &OrderDesk, key: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while desk.waiting(key) < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} callers joined",
            desk.waiting(key)
        );
        tokio::task::yield_now().await;
    }
}

async fn five_hundred_identical_placements(ledger: Option<Ledger>) {
    let desk = desk(ledger);
    let upstream = Scripted::new(vec![answer(200, r#"{"Orders":[{"OrderID":"42"}]}"#)], true);
    let key = order_key("user:alice", &["c-1"]);
    let callers: Vec<_> = (0..500)
        .map(|_| {
            let desk = desk.clone();
            let upstream: Arc<dyn Upstream> = upstream.clone();
            let key = key.clone();
            tokio::spawn(async move { desk.place(&key, upstream).await })
        })
        .collect();
    wait_for(&desk, &key, 500).await;
    upstream.open();
    let mut replayed = 0;
    for caller in callers {
        let (finished, was_replayed) = caller.await.unwrap();
        let Finished::Answered { answer, .. } = finished else {
            panic!("every caller gets the answer: {finished:?}");
        };
        assert_eq!(answer.status, 200);
        assert_eq!(&answer.body[..], br#"{"Orders":[{"OrderID":"42"}]}"#);
        replayed += usize::from(was_replayed);
    }
    assert_eq!(
        upstream.sends(),
        1,
        "one upstream placement for 500 callers"
    );
    assert_eq!(replayed, 499, "all but the first are marked replayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_concurrent_identical_placements_cause_one_upstream_call() {
    five_hundred_identical_placements(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_concurrent_placements_through_the_ledger_cause_one_upstream_call() {
    let dir = tempfile::tempdir().unwrap();
    five_hundred_identical_placements(Some(sqlite_ledger(&dir).await)).await;
}

#[tokio::test]
async fn a_timed_out_placement_is_not_retried_and_the_same_id_is_forwarded_again() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(Some(sqlite_ledger(&dir).await));
    let upstream = Scripted::new(
        vec![
            Err(ApiError::UpstreamTimeout),
            answer(200, r#"{"Orders":[]}"#),
        ],
        false,
    );
    let key = order_key("user:bob", &["c-2"]);
    let (first, replayed) = desk.place(&key, upstream.clone()).await;
    assert!(
        matches!(first, Finished::Unknown(ApiError::UpstreamTimeout)),
        "{first:?}"
    );
    assert!(!replayed);
    assert_eq!(upstream.sends(), 1, "a timeout is not retried");

    let (second, replayed) = desk.place(&key, upstream.clone()).await;
    assert!(matches!(second, Finished::Answered { .. }), "{second:?}");
    assert!(!replayed, "the second attempt is forwarded, not replayed");
    assert_eq!(upstream.sends(), 2);
}

#[tokio::test]
async fn server_errors_are_unknown_outcomes_and_not_retried() {
    let upstream = Scripted::new(vec![answer(503, "{}"), Err(ApiError::UpstreamError)], false);
    assert!(matches!(
        forward(upstream.as_ref()).await,
        Finished::Unknown(ApiError::UpstreamError)
    ));
    assert!(matches!(
        forward(upstream.as_ref()).await,
        Finished::Unknown(ApiError::UpstreamError)
    ));
    assert_eq!(upstream.sends(), 2, "one send per request");
}

#[tokio::test]
async fn a_401_causes_one_refresh_and_one_retry_only() {
    let upstream = Scripted::new(
        vec![answer(401, "{}"), answer(200, r#"{"Orders":[]}"#)],
        false,
    );
    let finished = forward(upstream.as_ref()).await;
    assert!(matches!(&finished, Finished::Answered { answer, .. } if answer.status == 200));
    assert_eq!(
        (upstream.sends(), upstream.refreshes.load(Ordering::SeqCst)),
        (2, 1)
    );

    let twice = Scripted::new(
        vec![
            answer(401, "{}"),
            answer(401, r#"{"Error":"Unauthorized"}"#),
        ],
        false,
    );
    let finished = forward(twice.as_ref()).await;
    assert!(matches!(&finished, Finished::Answered { answer, .. } if answer.status == 401));
    assert_eq!(twice.sends(), 2, "a second 401 is answered, not retried");
}

#[tokio::test]
async fn a_definite_answer_is_replayed_from_the_ledger_for_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let clock = ManualClock::new();
    let desk = OrderDesk::new(
        Some(ledger),
        Arc::new(clock.clone()),
        Duration::from_secs(2),
        Environment::Simulator,
        true,
    );
    let upstream = Scripted::new(
        vec![
            answer(400, r#"{"Error":"BadRequest","Message":"No."}"#),
            answer(200, r#"{"Orders":[]}"#),
        ],
        false,
    );
    let key = order_key("session:abc", &["c-3"]);
    let (first, replayed) = desk.place(&key, upstream.clone()).await;
    assert!(matches!(&first, Finished::Answered { answer, .. } if answer.status == 400));
    assert!(!replayed);
    let (again, replayed) = desk.place(&key, upstream.clone()).await;
    assert!(
        matches!(&again, Finished::Answered { answer, .. } if answer.status == 400 && &answer.body[..] == br#"{"Error":"BadRequest","Message":"No."}"#)
    );
    assert!(replayed);
    assert_eq!(upstream.sends(), 1);

    clock.advance(REPLAY_FOR_SECS + 1);
    let (later, replayed) = desk.place(&key, upstream.clone()).await;
    assert!(matches!(&later, Finished::Answered { answer, .. } if answer.status == 200));
    assert!(!replayed, "after 24 hours the id is forwarded again");
    assert_eq!(upstream.sends(), 2);
}

#[test]
fn answers_survive_encoding() {
    let a = Answer {
        status: 201,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from_static(b"{\"a\":\"line\\nbreak\"}\n"),
    };
    assert_eq!(Answer::decode(&a.encode()), Some(a));
    assert_eq!(Answer::decode(b"garbage"), None);
}

#[test]
fn order_keys_depend_on_user_and_every_confirm_id() {
    let k = order_key("user:a", &["1", "2"]);
    assert_ne!(k, order_key("user:b", &["1", "2"]));
    assert_ne!(k, order_key("user:a", &["1"]));
    assert_eq!(k, order_key("user:a", &["1", "2"]));
}
