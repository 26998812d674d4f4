//! The browser half of a stream: `fetch` with an `AbortController`, the
//! `ReadableStream` reader of its body, a read raced against the idle
//! timer, and the countdowns between connections.
//!
//! Every decision is made by the pure layers: [`Connection`] for what a
//! body's lines mean, [`Reconnect`] for what follows a connection's end.
//! This loop only performs them. It is not generic: it hands raw lines to
//! one boxed closure that parses and delivers them, so one copy of the
//! loop serves every message type, which keeps the wasm small.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_net::http::Request;
use js_sys::{Array, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, ReadableStreamDefaultReader};

use super::lines::LineError;
use super::message::{Control, StreamMessage, deliver};
use super::reconnect::{
    Connection, IDLE_TIMEOUT_MS, Lost, Next, OnLine as ReconnectOnLine, Pause, Reconnect,
    StreamState,
};
use crate::api::{ApiError, error_from_response};
use crate::clock;

#[derive(Debug, Default)]
struct Shared {
    stopped: Cell<bool>,
    current: RefCell<Option<AbortController>>,
}

/// Stops its stream; dropping it does **not** (views stop it in
/// `on_cleanup`, where they also hold it).
#[derive(Debug, Clone)]
pub struct StreamHandle {
    shared: Rc<Shared>,
}

