//! Where the simulator's endpoints sit once mounted: the one place the URL
//! layout is written down. The backend's configuration and every test that
//! points a client at a simulator build their URLs from [`SimUrls`].

use url::Url;

/// The path the simulator is mounted under (`router.nest(MOUNT, …)`).
pub const MOUNT: &str = "/sim";

/// The simulator's public URLs for one origin (`http://127.0.0.1:8000`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUrls {
    /// `iss` of its id_tokens, with the trailing slash Auth0 uses.
    pub issuer: String,
    pub authorize: Url,
    pub token: Url,
    pub revoke: Url,
    pub jwks: Url,
    /// The API base: `{base}/v3/…` are the data endpoints.
    pub api_base: Url,
}

impl SimUrls {
    /// The URLs of a simulator mounted at [`MOUNT`] on `origin`. Only the
    /// origin of `origin` counts; a path on it is ignored.
    pub fn new(origin: &Url) -> Self {
        let at = |path: &str| origin.join(path).unwrap_or_else(|_| origin.clone());
        Self {
            issuer: at(&format!("{MOUNT}/")).to_string(),
            authorize: at(&format!("{MOUNT}/authorize")),
            token: at(&format!("{MOUNT}/oauth/token")),
            revoke: at(&format!("{MOUNT}/oauth/revoke")),
            jwks: at(&format!("{MOUNT}/.well-known/jwks.json")),
            api_base: at(MOUNT),
        }
    }

    /// [`SimUrls::new`] from an origin written as text.
    ///
    /// # Errors
    /// `origin` is not an absolute URL.
    pub fn parse(origin: &str) -> Result<Self, url::ParseError> {
        Url::parse(origin).map(|origin| Self::new(&origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_sits_under_the_mount_of_the_origin() {
        let urls = SimUrls::parse("http://127.0.0.1:8123/ignored").expect("url");
        assert_eq!(urls.issuer, "http://127.0.0.1:8123/sim/");
        assert_eq!(
            urls.authorize.as_str(),
            "http://127.0.0.1:8123/sim/authorize"
        );
        assert_eq!(urls.token.as_str(), "http://127.0.0.1:8123/sim/oauth/token");
        assert_eq!(
            urls.revoke.as_str(),
            "http://127.0.0.1:8123/sim/oauth/revoke"
        );
        assert_eq!(
            urls.jwks.as_str(),
            "http://127.0.0.1:8123/sim/.well-known/jwks.json"
        );
        assert_eq!(urls.api_base.as_str(), "http://127.0.0.1:8123/sim");
    }
}
