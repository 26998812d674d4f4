//! Signed-in sessions for the load benchmark (`scripts/bench.sh`), made
//! without a sign-in: opens the store named by `DATABASE_URL` with
//! `TOKEN_ENCRYPTION_KEY`, as the app does, and saves `COUNT` sessions (1 by
//! default) whose access token expires in ten years, so the app forwards
//! with it and never refreshes. Prints one session cookie value per line.
//!
//! ```text
//! DATABASE_URL=postgres://… TOKEN_ENCRYPTION_KEY=… \
//!     cargo run --release -p backend --example bench_session -- 100000 > cookies.txt
//! ```
//!
//! The tokens are placeholders: the benchmark's upstream is a static
//! responder that ignores them.

use backend::secret::{AccessToken, EncryptionKey, RefreshToken};
use backend::session::SessionId;
use backend::store::seal::Sealer;
use backend::store::{self, SessionRecord, TokenSet};
use base64::Engine;
use futures_util::StreamExt;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Saves in flight at once (the PostgreSQL store pools 16 connections).
const CONCURRENCY: usize = 16;
const TEN_YEARS: i64 = 10 * 365 * 86_400;

fn key_from_env() -> Result<EncryptionKey, String> {
    let raw = std::env::var("TOKEN_ENCRYPTION_KEY")
        .map_err(|_| "TOKEN_ENCRYPTION_KEY is not set".to_owned())?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .map_err(|_| "TOKEN_ENCRYPTION_KEY: not base64".to_owned())?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "TOKEN_ENCRYPTION_KEY: not 32 bytes".to_owned())?;
    Ok(EncryptionKey::new(bytes))
}

async fn run() -> Result<(), String> {
    let count: usize = match std::env::args().nth(1) {
        None => 1,
        Some(n) => n.parse().map_err(|_| format!("COUNT: not a number: {n}"))?,
    };
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set".to_owned())?;
    let sealer = Arc::new(Sealer::new(&key_from_env()?, &[]));
    let store = store::connect(&url, sealer, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let now = i64::try_from(now).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut saves = futures_util::stream::iter(0..count)
        .map(|_| {
            let store = Arc::clone(&store);
            async move {
                let id = SessionId::generate();
                let record = SessionRecord {
                    tokens: TokenSet {
                        access: AccessToken::new("bench-access-token".to_owned()),
                        refresh: Some(RefreshToken::new("bench-refresh-token".to_owned())),
                        expires_at: now + TEN_YEARS,
                        obtained_at: now,
                    },
                    user_id: Some("bench".to_owned()),
                    generation: 1,
                    created_at: now,
                    last_seen_at: now,
                };
                store
                    .save(&id.key(), &record)
                    .await
                    .map(|()| id)
                    .map_err(|e| e.to_string())
            }
        })
        .buffer_unordered(CONCURRENCY);

    let mut ids = Vec::with_capacity(count);
    while let Some(saved) = saves.next().await {
        ids.push(saved?);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for id in &ids {
        writeln!(out, "{}", id.expose_secret()).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())?;
    eprintln!(
        "bench_session: {count} session(s) saved in {} ms",
        started.elapsed().as_millis()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_session: {e}");
            ExitCode::FAILURE
        }
    }
}
