//! The `/v3/orderexecution` routes: confirm, place, replace, cancel, OCO and
//! bracket groups, routes and activation triggers.
//!
//! Requests are parsed here with the simulator's own validation, as a
//! remote server would: a malformed request is a `400
//! {"Error":"BadRequest","Message":…}` naming the field; a well-formed order
//! the broker refuses (buying power, a flip, a duplicate `OrderConfirmID`)
//! is a 200 with `Errors[{"OrderID","Error":"FAILED","Message":"Order
//! failed. Reason: …"}]`. The book itself is [`super::orders`].

// Handlers here return the refusal they will answer as `Err(Response)`:
// boxing it would only add noise on a path that runs once per request.
#![allow(clippy::result_large_err)]

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::brokerage::accounts_of;
use super::calendar;
use super::data::{TsPath, User};
use super::market::{AssetClass, Instrument};
use super::num::fmt_decimal;
use super::orders::{Action, ChangeError, GroupKind, OrderType, Replacement, Ticket, Touch};
use super::{Counters, Simulator, bad_request};

/// Durations TradeStation takes.
const DURATIONS: &[&str] = &[
    "DAY", "DYP", "GTC", "GCP", "GTD", "GDP", "OPG", "CLO", "IOC", "FOK", "1", "3", "5",
];
/// Orders in one group.
const MAX_GROUP: usize = 10;

pub(super) fn router() -> Router<Simulator> {
    Router::new()
        .route("/v3/orderexecution/orderconfirm", post(confirm))
        .route("/v3/orderexecution/orders", post(place))
        .route(
            "/v3/orderexecution/orders/{id}",
            put(replace).delete(cancel),
        )
        .route("/v3/orderexecution/ordergroupconfirm", post(group_confirm))
        .route("/v3/orderexecution/ordergroups", post(group_place))
        .route("/v3/orderexecution/routes", get(routes))
        .route(
            "/v3/orderexecution/activationtriggers",
            get(activation_triggers),
        )
}

/// An order request as sent; every field optional so that a missing one is
/// named in the answer rather than a generic parse error.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderBody {
    #[serde(rename = "AccountID")]
    account_id: Option<String>,
    symbol: Option<String>,
    quantity: Option<String>,
    order_type: Option<String>,
    trade_action: Option<String>,
    time_in_force: Option<TimeInForceBody>,
    limit_price: Option<String>,
    stop_price: Option<String>,
    route: Option<String>,
    #[serde(rename = "OrderConfirmID")]
    order_confirm_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TimeInForceBody {
    duration: Option<String>,
    expiration: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupBody {
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(default)]
    orders: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReplaceBody {
    quantity: Option<String>,
    limit_price: Option<String>,
    stop_price: Option<String>,
    order_type: Option<String>,
}

fn positive(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x > 0.0)
}

