//! The background sweeps, and the handle that stops them.
//!
//! Two tasks with their own periods: expired pending logins are deleted
//! every [`PENDING_EVERY`] whatever `SESSION_IDLE_DAYS` says (the store
//! deletes them in small batches so a write lock is never held for long),
//! and sessions unused for `SESSION_IDLE_DAYS` are deleted every
//! [`SESSIONS_EVERY`] (their refresh token revoked first, unless
//! `TS_REVOKE_ON_LOGOUT=false`); `SESSION_IDLE_DAYS=0` turns only the latter
//! off. [`spawn_all`] starts them; [`BackgroundTasks::shutdown`] stops them.

use crate::routes::AppState;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often expired pending logins are deleted: they must be gone within a
/// minute of expiring.
pub const PENDING_EVERY: Duration = Duration::from_secs(30);
const SESSIONS_EVERY: Duration = Duration::from_secs(3600);
const BATCH: u32 = 500;

/// The running sweeps. Dropping this leaves them running; call
/// [`BackgroundTasks::shutdown`] to stop them.
#[derive(Debug, Default)]
pub struct BackgroundTasks {
    handles: Vec<JoinHandle<()>>,
}

impl BackgroundTasks {
    /// Stops every sweep (a pass in progress is cut at its next `.await`;
    /// each statement it ran is complete on its own) and waits for them.
    pub async fn shutdown(self) {
        for handle in &self.handles {
            handle.abort();
        }
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

/// Starts the pending-login purge, and the idle-session sweep unless `idle`
/// is `None` (`SESSION_IDLE_DAYS=0`).
pub fn spawn_all(state: &AppState, idle: Option<Duration>) -> BackgroundTasks {
    let mut handles = vec![tokio::spawn(purge_pending_logins(state.clone()))];
    if let Some(idle) = idle {
        handles.push(tokio::spawn(run(state.clone(), idle)));
    }
    BackgroundTasks { handles }
}

async fn purge_pending_logins(state: AppState) {
    let mut ticks = tokio::time::interval(PENDING_EVERY);
    loop {
        ticks.tick().await;
        match state.store.purge_pending(state.clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "sweep: expired logins dropped"),
            Err(e) => tracing::warn!(cause = %e, "sweep: could not drop expired logins"),
        }
    }
}

/// The idle-session sweep, every hour.
pub async fn run(state: AppState, idle: Duration) {
    let mut ticks = tokio::time::interval(SESSIONS_EVERY);
    loop {
        ticks.tick().await;
        sweep_once(&state, idle).await;
    }
}

/// One pass; returns how many sessions it ended.
pub async fn sweep_once(state: &AppState, idle: Duration) -> usize {
    let now = state.clock.now();
    let cutoff = now - i64::try_from(idle.as_secs()).unwrap_or(i64::MAX / 2);
    let mut ended = 0;
    loop {
        let idle_sessions = match state.store.idle_sessions(cutoff, BATCH).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(cause = %e, "sweep: could not list idle sessions");
                return ended;
            }
        };
        let batch = idle_sessions.len();
        let ended_before = ended;
        for (key, record) in idle_sessions {
            let refresh = record.and_then(|r| r.tokens.refresh);
            if let Some(refresh) = refresh.filter(|_| state.settings.revoke_on_logout)
                && let Err(reason) = state.oauth.revoke(&refresh).await
            {
                tracing::warn!(session = key.short(), %reason, "sweep: revoke failed");
            }
            match state.tokens.forget(&key).await {
                Ok(_) => {
                    ended += 1;
                    tracing::info!(session = key.short(), "sweep: idle session ended");
                }
                Err(e) => tracing::warn!(session = key.short(), cause = %e, "sweep: delete failed"),
            }
        }
        // A short batch was the last; a batch of which nothing could be
        // deleted would come back the same, so stop until the next pass.
        if batch < BATCH as usize || ended == ended_before {
            return ended;
        }
    }
}
