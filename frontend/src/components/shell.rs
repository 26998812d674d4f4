//! The frame around every page: brand, navigation, session badge.
//!
//! Navigation links are plain `<a>`: the router upgrades same-origin clicks
//! to client-side navigation on its own, and `aria-current` marks the page
//! (styled in `app.css`).

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::components::SessionBadge;
use crate::watchlist;

#[component]
pub fn Shell(children: Children) -> impl IntoView {
    let location = use_location();
    let current = move |prefix: &'static str| {
        let path = location.pathname.get();
        let on = if prefix == "/" {
            path == "/"
        } else {
            path.starts_with(prefix)
        };
        on.then_some("page")
    };
    // The chart link opens the first watchlist symbol.
    let chart_href = move || {
        location.pathname.track();
        let first = watchlist::initial(None, watchlist::load().as_deref())
            .into_iter()
            .next()
            .unwrap_or_else(|| "MSFT".to_owned());
        format!("/chart/{}", crate::api::encode_segment(&first))
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="logo" aria-hidden="true">"TS"</span>
                <span>"Dashboard"</span>
            </a>
            <nav class="nav" aria-label="Main">
                <a href="/" data-testid="nav-home" aria-current=move || current("/")>"Home"</a>
                <a href="/accounts" data-testid="nav-accounts" aria-current=move || current("/accounts")>"Accounts"</a>
                <a href="/quotes" data-testid="nav-quotes" aria-current=move || current("/quotes")>"Quotes"</a>
                <a href="/options" data-testid="nav-options" aria-current=move || current("/options")>"Options"</a>
                <a href=chart_href data-testid="nav-chart" aria-current=move || current("/chart")>"Chart"</a>
            </nav>
            <SessionBadge/>
        </header>
        <main class="content">{children()}</main>
        <footer class="footer muted">
            "Data from TradeStation. Tokens stay on the app's server."
        </footer>
    }
}