/// Validates one order request of `user` into a [`Ticket`].
fn ticket(sim: &Simulator, user: &str, value: Value) -> Result<Ticket, String> {
    let body: OrderBody = serde_json::from_value(value)
        .map_err(|_| "The order request is not valid JSON of the expected shape.".to_owned())?;
    let account_id = body
        .account_id
        .filter(|a| !a.trim().is_empty())
        .ok_or("AccountID is required.")?;
    let account = accounts_of(user)
        .into_iter()
        .find(|a| a.id.eq_ignore_ascii_case(account_id.trim()))
        .ok_or("AccountID is not an account of this user.")?;
    let symbol = body.symbol.ok_or("Symbol is required.")?;
    let instrument = sim
        .market()
        .instrument(&symbol)
        .filter(|i| i.class != AssetClass::Index)
        .ok_or("Symbol is not a tradable symbol.")?;
    let quantity = body
        .quantity
        .as_deref()
        .and_then(positive)
        .filter(|q| q.fract() == 0.0)
        .ok_or("Quantity must be a string holding a positive whole number.")?;
    let order_type = body
        .order_type
        .as_deref()
        .and_then(OrderType::parse)
        .ok_or("OrderType must be Market, Limit, StopMarket or StopLimit.")?;
    let action = body
        .trade_action
        .as_deref()
        .and_then(Action::parse)
        .ok_or("TradeAction is not a valid trade action.")?;
    let is_option = instrument.class == AssetClass::Option;
    if action.is_option_action() != is_option
        && !(is_option && matches!(action, Action::Buy | Action::Sell))
    {
        return Err(if is_option {
            "TradeAction must be BUYTOOPEN, BUYTOCLOSE, SELLTOOPEN or SELLTOCLOSE for an option."
                .into()
        } else {
            "TradeAction BUYTOOPEN, BUYTOCLOSE, SELLTOOPEN and SELLTOCLOSE are for options.".into()
        });
    }
    let tif = body.time_in_force.ok_or("TimeInForce is required.")?;
    let duration = tif
        .duration
        .map(|d| d.trim().to_ascii_uppercase())
        .filter(|d| DURATIONS.contains(&d.as_str()))
        .ok_or("TimeInForce.Duration is not a valid duration.")?;
    let expiration_ms = match (duration.as_str(), tif.expiration) {
        ("GTD" | "GDP", Some(text)) => Some(
            calendar::parse_instant(&text, false)
                .ok_or("TimeInForce.Expiration must be an RFC 3339 date and time.")?,
        ),
        ("GTD" | "GDP", None) => {
            return Err("TimeInForce.Expiration is required with GTD and GDP.".into());
        }
        _ => None,
    };
    let price = |text: Option<String>, name: &str| -> Result<Option<f64>, String> {
        match text {
            None => Ok(None),
            Some(text) => positive(&text)
                .map(Some)
                .ok_or(format!("{name} must be a positive decimal string.")),
        }
    };
    let limit = price(body.limit_price, "LimitPrice")?;
    let stop = price(body.stop_price, "StopPrice")?;
    if order_type.needs_limit() && limit.is_none() {
        return Err(format!(
            "LimitPrice is required for a {} order.",
            order_type.name()
        ));
    }
    if order_type.needs_stop() && stop.is_none() {
        return Err(format!(
            "StopPrice is required for a {} order.",
            order_type.name()
        ));
    }
    let confirm_id = match body.order_confirm_id {
        None => None,
        Some(id) if (1..=64).contains(&id.len()) => Some(id),
        Some(_) => return Err("OrderConfirmID must be 1 to 64 characters.".into()),
    };
    let route = body.route.unwrap_or_else(|| "Intelligent".into());
    if !ROUTES
        .iter()
        .any(|(id, _, _)| id.eq_ignore_ascii_case(&route))
    {
        return Err("Route is not a valid route.".into());
    }
    Ok(Ticket {
        account_id: account.id,
        instrument,
        quantity,
        limit: limit.filter(|_| order_type.needs_limit()),
        stop: stop.filter(|_| order_type.needs_stop()),
        order_type,
        action,
        duration,
        expiration_ms,
        route,
        confirm_id,
    })
}

fn parse_json(body: &Bytes) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(bad_request("The request body must be a JSON object.")),
    }
}

/// The tickets of a group request, or the 400 to answer.
fn group_tickets(
    sim: &Simulator,
    user: &str,
    body: &Bytes,
) -> Result<(Option<GroupKind>, Vec<Ticket>), Response> {
    let value = parse_json(body)?;
    let group: GroupBody = serde_json::from_value(value)
        .map_err(|_| bad_request("The group request is not of the expected shape."))?;
    let kind = match group
        .kind
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("OCO") => Some(GroupKind::Oco),
        Some("BRK") => Some(GroupKind::Bracket),
        Some("NORMAL") => None,
        _ => return Err(bad_request("Type must be OCO, BRK or NORMAL.")),
    };
    if group.orders.len() < 2 || group.orders.len() > MAX_GROUP {
        return Err(bad_request("A group holds 2 to 10 orders."));
    }
    let tickets = group
        .orders
        .into_iter()
        .map(|o| ticket(sim, user, o))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| bad_request(&message))?;
    Ok((kind, tickets))
}

fn confirmation(sim: &Simulator, ticket: &Ticket, now: i64) -> Value {
    let touch = sim.touch(&ticket.instrument, now);
    let price = ticket.estimated_price(touch);
    let cost = ticket.quantity * price * ticket.instrument.point_value;
    let debit = if ticket.action.is_buy() { cost } else { -cost };
    let category = match ticket.instrument.class {
        AssetClass::Option => "STOCKOPTION",
        AssetClass::Future => "FUTURE",
        _ => "EQUITY",
    };
    let confirm_id = ticket.confirm_id.clone().unwrap_or_else(|| {
        format!(
            "{:x}",
            super::num::hash2(now as u64, super::num::fnv(&ticket.summary()))
        )
    });
    json!({
        "OrderAssetCategory": category,
        "AccountID": ticket.account_id,
        "Route": ticket.route,
        "TimeInForce": {"Duration": ticket.duration},
        "OrderConfirmID": confirm_id,
        "EstimatedPrice": super::num::fmt_price(price, ticket.instrument.tick),
        "EstimatedPriceDisplay": super::num::fmt_price(price, ticket.instrument.tick),
        "EstimatedCost": fmt_decimal(cost, 2),
        "EstimatedCostDisplay": fmt_decimal(cost, 2),
        "DebitCreditEstimatedCost": fmt_decimal(debit, 2),
        "DebitCreditEstimatedCostDisplay": fmt_decimal(debit, 2),
        "EstimatedCommission": "0",
        "EstimatedCommissionDisplay": "0",
        "SummaryMessage": ticket.summary(),
    })
}

