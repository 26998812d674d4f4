//! The OAuth client for TradeStation's Auth0 tenant (or the simulator).
//!
//! `oauth2` builds the authorize URL (PKCE S256, `state`) and runs the token
//! requests, with client credentials in the form body (TradeStation documents
//! no other style). Its HTTP goes through [`transport`], our own function over
//! the shared `reqwest` client, so we decide what counts as a timeout, a
//! server fault or a refusal. Revocation is a plain request of ours:
//! `oauth2` refuses plain-http revocation URLs, which the simulator uses.
//!
//! Next: [`id_token`] verifies the OIDC id_token; `crate::tokens` decides
//! when to refresh.

pub mod id_token;
mod transport;

use crate::config::Endpoints;
use crate::secret::{
    AccessToken, AuthorizationCode, ClientSecret, IdTokenJwt, Nonce, OauthState, PkceVerifier,
    RefreshToken,
};
use crate::session::random_token;
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, ClientId, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, RedirectUrl, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use transport::TransportError;
use url::Url;

/// The one extra field we read from a token answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default)]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type TokenAnswer = StandardTokenResponse<IdTokenField, BasicTokenType>;

type Oauth2Client = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Used when a token answer has no `expires_in`: TradeStation's lifetime.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(1200);

/// What a successful code exchange or refresh returns.
#[derive(Debug)]
pub struct Grant {
    pub access: AccessToken,
    /// `None` on a refresh without rotation: keep the old one.
    pub refresh: Option<RefreshToken>,
    pub expires_in: Duration,
    pub id_token: Option<IdTokenJwt>,
}

/// Why a refresh failed. Only [`RefreshError::InvalidGrant`] ends a session.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RefreshError {
    #[error("the provider refused the refresh token (invalid_grant)")]
    InvalidGrant,
    #[error("the token endpoint did not answer in time")]
    Timeout,
    #[error("the token endpoint failed: {0}")]
    Upstream(String),
}

/// Why a code exchange failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExchangeError {
    #[error("the provider refused the code: {0}")]
    Refused(String),
    #[error("the token endpoint did not answer in time")]
    Timeout,
    #[error("the token endpoint failed: {0}")]
    Upstream(String),
}

/// The secrets a new login sends to the provider and must find again in the
/// callback.
#[derive(Debug)]
pub struct LoginSecrets {
    pub state: OauthState,
    pub verifier: PkceVerifier,
    pub nonce: Nonce,
}

/// Everything needed to talk to the provider's auth endpoints.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub endpoints: Endpoints,
    pub redirect_uri: Url,
    pub audience: String,
    pub scope: String,
    pub timeout: Duration,
}

pub struct OauthClient {
    client: Oauth2Client,
    http: reqwest::Client,
    transport: transport::Transport,
    settings: ProviderSettings,
    pub id_tokens: id_token::IdTokenVerifier,
}

impl std::fmt::Debug for OauthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OauthClient")
            .field("token_url", &self.settings.endpoints.token_url.as_str())
            .finish_non_exhaustive()
    }
}

impl OauthClient {
    pub fn new(settings: ProviderSettings, http: reqwest::Client) -> Self {
        let client = oauth2::Client::new(ClientId::new(settings.client_id.clone()))
            .set_client_secret(oauth2::ClientSecret::new(
                settings.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::from_url(settings.endpoints.auth_url.clone()))
            .set_token_uri(TokenUrl::from_url(settings.endpoints.token_url.clone()))
            .set_redirect_uri(RedirectUrl::from_url(settings.redirect_uri.clone()))
            .set_auth_type(AuthType::RequestBody);
        let id_tokens = id_token::IdTokenVerifier::new(
            http.clone(),
            settings.endpoints.jwks_url.clone(),
            settings.endpoints.issuer.clone(),
            settings.client_id.clone(),
            settings.timeout,
        );
        let transport = transport::Transport {
            http: http.clone(),
            timeout: settings.timeout,
        };
        Self {
            client,
            http,
            transport,
            settings,
            id_tokens,
        }
    }

    /// The provider's authorize URL for a new login, and the secrets to keep
    /// for its callback: `state` and `nonce` of 256 random bits each, a PKCE
    /// S256 challenge, and TradeStation's required `audience`.
    pub fn authorize_url(&self) -> (Url, LoginSecrets) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = random_token();
        let nonce = random_token();
        let (url, _) = self
            .client
            .authorize_url(|| CsrfToken::new(state.clone()))
            .add_scopes(
                self.settings
                    .scope
                    .split_whitespace()
                    .map(|s| Scope::new(s.to_owned())),
            )
            .add_extra_param("audience", self.settings.audience.clone())
            .add_extra_param("nonce", nonce.clone())
            .set_pkce_challenge(challenge)
            .url();
        let secrets = LoginSecrets {
            state: OauthState::new(state),
            verifier: PkceVerifier::new(verifier.into_secret()),
            nonce: Nonce::new(nonce),
        };
        (url, secrets)
    }

