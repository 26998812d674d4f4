//! Several replicas: the real `backend` binary started as separate processes
//! that share one PostgreSQL database, one encryption key and one simulated
//! TradeStation, driven over HTTP with one session cookie.
//!
//! - one refresh per session across replicas: 300 concurrent data calls
//!   spread over 1 or 3 replicas, with refresh-token rotation off and on,
//!   reach the token endpoint exactly once;
//! - coherence: a logout on one replica is seen by another within 1 s;
//! - a replica SIGKILLed while it holds a session's refresh lease: the lease
//!   expires, another replica takes it and refreshes;
//! - more slow refreshes in flight than a replica has pooled connections:
//!   `/health` and another session's status still answer at once;
//! - key rotation under a live session (SQLite, one process restarted with
//!   new keys), which needs no PostgreSQL.
//!
//! The PostgreSQL tests need `TEST_DATABASE_URL` (`scripts/test.sh` starts a
//! throwaway cluster, `scripts/pg.sh`); without it they fail, unless
//! `SKIP_POSTGRES_TESTS=1` skips them (`skipped: <test name>` on stderr).
//! Each test creates its own database. The tests take turns ([`SERIAL`]):
//! each one loads both cores of the machine on its own.
//!
//! The simulator runs in this process on its own 127.0.0.1 port; the
//! replicas run in TradeStation mode against it. Each replica's logs go to a
//! file, printed when it fails to start. Run with `--nocapture` to see the
//! figures (callers vs refreshes, logout propagation, recovery time); the
//! lines start with `replicas:` (`scripts/bench.sh` runs them in release).
//!
//! Expiry without a fake clock (the replicas are real processes): the
//! simulator issues 1200 s access tokens and the replicas run with
//! `TS_REFRESH_SKEW` = 1200 − [`STALE_AFTER`], so a token counts as expiring
//! [`STALE_AFTER`] seconds after it was issued, and a refreshed one is again
//! good for that long. Just before a burst, the simulator also stops
//! accepting the old access token, so a caller that used it would show up
//! as a 401 in its counters.

use backend::session::hash_hex;
use base64::Engine;
use reqwest::StatusCode;
use reqwest::cookie::Jar;
use reqwest::redirect::Policy;
use serde_json::Value;
use simulator::{SimConfig, SimStats, Simulator};
use sqlx::{Connection, PgConnection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::Url;

/// Concurrent data calls in a burst.
const CALLERS: usize = 300;
/// The simulator's access-token lifetime (its default, TradeStation's).
const ACCESS_TTL: u64 = 1200;
/// Seconds after issue at which a token counts as expiring for the replicas.
const STALE_AFTER: u64 = 4;
/// How long the token endpoint holds its answer in a burst, so the callers
/// of every replica pile up behind the one refresh.
const HOLD: Duration = Duration::from_secs(3);
/// The data call every test makes.
const ACCOUNTS: &str = "/api/ts/v3/brokerage/accounts";

/// One test at a time: each starts several processes and loads both cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn backend_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_backend"))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A fresh 32-byte key, base64, as `TOKEN_ENCRYPTION_KEY` takes it.
fn new_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// A port that was free a moment ago (the replica binds it itself).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Straight to stderr: the harness captures `eprintln!` of passing tests.
/// `TEST_DATABASE_URL`. Without it the test fails, unless
/// `SKIP_POSTGRES_TESTS=1` says to skip: then `None`, after
/// `skipped: <test name>` on stderr. A PostgreSQL test never passes
/// silently without a database.
fn postgres_or_skip() -> Option<String> {
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        return Some(url);
    }
    assert!(
        std::env::var("SKIP_POSTGRES_TESTS").as_deref() == Ok("1"),
        "TEST_DATABASE_URL is not set: PostgreSQL tests need it (scripts/test.sh starts a \
         database), or SKIP_POSTGRES_TESTS=1 to skip them"
    );
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    notice(&format!("skipped: {test}"));
    None
}

