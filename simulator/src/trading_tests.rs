//! Trading against the simulator through its router: confirm, place, fills
//! at the touch, resting orders, cancel and replace with TradeStation's
//! messages, refusals inside a 200, groups, options and DAY expiry. Prices
//! and time are pinned ([`Simulator::set_price`], [`Simulator::set_clock`]),
//! so every fill is deterministic.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use super::Simulator;
use super::brokerage::accounts_of;
use super::test_support::{Answer, get, send, sign_in, simulator};

/// 2026-01-01T12:00:00Z, a Thursday.
pub(super) const NOON: i64 = 1_767_268_800_000;

pub(super) async fn call(
    sim: &Simulator,
    method: Method,
    uri: &str,
    token: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    send(sim, request.body(body).unwrap()).await
}

/// The user's Margin, Cash and Futures account ids.
pub(super) fn account(user: &str, index: usize) -> String {
    accounts_of(user)[index].id.clone()
}

pub(super) fn order(account: &str, symbol: &str, qty: &str, action: &str, kind: &str) -> Value {
    json!({"AccountID": account, "Symbol": symbol, "Quantity": qty, "OrderType": kind,
           "TradeAction": action, "TimeInForce": {"Duration": "DAY"}, "Route": "Intelligent"})
}

pub(super) async fn place(sim: &Simulator, token: &str, body: Value) -> Answer {
    call(
        sim,
        Method::POST,
        "/v3/orderexecution/orders",
        token,
        Some(body),
    )
    .await
}

/// A pinned simulator at noon with `user` signed in.
pub(super) async fn trading(
    user: &str,
    tune: impl FnOnce(&mut super::SimConfig),
) -> (Simulator, String) {
    let sim = simulator(tune);
    sim.set_clock(NOON);
    let token = sign_in(&sim, user).await.access;
    (sim, token)
}

