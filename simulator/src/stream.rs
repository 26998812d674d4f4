//! The streaming endpoints: `/v3/marketdata/stream/quotes/{symbols}` and
//! `/v3/marketdata/stream/options/chains/{underlying}`.
//!
//! A stream is a chunked 200 body of newline-terminated JSON objects
//! (`application/vnd.tradestation.streams.v2+json`): first a full snapshot
//! per symbol or spread, then changes each tick, and a `Heartbeat` line after
//! [`SimConfig::heartbeat_interval`](super::SimConfig) without data. Every
//! third batch of lines is deliberately cut in two chunks in the middle of an
//! object, with a short pause between, because clients must parse by
//! newline, never by chunk.
//!
//! The body is a plain `futures` stream driven by whoever polls it: no task
//! is spawned, so a client that hangs up drops the stream and everything it
//! holds. Time is read from tokio's clock (offset to the wall clock at the
//! start), so tests can run streams under `tokio::time::pause`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value};
use shared::ts::quotes::Quote;
use shared::ts::stream::{Heartbeat, OptionChainStreamMessage, QuoteStreamMessage, StreamError};
use tokio::time::Instant;

use super::calendar::{self, DAY_MS};
use super::data::{TsPath, no_options, optionable, split_symbols};
use super::market::{DayStats, Instrument, Market};
use super::options::{self, ChainRequest, OptionContract, StrikeRange};
use super::{Params, Simulator, bad_request};

/// TradeStation's media type for market-data streams.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.tradestation.streams.v2+json";
/// Pause between the two halves of a split object.
const SPLIT_PAUSE: Duration = Duration::from_millis(20);
/// Floor for the configured intervals: a zero would spin.
const MIN_INTERVAL: Duration = Duration::from_millis(5);

/// What a stream says: a snapshot, then changes.
pub(crate) trait Source: Send + 'static {
    fn snapshot(&mut self, t_ms: i64) -> Vec<String>;
    fn update(&mut self, t_ms: i64) -> Vec<String>;
}

/// Quotes of a symbol list: full quotes first, then changed fields only.
struct QuoteSource {
    market: Market,
    symbols: Vec<String>,
    tracked: Vec<Tracked>,
}

struct Tracked {
    instrument: Instrument,
    day: Option<DayStats>,
    sent: Map<String, Value>,
}

impl QuoteSource {
    fn quote_map(market: &Market, tracked: &mut Tracked, t_ms: i64) -> Map<String, Value> {
        let day = t_ms.div_euclid(DAY_MS);
        let stats = match &tracked.day {
            Some(stats) if stats.day == day => stats.clone(),
            _ => {
                let stats = market.day_stats(&tracked.instrument, day);
                tracked.day = Some(stats.clone());
                stats
            }
        };
        let quote = market.quote(&tracked.instrument, t_ms, &stats);
        match serde_json::to_value(quote) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }
}

impl Source for QuoteSource {
    fn snapshot(&mut self, t_ms: i64) -> Vec<String> {
        let mut lines = Vec::new();
        for symbol in &self.symbols {
            match self.market.instrument(symbol) {
                Some(instrument) => {
                    let mut tracked = Tracked {
                        instrument,
                        day: None,
                        sent: Map::new(),
                    };
                    let map = Self::quote_map(&self.market, &mut tracked, t_ms);
                    lines.extend(quote_line(map.clone()));
                    tracked.sent = map;
                    self.tracked.push(tracked);
                }
                None => lines.extend(line(&QuoteStreamMessage::Error(StreamError {
                    error: "FAILED, INVALID SYMBOL".into(),
                    message: None,
                    symbol: Some(symbol.clone()),
                }))),
            }
        }
        lines
    }

