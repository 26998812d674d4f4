//! Time in the browser: the wall clock and an awaitable `setTimeout`.
//!
//! Kept tiny and dependency-free (no `gloo-timers`): the stream runner sleeps
//! between reconnects and races reads against an idle timer; views use
//! Leptos' own `set_interval` for their tickers.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Unix time in whole seconds.
pub fn now_secs() -> i64 {
    (js_sys::Date::now() / 1000.0).floor() as i64
}

/// A promise that resolves to `value` after `ms`, and the timer id that can
/// clear it early.
pub fn timer(ms: u32, value: JsValue) -> (Promise, i32) {
    let id = Rc::new(Cell::new(0));
    let set_id = id.clone();
    let promise = Promise::new(&mut |resolve, _reject| {
        let value = value.clone();
        let callback = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::UNDEFINED, &value);
        });
        let handle = web_sys::window()
            .and_then(|w| {
                w.set_timeout_with_callback_and_timeout_and_arguments_0(
                    callback.unchecked_ref(),
                    ms.min(i32::MAX as u32) as i32,
                )
                .ok()
            })
            .unwrap_or(0);
        set_id.set(handle);
    });
    (promise, id.get())
}

/// Clears a timer made by [`timer`]; its promise then never settles.
pub fn clear_timer(id: i32) {
    if let Some(w) = web_sys::window() {
        w.clear_timeout_with_handle(id);
    }
}

/// Waits `ms` milliseconds.
pub async fn sleep_ms(ms: u32) {
    let (promise, _) = timer(ms, JsValue::UNDEFINED);
    let _ = JsFuture::from(promise).await;
}
