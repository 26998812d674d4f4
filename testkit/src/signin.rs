//! A browser's sign-in through the simulator: `/api/ts/login`, *Authorize*
//! on the simulator's page, the callback. The session cookie comes back as a
//! value, so callers send it by hand (a logout's expired cookie then does
//! not hide the session from the next call).

use crate::http::location;
use reqwest::StatusCode;
use reqwest::cookie::Jar;
use reqwest::redirect::Policy;
use std::sync::Arc;
use std::time::Duration;

/// The session cookie's name over plain http.
pub const SESSION_COOKIE: &str = "ts_session";

/// Signs in at the app on `origin` as the simulator's user `username`;
/// returns the session cookie's value.
///
/// # Panics
/// Any step answers otherwise than a working sign-in does.
pub async fn sign_in(origin: &str, username: &str) -> String {
    let browser = reqwest::Client::builder()
        .cookie_provider(Arc::new(Jar::default()))
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let login = browser
        .get(format!("{origin}/api/ts/login"))
        .send()
        .await
        .expect("login answers");
    assert_eq!(login.status(), StatusCode::SEE_OTHER, "login redirects");
    let authorize = location(&login);

    let page = browser
        .get(authorize.clone())
        .send()
        .await
        .expect("the sign-in page answers");
    assert_eq!(page.status(), StatusCode::OK, "the sign-in page shows");
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("username".into(), username.into()));
    form.push(("decision".into(), "authorize".into()));
    let mut action = authorize.clone();
    action.set_query(None);
    let decided = browser
        .post(action)
        .form(&form)
        .send()
        .await
        .expect("the decision answers");
    assert!(decided.status().is_redirection(), "{}", decided.status());
    let callback = location(&decided);
    assert!(
        callback.as_str().starts_with(origin),
        "the simulator sends the browser back to {origin}, not {callback}"
    );

    let done = browser
        .get(callback)
        .send()
        .await
        .expect("the callback answers");
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "the callback signs in"
    );
    done.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{SESSION_COOKIE}="))
                .map(str::to_owned)
        })
        .and_then(|rest| rest.split(';').next().map(str::to_owned))
        .filter(|v| !v.is_empty())
        .expect("the callback sets the session cookie")
}
