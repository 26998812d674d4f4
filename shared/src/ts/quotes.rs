//! Quote snapshots: `GET /v3/marketdata/quotes/{symbols}` (≤100 symbols).
//!
//! The same [`Quote`] shape arrives on the quote stream (see
//! [`super::stream`]), where later objects carry only the changed fields:
//! clients merge by `Symbol`.

use serde::{Deserialize, Serialize};

/// One quote. Prices and sizes are decimal strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Quote {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_close: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bid_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_change: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_change_pct: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high52_week: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high52_week_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low52_week: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low52_week_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_volume: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_open_interest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trade_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tick_size_tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_venue: Option<String>,
    #[serde(rename = "VWAP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vwap: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub market_flags: Option<MarketFlags>,
}

/// Trading state flags of a [`Quote`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MarketFlags {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_delayed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_hard_to_borrow: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_bats: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_halted: Option<bool>,
}

/// A per-symbol error inside a 200 answer, e.g.
/// `{"Symbol":"INVALID","Error":"FAILED, INVALID SYMBOL"}`. The symbol
/// details endpoint adds a `Message`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SymbolError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `{"Quotes":[…],"Errors":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QuotesResponse {
    #[serde(default)]
    pub quotes: Vec<Quote>,
    #[serde(default)]
    pub errors: Vec<SymbolError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSFT: &str = r#"{"Symbol":"MSFT","Open":"213.65","High":"215.77","Low":"205.48","PreviousClose":"214.46","Last":"212.85",
 "Ask":"212.87","AskSize":"300","Bid":"212.85","BidSize":"200","NetChange":"-1.61","NetChangePct":"3.5",
 "High52Week":"232.86","High52WeekTimestamp":"2020-09-02T00:00:00Z","Low52Week":"132.52",
 "Low52WeekTimestamp":"2020-03-23T00:00:00Z","Volume":"5852511","PreviousVolume":"24154112","Close":"212.85",
 "DailyOpenInterest":"0","TradeTime":"2020-11-18T15:19:14Z","TickSizeTier":"0","LastSize":"954",
 "LastVenue":"ARCX","VWAP":"136.34","MarketFlags":{"IsDelayed":false,"IsHardToBorrow":false,"IsBats":false,"IsHalted":false}}"#;

    #[test]
    fn quote_example_parses_and_round_trips() {
        let quote: Quote = serde_json::from_str(MSFT).unwrap();
        assert_eq!(quote.symbol.as_deref(), Some("MSFT"));
        assert_eq!(quote.last.as_deref(), Some("212.85"));
        assert_eq!(quote.vwap.as_deref(), Some("136.34"));
        assert_eq!(quote.high52_week.as_deref(), Some("232.86"));
        assert_eq!(quote.market_flags.as_ref().unwrap().is_halted, Some(false));
        let original: serde_json::Value = serde_json::from_str(MSFT).unwrap();
        assert_eq!(serde_json::to_value(&quote).unwrap(), original);
    }

    #[test]
    fn response_with_partial_symbol_error() {
        let json = format!(
            r#"{{"Quotes":[{MSFT}],"Errors":[{{"Symbol":"INVALID","Error":"FAILED, INVALID SYMBOL"}}]}}"#
        );
        let response: QuotesResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(response.quotes.len(), 1);
        assert_eq!(response.errors[0].symbol.as_deref(), Some("INVALID"));
        assert_eq!(response.errors[0].message, None);
        let original: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_value(&response).unwrap(), original);
        let empty: QuotesResponse = serde_json::from_str("{}").unwrap();
        assert!(empty.quotes.is_empty() && empty.errors.is_empty());
    }
}