impl StreamHandle {
    /// Ends the stream: aborts the fetch in flight, runs no callback again.
    pub fn stop(&self) {
        self.shared.stopped.set(true);
        if let Some(controller) = self.shared.current.borrow_mut().take() {
            controller.abort();
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.shared.stopped.get()
    }
}

/// Parses one line, delivers it if it is for the view; `None` for a line
/// that was skipped.
type OnLine = Box<dyn FnMut(Result<&[u8], LineError>) -> Option<Control>>;
type OnState = Box<dyn FnMut(StreamState)>;

/// The typed half: the only part compiled once per message type.
fn typed_lines<M: StreamMessage>(mut on_message: impl FnMut(M) + 'static) -> OnLine {
    Box::new(move |line| match deliver(line, &mut on_message) {
        Ok(control) => Some(control),
        Err(e) => {
            leptos::logging::warn!("stream: skipped a line: {e}");
            None
        }
    })
}

/// Starts streaming `url` (a `/api/ts/v3/marketdata/stream/…` path).
/// `on_message` gets every data and symbol-error line; `on_state` every
/// change of connection state.
pub fn spawn_stream<M, F, S>(url: String, on_message: F, on_state: S) -> StreamHandle
where
    M: StreamMessage,
    F: FnMut(M) + 'static,
    S: FnMut(StreamState) + 'static,
{
    let handle = StreamHandle {
        shared: Rc::new(Shared::default()),
    };
    let shared = handle.shared.clone();
    leptos::task::spawn_local(run(
        url,
        shared,
        typed_lines(on_message),
        Box::new(on_state),
    ));
    handle
}

async fn run(url: String, shared: Rc<Shared>, mut on_line: OnLine, mut on_state: OnState) {
    let mut rules = Reconnect::default();
    on_state(StreamState::Connecting);
    loop {
        if shared.stopped.get() {
            return;
        }
        let next = match connect(&url, &shared, &mut on_line, &mut on_state).await {
            Outcome::Stopped => return,
            Outcome::Refused(error) => rules.refused(error),
            Outcome::Lost { why, was_live } => rules.lost(why, was_live),
        };
        let pause = match next {
            Next::Stop(error) => {
                on_state(StreamState::Stopped(error));
                return;
            }
            Next::Wait(pause) => pause,
        };
        if shared.stopped.get() || !count_down(&shared, &pause, &mut on_state).await {
            return;
        }
    }
}

/// How one attempt ended.
enum Outcome {
    /// `stop()` was called.
    Stopped,
    /// An error answer, or none, instead of a stream.
    Refused(ApiError),
    /// The body ended, or never came.
    Lost { why: Lost, was_live: bool },
}

/// One attempt: the request, then its body until it ends.
async fn connect(
    url: &str,
    shared: &Shared,
    on_line: &mut OnLine,
    on_state: &mut OnState,
) -> Outcome {
    let Ok(controller) = AbortController::new() else {
        return Outcome::Stopped;
    };
    let signal = controller.signal();
    *shared.current.borrow_mut() = Some(controller.clone());

    let request = Request::get(url)
        .header("Accept", "application/vnd.tradestation.streams.v2+json")
        .abort_signal(Some(&signal))
        .build();
    let outcome = match request {
        Ok(request) => request.send().await.map_err(|_| ApiError::Network),
        Err(_) => Err(ApiError::Network),
    };
    if shared.stopped.get() {
        return Outcome::Stopped;
    }
    let resp = match outcome {
        Ok(resp) if resp.ok() => resp,
        Ok(resp) => return Outcome::Refused(error_from_response(resp).await),
        Err(e) => return Outcome::Refused(e),
    };
    let Some(body) = resp.body() else {
        return Outcome::Lost {
            why: Lost::NoBody,
            was_live: false,
        };
    };
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut connection = Connection::default();
    let ended = read_body(
        &reader,
        &controller,
        shared,
        &mut connection,
        &mut **on_line,
        &mut || on_state(StreamState::Live),
    )
    .await;
    match ended {
        None => Outcome::Stopped,
        Some(why) => Outcome::Lost {
            why,
            was_live: connection.is_live(),
        },
    }
}

/// Shows `pause`'s countdown, a second per state. False when stopped
/// meanwhile.
async fn count_down(shared: &Shared, pause: &Pause, on_state: &mut OnState) -> bool {
    for state in pause.countdown() {
        if shared.stopped.get() {
            return false;
        }
        on_state(state);
        clock::sleep_ms(1000).await;
    }
    !shared.stopped.get()
}

/// One read of the body, raced against the idle timer.
enum Read {
    Chunk(Vec<u8>),
    Done,
    Idle,
    Failed,
}

async fn read_chunk(reader: &ReadableStreamDefaultReader, idle_ms: u32) -> Read {
    let idle = JsValue::from_str("idle");
    let (timer, timer_id) = clock::timer(idle_ms, idle.clone());
    let race = Promise::race(&Array::of2(&reader.read(), &timer));
    let result = JsFuture::from(race).await;
    clock::clear_timer(timer_id);
    match result {
        Err(_) => Read::Failed,
        Ok(v) if v == idle => Read::Idle,
        Ok(v) => {
            let done = Reflect::get(&v, &JsValue::from_str("done"))
                .ok()
                .and_then(|d| d.as_bool())
                .unwrap_or(true);
            if done {
                return Read::Done;
            }
            match Reflect::get(&v, &JsValue::from_str("value")) {
                Ok(value) if value.is_instance_of::<Uint8Array>() => {
                    Read::Chunk(value.unchecked_into::<Uint8Array>().to_vec())
                }
                _ => Read::Chunk(Vec::new()),
            }
        }
    }
}

/// Reads `reader` into `connection` until the body ends; `on_live` runs
/// once, when the first line is understood. `None` when `stop()` was
/// called meanwhile.
async fn read_body(
    reader: &ReadableStreamDefaultReader,
    controller: &AbortController,
    shared: &Shared,
    connection: &mut Connection,
    on_line: &mut ReconnectOnLine<'_>,
    on_live: &mut dyn FnMut(),
) -> Option<Lost> {
    let ended = loop {
        let read = read_chunk(reader, IDLE_TIMEOUT_MS).await;
        if shared.stopped.get() {
            return None;
        }
        let was_live = connection.is_live();
        let ended = match read {
            Read::Chunk(chunk) => connection.push(&chunk, on_line),
            Read::Done => Some(connection.finish(on_line)),
            Read::Idle => Some(Lost::Idle),
            Read::Failed => Some(Lost::Broke),
        };
        if !was_live && connection.is_live() {
            on_live();
        }
        match ended {
            None => continue,
            Some(Lost::Idle | Lost::ServerAsked(_)) => {
                controller.abort();
                break ended;
            }
            Some(_) => break ended,
        }
    };
    ignore_rejection(&reader.cancel());
    ended
}

/// Attaches a no-op rejection handler, so a promise we do not await (the
/// `cancel()` of an already aborted body) logs no "Uncaught (in promise)".
fn ignore_rejection(promise: &Promise) {
    thread_local! {
        static NOOP: wasm_bindgen::closure::Closure<dyn FnMut(JsValue)> =
            wasm_bindgen::closure::Closure::new(|_: JsValue| {});
    }
    NOOP.with(|noop| {
        let _ = promise.catch(noop);
    });
}

/// Reads a whole body through the same loop the runner uses and returns
/// what it delivered and why it ended (`lost: …`, `server: …`). For tests,
/// which build a `ReadableStream` by hand.
pub async fn read_lines<M: StreamMessage>(
    reader: &ReadableStreamDefaultReader,
) -> (Vec<M>, String) {
    let controller = AbortController::new().expect("AbortController");
    let shared = Shared::default();
    let got = Rc::new(RefCell::new(Vec::new()));
    let sink = got.clone();
    let mut on_line = typed_lines(move |m: M| sink.borrow_mut().push(m));
    let mut connection = Connection::default();
    let ended = read_body(
        reader,
        &controller,
        &shared,
        &mut connection,
        &mut *on_line,
        &mut || {},
    )
    .await;
    let why = match ended {
        Some(Lost::ServerAsked(why)) => format!("server: {why}"),
        Some(why) => format!("lost: {why}"),
        None => "stopped".to_owned(),
    };
    drop(on_line);
    let got = Rc::try_unwrap(got)
        .map(RefCell::into_inner)
        .unwrap_or_default();
    (got, why)
}
