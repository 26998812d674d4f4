//! Bar charts: `GET /v3/marketdata/barcharts/{symbol}` with `interval`,
//! `unit` (`Minute|Daily|Weekly|Monthly`), `barsback`, `firstdate`,
//! `lastdate`, `sessiontemplate`.
//!
//! Prices and `TotalVolume` are strings; the tick and volume split counts are
//! JSON numbers.

use serde::{Deserialize, Serialize};

/// One bar. `BarStatus` is `Open` or `Closed`; `Epoch` is Unix milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Bar {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_stamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_volume: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_ticks: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_volume: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_ticks: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_volume: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_ticks: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged_ticks: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged_volume: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_interest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_realtime: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_end_of_history: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bar_status: Option<String>,
}

/// `{"Bars":[…]}`, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BarsResponse {
    #[serde(default)]
    pub bars: Vec<Bar>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAR: &str = r#"{"High":"218.32","Low":"212.42","Open":"214.02","Close":"216.39","TimeStamp":"2020-11-04T21:00:00Z",
 "TotalVolume":"42311777","DownTicks":231021,"DownVolume":19575455,"UpTicks":229531,"UpVolume":22736321,
 "TotalTicks":460552,"UnchangedTicks":0,"UnchangedVolume":0,"OpenInterest":"0","IsRealtime":false,
 "IsEndOfHistory":false,"Epoch":1604523600000,"BarStatus":"Closed"}"#;

    #[test]
    fn bar_example_parses_and_round_trips() {
        let json = format!(r#"{{"Bars":[{BAR}]}}"#);
        let response: BarsResponse = serde_json::from_str(&json).unwrap();
        let bar = &response.bars[0];
        assert_eq!(bar.up_ticks, Some(229531));
        assert_eq!(bar.epoch, Some(1604523600000));
        assert_eq!(bar.time_stamp.as_deref(), Some("2020-11-04T21:00:00Z"));
        let original: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_value(&response).unwrap(), original);
    }
}
