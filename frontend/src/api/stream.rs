//! TradeStation's HTTP streams: newline-delimited JSON over a chunked body.
//!
//! Chunk boundaries mean nothing (`TS_V3.md` §5): one chunk may hold several
//! objects, half an object, or half of a multi-byte UTF-8 character. So
//! [`LineSplitter`] buffers **bytes** and cuts only at `\n`, and
//! [`JsonLines`] parses each whole line into a typed message
//! ([`QuoteStreamMessage`], [`OptionChainStreamMessage`] from
//! `shared::ts::stream`). Both are pure and incremental: scanning resumes
//! where the previous chunk stopped, so a long line split into many chunks
//! costs linear time, and an over-long line is dropped rather than buffered
//! without bound.
//!
//! [`spawn_stream`] runs one stream for a view: it reads the body with the
//! `ReadableStream` reader of the fetch `Response`, splits and parses it, and
//! reconnects with exponential backoff when the body ends, errors, goes idle
//! past [`IDLE_TIMEOUT_MS`], or the server says `GoAway`. It stops for good
//! on `not_authenticated`/`session_expired` (nothing a retry can fix), and
//! waits out a `429`'s `Retry-After`. The view stops it from `on_cleanup`,
//! which aborts the fetch with its `AbortController` so the backend can
//! cancel the upstream stream.
//!
//! The connection loop itself is not generic: it hands raw lines to one
//! boxed closure that parses and delivers them. One copy of the loop serves
//! every message type, which keeps the wasm small.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;

use gloo_net::http::Request;
use js_sys::{Array, Promise, Reflect, Uint8Array};
use serde::Deserialize;
use shared::ts::stream::{
    Heartbeat, OptionChainStreamMessage, QuoteStreamMessage, StreamError, StreamStatus,
};
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

/// Where a [`LineSplitter`] hands its lines.
pub type LineSink<'a> = dyn FnMut(Result<&[u8], LineError>) + 'a;

/// Incremental splitter of a byte stream into `\n`-terminated lines.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    /// Bytes of `buf` already known to hold no `\n`.
    scanned: usize,
    /// Inside an over-long line: drop bytes up to the next `\n`.
    skipping: bool,
    max_line: usize,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE)
    }
}

impl LineSplitter {
    pub fn new(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            scanned: 0,
            skipping: false,
            max_line,
        }
    }

    /// Bytes held back, waiting for their line's `\n`.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Takes one chunk and hands every line it completes to `line`, in
    /// order, without the `\n` (and without a `\r` before it). Blank lines
    /// (keep-alives) are skipped.
    pub fn push(&mut self, chunk: &[u8], line: &mut LineSink<'_>) {
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(offset) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + offset;
            if self.skipping {
                self.skipping = false;
            } else {
                emit(&self.buf[start..end], line);
            }
            start = end + 1;
            self.scanned = start;
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() > self.max_line {
            if !self.skipping {
                line(Err(LineError::TooLong {
                    limit: self.max_line,
                }));
            }
            self.skipping = true;
            self.buf.clear();
            self.scanned = 0;
        }
    }

    /// The body ended: a last line without `\n` still counts.
    pub fn finish(&mut self, line: &mut LineSink<'_>) {
        let rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        if !std::mem::take(&mut self.skipping) {
            emit(&rest, line);
        }
    }
}

fn emit(raw: &[u8], line: &mut LineSink<'_>) {
    let trimmed = raw.trim_ascii();
    if !trimmed.is_empty() {
        line(Ok(trimmed));
    }
}

/// Incremental newline-delimited JSON parser: a [`LineSplitter`] whose
/// lines become typed messages. Feed it chunks with [`push`](Self::push);
/// call [`finish`](Self::finish) when the body ends.
#[derive(Debug)]
pub struct JsonLines<T> {
    lines: LineSplitter,
    _message: PhantomData<fn() -> T>,
}

impl<T: StreamMessage> Default for JsonLines<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: StreamMessage> JsonLines<T> {
    pub fn new() -> Self {
        Self::with_max_line(DEFAULT_MAX_LINE)
    }

