//! The Markdown report: the machine, the load, one row per scenario, the
//! ratios that matter, memory, and the replica tests' lines.
//!
//! Every figure in it comes from [`crate::Results`]; the prose around them
//! only says how they were taken. A short run says so at the top.

use crate::Results;
use crate::wrk::Measured;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

/// Where and when the run happened.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub date: String,
    pub commit: String,
    pub cores: usize,
    pub cpu: String,
    pub memory_gib: f64,
    pub os: String,
    pub load_before: String,
    pub load_after: String,
}

fn command_text(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

impl Context {
    pub fn gather(load_before: String) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let dirty = command_text("git", &["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.is_empty());
        let commit = command_text("git", &["rev-parse", "--short", "HEAD"])
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            date: command_text("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default(),
            commit: if dirty {
                format!("{commit} (plus uncommitted changes)")
            } else {
                commit
            },
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu: cpuinfo
                .lines()
                .find_map(|l| {
                    l.strip_prefix("model name")?
                        .split_once(':')
                        .map(|(_, v)| v.trim().to_owned())
                })
                .unwrap_or_else(|| "unknown CPU".to_owned()),
            memory_gib: meminfo
                .lines()
                .find_map(|l| {
                    l.strip_prefix("MemTotal:")?
                        .split_whitespace()
                        .next()?
                        .parse::<f64>()
                        .ok()
                })
                .map_or(0.0, |kib| kib / 1_048_576.0),
            os: os_release
                .lines()
                .find_map(|l| {
                    l.strip_prefix("PRETTY_NAME=")
                        .map(|v| v.trim_matches('"').to_owned())
                })
                .unwrap_or_else(|| "unknown OS".to_owned()),
            load_before,
            load_after: load_average(),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn mib(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1} MiB"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "n/a".to_owned(),
    }
}

fn row(id: &str, label: &str, m: &Measured) -> String {
    let beside = m
        .beside_cpu_us
        .map_or_else(String::new, |us| format!(" + {us:.0} PostgreSQL"));
    format!(
        "| {id} | {label} | {:.0} | {} | {} | {:.0}{beside} | {} / {} |\n",
        m.outcome.rps(),
        ms(m.outcome.p50),
        ms(m.outcome.p99),
        m.cpu_us,
        m.outcome.non_2xx,
        m.outcome.socket_errors,
    )
}

/// The whole report.
pub fn render(r: &Results, cx: &Context) -> String {
    let mut s = String::new();
    let rps = |id: &str| r.get(id).map(|m| m.outcome.rps());
    let cpu = |id: &str| r.get(id).map(|m| m.cpu_us);
    let cpu_text = |id: &str| cpu(id).map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0}"));
    let diff = |a: &str, b: &str| match (cpu(a), cpu(b)) {
        (Some(a), Some(b)) => format!("{:.0}", a - b),
        _ => "n/a".to_owned(),
    };

    let _ = writeln!(s, "# Benchmark results\n");
    if r.short {
        let _ = writeln!(
            s,
            "**Short smoke run** (`scripts/bench.sh --short`): a few seconds per scenario and few \
             sessions, to show the benchmark works end to end. Its figures are not measurements; \
             run `scripts/bench.sh` on a quiet machine for those.\n"
        );
    }
    let _ = writeln!(
        s,
        "{}, commit {}, `scripts/bench.sh`.\n",
        cx.date, cx.commit
    );
    let _ = writeln!(
        s,
        "Machine: {} cores ({}), {:.0} GiB RAM, {}.\n\
         **The load generator, the servers, nginx and PostgreSQL all share these {} cores**, so \
         the figures are ratios between setups on one machine, not capacity claims. Load average \
         (1 min) before the run: {}, at the end: {} (the benchmark itself keeps the cores busy; \
         a high figure before it started was other work sharing the machine).\n",
        cx.cores, cx.cpu, cx.memory_gib, cx.os, cx.cores, cx.load_before, cx.load_after
    );
    if let Some(load) = &r.load {
        let _ = writeln!(
            s,
            "Load: `wrk -t{} -c{} -d{}s` after a {} s warm-up, keep-alive, on 127.0.0.1. The \
             backend is `{}` with `RUST_LOG=warn`; nginx has its access log off. The \
             static upstream is nginx (1 worker) answering a {}-byte quote; the reference proxy \
             is nginx (workers = cores) with upstream keep-alive, adding `Authorization: Bearer …` \
             and dropping the cookie, as the backend does. The backend also looks the session up \
             in its store on every request, which nginx does not.\n",
            load.threads,
            load.connections,
            load.duration.as_secs(),
            load.warmup.as_secs(),
            r.backend,
            r.quote_bytes
        );
    }
    s.push_str("| | request | requests/s | p50 | p99 | server CPU µs/request | non-2xx / socket errors |\n");
    s.push_str("|---|---|---|---|---|---|---|\n");
    for (id, label, m) in &r.rows {
        s.push_str(&row(id, label, m));
    }
    let _ = writeln!(
        s,
        "\n**Passthrough throughput as a ratio of nginx's (goal ≥ 0.8):** SQLite store {}, \
         PostgreSQL store {}. nginx as proxy vs the upstream alone: {}. CPU per proxied request, \
         nginx's as a fraction of ours: SQLite store {}, PostgreSQL store {}. Where the \
         passthrough's CPU goes (SQLite store): the HTTP stack alone (a0) {} µs, the session \
         lookup (a1 − a0) {} µs, the upstream call (b1 − a1) {} µs; nginx's whole proxied request \
         (d) {} µs.\n",
        ratio(rps("b1"), rps("d")),
        ratio(rps("b2"), rps("d")),
        ratio(rps("d"), rps("c")),
        ratio(cpu("d"), cpu("b1")),
        ratio(cpu("d"), cpu("b2")),
        cpu_text("a0"),
        diff("a1", "a0"),
        diff("b1", "a1"),
        cpu_text("d"),
    );
    s.push_str(
        "\"Server CPU\" is the user + system time of the serving processes during the run divided \
         by the requests served: the backend process (a, b; the PostgreSQL server's own share \
         beside it), the upstream's nginx worker (c), the proxy's nginx workers (d; the \
         upstream's work is counted in neither b nor d). It depends less than requests/s on what \
         else the shared cores do.\n\n",
    );

    let c = &r.cycle;
    let used = if c.requests >= r.sessions as u64 {
        "every one of them used (each wrk thread walks its share of the list)".to_owned()
    } else {
        format!("{} of them used (the time bound ran out first)", c.requests)
    };
    let _ = writeln!(
        s,
        "## Memory (one replica, PostgreSQL store)\n\n\
         | state | VmRSS |\n|---|---|\n\
         | idle, just started | {} |\n\
         | after the runs a2, b2 | {} |\n\
         | after {} more sessions were created ({:.0} s) and used: {} passthrough calls in {} s, {} ({:.0} req/s, non-2xx {}) | {} |\n\n\
         The backend keeps no per-session state in memory for a PostgreSQL store (the store holds \
         it), so the figure should not grow with the number of sessions.\n",
        mib(r.rss_idle),
        mib(r.rss_loaded),
        r.sessions,
        r.sessions_created_secs,
        c.requests,
        r.cycle_secs,
        used,
        c.rps(),
        c.non_2xx,
        mib(r.rss_sessions),
    );

    s.push_str("## One refresh per session, replicas (release build)\n\n");
    match &r.replicas {
        None => s.push_str("Not run this time (`--skip-replicas`).\n"),
        Some(Err(e)) => {
            let _ = writeln!(s, "- {e}");
        }
        Some(Ok(lines)) => {
            s.push_str(
                "From `backend/tests/replicas.rs` (`cargo test --release -p backend --test replicas \
                 -- --nocapture`): 300 concurrent data calls for one session whose token is \
                 expiring, spread round-robin over the replicas, the token endpoint holding its \
                 answer.\n\n",
            );
            for line in lines {
                let _ = writeln!(s, "- {line}");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrk::Outcome;

    fn measured(requests: u64, cpu_us: f64) -> Measured {
        Measured {
            outcome: Outcome {
                requests,
                seconds: 1.0,
                p50: Duration::from_micros(500),
                p99: Duration::from_millis(5),
                non_2xx: 0,
                socket_errors: 0,
            },
            cpu_us,
            beside_cpu_us: None,
        }
    }

    #[test]
    fn the_report_states_the_ratios_from_the_rows_and_flags_a_short_run() {
        let results = Results {
            short: true,
            rows: vec![
                ("b1", "passthrough", measured(400, 50.0)),
                ("d", "nginx", measured(1000, 20.0)),
            ],
            ..Results::default()
        };
        let text = render(&results, &Context::default());
        assert!(text.contains("**Short smoke run**"));
        assert!(text.contains("SQLite store 0.40"), "{text}");
        assert!(text.contains("| b1 | passthrough | 400 | 0.50 ms | 5.00 ms | 50 | 0 / 0 |"));
        assert!(text.contains("PostgreSQL store n/a"));
        assert!(text.contains("Not run this time"));
    }

    #[test]
    fn a_full_run_has_no_smoke_banner() {
        let text = render(&Results::default(), &Context::default());
        assert!(!text.contains("Short smoke run"));
    }
}
