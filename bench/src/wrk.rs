//! One load run: `wrk` against a URL, with the CPU the serving processes
//! spent during it.
//!
//! `wrk` is the load generator (it is what the reference figures were taken
//! with, and its cost per request is small and steady). Its results are read
//! from the one line `bench/wrk/report.lua` prints, never from its
//! human-readable summary.

use crate::procs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The script appended to every run's Lua file.
const REPORT_LUA: &str = include_str!("../wrk/report.lua");
/// Walks a cookie list (the 100 000-session run).
const CYCLE_LUA: &str = include_str!("../wrk/cycle.lua");

/// wrk's own settings for every run.
#[derive(Debug, Clone)]
pub struct Load {
    pub threads: u32,
    pub connections: u32,
    pub duration: Duration,
    pub warmup: Duration,
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub requests: u64,
    pub seconds: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Answers other than 2xx/3xx.
    pub non_2xx: u64,
    /// Connect, read, write and timeout errors.
    pub socket_errors: u64,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Parses the `bench-result key=value …` line of `report.lua`.
    pub fn parse(output: &str) -> Option<Self> {
        let line = output
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("bench-result "))?;
        let field = |name: &str| -> Option<u64> {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        Some(Self {
            requests: field("requests")?,
            seconds: field("duration_us")? as f64 / 1e6,
            p50: Duration::from_micros(field("p50_us")?),
            p99: Duration::from_micros(field("p99_us")?),
            non_2xx: field("status")?,
            socket_errors: field("connect")? + field("read")? + field("write")? + field("timeout")?,
        })
    }
}

/// Writes the Lua scripts into `dir` once.
#[derive(Debug, Clone)]
pub struct Scripts {
    fixed: PathBuf,
    cycle: PathBuf,
}

impl Scripts {
    /// # Errors
    /// `dir` is not writable.
    pub fn write(dir: &Path) -> Result<Self, String> {
        let fixed = dir.join("fixed.lua");
        let cycle = dir.join("cycle.lua");
        std::fs::write(&fixed, REPORT_LUA).map_err(|e| format!("{}: {e}", fixed.display()))?;
        std::fs::write(&cycle, format!("{CYCLE_LUA}\n{REPORT_LUA}"))
            .map_err(|e| format!("{}: {e}", cycle.display()))?;
        Ok(Self { fixed, cycle })
    }
}

/// Who serves a run, for the CPU accounting.
#[derive(Debug, Clone, Default)]
pub struct Servers {
    /// Processes whose CPU is the run's "server CPU".
    pub main: Vec<u32>,
    /// Processes reported beside it (PostgreSQL's backends), if any.
    pub beside: Vec<u32>,
}

/// A run's results and the CPU its servers spent, in µs per request.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub outcome: Outcome,
    pub cpu_us: f64,
    pub beside_cpu_us: Option<f64>,
}

fn wrk(
    load: &Load,
    duration: Duration,
    script: &Path,
    url: &str,
    cookie: Option<&str>,
    extra: &[String],
) -> Result<Outcome, String> {
    let mut command = Command::new("wrk");
    command
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(script);
    if let Some(cookie) = cookie {
        command
            .arg("-H")
            .arg(format!("Cookie: ts_session={cookie}"));
    }
    command.arg(url);
    if !extra.is_empty() {
        command.arg("--").args(extra);
    }
    let output = command
        .output()
        .map_err(|e| format!("wrk cannot be started (apt-get install wrk): {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wrk failed on {url}: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Outcome::parse(&stdout).ok_or_else(|| format!("wrk printed no result line for {url}: {stdout}"))
}

/// Warms up, then measures `url` while counting the CPU of `servers`.
///
/// # Errors
/// wrk cannot run or prints no result.
pub fn measure(
    load: &Load,
    scripts: &Scripts,
    servers: impl Fn() -> Servers,
    url: &str,
    cookie: Option<&str>,
) -> Result<Measured, String> {
    wrk(load, load.warmup, &scripts.fixed, url, cookie, &[])?;
    // Taken after the warm-up: nginx and PostgreSQL may have started
    // processes for it.
    let servers = servers();
    let (cpu0, beside0) = (
        procs::cpu_ticks(&servers.main),
        procs::cpu_ticks(&servers.beside),
    );
    let outcome = wrk(load, load.duration, &scripts.fixed, url, cookie, &[])?;
    let (cpu1, beside1) = (
        procs::cpu_ticks(&servers.main),
        procs::cpu_ticks(&servers.beside),
    );
    let hz = procs::clock_ticks() as f64;
    let per_request = |ticks: u64| {
        if outcome.requests == 0 {
            0.0
        } else {
            ticks as f64 / hz * 1e6 / outcome.requests as f64
        }
    };
    Ok(Measured {
        cpu_us: per_request(cpu1.saturating_sub(cpu0)),
        beside_cpu_us: (!servers.beside.is_empty())
            .then(|| per_request(beside1.saturating_sub(beside0))),
        outcome,
    })
}

/// Uses every cookie of `cookies` (one per line) once, round-robin, for at
/// most `duration`.
///
/// # Errors
/// wrk cannot run or prints no result.
pub fn cycle(
    load: &Load,
    scripts: &Scripts,
    duration: Duration,
    url: &str,
    cookies: &Path,
) -> Result<Outcome, String> {
    let args = [cookies.display().to_string(), load.threads.to_string()];
    wrk(load, duration, &scripts.cycle, url, None, &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_line_is_read_whatever_wrk_printed_before_it() {
        let out = "Running 2s test @ http://127.0.0.1:1/\n  2 threads and 32 connections\n\
                   bench-result requests=2000 duration_us=2000000 p50_us=640 p99_us=5010 status=3 connect=0 read=1 write=0 timeout=2\n";
        let o = Outcome::parse(out).expect("parsed");
        assert_eq!(o.requests, 2000);
        assert!((o.rps() - 1000.0).abs() < 1e-9);
        assert_eq!(o.p50, Duration::from_micros(640));
        assert_eq!(o.p99, Duration::from_micros(5010));
        assert_eq!(o.non_2xx, 3);
        assert_eq!(o.socket_errors, 3);
    }

    #[test]
    fn output_without_a_result_line_is_no_result() {
        assert!(Outcome::parse("Requests/sec: 100\n").is_none());
        assert!(Outcome::parse("bench-result requests=x\n").is_none());
    }
}
