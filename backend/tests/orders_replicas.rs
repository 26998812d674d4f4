//! Exactly-once placement across replicas: the real `backend` binary started
//! as separate processes sharing one PostgreSQL database, each sent the same
//! `OrderConfirmID` at once, in front of one scripted TradeStation API that
//! counts placements.
//!
//! Sign-in goes through the simulator (its own 127.0.0.1 port, in this
//! process); `TS_BASE_URL` points at the scripted API, which takes 1 s to
//! answer a placement, as a slow TradeStation would, so duplicates arrive
//! while the first is in flight. Needs `TEST_DATABASE_URL`; without it the
//! test says so and passes. Run with `--nocapture` for the figures (lines
//! start with `orders_replicas:`).

use reqwest::StatusCode;
use reqwest::cookie::Jar;
use reqwest::redirect::Policy;
use simulator::{SimConfig, Simulator};
use sqlx::{Connection, PgConnection};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use url::Url;

/// Concurrent placements of one order, spread over the replicas.
const CALLERS: usize = 60;

const PLACED: &str =
    r#"{"Orders":[{"OrderID":"286234131","Message":"Sent order: Buy 10 MSFT @ Market"}]}"#;

fn notice(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The scripted API: counts placements, answers each after `hold`.
async fn start_api(placements: Arc<AtomicUsize>, hold: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/v3/orderexecution/orders",
        axum::routing::post(move || {
            let placements = placements.clone();
            async move {
                placements.fetch_add(1, Ordering::SeqCst);
                // A slow TradeStation: the scenario under test, not a wait
                // for something to happen.
                tokio::time::sleep(hold).await;
                ([("content-type", "application/json")], PLACED)
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    origin
}

async fn start_sim() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let sim = Simulator::new(SimConfig::for_tests(format!("{origin}/sim/")));
    let router = axum::Router::new().nest("/sim", sim.router());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    origin
}

/// A database of its own on the `TEST_DATABASE_URL` server, dropped at the end.
async fn create_db(admin_url: &str) -> (String, String) {
    let name = format!("orders_{:016x}", rand::random::<u64>());
    let mut admin = PgConnection::connect(admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut url = Url::parse(admin_url).unwrap();
    url.set_path(&format!("/{name}"));
    (name, url.into())
}

async fn drop_db(admin_url: &str, name: &str) {
    let mut admin = PgConnection::connect(admin_url).await.unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
}

/// One backend process; killed and reaped when dropped.
struct Replica {
    origin: String,
    child: Child,
    log: PathBuf,
}

impl Replica {
    async fn start(name: &str, port: u16, vars: &[(String, String)], dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_backend"))
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
            origin: format!("http://127.0.0.1:{port}"),
            child,
            log,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = replica.child.try_wait().unwrap() {
                panic!("replica {name} exited ({status}):\n{}", replica.log_text());
            }
            let health = client.get(replica.url("/health")).send().await;
            if health.is_ok_and(|r| r.status() == StatusCode::OK) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "replica {name} not healthy:\n{}",
                replica.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        replica
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

fn location(response: &reqwest::Response) -> Url {
    Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

/// Signs in through `replica` like a browser; returns the session cookie.
async fn sign_in(replica: &Replica) -> String {
    let browser = reqwest::Client::builder()
        .cookie_provider(Arc::new(Jar::default()))
        .redirect(Policy::none())
        .build()
        .unwrap();
    let login = browser
        .get(replica.url("/api/ts/login"))
        .send()
        .await
        .unwrap();
    let authorize = location(&login);
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("username".into(), "trader".into()));
    form.push(("decision".into(), "authorize".into()));
    let mut action = authorize.clone();
    action.set_query(None);
    let decided = browser.post(action).form(&form).send().await.unwrap();
    let done = browser.get(location(&decided)).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER, "signed in");
    done.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("ts_session="))
        .and_then(|rest| rest.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

async fn placements_through(n: usize, admin_url: &str) {
    let placements = Arc::new(AtomicUsize::new(0));
    let api = start_api(placements.clone(), Duration::from_secs(1)).await;
    let sim = format!("{}/sim", start_sim().await);
    let (db_name, db_url) = create_db(admin_url).await;
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let key = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktMDEyMzQ=";
    let vars: Vec<(String, String)> = [
        ("TS_CLIENT_ID", "sim-client".to_owned()),
        ("TS_CLIENT_SECRET", "sim-secret".to_owned()),
        ("TS_AUTH_URL", format!("{sim}/authorize")),
        ("TS_TOKEN_URL", format!("{sim}/oauth/token")),
        ("TS_REVOKE_URL", format!("{sim}/oauth/revoke")),
        ("TS_ISSUER", format!("{sim}/")),
        ("TS_JWKS_URL", format!("{sim}/.well-known/jwks.json")),
        ("TS_BASE_URL", api),
        ("TS_TRADING", "on".to_owned()),
        (
            "TS_REDIRECT_URI",
            format!("http://127.0.0.1:{}/api/ts/callback", ports[0]),
        ),
        ("DATABASE_URL", db_url),
        ("TOKEN_ENCRYPTION_KEY", key.to_owned()),
        ("TS_HTTP_TIMEOUT", "5".to_owned()),
        ("SESSION_IDLE_DAYS", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut replicas = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        replicas.push(Replica::start(&format!("R{i}"), *port, &vars, dir.path()).await);
    }
    let cookie = sign_in(&replicas[0]).await;

    let order = serde_json::json!({
        "AccountID": "SIM123456M", "Symbol": "MSFT", "Quantity": "10", "OrderType": "Market",
        "TradeAction": "BUY", "TimeInForce": {"Duration": "DAY"}, "OrderConfirmID": "replicas-1"
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|i| {
            let request = client
                .post(replicas[i % n].url("/api/ts/v3/orderexecution/orders"))
                .header("cookie", format!("ts_session={cookie}"))
                .header("X-CSRF", "1")
                .json(&order);
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let replayed = response.headers().contains_key("idempotent-replayed");
                (response.status(), replayed, response.text().await.unwrap())
            })
        })
        .collect();
    let mut replayed = 0;
    for caller in callers {
        let (status, was_replayed, body) = caller.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, PLACED, "every caller gets the one answer");
        replayed += usize::from(was_replayed);
    }
    let upstream = placements.load(Ordering::SeqCst);
    notice(&format!(
        "orders_replicas: {n} replica(s), {CALLERS} concurrent placements of one OrderConfirmID -> {upstream} upstream placement(s), {replayed} replayed, {:.2} s",
        started.elapsed().as_secs_f64()
    ));
    drop(replicas);
    drop_db(admin_url, &db_name).await;
    assert_eq!(upstream, 1, "one upstream placement");
    assert_eq!(replayed, CALLERS - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_confirm_id_sent_to_three_replicas_at_once_is_placed_once() {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        notice("orders_replicas: skipped: TEST_DATABASE_URL not set");
        return;
    };
    placements_through(1, &admin_url).await;
    placements_through(3, &admin_url).await;
}
