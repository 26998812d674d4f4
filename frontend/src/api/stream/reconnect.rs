//! The life of a stream across connections: when one has gone live, when
//! it must end, how long to wait before the next, and when to give up.
//!
//! Pure state machines, driven by the browser loop in `reader`:
//! - [`Connection`] is one response body: it splits and classifies its
//!   lines, notices the first one (the stream is [`StreamState::Live`]),
//!   and ends the connection when a line asks for it (`GoAway`,
//!   `DualLogon`); nothing after that line is delivered.
//! - [`Reconnect`] counts failures across connections and answers each end
//!   with a [`Next`]: stop for good on `not_authenticated` /
//!   `session_expired` (nothing a retry can fix), wait out a `429`'s
//!   `Retry-After`, or back off 1, 2, 4 … [`MAX_BACKOFF_SECS`] seconds. A
//!   connection that delivered anything resets the count.
//!
//! The idle rule lives here as a number ([`IDLE_TIMEOUT_MS`]); racing a
//! read against the timer is the browser loop's job.

use std::fmt;

use super::lines::{LineError, LineSplitter};
use super::message::Control;
use crate::api::ApiError;

/// Without a single byte for this long, a stream counts as dead. TradeStation
/// sends a heartbeat after 5 s of silence, so this is four missed ones.
pub const IDLE_TIMEOUT_MS: u32 = 20_000;

/// Longest pause between reconnect attempts.
pub const MAX_BACKOFF_SECS: u32 = 30;

/// Seconds before reconnect attempt `attempt` (1-based): 1, 2, 4, … capped
/// at [`MAX_BACKOFF_SECS`].
pub fn backoff_secs(attempt: u32) -> u32 {
    let exp = attempt.saturating_sub(1).min(16);
    (1u32 << exp).min(MAX_BACKOFF_SECS)
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
        reason: Lost,
    },
    /// `429`: the next attempt starts in `in_secs`.
    RateLimited { in_secs: u32 },
    /// Given up: the person has to act (sign in again).
    Stopped(ApiError),
}

/// Why a connection ended, or never got a body. `Display` is the phrase
/// the stream badge shows in parentheses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// An error answer, or no answer, instead of a stream.
    Refused(ApiError),
    /// A 2xx answer without a body.
    NoBody,
    /// The body closed.
    Ended,
    /// Reading the body failed.
    Broke,
    /// No byte for [`IDLE_TIMEOUT_MS`].
    Idle,
    /// A line asked for the request to end; its reason.
    ServerAsked(String),
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(error) => error.fmt(f),
            Self::NoBody => f.write_str("the stream had no body"),
            Self::Ended => f.write_str("the stream ended"),
            Self::Broke => f.write_str("the connection broke"),
            Self::Idle => f.write_str("no data for a while"),
            Self::ServerAsked(why) => f.write_str(why),
        }
    }
}

/// Hands one line (or why it is unreadable) to the typed half, which
/// parses and delivers it; `None` when the line was skipped.
pub type OnLine<'a> = dyn FnMut(Result<&[u8], LineError>) -> Option<Control> + 'a;

/// One connection's body, chunk by chunk.
#[derive(Debug, Default)]
pub struct Connection {
    lines: LineSplitter,
    /// A line was read and understood on this connection.
    live: bool,
    /// Set by a `GoAway`-like line; the lines after it are not delivered.
    asked: Option<String>,
}

impl Connection {
    /// True once a line was read and understood on this connection.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Takes one chunk and hands its lines to `on_line` until one asks to
    /// end the request. Returns why the connection must end, if it must.
    pub fn push(&mut self, chunk: &[u8], on_line: &mut OnLine<'_>) -> Option<Lost> {
        let (live, asked) = (&mut self.live, &mut self.asked);
        self.lines
            .push(chunk, &mut |line| take(live, asked, line, on_line));
        self.asked.clone().map(Lost::ServerAsked)
    }

    /// The body closed: a last line without `\n` still counts. Returns why
    /// the connection ended.
    pub fn finish(&mut self, on_line: &mut OnLine<'_>) -> Lost {
        let (live, asked) = (&mut self.live, &mut self.asked);
        self.lines
            .finish(&mut |line| take(live, asked, line, on_line));
        self.asked.clone().map_or(Lost::Ended, Lost::ServerAsked)
    }
}

