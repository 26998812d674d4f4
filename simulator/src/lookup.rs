//! TradeStation's symbol look-up (v2 endpoints, still served beside v3):
//! `GET /v2/data/symbols/suggest/{text}?$top=` and
//! `GET /v2/data/symbols/search/{criteria}` with criteria such as
//! `N=MS&C=Stock`, both answering a JSON array of symbol objects built from
//! the simulator's listed instruments. Their errors are v2's
//! `{"TraceId","StatusCode","Message"}`.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::calendar;
use super::data::TsPath;
use super::market::{AssetClass, Instrument};
use super::num::fnv;
use super::{Params, Simulator};

/// Answers per call when `$top` is absent, and at most.
const DEFAULT_TOP: usize = 10;
const MAX_TOP: usize = 100;

fn v2_error(status: StatusCode, message: &str) -> Response {
    let trace = format!("{:016x}", fnv(message) ^ calendar::now_micros());
    (
        status,
        Json(json!({"TraceId": trace, "StatusCode": status.as_u16(), "Message": message})),
    )
        .into_response()
}

fn category(inst: &Instrument) -> &'static str {
    match inst.class {
        AssetClass::Stock => "Stock",
        AssetClass::Index => "Index",
        AssetClass::Future => "Future",
        AssetClass::Option => "StockOption",
    }
}

/// One symbol as v2 writes it: numbers as numbers, absent text as `""`.
fn symbol_object(inst: &Instrument, now_ms: i64) -> Value {
    let decimals: i32 = if inst.tick >= 0.1 && inst.tick < 0.25 {
        1
    } else {
        2
    };
    let min_move = (inst.tick * 10f64.powi(decimals)).round();
    let root = match inst.class {
        AssetClass::Future => inst
            .symbol
            .trim_start_matches('@')
            .chars()
            .take(2)
            .collect(),
        _ => inst.symbol.clone(),
    };
    let expiration = match inst.class {
        AssetClass::Future if !inst.symbol.starts_with('@') => {
            calendar::date_rfc3339(super::market::Market::front_future_expiry(now_ms))
        }
        _ => String::new(),
    };
    json!({
        "Name": inst.symbol,
        "Description": inst.description,
        "Category": category(inst),
        "Exchange": inst.exchange,
        "Country": "US",
        "Currency": "USD",
        "DisplayType": decimals + 1,
        "MinMove": min_move,
        "PointValue": inst.point_value,
        "Root": root,
        "ExpirationDate": expiration,
        "StrikePrice": 0,
        "OptionType": "",
        "Underlying": if inst.class == AssetClass::Future { root.clone() } else { String::new() },
        "FutureType": if inst.class == AssetClass::Future { "Electronic" } else { "" },
        "Error": Value::Null,
    })
}

fn top(params: &Params) -> Result<usize, Box<Response>> {
    match params.get_ci("$top") {
        None => Ok(DEFAULT_TOP),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_TOP).contains(&n) => Ok(n),
            _ => Err(Box::new(v2_error(
                StatusCode::BAD_REQUEST,
                "$top must be a number from 1 to 100.",
            ))),
        },
    }
}

/// `GET /v2/data/symbols/suggest/{text}?$top=`: names starting with the
/// text first, then descriptions containing it.
pub(super) async fn suggest(
    State(sim): State<Simulator>,
    TsPath(text): TsPath,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""));
    let top = match top(&params) {
        Ok(top) => top,
        Err(response) => return *response,
    };
    let needle = text.trim().to_ascii_uppercase();
    if needle.is_empty() || needle.len() > 50 {
        return v2_error(
            StatusCode::BAD_REQUEST,
            "The text to suggest from must be 1 to 50 characters.",
        );
    }
    let now = calendar::now_ms();
    let listed = sim.market().listed(now);
    let by_name = listed.iter().filter(|i| {
        i.symbol
            .trim_start_matches('@')
            .starts_with(needle.trim_start_matches('@'))
    });
    let by_description = listed.iter().filter(|i| {
        !i.symbol
            .trim_start_matches('@')
            .starts_with(needle.trim_start_matches('@'))
            && i.description.to_ascii_uppercase().contains(&needle)
    });
    let found: Vec<Value> = by_name
        .chain(by_description)
        .take(top)
        .map(|i| symbol_object(i, now))
        .collect();
    Json(found).into_response()
}

