//! Who is signed in, how long the access token has left, whether a refresh
//! token is held, and *Sign out*.
//!
//! The countdown ticks from the session clock. When it reaches zero while a
//! refresh token is held, it says so: the backend renews the token on the
//! next request, and the next `/status` poll makes the countdown jump
//! forward.
//!
//! *Sign out* asks first. With a refresh token held, the backend revokes it,
//! and TradeStation's revoke ends **every** refresh token of this login for
//! the app's key, so the question says that this signs out everywhere.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::api::ApiError;
use crate::format;
use crate::session::Session;

/// The countdown text, or what an expired token means.
fn countdown_text(session: Session) -> String {
    let status = session.status();
    let refresh = status.as_ref().is_some_and(|s| s.has_refresh_token);
    match session.secs_left() {
        None => "unknown".to_owned(),
        Some(left) => match format::countdown(left) {
            Some(text) => text,
            None if refresh => "expired; renewed on the next request".to_owned(),
            None => "expired".to_owned(),
        },
    }
}

#[component]
pub fn SessionPanel() -> impl IntoView {
    let session = expect_context::<Session>();
    let user = move || {
        session
            .status()
            .and_then(|s| s.user_id)
            .unwrap_or_else(|| "(no user id from TradeStation)".to_owned())
    };
    let refresh_token = move || {
        if session.status().is_some_and(|s| s.has_refresh_token) {
            "held: access is renewed automatically"
        } else {
            "none: sign in again when access ends"
        }
    };
    let low = move || session.secs_left().is_some_and(|l| l < 120);
    view! {
        <section class="card session-panel" data-testid="session-panel">
            <h2>"Session"</h2>
            <dl class="facts">
                <div>
                    <dt>"Signed in as"</dt>
                    <dd data-testid="session-user">{user}</dd>
                </div>
                <div>
                    <dt>"Access token expires in"</dt>
                    <dd class="countdown" class:low=low data-testid="session-countdown">
                        {move || countdown_text(session)}
                    </dd>
                </div>
                <div>
                    <dt>"Refresh token"</dt>
                    <dd data-testid="session-refresh-token">{refresh_token}</dd>
                </div>
            </dl>
            <SignOut/>
        </section>
    }
}

/// *Sign out*, with its confirmation.
#[component]
fn SignOut() -> impl IntoView {
    let session = expect_context::<Session>();
    let navigate = use_navigate();
    let confirming = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let failed = RwSignal::new(None::<ApiError>);
    let everywhere = move || session.status().is_some_and(|s| s.has_refresh_token);

    let confirm = move |_| {
        busy.set(true);
        failed.set(None);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match session.sign_out().await {
                Ok(()) => navigate("/", Default::default()),
                Err(e) => {
                    busy.set(false);
                    failed.set(Some(e));
                }
            }
        });
    };

    view! {
        <div class="sign-out">
            <Show
                when=move || confirming.get()
                fallback=move || view! {
                    <button class="btn" data-testid="sign-out" on:click=move |_| confirming.set(true)>
                        "Sign out"
                    </button>
                }
            >
                <div class="confirm" role="alertdialog" aria-label="Confirm sign out" data-testid="sign-out-confirm">
                    <p>
                        {move || if everywhere() {
                            "Sign out? This revokes your TradeStation refresh token, and TradeStation \
                             then signs this login out everywhere: every other browser or device using \
                             this app must sign in again."
                        } else {
                            "Sign out? The app forgets this session's tokens."
                        }}
                    </p>
                    <div class="actions">
                        <button class="btn btn-danger" data-testid="confirm-sign-out"
                                disabled=move || busy.get() on:click=confirm.clone()>
                            {move || if busy.get() { "Signing out…" } else if everywhere() { "Sign out everywhere" } else { "Sign out" }}
                        </button>
                        <button class="btn" data-testid="cancel-sign-out"
                                on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </div>
                    {move || failed.get().map(|e| view! {
                        <p class="notice notice-error" data-testid="sign-out-error">{e.to_string()}</p>
                    })}
                </div>
            </Show>
        </div>
    }
}

/// The header's compact session summary.
#[component]
pub fn SessionBadge() -> impl IntoView {
    let session = expect_context::<Session>();
    move || {
        session.status().filter(|s| s.authenticated).map(|s| {
            let user = s.user_id.unwrap_or_else(|| "signed in".to_owned());
            view! {
                <a href="/" class="session-badge" data-testid="session-badge" title="Session">
                    <span class="dot" aria-hidden="true"></span>
                    <span class="who">{user}</span>
                    <span class="left">{move || countdown_text(session)}</span>
                </a>
            }
        })
    }
}