fn take(
    live: &mut bool,
    asked: &mut Option<String>,
    line: Result<&[u8], LineError>,
    on_line: &mut OnLine<'_>,
) {
    if asked.is_some() {
        return;
    }
    let control = on_line(line);
    if control.is_some() {
        *live = true;
    }
    if let Some(Control::Reconnect(why)) = control {
        *asked = Some(why);
    }
}

/// What the stream does after a connection ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Give up and show [`StreamState::Stopped`].
    Stop(ApiError),
    /// Count down, then connect again.
    Wait(Pause),
}

/// A wait before the next connection, and what the view shows meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    secs: u32,
    reason: Option<(u32, Lost)>,
}

impl Pause {
    /// Whole seconds to wait; at least one, so a reconnect never spins.
    pub fn secs(&self) -> u32 {
        self.secs.max(1)
    }

    /// What the view shows with `left` seconds to go.
    pub fn state(&self, left: u32) -> StreamState {
        match &self.reason {
            None => StreamState::RateLimited { in_secs: left },
            Some((attempt, reason)) => StreamState::Reconnecting {
                attempt: *attempt,
                in_secs: left,
                reason: reason.clone(),
            },
        }
    }

    /// The states to show, one a second: `secs`, `secs - 1`, … `1`.
    pub fn countdown(&self) -> impl Iterator<Item = StreamState> + '_ {
        (1..=self.secs()).rev().map(|left| self.state(left))
    }
}

/// Failures across connections, and the rules for what follows each.
#[derive(Debug, Default)]
pub struct Reconnect {
    /// Connections in a row that ended without delivering a line.
    failures: u32,
}

impl Reconnect {
    /// The request got an error answer (or none) instead of a stream.
    pub fn refused(&mut self, error: ApiError) -> Next {
        match error {
            e if e.needs_sign_in() => Next::Stop(e),
            // TradeStation said when; that wait is not a failure of ours.
            ApiError::RateLimited { retry_after_secs } => Next::Wait(Pause {
                secs: retry_after_secs,
                reason: None,
            }),
            e => self.lost(Lost::Refused(e), false),
        }
    }

    /// A connection ended; `was_live` when it delivered a line, which
    /// resets the backoff.
    pub fn lost(&mut self, why: Lost, was_live: bool) -> Next {
        if was_live {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        Next::Wait(Pause {
            secs: backoff_secs(self.failures),
            reason: Some((self.failures, why)),
        })
    }
}

#[cfg(test)]
mod tests {
    use shared::ts::stream::QuoteStreamMessage;

    use super::*;
    use crate::api::stream::deliver;

    const QUOTE: &str = r#"{"Symbol":"MSFT","Last":"212.85"}"#;
    const HEARTBEAT: &str = r#"{"Heartbeat":1,"Timestamp":"2021-03-02T18:01:23Z"}"#;

    /// Reads `chunks` as one body; returns the delivered messages, the
    /// lines skipped, whether it went live, and why it ended.
    fn read(chunks: &[&str]) -> (Vec<QuoteStreamMessage>, usize, bool, Lost) {
        let mut got = Vec::new();
        let mut skipped = 0;
        let mut on_line = |line: Result<&[u8], LineError>| match deliver(line, &mut |m| got.push(m))
        {
            Ok(control) => Some(control),
            Err(_) => {
                skipped += 1;
                None
            }
        };
        let mut connection = Connection::default();
        let mut ended = None;
        for chunk in chunks {
            if let Some(why) = connection.push(chunk.as_bytes(), &mut on_line) {
                ended = Some(why);
                break;
            }
        }
        let ended = ended.unwrap_or_else(|| connection.finish(&mut on_line));
        let live = connection.is_live();
        let _ = on_line;
        (got, skipped, live, ended)
    }

    fn waits(next: Next) -> Pause {
        match next {
            Next::Wait(pause) => pause,
            Next::Stop(e) => panic!("stopped: {e:?}"),
        }
    }

    #[test]
    fn objects_split_across_chunks_are_delivered_whole_and_heartbeats_are_not() {
        let body = format!("{QUOTE}\n{HEARTBEAT}\n{{\"Symbol\":\"MSFT\",\"Last\":\"212.90\"}}\n");
        let (a, rest) = body.split_at(17);
        let (b, c) = rest.split_at(30);
        let (got, skipped, live, ended) = read(&[a, b, c]);
        assert_eq!(got.len(), 2, "heartbeats are not delivered");
        assert!(
            matches!(&got[1], QuoteStreamMessage::Quote(q) if q.last.as_deref() == Some("212.90"))
        );
        assert_eq!((skipped, live, ended), (0, true, Lost::Ended));
    }

