//! The backend's load benchmark: one program that starts everything it
//! measures on 127.0.0.1, runs bounded `wrk` loads, accounts the CPU of the
//! serving processes per request, and writes a Markdown report.
//!
//! `scripts/bench.sh` builds the release binaries, starts a throwaway
//! PostgreSQL (exporting `PG_URL` and `PG_DIR`) and calls this program. The
//! scenarios:
//!
//! - `a0`–`a2`: `GET /api/ts/status` without a cookie, and with one on the
//!   SQLite and the PostgreSQL store;
//! - `b1`, `b2`: a quote through the passthrough, the upstream being a static
//!   nginx responder, on each store;
//! - `c`: the same request straight to that responder;
//! - `d`: the same through plain nginx as a reverse proxy adding a fixed
//!   `Authorization` — the least a proxy can cost, the yardstick for `b`;
//! - memory of one replica idle, loaded, and after many more sessions were
//!   created and each used once;
//! - the replica tests (`backend/tests/replicas.rs`) against release-built
//!   replicas: one refresh per session over one and three replicas.
//!
//! Sessions are made straight in the store by the backend's `bench_session`
//! example (far-future expiry, so nothing refreshes during the load). The app
//! runs in TradeStation mode with every provider URL at the static responder
//! and placeholder credentials.
//!
//! # Layout
//! - [`procs`]: spawning and stopping, readiness, `/proc` CPU and memory.
//! - [`wrk`]: one load run and its result line.
//! - [`report`]: the Markdown.
//! - `bench/nginx/*.conf`, `bench/wrk/*.lua`, `bench/quote.json`: the
//!   templates and scripts, filled in at run time.

mod procs;
mod report;
mod wrk;

use procs::Spawned;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use wrk::{Load, Measured, Scripts, Servers};

const UPSTREAM_CONF: &str = include_str!("../nginx/upstream.conf");
const PROXY_CONF: &str = include_str!("../nginx/proxy.conf");
const QUOTE: &str = include_str!("../quote.json");
const QUOTE_PATH: &str = "/v3/marketdata/quotes/MSFT";

/// What the command line asked for.
#[derive(Debug, Clone)]
struct Options {
    backend: PathBuf,
    sessions_bin: PathBuf,
    out: PathBuf,
    /// A smoke run: seconds per scenario, few sessions; its report says so.
    short: bool,
    skip_replicas: bool,
}

const USAGE: &str =
    "usage: bench --backend PATH --sessions-bin PATH [--out PATH] [--short] [--skip-replicas]
  (PG_URL and PG_DIR name a running PostgreSQL; scripts/bench.sh sets them)";

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut options = Self {
            backend: PathBuf::from("target/release/backend"),
            sessions_bin: PathBuf::from("target/release/examples/bench_session"),
            out: PathBuf::from("bench/RESULTS.md"),
            short: false,
            skip_replicas: false,
        };
        let mut args = args;
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
            };
            match arg.as_str() {
                "--backend" => options.backend = value("--backend")?.into(),
                "--sessions-bin" => options.sessions_bin = value("--sessions-bin")?.into(),
                "--out" => options.out = value("--out")?.into(),
                "--short" => options.short = true,
                "--skip-replicas" => options.skip_replicas = true,
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
        }
        Ok(options)
    }

    fn load(&self) -> Load {
        let seconds = |full, short| Duration::from_secs(if self.short { short } else { full });
        Load {
            threads: 2,
            connections: 32,
            duration: seconds(10, 2),
            warmup: seconds(2, 1),
        }
    }

    fn sessions(&self) -> usize {
        if self.short { 2_000 } else { 100_000 }
    }

    /// Upper bound of the run that uses every session.
    fn cycle_bound(&self) -> Duration {
        Duration::from_secs(if self.short { 5 } else { 60 })
    }
}

fn say(message: &str) {
    eprintln!("bench: {message}");
}

/// The PostgreSQL that `scripts/bench.sh` started.
#[derive(Debug, Clone)]
struct Postgres {
    url: String,
    dir: PathBuf,
}

impl Postgres {
    fn from_env() -> Result<Self, String> {
        let get = |name: &str| {
            std::env::var(name).map_err(|_| format!("{name} is not set (run scripts/bench.sh)"))
        };
        Ok(Self {
            url: get("PG_URL")?,
            dir: get("PG_DIR")?.into(),
        })
    }

    /// The server's backend processes (children of the postmaster).
    fn backends(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next()?.trim().parse().ok())
            .map(procs::children)
            .unwrap_or_default()
    }
}

