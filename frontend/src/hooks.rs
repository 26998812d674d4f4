//! What several pages do alike, once: run a stream while the view is
//! mounted ([`use_stream`]) and keep the URL's query in step with the
//! view's choices ([`use_query_mirror`]).

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api;
use crate::api::stream::{StreamMessage, StreamState, spawn_stream};
use crate::session::Session;

/// Runs a stream for as long as the current view lives, and returns its
/// state for a [`StreamBadge`](crate::components::StreamBadge).
///
/// `open` is tracked: it runs now and again whenever a signal it reads
/// changes, each time after the previous stream was stopped (its fetch
/// aborted), and returns the URL to stream, or `None` for no stream (the
/// state then keeps its last value). It is also the place to reset what
/// the old stream filled in: no line of the old stream arrives after it
/// runs. Data and symbol-error lines go to `on_message`. A stream refused
/// for want of a session signs the app out ([`Session::lost`]).
pub fn use_stream<M, O, F>(open: O, on_message: F) -> ReadSignal<StreamState>
where
    M: StreamMessage,
    O: Fn() -> Option<String> + 'static,
    F: Fn(M) + Clone + 'static,
{
    let session = expect_context::<Session>();
    let state = RwSignal::new(StreamState::Connecting);
    Effect::new(move |_| {
        let Some(url) = open() else {
            return;
        };
        state.set(StreamState::Connecting);
        let handle = spawn_stream(url, on_message.clone(), move |s: StreamState| {
            if let StreamState::Stopped(e) = &s {
                session.lost(e);
            }
            state.set(s);
        });
        let handle = send_wrapper::SendWrapper::new(handle);
        on_cleanup(move || handle.stop());
    });
    state.read_only()
}

/// Keeps the page's query at `path?key=value&…` for the `(key, value)`
/// pairs `params` returns (tracked; `None` leaves a key out). When the URL
/// already says the same it is left alone; otherwise the current history
/// entry is replaced, without scrolling, so *Back* leaves the page instead
/// of stepping through every choice.
///
/// Values are percent-encoded item by item with commas kept literal, so a
/// list reads `symbols=MSFT,AAPL`.
pub fn use_query_mirror<P>(path: &'static str, params: P)
where
    P: Fn() -> Vec<(&'static str, Option<String>)> + 'static,
{
    let query = use_query_map();
    let navigate = use_navigate();
    Effect::new(move |_| {
        let wanted = params();
        let same = query.with_untracked(|q| wanted.iter().all(|(key, value)| q.get(key) == *value));
        if same {
            return;
        }
        let mut url = path.to_owned();
        let pairs = wanted
            .iter()
            .filter_map(|(key, value)| value.as_ref().map(|v| (key, v)));
        for (i, (key, value)) in pairs.enumerate() {
            let items: Vec<&str> = value.split(',').collect();
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.push_str(&api::encode_list(&items));
        }
        navigate(
            &url,
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    });
}
