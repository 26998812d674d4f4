//! The single-page app: session status for now.

use leptos::prelude::*;
use shared::api::StatusResponse;

/// Fetches `/api/ts/status`.
async fn fetch_status() -> Result<StatusResponse, String> {
    let resp = gloo_net::http::Request::get("/api/ts/status")
        .send()
        .await
        .map_err(|e| format!("The app's server could not be reached ({e})."))?;
    if !resp.ok() {
        return Err(format!("The app's server answered {}.", resp.status()));
    }
    resp.json::<StatusResponse>()
        .await
        .map_err(|_| "The app's server sent an answer this page cannot read.".to_owned())
}

#[component]
pub fn App() -> impl IntoView {
    let status = LocalResource::new(fetch_status);
    view! {
        <main class="app">
            <h1>"TradeStation"</h1>
            <Suspense fallback=|| view! { <p data-testid="loading">"Loading…"</p> }>
                {move || status.get().map(|result| match result {
                    Ok(s) if s.authenticated => view! {
                        <p data-testid="status">"Signed in as " {s.user_id.unwrap_or_default()}</p>
                    }.into_any(),
                    Ok(_) => view! {
                        <p data-testid="status">
                            <a href="/api/ts/login">"Sign in with TradeStation"</a>
                        </p>
                    }.into_any(),
                    Err(message) => view! { <p data-testid="error">{message}</p> }.into_any(),
                })}
            </Suspense>
        </main>
    }
}