    fn update(&mut self, t_ms: i64) -> Vec<String> {
        let mut lines = Vec::new();
        for tracked in &mut self.tracked {
            let map = Self::quote_map(&self.market, tracked, t_ms);
            let mut changes: Map<String, Value> = map
                .iter()
                .filter(|(k, v)| tracked.sent.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if changes.is_empty() {
                continue;
            }
            if let Some(symbol) = map.get("Symbol") {
                changes.insert("Symbol".into(), symbol.clone());
            }
            lines.extend(quote_line(changes));
            tracked.sent = map;
        }
        lines
    }
}

/// A (partial) quote object as a typed stream line.
fn quote_line(map: Map<String, Value>) -> Option<String> {
    let quote: Quote = serde_json::from_value(Value::Object(map)).ok()?;
    line(&QuoteStreamMessage::Quote(Box::new(quote)))
}

pub(crate) fn line<T: serde::Serialize>(message: &T) -> Option<String> {
    serde_json::to_string(message).ok()
}

/// An option chain: every spread once, then each spread again when it changes.
struct ChainSource {
    market: Market,
    contracts: Vec<OptionContract>,
    risk_free: f64,
    greeks: bool,
    sent: Vec<Option<String>>,
}

impl ChainSource {
    fn lines(&mut self, t_ms: i64, only_changes: bool) -> Vec<String> {
        let mut lines = Vec::new();
        for (contract, sent) in self.contracts.iter().zip(self.sent.iter_mut()) {
            let spread = options::spread(&self.market, contract, t_ms, self.risk_free, self.greeks);
            let Some(text) = line(&OptionChainStreamMessage::Spread(Box::new(spread))) else {
                continue;
            };
            if !only_changes || sent.as_deref() != Some(text.as_str()) {
                lines.push(text.clone());
                *sent = Some(text);
            }
        }
        lines
    }
}

impl Source for ChainSource {
    fn snapshot(&mut self, t_ms: i64) -> Vec<String> {
        self.lines(t_ms, false)
    }

    fn update(&mut self, t_ms: i64) -> Vec<String> {
        self.lines(t_ms, true)
    }
}

/// Counts an open stream for [`super::SimStats::open_streams`] until dropped.
struct OpenStream(Simulator);

impl OpenStream {
    fn new(sim: &Simulator) -> Self {
        sim.counters().open_streams.fetch_add(1, Ordering::SeqCst);
        Self(sim.clone())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0
            .counters()
            .open_streams
            .fetch_sub(1, Ordering::SeqCst);
    }
}

/// Turns a [`Source`] into timed, chunked bytes.
struct Pump<S> {
    source: S,
    _open: OpenStream,
    started: bool,
    /// Wall-clock milliseconds at `origin`.
    wall_origin_ms: i64,
    origin: Instant,
    tick: Duration,
    heartbeat: Duration,
    next_tick: Instant,
    last_line: Instant,
    heartbeats: u64,
    batches: u64,
    queue: VecDeque<(Bytes, Duration)>,
}

impl<S: Source> Pump<S> {
    fn new(sim: &Simulator, source: S) -> Self {
        let now = Instant::now();
        Self {
            source,
            _open: OpenStream::new(sim),
            started: false,
            wall_origin_ms: calendar::now_ms(),
            origin: now,
            tick: sim.config().tick_interval.max(MIN_INTERVAL),
            heartbeat: sim.config().heartbeat_interval.max(MIN_INTERVAL),
            next_tick: now,
            last_line: now,
            heartbeats: 0,
            batches: 0,
            queue: VecDeque::new(),
        }
    }

    fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.origin.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.wall_origin_ms.saturating_add(elapsed)
    }

    /// The next chunk; waits as long as the stream has nothing to say.
    async fn next_chunk(&mut self) -> Bytes {
        loop {
            if let Some((bytes, pause)) = self.queue.pop_front() {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                return bytes;
            }
            if !self.started {
                self.started = true;
                let lines = self.source.snapshot(self.now_ms());
                self.push_lines(lines);
                self.next_tick = Instant::now() + self.tick;
                self.last_line = Instant::now();
                continue;
            }
            let heartbeat_at = self.last_line + self.heartbeat;
            if self.next_tick <= heartbeat_at {
                tokio::time::sleep_until(self.next_tick).await;
                self.next_tick = (self.next_tick + self.tick).max(Instant::now());
                let lines = self.source.update(self.now_ms());
                if !lines.is_empty() {
                    self.push_lines(lines);
                    self.last_line = Instant::now();
                }
            } else {
                tokio::time::sleep_until(heartbeat_at).await;
                self.heartbeats += 1;
                let heartbeat = QuoteStreamMessage::Heartbeat(Heartbeat {
                    heartbeat: self.heartbeats,
                    timestamp: Some(calendar::rfc3339(self.now_ms())),
                });
                if let Some(text) = line(&heartbeat) {
                    self.queue
                        .push_back((Bytes::from(text + "\n"), Duration::ZERO));
                }
                self.last_line = Instant::now();
            }
        }
    }

