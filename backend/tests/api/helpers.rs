//! `TestApp`: the app started on an ephemeral loopback port with its own
//! SQLite file, a cookie jar, a manual clock, and (in simulation mode) the
//! simulator's handle for counting token calls.

use backend::clock::ManualClock;
use backend::config::Config;
use backend::routes::AppState;
use backend::{Overrides, serve, start};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;
use simulator::Simulator;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

/// A fixed test key (32 bytes, base64); not used anywhere real.
pub const TEST_KEY: &str = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktMDEyMzQ=";

/// Everything every app in this test binary logged, at every level.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = BufferWriter(buffer.clone());
        let subscriber = backend::telemetry::subscriber(
            backend::config::LogFormat::Json,
            "trace",
            move || writer.clone(),
            false,
        );
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

#[derive(Clone)]
struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One browser: a cookie jar and a client that does not follow redirects.
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
}

pub struct TestApp {
    pub browser: Browser,
    pub sim: Option<Simulator>,
    pub clock: ManualClock,
    pub state: AppState,
    pub dir: Arc<tempfile::TempDir>,
    pub vars: HashMap<String, String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl TestApp {
    /// Simulation mode, fresh data folder.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(vars: &[(&str, &str)]) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::spawn_in(dir, vars, ManualClock::new()).await
    }

    /// Starts an app on `dir`'s SQLite file with these variables.
    pub async fn spawn_in(
        dir: Arc<tempfile::TempDir>,
        mut vars: HashMap<String, String>,
        clock: ManualClock,
    ) -> Self {
        log_buffer();
        vars.entry("DATABASE_URL".into())
            .or_insert_with(|| format!("sqlite://{}/tokens.db", dir.path().display()));
        vars.entry("TOKEN_ENCRYPTION_KEY".into())
            .or_insert_with(|| TEST_KEY.into());
        vars.entry("STATIC_DIR".into())
            .or_insert_with(|| dir.path().join("dist").display().to_string());
        vars.entry("TS_HTTP_TIMEOUT".into())
            .or_insert_with(|| "2".into());
        vars.entry("SESSION_IDLE_DAYS".into())
            .or_insert_with(|| "0".into());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // `{app}` in a value stands for this app's origin (its redirect URI
        // in TradeStation mode needs it).
        let resolved: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.clone(), v.replace("{app}", &format!("http://{addr}"))))
            .collect();
        let config = Config::from_lookup(|k| resolved.get(k).cloned()).expect("test config");
        let overrides = Overrides {
            clock: Arc::new(clock.clone()),
        };
        let started = start(&config, addr, overrides).await.expect("app starts");
        let (tx, rx) = oneshot::channel();
        let router = started.router;
        let server = tokio::spawn(async move {
            serve(listener, router, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });

        Self {
            browser: Browser::new(format!("http://{addr}"), Arc::new(Jar::default())),
            sim: started.simulator,
            clock,
            state: started.state,
            dir,
            vars,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the server and waits until it has let go of its port.
    pub async fn stop(mut self) -> (Arc<tempfile::TempDir>, HashMap<String, String>, Arc<Jar>) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
        (
            self.dir.clone(),
            self.vars.clone(),
            self.browser.jar.clone(),
        )
    }

    pub fn sim(&self) -> &Simulator {
        self.sim.as_ref().expect("simulation mode")
    }

    /// Another browser on the same app: its own cookies.
    pub fn spawn_second_browser(app: &TestApp) -> Browser {
        Browser::new(app.browser.base.clone(), Arc::new(Jar::default()))
    }
}

impl std::ops::Deref for TestApp {
    type Target = Browser;
    fn deref(&self) -> &Browser {
        &self.browser
    }
}

impl Browser {
    pub fn new(base: String, jar: Arc<Jar>) -> Self {
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            .build()
            .unwrap();
        Self { base, client, jar }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn status(&self) -> shared::api::StatusResponse {
        self.get("/api/ts/status").await.json().await.unwrap()
    }

    pub async fn logout(&self) -> reqwest::Response {
        self.client
            .post(self.url("/api/ts/logout"))
            .header("X-CSRF", "1")
            .send()
            .await
            .unwrap()
    }

    /// The value of the cookie `name`, if the jar holds one.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let url = Url::parse(&self.base).unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    /// The session cookie's value, if the jar holds one.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie("ts_session")
    }

    /// `/api/ts/login` → the provider's authorize URL (not followed).
    pub async fn start_login(&self, return_to: Option<&str>) -> Url {
        let mut url = Url::parse(&self.url("/api/ts/login")).unwrap();
        if let Some(r) = return_to {
            url.query_pairs_mut().append_pair("return_to", r);
        }
        let response = self.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 303, "login redirects");
        location(&response)
    }

    /// Clicks Authorize (or Deny) on the simulator page for `authorize`;
    /// returns the callback URL the simulator redirects to.
    pub async fn decide(&self, authorize: &Url, decision: &str) -> Url {
        let page = self.client.get(authorize.clone()).send().await.unwrap();
        assert_eq!(page.status(), 200, "the simulator shows its sign-in page");
        let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
        form.push(("username".into(), "trader".into()));
        form.push(("decision".into(), decision.into()));
        let mut action = authorize.clone();
        action.set_query(None);
        let response = self.client.post(action).form(&form).send().await.unwrap();
        assert!(response.status().is_redirection(), "{}", response.status());
        location(&response)
    }

    /// The whole sign-in: login, Authorize, callback. Returns the callback's
    /// response (a 303 to `return_to` with the session cookie).
    pub async fn sign_in(&self) -> reqwest::Response {
        let authorize = self.start_login(None).await;
        let callback = self.decide(&authorize, "authorize").await;
        self.client.get(callback).send().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

pub use testkit::http::{error_code, location};
