//! The pending-login binding: the value of the `ts_login` cookie that ties a
//! pending login to the browser that started it.
//!
//! The value is always one this backend issued: 256 random bits and an
//! HMAC-SHA256 tag over them, keyed by a key derived from the token
//! encryption key (so every replica sharing that key recognises it). `/login`
//! reuses a cookie only when its tag checks out — two tabs of one browser
//! then share one binding — and replaces anything else, so a client can
//! never choose the binding its pending logins are filed under.

use crate::secret::EncryptionKey;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Issues and checks binding values.
pub struct LoginBindings {
    key: [u8; 32],
}

impl std::fmt::Debug for LoginBindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginBindings([redacted])")
    }
}

impl LoginBindings {
    pub fn new(encryption_key: &EncryptionKey) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"tradestation-app login binding v1\0");
        hasher.update(encryption_key.expose_secret());
        Self {
            key: hasher.finalize().into(),
        }
    }

    fn tag(&self, random: &str) -> String {
        // A 32-byte key is always a valid HMAC key.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(random.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// A fresh value: `<random>.<tag>`.
    pub fn issue(&self) -> String {
        let random = super::random_token();
        let tag = self.tag(&random);
        format!("{random}.{tag}")
    }

    /// Whether `value` is one [`LoginBindings::issue`] produced.
    pub fn issued(&self, value: &str) -> bool {
        let Some((random, tag)) = value.split_once('.') else {
            return false;
        };
        if random.len() != 43 || tag.len() != 43 {
            return false;
        }
        let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        let Ok(mut mac) = <HmacSha256 as Mac>::new_from_slice(&self.key) else {
            return false;
        };
        mac.update(random.as_bytes());
        mac.verify_slice(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_values_this_key_issued_are_recognised() {
        let bindings = LoginBindings::new(&EncryptionKey::new([1; 32]));
        let other = LoginBindings::new(&EncryptionKey::new([2; 32]));
        let value = bindings.issue();
        assert!(bindings.issued(&value));
        assert!(!other.issued(&value));
        assert_ne!(bindings.issue(), value);
        let (random, _) = value.split_once('.').unwrap();
        for forged in [
            random.to_owned(),
            format!("{random}.{}", "A".repeat(43)),
            "attacker-chosen".to_owned(),
            String::new(),
            format!("{value}x"),
        ] {
            assert!(!bindings.issued(&forged), "{forged}");
        }
    }
}
