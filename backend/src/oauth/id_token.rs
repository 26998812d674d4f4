//! OIDC id_token verification: RS256 signature against the provider's JWKS,
//! `iss` compared exactly, `aud` equal to our client id, `exp`, and the
//! `nonce` of this login.
//!
//! The JWKS is cached and fetched again when a token names a `kid` the cache
//! does not hold (the provider rotated its keys, or the simulator restarted),
//! with one fetch at a time.

use crate::secret::{IdTokenJwt, Nonce};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::{Mutex, RwLock};
use url::Url;

/// What we use from a verified id_token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    /// The `sub` claim: the user id the status route shows.
    pub subject: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum IdTokenError {
    /// The token is not acceptable (signature, claims, nonce, unknown key).
    #[error("invalid id_token: {0}")]
    Invalid(String),
    /// The key set could not be fetched.
    #[error("the JWKS could not be fetched: {0}")]
    Jwks(String),
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: Option<String>,
    nonce: Option<String>,
}

pub struct IdTokenVerifier {
    http: reqwest::Client,
    jwks_url: Url,
    issuer: String,
    audience: String,
    timeout: Duration,
    keys: RwLock<JwkSet>,
    fetching: Mutex<()>,
}

impl std::fmt::Debug for IdTokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenVerifier")
            .field("jwks_url", &self.jwks_url.as_str())
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl IdTokenVerifier {
    pub fn new(
        http: reqwest::Client,
        jwks_url: Url,
        issuer: String,
        audience: String,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            jwks_url,
            issuer,
            audience,
            timeout,
            keys: RwLock::new(JwkSet { keys: Vec::new() }),
            fetching: Mutex::new(()),
        }
    }

    /// Verifies `jwt` for the login that sent `nonce`.
    ///
    /// # Errors
    /// [`IdTokenError::Invalid`] for any failed check,
    /// [`IdTokenError::Jwks`] when the keys cannot be fetched.
    pub async fn verify(&self, jwt: &IdTokenJwt, nonce: &Nonce) -> Result<IdClaims, IdTokenError> {
        let invalid = |e: jsonwebtoken::errors::Error| IdTokenError::Invalid(e.to_string());
        let header = jsonwebtoken::decode_header(jwt.expose_secret()).map_err(invalid)?;
        if header.alg != Algorithm::RS256 {
            return Err(IdTokenError::Invalid(format!(
                "algorithm {:?}, expected RS256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| IdTokenError::Invalid("no kid in the header".to_owned()))?;
        let key = self.key_for(&kid).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 60;
        let data = jsonwebtoken::decode::<Claims>(jwt.expose_secret(), &key, &validation)
            .map_err(invalid)?;

        let sent = nonce.expose_secret().as_bytes();
        let nonce_ok = data
            .claims
            .nonce
            .as_deref()
            .is_some_and(|got| bool::from(got.as_bytes().ct_eq(sent)));
        if !nonce_ok {
            return Err(IdTokenError::Invalid(
                "nonce missing or not this login's".to_owned(),
            ));
        }
        Ok(IdClaims {
            subject: data.claims.sub,
        })
    }

    async fn key_for(&self, kid: &str) -> Result<DecodingKey, IdTokenError> {
        if let Some(key) = self.cached(kid).await? {
            return Ok(key);
        }
        let _one_fetch = self.fetching.lock().await;
        // Another task may have fetched while this one waited.
        if let Some(key) = self.cached(kid).await? {
            return Ok(key);
        }
        let fresh = self.fetch().await?;
        *self.keys.write().await = fresh;
        self.cached(kid)
            .await?
            .ok_or_else(|| IdTokenError::Invalid(format!("unknown signing key {kid:?}")))
    }

    async fn cached(&self, kid: &str) -> Result<Option<DecodingKey>, IdTokenError> {
        let keys = self.keys.read().await;
        keys.find(kid)
            .map(|jwk| DecodingKey::from_jwk(jwk).map_err(|e| IdTokenError::Invalid(e.to_string())))
            .transpose()
    }

    async fn fetch(&self) -> Result<JwkSet, IdTokenError> {
        let request = async {
            let response = self
                .http
                .get(self.jwks_url.clone())
                .send()
                .await?
                .error_for_status()?;
            response.json::<JwkSet>().await
        };
        match tokio::time::timeout(self.timeout, request).await {
            Err(_) => Err(IdTokenError::Jwks("no answer in time".to_owned())),
            Ok(Err(e)) => Err(IdTokenError::Jwks(e.without_url().to_string())),
            Ok(Ok(set)) => {
                tracing::info!(keys = set.keys.len(), "fetched the provider's signing keys");
                Ok(set)
            }
        }
    }
}