    pub fn with_max_line(max_line: usize) -> Self {
        Self {
            lines: LineSplitter::new(max_line),
            _message: PhantomData,
        }
    }

    /// Bytes held back, waiting for their line's `\n`.
    pub fn pending(&self) -> usize {
        self.lines.pending()
    }

    /// Takes one chunk; returns every message it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Result<T, LineError>> {
        let mut out = Vec::new();
        self.lines
            .push(chunk, &mut |line| out.push(parse_line(line)));
        out
    }

    /// The body ended: a last line without `\n` still counts.
    pub fn finish(&mut self) -> Option<Result<T, LineError>> {
        let mut out = None;
        self.lines.finish(&mut |line| out = Some(parse_line(line)));
        out
    }
}

fn parse_line<T: StreamMessage>(line: Result<&[u8], LineError>) -> Result<T, LineError> {
    let text = std::str::from_utf8(line?).map_err(|_| LineError::Json {
        message: "the line is not UTF-8".to_owned(),
    })?;
    T::parse(text).map_err(|e| LineError::Json {
        message: e.to_string(),
    })
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
pub trait StreamMessage: Sized + 'static {
    /// One line's JSON into the message. (`&str`, not bytes: every JSON
    /// the app reads then goes through one `serde_json` reader type, so its
    /// parser is compiled once.)
    fn parse(line: &str) -> Result<Self, serde_json::Error>;
    fn control(&self) -> Control;
}

/// The keys that tell a stream line's kind, read before the line is parsed
/// as data.
///
/// The `shared` enums are `#[serde(untagged)]`; deserialising them directly
/// buffers every line into serde's generic `Content` and retries variant by
/// variant, code that costs tens of KB of wasm. Probing these keys first
/// (everything else is skipped unparsed) and then parsing the data variant
/// directly yields the same enum values, in the same order of precedence as
/// the untagged variants: heartbeat, status, error, data.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Probe {
    heartbeat: Option<u64>,
    timestamp: Option<String>,
    stream_status: Option<String>,
    error: Option<String>,
    message: Option<String>,
    symbol: Option<String>,
}

/// A line's kind, with the payload of the non-data kinds.
enum Kind {
    Heartbeat(Heartbeat),
    Status(StreamStatus),
    Error(StreamError),
    Data,
}

