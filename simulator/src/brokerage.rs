//! Simulated brokerage views: every user has a Margin, a Cash and a Futures
//! account, seeded with a few positions and today's orders into the user's
//! [`Book`] on first use; positions, balances and orders are read from that
//! book and valued at the trading prices ([`Simulator::touch`]). The engine
//! that moves the book is [`super::orders`].
//!
//! Account IDs derive from the user name, so they are stable across
//! restarts. As TradeStation does, a comma list that names an account the
//! user does not hold answers 200 with a partial `Errors` entry for it.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use shared::ts::accounts::{
    Account, AccountDetail, AccountError, AccountsResponse, Balance, BalanceDetail,
    BalancesResponse, CurrencyDetail, Order, OrderLeg, Position, PositionsResponse,
};

use super::calendar::{self, DAY_MS};
use super::data::{TsPath, User};
use super::market::{AssetClass, Instrument, Market};
use super::num::{fmt_decimal, fmt_price, fnv, hash2, round_to};
use super::options::OptionContract;
use super::orders::{
    AccountKind, Action, Book, FUTURES_MARGIN, Holding, Ledger, OrderType, SimOrder, Status, Ticket,
};
use super::{Params, Simulator, bad_request};

/// At most this many accounts per request (TradeStation: 25).
const MAX_ACCOUNTS: usize = 25;

type Kind = AccountKind;

/// One of the user's accounts.
#[derive(Debug, Clone)]
pub(crate) struct SimAccount {
    pub id: String,
    pub kind: Kind,
}

/// The user's three accounts.
pub(crate) fn accounts_of(user: &str) -> Vec<SimAccount> {
    let n = 1_000_000 + fnv(user) % 9_000_000;
    vec![
        SimAccount {
            id: format!("SIM{n}M"),
            kind: Kind::Margin,
        },
        SimAccount {
            id: format!("SIM{}C", n + 1),
            kind: Kind::Cash,
        },
        SimAccount {
            id: format!("SIM{}F", n + 2),
            kind: Kind::Futures,
        },
    ]
}

/// Splits `{ids}` into the user's accounts and the errors for the others.
pub(crate) fn select(
    user: &str,
    ids: &str,
) -> Result<(Vec<SimAccount>, Vec<AccountError>), &'static str> {
    let requested: Vec<&str> = ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if requested.is_empty() {
        return Err("At least one account ID is required.");
    }
    if requested.len() > MAX_ACCOUNTS {
        return Err("At most 25 account IDs may be requested at once.");
    }
    let owned = accounts_of(user);
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for id in requested {
        match owned.iter().find(|a| a.id.eq_ignore_ascii_case(id)) {
            Some(account) => found.push(account.clone()),
            None => errors.push(AccountError {
                account_id: Some(id.to_owned()),
                error: Some("Forbidden".into()),
                message: Some("Request not authorized for this account.".into()),
            }),
        }
    }
    Ok((found, errors))
}

/// The seeded holdings: symbol, signed quantity, days since opened.
fn seed_holdings(market: &Market, account: &SimAccount, now_ms: i64) -> Vec<Holding> {
    let mut list: Vec<(String, f64, i64)> = match account.kind {
        Kind::Margin => vec![
            ("MSFT".into(), 100.0, 40),
            ("NVDA".into(), 200.0, 90),
            ("TSLA".into(), -25.0, 10),
        ],
        Kind::Cash => vec![
            ("AAPL".into(), 50.0, 120),
            ("SPY".into(), 20.0, 200),
            ("QQQ".into(), 10.0, 30),
        ],
        Kind::Futures => vec![(Market::front_future("ES", now_ms), 1.0, 3)],
    };
    if account.kind == Kind::Margin {
        // A long-dated MSFT call: December of next year, strike near the base.
        if let Some(msft) = market.instrument("MSFT") {
            let (year, _, _) = calendar::civil_from_days(now_ms.div_euclid(DAY_MS));
            let contract = OptionContract {
                expiry_day: calendar::third_friday(year + 1, 12),
                call: true,
                strike: 450.0,
                underlying: msft,
            };
            list.push((contract.symbol(), 2.0, 20));
        }
    }
    list.into_iter()
        .filter_map(|(symbol, quantity, days)| {
            let instrument = market.instrument(&symbol)?;
            let opened_ms = now_ms - days * DAY_MS - 3 * 3_600_000;
            Some(Holding {
                id: format!(
                    "{}",
                    10_000_000 + hash2(fnv(&account.id), fnv(&instrument.symbol)) % 90_000_000
                ),
                average: market.price(&instrument, opened_ms),
                instrument,
                quantity,
                opened_ms,
            })
        })
        .collect()
}

