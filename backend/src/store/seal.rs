//! Encryption at rest: AES-256-GCM with a random 96-bit nonce per write.
//!
//! Every sealed value is bound to its row by the associated data (the row's
//! key), so a ciphertext copied into another row does not open. Each row
//! stores the id of the key that sealed it; former keys
//! (`TOKEN_ENCRYPTION_OLD_KEYS`) still open, only the current key seals, and a
//! row is re-sealed with the current key on its next write.

use crate::secret::EncryptionKey;
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use rand::RngCore;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// Why a sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed with a key that is no longer configured")]
    UnknownKey,
    #[error("ciphertext does not authenticate")]
    Corrupt,
}

struct Keyed {
    id: String,
    cipher: Aes256Gcm,
}

impl Keyed {
    fn new(key: &EncryptionKey) -> Self {
        // The id names the key without revealing it: a truncated hash under a
        // fixed label.
        let digest = Sha256::new()
            .chain_update(b"tradestation-app key id v1")
            .chain_update(key.expose_secret())
            .finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let cipher = Aes256Gcm::new(key.expose_secret().into());
        Self { id, cipher }
    }
}

/// Seals with the current key, opens with the current or any former key.
pub struct Sealer {
    current: Keyed,
    former: Vec<Keyed>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("current_key_id", &self.current.id)
            .field("former_keys", &self.former.len())
            .finish()
    }
}

impl Sealer {
    pub fn new(current: &EncryptionKey, former: &[EncryptionKey]) -> Self {
        Self {
            current: Keyed::new(current),
            former: former.iter().map(Keyed::new).collect(),
        }
    }

    /// The id stored beside values this sealer writes.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Returns `(key_id, nonce || ciphertext)`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> (String, Vec<u8>) {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // AES-GCM encryption fails only for inputs beyond 64 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        (self.current.id.clone(), out)
    }

    pub fn open(&self, key_id: &str, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let keyed = std::iter::once(&self.current)
            .chain(&self.former)
            .find(|k| k.id == key_id)
            .ok_or(OpenError::UnknownKey)?;
        if sealed.len() < NONCE_LEN {
            return Err(OpenError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Corrupt)?;
        keyed
            .cipher
            .decrypt(
                nonce.into(),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| OpenError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> EncryptionKey {
        EncryptionKey::new([byte; 32])
    }

    #[test]
    fn sealed_values_open_and_do_not_contain_the_plaintext() {
        let sealer = Sealer::new(&key(1), &[]);
        let (id, sealed) = sealer.seal(b"row", b"refresh-token-value");
        assert!(!sealed.windows(5).any(|w| w == b"token"));
        assert_eq!(
            sealer.open(&id, b"row", &sealed).unwrap(),
            b"refresh-token-value"
        );
    }

    #[test]
    fn a_value_moved_to_another_row_does_not_open() {
        let sealer = Sealer::new(&key(1), &[]);
        let (id, sealed) = sealer.seal(b"row-a", b"secret");
        assert_eq!(sealer.open(&id, b"row-b", &sealed), Err(OpenError::Corrupt));
    }

    #[test]
    fn former_keys_open_and_unknown_keys_are_reported() {
        let old = Sealer::new(&key(1), &[]);
        let (old_id, sealed) = old.seal(b"row", b"secret");
        let rotated = Sealer::new(&key(2), &[key(1)]);
        assert_eq!(rotated.open(&old_id, b"row", &sealed).unwrap(), b"secret");
        assert_ne!(rotated.current_key_id(), old_id);
        let forgotten = Sealer::new(&key(2), &[]);
        assert_eq!(
            forgotten.open(&old_id, b"row", &sealed),
            Err(OpenError::UnknownKey)
        );
    }

    #[test]
    fn tampering_is_detected() {
        let sealer = Sealer::new(&key(1), &[]);
        let (id, mut sealed) = sealer.seal(b"row", b"secret");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(sealer.open(&id, b"row", &sealed), Err(OpenError::Corrupt));
        assert_eq!(sealer.open(&id, b"row", &[1, 2]), Err(OpenError::Corrupt));
    }
}
