//! End to end, in a real browser: the backend binary in simulation mode
//! serves `dist/`, headless Chromium (Debian's, through chromedriver)
//! clicks through a user's first session:
//!
//! open the app → *Sign in* → *Authorize* on the simulator page → the
//! session panel shows the user and a countdown → Accounts shows balances
//! and positions (and the orders tab) → Quotes shows a row that changes from
//! the stream → Options shows a chain for an expiration → Chart draws bars
//! → *Sign out* → the signed-out view.
//!
//! Before the flow it loads the signed-out page five times and reports the
//! median navigation → interactive time (the `app-interactive` performance
//! mark the home page sets) and the first page's wasm + JS sizes, raw and
//! gzip, into `test-artifacts/e2e/metrics.json`.
//!
//! On failure it saves a screenshot, the page's HTML, the browser console
//! and the backend log under `test-artifacts/e2e/`. The browser console is
//! also checked on success: any `SEVERE` entry (a wasm panic, an uncaught
//! error, a failed load) fails the test.
//!
//! Needs `dist/` (`trunk build --release`) and the backend binary
//! (`cargo build -p backend`, or `BACKEND_BIN`); `scripts/test.sh` builds
//! both first. `#[ignore]`d so that a plain `cargo test --workspace` does not
//! fail for want of them: run it with `cargo test -p e2e -- --ignored`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::free_port;
use testkit::process::BackendProcess;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Longest wait for anything the page should show.
const WAIT: Duration = Duration::from_secs(20);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn artifacts_dir() -> PathBuf {
    let dir = repo_root().join("test-artifacts").join("e2e");
    fs::create_dir_all(&dir).expect("create test-artifacts/e2e");
    dir
}

/// The backend process (killed on drop), in simulation mode whatever this
/// machine's environment holds: it gets only the variables below. Its
/// working directory is a temp dir, so `data/` (the generated encryption
/// key) and the SQLite file land there.
struct Backend {
    process: BackendProcess,
    base: String,
    _dir: tempfile::TempDir,
}

impl Backend {
    async fn start() -> Backend {
        let root = repo_root();
        let dist = root.join("dist");
        assert!(
            dist.join("index.html").is_file(),
            "{} is missing: build the SPA first with `trunk build --release`",
            dist.join("index.html").display()
        );
        // Where `cargo build -p backend` put it, unless told otherwise.
        let bin = std::env::var_os("BACKEND_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let target = std::env::var_os("CARGO_TARGET_DIR")
                    .map(|d| root.join(d))
                    .unwrap_or_else(|| root.join("target"));
                target.join("debug/backend")
            });
        assert!(
            bin.is_file(),
            "{} is missing: build it first with `cargo build -p backend` (or set BACKEND_BIN)",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let vars = [
            ("STATIC_DIR", dist.display().to_string()),
            (
                "DATABASE_URL",
                format!("sqlite://{}/t.db", dir.path().display()),
            ),
            ("RUST_LOG", "info".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v));
        let process = BackendProcess::start(
            &bin,
            "backend",
            free_port(),
            &vars,
            dir.path(),
            Duration::from_secs(60),
        )
        .await;
        Backend {
            base: process.origin.clone(),
            process,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        self.process.log_text()
    }
}

/// chromedriver in its own process group. Killing only chromedriver would
/// leave Chromium running (re-parented to init) when a test panics before
/// `close()`, so the guard kills the whole group.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned());
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin}: {e} (apt-get install chromium-driver)")
            });
        Driver { child, port }
    }

    async fn connect(&self) -> Client {
        let chromium =
            std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=1280,900"
                ]
            },
            "goog:loggingPrefs": { "browser": "ALL" }
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // `kill -KILL -- -PGID`: the group holds chromedriver and Chromium.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// chromedriver's `POST /session/{id}/se/log` (`{"type":"browser"}`): the
/// console entries since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// One browser session against one backend, and what it saw.
struct Session {
    client: Client,
    base: String,
    console: Vec<Value>,
}

type Step<T> = Result<T, String>;