    /// Exchanges an authorization code (with its PKCE verifier).
    pub async fn exchange(
        &self,
        code: AuthorizationCode,
        verifier: &PkceVerifier,
    ) -> Result<Grant, ExchangeError> {
        let answer = self
            .client
            .exchange_code(oauth2::AuthorizationCode::new(
                code.expose_secret().to_owned(),
            ))
            .set_pkce_verifier(oauth2::PkceCodeVerifier::new(
                verifier.expose_secret().to_owned(),
            ))
            .request_async(&self.transport)
            .await;
        match answer {
            Ok(answer) => grant(answer).map_err(ExchangeError::Upstream),
            Err(RequestTokenError::ServerResponse(e)) => {
                Err(ExchangeError::Refused(e.error().as_ref().to_owned()))
            }
            Err(RequestTokenError::Request(TransportError::Timeout)) => Err(ExchangeError::Timeout),
            Err(RequestTokenError::Request(TransportError::Status(s))) if s < 500 => {
                Err(ExchangeError::Refused(format!("status {s}")))
            }
            Err(other) => Err(ExchangeError::Upstream(describe(&other))),
        }
    }

    /// Uses a refresh token. `invalid_grant` is recognised whatever the HTTP
    /// status (Auth0 answers 403); every other failure is transient.
    pub async fn refresh(&self, refresh: &RefreshToken) -> Result<Grant, RefreshError> {
        let token = oauth2::RefreshToken::new(refresh.expose_secret().to_owned());
        let answer = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&self.transport)
            .await;
        match answer {
            Ok(answer) => grant(answer).map_err(RefreshError::Upstream),
            Err(RequestTokenError::ServerResponse(e))
                if *e.error() == BasicErrorResponseType::InvalidGrant =>
            {
                Err(RefreshError::InvalidGrant)
            }
            Err(RequestTokenError::Request(TransportError::Timeout)) => Err(RefreshError::Timeout),
            Err(other) => Err(RefreshError::Upstream(describe(&other))),
        }
    }

    /// Revokes a refresh token. TradeStation then ends every refresh token
    /// of the API key for that user.
    pub async fn revoke(&self, refresh: &RefreshToken) -> Result<(), String> {
        let body = serde_json::json!({
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret.expose_secret(),
            "token": refresh.expose_secret(),
        });
        let request = self
            .http
            .post(self.settings.endpoints.revoke_url.clone())
            .json(&body)
            .send();
        match tokio::time::timeout(self.settings.timeout, request).await {
            Err(_) => Err("no answer in time".to_owned()),
            Ok(Err(e)) => Err(e.without_url().to_string()),
            Ok(Ok(resp)) if resp.status().is_success() => Ok(()),
            Ok(Ok(resp)) => Err(format!("status {}", resp.status().as_u16())),
        }
    }
}

fn grant(answer: TokenAnswer) -> Result<Grant, String> {
    let access = answer.access_token().secret();
    if access.is_empty() {
        return Err("the token answer has an empty access_token".to_owned());
    }
    Ok(Grant {
        access: AccessToken::new(access.clone()),
        refresh: answer
            .refresh_token()
            .map(|r| RefreshToken::new(r.secret().clone())),
        expires_in: answer.expires_in().unwrap_or(DEFAULT_LIFETIME),
        id_token: answer.extra_fields().id_token.clone().map(IdTokenJwt::new),
    })
}

/// A log-safe description: never a body (it could echo a token).
fn describe(error: &RequestTokenError<TransportError, BasicErrorResponse>) -> String {
    match error {
        RequestTokenError::ServerResponse(e) => format!("provider error {}", e.error().as_ref()),
        RequestTokenError::Request(e) => e.to_string(),
        RequestTokenError::Parse(e, _) => format!("unparsable answer at {}", e.path()),
        RequestTokenError::Other(e) => e.clone(),
    }
}