/// A new user's book: the three accounts with their seeded holdings and
/// orders, cash being the starting deposit less the holdings' cost.
pub(crate) fn seed_book(market: &Market, seed: u64, user: &str, now_ms: i64) -> Book {
    let ledgers = accounts_of(user)
        .into_iter()
        .map(|account| {
            let holdings = seed_holdings(market, &account, now_ms);
            let cost: f64 = holdings
                .iter()
                .filter(|h| h.instrument.class != AssetClass::Future)
                .map(|h| h.quantity * h.average * h.instrument.point_value)
                .sum();
            let starting_cash = match account.kind {
                Kind::Margin => 250_000.0,
                Kind::Cash => 60_000.0,
                Kind::Futures => 50_000.0,
            };
            Ledger {
                orders: seed_orders(market, &account, now_ms),
                id: account.id,
                kind: account.kind,
                cash: starting_cash - cost,
                realized: 0.0,
                holdings,
            }
        })
        .collect();
    let first_id = 600_000_000 + hash2(seed, fnv(user)) % 300_000_000;
    Book::new(ledgers, first_id, now_ms)
}

/// Money with two decimals, trailing zeros dropped.
fn money(x: f64) -> String {
    fmt_decimal(x, 2)
}

/// A holding as TradeStation's `Position`, valued at the touch.
pub(crate) fn position_view(
    sim: &Simulator,
    account_id: &str,
    holding: &Holding,
    now_ms: i64,
) -> Position {
    let market = sim.market();
    let inst = &holding.instrument;
    let day = market.day_stats(inst, now_ms.div_euclid(DAY_MS));
    let touch = sim.touch(inst, now_ms);
    let last = touch.last;
    let average = holding.average;
    let (q, pv) = (holding.quantity, inst.point_value);
    let market_value = q * last * pv;
    let cost = q * average * pv;
    let unrealized = market_value - cost;
    let todays = q * (last - day.previous_close.max(0.0)) * pv;
    let fmt = |x: f64| fmt_price(x, inst.tick);
    let is_future = inst.class == AssetClass::Future;
    let (initial, maintenance) = if is_future {
        (FUTURES_MARGIN * q.abs(), 11_500.0 * q.abs())
    } else {
        (0.0, 0.0)
    };
    let expiration = match &inst.option {
        Some(contract) => Some(calendar::date_rfc3339(contract.expiry_day)),
        None if is_future => Some(calendar::date_rfc3339(Market::front_future_expiry(now_ms))),
        None => None,
    };
    Position {
        account_id: Some(account_id.to_owned()),
        position_id: Some(holding.id.clone()),
        symbol: Some(inst.symbol.clone()),
        asset_type: Some(inst.asset_type().into()),
        long_short: Some(if q >= 0.0 { "Long" } else { "Short" }.into()),
        quantity: Some(fmt_decimal(q, 0)),
        average_price: Some(fmt_decimal(average, 4)),
        last: Some(fmt(last)),
        bid: Some(fmt(touch.bid)),
        ask: Some(fmt(touch.ask)),
        conversion_rate: Some("1".into()),
        market_value: Some(money(market_value)),
        total_cost: Some(money(cost)),
        mark_to_market_price: Some(fmt(day.previous_close)),
        todays_profit_loss: Some(money(todays)),
        unrealized_profit_loss: Some(money(unrealized)),
        unrealized_profit_loss_percent: Some(fmt_decimal(
            if cost != 0.0 {
                unrealized / cost.abs() * 100.0
            } else {
                0.0
            },
            3,
        )),
        unrealized_profit_loss_qty: Some(fmt_decimal((last - average) * q.signum(), 2)),
        day_trade_requirement: Some("0".into()),
        initial_requirement: Some(money(initial)),
        maintenance_margin: Some(money(maintenance)),
        expiration_date: expiration,
        timestamp: Some(calendar::rfc3339(holding.opened_ms)),
    }
}

