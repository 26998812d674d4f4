//! The newline-delimited messages of TradeStation's HTTP streams
//! (`application/vnd.tradestation.streams.v2+json`).
//!
//! A stream body is one JSON object per `\n`-terminated line; chunk
//! boundaries mean nothing, so a client splits on newlines and parses each
//! line into one of the enums here. Besides data, a line may be a
//! [`Heartbeat`] (after 5 s without data), a [`StreamStatus`]
//! (`EndSnapshot`, `GoAway`) or a [`StreamError`] (`GoAway`, `DualLogon`, …,
//! after which the client ends the request and may reconnect later).
//!
//! The enums are `untagged`: serde tries the variants in order. Heartbeat,
//! status and error each require their own key (`Heartbeat`, `StreamStatus`,
//! `Error`), which a data object never has, and the data variant comes last
//! because every one of its fields is optional (it would match anything).

use serde::{Deserialize, Serialize};

use super::options::OptionChainSpread;
use super::quotes::Quote;

/// `{"Heartbeat":1,"Timestamp":"2021-03-02T18:01:23Z"}`; the counter
/// increments with each heartbeat of a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Heartbeat {
    pub heartbeat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// `{"StreamStatus":"EndSnapshot"}` after the snapshot, `"GoAway"` before the
/// server closes the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamStatus {
    pub stream_status: String,
}

/// An error inside a stream's 200 body:
/// `{"Error":"GoAway","Message":"The server is about to shut down."}`, or per
/// symbol `{"Symbol":"AAPL","Error":"DualLogon"}`. `Error` is one of
/// `BadRequest`, `DualLogon`, `GoAway`, `InternalServerError`, or a symbol
/// failure such as `FAILED, INVALID SYMBOL`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamError {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
}

/// One line of `/v3/marketdata/stream/quotes/{symbols}`.
///
/// The first [`Quote`] per symbol is complete; later ones carry only the
/// fields that changed (always with `Symbol`): merge by symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum QuoteStreamMessage {
    Heartbeat(Heartbeat),
    Status(StreamStatus),
    Error(StreamError),
    Quote(Box<Quote>),
}

/// One line of `/v3/marketdata/stream/options/chains/{underlying}`: each data
/// object is one whole spread, keyed by its `Legs[].Symbol`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OptionChainStreamMessage {
    Heartbeat(Heartbeat),
    Status(StreamStatus),
    Error(StreamError),
    Spread(Box<OptionChainSpread>),
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEARTBEAT: &str = r#"{"Heartbeat":1,"Timestamp":"2021-03-02T18:01:23Z"}"#;
    const GO_AWAY: &str = r#"{"Error":"GoAway","Message":"The server is about to shut down."}"#;
    const DUAL_LOGON: &str = r#"{"Symbol":"AAPL","Error":"DualLogon"}"#;
    const END_SNAPSHOT: &str = r#"{"StreamStatus":"EndSnapshot"}"#;
    const QUOTE_LINE: &str = r#"{"Symbol":"MSFT","Last":"212.85","Bid":"212.85","Ask":"212.87","Volume":"5852511","TradeTime":"2020-11-18T15:19:14Z"}"#;
    const SPREAD_LINE: &str = r#"{"Delta":"0.0497","Theta":"-0.0049","Gamma":"-0.0004","Rho":"0.0005","Vega":"-0.0001","ImpliedVolatility":"0.3118","IntrinsicValue":"0","ExtrinsicValue":"0.3","TheoreticalValue":"0.2816","ProbabilityITM":"0.05","ProbabilityOTM":"0.95","ProbabilityBE":"0.0479","StandardDeviation":"0.0245","DailyOpenInterest":1996,"Ask":"0.7","Bid":"0.1","Mid":"0.3","AskSize":13,"BidSize":9,"Last":"0.44","Volume":144,"Side":"Put","Strikes":["332.5"],"Legs":[{"Symbol":"MSFT 211217P332.5","Ratio":1,"StrikePrice":"332.5","Expiration":"2021-12-17T00:00:00Z","OptionType":"Put","AssetType":"StockOption"}]}"#;

    fn quote_line(line: &str) -> QuoteStreamMessage {
        let message: QuoteStreamMessage = serde_json::from_str(line).unwrap();
        let original: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_value(&message).unwrap(), original);
        message
    }

    #[test]
    fn heartbeat_line_parses_as_heartbeat() {
        match quote_line(HEARTBEAT) {
            QuoteStreamMessage::Heartbeat(h) => {
                assert_eq!(h.heartbeat, 1);
                assert_eq!(h.timestamp.as_deref(), Some("2021-03-02T18:01:23Z"));
            }
            other => panic!("parsed as {other:?}"),
        }
        let chain: OptionChainStreamMessage = serde_json::from_str(HEARTBEAT).unwrap();
        assert!(matches!(chain, OptionChainStreamMessage::Heartbeat(_)));
    }

    #[test]
    fn quote_line_parses_as_quote() {
        match quote_line(QUOTE_LINE) {
            QuoteStreamMessage::Quote(q) => {
                assert_eq!(q.symbol.as_deref(), Some("MSFT"));
                assert_eq!(q.last.as_deref(), Some("212.85"));
                assert_eq!(q.open, None);
            }
            other => panic!("parsed as {other:?}"),
        }
        // A change line with only the symbol and one field is still a quote.
        assert!(matches!(
            quote_line(r#"{"Symbol":"MSFT","Bid":"212.80"}"#),
            QuoteStreamMessage::Quote(_)
        ));
    }

    #[test]
    fn stream_errors_parse_as_errors() {
        match quote_line(GO_AWAY) {
            QuoteStreamMessage::Error(e) => {
                assert_eq!(e.error, "GoAway");
                assert_eq!(e.symbol, None);
            }
            other => panic!("parsed as {other:?}"),
        }
        match quote_line(DUAL_LOGON) {
            QuoteStreamMessage::Error(e) => {
                assert_eq!(e.error, "DualLogon");
                assert_eq!(e.symbol.as_deref(), Some("AAPL"));
            }
            other => panic!("parsed as {other:?}"),
        }
        let chain: OptionChainStreamMessage = serde_json::from_str(GO_AWAY).unwrap();
        assert!(matches!(chain, OptionChainStreamMessage::Error(_)));
    }

    #[test]
    fn stream_status_parses_as_status() {
        assert_eq!(
            quote_line(END_SNAPSHOT),
            QuoteStreamMessage::Status(StreamStatus {
                stream_status: "EndSnapshot".into()
            })
        );
    }

    #[test]
    fn spread_line_parses_as_spread_and_round_trips() {
        let message: OptionChainStreamMessage = serde_json::from_str(SPREAD_LINE).unwrap();
        match &message {
            OptionChainStreamMessage::Spread(s) => {
                assert_eq!(s.side.as_deref(), Some("Put"));
                assert_eq!(s.bid_size, Some(9));
            }
            other => panic!("parsed as {other:?}"),
        }
        let original: serde_json::Value = serde_json::from_str(SPREAD_LINE).unwrap();
        assert_eq!(serde_json::to_value(&message).unwrap(), original);
    }
}
