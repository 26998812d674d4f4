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

/// The longest `return_to` kept, in bytes.
pub const MAX_RETURN_TO: usize = 2_048;

/// `return_to` if it is a relative path starting with a single `/`, else `/`.
///
/// Refused: absolute URLs, scheme-relative `//host`, `/\host` (browsers read
/// a backslash as a slash), control characters and anything that is not
/// plain printable ASCII.
pub fn safe_return_to(requested: Option<&str>) -> String {
    let Some(path) = requested else {
        return "/".to_owned();
    };
    // A long one is ignored rather than cut: a cut path may mean something
    // else, and a signed-out client must not be able to grow the store.
    if path.len() > MAX_RETURN_TO {
        return "/".to_owned();
    }
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
    fn a_return_to_past_2048_bytes_becomes_root() {
        let at_limit = format!("/{}", "a".repeat(super::MAX_RETURN_TO - 1));
        assert_eq!(safe_return_to(Some(&at_limit)), at_limit);
        let over = format!("/{}", "a".repeat(super::MAX_RETURN_TO));
        assert_eq!(safe_return_to(Some(&over)), "/");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn a_kept_return_to_is_always_a_short_same_origin_path(p in "\\PC{0,64}|/[\\x00-\\x7f]{0,64}") {
            let kept = safe_return_to(Some(&p));
            proptest::prop_assert!(kept == "/" || kept == p);
            proptest::prop_assert!(kept.starts_with('/'));
            proptest::prop_assert!(!kept.starts_with("//") && !kept.contains('\\'));
            proptest::prop_assert!(kept.len() <= super::MAX_RETURN_TO);
            proptest::prop_assert!(kept.bytes().all(|b| (0x21..0x7f).contains(&b)));
        }
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