/// An account's `Balance`, from its ledger at the touch.
fn balance(sim: &Simulator, ledger: &Ledger, now_ms: i64) -> Balance {
    let prices = |inst: &Instrument, t: i64| sim.touch(inst, t);
    let v = ledger.valuation(&prices, now_ms);
    let market = sim.market();
    let todays: f64 = ledger
        .holdings
        .iter()
        .map(|h| {
            let day = market.day_stats(&h.instrument, now_ms.div_euclid(DAY_MS));
            h.quantity
                * (sim.touch(&h.instrument, now_ms).last - day.previous_close)
                * h.instrument.point_value
        })
        .sum();
    let cash = ledger.cash;
    let mut detail = BalanceDetail {
        cost_of_positions: Some(money(v.cost.abs())),
        day_trades: Some("0".into()),
        realized_profit_loss: Some(money(ledger.realized)),
        unrealized_profit_loss: Some(money(v.unrealized)),
        ..BalanceDetail::default()
    };
    let mut currency_details = None;
    match ledger.kind {
        Kind::Margin => {
            let maintenance = 0.25 * v.gross;
            detail.maintenance_rate = Some(money(maintenance));
            detail.option_buying_power = Some(money(cash.max(0.0)));
            detail.options_market_value = Some(money(v.options_value));
            detail.overnight_buying_power = Some(money((2.0 * v.equity - v.gross).max(0.0)));
            detail.required_margin = Some(money(0.5 * v.gross));
        }
        Kind::Cash => {
            detail.option_buying_power = Some(money(cash));
            detail.options_market_value = Some(money(v.options_value));
            detail.overnight_buying_power = Some(money(cash));
            detail.required_margin = Some("0".into());
        }
        Kind::Futures => {
            let initial = FUTURES_MARGIN * v.contracts;
            let maintenance = 11_500.0 * v.contracts;
            detail.day_trade_excess = Some(money(v.equity - 0.5 * initial));
            detail.day_trade_margin = Some(money(0.5 * initial));
            detail.initial_margin = Some(money(initial));
            detail.maintenance_margin = Some(money(maintenance));
            detail.open_order_margin = Some("0".into());
            detail.security_on_deposit = Some("0".into());
            detail.trade_equity = Some(money(v.unrealized));
            detail.today_real_time_trade_equity = Some(money(todays));
            currency_details = Some(vec![CurrencyDetail {
                currency: Some("USD".into()),
                cash_balance: Some(money(cash)),
                commission: Some("0".into()),
                initial_margin: Some(money(initial)),
                maintenance_margin: Some(money(maintenance)),
                realized_profit_loss: Some(money(ledger.realized)),
                unrealized_profit_loss: Some(money(v.unrealized)),
                account_conversion_rate: Some("1".into()),
            }]);
        }
    }
    Balance {
        account_id: Some(ledger.id.clone()),
        account_type: Some(ledger.kind.name().into()),
        cash_balance: Some(money(cash)),
        buying_power: Some(money(v.buying_power)),
        equity: Some(money(v.equity)),
        market_value: Some(money(v.market_value)),
        todays_profit_loss: Some(money(todays)),
        uncleared_deposit: Some("0".into()),
        commission: Some("0".into()),
        balance_detail: Some(detail),
        currency_details,
    }
}

