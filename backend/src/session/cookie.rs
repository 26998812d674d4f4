//! The two cookies: the session (`ts_session`) and the pending-login binding
//! (`ts_login`). Both `HttpOnly; SameSite=Lax; Path=/`; over https they get
//! `Secure` and the `__Host-` prefix, which browsers accept only with exactly
//! those attributes.

use axum::http::{HeaderMap, HeaderValue, header};
use std::time::Duration;

/// How long the login binding lives: the pending login's own lifetime.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);

/// Cookie names and attributes for this deployment.
#[derive(Debug, Clone)]
pub struct CookiePolicy {
    secure: bool,
    session_max_age: Duration,
}

impl CookiePolicy {
    /// `secure` when the app is served over https (its redirect URI is).
    pub fn new(secure: bool, session_max_age: Duration) -> Self {
        Self {
            secure,
            session_max_age,
        }
    }

    pub fn session_name(&self) -> &'static str {
        if self.secure {
            "__Host-ts_session"
        } else {
            "ts_session"
        }
    }

    pub fn login_name(&self) -> &'static str {
        if self.secure {
            "__Host-ts_login"
        } else {
            "ts_login"
        }
    }

    fn build(&self, name: &str, value: &str, max_age: Duration) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!(
            "{name}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}{secure}",
            max_age.as_secs()
        );
        // Values are base64url we generated: always a valid header value.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    pub fn set_session(&self, value: &str) -> HeaderValue {
        self.build(self.session_name(), value, self.session_max_age)
    }

    pub fn clear_session(&self) -> HeaderValue {
        self.build(self.session_name(), "", Duration::ZERO)
    }

    pub fn set_login(&self, value: &str) -> HeaderValue {
        self.build(self.login_name(), value, LOGIN_TTL)
    }
}

/// The value of the first cookie called `name` in the request.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_cookies_have_the_contract_attributes() {
        let p = CookiePolicy::new(false, Duration::from_secs(60));
        let c = p.set_session("abc");
        assert_eq!(
            c.to_str().unwrap(),
            "ts_session=abc; HttpOnly; SameSite=Lax; Path=/; Max-Age=60"
        );
    }

    #[test]
    fn https_cookies_are_secure_and_host_prefixed() {
        let p = CookiePolicy::new(true, Duration::from_secs(60));
        let c = p.set_session("abc");
        let s = c.to_str().unwrap();
        assert!(s.starts_with("__Host-ts_session=abc;"));
        assert!(s.ends_with("; Secure"));
        assert!(p.clear_session().to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn reads_one_cookie_among_many() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; ts_session=xyz"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(read(&h, "ts_session"), Some("xyz"));
        assert_eq!(read(&h, "b"), Some("2"));
        assert_eq!(read(&h, "ts_login"), None);
    }
}