    #[test]
    fn a_go_away_line_ends_the_connection_and_nothing_after_it_is_delivered() {
        let body = format!("{QUOTE}\n{{\"Error\":\"GoAway\",\"Message\":\"bye\"}}\n{QUOTE}\n");
        let (got, _, live, ended) = read(&[&body, &format!("{QUOTE}\n")]);
        assert_eq!(got.len(), 1);
        assert!(live);
        assert_eq!(ended, Lost::ServerAsked("bye".into()));
        assert_eq!(ended.to_string(), "bye");
    }

    #[test]
    fn a_go_away_status_in_the_last_unterminated_line_still_ends_as_asked() {
        let (got, _, _, ended) = read(&[&format!("{QUOTE}\n"), r#"{"StreamStatus":"GoAway"}"#]);
        assert_eq!(got.len(), 1);
        assert_eq!(
            ended,
            Lost::ServerAsked("the server is closing the stream".into())
        );
    }

    #[test]
    fn a_body_of_unreadable_lines_never_goes_live() {
        let (got, skipped, live, ended) = read(&["not json\n", "[1,2]\n"]);
        assert!(got.is_empty());
        assert_eq!((skipped, live, ended), (2, false, Lost::Ended));
    }

    #[test]
    fn a_symbol_error_is_delivered_and_the_stream_goes_on() {
        let body =
            format!("{{\"Symbol\":\"BAD\",\"Error\":\"FAILED, INVALID SYMBOL\"}}\n{QUOTE}\n");
        let (got, _, _, ended) = read(&[&body]);
        assert_eq!(got.len(), 2);
        assert!(matches!(got[0], QuoteStreamMessage::Error(_)));
        assert_eq!(ended, Lost::Ended);
    }

    #[test]
    fn a_refused_session_stops_the_stream_for_good() {
        let mut r = Reconnect::default();
        assert_eq!(
            r.refused(ApiError::SessionExpired),
            Next::Stop(ApiError::SessionExpired)
        );
        assert_eq!(
            r.refused(ApiError::NotAuthenticated),
            Next::Stop(ApiError::NotAuthenticated)
        );
    }

    #[test]
    fn rate_limits_wait_out_retry_after_without_counting_a_failure() {
        let mut r = Reconnect::default();
        let pause = waits(r.refused(ApiError::RateLimited {
            retry_after_secs: 3,
        }));
        let states: Vec<StreamState> = pause.countdown().collect();
        assert_eq!(
            states,
            vec![
                StreamState::RateLimited { in_secs: 3 },
                StreamState::RateLimited { in_secs: 2 },
                StreamState::RateLimited { in_secs: 1 },
            ]
        );
        let next = waits(r.lost(Lost::Ended, false));
        assert_eq!(next.secs(), 1, "the 429 was not the first failure");
    }

    #[test]
    fn failures_back_off_and_a_connection_that_delivered_resets_them() {
        let mut r = Reconnect::default();
        let upstream = ApiError::Upstream { timeout: false };
        let first = waits(r.refused(upstream.clone()));
        assert_eq!(
            first.state(1),
            StreamState::Reconnecting {
                attempt: 1,
                in_secs: 1,
                reason: Lost::Refused(upstream.clone())
            }
        );
        let secs: Vec<u32> = (0..7)
            .map(|_| waits(r.lost(Lost::Broke, false)).secs())
            .collect();
        assert_eq!(secs, vec![2, 4, 8, 16, 30, 30, 30]);
        let after_live = waits(r.lost(Lost::Idle, true));
        assert_eq!(after_live.secs(), 1);
        assert!(matches!(
            after_live.state(1),
            StreamState::Reconnecting {
                attempt: 1,
                reason: Lost::Idle,
                ..
            }
        ));
    }

    #[test]
    fn a_countdown_always_shows_at_least_one_second() {
        let pause = waits(Reconnect::default().refused(ApiError::RateLimited {
            retry_after_secs: 0,
        }));
        assert_eq!(pause.countdown().count(), 1);
    }

    #[test]
    fn reasons_read_as_the_badge_says_them() {
        assert_eq!(Lost::Ended.to_string(), "the stream ended");
        assert_eq!(Lost::Idle.to_string(), "no data for a while");
        assert_eq!(Lost::Broke.to_string(), "the connection broke");
        assert_eq!(Lost::NoBody.to_string(), "the stream had no body");
        assert_eq!(
            Lost::Refused(ApiError::Network).to_string(),
            ApiError::Network.to_string()
        );
    }
}