/// The seeded orders of an account: working ones rest in the book like any
/// other, filled and canceled ones are today's history.
fn seed_orders(market: &Market, account: &SimAccount, now_ms: i64) -> Vec<SimOrder> {
    struct Spec {
        symbol: String,
        side: &'static str,
        open_close: &'static str,
        order_type: &'static str,
        quantity: f64,
        limit_factor: f64,
        duration: &'static str,
        status: &'static str,
        description: &'static str,
        minutes_ago: i64,
    }
    let spec = |symbol: &str,
                side,
                open_close,
                order_type,
                quantity,
                limit_factor,
                duration,
                status,
                description,
                minutes_ago| Spec {
        symbol: symbol.to_owned(),
        side,
        open_close,
        order_type,
        quantity,
        limit_factor,
        duration,
        status,
        description,
        minutes_ago,
    };
    let specs = match account.kind {
        Kind::Margin => vec![
            spec(
                "AAPL", "Buy", "Open", "Limit", 50.0, 0.97, "DAY", "OPN", "Sent", 25,
            ),
            spec(
                "TSLA",
                "BuyToCover",
                "Close",
                "StopMarket",
                25.0,
                1.08,
                "GTC",
                "ACK",
                "Received",
                70,
            ),
            spec(
                "MSFT", "Buy", "Open", "Market", 10.0, 0.0, "DAY", "FLL", "Filled", 130,
            ),
            spec(
                "NVDA", "Sell", "Close", "Limit", 50.0, 1.10, "DAY", "CAN", "Canceled", 210,
            ),
        ],
        Kind::Cash => vec![spec(
            "SPY", "Sell", "Close", "Limit", 10.0, 1.05, "GTC", "OPN", "Sent", 45,
        )],
        Kind::Futures => vec![spec(
            &Market::front_future("ES", now_ms),
            "Buy",
            "Open",
            "Limit",
            1.0,
            0.99,
            "DAY",
            "OPN",
            "Sent",
            15,
        )],
    };
    specs
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let inst = market.instrument(&s.symbol)?;
            let opened_ms = now_ms - s.minutes_ago * 60_000;
            let at_open = market.price(&inst, opened_ms);
            let level =
                (s.limit_factor > 0.0).then(|| round_to(at_open * s.limit_factor, inst.tick));
            let order_type = OrderType::parse(s.order_type)?;
            let status = match s.status {
                "FLL" => Status::Filled,
                "CAN" => Status::Canceled,
                "ACK" => Status::Received,
                _ => Status::Open,
            };
            let closed = !status.is_open();
            let _ = s.open_close;
            let _ = s.description;
            let ticket = Ticket {
                account_id: account.id.clone(),
                quantity: s.quantity,
                limit: level.filter(|_| order_type.needs_limit()),
                stop: level.filter(|_| order_type.needs_stop()),
                order_type,
                action: Action::parse(s.side)?,
                duration: s.duration.into(),
                expiration_ms: None,
                route: "Intelligent".into(),
                confirm_id: None,
                instrument: inst,
            };
            Some(SimOrder {
                id: format!(
                    "{}",
                    100_000_000 + hash2(fnv(&account.id), i as u64) % 900_000_000
                ),
                expires_ms: None,
                status,
                opened_ms,
                closed_ms: closed.then_some(opened_ms + 1500),
                filled_price: (status == Status::Filled).then_some(at_open),
                triggered: false,
                group: None,
                reject_reason: None,
                ticket,
            })
        })
        .collect()
}