/// One nginx (master + workers) from a template.
struct Nginx {
    process: Spawned,
    port: u16,
}

impl Nginx {
    fn start(
        work: &Path,
        name: &str,
        template: &str,
        fill: &[(&str, String)],
    ) -> Result<Self, String> {
        let dir = work.join(name);
        std::fs::create_dir_all(dir.join("tmp")).map_err(|e| format!("{}: {e}", dir.display()))?;
        let port = procs::free_port()?;
        let mut conf = template
            .replace("{{DIR}}", &dir.display().to_string())
            .replace("{{PORT}}", &port.to_string());
        for (key, value) in fill {
            conf = conf.replace(&format!("{{{{{key}}}}}"), value);
        }
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).map_err(|e| format!("{}: {e}", conf_path.display()))?;
        let mut command = Command::new("nginx");
        command
            .arg("-p")
            .arg(format!("{}/", dir.display()))
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .args(["-g", "daemon off;"]);
        let process = Spawned::start(&format!("nginx {name}"), command, &dir.join("stdout.log"))?;
        Ok(Self { process, port })
    }

    fn workers(&self) -> Vec<u32> {
        procs::children(self.process.pid())
    }
}

/// One backend process.
struct App {
    process: Spawned,
    port: u16,
}

/// What every backend start shares.
struct AppSetup<'a> {
    options: &'a Options,
    work: &'a Path,
    key: String,
    upstream: String,
}