/// `POST /v3/orderexecution/orderconfirm`: a preview; places nothing.
async fn confirm(
    State(sim): State<Simulator>,
    Extension(user): Extension<User>,
    body: Bytes,
) -> Response {
    Counters::bump(&sim.counters().order_confirms);
    let ticket = match parse_json(&body)
        .and_then(|v| ticket(&sim, &user.0, v).map_err(|m| bad_request(&m)))
    {
        Ok(ticket) => ticket,
        Err(response) => return response,
    };
    let now = sim.now_ms();
    Json(json!({"Confirmations": [confirmation(&sim, &ticket, now)]})).into_response()
}

/// `POST /v3/orderexecution/ordergroupconfirm`.
async fn group_confirm(
    State(sim): State<Simulator>,
    Extension(user): Extension<User>,
    body: Bytes,
) -> Response {
    Counters::bump(&sim.counters().order_confirms);
    let (_, tickets) = match group_tickets(&sim, &user.0, &body) {
        Ok(group) => group,
        Err(response) => return response,
    };
    let now = sim.now_ms();
    let confirmations: Vec<Value> = tickets.iter().map(|t| confirmation(&sim, t, now)).collect();
    Json(json!({"Confirmations": confirmations})).into_response()
}

/// Places tickets in `user`'s book and writes TradeStation's answer.
fn submit(sim: &Simulator, user: &str, tickets: Vec<Ticket>, group: Option<GroupKind>) -> Response {
    let now = sim.now_ms();
    let instant = sim.config().instant_fills;
    let summaries: Vec<String> = tickets.iter().map(Ticket::summary).collect();
    let count = tickets.len() as u64;
    let prices = |inst: &Instrument, t: i64| -> Touch { sim.touch(inst, t) };
    let (outcome, fills) = sim.with_book(user, |book| {
        let before: usize = book
            .ledgers
            .iter()
            .map(|l| l.orders.iter().filter(|o| o.filled_price.is_some()).count())
            .sum();
        let outcome = book.place(tickets, group, &prices, now, instant);
        let after: usize = book
            .ledgers
            .iter()
            .map(|l| l.orders.iter().filter(|o| o.filled_price.is_some()).count())
            .sum();
        (outcome, after.saturating_sub(before) as u64)
    });
    Counters::add(&sim.counters().orders_filled, fills);
    match outcome {
        Ok(ids) => {
            Counters::add(&sim.counters().orders_placed, count);
            let orders: Vec<Value> = ids
                .iter()
                .zip(&summaries)
                .map(|(id, summary)| json!({"OrderID": id, "Message": format!("Sent order: {summary}")}))
                .collect();
            Json(json!({"Orders": orders})).into_response()
        }
        Err(failures) => {
            Counters::add(&sim.counters().orders_rejected, failures.len() as u64);
            let errors: Vec<Value> = failures
                .iter()
                .map(|f| {
                    let mut e = json!({"Error": "FAILED", "Message": format!("Order failed. Reason: {}", f.reason)});
                    if let Some(id) = &f.order_id {
                        e["OrderID"] = Value::String(id.clone());
                    }
                    e
                })
                .collect();
            Json(json!({"Orders": [], "Errors": errors})).into_response()
        }
    }
}

/// `POST /v3/orderexecution/orders`.
async fn place(
    State(sim): State<Simulator>,
    Extension(user): Extension<User>,
    body: Bytes,
) -> Response {
    Counters::bump(&sim.counters().order_requests);
    match parse_json(&body).and_then(|v| ticket(&sim, &user.0, v).map_err(|m| bad_request(&m))) {
        Ok(ticket) => submit(&sim, &user.0, vec![ticket], None),
        Err(response) => response,
    }
}

/// `POST /v3/orderexecution/ordergroups`.
async fn group_place(
    State(sim): State<Simulator>,
    Extension(user): Extension<User>,
    body: Bytes,
) -> Response {
    Counters::bump(&sim.counters().order_requests);
    match group_tickets(&sim, &user.0, &body) {
        Ok((kind, tickets)) => submit(&sim, &user.0, tickets, kind),
        Err(response) => response,
    }
}

