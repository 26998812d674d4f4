//! Test support for the workspace's integration tests, in one place.
//!
//! - [`free_port`], [`unix_now`], [`new_key`]: small facts every harness needs.
//! - [`http`]: reading redirects and the contract's JSON errors.
//! - [`process`]: a `backend` binary started with exactly the environment a
//!   test gives it, its log kept in a file, stopped by signal or on drop.
//! - [`pg`]: a PostgreSQL database of its own per test, on the server the
//!   test command starts; a missing server fails loudly.
//! - [`signin`]: a browser's sign-in through the simulator's authorize page.

pub mod http;
pub mod pg;
pub mod process;
pub mod signin;

use base64::Engine;
use std::time::{SystemTime, UNIX_EPOCH};

/// A 127.0.0.1 port that was free a moment ago (the caller binds it).
///
/// # Panics
/// No port can be bound at all.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A fresh 32-byte key, base64, as `TOKEN_ENCRYPTION_KEY` takes it.
pub fn new_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// A line straight to stderr: the harness captures `eprintln!` of passing
/// tests, and a skipped or slow step should be seen.
pub fn notice(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