impl Session {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn drain_console(&mut self) {
        if let Ok(Value::Array(entries)) = self.client.issue_cmd(BrowserLog).await {
            self.console.extend(entries);
        }
    }

    async fn wait_css(&self, css: &str) -> Step<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .map_err(|e| format!("waiting for {css}: {e}"))
    }

    /// Waits until the first element matching `css` has text passing `ok`.
    async fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> Step<String> {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = el.text().await
            {
                if ok(&text) {
                    return Ok(text);
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("{css}: expected {what}, last text {last:?}"))
    }

    async fn click(&self, css: &str) -> Step<()> {
        let el = self.wait_css(css).await?;
        el.click().await.map_err(|e| format!("click {css}: {e}"))
    }

    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |v| v.len())
    }

    async fn js(&self, script: &str) -> Step<Value> {
        self.client
            .execute(script, vec![])
            .await
            .map_err(|e| format!("script failed: {e}"))
    }

    /// With `E2E_SCREENSHOTS` set, saves a screenshot of the current view as
    /// `test-artifacts/e2e/views/<name>.png` (for reviewing the layout).
    async fn snap(&self, name: &str) {
        if std::env::var_os("E2E_SCREENSHOTS").is_none() {
            return;
        }
        let dir = artifacts_dir().join("views");
        let _ = fs::create_dir_all(&dir);
        // Let flashes and spinners settle.
        tokio::time::sleep(Duration::from_millis(400)).await;
        if let Ok(png) = self.client.screenshot().await {
            let _ = fs::write(dir.join(format!("{name}.png")), png);
        }
    }

    /// Saves what a person would need to see why the test failed.
    async fn save_artifacts(&mut self, backend: &Backend, why: &str) {
        let dir = artifacts_dir();
        let _ = fs::write(dir.join("failure.txt"), why);
        if let Ok(png) = self.client.screenshot().await {
            let _ = fs::write(dir.join("screenshot.png"), png);
        }
        if let Ok(html) = self.client.source().await {
            let _ = fs::write(dir.join("page.html"), html);
        }
        if let Ok(url) = self.client.current_url().await {
            let _ = fs::write(dir.join("url.txt"), url.as_str());
        }
        self.drain_console().await;
        let console = serde_json::to_string_pretty(&self.console).unwrap_or_default();
        let _ = fs::write(dir.join("console.json"), console);
        let _ = fs::write(dir.join("backend.log"), backend.log());
        eprintln!("e2e: artifacts saved in {}", dir.display());
    }
}

