//! TradeStation's HTTP streams: newline-delimited JSON over a chunked body.
//!
//! Chunk boundaries mean nothing (`TS_V3.md` §5): one chunk may hold several
//! objects, half an object, or half of a multi-byte UTF-8 character. So
//! [`JsonLines`] buffers **bytes**, cuts only at `\n`, and parses each whole
//! line into a typed message ([`QuoteStreamMessage`],
//! [`OptionChainStreamMessage`] from `shared::ts::stream`). It is pure and
//! incremental: scanning resumes where the previous chunk stopped, so a long
//! line split into many chunks costs linear time.
//!
//! [`spawn_stream`] runs one stream for a view: it reads the body with the
//! `ReadableStream` reader of the fetch `Response`, feeds the parser, and
//! reconnects with exponential backoff when the body ends, errors, goes idle
//! past [`IDLE_TIMEOUT_MS`], or the server says `GoAway`. It stops for good
//! on `not_authenticated`/`session_expired` (nothing a retry can fix), and
//! waits out a `429`'s `Retry-After`. The view stops it from `on_cleanup`,
//! which aborts the fetch with its `AbortController` so the backend can
//! cancel the upstream stream.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;

use gloo_net::http::Request;
use js_sys::{Array, Promise, Reflect, Uint8Array};
use serde::de::DeserializeOwned;
use shared::ts::stream::{OptionChainStreamMessage, QuoteStreamMessage, StreamError};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, ReadableStreamDefaultReader};

use super::{ApiError, error_from_response};
use crate::clock;

/// A line longer than this (no `\n` in sight) is dropped with an error
/// instead of growing the buffer without bound. TradeStation's largest
/// objects (option spreads with Greeks) are about 1 KB.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// Without a single byte for this long, a stream counts as dead. TradeStation
/// sends a heartbeat after 5 s of silence, so this is four missed ones.
pub const IDLE_TIMEOUT_MS: u32 = 20_000;

/// Longest pause between reconnect attempts.
pub const MAX_BACKOFF_SECS: u32 = 30;

/// Why one line could not become a message. The stream goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// The line outgrew the buffer limit; it is skipped up to its `\n`.
    TooLong { limit: usize },
    /// The line is not the JSON we expect.
    Json { message: String },
}

/// Incremental newline-delimited JSON parser. Feed it chunks with
/// [`push`](Self::push); call [`finish`](Self::finish) when the body ends.
#[derive(Debug)]
pub struct JsonLines<T> {
    buf: Vec<u8>,
    /// Bytes of `buf` already known to hold no `\n`.
    scanned: usize,
    /// Inside an over-long line: drop bytes up to the next `\n`.
    skipping: bool,
    max_line: usize,
    _message: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Default for JsonLines<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: DeserializeOwned> JsonLines<T> {
    pub fn new() -> Self {
        Self::with_max_line(DEFAULT_MAX_LINE)
    }

    pub fn with_max_line(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            scanned: 0,
            skipping: false,
            max_line,
            _message: PhantomData,
        }
    }

    /// Bytes held back, waiting for their line's `\n`.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Takes one chunk; returns every line it completed, in order. Blank
    /// lines (keep-alives) yield nothing; `\r\n` endings are accepted.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Result<T, LineError>> {
        let mut out = Vec::new();
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(offset) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + offset;
            if self.skipping {
                self.skipping = false;
            } else if let Some(parsed) = parse_line(&self.buf[start..end]) {
                out.push(parsed);
            }
            start = end + 1;
            self.scanned = start;
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() > self.max_line {
            if !self.skipping {
                out.push(Err(LineError::TooLong {
                    limit: self.max_line,
                }));
            }
            self.skipping = true;
            self.buf.clear();
            self.scanned = 0;
        }
        out
    }

    /// The body ended: a last line without `\n` still counts.
    pub fn finish(&mut self) -> Option<Result<T, LineError>> {
        let rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        if std::mem::take(&mut self.skipping) {
            return None;
        }
        parse_line(&rest)
    }
}

fn parse_line<T: DeserializeOwned>(line: &[u8]) -> Option<Result<T, LineError>> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return None;
    }
    Some(serde_json::from_slice(line).map_err(|e| LineError::Json {
        message: e.to_string(),
    }))
}

