//! The way in: the *Sign in with TradeStation* link and the prompt that
//! protected pages show when nobody is signed in.
//!
//! The link is a real navigation to `/api/ts/login` (the backend answers
//! with a redirect to TradeStation), so it carries `rel="external"` to keep
//! the client-side router's hands off it. `return_to` brings the person back
//! to the page they were on.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::api;
use crate::session::{Notice, Session};

/// The sign-in link, returning to the current page.
#[component]
pub fn SignInLink(#[prop(optional)] primary: bool) -> impl IntoView {
    let location = use_location();
    let href = move || {
        let path = location.pathname.get();
        let search = location.search.get();
        let here = if search.is_empty() {
            path
        } else {
            format!("{path}?{}", search.trim_start_matches('?'))
        };
        api::login_url(&here)
    };
    view! {
        <a class=if primary { "btn btn-primary btn-large" } else { "btn btn-primary" }
           data-testid="sign-in" rel="external" href=href>
            "Sign in with TradeStation"
        </a>
    }
}

/// Why the person is signed out, when there is something to say.
#[component]
pub fn SignedOutNotice() -> impl IntoView {
    let session = expect_context::<Session>();
    move || {
        session.notice().map(|notice| {
            let text = match notice {
                Notice::SignedOut { everywhere: true } => {
                    "You are signed out. TradeStation also ended this login's other sessions: \
                     its refresh tokens were revoked everywhere."
                }
                Notice::SignedOut { everywhere: false } => "You are signed out.",
                Notice::SessionEnded => "Your TradeStation session ended, sign in again.",
            };
            view! { <p class="notice notice-info" data-testid="signed-out-notice">{text}</p> }
        })
    }
}

/// What a protected page shows to a signed-out visitor.
#[component]
pub fn SignInPrompt() -> impl IntoView {
    view! {
        <section class="card prompt" data-testid="sign-in-prompt">
            <SignedOutNotice/>
            <h2>"Sign in to see this page"</h2>
            <p class="muted">
                "Accounts, quotes and option chains come from your TradeStation login. "
                "The app keeps your tokens on its server; this page never sees them."
            </p>
            <SignInLink primary=true/>
        </section>
    }
}