impl AppSetup<'_> {
    fn start(&self, name: &str, database_url: &str) -> Result<App, String> {
        let port = procs::free_port()?;
        let up = &self.upstream;
        let mut command = Command::new(&self.options.backend);
        command
            .current_dir(self.work)
            .env_clear()
            .env("TS_CLIENT_ID", "bench-client")
            .env("TS_CLIENT_SECRET", "bench-placeholder")
            .env("TS_BASE_URL", up)
            .env("TS_AUTH_URL", format!("{up}/authorize"))
            .env("TS_TOKEN_URL", format!("{up}/oauth/token"))
            .env("TS_REVOKE_URL", format!("{up}/oauth/revoke"))
            .env("TS_ISSUER", format!("{up}/"))
            .env(
                "TS_REDIRECT_URI",
                format!("http://127.0.0.1:{port}/api/ts/callback"),
            )
            .env("TOKEN_ENCRYPTION_KEY", &self.key)
            .env("DATABASE_URL", database_url)
            .env("SESSION_IDLE_DAYS", "0")
            .env("RUST_LOG", "warn")
            .env("BIND_ADDR", format!("127.0.0.1:{port}"));
        let process = Spawned::start(
            &format!("backend {name}"),
            command,
            &self.work.join(format!("app-{name}.log")),
        )?;
        procs::wait_ready(port, "/health")?;
        Ok(App { process, port })
    }

    /// `count` signed-in sessions in the store; their cookie values.
    fn sessions(&self, database_url: &str, count: usize) -> Result<Vec<String>, String> {
        let output = Command::new(&self.options.sessions_bin)
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("TOKEN_ENCRYPTION_KEY", &self.key)
            .arg(count.to_string())
            .output()
            .map_err(|e| format!("bench_session cannot be started: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "bench_session failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    }
}

/// A run is only worth reporting if the request works at all.
fn expect_200(port: u16, path: &str, cookie: Option<&str>) -> Result<(), String> {
    match procs::get(port, path, cookie)? {
        (200, _) => Ok(()),
        (status, body) => Err(format!(
            "127.0.0.1:{port}{path} answered {status}: {}",
            body.chars().take(300).collect::<String>()
        )),
    }
}

/// Everything the report needs.
#[derive(Debug, Default)]
pub struct Results {
    pub short: bool,
    /// The backend binary measured, relative to the working folder if inside it.
    pub backend: String,
    pub load: Option<Load>,
    pub quote_bytes: usize,
    /// `(id, label, measured)` in run order.
    pub rows: Vec<(&'static str, &'static str, Measured)>,
    pub rss_idle: Option<f64>,
    pub rss_loaded: Option<f64>,
    pub rss_sessions: Option<f64>,
    pub sessions: usize,
    pub sessions_created_secs: f64,
    pub cycle: wrk::Outcome,
    pub cycle_secs: u64,
    /// `None` when skipped; lines the replica tests printed otherwise.
    pub replicas: Option<Result<Vec<String>, String>>,
}

impl Results {
    pub fn get(&self, id: &str) -> Option<&Measured> {
        self.rows
            .iter()
            .find(|(i, _, _)| *i == id)
            .map(|(_, _, m)| m)
    }
}

fn run(options: &Options) -> Result<Results, String> {
    let pg = Postgres::from_env()?;
    let work = std::env::temp_dir().join(format!("bench.{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let result = run_in(options, &pg, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn run_in(options: &Options, pg: &Postgres, work: &Path) -> Result<Results, String> {
    let load = options.load();
    let scripts = Scripts::write(work)?;
    let quote = QUOTE.trim();
    let upstream = Nginx::start(
        work,
        "upstream",
        UPSTREAM_CONF,
        &[("QUOTE", quote.to_owned())],
    )?;
    let proxy = Nginx::start(
        work,
        "proxy",
        PROXY_CONF,
        &[("UPSTREAM_PORT", upstream.port.to_string())],
    )?;
    procs::wait_ready(upstream.port, QUOTE_PATH)?;
    procs::wait_ready(proxy.port, &format!("/api/ts{QUOTE_PATH}"))?;

    let setup = AppSetup {
        options,
        work,
        key: procs::random_key()?,
        upstream: format!("http://127.0.0.1:{}", upstream.port),
    };
    let mut results = Results {
        short: options.short,
        backend: std::env::current_dir()
            .ok()
            .and_then(|cwd| {
                options
                    .backend
                    .strip_prefix(cwd)
                    .ok()
                    .map(Path::to_path_buf)
            })
            .unwrap_or_else(|| options.backend.clone())
            .display()
            .to_string(),
        load: Some(load.clone()),
        quote_bytes: quote.len(),
        ..Results::default()
    };
    let passthrough = format!("/api/ts{QUOTE_PATH}");
    let bench = |results: &mut Results,
                 id: &'static str,
                 label: &'static str,
                 port: u16,
                 path: &str,
                 cookie: Option<&str>,
                 servers: &dyn Fn() -> Servers|
     -> Result<(), String> {
        expect_200(port, path, cookie)?;
        say(&format!("({id}) {label}"));
        let url = format!("http://127.0.0.1:{port}{path}");
        let measured = wrk::measure(&load, &scripts, servers, &url, cookie)?;
        results.rows.push((id, label, measured));
        Ok(())
    };

    // SQLite store.
    let sqlite = format!("sqlite://{}/tokens.db", work.display());
    let mut app = setup.start("sqlite", &sqlite)?;
    let cookie = setup
        .sessions(&sqlite, 1)?
        .pop()
        .ok_or("bench_session made no session")?;
    let backend = |pid: u32| {
        move || Servers {
            main: vec![pid],
            beside: Vec::new(),
        }
    };
    let pid = app.process.pid();
    bench(
        &mut results,
        "a0",
        "GET /api/ts/status without a cookie (no store access)",
        app.port,
        "/api/ts/status",
        None,
        &backend(pid),
    )?;
    bench(
        &mut results,
        "a1",
        "GET /api/ts/status, SQLite store",
        app.port,
        "/api/ts/status",
        Some(&cookie),
        &backend(pid),
    )?;
    bench(
        &mut results,
        "b1",
        "passthrough quotes/MSFT, SQLite store",
        app.port,
        &passthrough,
        Some(&cookie),
        &backend(pid),
    )?;
    app.process.stop();

    // PostgreSQL store; this replica is also the one whose memory is measured.
    let mut app = setup.start("pg", &pg.url)?;
    let pid = app.process.pid();
    results.rss_idle = procs::rss_mib(pid);
    let cookie = setup
        .sessions(&pg.url, 1)?
        .pop()
        .ok_or("bench_session made no session")?;
    let with_pg = |pid: u32| {
        move || Servers {
            main: vec![pid],
            beside: pg.backends(),
        }
    };
    bench(
        &mut results,
        "a2",
        "GET /api/ts/status, PostgreSQL store",
        app.port,
        "/api/ts/status",
        Some(&cookie),
        &with_pg(pid),
    )?;
    bench(
        &mut results,
        "b2",
        "passthrough quotes/MSFT, PostgreSQL store",
        app.port,
        &passthrough,
        Some(&cookie),
        &with_pg(pid),
    )?;
    results.rss_loaded = procs::rss_mib(pid);

    let up_workers = || Servers {
        main: upstream.workers(),
        beside: Vec::new(),
    };
    bench(
        &mut results,
        "c",
        "quotes/MSFT straight to the static upstream",
        upstream.port,
        QUOTE_PATH,
        None,
        &up_workers,
    )?;
    let proxy_workers = || Servers {
        main: proxy.workers(),
        beside: Vec::new(),
    };
    bench(
        &mut results,
        "d",
        "quotes/MSFT through nginx (reverse proxy + Authorization)",
        proxy.port,
        &passthrough,
        Some(&cookie),
        &proxy_workers,
    )?;

    // Many sessions, then every one of them used once through the passthrough.
    results.sessions = options.sessions();
    say(&format!("creating {} sessions", results.sessions));
    let created = Instant::now();
    let cookies = setup.sessions(&pg.url, results.sessions)?;
    results.sessions_created_secs = created.elapsed().as_secs_f64();
    let cookie_file = work.join("cookies.txt");
    std::fs::write(&cookie_file, cookies.join("\n") + "\n")
        .map_err(|e| format!("{}: {e}", cookie_file.display()))?;
    // Long enough for every session at half the rate of b2 (walking many
    // sessions misses caches one session hits), within the bound.
    let b2_rps = results.get("b2").map_or(1.0, |m| m.outcome.rps()).max(1.0);
    let needed = (results.sessions as f64 / (0.5 * b2_rps)) as u64 + 2;
    results.cycle_secs = needed.min(options.cycle_bound().as_secs());
    say(&format!("using the sessions ({} s)", results.cycle_secs));
    let url = format!("http://127.0.0.1:{}{passthrough}", app.port);
    results.cycle = wrk::cycle(
        &load,
        &scripts,
        Duration::from_secs(results.cycle_secs),
        &url,
        &cookie_file,
    )?;
    results.rss_sessions = procs::rss_mib(pid);
    app.process.stop();
    drop((upstream, proxy));

    if !options.skip_replicas {
        say("replica tests against release-built replicas");
        results.replicas = Some(replica_tests(&pg.url));
    }
    Ok(results)
}

/// Runs `backend/tests/replicas.rs` in release (built by `scripts/bench.sh`)
/// and keeps the `replicas: …` lines it prints.
fn replica_tests(pg_url: &str) -> Result<Vec<String>, String> {
    let output = Command::new("cargo")
        .args([
            "test",
            "--release",
            "--locked",
            "-q",
            "-p",
            "backend",
            "--test",
            "replicas",
            "--",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TEST_DATABASE_URL", pg_url)
        .output()
        .map_err(|e| format!("cargo cannot be started: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        return Err(
            "the replica tests FAILED in this run (their output is above the report)".to_owned(),
        );
    }
    Ok(text
        .lines()
        .filter_map(|l| l.split_once("replicas: ").map(|(_, rest)| rest.to_owned()))
        .collect())
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let load_before = report::load_average();
    let results = match run(&options) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = report::render(&results, &report::Context::gather(load_before));
    if let Some(dir) = options.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&options.out, &text) {
        eprintln!("bench: {}: {e}", options.out.display());
        return ExitCode::FAILURE;
    }
    print!("{text}");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_is_seconds_per_scenario_and_few_sessions() {
        let args = ["--short", "--out", "/tmp/x.md"].map(String::from);
        let o = Options::parse(args.into_iter()).expect("parsed");
        assert!(o.short);
        assert_eq!(o.load().duration, Duration::from_secs(2));
        assert_eq!(o.sessions(), 2_000);
        assert_eq!(o.out, PathBuf::from("/tmp/x.md"));
        let full = Options::parse(std::iter::empty()).expect("parsed");
        assert_eq!(full.load().duration, Duration::from_secs(10));
        assert_eq!(full.sessions(), 100_000);
    }

    #[test]
    fn unknown_arguments_and_missing_values_are_refused() {
        assert!(Options::parse(["--fast".to_owned()].into_iter()).is_err());
        assert!(Options::parse(["--out".to_owned()].into_iter()).is_err());
    }

    #[test]
    fn the_templates_have_only_the_placeholders_the_program_fills() {
        for (conf, keys) in [
            (UPSTREAM_CONF, &["DIR", "PORT", "QUOTE"][..]),
            (PROXY_CONF, &["DIR", "PORT", "UPSTREAM_PORT"][..]),
        ] {
            let mut rest = conf.to_owned();
            for key in keys {
                rest = rest.replace(&format!("{{{{{key}}}}}"), "");
            }
            assert!(!rest.contains("{{"), "unfilled placeholder in {rest}");
        }
        assert!(
            !QUOTE.contains('\''),
            "the quote sits in single quotes in nginx.conf"
        );
    }
}
