//! `/`: the landing page when signed out, the session panel when signed in.
//!
//! A failed sign-in comes back from the backend's callback as
//! `/?auth_error=<code>`; the code is explained here in words.
//!
//! When the signed-out call to action first renders, the page sets the
//! `app-interactive` performance mark: the end-to-end test reads it to time
//! navigation → interactive.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::{ErrorView, Loading, SessionPanel, SignInLink, SignedOutNotice};
use crate::session::{Auth, Session};

/// The sentence for an `auth_error` code.
pub fn auth_error_text(code: &str) -> String {
    match code {
        "access_denied" => "Sign-in was cancelled at TradeStation.".to_owned(),
        "exchange_failed" => {
            "TradeStation did not accept the sign-in. Please try again.".to_owned()
        }
        "upstream_error" => {
            "TradeStation could not be reached to finish signing in. Please try again.".to_owned()
        }
        "invalid_id_token" => {
            "TradeStation's sign-in answer could not be verified, so it was not used.".to_owned()
        }
        other => format!("Sign-in did not complete ({other}). Please try again."),
    }
}

#[component]
pub fn HomePage() -> impl IntoView {
    let session = expect_context::<Session>();
    let auth = session.auth();
    let query = use_query_map();
    let auth_error = move || query.with(|q| q.get("auth_error"));
    let retry = Callback::new(move |()| session.refresh());
    view! {
        <div class="page home">
            {move || auth_error().map(|code| view! {
                <p class="notice notice-error" role="alert" data-testid="auth-error">{auth_error_text(&code)}</p>
            })}
            {move || match auth.get() {
                Auth::Checking => view! { <Loading label="Checking your session…"/> }.into_any(),
                Auth::SignedOut => view! { <Landing/> }.into_any(),
                Auth::Unreachable(error) => view! { <ErrorView error=error on_retry=retry/> }.into_any(),
                Auth::SignedIn => view! { <Dashboard/> }.into_any(),
            }}
        </div>
    }
}

#[component]
fn Landing() -> impl IntoView {
    Effect::new(move |_| {
        if let Some(perf) = web_sys::window().and_then(|w| w.performance()) {
            let _ = perf.mark("app-interactive");
        }
    });
    view! {
        <section class="hero" data-testid="signed-out">
            <h1>"Your TradeStation data, live in the browser"</h1>
            <p class="lead">
                "Balances, positions and orders; a streaming watchlist; option chains; charts. "
                "Sign in with your TradeStation login: the app's server holds the tokens, "
                "this page never sees them."
            </p>
            <SignedOutNotice/>
            <SignInLink primary=true/>
        </section>
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    view! {
        <div class="grid-2">
            <SessionPanel/>
            <section class="card">
                <h2>"Go to"</h2>
                <ul class="tiles">
                    <li><a href="/accounts" data-testid="tile-accounts"><strong>"Accounts"</strong><span>"Balances, positions, orders"</span></a></li>
                    <li><a href="/quotes" data-testid="tile-quotes"><strong>"Quotes"</strong><span>"Live watchlist"</span></a></li>
                    <li><a href="/options" data-testid="tile-options"><strong>"Options"</strong><span>"Chains by expiration"</span></a></li>
                    <li><a href="/chart/MSFT" data-testid="tile-chart"><strong>"Chart"</strong><span>"Price history"</span></a></li>
                </ul>
            </section>
        </div>
    }
}
