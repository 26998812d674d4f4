//! Errors a person understands, with the way out next to them.
//!
//! - not signed in / `session_expired`: the sentence and a *Sign in* link
//!   (and the session is marked signed out, so every view agrees);
//! - `429`: "rate limited, retrying in N s", counting down from
//!   `Retry-After`, then retrying by itself;
//! - anything else: the sentence and *Retry* when the caller can retry.

use leptos::prelude::*;

use crate::api::ApiError;
use crate::components::SignInLink;
use crate::session::Session;

#[component]
pub fn ErrorView(
    error: ApiError,
    /// Called by *Retry*, and when a 429's wait is over.
    #[prop(optional, into)]
    on_retry: Option<Callback<()>>,
) -> impl IntoView {
    let code = error.code();
    if error.needs_sign_in() {
        if let Some(session) = use_context::<Session>() {
            let lost = error.clone();
            Effect::new(move |_| session.lost(&lost));
        }
        return view! {
            <div class="notice notice-error" role="alert" data-testid="error-view" data-code=code>
                <p data-testid="error-message">{error.to_string()}</p>
                <SignInLink/>
            </div>
        }
        .into_any();
    }
    if let ApiError::RateLimited { retry_after_secs } = error {
        return view! { <RateLimited secs=retry_after_secs on_retry=on_retry/> }.into_any();
    }
    view! {
        <div class="notice notice-error" role="alert" data-testid="error-view" data-code=code>
            <p data-testid="error-message">{error.to_string()}</p>
            {on_retry.map(|retry| view! {
                <button class="btn" data-testid="retry" on:click=move |_| retry.run(())>"Retry"</button>
            })}
        </div>
    }
    .into_any()
}

/// The 429 countdown; retries when it reaches zero.
#[component]
fn RateLimited(secs: u32, on_retry: Option<Callback<()>>) -> impl IntoView {
    let left = RwSignal::new(secs);
    if let Ok(handle) = set_interval_with_handle(
        move || {
            let now = left.get_untracked().saturating_sub(1);
            if left.get_untracked() == 0 {
                return;
            }
            left.set(now);
            if now == 0
                && let Some(retry) = on_retry
            {
                retry.run(());
            }
        },
        std::time::Duration::from_secs(1),
    ) {
        on_cleanup(move || handle.clear());
    }
    view! {
        <div class="notice notice-warn" role="status" data-testid="error-view" data-code="rate_limited">
            <p data-testid="rate-limited">
                "Rate limited by TradeStation, retrying in "
                <span data-testid="rate-countdown">{move || left.get()}</span>
                " s."
            </p>
        </div>
    }
}