/// Order ids are digits and letters, no dashes.
fn order_id(id: &str) -> Option<&str> {
    (!id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(id)
}

/// `PUT /v3/orderexecution/orders/{id}`.
async fn replace(
    State(sim): State<Simulator>,
    Extension(user): Extension<User>,
    TsPath(id): TsPath,
    body: Bytes,
) -> Response {
    let Some(id) = order_id(&id) else {
        return bad_request(ChangeError::UnknownOrder.replace_message());
    };
    let value = match parse_json(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    let Ok(body) = serde_json::from_value::<ReplaceBody>(value) else {
        return bad_request("The replace request is not of the expected shape.");
    };
    let number = |text: Option<String>, name: &str| -> Result<Option<f64>, Response> {
        match text {
            None => Ok(None),
            Some(t) => positive(&t)
                .map(Some)
                .ok_or_else(|| bad_request(&format!("{name} must be a positive decimal string."))),
        }
    };
    let change = match (|| {
        let to_market = match body.order_type.as_deref() {
            None => false,
            Some(t) if t.eq_ignore_ascii_case("Market") => true,
            Some(_) => return Err(bad_request("OrderType may only be changed to Market.")),
        };
        Ok(Replacement {
            quantity: number(body.quantity, "Quantity")?,
            limit: number(body.limit_price, "LimitPrice")?,
            stop: number(body.stop_price, "StopPrice")?,
            to_market,
        })
    })() {
        Ok(change) => change,
        Err(response) => return response,
    };
    if change.quantity.is_none()
        && change.limit.is_none()
        && change.stop.is_none()
        && !change.to_market
    {
        return bad_request(
            "Nothing to replace: send Quantity, LimitPrice, StopPrice or OrderType.",
        );
    }
    let now = sim.now_ms();
    let instant = sim.config().instant_fills;
    let prices = |inst: &Instrument, t: i64| -> Touch { sim.touch(inst, t) };
    match sim.with_book(&user.0, |book| {
        book.replace(id, &change, &prices, now, instant)
    }) {
        Ok(()) => {
            Counters::bump(&sim.counters().order_replaces);
            Json(json!({"OrderID": id, "Message": "Cancel/Replace order sent."})).into_response()
        }
        Err(error) => bad_request(error.replace_message()),
    }
}

/// `DELETE /v3/orderexecution/orders/{id}`.
async fn cancel(
    State(sim): State<Simulator>,
    Extension(user): Extension<User>,
    TsPath(id): TsPath,
) -> Response {
    let Some(id) = order_id(&id) else {
        return bad_request(ChangeError::UnknownOrder.cancel_message());
    };
    let now = sim.now_ms();
    let instant = sim.config().instant_fills;
    match sim.with_book(&user.0, |book| book.cancel(id, now, instant)) {
        Ok(()) => {
            Counters::bump(&sim.counters().order_cancels);
            Json(json!({"OrderID": id, "Message": "Cancel request sent"})).into_response()
        }
        Err(error) => bad_request(error.cancel_message()),
    }
}

/// `(Id, Name, AssetTypes)`.
const ROUTES: &[(&str, &str, &[&str])] = &[
    (
        "Intelligent",
        "Intelligent",
        &["STOCK", "STOCKOPTION", "FUTURE"],
    ),
    ("AMEX", "AMEX", &["STOCK"]),
    ("ARCA", "ARCX", &["STOCK"]),
    ("NSDQ", "NSDQ", &["STOCK"]),
    ("NYSE", "NYSE", &["STOCK"]),
    ("CBOE", "CBOE", &["STOCKOPTION"]),
    ("CME", "CME", &["FUTURE"]),
];

/// `GET /v3/orderexecution/routes`.
async fn routes() -> Response {
    let routes: Vec<Value> = ROUTES
        .iter()
        .map(|(id, name, types)| json!({"Id": id, "Name": name, "AssetTypes": types}))
        .collect();
    Json(json!({"Routes": routes})).into_response()
}

/// `GET /v3/orderexecution/activationtriggers`.
async fn activation_triggers() -> Response {
    let triggers = [
        (
            "STT",
            "Single Trade Tick",
            "One trade tick must print within your stop price to trigger your stop.",
        ),
        (
            "STTN",
            "Single Trade Tick Within NBBO",
            "One trade tick within the National Best Bid or Offer must print within your stop price to trigger your stop.",
        ),
        (
            "SBA",
            "Single Bid/Ask Tick",
            "Buy/Cover orders: one Ask tick must print within your stop price; Sell/Short orders: one Bid tick must print within your stop price.",
        ),
        (
            "DBA",
            "Double Bid/Ask Tick",
            "Buy/Cover orders: two consecutive Ask ticks must print within your stop price; Sell/Short orders: two consecutive Bid ticks must print within your stop price.",
        ),
        (
            "DTT",
            "Double Trade Tick",
            "Two consecutive trade ticks must print within your stop price to trigger your stop.",
        ),
        (
            "DTTN",
            "Double Trade Tick Within NBBO",
            "Two consecutive trade ticks within the National Best Bid or Offer must print within your stop price to trigger your stop.",
        ),
        (
            "TTT",
            "Twice Trade Tick",
            "Two trade ticks must print within your stop price to trigger your stop.",
        ),
    ];
    let list: Vec<Value> = triggers
        .iter()
        .map(|(key, name, description)| json!({"Key": key, "Name": name, "Description": description}))
        .collect();
    Json(json!({"ActivationTriggers": list})).into_response()
}
