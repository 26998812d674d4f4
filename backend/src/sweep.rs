//! The periodic sweep: sessions unused for `SESSION_IDLE_DAYS` are deleted
//! (their refresh token revoked first, unless `TS_REVOKE_ON_LOGOUT=false`),
//! and expired pending logins are dropped.

use crate::routes::AppState;
use std::time::Duration;

const EVERY: Duration = Duration::from_secs(3600);
const BATCH: u32 = 500;

pub async fn run(state: AppState, idle: Duration) {
    let mut ticks = tokio::time::interval(EVERY);
    loop {
        ticks.tick().await;
        sweep_once(&state, idle).await;
    }
}

/// One pass; returns how many sessions it ended.
pub async fn sweep_once(state: &AppState, idle: Duration) -> usize {
    let now = state.clock.now();
    if let Err(e) = state.store.purge_pending(now).await {
        tracing::warn!(cause = %e, "sweep: could not drop expired logins");
    }
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