    /// Queues a batch of lines: one chunk, or every third batch two chunks
    /// cut in the middle of its first object.
    fn push_lines(&mut self, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        let mut text = String::new();
        for l in &lines {
            text.push_str(l);
            text.push('\n');
        }
        let batch = self.batches;
        self.batches += 1;
        let first_len = lines[0].len();
        let mut cut = first_len / 2;
        while cut > 0 && !text.is_char_boundary(cut) {
            cut -= 1;
        }
        if batch.is_multiple_of(3) && cut > 0 {
            let rest = text.split_off(cut);
            self.queue.push_back((Bytes::from(text), Duration::ZERO));
            self.queue.push_back((Bytes::from(rest), SPLIT_PAUSE));
        } else {
            self.queue.push_back((Bytes::from(text), Duration::ZERO));
        }
    }
}

fn stream_response<S: Source>(sim: &Simulator, source: S) -> Response {
    stream_response_as(sim, source, CONTENT_TYPE)
}

/// A streaming response of `source` with the given media type.
pub(crate) fn stream_response_as<S: Source>(
    sim: &Simulator,
    source: S,
    content_type: &'static str,
) -> Response {
    let pump = Pump::new(sim, source);
    let chunks = futures_util::stream::unfold(pump, |mut pump| async move {
        let chunk = pump.next_chunk().await;
        Some((Ok::<Bytes, Infallible>(chunk), pump))
    });
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// `GET /v3/marketdata/stream/quotes/{symbols}` (≤100 symbols).
pub(super) async fn quotes(State(sim): State<Simulator>, TsPath(symbols): TsPath) -> Response {
    let symbols = split_symbols(&symbols);
    if symbols.is_empty() || symbols.len() > 100 {
        return bad_request("Between 1 and 100 symbols may be streamed.");
    }
    let source = QuoteSource {
        market: sim.market().clone(),
        symbols,
        tracked: Vec::new(),
    };
    stream_response(&sim, source)
}

/// `GET /v3/marketdata/stream/options/chains/{underlying}`: `expiration`
/// (default the next listed), `strikeProximity` (default 5), `priceCenter`
/// (default the last price), `strikeInterval`, `riskFreeRate`,
/// `enableGreeks`, `strikeRange` (`All|ITM|OTM`), `optionType`
/// (`All|Call|Put`), `spreadType` (only `Single` here).
pub(super) async fn option_chain(
    State(sim): State<Simulator>,
    TsPath(underlying): TsPath,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""));
    let Some(instrument) = optionable(&sim, &underlying) else {
        return no_options(&underlying);
    };
    let now = calendar::now_ms();
    let request = match chain_request(&params, now) {
        Ok(request) => request,
        Err(message) => return bad_request(&message),
    };
    let center = request
        .price_center
        .unwrap_or_else(|| sim.market().price(&instrument, now));
    let contracts = options::chain_contracts(&instrument, &request, center);
    let source = ChainSource {
        market: sim.market().clone(),
        sent: vec![None; contracts.len()],
        contracts,
        risk_free: request.risk_free,
        greeks: request.greeks,
    };
    stream_response(&sim, source)
}

