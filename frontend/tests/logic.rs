//! The stream parser and the pure modules: no DOM, no browser.
//!
//! Native tests: `cargo test -p frontend` builds only the pure half of the
//! crate for the host and runs these in seconds. What needs a browser (a
//! real `ReadableStream`, `Date.parse` for `Retry-After` dates) is in
//! `tests/web.rs`.
#![cfg(not(target_arch = "wasm32"))]

use frontend::api::stream::{Control, JsonLines, LineError, StreamMessage, backoff_secs};
use frontend::api::{self, ApiError};
use frontend::format;
use frontend::model::chain::ChainBook;
use frontend::model::chart;
use frontend::model::quotes::{Direction, QuoteBook};
use frontend::watchlist;
use shared::ts::bars::Bar;
use shared::ts::options::{OptionChainSpread, OptionLeg};
use shared::ts::quotes::Quote;
use shared::ts::stream::{OptionChainStreamMessage, QuoteStreamMessage};

const HEARTBEAT: &str = r#"{"Heartbeat":1,"Timestamp":"2021-03-02T18:01:23Z"}"#;
const QUOTE: &str =
    r#"{"Symbol":"MSFT","Last":"212.85","Bid":"212.85","Ask":"212.87","Volume":"5852511"}"#;
const SPREAD: &str = r#"{"Delta":"0.0497","ImpliedVolatility":"0.3118","DailyOpenInterest":1996,"Ask":"0.7","Bid":"0.1","Last":"0.44","Volume":144,"Side":"Put","Strikes":["332.5"],"Legs":[{"Symbol":"MSFT 211217P332.5","StrikePrice":"332.5","Expiration":"2021-12-17T00:00:00Z","OptionType":"Put"}]}"#;

