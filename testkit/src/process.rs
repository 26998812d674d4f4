//! One `backend` process, started with exactly the environment a test gives
//! it (the caller's environment is cleared, so nothing of the machine's
//! leaks in), listening on a port of 127.0.0.1, its output kept in a log
//! file. Killed (SIGKILL) and reaped when dropped.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A running backend.
#[derive(Debug)]
pub struct BackendProcess {
    pub name: String,
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    child: Child,
    log: PathBuf,
}

impl BackendProcess {
    /// Starts `bin` in `dir` on `port` with exactly `vars` (plus `BIND_ADDR`)
    /// and waits until `/health` answers 200 (at most `ready_within`).
    ///
    /// # Panics
    /// The binary does not start, exits, or is not healthy in time; the
    /// message carries its log.
    pub async fn start(
        bin: &Path,
        name: &str,
        port: u16,
        vars: &[(String, String)],
        dir: &Path,
        ready_within: Duration,
    ) -> Self {
        let mut process = Self::spawn(bin, name, port, vars, dir);
        process.wait_healthy(ready_within).await;
        process
    }

    /// Starts it without waiting for health (for starts that must fail).
    ///
    /// # Panics
    /// The binary or its log file cannot be created.
    pub fn spawn(bin: &Path, name: &str, port: u16, vars: &[(String, String)], dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("a log file");
        let child = Command::new(bin)
            .current_dir(dir)
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("a log handle"))
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Self {
            name: name.to_owned(),
            origin: format!("http://127.0.0.1:{port}"),
            child,
            log,
        }
    }

    /// Polls `/health` until it answers 200.
    ///
    /// # Panics
    /// The process exits first, or `within` passes.
    pub async fn wait_healthy(&mut self, within: Duration) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("the process status") {
                panic!(
                    "backend {} exited ({status}) before it was healthy; its log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            let health = client.get(self.url("/health")).send().await;
            if health.is_ok_and(|r| r.status() == reqwest::StatusCode::OK) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "backend {} not healthy within {within:?}; its log:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits at most `within` for the process to exit on its own.
    pub async fn exit_within(&mut self, within: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Sends SIGTERM (through `kill(1)`: the workspace forbids `unsafe`).
    ///
    /// # Panics
    /// The process has no id (already reaped) or `kill` cannot run.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("a running process");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(sent.success(), "SIGTERM was delivered");
    }

    /// SIGKILL, then reaps the process.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Everything the process wrote so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }
}
