//! Lines to TradeStation messages: data, heartbeat, status or stream error,
//! and what each one means to the connection ([`Control`]).
//!
//! A line is one of the `shared::ts::stream` enums
//! ([`QuoteStreamMessage`], [`OptionChainStreamMessage`]). Besides data, it
//! may be a heartbeat, a `StreamStatus` (`EndSnapshot`, `GoAway`) or an
//! `{"Error","Message"}` stream error. The meaning of those values comes
//! from [`shared::stream_kind`]: `GoAway`, `DualLogon` and the other
//! request-wide errors end the connection whichever symbol they name, any
//! other error is about one symbol, and a `GoAway` status ends it too.
//!
//! Pure: [`JsonLines`] parses a whole body chunk by chunk for tests and
//! tools, [`deliver`] is the per-line step the connection loop runs.

use std::marker::PhantomData;

use serde::Deserialize;
use shared::stream_kind::{StreamErrorKind, StreamStatusKind};
use shared::ts::stream::{
    Heartbeat, OptionChainStreamMessage, QuoteStreamMessage, StreamError, StreamStatus,
};

use super::lines::{DEFAULT_MAX_LINE, LineError, LineSplitter};

/// What a stream line means to the connection, apart from its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Data for the view.
    Data,
    /// Liveness only.
    Heartbeat,
    /// `{"StreamStatus":"EndSnapshot"}` and other harmless statuses.
    Status,
    /// The server wants this request ended (`GoAway`, `DualLogon`, a
    /// stream-wide error): reconnect after a pause. Holds the reason shown.
    Reconnect(String),
    /// An error about one symbol (`FAILED, INVALID SYMBOL`): data for the
    /// view, the stream goes on.
    SymbolError,
}

impl Control {
    /// True for the lines the view gets: data and symbol errors.
    pub fn is_for_view(&self) -> bool {
        matches!(self, Self::Data | Self::SymbolError)
    }
}

/// A typed stream line the connection can classify.
pub trait StreamMessage: Sized + 'static {
    /// One line's JSON into the message. (`&str`, not bytes: every JSON
    /// the app reads then goes through one `serde_json` reader type, so its
    /// parser is compiled once.)
    fn parse(line: &str) -> Result<Self, serde_json::Error>;
    fn control(&self) -> Control;
}

/// Parses one line as `M`, hands data and symbol errors to `on_message`,
/// and says what the line meant. A line that is not a message is an error;
/// the caller skips it and the stream goes on.
pub fn deliver<M: StreamMessage>(
    line: Result<&[u8], LineError>,
    on_message: &mut impl FnMut(M),
) -> Result<Control, LineError> {
    let message = parse_line::<M>(line)?;
    let control = message.control();
    if control.is_for_view() {
        on_message(message);
    }
    Ok(control)
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

/// A request-wide error ends the stream even when it names a symbol; any
/// other error about a symbol is that symbol's problem.
fn stream_error_control(error: &StreamError) -> Control {
    let kind = StreamErrorKind::from(error.error.as_str());
    if error.symbol.is_some() && !kind.ends_stream() {
        Control::SymbolError
    } else {
        let why = error.message.clone().unwrap_or_else(|| error.error.clone());
        Control::Reconnect(why)
    }
}

fn status_control(status: &StreamStatus) -> Control {
    if StreamStatusKind::from(status.stream_status.as_str()).ends_stream() {
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
            Self::Status(s) => status_control(s),
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
            Self::Status(s) => status_control(s),
            Self::Error(e) => stream_error_control(e),
            Self::Spread(_) => Control::Data,
        }
    }
}
