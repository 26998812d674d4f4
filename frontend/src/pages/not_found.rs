//! Any path no route matches.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

#[component]
pub fn NotFound() -> impl IntoView {
    let path = use_location().pathname;
    view! {
        <section class="card prompt" data-testid="not-found">
            <h2>"Page not found"</h2>
            <p class="muted">"Nothing lives at " <code>{move || path.get()}</code> "."</p>
            <p><a class="btn" href="/">"Back to the dashboard"</a></p>
        </section>
    }
}
