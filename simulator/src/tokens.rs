//! Self-validating access and refresh tokens.
//!
//! A token is `BASE64URL(payload || HMAC-SHA256(token_key, payload))`: it
//! looks opaque, yet the simulator needs no table to recognise its own
//! tokens, so sessions survive a restart of the app given the same key.
//! The payload starts with a kind byte and a version, so an access token is
//! never accepted as a refresh token or the other way round.
//!
//! What a MAC cannot express — revocation, spent rotated tokens, forced
//! expiry — is decided in [`super::auth`] and [`super::data`] by comparing
//! the issue stamp carried here with instants kept in memory.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const MAC_LEN: usize = 32;
/// Longer strings are refused before decoding: no work for garbage.
const MAX_TOKEN_LEN: usize = 2048;
const KIND_ACCESS: u8 = b'A';
const KIND_REFRESH: u8 = b'R';
const VERSION: u8 = 1;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccessClaims {
    pub user: String,
    pub scope: String,
    /// Issue stamp (see `Simulator::stamp`).
    pub issued: u64,
    pub expires_ms: i64,
}

/// What a refresh token says. A family starts at a code grant; with rotation
/// each refresh hands out the next generation of the same family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefreshClaims {
    pub user: String,
    pub scope: String,
    pub issued: u64,
    pub family: [u8; 16],
    pub generation: u32,
}

/// Seals and opens tokens with one key.
pub(crate) struct TokenCodec {
    mac: Hmac<Sha256>,
}

impl TokenCodec {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self {
            // HMAC accepts keys of any length: this cannot fail.
            mac: <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC key of any length"),
        }
    }

    pub(crate) fn seal_access(&self, claims: &AccessClaims) -> String {
        let mut out = vec![KIND_ACCESS, VERSION];
        out.extend_from_slice(&claims.issued.to_be_bytes());
        out.extend_from_slice(&claims.expires_ms.to_be_bytes());
        // Random bytes make every token unique, even two issued together.
        out.extend_from_slice(&rand::random::<[u8; 8]>());
        put_str(&mut out, &claims.user);
        put_str(&mut out, &claims.scope);
        self.seal(out)
    }

    pub(crate) fn open_access(&self, token: &str) -> Option<AccessClaims> {
        let payload = self.open(token)?;
        let mut r = Reader(&payload);
        if r.take(2)? != [KIND_ACCESS, VERSION] {
            return None;
        }
        let issued = u64::from_be_bytes(r.array()?);
        let expires_ms = i64::from_be_bytes(r.array()?);
        r.take(8)?;
        let user = r.string()?;
        let scope = r.string()?;
        r.finished().then_some(AccessClaims {
            user,
            scope,
            issued,
            expires_ms,
        })
    }

    pub(crate) fn seal_refresh(&self, claims: &RefreshClaims) -> String {
        let mut out = vec![KIND_REFRESH, VERSION];
        out.extend_from_slice(&claims.issued.to_be_bytes());
        out.extend_from_slice(&claims.family);
        out.extend_from_slice(&claims.generation.to_be_bytes());
        put_str(&mut out, &claims.user);
        put_str(&mut out, &claims.scope);
        self.seal(out)
    }

    pub(crate) fn open_refresh(&self, token: &str) -> Option<RefreshClaims> {
        let payload = self.open(token)?;
        let mut r = Reader(&payload);
        if r.take(2)? != [KIND_REFRESH, VERSION] {
            return None;
        }
        let issued = u64::from_be_bytes(r.array()?);
        let family = r.array()?;
        let generation = u32::from_be_bytes(r.array()?);
        let user = r.string()?;
        let scope = r.string()?;
        r.finished().then_some(RefreshClaims {
            user,
            scope,
            issued,
            family,
            generation,
        })
    }

    fn seal(&self, mut payload: Vec<u8>) -> String {
        let mut mac = self.mac.clone();
        mac.update(&payload);
        payload.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(payload)
    }

    /// The payload of a token whose MAC verifies (in constant time).
    fn open(&self, token: &str) -> Option<Vec<u8>> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
        let split = raw.len().checked_sub(MAC_LEN)?;
        let (payload, tag) = raw.split_at(split);
        let mut mac = self.mac.clone();
        mac.update(payload);
        mac.verify_slice(tag).ok()?;
        Some(payload.to_vec())
    }
}

/// A length-prefixed (u16) UTF-8 string.
fn put_str(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Reads a payload front to back; `None` on any shortfall.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn string(&mut self) -> Option<String> {
        let len = u16::from_be_bytes(self.array()?);
        let bytes = self.take(usize::from(len))?;
        String::from_utf8(bytes.to_vec()).ok()
    }

    fn finished(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> AccessClaims {
        AccessClaims {
            user: "trader".into(),
            scope: "openid MarketData".into(),
            issued: 42,
            expires_ms: 1_700_000_000_000,
        }
    }

    fn refresh() -> RefreshClaims {
        RefreshClaims {
            user: "trader".into(),
            scope: "openid offline_access".into(),
            issued: 43,
            family: [9; 16],
            generation: 3,
        }
    }

    #[test]
    fn tokens_open_with_the_key_that_sealed_them() {
        let codec = TokenCodec::new(&[1; 32]);
        let a = codec.seal_access(&access());
        assert_eq!(codec.open_access(&a), Some(access()));
        let r = codec.seal_refresh(&refresh());
        assert_eq!(codec.open_refresh(&r), Some(refresh()));
        // Same claims, different token: every access token is unique.
        assert_ne!(a, codec.seal_access(&access()));
        // A restarted simulator with the same key still knows them.
        assert_eq!(TokenCodec::new(&[1; 32]).open_refresh(&r), Some(refresh()));
    }

    #[test]
    fn forged_swapped_or_foreign_tokens_are_refused() {
        let codec = TokenCodec::new(&[1; 32]);
        let a = codec.seal_access(&access());
        let r = codec.seal_refresh(&refresh());
        assert_eq!(codec.open_refresh(&a), None);
        assert_eq!(codec.open_access(&r), None);
        assert_eq!(TokenCodec::new(&[2; 32]).open_access(&a), None);
        let mut raw = URL_SAFE_NO_PAD.decode(&a).unwrap();
        raw[12] ^= 1;
        assert_eq!(codec.open_access(&URL_SAFE_NO_PAD.encode(raw)), None);
        for junk in ["", "x", "not base64 at all!", &"A".repeat(5000)] {
            assert_eq!(codec.open_access(junk), None);
            assert_eq!(codec.open_refresh(junk), None);
        }
    }
}