fn probe(line: &str) -> Result<Kind, serde_json::Error> {
    let p: Probe = serde_json::from_str(line)?;
    Ok(if let Some(heartbeat) = p.heartbeat {
        Kind::Heartbeat(Heartbeat {
            heartbeat,
            timestamp: p.timestamp,
        })
    } else if let Some(stream_status) = p.stream_status {
        Kind::Status(StreamStatus { stream_status })
    } else if let Some(error) = p.error {
        Kind::Error(StreamError {
            error,
            message: p.message,
            symbol: p.symbol,
        })
    } else {
        Kind::Data
    })
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
    fn parse(line: &str) -> Result<Self, serde_json::Error> {
        Ok(match probe(line)? {
            Kind::Heartbeat(h) => Self::Heartbeat(h),
            Kind::Status(s) => Self::Status(s),
            Kind::Error(e) => Self::Error(e),
            Kind::Data => Self::Quote(Box::new(serde_json::from_str(line)?)),
        })
    }

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
    fn parse(line: &str) -> Result<Self, serde_json::Error> {
        Ok(match probe(line)? {
            Kind::Heartbeat(h) => Self::Heartbeat(h),
            Kind::Status(s) => Self::Status(s),
            Kind::Error(e) => Self::Error(e),
            Kind::Data => Self::Spread(Box::new(serde_json::from_str(line)?)),
        })
    }

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

/// Parses one line, delivers it if it is data; `None` for a bad line.
type OnLine = Box<dyn FnMut(&[u8]) -> Option<Control>>;
type OnState = Box<dyn FnMut(StreamState)>;

/// The typed half: parse a line as `M`, hand data and symbol errors to
/// `on_message`, tell the runner what the line meant.
fn typed_lines<M: StreamMessage>(mut on_message: impl FnMut(M) + 'static) -> OnLine {
    Box::new(move |line| match std::str::from_utf8(line).map(M::parse) {
        Ok(Ok(message)) => {
            let control = message.control();
            if matches!(control, Control::Data | Control::SymbolError) {
                on_message(message);
            }
            Some(control)
        }
        Ok(Err(e)) => {
            leptos::logging::warn!("stream: skipped a line: {e}");
            None
        }
        Err(_) => {
            leptos::logging::warn!("stream: skipped a line that is not UTF-8");
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
    let mut failures: u32 = 0;
    on_state(StreamState::Connecting);
    loop {
        if shared.stopped.get() {
            return;
        }
        let Ok(controller) = AbortController::new() else {
            return;
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
                    let ended = read_body(&reader, &controller, &shared, &mut |line: &[u8]| {
                        let control = on_line(line);
                        if !live && control.is_some() {
                            live = true;
                            on_state(StreamState::Live);
                        }
                        control
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

/// How one connection ended.
enum Ended {
    /// Body closed, read failed, or idle: reconnect.
    Lost(String),
    /// A `GoAway`-like line: reconnect.
    ServerAsked(String),
    /// `stop()` was called.
    Stopped,
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

/// Reads `reader` until the body ends, handing each line to `on_line`;
/// see [`Ended`].
async fn read_body(
    reader: &ReadableStreamDefaultReader,
    controller: &AbortController,
    shared: &Shared,
    on_line: &mut dyn FnMut(&[u8]) -> Option<Control>,
) -> Ended {
    let mut lines = LineSplitter::default();
    // Set by a `GoAway`-like line; the lines after it are not delivered.
    let asked: RefCell<Option<String>> = RefCell::new(None);
    let mut take = |line: Result<&[u8], LineError>| {
        if asked.borrow().is_some() {
            return;
        }
        match line {
            Ok(line) => {
                if let Some(Control::Reconnect(why)) = on_line(line) {
                    *asked.borrow_mut() = Some(why);
                }
            }
            Err(e) => leptos::logging::warn!("stream: skipped a line: {e:?}"),
        }
    };
    let ended = loop {
        let read = read_chunk(reader, IDLE_TIMEOUT_MS).await;
        if shared.stopped.get() {
            return Ended::Stopped;
        }
        match read {
            Read::Chunk(chunk) => lines.push(&chunk, &mut take),
            Read::Done => {
                lines.finish(&mut take);
                break Ended::Lost("the stream ended".to_owned());
            }
            Read::Idle => {
                controller.abort();
                break Ended::Lost("no data for a while".to_owned());
            }
            Read::Failed => break Ended::Lost("the connection broke".to_owned()),
        }
        if asked.borrow().is_some() {
            controller.abort();
            break Ended::Lost(String::new());
        }
    };
    ignore_rejection(&reader.cancel());
    match asked.into_inner() {
        Some(why) => Ended::ServerAsked(why),
        None => ended,
    }
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
/// what it delivered and why it ended. For tests, which build a
/// `ReadableStream` by hand.
pub async fn read_lines<M: StreamMessage>(
    reader: &ReadableStreamDefaultReader,
) -> (Vec<M>, String) {
    let controller = AbortController::new().expect("AbortController");
    let shared = Shared::default();
    let got = Rc::new(RefCell::new(Vec::new()));
    let sink = got.clone();
    let mut on_line = typed_lines(move |m: M| sink.borrow_mut().push(m));
    let ended = read_body(reader, &controller, &shared, &mut *on_line).await;
    let why = match ended {
        Ended::Lost(why) => format!("lost: {why}"),
        Ended::ServerAsked(why) => format!("server: {why}"),
        Ended::Stopped => "stopped".to_owned(),
    };
    drop(on_line);
    let got = Rc::try_unwrap(got)
        .map(RefCell::into_inner)
        .unwrap_or_default();
    (got, why)
}
