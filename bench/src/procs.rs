//! The processes a benchmark run starts, and what `/proc` says about them.
//!
//! Owns: spawning with a clean environment, stopping with `SIGTERM` (never
//! `SIGKILL` first: nginx's master must take its workers with it), waiting
//! for an HTTP server to answer, free ports on 127.0.0.1, CPU time and
//! resident memory of process sets. Linux only, by design: CPU accounting
//! reads `/proc/<pid>/stat`.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process stopped with `SIGTERM` (then reaped) when dropped, so an
/// early error never leaves a server running.
#[derive(Debug)]
pub struct Spawned {
    name: String,
    child: Option<Child>,
}

impl Spawned {
    /// Starts `command` with its output appended to `log`.
    ///
    /// # Errors
    /// The log cannot be created or the program cannot be started.
    pub fn start(name: &str, mut command: Command, log: &Path) -> Result<Self, String> {
        let out =
            fs::File::create(log).map_err(|e| format!("{name}: log {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{name}: log {}: {e}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{name}: cannot start: {e}"))?;
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends `SIGTERM` and waits for the exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let terminated = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()
                .is_ok_and(|s| s.success());
            if !terminated {
                let _ = child.kill();
            }
            if let Err(e) = child.wait() {
                eprintln!("bench: {}: wait failed: {e}", self.name);
            }
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
///
/// # Errors
/// No port could be bound.
pub fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

/// The status and body of one `GET` on 127.0.0.1 (HTTP/1.1, connection
/// closed after it), with an optional session cookie.
///
/// # Errors
/// Connecting, writing or reading fails, or the answer has no status line.
pub fn get(port: u16, path: &str, cookie: Option<&str>) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let timeout = Some(Duration::from_secs(5));
    stream
        .set_read_timeout(timeout)
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(timeout)
        .map_err(|e| e.to_string())?;
    let cookie = cookie.map_or_else(String::new, |c| format!("Cookie: ts_session={c}\r\n"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie}Connection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "no HTTP status line".to_owned())?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    Ok((status, body))
}

/// Waits (bounded: 15 s) until `GET path` answers 200: the only way to know
/// another process is ready to serve.
///
/// # Errors
/// It did not within the bound.
pub fn wait_ready(port: u16, path: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match get(port, path, None) {
            Ok((200, _)) => return Ok(()),
            outcome if Instant::now() >= deadline => {
                return Err(format!(
                    "127.0.0.1:{port}{path} did not answer 200 within 15 s (last: {outcome:?})"
                ));
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on
/// every Linux we know of when `getconf` is missing).
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold
/// spaces and parentheses, hence the search for the last `)`).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// User + system CPU of `pids`, in clock ticks. A process that has exited
/// counts as 0.
pub fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|&pid| {
            // After the name: state(0) ppid(1) … utime(11) stime(12).
            let f = stat_fields(pid)?;
            let utime: u64 = f.get(11)?.parse().ok()?;
            let stime: u64 = f.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .sum()
}

/// The direct children of `parent` (nginx's workers, PostgreSQL's backends).
pub fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            stat_fields(pid)
                .and_then(|f| f.get(1)?.parse::<u32>().ok())
                .is_some_and(|ppid| ppid == parent)
        })
        .collect()
}

/// Resident memory of `pid` in MiB (`VmRSS`).
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// 32 random bytes from the kernel, base64 (standard alphabet, padded): a
/// `TOKEN_ENCRYPTION_KEY` for this run only.
///
/// # Errors
/// `/dev/urandom` cannot be read.
pub fn random_key() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(base64(&bytes))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(random_key().map(|k| k.len()), Ok(44));
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = std::process::id();
        // Spin until the kernel has charged a tick (bounded: a shared machine
        // may give this thread little CPU).
        let spin = Instant::now();
        while cpu_ticks(&[me]) == 0 && spin.elapsed() < Duration::from_secs(10) {
            std::hint::black_box(spin.elapsed());
        }
        assert!(cpu_ticks(&[me]) > 0);
        assert!(rss_mib(me).is_some_and(|m| m > 0.0));
        assert_eq!(cpu_ticks(&[u32::MAX]), 0);
    }
}
