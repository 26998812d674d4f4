//! Trading through the backend against the built-in simulator: what a user
//! relies on when they confirm, place, cancel and replace orders in the
//! browser. Prices and the trading clock are pinned on the simulator, so
//! fills are deterministic; streams are read line by line under a deadline.

use crate::helpers::TestApp;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

/// 2026-01-01T12:00:00Z, a Thursday: the market is open and DAY orders live.
const NOON: i64 = 1_767_268_800_000;

/// A signed-in app in simulation mode with the trading clock at noon.
async fn trading_app() -> TestApp {
    let app = TestApp::spawn().await;
    app.sim().set_clock(NOON);
    let signed_in = app.sign_in().await;
    assert_eq!(signed_in.status(), 303, "signed in");
    app
}

/// The id of the signed-in user's account of `kind` (`Margin`, `Cash`, …),
/// as the accounts list shows it.
async fn account(app: &TestApp, kind: &str) -> String {
    let response = app.get("/api/ts/v3/brokerage/accounts").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["Accounts"]
        .as_array()
        .expect("an Accounts array")
        .iter()
        .find(|a| a["AccountType"] == kind)
        .and_then(|a| a["AccountID"].as_str())
        .unwrap_or_else(|| panic!("no {kind} account in {body}"))
        .to_owned()
}

fn order(account: &str, symbol: &str, qty: &str, action: &str, kind: &str) -> Value {
    json!({"AccountID": account, "Symbol": symbol, "Quantity": qty, "OrderType": kind,
           "TradeAction": action, "TimeInForce": {"Duration": "DAY"}, "Route": "Intelligent"})
}

/// The order with a fresh `OrderConfirmID` named after `tag`.
fn with_confirm_id(mut order: Value, tag: &str) -> Value {
    order["OrderConfirmID"] = json!(format!("trading-it-{tag}"));
    order
}

/// A state-changing order call as the SPA sends it.
async fn send(app: &TestApp, method: reqwest::Method, path: &str, body: Option<&Value>) -> Answer {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("X-CSRF", "1");
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap();
    Answer {
        status,
        replayed,
        text,
    }
}