fn stream_of(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn quotes_only(messages: Vec<Result<QuoteStreamMessage, LineError>>) -> Vec<QuoteStreamMessage> {
    messages
        .into_iter()
        .map(|m| m.expect("line parses"))
        .collect()
}

// ---- JsonLines -----------------------------------------------------------

#[test]
fn whole_lines_in_one_chunk_parse_in_order() {
    let mut p = JsonLines::<QuoteStreamMessage>::new();
    let body = stream_of(&[QUOTE, HEARTBEAT, r#"{"StreamStatus":"EndSnapshot"}"#]);
    let got = quotes_only(p.push(body.as_bytes()));
    assert_eq!(got.len(), 3);
    assert!(matches!(&got[0], QuoteStreamMessage::Quote(q) if q.last.as_deref() == Some("212.85")));
    assert!(matches!(got[1], QuoteStreamMessage::Heartbeat(_)));
    assert!(matches!(got[2], QuoteStreamMessage::Status(_)));
    assert_eq!(p.pending(), 0);
}

#[test]
fn an_object_split_at_every_byte_boundary_parses_once() {
    let body = stream_of(&[QUOTE, HEARTBEAT]);
    let bytes = body.as_bytes();
    for cut in 1..bytes.len() {
        let mut p = JsonLines::<QuoteStreamMessage>::new();
        let mut got = quotes_only(p.push(&bytes[..cut]));
        got.extend(quotes_only(p.push(&bytes[cut..])));
        assert_eq!(got.len(), 2, "cut at {cut}");
        assert!(
            matches!(got[0], QuoteStreamMessage::Quote(_)),
            "cut at {cut}"
        );
    }
}

#[test]
fn byte_at_a_time_and_multibyte_utf8_split() {
    // "Café ✓" has 2- and 3-byte characters; one byte per chunk splits them.
    let line = r#"{"Symbol":"CAFE","LastVenue":"Café ✓"}"#;
    let body = stream_of(&[line, HEARTBEAT, line]);
    let mut p = JsonLines::<QuoteStreamMessage>::new();
    let mut got = Vec::new();
    for b in body.as_bytes() {
        got.extend(quotes_only(p.push(std::slice::from_ref(b))));
    }
    assert_eq!(got.len(), 3);
    match &got[2] {
        QuoteStreamMessage::Quote(q) => assert_eq!(q.last_venue.as_deref(), Some("Café ✓")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn crlf_blank_lines_and_a_bad_line_do_not_stop_the_stream() {
    let body = format!("\r\n{QUOTE}\r\n\n{{not json}}\n{HEARTBEAT}\n");
    let mut p = JsonLines::<QuoteStreamMessage>::new();
    let got = p.push(body.as_bytes());
    assert_eq!(got.len(), 3);
    assert!(got[0].is_ok());
    assert!(matches!(got[1], Err(LineError::Json { .. })));
    assert!(matches!(got[2], Ok(QuoteStreamMessage::Heartbeat(_))));
}

#[test]
fn an_over_long_line_is_skipped_and_the_next_one_parses() {
    let mut p = JsonLines::<QuoteStreamMessage>::with_max_line(64);
    let long = format!(r#"{{"Symbol":"X","LastVenue":"{}"}}"#, "a".repeat(200));
    let mut got = Vec::new();
    for chunk in long.as_bytes().chunks(50) {
        got.extend(p.push(chunk));
    }
    assert!(p.pending() <= 64, "buffer bounded, holds {}", p.pending());
    got.extend(p.push(format!("\n{HEARTBEAT}\n").as_bytes()));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], Err(LineError::TooLong { limit: 64 }));
    assert!(matches!(got[1], Ok(QuoteStreamMessage::Heartbeat(_))));
}

#[test]
fn finish_parses_a_last_line_without_newline() {
    let mut p = JsonLines::<QuoteStreamMessage>::new();
    assert!(p.push(QUOTE.as_bytes()).is_empty());
    assert!(matches!(p.finish(), Some(Ok(QuoteStreamMessage::Quote(_)))));
    assert!(p.finish().is_none());
}

#[test]
fn option_chain_lines_are_typed_as_spreads() {
    let mut p = JsonLines::<OptionChainStreamMessage>::new();
    let got = p.push(stream_of(&[SPREAD, HEARTBEAT]).as_bytes());
    match &got[0] {
        Ok(OptionChainStreamMessage::Spread(s)) => {
            assert_eq!(s.daily_open_interest, Some(1996));
            assert_eq!(s.legs[0].symbol.as_deref(), Some("MSFT 211217P332.5"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(got[1], Ok(OptionChainStreamMessage::Heartbeat(_))));
}

#[test]
fn probing_parse_equals_the_shared_untagged_enums() {
    let lines = [
        QUOTE,
        HEARTBEAT,
        r#"{"StreamStatus":"EndSnapshot"}"#,
        r#"{"Error":"GoAway","Message":"bye"}"#,
        r#"{"Symbol":"AAPL","Error":"DualLogon"}"#,
        r#"{"Symbol":"MSFT","Bid":"1"}"#,
        r#"{}"#,
    ];
    for line in lines {
        let ours = QuoteStreamMessage::parse(line).unwrap();
        let serde: QuoteStreamMessage = serde_json::from_str(line).unwrap();
        assert_eq!(ours, serde, "{line}");
    }
    for line in [
        SPREAD,
        HEARTBEAT,
        r#"{"Error":"BadRequest","Message":"no"}"#,
    ] {
        let ours = OptionChainStreamMessage::parse(line).unwrap();
        let serde: OptionChainStreamMessage = serde_json::from_str(line).unwrap();
        assert_eq!(ours, serde, "{line}");
    }
    assert!(QuoteStreamMessage::parse("[1,2]").is_err());
    assert!(QuoteStreamMessage::parse(r#"{"Symbol":5}"#).is_err());
}

#[test]
fn control_classifies_heartbeats_statuses_and_errors() {
    let parse = |s: &str| {
        serde_json::from_str::<QuoteStreamMessage>(s)
            .unwrap()
            .control()
    };
    assert_eq!(parse(QUOTE), Control::Data);
    assert_eq!(parse(HEARTBEAT), Control::Heartbeat);
    assert_eq!(parse(r#"{"StreamStatus":"EndSnapshot"}"#), Control::Status);
    assert!(matches!(
        parse(r#"{"StreamStatus":"GoAway"}"#),
        Control::Reconnect(_)
    ));
    assert!(matches!(
        parse(r#"{"Error":"GoAway","Message":"The server is about to shut down."}"#),
        Control::Reconnect(m) if m == "The server is about to shut down."
    ));
    // DualLogon ends the request even when it names a symbol.
    assert!(matches!(
        parse(r#"{"Symbol":"AAPL","Error":"DualLogon"}"#),
        Control::Reconnect(_)
    ));
    assert_eq!(
        parse(r#"{"Symbol":"BAD","Error":"FAILED, INVALID SYMBOL"}"#),
        Control::SymbolError
    );
}

#[test]
fn backoff_doubles_and_caps() {
    let seq: Vec<u32> = (1..=8).map(backoff_secs).collect();
    assert_eq!(seq, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    assert_eq!(backoff_secs(0), 1);
    assert_eq!(backoff_secs(u32::MAX), 30);
}

// ---- api errors and urls -------------------------------------------------

#[test]
fn error_bodies_map_to_codes_not_messages() {
    let e = |status, body: &str| api::error_from_body(status, body);
    assert_eq!(
        e(401, r#"{"error":"session_expired","message":"whatever"}"#),
        ApiError::SessionExpired
    );
    assert_eq!(
        e(401, r#"{"error":"not_authenticated","message":"x"}"#),
        ApiError::NotAuthenticated
    );
    assert_eq!(
        e(502, r#"{"error":"upstream_error","message":"x"}"#),
        ApiError::Upstream { timeout: false }
    );
    assert_eq!(
        e(504, r#"{"error":"upstream_timeout","message":"x"}"#),
        ApiError::Upstream { timeout: true }
    );
    assert_eq!(e(503, "<html>"), ApiError::Upstream { timeout: false });
    assert_eq!(
        e(404, r#"{"Error":"NotFound","Message":"No such symbol."}"#),
        ApiError::Http {
            status: 404,
            message: "No such symbol.".into()
        }
    );
    assert_eq!(
        e(400, r#"{"error":"invalid_path","message":"Bad path."}"#),
        ApiError::Http {
            status: 400,
            message: "Bad path.".into()
        }
    );
    assert_eq!(
        ApiError::SessionExpired.to_string(),
        "Your TradeStation session ended, sign in again."
    );
}

#[test]
fn urls_encode_user_input_and_never_leave_the_site() {
    assert_eq!(
        api::login_url("/quotes?symbols=MSFT"),
        "/api/ts/login?return_to=%2Fquotes%3Fsymbols%3DMSFT"
    );
    assert_eq!(
        api::login_url("//evil.example"),
        "/api/ts/login?return_to=%2F"
    );
    assert_eq!(
        api::login_url("https://evil.example"),
        "/api/ts/login?return_to=%2F"
    );
    assert_eq!(
        api::quote_stream_url(&["MSFT", "$SPX.X", "BRK/B"]),
        "/api/ts/v3/marketdata/stream/quotes/MSFT,%24SPX.X,BRK%2FB"
    );
    assert_eq!(
        api::chain_stream_url("MSFT", "2021-12-17"),
        "/api/ts/v3/marketdata/stream/options/chains/MSFT?expiration=2021-12-17"
    );
}

// ---- format ----------------------------------------------------------------

#[test]
fn numbers_read_like_money() {
    assert_eq!(format::money(Some("39735538.661")), "39,735,538.66");
    assert_eq!(format::money(Some("-0.004")), "0.00");
    assert_eq!(format::money(Some("-1234.5")), "-1,234.50");
    assert_eq!(format::money(None), format::DASH);
    assert_eq!(format::money(Some("n/a")), format::DASH);
    assert_eq!(format::price(Some("212.8")), "212.80");
    assert_eq!(format::price(Some("0.12345")), "0.1235");
    assert_eq!(format::quantity(Some("5852511")), "5,852,511");
    assert_eq!(format::signed(Some("982.8001")), "+982.80");
    assert_eq!(format::signed(Some("-0.5")), "-0.50");
    assert_eq!(format::signed(Some("0")), "0.00");
    assert_eq!(format::fraction_pct(Some("0.3118")), "31.18%");
    assert_eq!(format::pct(Some("-0.023")), "-0.02%");
    assert_eq!(format::sign_class(Some("-0.5")), "neg");
    assert_eq!(format::sign_class(Some("3")), "pos");
    assert_eq!(format::sign_class(Some("0")), "flat");
    assert_eq!(format::time_of(Some("2020-11-18T15:19:14Z")), "15:19:14");
    assert_eq!(format::date_of(Some("2021-12-17T00:00:00Z")), "2021-12-17");
}

#[test]
fn countdown_reads_minutes_and_hours() {
    assert_eq!(format::countdown(1200).as_deref(), Some("20:00"));
    assert_eq!(format::countdown(61).as_deref(), Some("1:01"));
    assert_eq!(format::countdown(3725).as_deref(), Some("1:02:05"));
    assert_eq!(format::countdown(0), None);
    assert_eq!(format::countdown(-5), None);
}

// ---- watchlist ---------------------------------------------------------

#[test]
fn watchlist_parses_normalises_and_deduplicates() {
    let (list, errors) = watchlist::parse_list(" msft, aapl  msft,$spx.x ");
    assert_eq!(list, vec!["MSFT", "AAPL", "$SPX.X"]);
    assert!(errors.is_empty());
    let (list, errors) = watchlist::parse_list("MSFT,<script>");
    assert_eq!(list, vec!["MSFT"]);
    assert_eq!(errors.len(), 1);
    let mut list = vec!["MSFT".to_owned()];
    assert!(watchlist::add(&mut list, "nvda").is_empty());
    assert_eq!(list, vec!["MSFT", "NVDA"]);
    assert!(!watchlist::add(&mut list, "   ").is_empty());
}

#[test]
fn watchlist_prefers_url_then_storage_then_default() {
    assert_eq!(watchlist::initial(Some("TSLA"), Some("MSFT")), vec!["TSLA"]);
    assert_eq!(
        watchlist::initial(None, Some("MSFT,AAPL")),
        vec!["MSFT", "AAPL"]
    );
    assert_eq!(
        watchlist::initial(Some(""), Some("!!")),
        watchlist::DEFAULT.to_vec()
    );
}

// ---- quote book ------------------------------------------------------------

fn quote(symbol: &str, last: Option<&str>, bid: Option<&str>) -> Quote {
    Quote {
        symbol: Some(symbol.into()),
        last: last.map(Into::into),
        bid: bid.map(Into::into),
        ..Quote::default()
    }
}

#[test]
fn quote_changes_merge_and_ticks_have_a_direction() {
    let mut book = QuoteBook::default();
    book.apply_quote(Quote {
        ask: Some("10.02".into()),
        ..quote("MSFT", Some("10.00"), Some("9.99"))
    });
    let row = book.get("MSFT").unwrap();
    assert_eq!((row.direction, row.ticks), (Direction::None, 0));

    book.apply_quote(quote("MSFT", None, Some("10.01")));
    let row = book.get("MSFT").unwrap();
    assert_eq!(row.quote.bid.as_deref(), Some("10.01"));
    assert_eq!(
        row.quote.ask.as_deref(),
        Some("10.02"),
        "fields not in the change are kept"
    );
    assert_eq!(row.ticks, 0, "no Last, no tick");

    book.apply_quote(quote("MSFT", Some("10.05"), None));
    let row = book.get("MSFT").unwrap();
    assert_eq!((row.direction, row.ticks), (Direction::Up, 1));
    assert!((row.delta.unwrap() - 0.05).abs() < 1e-9);

    book.apply_quote(quote("MSFT", Some("10.05"), None));
    assert_eq!(book.get("MSFT").unwrap().ticks, 1, "same price is no tick");

    book.apply_quote(quote("MSFT", Some("9.95"), None));
    let row = book.get("MSFT").unwrap();
    assert_eq!((row.direction, row.ticks), (Direction::Down, 2));
}

#[test]
fn symbol_errors_land_on_their_row_and_retain_forgets() {
    let mut book = QuoteBook::default();
    let msg: QuoteStreamMessage =
        serde_json::from_str(r#"{"Symbol":"BAD","Error":"FAILED, INVALID SYMBOL"}"#).unwrap();
    assert_eq!(book.apply(msg).as_deref(), Some("BAD"));
    assert_eq!(
        book.get("BAD").unwrap().error.as_deref(),
        Some("FAILED, INVALID SYMBOL")
    );
    book.apply_quote(quote("MSFT", Some("1"), None));
    book.retain(&["MSFT".to_owned()]);
    assert_eq!(book.len(), 1);
    assert!(
        book.apply(serde_json::from_str(HEARTBEAT).unwrap())
            .is_none()
    );
}

// ---- chain book ------------------------------------------------------------

fn spread(side: &str, strike: &str, bid: &str) -> OptionChainSpread {
    OptionChainSpread {
        side: Some(side.into()),
        bid: Some(bid.into()),
        strikes: vec![strike.into()],
        legs: vec![OptionLeg {
            symbol: Some(format!("MSFT 211217{}{strike}", &side[..1])),
            ..OptionLeg::default()
        }],
        ..OptionChainSpread::default()
    }
}

#[test]
fn chain_groups_by_numeric_strike_with_calls_left_puts_right() {
    let mut book = ChainBook::default();
    for s in [
        spread("Call", "100", "5.1"),
        spread("Put", "95", "1.2"),
        spread("Call", "95", "8.0"),
        spread("Put", "100", "3.3"),
        spread("Call", "97.5", "6.0"),
    ] {
        assert!(book.insert(s));
    }
    let rows = book.rows();
    let strikes: Vec<&str> = rows.iter().map(|r| r.strike.as_str()).collect();
    assert_eq!(strikes, vec!["95", "97.5", "100"]);
    assert_eq!(rows[0].call.as_ref().unwrap().bid.as_deref(), Some("8.0"));
    assert_eq!(rows[0].put.as_ref().unwrap().bid.as_deref(), Some("1.2"));
    assert!(rows[1].put.is_none());

    // An update for the same leg replaces it.
    book.insert(spread("Call", "95", "8.5"));
    assert_eq!(book.len(), 5);
    assert_eq!(
        book.rows()[0].call.as_ref().unwrap().bid.as_deref(),
        Some("8.5")
    );
}

// ---- chart -------------------------------------------------------------------

fn bar(o: &str, h: &str, l: &str, c: &str, day: u32) -> Bar {
    Bar {
        open: Some(o.into()),
        high: Some(h.into()),
        low: Some(l.into()),
        close: Some(c.into()),
        time_stamp: Some(format!("2024-01-{day:02}T21:00:00Z")),
        ..Bar::default()
    }
}

#[test]
fn chart_layout_maps_prices_upwards_inside_the_plot() {
    let bars = vec![
        bar("10", "12", "9", "11", 2),
        bar("11", "13", "10", "10.5", 3),
    ];
    let l = chart::layout(&bars).unwrap();
    assert_eq!(l.candles.len(), 2);
    assert_eq!((l.min, l.max), (9.0, 13.0));
    let (a, b) = (&l.candles[0], &l.candles[1]);
    assert!(a.up && !b.up);
    assert!(b.high_y < a.high_y, "13 is drawn above 12");
    assert!(
        (b.high_y - chart::PAD_TOP).abs() < 1e-9,
        "the max touches the top"
    );
    assert!(
        (a.low_y - (chart::HEIGHT - chart::PAD_BOTTOM)).abs() < 1e-9,
        "the min touches the bottom"
    );
    assert!(a.x < b.x);
    assert!(l.close_path.starts_with('M') && l.close_path.contains(" L"));
    assert_eq!(
        (l.first_date.as_str(), l.last_date.as_str()),
        ("2024-01-02", "2024-01-03")
    );
    assert_eq!(l.grid.len(), 5);
}

#[test]
fn view_box_matches_the_layout_size() {
    assert_eq!(
        chart::VIEW_BOX,
        format!("0 0 {} {}", chart::WIDTH, chart::HEIGHT)
    );
}

#[test]
fn fixed_point_formatting_rounds_without_float_formatting() {
    assert_eq!(format::fixed(1.25, 1), "1.3");
    assert_eq!(format::fixed(-1.25, 1), "-1.3");
    assert_eq!(format::fixed(-0.04, 1), "0.0");
    assert_eq!(format::fixed(7.0, 0), "7");
    assert_eq!(format::fixed(0.000123, 6), "0.000123");
    assert_eq!(format::grouped(1234567.891, 2), "1,234,567.89");
    assert_eq!(format::grouped(-999.999, 2), "-1,000.00");
    assert_eq!(format::greek(Some("-0.00049")), "-0.0005");
}

#[test]
fn chart_layout_handles_flat_and_empty_series() {
    assert!(chart::layout(&[]).is_none());
    assert!(
        chart::layout(&[Bar::default()]).is_none(),
        "no close, nothing to draw"
    );
    let flat = chart::layout(&[bar("5", "5", "5", "5", 1), bar("5", "5", "5", "5", 2)]).unwrap();
    assert!(flat.max > flat.min);
    assert!(flat.candles.iter().all(|c| c.body_bottom > c.body_top));
}
