//! Redacting newtypes for every secret the backend touches.
//!
//! `Debug` and `Display` print `[redacted]`; the one way to the value is
//! `expose_secret()`, so every use is greppable. None of them implements
//! `Serialize`, and equality, where offered, runs in constant time. Tokens are
//! cheap to clone because the token manager hands the same access token to
//! many waiting requests.

use subtle::ConstantTimeEq;

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret itself. Never log or serialise what this returns.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl Eq for $name {}
    };
}

secret_type!(
    /// The TradeStation API secret (`TS_CLIENT_SECRET`).
    ClientSecret
);
secret_type!(
    /// A bearer token for the TradeStation API.
    AccessToken
);
secret_type!(
    /// A refresh token. With rotation, each refresh spends it.
    RefreshToken
);
secret_type!(
    /// An OIDC `id_token` as received, before verification.
    IdTokenJwt
);
secret_type!(
    /// The authorization code from the callback's query.
    AuthorizationCode
);
secret_type!(
    /// A PKCE `code_verifier` (RFC 7636 §4.1).
    PkceVerifier
);
secret_type!(
    /// The OIDC `nonce` sent on /authorize and expected back in the id_token.
    Nonce
);
secret_type!(
    /// The OAuth `state` parameter that binds a callback to its login.
    OauthState
);

/// A 32-byte AES-256-GCM key (`TOKEN_ENCRYPTION_KEY`).
#[derive(Clone)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let secret = ClientSecret::new("hunter2-very-secret");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "ClientSecret([redacted])");
        let token = AccessToken::new("eyJ-access");
        assert!(!format!("{token:?} {token}").contains("eyJ"));
        let key = EncryptionKey::new([7; 32]);
        assert_eq!(format!("{key:?}"), "EncryptionKey([redacted])");
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(RefreshToken::new("a"), RefreshToken::new("a"));
        assert_ne!(RefreshToken::new("a"), RefreshToken::new("b"));
    }
}
