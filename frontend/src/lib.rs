//! The single-page app: sign-in, session status, accounts, live quotes,
//! option chains and charts, from the backend's `/api/ts/*` endpoints.
//!
//! Compiled to wasm by Trunk (`index.html` at the repository root), served
//! by the backend from `dist/`. The browser holds only the session cookie;
//! every TradeStation call goes through the backend's passthrough.
//!
//! # Layout
//! - [`App`]: the router and its routes; `main.rs` only mounts it.
//! - [`api`]: every HTTP call, the [`api::ApiError`] views match on, and
//!   [`api::stream`], the newline-delimited JSON stream reader in layers.
//! - [`session`]: `/status`, the countdown clock, sign-out notices.
//! - [`hooks`]: what several pages do alike: run a stream while mounted,
//!   mirror their choices into the URL.
//! - [`components`]: header, session panel, sign-in prompt, loading and
//!   error states, stream badge.
//! - [`pages`]: one module per route.
//! - [`model`]: pure view models (quote merging, chain grouping, chart
//!   layout); [`format`] and [`watchlist`]: pure helpers.
//! - [`clock`]: wall clock and timers.
//!
//! # Two halves
//! Everything that needs a browser (Leptos, `web-sys`, `fetch`) is behind
//! `cfg(target_arch = "wasm32")`, and so are its crates. What is left is
//! pure: the stream's framing, classification and reconnect rules, the
//! error mapping, paths, view models and formatting. It builds for the host,
//! and `tests/logic.rs` plus the unit tests run natively with a plain
//! `cargo test -p frontend`. `tests/web.rs` mounts the app in headless
//! Chromium and reads real browser streams.

pub mod api;
pub mod format;
pub mod model;
pub mod watchlist;

#[cfg(target_arch = "wasm32")]
pub mod clock;
#[cfg(target_arch = "wasm32")]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod hooks;
#[cfg(target_arch = "wasm32")]
pub mod pages;
#[cfg(target_arch = "wasm32")]
pub mod session;

#[cfg(target_arch = "wasm32")]
pub use app::{App, Routed};

#[cfg(target_arch = "wasm32")]
mod app {
    use leptos::prelude::*;
    use leptos_router::components::{Redirect, Route, Router, Routes};
    use leptos_router::path;

    use crate::components::Shell;
    use crate::pages::{AccountsPage, ChartPage, HomePage, NotFound, OptionsPage, QuotesPage};
    use crate::session::Session;

    /// The whole app. Provides the [`Session`] and routes:
    /// `/`, `/accounts`, `/quotes`, `/options`, `/chart/:symbol`, else not found.
    #[component]
    pub fn App() -> impl IntoView {
        Session::provide();
        view! { <Routed/> }
    }

    /// The router and routes, for an already provided [`Session`] (tests
    /// provide their own).
    #[component]
    pub fn Routed() -> impl IntoView {
        view! {
            <Router>
                <Shell>
                    <Routes fallback=|| view! { <NotFound/> }>
                        <Route path=path!("/") view=HomePage/>
                        <Route path=path!("/accounts") view=AccountsPage/>
                        <Route path=path!("/quotes") view=QuotesPage/>
                        <Route path=path!("/options") view=OptionsPage/>
                        <Route path=path!("/chart") view=|| view! { <Redirect path="/chart/MSFT"/> }/>
                        <Route path=path!("/chart/:symbol") view=ChartPage/>
                    </Routes>
                </Shell>
            </Router>
        }
    }
}
