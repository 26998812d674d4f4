//! Bytes to lines: the newline framing of a stream body.
//!
//! Chunk boundaries mean nothing: one chunk may hold several objects, half
//! an object, or half of a multi-byte UTF-8 character. So [`LineSplitter`]
//! buffers **bytes** and cuts only at `\n`. Scanning resumes where the
//! previous chunk stopped, so a long line split into many chunks costs
//! linear time, and an over-long line is dropped rather than buffered
//! without bound.
//!
//! What a line means is [`super::message`]'s business.

use std::fmt;

/// A line longer than this (no `\n` in sight) is dropped with an error
/// instead of growing the buffer without bound. TradeStation's largest
/// objects (option spreads with Greeks) are about 1 KB.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// Why one line could not become a message. The stream goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// The line outgrew the buffer limit; it is skipped up to its `\n`.
    TooLong { limit: usize },
    /// The line is not the JSON we expect.
    Json { message: String },
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { limit } => write!(f, "a line grew past {limit} bytes"),
            Self::Json { message } => f.write_str(message),
        }
    }
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
