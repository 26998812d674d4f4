//! The simulator's signing key: RS256 `id_token`s, the JWKS that verifies
//! them, and the OpenID discovery document.
//!
//! A fresh RSA-2048 key and `kid` are made at every start, like a provider
//! rotating keys: a client that caches the JWKS must re-fetch on an unknown
//! `kid`. Claims follow Auth0's: `updated_at` is an RFC 3339 **string**.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::rand_core::OsRng;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Simulator;

/// The private key, kept as the DER `jsonwebtoken` signs with, and the
/// public parts the JWKS publishes.
pub(crate) struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    n: String,
    e: String,
}

/// The claims of a simulator `id_token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub name: String,
    pub nickname: String,
    /// RFC 3339, as Auth0 sends it (not a number).
    pub updated_at: String,
    /// Left half of SHA-256 of the access token, base64url (OIDC core 3.1.3.6).
    pub at_hash: String,
}

impl SigningKey {
    /// # Panics
    /// If the operating system's random number generator fails.
    pub(crate) fn generate() -> Self {
        let private = private_key();
        let der = private
            .to_pkcs1_der()
            .expect("PKCS#1 encoding of a freshly generated RSA key");
        Self {
            kid: URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>()),
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            n: URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        }
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs an `id_token`; `None` only if signing itself fails.
    pub(crate) fn id_token(&self, claims: &IdTokenClaims) -> Option<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).ok()
    }

    fn jwks(&self) -> serde_json::Value {
        json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256",
            "kid": self.kid, "n": self.n, "e": self.e,
        }]})
    }
}

/// A new RSA-2048 key. Unit tests share one: generating dozens would only
/// slow them down, and each simulator still gets its own `kid`.
fn private_key() -> RsaPrivateKey {
    fn fresh() -> RsaPrivateKey {
        RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA-2048 key generation")
    }
    #[cfg(test)]
    {
        static SHARED: std::sync::OnceLock<RsaPrivateKey> = std::sync::OnceLock::new();
        SHARED.get_or_init(fresh).clone()
    }
    #[cfg(not(test))]
    fresh()
}

/// `at_hash` of an access token.
pub(crate) fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// `GET /.well-known/jwks.json`.
pub(super) async fn jwks(State(sim): State<Simulator>) -> Response {
    cacheable(Json(sim.inner.key.jwks()).into_response())
}

/// `GET /.well-known/openid-configuration`: absolute URLs from the issuer.
pub(super) async fn openid_configuration(State(sim): State<Simulator>) -> Response {
    let base = sim.config().base();
    cacheable(
        Json(json!({
            "issuer": sim.config().issuer,
            "authorization_endpoint": format!("{base}authorize"),
            "token_endpoint": format!("{base}oauth/token"),
            "revocation_endpoint": format!("{base}oauth/revoke"),
            "jwks_uri": format!("{base}.well-known/jwks.json"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access",
                "MarketData", "ReadAccount", "Trade", "OptionSpreads", "Matrix"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce",
                "name", "nickname", "updated_at", "at_hash"],
        }))
        .into_response(),
    )
}

fn cacheable(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}
