//! Options: `GET /v3/marketdata/options/expirations/{underlying}`,
//! `GET /v3/marketdata/options/strikes/{underlying}`, and the spread objects
//! of the option-chain stream (`/v3/marketdata/stream/options/chains/…`,
//! wrapped in [`super::stream::OptionChainStreamMessage`]).
//!
//! Option symbols read `ROOT YYMMDD{C|P}STRIKE` (`MSFT 211217P332.5`); a
//! client keys chain rows by `Legs[].Symbol`, as updates arrive per spread.

use serde::{Deserialize, Serialize};

/// One expiration date. `Type` is `Weekly`, `Monthly`, `Quarterly`, `EOM` or
/// `Other`; `Date` is RFC 3339 at midnight UTC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Expiration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(rename = "Type")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `{"Expirations":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExpirationsResponse {
    #[serde(default)]
    pub expirations: Vec<Expiration>,
}

/// `{"SpreadType":"Single","Strikes":[["145"],["150"]]}`: one inner list per
/// spread (three strikes per entry for a butterfly); empty without options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StrikesResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread_type: Option<String>,
    #[serde(default)]
    pub strikes: Vec<Vec<String>>,
}

/// One spread of an option chain, with its Greeks and quote.
///
/// Decimal values are strings; `DailyOpenInterest`, `AskSize`, `BidSize` and
/// `Volume` are JSON integers. `Side` is `Call`, `Put` or `Both`. The `_IV`
/// variants are computed from implied rather than historical volatility.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OptionChainSpread {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theta: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gamma: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rho: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vega: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implied_volatility: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intrinsic_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extrinsic_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theoretical_value: Option<String>,
    #[serde(rename = "TheoreticalValue_IV")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theoretical_value_iv: Option<String>,
    #[serde(rename = "ProbabilityITM")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability_itm: Option<String>,
    #[serde(rename = "ProbabilityOTM")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability_otm: Option<String>,
    #[serde(rename = "ProbabilityBE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability_be: Option<String>,
    #[serde(rename = "ProbabilityITM_IV")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability_itm_iv: Option<String>,
    #[serde(rename = "ProbabilityOTM_IV")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability_otm_iv: Option<String>,
    #[serde(rename = "ProbabilityBE_IV")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability_be_iv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standard_deviation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_open_interest: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bid_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_change: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_change_pct: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_close: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<String>,
    #[serde(default)]
    pub strikes: Vec<String>,
    #[serde(default)]
    pub legs: Vec<OptionLeg>,
}

/// One leg of an [`OptionChainSpread`]. `OptionType` is `Call` or `Put`;
/// `AssetType` e.g. `StockOption`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OptionLeg {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// A JSON integer; negative for a sold leg of a multi-leg spread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strike_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPREAD: &str = r#"{"Delta":"0.0497","Theta":"-0.0049","Gamma":"-0.0004","Rho":"0.0005","Vega":"-0.0001","ImpliedVolatility":"0.3118",
 "IntrinsicValue":"0","ExtrinsicValue":"0.3","TheoreticalValue":"0.2816","ProbabilityITM":"0.05","ProbabilityOTM":"0.95",
 "ProbabilityBE":"0.0479","StandardDeviation":"0.0245","DailyOpenInterest":1996,"Ask":"0.7","Bid":"0.1","Mid":"0.3",
 "AskSize":13,"BidSize":9,"Last":"0.44","Volume":144,"Side":"Put","Strikes":["332.5"],
 "Legs":[{"Symbol":"MSFT 211217P332.5","Ratio":1,"StrikePrice":"332.5","Expiration":"2021-12-17T00:00:00Z",
  "OptionType":"Put","AssetType":"StockOption"}]}"#;

    fn assert_round_trip<T: Serialize>(value: &T, json: &str) {
        let original: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_value(value).unwrap(), original);
    }

    #[test]
    fn spread_example_parses_and_round_trips() {
        let spread: OptionChainSpread = serde_json::from_str(SPREAD).unwrap();
        assert_eq!(spread.daily_open_interest, Some(1996));
        assert_eq!(spread.ask_size, Some(13));
        assert_eq!(spread.volume, Some(144));
        assert_eq!(spread.probability_itm.as_deref(), Some("0.05"));
        assert_eq!(spread.strikes, vec!["332.5".to_string()]);
        assert_eq!(spread.legs[0].symbol.as_deref(), Some("MSFT 211217P332.5"));
        assert_eq!(spread.legs[0].ratio, Some(1));
        assert_round_trip(&spread, SPREAD);
    }

    #[test]
    fn expirations_and_strikes_examples_parse_and_round_trip() {
        let json = r#"{"Expirations":[{"Date":"2021-12-17T00:00:00Z","Type":"Monthly"},{"Date":"2021-12-23T00:00:00Z","Type":"Weekly"}]}"#;
        let expirations: ExpirationsResponse = serde_json::from_str(json).unwrap();
        assert_eq!(expirations.expirations[1].kind.as_deref(), Some("Weekly"));
        assert_round_trip(&expirations, json);

        let json = r#"{"SpreadType":"Single","Strikes":[["145"],["150"],["155"]]}"#;
        let strikes: StrikesResponse = serde_json::from_str(json).unwrap();
        assert_eq!(strikes.strikes.len(), 3);
        assert_eq!(strikes.strikes[2], vec!["155".to_string()]);
        assert_round_trip(&strikes, json);

        let empty: StrikesResponse = serde_json::from_str("{}").unwrap();
        assert!(empty.strikes.is_empty());
    }
}
