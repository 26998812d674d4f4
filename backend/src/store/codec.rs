//! Turning records into sealed rows and back; shared by every store backend
//! so they agree on the format byte for byte.
//!
//! A session row keeps in clear only what the store must query or what the
//! status route shows (`user_id`, `expires_at`, `has_refresh`, counters and
//! times). The tokens, and a pending login's verifier, nonce and return path,
//! are sealed with the row's key as associated data.

use super::seal::{OpenError, Sealer};
use super::{SessionRecord, StoreError, TokenSet};
use crate::secret::{AccessToken, Nonce, PkceVerifier, RefreshToken};
use crate::session::SessionKey;
use crate::session::pending::PendingLogin;
use serde::{Deserialize, Serialize};

/// A session as stored (both backends read it with `FromRow`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub key_id: String,
    pub sealed: Vec<u8>,
    pub user_id: Option<String>,
    pub expires_at: i64,
    pub has_refresh: bool,
    pub generation: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub obtained_at: i64,
}

/// A pending login as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingRow {
    pub state_key: String,
    pub browser_key: String,
    pub key_id: String,
    pub sealed: Vec<u8>,
    pub expires_at: i64,
}

#[derive(Serialize, Deserialize)]
struct SealedTokens {
    access: String,
    refresh: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct SealedPending {
    verifier: String,
    nonce: String,
    return_to: String,
}

pub fn seal_session(sealer: &Sealer, key: &SessionKey, record: &SessionRecord) -> SessionRow {
    let plain = SealedTokens {
        access: record.tokens.access.expose_secret().to_owned(),
        refresh: record
            .tokens
            .refresh
            .as_ref()
            .map(|r| r.expose_secret().to_owned()),
    };
    let json = serde_json::to_vec(&plain).unwrap_or_default();
    let (key_id, sealed) = sealer.seal(key.as_str().as_bytes(), &json);
    SessionRow {
        key_id,
        sealed,
        user_id: record.user_id.clone(),
        expires_at: record.tokens.expires_at,
        has_refresh: record.tokens.refresh.is_some(),
        generation: record.generation,
        created_at: record.created_at,
        last_seen_at: record.last_seen_at,
        obtained_at: record.tokens.obtained_at,
    }
}

/// `Ok(None)` when the row was sealed with a key we no longer have or does
/// not authenticate: such a row counts as no session, with a warning.
pub fn open_session(
    sealer: &Sealer,
    key: &SessionKey,
    row: SessionRow,
) -> Result<Option<SessionRecord>, StoreError> {
    let json = match sealer.open(&row.key_id, key.as_str().as_bytes(), &row.sealed) {
        Ok(json) => json,
        Err(e) => {
            warn_unopenable("session", key.short(), e);
            return Ok(None);
        }
    };
    let tokens: SealedTokens =
        serde_json::from_slice(&json).map_err(|e| StoreError::Malformed(e.to_string()))?;
    Ok(Some(SessionRecord {
        tokens: TokenSet {
            access: AccessToken::new(tokens.access),
            refresh: tokens.refresh.map(RefreshToken::new),
            expires_at: row.expires_at,
            obtained_at: row.obtained_at,
        },
        user_id: row.user_id,
        generation: row.generation,
        created_at: row.created_at,
        last_seen_at: row.last_seen_at,
    }))
}

pub fn seal_pending(sealer: &Sealer, login: &PendingLogin) -> PendingRow {
    let plain = SealedPending {
        verifier: login.verifier.expose_secret().to_owned(),
        nonce: login.nonce.expose_secret().to_owned(),
        return_to: login.return_to.clone(),
    };
    let json = serde_json::to_vec(&plain).unwrap_or_default();
    let (key_id, sealed) = sealer.seal(login.state_key.as_bytes(), &json);
    PendingRow {
        state_key: login.state_key.clone(),
        browser_key: login.browser_key.clone(),
        key_id,
        sealed,
        expires_at: login.expires_at,
    }
}

pub fn open_pending(sealer: &Sealer, row: PendingRow) -> Result<Option<PendingLogin>, StoreError> {
    let json = match sealer.open(&row.key_id, row.state_key.as_bytes(), &row.sealed) {
        Ok(json) => json,
        Err(e) => {
            warn_unopenable(
                "pending login",
                &row.state_key[..8.min(row.state_key.len())],
                e,
            );
            return Ok(None);
        }
    };
    let plain: SealedPending =
        serde_json::from_slice(&json).map_err(|e| StoreError::Malformed(e.to_string()))?;
    Ok(Some(PendingLogin {
        state_key: row.state_key,
        browser_key: row.browser_key,
        verifier: PkceVerifier::new(plain.verifier),
        nonce: Nonce::new(plain.nonce),
        return_to: plain.return_to,
        expires_at: row.expires_at,
    }))
}

fn warn_unopenable(what: &str, short: &str, error: OpenError) {
    tracing::warn!(session = short, %error, "stored {what} cannot be opened; treating it as absent");
}