fn chain_request(params: &Params, now_ms: i64) -> Result<ChainRequest, String> {
    let today = now_ms.div_euclid(DAY_MS);
    let listed = options::expirations(today);
    let expiry_day = match params.get_ci("expiration") {
        None => listed
            .first()
            .map(|(day, _)| *day)
            .ok_or("No expirations are listed.")?,
        Some(text) => {
            let day = calendar::parse_date(text)
                .ok_or("expiration must be a date such as 12-17-2021.")?;
            if !listed.iter().any(|(d, _)| *d == day) {
                return Err("expiration is not a listed expiration.".into());
            }
            day
        }
    };
    if params
        .get_ci("spreadType")
        .is_some_and(|t| !t.eq_ignore_ascii_case("Single"))
    {
        return Err("The simulator streams spreadType Single only.".into());
    }
    let number = |name: &str, default: usize, max: usize| -> Result<usize, String> {
        match params.get_ci(name).map(str::parse::<usize>) {
            None => Ok(default),
            Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
            Some(_) => Err(format!("{name} must be a number from 1 to {max}.")),
        }
    };
    let proximity = number("strikeProximity", 5, 100)?;
    let strike_interval = number("strikeInterval", 1, 100)?;
    let decimal =
        |name: &str, range: std::ops::RangeInclusive<f64>| -> Result<Option<f64>, String> {
            match params.get_ci(name).map(str::parse::<f64>) {
                None => Ok(None),
                Some(Ok(x)) if range.contains(&x) => Ok(Some(x)),
                Some(_) => Err(format!("{name} is out of range.")),
            }
        };
    let price_center = decimal("priceCenter", 0.0001..=10_000_000.0)?;
    let risk_free = decimal("riskFreeRate", -0.1..=1.0)?.unwrap_or(options::DEFAULT_RISK_FREE);
    let greeks = match params
        .get_ci("enableGreeks")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => return Err("enableGreeks must be true or false.".into()),
    };
    let range = match params
        .get_ci("strikeRange")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("all") => StrikeRange::All,
        Some("itm") => StrikeRange::Itm,
        Some("otm") => StrikeRange::Otm,
        Some(_) => return Err("strikeRange must be All, ITM or OTM.".into()),
    };
    let (calls, puts) = match params
        .get_ci("optionType")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("all") => (true, true),
        Some("call") => (true, false),
        Some("put") => (false, true),
        Some(_) => return Err("optionType must be All, Call or Put.".into()),
    };
    Ok(ChainRequest {
        expiry_day,
        proximity,
        strike_interval,
        price_center,
        risk_free,
        greeks,
        range,
        calls,
        puts,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use axum::http::{Request, StatusCode};
    use futures_util::StreamExt;
    use tower::ServiceExt;

    async fn open(sim: &Simulator, uri: &str, token: &str) -> Response {
        let request = Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        sim.router().oneshot(request).await.unwrap()
    }

    /// Reads `n` chunks; returns them and the complete lines they hold.
    async fn read(response: Response, n: usize) -> (Vec<Bytes>, Vec<String>) {
        let mut body = response.into_body().into_data_stream();
        let mut chunks = Vec::new();
        while chunks.len() < n {
            chunks.push(body.next().await.unwrap().unwrap());
        }
        let text: String = chunks.iter().map(|c| String::from_utf8_lossy(c)).collect();
        let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        lines.pop(); // after the last newline: empty or an unfinished object
        (chunks, lines)
    }

    #[tokio::test(start_paused = true)]
    async fn a_quote_stream_sends_a_split_snapshot_changes_and_heartbeats() {
        let sim = simulator(|c| {
            c.tick_interval = Duration::from_secs(3);
            c.heartbeat_interval = Duration::from_secs(1);
        });
        let token = sign_in(&sim, "trader").await.access;
        let response = open(&sim, "/v3/marketdata/stream/quotes/MSFT,NOPE1,aapl", &token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        assert_eq!(sim.stats().open_streams, 1);
        let (chunks, lines) = read(response, 14).await;
        assert!(
            !chunks[0].ends_with(b"\n"),
            "the first object is cut in two chunks"
        );

        let messages: Vec<QuoteStreamMessage> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        let QuoteStreamMessage::Quote(first) = &messages[0] else {
            panic!("{:?}", messages[0])
        };
        assert_eq!(first.symbol.as_deref(), Some("MSFT"));
        assert!(
            first.open.is_some() && first.previous_close.is_some(),
            "a full quote first"
        );
        assert!(matches!(&messages[1], QuoteStreamMessage::Error(e)
            if e.symbol.as_deref() == Some("NOPE1") && e.error == "FAILED, INVALID SYMBOL"));
        assert!(
            matches!(&messages[2], QuoteStreamMessage::Quote(q) if q.symbol.as_deref() == Some("AAPL"))
        );

        let heartbeats: Vec<u64> = messages
            .iter()
            .filter_map(|m| match m {
                QuoteStreamMessage::Heartbeat(h) => Some(h.heartbeat),
                _ => None,
            })
            .collect();
        assert!(heartbeats.len() >= 2);
        assert!(heartbeats.windows(2).all(|w| w[1] == w[0] + 1));
        let changes: Vec<&Quote> = messages[3..]
            .iter()
            .filter_map(|m| match m {
                QuoteStreamMessage::Quote(q) => Some(q.as_ref()),
                _ => None,
            })
            .collect();
        assert!(!changes.is_empty());
        assert!(
            changes
                .iter()
                .all(|q| q.symbol.is_some() && q.open.is_none()),
            "changes only"
        );
        // The stream ends with its reader: nothing is left running.
        assert_eq!(sim.stats().open_streams, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_option_chain_stream_brackets_the_price_with_whole_spreads() {
        let sim = simulator(|c| c.heartbeat_interval = Duration::from_secs(60));
        let token = sign_in(&sim, "trader").await.access;
        let uri = "/v3/marketdata/stream/options/chains/MSFT?strikeProximity=2&priceCenter=421";
        let response = open(&sim, uri, &token).await;
        assert_eq!(response.status(), StatusCode::OK);
        let (_, lines) = read(response, 2).await;
        assert_eq!(lines.len(), 8, "2 strikes each side, calls and puts");
        for l in &lines {
            let message: OptionChainStreamMessage = serde_json::from_str(l).unwrap();
            let OptionChainStreamMessage::Spread(spread) = message else {
                panic!("{l}")
            };
            let leg = &spread.legs[0];
            let symbol = leg.symbol.as_deref().unwrap();
            assert!(symbol.starts_with("MSFT "), "{symbol}");
            assert_eq!(spread.strikes, vec![leg.strike_price.clone().unwrap()]);
            assert!(matches!(spread.side.as_deref(), Some("Call" | "Put")));
            assert!(spread.delta.is_some() && spread.daily_open_interest.is_some());
        }
        let strikes: Vec<&str> = lines
            .iter()
            .map(|l| {
                l.split("\"Strikes\":[\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            strikes,
            ["415", "415", "420", "420", "425", "425", "430", "430"]
        );
    }

    #[tokio::test]
    async fn over_a_real_socket_objects_arrive_split_and_a_hang_up_ends_the_stream() {
        let sim = simulator(|c| {
            c.tick_interval = Duration::from_millis(300);
            c.heartbeat_interval = Duration::from_millis(100);
        });
        let token = sign_in(&sim, "trader").await.access;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(axum::serve(listener, sim.router()).into_future());
        let client = reqwest::Client::new();
        let response = client
            .get(format!(
                "http://{address}/v3/marketdata/stream/quotes/MSFT,SPY"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
        assert!(response.content_length().is_none());
        let mut chunks = response.bytes_stream();
        let mut text = String::new();
        let mut saw_split = false;
        while !(saw_split && text.contains("\"Heartbeat\"")) {
            let chunk = chunks.next().await.unwrap().unwrap();
            saw_split |= !chunk.ends_with(b"\n");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<QuoteStreamMessage>(l).is_ok())
        );
        assert_eq!(sim.stats().open_streams, 1);
        drop(chunks);
        let deadline = Instant::now() + Duration::from_secs(5);
        while sim.stats().open_streams != 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(sim.stats().open_streams, 0, "the server dropped the stream");
        server.abort();
    }

    #[tokio::test]
    async fn bad_stream_requests_are_refused_before_streaming() {
        let sim = simulator(|_| {});
        let token = sign_in(&sim, "trader").await.access;
        for (uri, status) in [
            (
                "/v3/marketdata/stream/options/chains/$SPX.X",
                StatusCode::NOT_FOUND,
            ),
            (
                "/v3/marketdata/stream/options/chains/MSFT?strikeProximity=0",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/v3/marketdata/stream/options/chains/MSFT?expiration=2001-01-05",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/v3/marketdata/stream/options/chains/MSFT?optionType=Both",
                StatusCode::BAD_REQUEST,
            ),
            ("/v3/marketdata/stream/quotes/,,", StatusCode::BAD_REQUEST),
        ] {
            let answer = get(&sim, uri, Some(&token)).await;
            assert_eq!(answer.status, status, "{uri}");
            assert!(answer.json()["Error"].is_string());
        }
        assert_eq!(
            get(&sim, "/v3/marketdata/stream/quotes/MSFT", None)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(sim.stats().open_streams, 0);
    }
}
