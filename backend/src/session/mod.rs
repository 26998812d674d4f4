//! Browser sessions: the opaque id in the cookie, the hash the store keys
//! rows by, the cookies themselves, and the pending login that binds an OAuth
//! callback to the browser that started it.
//!
//! The store never sees a session id, only its [`SessionKey`] (SHA-256), and
//! logs show only [`SessionKey::short`].

pub mod binding;
pub mod cookie;
pub mod pending;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// 256 random bits, base64url: the value of the session cookie.
#[derive(Clone)]
pub struct SessionId(String);

impl SessionId {
    pub fn generate() -> Self {
        Self(random_token())
    }

    /// Accepts a cookie value that has the shape of an id we issue. Anything
    /// else is no session at all.
    pub fn parse(value: &str) -> Option<Self> {
        let ok = value.len() == 43
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(value.to_owned()))
    }

    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> SessionKey {
        SessionKey(hash_hex(&self.0))
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId([redacted])")
    }
}

/// What the store keys a session by: the hex SHA-256 of its id. Knowing it
/// does not let anyone present the session.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionKey(String);

impl SessionKey {
    /// Wraps a key read back from the store.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 hex digits: what logs show.
    pub fn short(&self) -> &str {
        &self.0[..8.min(self.0.len())]
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionKey({}…)", self.short())
    }
}

impl std::fmt::Display for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.short())
    }
}

/// 256 random bits from the OS generator, base64url without padding.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256, the form every secret takes when used as a lookup key.
pub fn hash_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_keys_hide_them() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), 43);
        assert!(!a.key().as_str().contains(a.expose_secret()));
        assert_eq!(a.key(), SessionId::parse(a.expose_secret()).unwrap().key());
        assert_eq!(format!("{a:?}"), "SessionId([redacted])");
        assert_eq!(a.key().short().len(), 8);
    }

    #[test]
    fn malformed_cookie_values_are_no_session() {
        for v in [
            "",
            "short",
            &"x".repeat(44),
            &format!("{}!", "a".repeat(42)),
        ] {
            assert!(SessionId::parse(v).is_none(), "{v}");
        }
    }
}