/// What a stream line means to the runner, apart from its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Data for the view.
    Data,
    /// Liveness only.
    Heartbeat,
    /// `{"StreamStatus":"EndSnapshot"}` and other harmless statuses.
    Status,
    /// The server wants this request ended (`GoAway`, `DualLogon`, a
    /// stream-wide error): reconnect after a pause.
    Reconnect(String),
    /// An error about one symbol (`FAILED, INVALID SYMBOL`): data for the
    /// view, the stream goes on.
    SymbolError,
}

/// A typed stream line the runner can classify.
pub trait StreamMessage: DeserializeOwned + 'static {
    fn control(&self) -> Control;
}

/// Errors that end a stream whichever symbol they name (`TS_V3.md` §5).
fn stream_error_control(error: &StreamError) -> Control {
    let fatal = matches!(
        error.error.as_str(),
        "GoAway" | "DualLogon" | "InternalServerError" | "BadRequest"
    );
    if error.symbol.is_some() && !fatal {
        Control::SymbolError
    } else {
        let why = error.message.clone().unwrap_or_else(|| error.error.clone());
        Control::Reconnect(why)
    }
}

fn status_control(status: &str) -> Control {
    if status == "GoAway" {
        Control::Reconnect("the server is closing the stream".to_owned())
    } else {
        Control::Status
    }
}

impl StreamMessage for QuoteStreamMessage {
    fn control(&self) -> Control {
        match self {
            Self::Heartbeat(_) => Control::Heartbeat,
            Self::Status(s) => status_control(&s.stream_status),
            Self::Error(e) => stream_error_control(e),
            Self::Quote(_) => Control::Data,
        }
    }
}

impl StreamMessage for OptionChainStreamMessage {
    fn control(&self) -> Control {
        match self {
            Self::Heartbeat(_) => Control::Heartbeat,
            Self::Status(s) => status_control(&s.stream_status),
            Self::Error(e) => stream_error_control(e),
            Self::Spread(_) => Control::Data,
        }
    }
}

/// What a view shows about its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamState {
    /// First connection under way.
    Connecting,
    /// Bytes are flowing.
    Live,
    /// Lost; the next attempt starts in `in_secs`.
    Reconnecting {
        attempt: u32,
        in_secs: u32,
        reason: String,
    },
    /// `429`: the next attempt starts in `in_secs`.
    RateLimited { in_secs: u32 },
    /// Given up: the person has to act (sign in again).
    Stopped(ApiError),
}

/// Seconds before reconnect attempt `attempt` (1-based): 1, 2, 4, … capped
/// at [`MAX_BACKOFF_SECS`].
pub fn backoff_secs(attempt: u32) -> u32 {
    let exp = attempt.saturating_sub(1).min(16);
    (1u32 << exp).min(MAX_BACKOFF_SECS)
}

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

/// How one connection ended.
enum Ended {
    /// Body closed, read failed, or idle: reconnect.
    Lost(String),
    /// A `GoAway`-like line: reconnect.
    ServerAsked(String),
    /// `stop()` was called.
    Stopped,
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
    leptos::task::spawn_local(run(url, shared, on_message, on_state));
    handle
}

async fn run<M, F, S>(url: String, shared: Rc<Shared>, mut on_message: F, mut on_state: S)
where
    M: StreamMessage,
    F: FnMut(M) + 'static,
    S: FnMut(StreamState) + 'static,
{
    let mut failures: u32 = 0;
    on_state(StreamState::Connecting);
    loop {
        if shared.stopped.get() {
            return;
        }
        let controller = match AbortController::new() {
            Ok(c) => c,
            Err(_) => return,
        };
        let signal = controller.signal();
        *shared.current.borrow_mut() = Some(controller.clone());

        let request = Request::get(&url)
            .header("Accept", "application/vnd.tradestation.streams.v2+json")
            .abort_signal(Some(&signal))
            .build();
        let outcome = match request {
            Ok(request) => request.send().await.map_err(|_| ApiError::Network),
            Err(_) => Err(ApiError::Network),
        };
        if shared.stopped.get() {
            return;
        }
        let resp = match outcome {
            Ok(resp) if resp.ok() => Ok(resp),
            Ok(resp) => Err(error_from_response(resp).await),
            Err(e) => Err(e),
        };
        let reason = match resp {
            Err(e) if e.needs_sign_in() => {
                on_state(StreamState::Stopped(e));
                return;
            }
            Err(ApiError::RateLimited { retry_after_secs }) => {
                if !count_down(&shared, retry_after_secs, &mut |s| {
                    on_state(StreamState::RateLimited { in_secs: s })
                })
                .await
                {
                    return;
                }
                continue;
            }
            Err(e) => e.to_string(),
            Ok(resp) => match resp.body() {
                None => "the stream had no body".to_owned(),
                Some(body) => {
                    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
                    let mut live = false;
                    let ended = read_body(&reader, &controller, &shared, &mut |message: M| {
                        if !live {
                            live = true;
                            on_state(StreamState::Live);
                        }
                        on_message(message);
                    })
                    .await;
                    if live {
                        failures = 0;
                    }
                    match ended {
                        Ended::Stopped => return,
                        Ended::Lost(why) | Ended::ServerAsked(why) => why,
                    }
                }
            },
        };
        if shared.stopped.get() {
            return;
        }
        failures += 1;
        let wait = backoff_secs(failures);
        let attempt = failures;
        if !count_down(&shared, wait, &mut |s| {
            on_state(StreamState::Reconnecting {
                attempt,
                in_secs: s,
                reason: reason.clone(),
            })
        })
        .await
        {
            return;
        }
    }
}