/// An order as TradeStation's `Order`, with `ConditionalOrders` for the
/// members of a group (a field the shared type does not carry).
pub(crate) fn order_view(order: &SimOrder) -> Value {
    let t = &order.ticket;
    let inst = &t.instrument;
    let fmt = |x: f64| fmt_price(x, inst.tick);
    let quantity = fmt_decimal(t.quantity, 0);
    let filled = order.status == Status::Filled;
    let asset_type = match inst.class {
        AssetClass::Future => "FUTURE",
        AssetClass::Option => "STOCKOPTION",
        _ => "STOCK",
    };
    let contract = inst.option.as_deref();
    let view = Order {
        account_id: Some(t.account_id.clone()),
        order_id: Some(order.id.clone()),
        order_type: Some(t.order_type.name().into()),
        limit_price: t.limit.map(fmt),
        stop_price: t.stop.map(fmt),
        duration: Some(t.duration.clone()),
        good_till_date: t.expiration_ms.map(calendar::rfc3339),
        status: Some(order.status.code().into()),
        status_description: Some(order.status.description().into()),
        opened_date_time: Some(calendar::rfc3339(order.opened_ms)),
        closed_date_time: order.closed_ms.map(calendar::rfc3339),
        filled_price: order.filled_price.map(fmt),
        currency: Some("USD".into()),
        commission_fee: Some("0".into()),
        routing: Some(t.route.clone()),
        price_used_for_buying_power: Some(fmt(t
            .limit
            .or(t.stop)
            .or(order.filled_price)
            .unwrap_or(inst.base))),
        unbundled_route_fee: Some("0".into()),
        reject_reason: order.reject_reason.clone(),
        legs: vec![OrderLeg {
            asset_type: Some(asset_type.into()),
            buy_or_sell: Some(t.action.name().into()),
            open_or_close: Some(if t.action.opens() { "Open" } else { "Close" }.into()),
            symbol: Some(inst.symbol.clone()),
            quantity_ordered: Some(quantity.clone()),
            exec_quantity: Some(if filled { quantity.clone() } else { "0".into() }),
            quantity_remaining: Some(if order.status.is_open() {
                quantity
            } else {
                "0".into()
            }),
            execution_price: order.filled_price.map(fmt),
            option_type: contract.map(|c| c.side().to_ascii_uppercase()),
            strike_price: contract.map(|c| fmt_decimal(c.strike, 2)),
            expiration_date: contract.map(|c| calendar::date_rfc3339(c.expiry_day)),
            underlying: contract.map(|c| c.underlying.symbol.clone()),
        }],
    };
    let mut value = serde_json::to_value(view).unwrap_or(Value::Null);
    if let (Some((kind, others)), Value::Object(map)) = (&order.group, &mut value) {
        let related: Vec<Value> = others
            .iter()
            .map(|id| json!({"Relationship": kind.relationship(), "OrderID": id}))
            .collect();
        map.insert("ConditionalOrders".into(), Value::Array(related));
    }
    value
}

/// Does `symbol` match one of the comma-separated `*` patterns?
fn matches_filter(filter: &str, symbol: &str) -> bool {
    filter
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|pattern| glob(&pattern.to_ascii_uppercase(), symbol))
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (head.len()..=text.len())
                    .any(|i| text.is_char_boundary(i) && glob(tail, &text[i..]))
        }
    }
}

/// `GET /v3/brokerage/accounts`.
pub(super) async fn accounts(Extension(user): Extension<User>) -> Response {
    let accounts = accounts_of(&user.0)
        .into_iter()
        .map(|a| Account {
            account_id: Some(a.id.clone()),
            currency: Some("USD".into()),
            status: Some("Active".into()),
            account_type: Some(a.kind.name().into()),
            account_detail: Some(AccountDetail {
                is_stock_locate_eligible: Some(false),
                enrolled_in_reg_t_program: Some(a.kind == Kind::Margin),
                requires_buying_power_warning: Some(a.kind == Kind::Margin),
                day_trading_qualified: Some(a.kind != Kind::Cash),
                option_approval_level: Some(match a.kind {
                    Kind::Margin => 4,
                    Kind::Cash => 1,
                    Kind::Futures => 0,
                }),
                pattern_day_trader: Some(false),
            }),
            ..Account::default()
        })
        .collect();
    Json(AccountsResponse { accounts }).into_response()
}

