//! Symbol details: `GET /v3/marketdata/symbols/{symbols}` (≤50 symbols).
//!
//! `PriceFormat` tells a client how to display a price (`Decimal`, or
//! `Fraction`/`SubFraction` for some futures, e.g. `125'29.7`).

use serde::{Deserialize, Serialize};

use super::quotes::SymbolError;

/// One symbol's static description. Futures add `FutureType` and `Underlying`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SymbolDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub future_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub underlying: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_format: Option<PriceFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity_format: Option<QuantityFormat>,
}

/// How prices of a symbol are written. All values are strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PriceFormat {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimals: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_fraction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub increment_style: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub increment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_value: Option<String>,
}

/// How quantities of a symbol are written. All values are strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QuantityFormat {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimals: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub increment_style: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub increment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_trade_quantity: Option<String>,
}

/// `{"Symbols":[…],"Errors":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SymbolsResponse {
    #[serde(default)]
    pub symbols: Vec<SymbolDetail>,
    #[serde(default)]
    pub errors: Vec<SymbolError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSFT: &str = r#"{"Symbol":"MSFT","Root":"MSFT","AssetType":"STOCK","Country":"United States","Currency":"USD",
 "Description":"Microsoft Corp","Exchange":"NASDAQ",
 "PriceFormat":{"Format":"Decimal","Decimals":"2","IncrementStyle":"Simple","Increment":"0.01","PointValue":"1"},
 "QuantityFormat":{"Format":"Decimal","Decimals":"0","IncrementStyle":"Simple","Increment":"1","MinimumTradeQuantity":"1"}}"#;

    #[test]
    fn symbol_detail_example_parses_and_round_trips() {
        let json = format!(r#"{{"Symbols":[{MSFT}],"Errors":[]}}"#);
        let response: SymbolsResponse = serde_json::from_str(&json).unwrap();
        let detail = &response.symbols[0];
        assert_eq!(detail.description.as_deref(), Some("Microsoft Corp"));
        let price = detail.price_format.as_ref().unwrap();
        assert_eq!(price.increment.as_deref(), Some("0.01"));
        let original: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_value(&response).unwrap(), original);
    }
}
