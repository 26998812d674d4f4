//! TradeStation's HTTP streams: newline-delimited JSON over a chunked body,
//! read in layers, each its own module:
//!
//! 1. [`lines`]: bytes to lines, cut only at `\n`, whatever the chunks.
//! 2. [`message`]: lines to typed messages, and what each means to the
//!    connection ([`Control`]): data, heartbeat, a status such as
//!    `EndSnapshot`, or a stream error such as `GoAway` or `DualLogon`.
//! 3. [`reconnect`]: one connection's body ([`Connection`]) and the rules
//!    across connections ([`Reconnect`]): backoff, rate limits, giving up,
//!    the idle timeout.
//! 4. `reader` (browser only): `fetch`, the body's `ReadableStream`, the
//!    `AbortController`, timers; [`spawn_stream`] runs one stream for a
//!    view, and the view stops it from `on_cleanup`, which aborts the fetch
//!    so the backend can cancel the upstream stream.
//!
//! The first three are pure and build for the host, so their tests run
//! natively; only the fourth needs a browser.

pub mod lines;
pub mod message;
#[cfg(target_arch = "wasm32")]
mod reader;
pub mod reconnect;

pub use lines::{DEFAULT_MAX_LINE, LineError, LineSplitter};
pub use message::{Control, JsonLines, StreamMessage, deliver};
#[cfg(target_arch = "wasm32")]
pub use reader::{StreamHandle, read_lines, spawn_stream};
pub use reconnect::{
    Connection, IDLE_TIMEOUT_MS, Lost, MAX_BACKOFF_SECS, Next, Pause, Reconnect, StreamState,
    backoff_secs,
};