/// `GET /v3/brokerage/accounts/{ids}/balances`.
pub(super) async fn balances(
    State(sim): State<Simulator>,
    Extension(user): Extension<User>,
    TsPath(ids): TsPath,
) -> Response {
    let (found, errors) = match select(&user.0, &ids) {
        Ok(selection) => selection,
        Err(message) => return bad_request(message),
    };
    let now = sim.now_ms();
    let balances = sim.with_book(&user.0, |book| {
        found
            .iter()
            .filter_map(|a| book.ledger(&a.id))
            .map(|ledger| balance(&sim, ledger, now))
            .collect()
    });
    Json(BalancesResponse { balances, errors }).into_response()
}

/// The positions of the selected accounts, valued now.
pub(crate) fn positions_of(
    sim: &Simulator,
    book: &Book,
    accounts: &[String],
    now: i64,
) -> Vec<Position> {
    accounts
        .iter()
        .filter_map(|id| book.ledger(id))
        .flat_map(|ledger| {
            ledger
                .holdings
                .iter()
                .map(|h| position_view(sim, &ledger.id, h, now))
        })
        .collect()
}

/// `GET /v3/brokerage/accounts/{ids}/positions?symbol=MSFT,*C*`.
pub(super) async fn positions(
    State(sim): State<Simulator>,
    Extension(user): Extension<User>,
    TsPath(ids): TsPath,
    RawQuery(query): RawQuery,
) -> Response {
    let (found, errors) = match select(&user.0, &ids) {
        Ok(selection) => selection,
        Err(message) => return bad_request(message),
    };
    let params = Params::parse(query.as_deref().unwrap_or(""));
    let filter = params.get_ci("symbol").filter(|f| !f.trim().is_empty());
    let now = sim.now_ms();
    let ids: Vec<String> = found.into_iter().map(|a| a.id).collect();
    let positions = sim
        .with_book(&user.0, |book| positions_of(&sim, book, &ids, now))
        .into_iter()
        .filter(|p| match (filter, &p.symbol) {
            (Some(filter), Some(symbol)) => matches_filter(filter, symbol),
            _ => true,
        })
        .collect();
    Json(PositionsResponse { positions, errors }).into_response()
}

/// Today's and open orders of the selected accounts, newest first.
pub(crate) fn orders_of(book: &Book, accounts: &[String], now: i64) -> Vec<Value> {
    let today = now.div_euclid(DAY_MS);
    let mut list: Vec<&SimOrder> = accounts
        .iter()
        .filter_map(|id| book.ledger(id))
        .flat_map(|l| l.orders.iter())
        .filter(|o| {
            o.status.is_open()
                || o.opened_ms.div_euclid(DAY_MS) == today
                || o.closed_ms.is_some_and(|c| c.div_euclid(DAY_MS) == today)
        })
        .collect();
    list.sort_by(|a, b| b.opened_ms.cmp(&a.opened_ms).then(b.id.cmp(&a.id)));
    list.into_iter().map(order_view).collect()
}

/// `GET /v3/brokerage/accounts/{ids}/orders?pageSize=&nextToken=`.
pub(super) async fn orders(
    State(sim): State<Simulator>,
    Extension(user): Extension<User>,
    TsPath(ids): TsPath,
    RawQuery(query): RawQuery,
) -> Response {
    let (found, errors) = match select(&user.0, &ids) {
        Ok(selection) => selection,
        Err(message) => return bad_request(message),
    };
    let params = Params::parse(query.as_deref().unwrap_or(""));
    let page_size = match params.get_ci("pageSize") {
        None => None,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=600).contains(&n) => Some(n),
            _ => return bad_request("pageSize must be a number from 1 to 600."),
        },
    };
    let offset = match params.get_ci("nextToken") {
        None => 0,
        Some(token) => match decode_next_token(token) {
            Some(offset) => offset,
            None => return bad_request("nextToken is invalid or expired."),
        },
    };
    let now = sim.now_ms();
    let ids: Vec<String> = found.into_iter().map(|a| a.id).collect();
    let all = sim.with_book(&user.0, |book| orders_of(book, &ids, now));
    paged(all, errors, page_size, offset)
}

