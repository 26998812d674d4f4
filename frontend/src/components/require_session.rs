//! Shows its children only to a signed-in visitor; otherwise the sign-in
//! prompt, the session check, or why the check failed.
//!
//! It follows [`Session::auth`], which changes only on sign-in/out: a status
//! poll does not re-create the page (and its streams).

use leptos::prelude::*;

use crate::components::{ErrorView, Loading, SignInPrompt};
use crate::session::{Auth, Session};

#[component]
pub fn RequireSession(children: ChildrenFn) -> impl IntoView {
    let session = expect_context::<Session>();
    let auth = session.auth();
    let retry = Callback::new(move |()| session.refresh());
    move || match auth.get() {
        Auth::Checking => view! { <Loading label="Checking your session…"/> }.into_any(),
        Auth::SignedOut => view! { <SignInPrompt/> }.into_any(),
        Auth::Unreachable(error) => view! { <ErrorView error=error on_retry=retry/> }.into_any(),
        Auth::SignedIn => children().into_any(),
    }
}