fn notice(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// What happened at the simulator between two snapshots.
fn delta(after: SimStats, before: SimStats) -> SimStats {
    after.since(&before)
}

/// The simulator on its own 127.0.0.1 port, mounted under `/sim`.
struct Upstream {
    sim: Simulator,
    origin: String,
    server: JoinHandle<()>,
}

impl Upstream {
    async fn start(rotate_refresh_tokens: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let mut config = SimConfig::for_tests(format!("{origin}/sim/"));
        config.access_token_ttl = Duration::from_secs(ACCESS_TTL);
        config.rotate_refresh_tokens = rotate_refresh_tokens;
        let sim = Simulator::new(config);
        let router = axum::Router::new().nest("/sim", sim.router());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            sim,
            origin,
            server,
        }
    }

    /// TradeStation mode, every `TS_*` URL at this simulator.
    fn vars(&self) -> Vec<(String, String)> {
        let sim = format!("{}/sim", self.origin);
        [
            ("TS_CLIENT_ID", "sim-client".to_owned()),
            ("TS_CLIENT_SECRET", "sim-secret".to_owned()),
            ("TS_AUTH_URL", format!("{sim}/authorize")),
            ("TS_TOKEN_URL", format!("{sim}/oauth/token")),
            ("TS_REVOKE_URL", format!("{sim}/oauth/revoke")),
            ("TS_ISSUER", format!("{sim}/")),
            ("TS_JWKS_URL", format!("{sim}/.well-known/jwks.json")),
            ("TS_BASE_URL", sim.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn stats(&self) -> SimStats {
        self.sim.stats()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A database of its own on the `TEST_DATABASE_URL` server.
struct TestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDb {
    /// `None` when PostgreSQL tests are skipped; see [`postgres_or_skip`].
    async fn create() -> Option<Self> {
        let admin_url = postgres_or_skip()?;
        let name = format!("replicas_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        admin.close().await.ok();
        let mut url = Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(Self {
            admin_url,
            name,
            url: url.into(),
        })
    }

    async fn admin(&self) -> PgConnection {
        PgConnection::connect(&self.admin_url).await.unwrap()
    }

    /// Connections to this database inside a transaction or waiting for a
    /// lock. A refresh in flight holds neither: it holds a lease on the
    /// session's row, written and cleared by single statements.
    async fn held_connections(&self, admin: &mut PgConnection) -> i64 {
        self.count(
            admin,
            "(state LIKE 'idle in transaction%' OR wait_event_type = 'Lock')",
        )
        .await
    }

    /// Sessions whose refresh lease is held (and not expired) now.
    async fn leases(&self) -> i64 {
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

    async fn count(&self, admin: &mut PgConnection, condition: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND {condition}"
        )))
        .bind(&self.name)
        .fetch_one(admin)
        .await
        .unwrap()
    }

    /// Drops the database, ending any connection still open to it.
    async fn drop_database(self) {
        let mut admin = self.admin().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
    }
}

/// One `backend` process (std's `Child`: the tokio `process` feature is not
/// enabled). Killed (SIGKILL) and reaped when dropped.
struct Replica {
    name: String,
    origin: String,
    child: Child,
    log: PathBuf,
}

impl Replica {
    /// Starts the binary on `port` with exactly `vars` (the environment is
    /// cleared, so nothing of the caller's leaks in) and waits for `/health`.
    async fn start(name: &str, port: u16, vars: &[(String, String)], dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(backend_bin())
            .current_dir(dir)
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("the backend binary starts");
        let mut replica = Self {
            name: name.to_owned(),
            origin: format!("http://127.0.0.1:{port}"),
            child,
            log,
        };
        replica.wait_healthy().await;
        replica
    }

    async fn wait_healthy(&mut self) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "replica {} exited ({status}) before it was healthy; its log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            let health = client.get(format!("{}/health", self.origin)).send().await;
            if health.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "replica {} not healthy within 30 s; its log:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on unix), then reap the process.
    fn kill(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.child.kill().expect("kill the replica");
        }
        self.child.wait().expect("reap the replica");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The variables every replica of one deployment shares.
fn deployment_vars(
    upstream: &Upstream,
    database_url: &str,
    key: &str,
    redirect_origin: &str,
    http_timeout_secs: u64,
) -> Vec<(String, String)> {
    let mut vars = upstream.vars();
    vars.extend(
        [
            ("DATABASE_URL", database_url.to_owned()),
            ("TOKEN_ENCRYPTION_KEY", key.to_owned()),
            (
                "TS_REDIRECT_URI",
                format!("{redirect_origin}/api/ts/callback"),
            ),
            ("TS_HTTP_TIMEOUT", http_timeout_secs.to_string()),
            ("TS_REFRESH_SKEW", (ACCESS_TTL - STALE_AFTER).to_string()),
            ("SESSION_IDLE_DAYS", "0".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v)),
    );
    vars
}

/// Starts `n` replicas on one database, replica 0 ("A") being the one the
/// redirect URI names. Returns them with the folder holding their logs.
async fn start_replicas(
    n: usize,
    upstream: &Upstream,
    database_url: &str,
    http_timeout_secs: u64,
) -> (Vec<Replica>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let redirect_origin = format!("http://127.0.0.1:{}", ports[0]);
    let vars = deployment_vars(
        upstream,
        database_url,
        &new_key(),
        &redirect_origin,
        http_timeout_secs,
    );
    let starts = ports.iter().enumerate().map(|(i, port)| {
        let name = ["A", "B", "C", "D"][i].to_owned();
        let vars = &vars;
        let dir = dir.path();
        async move { Replica::start(&name, *port, vars, dir).await }
    });
    let replicas = futures_util::future::join_all(starts).await;
    (replicas, dir)
}

/// The API client: no cookie jar (the session cookie is sent by hand, so a
/// logout's expired cookie does not hide the session from the next call).
fn api_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Signs in through `replica` like a browser: `/api/ts/login`, Authorize on
/// the simulator's page, the callback. Returns the session cookie's value.
async fn sign_in(replica: &Replica) -> String {
    let jar = Arc::new(Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let login = browser
        .get(replica.url("/api/ts/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER, "login redirects");
    let authorize = location(&login);

    let page = browser.get(authorize.clone()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the sign-in page shows");
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("username".into(), "trader".into()));
    form.push(("decision".into(), "authorize".into()));
    let mut action = authorize.clone();
    action.set_query(None);
    let decided = browser.post(action).form(&form).send().await.unwrap();
    assert!(decided.status().is_redirection(), "{}", decided.status());
    let callback = location(&decided);
    assert!(
        callback.as_str().starts_with(&replica.origin),
        "the simulator sends the browser back to replica {}",
        replica.name
    );

    let done = browser.get(callback).send().await.unwrap();
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "the callback signs in"
    );
    done.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("ts_session="))
        .and_then(|rest| rest.split(';').next())
        .filter(|v| !v.is_empty())
        .expect("the callback sets the session cookie")
        .to_owned()
}

fn location(response: &reqwest::Response) -> Url {
    let value = response
        .headers()
        .get(reqwest::header::LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap();
    Url::parse(value).expect("an absolute Location")
}

/// `GET path` on `replica` with the session cookie: status and body.
async fn call(
    client: &reqwest::Client,
    replica: &Replica,
    path: &str,
    cookie: &str,
) -> Result<(StatusCode, String), reqwest::Error> {
    let response = client
        .get(replica.url(path))
        .header(reqwest::header::COOKIE, format!("ts_session={cookie}"))
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    Ok((status, body))
}

async fn status_of(client: &reqwest::Client, replica: &Replica, cookie: &str) -> Value {
    let (status, body) = call(client, replica, "/api/ts/status", cookie)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn error_code(body: &str) -> String {
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    json["error"].as_str().unwrap_or("").to_owned()
}

/// Returns once the session's token counts as expiring for the replicas
/// (`TS_REFRESH_SKEW` reached): a clock condition, polled with a deadline.
async fn until_expiring(client: &reqwest::Client, replica: &Replica, cookie: &str) {
    let status = status_of(client, replica, cookie).await;
    let expires_at = status["expires_at"].as_i64().expect("expires_at");
    let skew = i64::try_from(ACCESS_TTL - STALE_AFTER).unwrap();
    let deadline = Instant::now() + Duration::from_secs(STALE_AFTER + 5);
    while unix_now() < expires_at - skew {
        assert!(Instant::now() < deadline, "the token never became stale");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 300 callers over `n` replicas, one stale session: exactly one refresh at
/// the token endpoint, every call 200, every replica but the refreshing one
/// queued on the row lock with a single waiter.
async fn one_refresh_for_a_burst(n: usize, rotate: bool) {
    let _turn = SERIAL.lock().await;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let upstream = Upstream::start(rotate).await;
    // The token endpoint holds its answer for HOLD: the timeout must exceed it.
    let (replicas, _logs) = start_replicas(n, &upstream, &db.url, 10).await;
    let client = api_client();

    let cookie = sign_in(&replicas[0]).await;
    for replica in &replicas {
        let (status, body) = call(&client, replica, ACCOUNTS, &cookie).await.unwrap();
        assert_eq!(status, StatusCode::OK, "replica {}: {body}", replica.name);
    }
    until_expiring(&client, &replicas[0], &cookie).await;
    upstream.sim.expire_access_tokens();
    upstream.sim.set_token_delay(HOLD);
    let before = upstream.stats();

    let started = Instant::now();
    let calls: Vec<_> = (0..CALLERS)
        .map(|i| {
            let client = client.clone();
            let url = replicas[i % n].url(ACCOUNTS);
            let cookie = format!("ts_session={cookie}");
            tokio::spawn(async move {
                let response = client
                    .get(url)
                    .header(reqwest::header::COOKIE, cookie)
                    .send()
                    .await?;
                let status = response.status();
                let body = response.text().await?;
                Ok::<_, reqwest::Error>((status, body))
            })
        })
        .collect();
    let burst = tokio::spawn(futures_util::future::join_all(calls));

    // While the token endpoint holds the refresh: the session's lease is
    // held, no caller has been answered (they all wait for the one refresh),
    // and no connection of this database sits in a transaction or a lock.
    let mut admin = db.admin().await;
    let (mut max_held, mut max_leases) = (0, 0);
    let deadline = started + HOLD + Duration::from_secs(20);
    while upstream.stats().refresh_grants == before.refresh_grants {
        assert!(!burst.is_finished(), "callers answered before the refresh");
        max_held = max_held.max(db.held_connections(&mut admin).await);
        max_leases = max_leases.max(db.leases().await);
        assert!(Instant::now() < deadline, "the refresh never completed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refreshed_at = started.elapsed();
    let results = tokio::time::timeout(Duration::from_secs(60), burst)
        .await
        .expect("the burst ends within 60 s")
        .unwrap();
    let wall = started.elapsed();
    upstream.sim.set_token_delay(Duration::ZERO);
    let seen = delta(upstream.stats(), before);

    let mut failures = Vec::new();
    for result in results {
        match result.unwrap() {
            Ok((StatusCode::OK, _)) => {}
            Ok((status, body)) => failures.push(format!("{status}: {body}")),
            Err(e) => failures.push(format!("transport: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CALLERS} calls failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert_eq!(seen.refresh_grants, 1, "exactly one refresh: {seen:?}");
    assert_eq!(seen.token_requests, 1, "one call of the token endpoint");
    assert_eq!(seen.refresh_refused, 0, "no refresh token was refused");
    assert_eq!(
        seen.api_unauthorized, 0,
        "no caller used the expired access token"
    );
    assert_eq!(
        seen.api_requests, CALLERS as u64,
        "one upstream call per caller, no retries"
    );
    assert_eq!(max_leases, 1, "the refresh held the session's lease");
    assert_eq!(
        max_held, 0,
        "no connection was held in a transaction or a lock during the refresh"
    );
    println!(
        "replicas: single flight, {n} replica(s), rotation {}: {CALLERS} callers -> {} refresh \
         ({} token request, lease held by 1, {} connection(s) held); burst wall time {} ms \
         (token endpoint held {} ms; refresh answered at {} ms, all callers answered {} ms later)",
        if rotate { "on" } else { "off" },
        seen.refresh_grants,
        seen.token_requests,
        max_held,
        wall.as_millis(),
        HOLD.as_millis(),
        refreshed_at.as_millis(),
        wall.saturating_sub(refreshed_at).as_millis(),
    );

    // The session goes on, with no further refresh, on every replica.
    for replica in &replicas {
        let (status, body) = call(&client, replica, ACCOUNTS, &cookie).await.unwrap();
        assert_eq!(status, StatusCode::OK, "replica {}: {body}", replica.name);
    }
    assert_eq!(delta(upstream.stats(), before).refresh_grants, 1);

    drop(replicas);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_for_300_callers_on_one_replica() {
    one_refresh_for_a_burst(1, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_for_300_callers_across_3_replicas() {
    one_refresh_for_a_burst(3, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_for_300_callers_across_3_replicas_with_rotation() {
    one_refresh_for_a_burst(3, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_replica_signs_the_session_out_on_another_within_1s() {
    let _turn = SERIAL.lock().await;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let upstream = Upstream::start(false).await;
    let (replicas, _logs) = start_replicas(2, &upstream, &db.url, 5).await;
    let (a, b) = (&replicas[0], &replicas[1]);
    let client = api_client();

    let cookie = sign_in(a).await;
    let (status, body) = call(&client, b, ACCOUNTS, &cookie).await.unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "replica B serves the session: {body}"
    );
    assert_eq!(status_of(&client, b, &cookie).await["authenticated"], true);

    let logout = client
        .post(a.url("/api/ts/logout"))
        .header(reqwest::header::COOKIE, format!("ts_session={cookie}"))
        .header("X-CSRF", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::OK);
    let logged_out = Instant::now();
    let before = upstream.stats();

    // Bounded poll: B must answer 401 not_authenticated within 1 s.
    let mut polls = 0;
    let propagation = loop {
        polls += 1;
        let (status, body) = call(&client, b, ACCOUNTS, &cookie).await.unwrap();
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(error_code(&body), "not_authenticated", "{body}");
            break logged_out.elapsed();
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            logged_out.elapsed() < Duration::from_secs(1),
            "replica B still served the session 1 s after the logout"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(propagation < Duration::from_secs(1));
    assert_eq!(status_of(&client, b, &cookie).await["authenticated"], false);
    let seen = delta(upstream.stats(), before);
    assert_eq!(
        seen.api_requests, 0,
        "replica B used no token after the logout"
    );
    assert_eq!(seen.refresh_grants, 0);
    println!(
        "replicas: logout on A -> B answered 401 not_authenticated {} ms after the logout returned \
         (poll {polls}; bound 1000 ms)",
        propagation.as_millis()
    );

    drop(replicas);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_while_it_holds_the_refresh_lock_does_not_block_the_others() {
    let _turn = SERIAL.lock().await;
    let Some(db) = TestDb::create().await else {
        return;
    };
    const HTTP_TIMEOUT: u64 = 3;
    // The replicas wait this long for a row lock (`lib.rs`: the timeout
    // plus 5 s); nobody may wait longer.
    let bound = Duration::from_secs(HTTP_TIMEOUT + 5);
    let upstream = Upstream::start(false).await;
    let (mut replicas, _logs) = start_replicas(3, &upstream, &db.url, HTTP_TIMEOUT).await;
    let client = api_client();
    let mut admin = db.admin().await;

    let cookie = sign_in(&replicas[0]).await;
    until_expiring(&client, &replicas[0], &cookie).await;
    let before = upstream.stats();

    // A starts a refresh that the token endpoint holds for long.
    upstream.sim.set_token_delay(Duration::from_secs(10));
    let on_a = {
        let client = client.clone();
        let url = replicas[0].url(ACCOUNTS);
        let cookie = format!("ts_session={cookie}");
        tokio::spawn(async move {
            client
                .get(url)
                .header(reqwest::header::COOKIE, cookie)
                .send()
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream.stats().token_requests == before.token_requests || db.leases().await < 1 {
        assert!(
            Instant::now() < deadline,
            "A's refresh never reached the token endpoint with the lease held"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // B asks for the same session and waits for the lease A holds.
    let mut on_b = {
        let client = client.clone();
        let url = replicas[1].url(ACCOUNTS);
        let cookie = format!("ts_session={cookie}");
        tokio::spawn(async move {
            let response = client
                .get(url)
                .header(reqwest::header::COOKIE, cookie)
                .send()
                .await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.text().await?))
        })
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(1), &mut on_b)
            .await
            .is_err(),
        "B answered while A held the lease"
    );
    assert_eq!(db.held_connections(&mut admin).await, 0);

    // The token endpoint recovers; A dies holding the lock.
    upstream.sim.set_token_delay(Duration::ZERO);
    let killed = Instant::now();
    replicas[0].kill();

    let (status, body) = tokio::time::timeout(bound + Duration::from_secs(5), on_b)
        .await
        .expect("B answers")
        .unwrap()
        .unwrap();
    let recovery = killed.elapsed();
    assert_eq!(status, StatusCode::OK, "B refreshed and answered: {body}");
    assert!(
        recovery < bound,
        "B waited {recovery:?}, longer than TS_HTTP_TIMEOUT plus the margin ({bound:?})"
    );
    let a_outcome = on_a.await.unwrap();
    assert!(a_outcome.is_err(), "A died before answering");
    assert_eq!(
        db.leases().await,
        0,
        "nobody holds the session's lease any more"
    );

    // The session still works on the replicas left, without a new refresh.
    let refreshes_after_b = upstream.stats().refresh_grants;
    let (status, body) = call(&client, &replicas[2], ACCOUNTS, &cookie)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        status_of(&client, &replicas[1], &cookie).await["authenticated"],
        true
    );
    let seen = delta(upstream.stats(), before);
    assert_eq!(seen.refresh_refused, 0, "the refresh token stayed good");
    assert!(seen.refresh_grants >= 1, "B refreshed: {seen:?}");
    assert_eq!(upstream.stats().refresh_grants, refreshes_after_b);
    println!(
        "replicas: SIGKILL of A while it held the refresh lock -> B answered 200 {} ms after the \
         kill (bound {} ms = TS_HTTP_TIMEOUT {HTTP_TIMEOUT} s + 5 s)",
        recovery.as_millis(),
        bound.as_millis()
    );

    drop(replicas);
    db.drop_database().await;
}

/// How long one `GET path` takes on `replica` (with a session cookie when
/// given); the answer must be `200`.
async fn timed_ok(
    client: &reqwest::Client,
    replica: &Replica,
    path: &str,
    cookie: Option<&str>,
) -> Duration {
    let started = Instant::now();
    let mut request = client.get(replica.url(path));
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, format!("ts_session={cookie}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    took
}

/// More refreshes in flight on one replica than it has pooled connections
/// (16), each held by a slow token endpoint: `/health` and another
/// session's `/api/ts/status` still answer in well under a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_status_answer_at_once_while_more_refreshes_than_pooled_connections_run() {
    const SLOW: usize = 20;
    const SLOW_TOKEN: Duration = Duration::from_secs(3);
    let _turn = SERIAL.lock().await;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let upstream = Upstream::start(false).await;
    let (replicas, _logs) = start_replicas(1, &upstream, &db.url, 10).await;
    let replica = &replicas[0];
    let client = api_client();

    let mut cookies = Vec::new();
    for _ in 0..SLOW {
        cookies.push(sign_in(replica).await);
    }
    until_expiring(&client, replica, &cookies[SLOW - 1]).await;
    // Signed in after the others expired: its token is fresh for a while.
    let other = sign_in(replica).await;
    upstream.sim.set_token_delay(SLOW_TOKEN);
    let before = upstream.stats();

    let calls: Vec<_> = cookies
        .iter()
        .map(|cookie| {
            let client = client.clone();
            let url = replica.url(ACCOUNTS);
            let cookie = format!("ts_session={cookie}");
            tokio::spawn(async move {
                let response = client
                    .get(url)
                    .header(reqwest::header::COOKIE, cookie)
                    .send()
                    .await?;
                let status = response.status();
                Ok::<_, reqwest::Error>((status, response.text().await?))
            })
        })
        .collect();

    // Every slow refresh is at the token endpoint, holding its lease.
    let deadline = Instant::now() + Duration::from_secs(10);
    while delta(upstream.stats(), before).token_requests < SLOW as u64 {
        assert!(Instant::now() < deadline, "the refreshes never all started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let in_flight_at = Instant::now();
    let health = timed_ok(&client, replica, "/health", None).await;
    let status = timed_ok(&client, replica, "/api/ts/status", Some(&other)).await;
    let mut admin = db.admin().await;
    assert_eq!(db.leases().await, i64::try_from(SLOW).unwrap());
    assert_eq!(db.held_connections(&mut admin).await, 0);
    assert_eq!(
        delta(upstream.stats(), before).refresh_grants,
        0,
        "measured while every refresh was still in flight"
    );
    assert!(in_flight_at.elapsed() < SLOW_TOKEN);
    println!(
        "replicas: {SLOW} slow refreshes in flight (16 pooled connections): /health {} ms, \
         another session's /api/ts/status {} ms",
        health.as_millis(),
        status.as_millis()
    );
    assert!(
        health < Duration::from_millis(500),
        "/health took {health:?}"
    );
    assert!(
        status < Duration::from_millis(500),
        "status took {status:?}"
    );

    for call in calls {
        let (status, body) = tokio::time::timeout(Duration::from_secs(30), call)
            .await
            .expect("the slow call answers")
            .unwrap()
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    upstream.sim.set_token_delay(Duration::ZERO);
    let seen = delta(upstream.stats(), before);
    assert_eq!(seen.refresh_grants, SLOW as u64, "one refresh per session");
    assert_eq!(db.leases().await, 0);

    drop(replicas);
    db.drop_database().await;
}

/// The database becomes unreachable for the replica (it refuses new
/// connections and its open ones are ended, as when the server stops):
/// `/health` answers `503` within 2 s; once the database is back, `200`
/// again and the session works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_503_within_2s_while_the_database_is_unreachable_and_recovers() {
    let _turn = SERIAL.lock().await;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let upstream = Upstream::start(false).await;
    let (replicas, _logs) = start_replicas(1, &upstream, &db.url, 10).await;
    let replica = &replicas[0];
    let client = api_client();
    let cookie = sign_in(replica).await;
    timed_ok(&client, replica, "/health", None).await;

    let mut admin = db.admin().await;
    for sql in [
        format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false", db.name),
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
            db.name
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let started = Instant::now();
    let health = client.get(replica.url("/health")).send().await.unwrap();
    let down = started.elapsed();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(down < Duration::from_secs(2), "/health took {down:?}");

    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
        db.name
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let back = Instant::now();
    let deadline = back + Duration::from_secs(10);
    loop {
        let health = client.get(replica.url("/health")).send().await.unwrap();
        if health.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "/health never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered = back.elapsed();
    assert_eq!(
        status_of(&client, replica, &cookie).await["authenticated"],
        true
    );
    let (status, body) = call(&client, replica, ACCOUNTS, &cookie).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    println!(
        "replicas: database unreachable -> /health 503 in {} ms; back -> 200 after {} ms",
        down.as_millis(),
        recovered.as_millis()
    );

    drop(replicas);
    db.drop_database().await;
}

/// The `key_id` a session's row is sealed under, read from the SQLite file.
async fn stored_key_id(database_url: &str, cookie: &str) -> String {
    let mut conn = SqliteConnection::connect(database_url).await.unwrap();
    let key_id: String = sqlx::query_scalar("SELECT key_id FROM sessions WHERE session_key = $1")
        .bind(hash_hex(cookie))
        .fetch_one(&mut conn)
        .await
        .expect("the session's row");
    conn.close().await.ok();
    key_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_keeps_a_live_session() {
    let _turn = SERIAL.lock().await;
    let upstream = Upstream::start(false).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/tokens.db", dir.path().display());
    let (k1, k2) = (new_key(), new_key());
    let client = api_client();
    // One replica, restarted with other keys; each start on a fresh port.
    let start = |name: &'static str, keys: Vec<(&'static str, String)>| {
        let port = free_port();
        let mut vars = deployment_vars(
            &upstream,
            &database_url,
            "",
            &format!("http://127.0.0.1:{port}"),
            5,
        );
        vars.retain(|(k, _)| k != "TOKEN_ENCRYPTION_KEY");
        vars.extend(keys.into_iter().map(|(k, v)| (k.to_owned(), v)));
        let dir = dir.path().to_owned();
        async move { Replica::start(name, port, &vars, &dir).await }
    };

    // Two sessions sealed with K1. The first lives through the rotation;
    // the second is never written again.
    let mut replica = start("k1", vec![("TOKEN_ENCRYPTION_KEY", k1.clone())]).await;
    let live = sign_in(&replica).await;
    let idle = sign_in(&replica).await;
    let (status, body) = call(&client, &replica, ACCOUNTS, &live).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let k1_id = stored_key_id(&database_url, &live).await;
    assert_eq!(stored_key_id(&database_url, &idle).await, k1_id);
    replica.kill();

    // K2 current, K1 former: both sessions still open.
    let mut replica = start(
        "k2-with-k1",
        vec![
            ("TOKEN_ENCRYPTION_KEY", k2.clone()),
            ("TOKEN_ENCRYPTION_OLD_KEYS", k1.clone()),
        ],
    )
    .await;
    for cookie in [&live, &idle] {
        let status = status_of(&client, &replica, cookie).await;
        assert_eq!(status["authenticated"], true, "{status}");
    }
    let (status, body) = call(&client, &replica, ACCOUNTS, &live).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        stored_key_id(&database_url, &live).await,
        k1_id,
        "reading does not re-seal"
    );
    // Let the token expire (a 401 on a token this young would not be
    // blamed on it): the refresh writes the row, sealed with K2.
    let before = upstream.stats();
    until_expiring(&client, &replica, &live).await;
    let (status, body) = call(&client, &replica, ACCOUNTS, &live).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(delta(upstream.stats(), before).refresh_grants, 1);
    let k2_id = stored_key_id(&database_url, &live).await;
    assert_ne!(k2_id, k1_id, "the refresh re-sealed the row with K2");
    assert_eq!(
        stored_key_id(&database_url, &idle).await,
        k1_id,
        "the idle session was not written"
    );
    replica.kill();

    // K2 alone: the re-sealed session works; the one still sealed with K1
    // counts as signed out, with a warning, not an error.
    let mut replica = start("k2-only", vec![("TOKEN_ENCRYPTION_KEY", k2.clone())]).await;
    let status = status_of(&client, &replica, &live).await;
    assert_eq!(status["authenticated"], true, "{status}");
    let (status, body) = call(&client, &replica, ACCOUNTS, &live).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");

    let status = status_of(&client, &replica, &idle).await;
    assert_eq!(status["authenticated"], false, "{status}");
    let (status, body) = call(&client, &replica, ACCOUNTS, &idle).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(error_code(&body), "not_authenticated");
    let log = replica.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("cannot be opened")),
        "a warning names the unopenable session; log:\n{log}"
    );
    assert!(!log.contains(&k1) && !log.contains(&k2), "no key is logged");
    replica.kill();
    println!(
        "replicas: key rotation K1 -> K2 (+K1 former) -> K2 alone: live session kept, re-sealed \
         by its refresh; a session never re-sealed counts as signed out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_one_sqlite_file_refuses_to_start() {
    let _turn = SERIAL.lock().await;
    let upstream = Upstream::start(false).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/tokens.db", dir.path().display());
    let port = free_port();
    let vars = deployment_vars(
        &upstream,
        &database_url,
        &new_key(),
        &format!("http://127.0.0.1:{port}"),
        5,
    );
    let first = Replica::start("first", port, &vars, dir.path()).await;

    let second = Command::new(backend_bin())
        .current_dir(dir.path())
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .env("BIND_ADDR", format!("127.0.0.1:{}", free_port()))
        .stdin(Stdio::null())
        .output()
        .expect("the backend binary runs");
    assert!(!second.status.success(), "a second process started");
    let stderr = String::from_utf8_lossy(&second.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].contains("another process"), "{stderr}");
    assert!(lines[0].contains("postgres"), "{stderr}");

    // The first keeps serving; once it is gone the file can be opened again.
    let client = api_client();
    let cookie = sign_in(&first).await;
    let (status, body) = call(&client, &first, ACCOUNTS, &cookie).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    drop(first);
    let again = Replica::start("again", free_port(), &vars, dir.path()).await;
    let (status, body) = call(&client, &again, ACCOUNTS, &cookie).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
}