fn paged(
    all: Vec<Value>,
    errors: Vec<AccountError>,
    page_size: Option<usize>,
    offset: usize,
) -> Response {
    let size = page_size.unwrap_or(600);
    let orders: Vec<Value> = all.iter().skip(offset).take(size).cloned().collect();
    let next = offset + orders.len();
    let mut body = json!({"Orders": orders, "Errors": errors});
    if page_size.is_some() && next < all.len() {
        body["NextToken"] = Value::String(encode_next_token(next));
    }
    Json(body).into_response()
}

/// `GET /v3/brokerage/accounts/{ids}/historicalorders?since=YYYY-MM-DD`:
/// closed orders since a date (at most 90 days back), newest first.
pub(super) async fn historical_orders(
    State(sim): State<Simulator>,
    Extension(user): Extension<User>,
    TsPath(ids): TsPath,
    RawQuery(query): RawQuery,
) -> Response {
    let (found, errors) = match select(&user.0, &ids) {
        Ok(selection) => selection,
        Err(message) => return bad_request(message),
    };
    let params = Params::parse(query.as_deref().unwrap_or(""));
    let now = sim.now_ms();
    let today = now.div_euclid(DAY_MS);
    let since = match params.get_ci("since").and_then(calendar::parse_date) {
        Some(day) if day >= today - 90 && day <= today => day,
        _ => {
            return bad_request(
                "since must be a date within the past 90 days, such as 2021-12-17.",
            );
        }
    };
    let ids: Vec<String> = found.into_iter().map(|a| a.id).collect();
    let all = sim.with_book(&user.0, |book| {
        let mut list: Vec<&SimOrder> = ids
            .iter()
            .filter_map(|id| book.ledger(id))
            .flat_map(|l| l.orders.iter())
            .filter(|o| o.closed_ms.is_some_and(|c| c.div_euclid(DAY_MS) >= since))
            .collect();
        list.sort_by(|a, b| b.opened_ms.cmp(&a.opened_ms).then(b.id.cmp(&a.id)));
        list.into_iter().map(order_view).collect::<Vec<_>>()
    });
    paged(all, errors, None, 0)
}

fn encode_next_token(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("orders:{offset}"))
}

fn decode_next_token(token: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD
        .decode(token.get(..64.min(token.len()))?)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("orders:")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_stable_per_user_and_unknown_ids_become_errors() {
        let ids = accounts_of("trader");
        assert_eq!(ids.len(), 3);
        assert_eq!(accounts_of("trader")[0].id, ids[0].id);
        assert_ne!(accounts_of("someone")[0].id, ids[0].id);
        let (found, errors) = select("trader", &format!("{},NOPE123", ids[1].id)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(errors[0].account_id.as_deref(), Some("NOPE123"));
        assert!(select("trader", " , ").is_err());
    }

    #[test]
    fn balances_add_up_and_positions_filter() {
        let sim = crate::test_support::simulator(|_| {});
        let now = 1_767_268_800_000;
        let book = seed_book(sim.market(), 0, "trader", now);
        for ledger in &book.ledgers {
            let b = balance(&sim, ledger, now);
            let n = |s: &Option<String>| s.as_deref().unwrap().parse::<f64>().unwrap();
            if ledger.kind != Kind::Futures {
                assert!((n(&b.equity) - n(&b.cash_balance) - n(&b.market_value)).abs() < 0.02);
            }
            assert!(n(&b.buying_power) >= 0.0);
        }
        assert!(matches_filter("MSFT *", "MSFT 271217C450"));
        assert!(matches_filter("aapl,MSFT", "MSFT"));
        assert!(matches_filter("* 2712*C*", "MSFT 271217C450"));
        assert!(!matches_filter("MSFT *", "MSFT"));
        assert!(!matches_filter("AAPL", "MSFT"));
    }

    #[test]
    fn next_tokens_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_next_token(&encode_next_token(4)), Some(4));
        assert_eq!(decode_next_token("garbage!"), None);
    }
}