/// Reports `secs, secs-1, …, 1` once a second. False when stopped meanwhile.
async fn count_down(shared: &Shared, secs: u32, report: &mut dyn FnMut(u32)) -> bool {
    for left in (1..=secs.max(1)).rev() {
        if shared.stopped.get() {
            return false;
        }
        report(left);
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

/// Reads `reader` into `deliver` until the body ends; see [`Ended`].
///
/// Public to the crate's tests through [`read_lines`]: the same loop reads a
/// hand-made `ReadableStream`.
async fn read_body<M: StreamMessage>(
    reader: &ReadableStreamDefaultReader,
    controller: &AbortController,
    shared: &Shared,
    deliver: &mut dyn FnMut(M),
) -> Ended {
    let mut parser = JsonLines::<M>::new();
    let ended = loop {
        let read = read_chunk(reader, IDLE_TIMEOUT_MS).await;
        if shared.stopped.get() {
            return Ended::Stopped;
        }
        let chunk = match read {
            Read::Chunk(chunk) => chunk,
            Read::Done => {
                let last = parser.finish();
                if let Some(end) = deliver_all(last.into_iter(), deliver) {
                    break end;
                }
                break Ended::Lost("the stream ended".to_owned());
            }
            Read::Idle => {
                controller.abort();
                break Ended::Lost("no data for a while".to_owned());
            }
            Read::Failed => break Ended::Lost("the connection broke".to_owned()),
        };
        if let Some(end) = deliver_all(parser.push(&chunk).into_iter(), deliver) {
            controller.abort();
            break end;
        }
    };
    ignore_rejection(&reader.cancel());
    ended
}

/// Attaches a no-op rejection handler, so a promise we do not await (the
/// `cancel()` of an already aborted body) logs no "Uncaught (in promise)".
fn ignore_rejection(promise: &Promise) {
    let noop = wasm_bindgen::closure::Closure::once_into_js(|_: JsValue| {});
    let _ = promise.catch(noop.unchecked_ref());
}

fn deliver_all<M: StreamMessage>(
    lines: impl Iterator<Item = Result<M, LineError>>,
    deliver: &mut dyn FnMut(M),
) -> Option<Ended> {
    for line in lines {
        match line {
            Ok(message) => match message.control() {
                Control::Data | Control::SymbolError => deliver(message),
                Control::Heartbeat | Control::Status => {}
                Control::Reconnect(why) => return Some(Ended::ServerAsked(why)),
            },
            Err(e) => leptos::logging::warn!("stream: skipped a line: {e:?}"),
        }
    }
    None
}

/// Reads a whole body through the same loop the runner uses and returns
/// what it delivered and why it ended. For tests, which build a
/// `ReadableStream` by hand.
pub async fn read_lines<M: StreamMessage>(
    reader: &ReadableStreamDefaultReader,
) -> (Vec<M>, String) {
    let controller = AbortController::new().expect("AbortController");
    let shared = Shared::default();
    let mut got = Vec::new();
    let ended = read_body(reader, &controller, &shared, &mut |m| got.push(m)).await;
    let why = match ended {
        Ended::Lost(why) => format!("lost: {why}"),
        Ended::ServerAsked(why) => format!("server: {why}"),
        Ended::Stopped => "stopped".to_owned(),
    };
    (got, why)
}