fn key(k: &str) -> String {
    format!("[data-testid=\"{k}\"]")
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn gzip_size(path: &Path) -> u64 {
    let out = Command::new("gzip")
        .arg("-9c")
        .arg(path)
        .output()
        .expect("gzip");
    out.stdout.len() as u64
}

/// Five loads of the signed-out page: navigation → `app-interactive`.
async fn measure(s: &mut Session) -> Step<Value> {
    let mut times = Vec::new();
    let mut resources = Value::Null;
    for i in 0..5 {
        s.client
            .goto(&s.url("/"))
            .await
            .map_err(|e| format!("open /: {e}"))?;
        s.wait_css(&key("sign-in")).await?;
        let t = s
            .js("const m = performance.getEntriesByName('app-interactive'); return m.length ? m[0].startTime : null;")
            .await?;
        times.push(
            t.as_f64()
                .ok_or("no app-interactive mark on the signed-out page")?,
        );
        if i == 0 {
            resources = s
                .js("return performance.getEntriesByType('resource')
                       .filter(e => /\\.(wasm|js|css)$/.test(new URL(e.name).pathname))
                       .map(e => ({ name: new URL(e.name).pathname, transferSize: e.transferSize,
                                    encodedBodySize: e.encodedBodySize, decodedBodySize: e.decodedBodySize,
                                    durationMs: Math.round(e.duration) }));")
                .await?;
        }
    }
    let all = times.clone();
    let median_ms = median(&mut times);

    let mut files = Vec::new();
    let (mut raw, mut gz) = (0, 0);
    for entry in fs::read_dir(repo_root().join("dist")).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if ext == "wasm" || ext == "js" {
            let size = fs::metadata(&path).map_err(|e| e.to_string())?.len();
            let g = gzip_size(&path);
            raw += size;
            gz += g;
            files.push(json!({ "file": path.file_name().unwrap().to_string_lossy(), "raw": size, "gzip": g }));
        }
    }
    Ok(json!({
        "navigation_to_interactive_ms": { "median_of_5": median_ms, "runs": all },
        "first_page_wasm_js": { "raw_bytes": raw, "gzip_bytes": gz, "files": files },
        "resources_first_load": resources,
    }))
}

async fn flow(s: &mut Session) -> Step<()> {
    // Signed out: the call to action.
    s.client
        .goto(&s.url("/"))
        .await
        .map_err(|e| format!("open /: {e}"))?;
    s.wait_text(&key("sign-in"), "the sign-in link", |t| {
        t == "Sign in with TradeStation"
    })
    .await?;
    s.snap("1-signed-out").await;

    // Sign in through the simulator's authorize page.
    s.click(&key("sign-in")).await?;
    s.wait_css("#authorize").await?;
    s.snap("2-simulator-authorize").await;
    s.click("#authorize").await?;
    s.wait_css(&key("session-panel")).await?;
    let user = s
        .wait_text(&key("session-user"), "a user id", |t| !t.trim().is_empty())
        .await?;
    let countdown = s
        .wait_text(&key("session-countdown"), "an m:ss countdown", |t| {
            t.split_once(':').is_some_and(|(m, s)| {
                m.parse::<u32>().is_ok() && s.len() == 2 && s.parse::<u32>().is_ok()
            })
        })
        .await?;
    s.wait_text(&key("session-refresh-token"), "a held refresh token", |t| {
        t.starts_with("held")
    })
    .await?;
    // It ticks.
    s.wait_text(&key("session-countdown"), "a ticking countdown", |t| {
        t != countdown
    })
    .await?;
    eprintln!("e2e: signed in as {user}, token expires in {countdown}");
    s.snap("3-session").await;

    // Accounts: balances, positions, the orders tab.
    s.click(&key("nav-accounts")).await?;
    s.wait_css(&key("account-card")).await?;
    s.wait_text(&key("balance-cash"), "a cash balance", |t| {
        t.chars().any(|c| c.is_ascii_digit())
    })
    .await?;
    s.wait_text(&key("balance-equity"), "equity", |t| {
        t.chars().any(|c| c.is_ascii_digit())
    })
    .await?;
    s.wait_css(&key("position-row")).await?;
    let positions = s.count(&key("position-row")).await;
    s.snap("4-accounts").await;
    s.click(&key("orders-tab")).await?;
    let orders_shown = s
        .js("const t = document.querySelector('[data-testid=orders-table],[data-testid=orders-empty]');
             return !!t && !t.closest('[hidden]');")
        .await?;
    if orders_shown != Value::Bool(true) {
        return Err("the orders tab shows neither orders nor the empty state".into());
    }
    eprintln!(
        "e2e: {} account(s), {positions} position row(s)",
        s.count(&key("account-card")).await
    );

    // Quotes: a row changes from the stream.
    s.click(&key("nav-quotes")).await?;
    let row = "[data-testid=\"quote-row\"][data-symbol=\"MSFT\"]";
    let last_css = format!("{row} {}", key("quote-last"));
    let first = s
        .wait_text(&last_css, "a price", |t| {
            t.chars().any(|c| c.is_ascii_digit())
        })
        .await?;
    s.wait_text(&key("stream-status"), "Live", |t| t == "Live")
        .await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let ticks = s
            .js(&format!(
                "return document.querySelector('{}').getAttribute('data-ticks');",
                row.replace('\'', "\\'")
            ))
            .await?;
        let ticks = ticks
            .as_str()
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(0);
        if ticks > 0 {
            let now = s
                .wait_css(&last_css)
                .await?
                .text()
                .await
                .unwrap_or_default();
            eprintln!("e2e: MSFT {first} → {now} after {ticks} tick(s)");
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "MSFT did not change from the stream within {WAIT:?} (stuck at {first})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.snap("5-quotes").await;
    let url = s.client.current_url().await.map_err(|e| e.to_string())?;
    if !url.as_str().contains("symbols=") {
        return Err(format!("the watchlist is not in the URL: {url}"));
    }

    // Options: a chain for an expiration.
    s.click(&key("nav-options")).await?;
    s.wait_css(&key("expiration-select")).await?;
    s.wait_css(&key("chain-row")).await?;
    s.wait_text(&key("call-bid"), "a call bid", |t| {
        t.chars().any(|c| c.is_ascii_digit())
    })
    .await?;
    s.wait_text(&key("put-bid"), "a put bid", |t| {
        t.chars().any(|c| c.is_ascii_digit())
    })
    .await?;
    eprintln!(
        "e2e: option chain with {} strikes",
        s.count(&key("chain-row")).await
    );
    s.snap("6-options").await;

    // Chart.
    s.click(&key("nav-chart")).await?;
    s.wait_css(&key("chart-svg")).await?;
    let candles = s.count(&key("candle")).await;
    if candles == 0 {
        return Err("the chart has no candles".into());
    }
    s.snap("7-chart").await;
    if std::env::var_os("E2E_SCREENSHOTS").is_some() {
        // The same views at phone width.
        s.client
            .set_window_size(390, 844)
            .await
            .map_err(|e| e.to_string())?;
        for (nav, name) in [
            ("nav-accounts", "accounts"),
            ("nav-quotes", "quotes"),
            ("nav-options", "options"),
        ] {
            s.click(&key(nav)).await?;
            s.wait_css(&key(&format!("{name}-page"))).await?;
            s.snap(&format!("phone-{name}")).await;
        }
        s.client
            .set_window_size(1280, 900)
            .await
            .map_err(|e| e.to_string())?;
    }

    // Sign out, confirming; back to the signed-out view.
    s.click(&key("nav-home")).await?;
    s.click(&key("sign-out")).await?;
    s.wait_text(&key("sign-out-confirm"), "the everywhere warning", |t| {
        t.contains("everywhere")
    })
    .await?;
    s.snap("8-sign-out-confirm").await;
    s.click(&key("confirm-sign-out")).await?;
    s.wait_css(&key("signed-out")).await?;
    s.wait_css(&key("signed-out-notice")).await?;
    s.snap("9-signed-out").await;
    let status = s
        .js("return fetch('/api/ts/status').then(r => r.json());")
        .await?;
    if status["authenticated"] != Value::Bool(false) {
        return Err(format!("/api/ts/status after sign-out: {status}"));
    }
    // A reload stays signed out.
    s.client.refresh().await.map_err(|e| e.to_string())?;
    s.wait_css(&key("sign-in")).await?;
    Ok(())
}

/// Console entries that mean the page broke.
fn severe(console: &[Value]) -> Vec<&Value> {
    console.iter().filter(|e| e["level"] == "SEVERE").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and the backend binary; scripts/test.sh builds them and runs it"]
async fn sign_in_browse_every_view_and_sign_out() {
    let backend = Backend::start().await;
    let driver = Driver::start();
    let client = driver.connect().await;
    let mut s = Session {
        client,
        base: backend.base.clone(),
        console: Vec::new(),
    };

    let result = async {
        let metrics = measure(&mut s).await?;
        let text = serde_json::to_string_pretty(&metrics).unwrap();
        let _ = fs::write(artifacts_dir().join("metrics.json"), &text);
        eprintln!("e2e: metrics\n{text}");
        flow(&mut s).await?;
        s.drain_console().await;
        let bad = severe(&s.console);
        if !bad.is_empty() {
            return Err(format!("browser console errors: {bad:#?}"));
        }
        Ok::<(), String>(())
    }
    .await;

    if let Err(why) = &result {
        s.save_artifacts(&backend, why).await;
    }
    let _ = s.client.close().await;
    drop(driver);
    if let Err(why) = result {
        panic!("e2e failed: {why}");
    }
}
