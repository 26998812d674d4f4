//! A small badge saying how a live stream is doing: live, connecting,
//! reconnecting in N s (and why), rate limited, or stopped.

use leptos::prelude::*;

use crate::api::stream::StreamState;
use crate::components::SignInLink;

#[component]
pub fn StreamBadge(#[prop(into)] state: Signal<StreamState>) -> impl IntoView {
    let class = move || match state.get() {
        StreamState::Live => "badge badge-live",
        StreamState::Connecting => "badge badge-wait",
        StreamState::Reconnecting { .. } | StreamState::RateLimited { .. } => "badge badge-warn",
        StreamState::Stopped(_) => "badge badge-error",
    };
    let kind = move || match state.get() {
        StreamState::Live => "live",
        StreamState::Connecting => "connecting",
        StreamState::Reconnecting { .. } => "reconnecting",
        StreamState::RateLimited { .. } => "rate_limited",
        StreamState::Stopped(_) => "stopped",
    };
    let text = move || match state.get() {
        StreamState::Live => "Live".to_owned(),
        StreamState::Connecting => "Connecting…".to_owned(),
        StreamState::Reconnecting {
            attempt,
            in_secs,
            reason,
        } => {
            format!(
                "Stream interrupted ({reason}); reconnecting in {in_secs} s (attempt {attempt})"
            )
        }
        StreamState::RateLimited { in_secs } => {
            format!("Rate limited by TradeStation, retrying in {in_secs} s")
        }
        StreamState::Stopped(error) => error.to_string(),
    };
    view! {
        <div class="stream-status" aria-live="polite">
            <span class=class data-testid="stream-status" data-state=kind>{text}</span>
            {move || matches!(state.get(), StreamState::Stopped(ref e) if e.needs_sign_in())
                .then(|| view! { <SignInLink/> })}
        </div>
    }
}
