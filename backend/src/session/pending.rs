//! The pending login: what `/api/ts/login` remembers until the callback.
//!
//! Keyed in the store by the hash of its `state`, bound to the browser by the
//! hash of the `ts_login` cookie, single use (the callback takes it out of the
//! store before looking at it) and valid for [`super::cookie::LOGIN_TTL`].

use crate::secret::{Nonce, PkceVerifier};

/// A login that was started and not yet completed.
#[derive(Debug, Clone)]
pub struct PendingLogin {
    /// Hex SHA-256 of the `state` sent to the provider.
    pub state_key: String,
    /// Hex SHA-256 of the browser's `ts_login` cookie.
    pub browser_key: String,
    pub verifier: PkceVerifier,
    pub nonce: Nonce,
    /// A validated same-origin path ([`safe_return_to`]).
    pub return_to: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// `return_to` if it is a relative path starting with a single `/`, else `/`.
///
/// Refused: absolute URLs, scheme-relative `//host`, `/\host` (browsers read
/// a backslash as a slash), control characters and anything that is not
/// plain printable ASCII.
pub fn safe_return_to(requested: Option<&str>) -> String {
    let Some(path) = requested else {
        return "/".to_owned();
    };
    let plain = path.bytes().all(|b| (0x21..0x7f).contains(&b));
    let single_slash = path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\");
    if plain && single_slash && !path.contains('\\') {
        path.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn same_origin_paths_are_kept() {
        for p in ["/", "/accounts", "/quotes?s=MSFT,AAPL", "/chart/MSFT#x"] {
            assert_eq!(safe_return_to(Some(p)), p);
        }
        assert_eq!(safe_return_to(None), "/");
    }

    #[test]
    fn anything_that_could_leave_the_site_becomes_root() {
        for p in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "evil.example",
            "/ok\\..\\x",
            "/a b",
            "/\tfoo",
            "",
        ] {
            assert_eq!(safe_return_to(Some(p)), "/", "{p:?}");
        }
    }
}