/// `GET /v2/data/symbols/search/{criteria}`: `N` name prefix, `C` category
/// (`Stock`, `Index`, `Future`), `D` description words, `E` exchange.
pub(super) async fn search(State(sim): State<Simulator>, TsPath(criteria): TsPath) -> Response {
    let params = Params::parse(&criteria);
    if params.0.is_empty() {
        return v2_error(
            StatusCode::BAD_REQUEST,
            "Search criteria such as N=MSFT&C=Stock are required.",
        );
    }
    if let Some((key, _)) = params
        .0
        .iter()
        .find(|(k, _)| !matches!(k.to_ascii_uppercase().as_str(), "N" | "C" | "D" | "E"))
    {
        return v2_error(
            StatusCode::BAD_REQUEST,
            &format!("Unknown search criterion {key}."),
        );
    }
    let value = |key: &str| params.get_ci(key).map(|v| v.trim().to_ascii_uppercase());
    let (name, cat, description, exchange) = (value("N"), value("C"), value("D"), value("E"));
    let now = calendar::now_ms();
    let found: Vec<Value> = sim
        .market()
        .listed(now)
        .iter()
        .filter(|i| {
            name.as_ref().is_none_or(|n| {
                i.symbol
                    .trim_start_matches('@')
                    .starts_with(n.trim_start_matches('@'))
            })
        })
        .filter(|i| {
            cat.as_ref()
                .is_none_or(|c| category(i).eq_ignore_ascii_case(c))
        })
        .filter(|i| {
            description
                .as_ref()
                .is_none_or(|d| i.description.to_ascii_uppercase().contains(d.as_str()))
        })
        .filter(|i| {
            exchange
                .as_ref()
                .is_none_or(|e| i.exchange.eq_ignore_ascii_case(e))
        })
        .map(|i| symbol_object(i, now))
        .collect();
    Json(found).into_response()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{get, sign_in, simulator};
    use axum::http::StatusCode;

    #[tokio::test]
    async fn suggest_and_search_find_listed_symbols() {
        let sim = simulator(|_| {});
        let token = sign_in(&sim, "trader").await.access;
        let answer = get(&sim, "/v2/data/symbols/suggest/MS?$top=5", Some(&token)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let list = answer.json();
        assert_eq!(list[0]["Name"], "MSFT");
        assert_eq!(list[0]["Category"], "Stock");
        assert_eq!(list[0]["Root"], "MSFT");
        assert_eq!(list[0]["PointValue"], 1.0);
        let answer = get(&sim, "/v2/data/symbols/search/N=MS&C=Stock", Some(&token)).await;
        let names: Vec<String> = answer
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["MSFT"]);
        let futures = get(&sim, "/v2/data/symbols/search/C=Future&N=ES", Some(&token))
            .await
            .json();
        assert!(
            futures
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["Root"] == "ES" && s["PointValue"] == 50.0)
        );
        assert_eq!(futures.as_array().unwrap().len(), 2, "{futures}");
        let description = get(&sim, "/v2/data/symbols/suggest/apple", Some(&token))
            .await
            .json();
        assert_eq!(description[0]["Name"], "AAPL");
        let bad = get(&sim, "/v2/data/symbols/search/Q=1", Some(&token)).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad.json()["StatusCode"], 400);
        let bad_top = get(&sim, "/v2/data/symbols/suggest/MS?$top=0", Some(&token)).await;
        assert_eq!(bad_top.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            get(&sim, "/v2/data/symbols/suggest/MS", None).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}