struct Answer {
    status: u16,
    replayed: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

async fn place(app: &TestApp, body: &Value) -> Answer {
    send(
        app,
        reqwest::Method::POST,
        "/api/ts/v3/orderexecution/orders",
        Some(body),
    )
    .await
}

fn placed_id(answer: &Answer) -> String {
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["Orders"][0]["OrderID"]
        .as_str()
        .unwrap_or_else(|| panic!("no order placed: {}", answer.text))
        .to_owned()
}

/// The order `id` as `GET …/accounts/{account}/orders` lists it.
async fn listed_order(app: &TestApp, account: &str, id: &str) -> Value {
    let response = app
        .get(&format!("/api/ts/v3/brokerage/accounts/{account}/orders"))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["Orders"]
        .as_array()
        .expect("an Orders array")
        .iter()
        .find(|o| o["OrderID"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("order {id} not listed: {body}"))
}

type Body =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// An open stream through the backend, read line by line.
struct Lines {
    body: Body,
    pending: String,
}

impl Lines {
    async fn open(app: &TestApp, path: &str) -> Self {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .contains("vnd.tradestation.streams"),
            "a TradeStation stream"
        );
        Self {
            body: Box::pin(response.bytes_stream()),
            pending: String::new(),
        }
    }

    /// Reads JSON lines until one satisfies `wanted`, for at most 10 s.
    async fn until(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            while let Some(end) = self.pending.find('\n') {
                let line: String = self.pending.drain(..=end).collect();
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let value: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("stream line not JSON ({e}): {line}"));
                if wanted(&value) {
                    return value;
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("{what} within 10 s"))
                .expect("the stream is open")
                .unwrap();
            self.pending.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

#[tokio::test]
async fn a_confirmed_order_is_placed_and_shows_in_the_order_list_and_the_order_stream() {
    let app = trading_app().await;
    let margin = account(&app, "Margin").await;
    app.sim().set_price("AAPL", 200.0);
    let mut stream = Lines::open(
        &app,
        &format!("/api/ts/v3/brokerage/stream/accounts/{margin}/orders"),
    )
    .await;
    stream
        .until("the end of the snapshot", |v| {
            v["StreamStatus"] == "EndSnapshot"
        })
        .await;

    let mut request = order(&margin, "AAPL", "10", "BUY", "Market");
    let confirm = send(
        &app,
        reqwest::Method::POST,
        "/api/ts/v3/orderexecution/orderconfirm",
        Some(&request),
    )
    .await;
    assert_eq!(confirm.status, 200, "{}", confirm.text);
    let confirmation = &confirm.json()["Confirmations"][0];
    assert_eq!(confirmation["SummaryMessage"], "Buy 10 AAPL @ Market");
    let confirm_id = confirmation["OrderConfirmID"]
        .as_str()
        .expect("the preview names an OrderConfirmID")
        .to_owned();

    request["OrderConfirmID"] = json!(confirm_id);
    let id = placed_id(&place(&app, &request).await);

    let listed = listed_order(&app, &margin, &id).await;
    assert_eq!(listed["Status"], "FLL", "a market buy fills at once");
    assert_eq!(listed["Legs"][0]["Symbol"], "AAPL");
    let streamed = stream
        .until("the placed order on the order stream", |v| {
            v["OrderID"] == id.as_str()
        })
        .await;
    assert_eq!(streamed["AccountID"], margin.as_str());
}

#[tokio::test]
async fn a_resting_limit_buy_fills_when_the_price_drops_below_it_and_the_position_streams() {
    let app = trading_app().await;
    let margin = account(&app, "Margin").await;
    app.sim().set_price("AMD", 150.0);
    let mut request = with_confirm_id(order(&margin, "AMD", "20", "BUY", "Limit"), "limit");
    request["LimitPrice"] = json!("140");
    let id = placed_id(&place(&app, &request).await);
    assert_eq!(listed_order(&app, &margin, &id).await["Status"], "OPN");

    let mut positions = Lines::open(
        &app,
        &format!("/api/ts/v3/brokerage/stream/accounts/{margin}/positions?changes=true"),
    )
    .await;
    positions
        .until("the end of the snapshot", |v| {
            v["StreamStatus"] == "EndSnapshot"
        })
        .await;
    app.sim().set_price("AMD", 139.5);

    let filled = listed_order(&app, &margin, &id).await;
    assert_eq!(filled["Status"], "FLL", "{filled}");
    assert_eq!(filled["FilledPrice"], "139.51", "filled at the ask");
    let position = positions
        .until("the new AMD position on the position stream", |v| {
            v["Symbol"] == "AMD"
        })
        .await;
    assert_eq!(position["Quantity"], "20");
    assert_eq!(position["LongShort"], "Long");
    assert_eq!(position["AccountID"], margin.as_str());
}

#[tokio::test]
async fn cancelling_a_filled_order_or_replacing_a_cancelled_one_answers_tradestations_refusal() {
    let app = trading_app().await;
    let margin = account(&app, "Margin").await;
    app.sim().set_price("AMD", 150.0);
    let filled = placed_id(
        &place(
            &app,
            &with_confirm_id(order(&margin, "AMD", "1", "BUY", "Market"), "filled"),
        )
        .await,
    );
    assert_eq!(listed_order(&app, &margin, &filled).await["Status"], "FLL");
    let cancel = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/ts/v3/orderexecution/orders/{filled}"),
        None,
    )
    .await;
    assert_eq!(cancel.status, 400, "the simulator's status");
    assert_eq!(
        cancel.json(),
        json!({"Error": "BadRequest", "Message": "Not an open order."})
    );

    let mut resting = with_confirm_id(order(&margin, "AMD", "5", "BUY", "Limit"), "resting");
    resting["LimitPrice"] = json!("100");
    let resting = placed_id(&place(&app, &resting).await);
    let path = format!("/api/ts/v3/orderexecution/orders/{resting}");
    let cancelled = send(&app, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(
        cancelled.json(),
        json!({"OrderID": resting, "Message": "Cancel request sent"})
    );
    assert_eq!(listed_order(&app, &margin, &resting).await["Status"], "CAN");

    let replace = send(
        &app,
        reqwest::Method::PUT,
        &path,
        Some(&json!({"Quantity": "7", "LimitPrice": "101"})),
    )
    .await;
    assert_eq!(replace.status, 400, "{}", replace.text);
    assert_eq!(
        replace.json(),
        json!({"Error": "BadRequest", "Message": "Failed to Cancel/Replace order: Not an open order."})
    );
    assert_eq!(listed_order(&app, &margin, &resting).await["Status"], "CAN");
}

#[tokio::test]
async fn an_order_beyond_buying_power_is_refused_inside_a_200_as_tradestation_sends_it() {
    let app = trading_app().await;
    let cash = account(&app, "Cash").await;
    app.sim().set_price("MSFT", 400.0);
    let before = app.sim().stats();
    let answer = place(
        &app,
        &with_confirm_id(order(&cash, "MSFT", "1000", "BUY", "Market"), "too-big"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    let error = &body["Errors"][0];
    assert_eq!(error["Error"], "FAILED");
    let message = error["Message"].as_str().expect("a message");
    assert!(
        message.starts_with("Order failed. Reason: Insufficient buying power."),
        "{message}"
    );
    let id = error["OrderID"].as_str().expect("the rejected order's id");
    assert_eq!(listed_order(&app, &cash, id).await["Status"], "REJ");
    let delta = app.sim().stats().since(&before);
    assert_eq!((delta.orders_placed, delta.orders_rejected), (0, 1));
}

#[tokio::test]
async fn selling_more_than_the_long_position_is_refused_with_tradestations_ec60x_message() {
    let app = trading_app().await;
    let margin = account(&app, "Margin").await;
    let answer = place(
        &app,
        &with_confirm_id(order(&margin, "MSFT", "150", "SELL", "Market"), "flip"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json()["Errors"][0]["Message"],
        "Order failed. Reason: [EC601,EC602,EC701,EC702]: You are long 100 shares"
    );
    let response = app
        .get(&format!("/api/ts/v3/brokerage/accounts/{margin}/positions"))
        .await;
    let positions: Value = response.json().await.unwrap();
    let msft = positions["Positions"]
        .as_array()
        .expect("a Positions array")
        .iter()
        .find(|p| p["Symbol"] == "MSFT")
        .cloned()
        .expect("the MSFT position stays");
    assert_eq!(msft["Quantity"], "100");
}

#[tokio::test]
async fn in_an_oco_group_placed_through_the_backend_one_fill_cancels_the_other() {
    let app = trading_app().await;
    let margin = account(&app, "Margin").await;
    app.sim().set_price("MSFT", 400.0);
    let mut target = with_confirm_id(order(&margin, "MSFT", "10", "SELL", "Limit"), "target");
    target["LimitPrice"] = json!("450");
    let mut stop = with_confirm_id(order(&margin, "MSFT", "10", "SELL", "StopMarket"), "stop");
    stop["StopPrice"] = json!("380");
    let answer = send(
        &app,
        reqwest::Method::POST,
        "/api/ts/v3/orderexecution/ordergroups",
        Some(&json!({"Type": "OCO", "Orders": [target, stop]})),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let ids: Vec<String> = answer.json()["Orders"]
        .as_array()
        .expect("an Orders array")
        .iter()
        .map(|o| o["OrderID"].as_str().expect("an OrderID").to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{}", answer.text);
    assert_eq!(
        listed_order(&app, &margin, &ids[0]).await["ConditionalOrders"],
        json!([{"Relationship": "OCO", "OrderID": ids[1]}])
    );

    app.sim().set_price("MSFT", 451.0);
    assert_eq!(listed_order(&app, &margin, &ids[0]).await["Status"], "FLL");
    assert_eq!(listed_order(&app, &margin, &ids[1]).await["Status"], "CAN");
}

#[tokio::test]
async fn the_same_order_confirm_id_twice_places_once_and_replays_the_first_answer() {
    let app = trading_app().await;
    let margin = account(&app, "Margin").await;
    app.sim().set_price("AMD", 150.0);
    let request = with_confirm_id(order(&margin, "AMD", "3", "BUY", "Market"), "twice");
    let before = app.sim().stats();
    let first = place(&app, &request).await;
    let id = placed_id(&first);
    assert_ne!(
        first.replayed.as_deref(),
        Some("true"),
        "the first answer is not a replay"
    );
    let second = place(&app, &request).await;
    assert_eq!(second.status, first.status);
    assert_eq!(second.replayed.as_deref(), Some("true"));
    assert_eq!(second.text, first.text, "the same body");
    let delta = app.sim().stats().since(&before);
    assert_eq!(delta.order_requests, 1, "one placement at TradeStation");
    assert_eq!(delta.orders_placed, 1);
    assert_eq!(
        listed_order(&app, &margin, &id).await["Legs"][0]["ExecQuantity"],
        "3"
    );
}

#[tokio::test]
async fn symbol_suggestions_come_through_as_the_simulators_array() {
    let app = trading_app().await;
    let response = app.get("/api/ts/v2/data/symbols/suggest/MS").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let list = body.as_array().expect("a bare array, as TradeStation's v2");
    assert!(!list.is_empty());
    assert_eq!(list[0]["Name"], "MSFT");
    assert_eq!(list[0]["Category"], "Stock");
    for symbol in list {
        let name = symbol["Name"].as_str().expect("a Name");
        let description = symbol["Description"].as_str().unwrap_or_default();
        assert!(
            name.trim_start_matches('@').starts_with("MS")
                || description.to_ascii_uppercase().contains("MS"),
            "{symbol}"
        );
    }
}