async fn order_status(sim: &Simulator, token: &str, account: &str, id: &str) -> Value {
    let answer = get(
        sim,
        &format!("/v3/brokerage/accounts/{account}/orders"),
        Some(token),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.json()["Orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["OrderID"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("order {id} not listed: {}", answer.text()))
}

async fn position(sim: &Simulator, token: &str, account: &str, symbol: &str) -> Option<Value> {
    let answer = get(
        sim,
        &format!("/v3/brokerage/accounts/{account}/positions"),
        Some(token),
    )
    .await;
    answer.json()["Positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Symbol"] == symbol)
        .cloned()
}

fn placed_id(answer: &Answer) -> String {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()["Orders"][0]["OrderID"]
        .as_str()
        .unwrap_or_else(|| panic!("no order placed: {}", answer.text()))
        .to_owned()
}

#[tokio::test]
async fn a_confirmed_market_buy_fills_at_the_ask_and_shows_in_orders_positions_and_balances() {
    let (sim, token) = trading("trader", |_| {}).await;
    let margin = account("trader", 0);
    sim.set_price("AAPL", 200.0);
    let request = order(&margin, "AAPL", "10", "BUY", "Market");

    let confirm = call(
        &sim,
        Method::POST,
        "/v3/orderexecution/orderconfirm",
        &token,
        Some(request.clone()),
    )
    .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.text());
    let c = &confirm.json()["Confirmations"][0];
    assert_eq!(c["SummaryMessage"], "Buy 10 AAPL @ Market");
    assert_eq!(c["EstimatedPrice"], "200.02");
    assert_eq!(c["EstimatedCost"], "2000.2");
    assert_eq!(c["OrderAssetCategory"], "EQUITY");
    assert!(c["OrderConfirmID"].is_string());
    assert_eq!(
        sim.stats().orders_placed,
        0,
        "a confirmation places nothing"
    );

    let before = get(
        &sim,
        &format!("/v3/brokerage/accounts/{margin}/balances"),
        Some(&token),
    )
    .await
    .json();
    let answer = place(&sim, &token, request).await;
    let id = placed_id(&answer);
    assert_eq!(
        answer.json()["Orders"][0]["Message"],
        "Sent order: Buy 10 AAPL @ Market"
    );
    let listed = order_status(&sim, &token, &margin, &id).await;
    assert_eq!(listed["Status"], "FLL");
    assert_eq!(listed["FilledPrice"], "200.02");
    assert_eq!(listed["Legs"][0]["ExecQuantity"], "10");
    let held = position(&sim, &token, &margin, "AAPL")
        .await
        .expect("a new position");
    assert_eq!(held["Quantity"], "10");
    assert_eq!(held["LongShort"], "Long");
    assert_eq!(held["AveragePrice"], "200.02");
    let after = get(
        &sim,
        &format!("/v3/brokerage/accounts/{margin}/balances"),
        Some(&token),
    )
    .await
    .json();
    let cash = |b: &Value| {
        b["Balances"][0]["CashBalance"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert!((cash(&before) - cash(&after) - 2000.2).abs() < 0.011);
    let stats = sim.stats();
    assert_eq!(
        (
            stats.order_requests,
            stats.orders_placed,
            stats.orders_filled
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn closing_a_position_deletes_it_and_books_the_realized_profit() {
    let (sim, token) = trading("trader", |_| {}).await;
    let margin = account("trader", 0);
    sim.set_price("AAPL", 200.0);
    placed_id(&place(&sim, &token, order(&margin, "AAPL", "10", "BUY", "Market")).await);
    sim.set_price("AAPL", 210.0);
    placed_id(&place(&sim, &token, order(&margin, "AAPL", "10", "SELL", "Market")).await);
    assert!(position(&sim, &token, &margin, "AAPL").await.is_none());
    let balance = get(
        &sim,
        &format!("/v3/brokerage/accounts/{margin}/balances"),
        Some(&token),
    )
    .await
    .json();
    // Bought at the ask 200.02, sold at the bid 209.98.
    assert_eq!(
        balance["Balances"][0]["BalanceDetail"]["RealizedProfitLoss"],
        "99.6"
    );
}

#[tokio::test]
async fn a_limit_order_rests_until_the_price_crosses_then_fills_at_the_touch() {
    let (sim, token) = trading("trader", |_| {}).await;
    let margin = account("trader", 0);
    sim.set_price("AMD", 150.0);
    let mut request = order(&margin, "AMD", "20", "BUY", "Limit");
    request["LimitPrice"] = json!("140");
    let id = placed_id(&place(&sim, &token, request).await);
    assert_eq!(
        order_status(&sim, &token, &margin, &id).await["Status"],
        "OPN"
    );
    sim.set_price("AMD", 141.0);
    assert_eq!(
        order_status(&sim, &token, &margin, &id).await["Status"],
        "OPN",
        "ask 141.01 is above 140"
    );
    sim.set_price("AMD", 139.5);
    let filled = order_status(&sim, &token, &margin, &id).await;
    assert_eq!(filled["Status"], "FLL");
    assert_eq!(filled["FilledPrice"], "139.51");
    assert_eq!(
        position(&sim, &token, &margin, "AMD").await.unwrap()["Quantity"],
        "20"
    );
}

#[tokio::test]
async fn stop_and_stop_limit_orders_trigger_when_the_price_crosses() {
    let (sim, token) = trading("trader", |_| {}).await;
    let margin = account("trader", 0);
    sim.set_price("MSFT", 400.0);
    let mut stop = order(&margin, "MSFT", "10", "SELL", "StopMarket");
    stop["StopPrice"] = json!("390");
    let stop_id = placed_id(&place(&sim, &token, stop).await);
    let mut stop_limit = order(&margin, "MSFT", "10", "SELL", "StopLimit");
    stop_limit["StopPrice"] = json!("385");
    stop_limit["LimitPrice"] = json!("386");
    let stop_limit_id = placed_id(&place(&sim, &token, stop_limit).await);
    sim.set_price("MSFT", 389.0);
    assert_eq!(
        order_status(&sim, &token, &margin, &stop_id).await["Status"],
        "FLL"
    );
    assert_eq!(
        order_status(&sim, &token, &margin, &stop_limit_id).await["Status"],
        "OPN"
    );
    // Triggered at 384 (below its limit, so it waits) and fills on the way back up.
    sim.set_price("MSFT", 384.0);
    assert_eq!(
        order_status(&sim, &token, &margin, &stop_limit_id).await["Status"],
        "OPN"
    );
    sim.set_price("MSFT", 386.5);
    let filled = order_status(&sim, &token, &margin, &stop_limit_id).await;
    assert_eq!(filled["Status"], "FLL", "{filled}");
    assert_eq!(
        position(&sim, &token, &margin, "MSFT").await.unwrap()["Quantity"],
        "80"
    );
}

#[tokio::test]
async fn cancel_and_replace_answer_with_tradestations_messages() {
    let (sim, token) = trading("trader", |_| {}).await;
    let margin = account("trader", 0);
    sim.set_price("AMD", 150.0);
    let mut request = order(&margin, "AMD", "5", "BUY", "Limit");
    request["LimitPrice"] = json!("100");
    let id = placed_id(&place(&sim, &token, request).await);
    let uri = format!("/v3/orderexecution/orders/{id}");

    let replaced = call(
        &sim,
        Method::PUT,
        &uri,
        &token,
        Some(json!({"Quantity": "7", "LimitPrice": "101"})),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text());
    assert_eq!(
        replaced.json(),
        json!({"OrderID": id, "Message": "Cancel/Replace order sent."})
    );
    let listed = order_status(&sim, &token, &margin, &id).await;
    assert_eq!(
        (
            listed["LimitPrice"].as_str(),
            listed["Legs"][0]["QuantityOrdered"].as_str()
        ),
        (Some("101"), Some("7"))
    );

    let canceled = call(&sim, Method::DELETE, &uri, &token, None).await;
    assert_eq!(
        canceled.json(),
        json!({"OrderID": id, "Message": "Cancel request sent"})
    );
    assert_eq!(
        order_status(&sim, &token, &margin, &id).await["Status"],
        "CAN"
    );

    let again = call(&sim, Method::DELETE, &uri, &token, None).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.json()["Message"], "Not an open order.");
    let replace_closed = call(
        &sim,
        Method::PUT,
        &uri,
        &token,
        Some(json!({"Quantity": "3"})),
    )
    .await;
    assert_eq!(
        replace_closed.json()["Message"],
        "Failed to Cancel/Replace order: Not an open order."
    );
    let unknown = call(
        &sim,
        Method::DELETE,
        "/v3/orderexecution/orders/12345",
        &token,
        None,
    )
    .await;
    assert_eq!(unknown.json()["Message"], "Invalid order ID.");
    let dashed = call(
        &sim,
        Method::DELETE,
        "/v3/orderexecution/orders/1-2",
        &token,
        None,
    )
    .await;
    assert_eq!(dashed.json()["Message"], "Invalid order ID.");

    // A filled order cannot be replaced either.
    let filled = placed_id(&place(&sim, &token, order(&margin, "AMD", "1", "BUY", "Market")).await);
    let answer = call(
        &sim,
        Method::PUT,
        &format!("/v3/orderexecution/orders/{filled}"),
        &token,
        Some(json!({"Quantity": "2"})),
    )
    .await;
    assert_eq!(
        answer.json()["Message"],
        "Failed to Cancel/Replace order: Not an open order."
    );
}

#[tokio::test]
async fn without_instant_fills_a_replace_after_a_cancel_is_refused_and_the_cancel_lands_at_the_next_step()
 {
    let (sim, token) = trading("trader", |c| c.instant_fills = false).await;
    let margin = account("trader", 0);
    sim.set_price("AMD", 150.0);
    let market = placed_id(&place(&sim, &token, order(&margin, "AMD", "1", "BUY", "Market")).await);
    assert_eq!(
        order_status(&sim, &token, &margin, &market).await["Status"],
        "ACK"
    );
    let mut request = order(&margin, "AMD", "5", "BUY", "Limit");
    request["LimitPrice"] = json!("100");
    let id = placed_id(&place(&sim, &token, request).await);
    let uri = format!("/v3/orderexecution/orders/{id}");
    assert_eq!(
        call(&sim, Method::DELETE, &uri, &token, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        order_status(&sim, &token, &margin, &id).await["Status"],
        "UCN"
    );
    let replace = call(
        &sim,
        Method::PUT,
        &uri,
        &token,
        Some(json!({"Quantity": "3"})),
    )
    .await;
    assert_eq!(replace.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        replace.json()["Message"],
        "Cancel/Replace not allowed after cancel has been attempted"
    );
    sim.advance_clock(std::time::Duration::from_secs(1));
    assert_eq!(
        order_status(&sim, &token, &margin, &id).await["Status"],
        "CAN"
    );
    assert_eq!(
        order_status(&sim, &token, &margin, &market).await["Status"],
        "FLL"
    );
}

#[tokio::test]
async fn an_order_beyond_buying_power_is_refused_inside_a_200() {
    let (sim, token) = trading("trader", |_| {}).await;
    let cash = account("trader", 1);
    sim.set_price("MSFT", 400.0);
    let answer = place(&sim, &token, order(&cash, "MSFT", "1000", "BUY", "Market")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let error = &answer.json()["Errors"][0];
    assert_eq!(error["Error"], "FAILED");
    let message = error["Message"].as_str().unwrap();
    assert!(
        message.starts_with("Order failed. Reason: Insufficient buying power."),
        "{message}"
    );
    let id = error["OrderID"].as_str().unwrap().to_owned();
    assert_eq!(
        order_status(&sim, &token, &cash, &id).await["Status"],
        "REJ"
    );
    assert!(position(&sim, &token, &cash, "MSFT").await.is_none());
    assert_eq!(
        (sim.stats().orders_placed, sim.stats().orders_rejected),
        (0, 1)
    );
}

#[tokio::test]
async fn a_long_position_cannot_be_flipped_short_in_one_order() {
    let (sim, token) = trading("trader", |_| {}).await;
    let margin = account("trader", 0);
    for (qty, action) in [("10", "SELLSHORT"), ("150", "SELL")] {
        let answer = place(&sim, &token, order(&margin, "MSFT", qty, action, "Market")).await;
        assert_eq!(
            answer.json()["Errors"][0]["Message"],
            "Order failed. Reason: [EC601,EC602,EC701,EC702]: You are long 100 shares",
            "{action}"
        );
    }
    // Short TSLA 25: buying more than that is refused too.
    let answer = place(
        &sim,
        &token,
        order(&margin, "TSLA", "30", "BUYTOCOVER", "Market"),
    )
    .await;
    assert_eq!(
        answer.json()["Errors"][0]["Message"],
        "Order failed. Reason: [EC601,EC602,EC701,EC702]: You are short 25 shares"
    );
    assert_eq!(
        position(&sim, &token, &margin, "MSFT").await.unwrap()["Quantity"],
        "100"
    );
}

#[tokio::test]
async fn an_order_confirm_id_is_accepted_once() {
    let (sim, token) = trading("trader", |_| {}).await;
    let margin = account("trader", 0);
    let mut request = order(&margin, "AMD", "1", "BUY", "Market");
    request["OrderConfirmID"] = json!("confirm-1");
    placed_id(&place(&sim, &token, request.clone()).await);
    let again = place(&sim, &token, request).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.json()["Errors"][0]["Message"],
        "Order failed. Reason: Duplicate OrderConfirmID."
    );
    assert!(again.json()["Errors"][0].get("OrderID").is_none());
    assert_eq!(
        position(&sim, &token, &margin, "AMD").await.unwrap()["Quantity"],
        "1"
    );
    // Another user may use the same id.
    let other = sign_in(&sim, "someone").await.access;
    let mut theirs = order(&account("someone", 0), "AMD", "1", "BUY", "Market");
    theirs["OrderConfirmID"] = json!("confirm-1");
    placed_id(&place(&sim, &other, theirs).await);
    assert_eq!(sim.stats().order_requests, 3);
}

#[tokio::test]
async fn in_an_oco_group_one_fill_cancels_the_other() {
    let (sim, token) = trading("trader", |_| {}).await;
    let margin = account("trader", 0);
    sim.set_price("MSFT", 400.0);
    let mut target = order(&margin, "MSFT", "10", "SELL", "Limit");
    target["LimitPrice"] = json!("450");
    let mut stop = order(&margin, "MSFT", "10", "SELL", "StopMarket");
    stop["StopPrice"] = json!("380");
    for (kind, uri) in [
        ("OCO", "/v3/orderexecution/ordergroupconfirm"),
        ("OCO", "/v3/orderexecution/ordergroups"),
    ] {
        let answer = call(
            &sim,
            Method::POST,
            uri,
            &token,
            Some(json!({"Type": kind, "Orders": [target, stop]})),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        if uri.ends_with("confirm") {
            assert_eq!(answer.json()["Confirmations"].as_array().unwrap().len(), 2);
            continue;
        }
        let ids: Vec<String> = answer.json()["Orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["OrderID"].as_str().unwrap().to_owned())
            .collect();
        let listed = order_status(&sim, &token, &margin, &ids[0]).await;
        assert_eq!(
            listed["ConditionalOrders"],
            json!([{"Relationship": "OCO", "OrderID": ids[1]}])
        );
        sim.set_price("MSFT", 451.0);
        assert_eq!(
            order_status(&sim, &token, &margin, &ids[0]).await["Status"],
            "FLL"
        );
        assert_eq!(
            order_status(&sim, &token, &margin, &ids[1]).await["Status"],
            "CAN"
        );
    }
    assert_eq!(
        position(&sim, &token, &margin, "MSFT").await.unwrap()["Quantity"],
        "90"
    );
}

#[tokio::test]
async fn a_bracket_closes_one_position_and_a_mixed_bracket_is_refused() {
    let (sim, token) = trading("trader", |_| {}).await;
    let margin = account("trader", 0);
    sim.set_price("NVDA", 120.0);
    let mut target = order(&margin, "NVDA", "200", "SELL", "Limit");
    target["LimitPrice"] = json!("130");
    let mut stop = order(&margin, "NVDA", "200", "SELL", "StopMarket");
    stop["StopPrice"] = json!("110");
    let answer = call(
        &sim,
        Method::POST,
        "/v3/orderexecution/ordergroups",
        &token,
        Some(json!({"Type": "BRK", "Orders": [target.clone(), stop]})),
    )
    .await;
    let ids: Vec<String> = answer.json()["Orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["OrderID"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{}", answer.text());
    sim.set_price("NVDA", 109.0);
    assert_eq!(
        order_status(&sim, &token, &margin, &ids[1]).await["Status"],
        "FLL"
    );
    assert_eq!(
        order_status(&sim, &token, &margin, &ids[0]).await["Status"],
        "CAN"
    );
    assert!(
        position(&sim, &token, &margin, "NVDA").await.is_none(),
        "the position is closed"
    );

    let opening = order(&margin, "NVDA", "10", "BUY", "Market");
    let answer = call(
        &sim,
        Method::POST,
        "/v3/orderexecution/ordergroups",
        &token,
        Some(json!({"Type": "BRK", "Orders": [target, opening]})),
    )
    .await;
    assert_eq!(
        answer.json()["Errors"][0]["Error"],
        "FAILED",
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn an_option_order_on_a_chain_symbol_moves_cash_by_the_multiplier() {
    let (sim, token) = trading("trader", |_| {}).await;
    let margin = account("trader", 0);
    let symbol = "MSFT 261218C450";
    sim.set_price(symbol, 12.5);
    let confirm = call(
        &sim,
        Method::POST,
        "/v3/orderexecution/orderconfirm",
        &token,
        Some(order(&margin, symbol, "2", "BUYTOOPEN", "Market")),
    )
    .await;
    let c = &confirm.json()["Confirmations"][0];
    assert_eq!(c["OrderAssetCategory"], "STOCKOPTION");
    // Ask: 12.5 + 2 % = 12.75, times 2 contracts of 100.
    assert_eq!(c["EstimatedCost"], "2550");
    let id = placed_id(
        &place(
            &sim,
            &token,
            order(&margin, symbol, "2", "BUYTOOPEN", "Market"),
        )
        .await,
    );
    let listed = order_status(&sim, &token, &margin, &id).await;
    assert_eq!(listed["Legs"][0]["AssetType"], "STOCKOPTION");
    assert_eq!(listed["Legs"][0]["OptionType"], "CALL");
    assert_eq!(listed["Legs"][0]["Underlying"], "MSFT");
    let held = position(&sim, &token, &margin, symbol).await.unwrap();
    assert_eq!(held["AssetType"], "STOCKOPTION");
    assert_eq!(held["Quantity"], "2");
    assert_eq!(held["MarketValue"], "2500");
    let refused = place(
        &sim,
        &token,
        order(&margin, symbol, "1", "SELLSHORT", "Market"),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "stock actions are not option actions"
    );
}

#[tokio::test]
async fn a_day_order_expires_at_the_close_and_a_gtc_order_stays() {
    let (sim, token) = trading("trader", |_| {}).await;
    let margin = account("trader", 0);
    sim.set_price("AMD", 150.0);
    let mut day = order(&margin, "AMD", "5", "BUY", "Limit");
    day["LimitPrice"] = json!("100");
    let mut gtc = day.clone();
    gtc["TimeInForce"] = json!({"Duration": "GTC"});
    let day_id = placed_id(&place(&sim, &token, day).await);
    let gtc_id = placed_id(&place(&sim, &token, gtc).await);
    sim.advance_clock(std::time::Duration::from_secs(10 * 3600));
    assert_eq!(
        order_status(&sim, &token, &margin, &gtc_id).await["Status"],
        "OPN"
    );
    let expired = get(
        &sim,
        &format!("/v3/brokerage/accounts/{margin}/historicalorders?since=2026-01-01"),
        Some(&token),
    )
    .await;
    let found = expired.json()["Orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["OrderID"] == day_id)
        .cloned()
        .unwrap();
    assert_eq!(found["Status"], "EXP");
    assert_eq!(found["ClosedDateTime"], "2026-01-01T21:00:00Z");
}

#[tokio::test]
async fn malformed_order_requests_are_400s_naming_the_field() {
    let (sim, token) = trading("trader", |_| {}).await;
    let margin = account("trader", 0);
    let limit_without_price = order(&margin, "AMD", "5", "BUY", "Limit");
    let mut bad_quantity = order(&margin, "AMD", "5", "BUY", "Market");
    bad_quantity["Quantity"] = json!("-3");
    let mut bad_duration = order(&margin, "AMD", "5", "BUY", "Market");
    bad_duration["TimeInForce"] = json!({"Duration": "WEEK"});
    let foreign = order(&account("someone", 0), "AMD", "5", "BUY", "Market");
    for (body, field) in [
        (limit_without_price, "LimitPrice"),
        (bad_quantity, "Quantity"),
        (bad_duration, "Duration"),
        (foreign, "AccountID"),
        (json!({"Symbol": "AMD"}), "AccountID"),
    ] {
        let answer = place(&sim, &token, body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(answer.json()["Error"], "BadRequest");
        assert!(
            answer.json()["Message"].as_str().unwrap().contains(field),
            "{}",
            answer.text()
        );
    }
    let garbage = call(
        &sim,
        Method::POST,
        "/v3/orderexecution/orders",
        &token,
        None,
    )
    .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    assert_eq!(sim.stats().orders_placed, 0);
}

#[tokio::test]
async fn routes_and_activation_triggers_are_listed() {
    let (sim, token) = trading("trader", |_| {}).await;
    let routes = get(&sim, "/v3/orderexecution/routes", Some(&token))
        .await
        .json();
    assert!(
        routes["Routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["Id"] == "Intelligent")
    );
    let triggers = get(&sim, "/v3/orderexecution/activationtriggers", Some(&token))
        .await
        .json();
    assert_eq!(triggers["ActivationTriggers"][0]["Key"], "STT");
    assert_eq!(
        get(&sim, "/v3/orderexecution/routes", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// The lines of a streaming body, read as they arrive.
struct StreamLines<S> {
    chunks: S,
    buffer: String,
}

impl<S, E> StreamLines<S>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Debug,
{
    /// Lines up to and including the first that `stop` accepts (at most
    /// 400 chunks).
    async fn until(&mut self, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
        use futures_util::StreamExt;
        let mut seen = Vec::new();
        for _ in 0..400 {
            while let Some(end) = self.buffer.find('\n') {
                let line: String = self.buffer.drain(..=end).collect();
                let value: Value =
                    serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{line}: {e}"));
                let done = stop(&value);
                seen.push(value);
                if done {
                    return seen;
                }
            }
            let chunk = self.chunks.next().await.expect("the stream ended").unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        panic!("not seen in 400 chunks: {seen:?}");
    }
}

async fn open_stream(
    sim: &Simulator,
    uri: &str,
    token: &str,
) -> StreamLines<impl futures_util::Stream<Item = Result<bytes::Bytes, axum::Error>> + Unpin + use<>>
{
    use tower::ServiceExt;
    let request = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = sim.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        super::account_stream::CONTENT_TYPE
    );
    StreamLines {
        chunks: response.into_body().into_data_stream(),
        buffer: String::new(),
    }
}

fn end_of_snapshot(v: &Value) -> bool {
    v["StreamStatus"] == "EndSnapshot"
}

#[tokio::test(start_paused = true)]
async fn order_and_position_streams_report_a_resting_fill_and_a_closed_position() {
    let (sim, token) = trading("trader", |c| {
        c.heartbeat_interval = std::time::Duration::from_secs(60)
    })
    .await;
    let margin = account("trader", 0);
    sim.set_price("AMD", 150.0);
    let mut request = order(&margin, "AMD", "20", "BUY", "Limit");
    request["LimitPrice"] = json!("140");
    let id = placed_id(&place(&sim, &token, request).await);

    let mut orders = open_stream(
        &sim,
        &format!("/v3/brokerage/stream/accounts/{margin},NOPE1/orders"),
        &token,
    )
    .await;
    let snapshot = orders.until(end_of_snapshot).await;
    assert!(
        snapshot
            .iter()
            .any(|o| o["Error"] == "Forbidden" && o["AccountID"] == "NOPE1")
    );
    assert!(
        snapshot
            .iter()
            .any(|o| o["OrderID"] == id.as_str() && o["Status"] == "OPN")
    );
    let mut positions = open_stream(
        &sim,
        &format!("/v3/brokerage/stream/accounts/{margin}/positions?changes=true"),
        &token,
    )
    .await;
    let snapshot = positions.until(end_of_snapshot).await;
    assert!(
        snapshot
            .iter()
            .any(|p| p["Symbol"] == "MSFT" && p["Quantity"] == "100")
    );
    assert!(!snapshot.iter().any(|p| p["Symbol"] == "AMD"));
    assert_eq!(sim.stats().open_streams, 2);

    sim.set_price("AMD", 139.5);
    let fill = orders.until(|o| o["OrderID"] == id.as_str()).await;
    assert_eq!(fill.last().unwrap()["Status"], "FLL");
    let opened = positions.until(|p| p["Symbol"] == "AMD").await;
    let amd = opened.last().unwrap().clone();
    assert_eq!(
        (amd["Quantity"].as_str(), amd["AveragePrice"].as_str()),
        (Some("20"), Some("139.51"))
    );
    let position_id = amd["PositionID"].as_str().unwrap().to_owned();

    sim.set_price("AMD", 141.0);
    let change = positions
        .until(|p| p["PositionID"] == position_id.as_str())
        .await;
    let change = change.last().unwrap();
    assert!(
        change.get("Symbol").is_none(),
        "changed fields only: {change}"
    );
    assert_eq!(change["Last"], "141");

    placed_id(&place(&sim, &token, order(&margin, "AMD", "20", "SELL", "Market")).await);
    let closed = positions
        .until(|p| p["PositionID"] == position_id.as_str() && p.get("Deleted").is_some())
        .await;
    assert_eq!(
        closed.last().unwrap(),
        &json!({"PositionID": position_id, "Deleted": true})
    );
    drop((orders, positions));
    assert_eq!(sim.stats().open_streams, 0);
}

#[tokio::test]
async fn over_real_http_a_placed_order_appears_in_rest_and_in_the_order_stream() {
    let (sim, token) = trading("trader", |c| {
        c.tick_interval = std::time::Duration::from_millis(20);
    })
    .await;
    let margin = account("trader", 0);
    sim.set_price("AAPL", 200.0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, sim.router()).into_future());
    let client = reqwest::Client::new();
    let base = format!("http://{address}");

    let response = client
        .get(format!(
            "{base}/v3/brokerage/stream/accounts/{margin}/orders"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        super::account_stream::CONTENT_TYPE
    );
    let mut stream = StreamLines {
        chunks: response.bytes_stream(),
        buffer: String::new(),
    };
    stream.until(end_of_snapshot).await;

    let request = order(&margin, "AAPL", "3", "BUY", "Market");
    let confirm: Value = client
        .post(format!("{base}/v3/orderexecution/orderconfirm"))
        .bearer_auth(&token)
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        confirm["Confirmations"][0]["SummaryMessage"],
        "Buy 3 AAPL @ Market"
    );
    let placed: Value = client
        .post(format!("{base}/v3/orderexecution/orders"))
        .bearer_auth(&token)
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = placed["Orders"][0]["OrderID"].as_str().unwrap().to_owned();
    let listed: Value = client
        .get(format!("{base}/v3/brokerage/accounts/{margin}/orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed["Orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["OrderID"] == id.as_str() && o["Status"] == "FLL")
    );
    let seen = stream.until(|o| o["OrderID"] == id.as_str()).await;
    assert_eq!(seen.last().unwrap()["FilledPrice"], "200.02");
    server.abort();
}
