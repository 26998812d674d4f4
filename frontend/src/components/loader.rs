//! Loading one value for a view, with its loading, error and data states.
//!
//! A signal holding `None` (loading) or the result, filled by a task that an
//! effect starts. The effect tracks what the fetch reads (a symbol, a
//! range), so a change fetches again; each run gets an `AbortSignal` that
//! aborts when the effect re-runs or the view unmounts, and an aborted run
//! never writes its (stale) result.
//!
//! This does what `LocalResource` inside `<Transition>` does for this app,
//! at a fraction of the wasm size: `LocalResource`/`Transition` instantiate
//! the async-derived and suspense machinery per value type, which made up a
//! measurable share of the bundle (see the README's *Frontend* section).

use std::future::Future;

use leptos::prelude::*;
use web_sys::AbortSignal;

use crate::api::{self, ApiError};
use crate::components::{ErrorView, Loading};

/// Copyable handle; see the module docs.
#[derive(Debug)]
pub struct Loader<T: Send + Sync + 'static> {
    state: RwSignal<Option<Result<T, ApiError>>>,
    runs: RwSignal<u64>,
}

impl<T: Send + Sync + 'static> Clone for Loader<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Loader<T> {}

impl<T: Clone + Send + Sync + 'static> Loader<T> {
    /// Starts loading with `fetch`, again whenever a signal it reads
    /// synchronously changes, and on [`reload`](Self::reload).
    pub fn new<Fut>(fetch: impl Fn(Option<AbortSignal>) -> Fut + 'static) -> Self
    where
        Fut: Future<Output = Result<T, ApiError>> + 'static,
    {
        let state = RwSignal::new(None);
        let runs = RwSignal::new(0u64);
        Effect::new(move |_| {
            runs.track();
            let signal = api::abort_on_cleanup();
            let task = fetch(signal.clone());
            if state.with_untracked(Option::is_some) {
                state.set(None);
            }
            leptos::task::spawn_local(async move {
                let result = task.await;
                if !signal.is_some_and(|s| s.aborted()) {
                    state.try_set(Some(result));
                }
            });
        });
        Self { state, runs }
    }

    /// Fetches again (the *Retry* button, a 429's countdown, *Refresh*).
    pub fn reload(self) {
        self.runs.update(|n| *n += 1);
    }

    /// The current state: `None` while loading.
    pub fn get(self) -> Option<Result<T, ApiError>> {
        self.state.get()
    }

    /// Loading spinner, [`ErrorView`] with *Retry*, or `render(data)`.
    pub fn view<V, F>(self, render: F) -> impl IntoView + use<T, V, F>
    where
        V: IntoView + 'static,
        F: Fn(T) -> V + Send + Sync + 'static,
    {
        let retry = Callback::new(move |()| self.reload());
        move || match self.state.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Ok(data)) => render(data).into_any(),
            Some(Err(error)) => view! { <ErrorView error=error on_retry=retry/> }.into_any(),
        }
    }
}
