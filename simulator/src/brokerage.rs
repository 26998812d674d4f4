//! Simulated brokerage: every user has a Margin, a Cash and a Futures
//! account with a few positions and today's orders, valued at the market's
//! current prices.
//!
//! Account IDs derive from the user name, so they are stable across
//! restarts. As TradeStation does, a comma list that names an account the
//! user does not hold answers 200 with a partial `Errors` entry for it.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use shared::ts::accounts::{
    Account, AccountDetail, AccountError, AccountsResponse, Balance, BalanceDetail,
    BalancesResponse, CurrencyDetail, Order, OrderLeg, OrdersResponse, Position, PositionsResponse,
};

use super::calendar::{self, DAY_MS};
use super::data::{TsPath, User};
use super::market::{AssetClass, Instrument, Market, fmt_decimal, fnv, hash2};
use super::options::OptionContract;
use super::{Params, Simulator, bad_request};

/// At most this many accounts per request (TradeStation: 25).
const MAX_ACCOUNTS: usize = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Margin,
    Cash,
    Futures,
}

/// One of the user's accounts.
#[derive(Debug, Clone)]
struct SimAccount {
    id: String,
    kind: Kind,
}

/// The user's three accounts.
fn accounts_of(user: &str) -> Vec<SimAccount> {
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
fn select(user: &str, ids: &str) -> Result<(Vec<SimAccount>, Vec<AccountError>), &'static str> {
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

/// A holding: symbol, signed quantity, and how many days ago it was opened.
struct Holding {
    instrument: Instrument,
    quantity: f64,
    opened_ms: i64,
}

fn holdings(market: &Market, account: &SimAccount, now_ms: i64) -> Vec<Holding> {
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
            Some(Holding {
                instrument: market.instrument(&symbol)?,
                quantity,
                opened_ms: now_ms - days * DAY_MS - 3 * 3_600_000,
            })
        })
        .collect()
}

/// Money with two decimals, trailing zeros dropped.
fn money(x: f64) -> String {
    fmt_decimal(x, 2)
}

/// Figures of one position, reused by the balances.
struct Valued {
    position: Position,
    market_value: f64,
    cost: f64,
    todays: f64,
    is_option: bool,
    is_future: bool,
    quantity: f64,
}

fn value(market: &Market, account: &SimAccount, holding: &Holding, now_ms: i64) -> Valued {
    let inst = &holding.instrument;
    let day = market.day_stats(inst, now_ms.div_euclid(DAY_MS));
    let quote = market.quote(inst, now_ms, &day);
    let last = market.price(inst, now_ms);
    let average = market.price(inst, holding.opened_ms);
    let (q, pv) = (holding.quantity, inst.point_value);
    let market_value = q * last * pv;
    let cost = q * average * pv;
    let unrealized = market_value - cost;
    let todays = q * (last - day.previous_close) * pv;
    let fmt = |x: f64| super::market::fmt_price(x, inst.tick);
    let is_future = inst.class == AssetClass::Future;
    let (initial, maintenance) = if is_future {
        (12_650.0 * q.abs(), 11_500.0 * q.abs())
    } else {
        (0.0, 0.0)
    };
    let expiration = match &inst.option {
        Some(contract) => Some(calendar::date_rfc3339(contract.expiry_day)),
        None if is_future => Some(calendar::date_rfc3339(Market::front_future_expiry(now_ms))),
        None => None,
    };
    let position = Position {
        account_id: Some(account.id.clone()),
        position_id: Some(format!(
            "{}",
            10_000_000 + hash2(fnv(&account.id), fnv(&inst.symbol)) % 90_000_000
        )),
        symbol: Some(inst.symbol.clone()),
        asset_type: Some(inst.asset_type().into()),
        long_short: Some(if q >= 0.0 { "Long" } else { "Short" }.into()),
        quantity: Some(fmt_decimal(q, 0)),
        average_price: Some(fmt(average)),
        last: Some(fmt(last)),
        bid: quote.bid,
        ask: quote.ask,
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
    };
    Valued {
        position,
        market_value,
        cost,
        todays,
        is_option: inst.option.is_some(),
        is_future,
        quantity: q,
    }
}

fn valued(market: &Market, account: &SimAccount, now_ms: i64) -> Vec<Valued> {
    holdings(market, account, now_ms)
        .iter()
        .map(|h| value(market, account, h, now_ms))
        .collect()
}

fn balance(market: &Market, account: &SimAccount, now_ms: i64) -> Balance {
    let positions = valued(market, account, now_ms);
    let sum = |f: &dyn Fn(&Valued) -> f64| positions.iter().map(f).sum::<f64>();
    let market_value = sum(&|v| if v.is_future { 0.0 } else { v.market_value });
    let cost = sum(&|v| if v.is_future { 0.0 } else { v.cost });
    let gross = sum(&|v| {
        if v.is_future {
            0.0
        } else {
            v.market_value.abs()
        }
    });
    let unrealized = sum(&|v| v.market_value - v.cost);
    let todays = sum(&|v| v.todays);
    let options_value = sum(&|v| if v.is_option { v.market_value } else { 0.0 });
    let starting_cash = match account.kind {
        Kind::Margin => 250_000.0,
        Kind::Cash => 60_000.0,
        Kind::Futures => 50_000.0,
    };
    let cash = starting_cash - cost;
    let mut detail = BalanceDetail {
        cost_of_positions: Some(money(sum(&|v| v.cost.abs()))),
        day_trades: Some("0".into()),
        realized_profit_loss: Some("0".into()),
        unrealized_profit_loss: Some(money(unrealized)),
        ..BalanceDetail::default()
    };
    let (equity, buying_power, currency_details) = match account.kind {
        Kind::Margin => {
            let equity = cash + market_value;
            let maintenance = 0.25 * gross;
            let overnight = (2.0 * equity - gross).max(0.0);
            detail.maintenance_rate = Some(money(maintenance));
            detail.option_buying_power = Some(money(cash.max(0.0)));
            detail.options_market_value = Some(money(options_value));
            detail.overnight_buying_power = Some(money(overnight));
            detail.required_margin = Some(money(0.5 * gross));
            (equity, (4.0 * (equity - maintenance)).max(0.0), None)
        }
        Kind::Cash => {
            let equity = cash + market_value;
            detail.option_buying_power = Some(money(cash));
            detail.options_market_value = Some(money(options_value));
            detail.overnight_buying_power = Some(money(cash));
            detail.required_margin = Some("0".into());
            (equity, cash, None)
        }
        Kind::Futures => {
            let contracts = sum(&|v| if v.is_future { v.quantity.abs() } else { 0.0 });
            let initial = 12_650.0 * contracts;
            let maintenance = 11_500.0 * contracts;
            let equity = cash + unrealized;
            detail.day_trade_excess = Some(money(equity - 0.5 * initial));
            detail.day_trade_margin = Some(money(0.5 * initial));
            detail.initial_margin = Some(money(initial));
            detail.maintenance_margin = Some(money(maintenance));
            detail.open_order_margin = Some("0".into());
            detail.security_on_deposit = Some("0".into());
            detail.trade_equity = Some(money(unrealized));
            detail.today_real_time_trade_equity = Some(money(todays));
            let currency = CurrencyDetail {
                currency: Some("USD".into()),
                cash_balance: Some(money(cash)),
                commission: Some("0".into()),
                initial_margin: Some(money(initial)),
                maintenance_margin: Some(money(maintenance)),
                realized_profit_loss: Some("0".into()),
                unrealized_profit_loss: Some(money(unrealized)),
                account_conversion_rate: Some("1".into()),
            };
            (equity, (equity - initial).max(0.0), Some(vec![currency]))
        }
    };
    Balance {
        account_id: Some(account.id.clone()),
        account_type: Some(kind_name(account.kind).into()),
        cash_balance: Some(money(cash)),
        buying_power: Some(money(buying_power)),
        equity: Some(money(equity)),
        market_value: Some(money(market_value)),
        todays_profit_loss: Some(money(todays)),
        uncleared_deposit: Some("0".into()),
        commission: Some("0".into()),
        balance_detail: Some(detail),
        currency_details,
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Margin => "Margin",
        Kind::Cash => "Cash",
        Kind::Futures => "Futures",
    }
}

/// Today's orders of an account, newest first.
fn orders_of(market: &Market, account: &SimAccount, now_ms: i64) -> Vec<Order> {
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
            let opened = now_ms - s.minutes_ago * 60_000;
            let at_open = market.price(&inst, opened);
            let fmt = |x: f64| super::market::fmt_price(x, inst.tick);
            let level = (s.limit_factor > 0.0).then(|| fmt(at_open * s.limit_factor));
            let filled = s.status == "FLL";
            let closed = matches!(s.status, "FLL" | "CAN");
            let asset_type = match inst.class {
                AssetClass::Future => "FUTURE",
                _ => "STOCK",
            };
            let quantity = fmt_decimal(s.quantity, 0);
            Some(Order {
                account_id: Some(account.id.clone()),
                order_id: Some(format!(
                    "{}",
                    100_000_000 + hash2(fnv(&account.id), i as u64) % 900_000_000
                )),
                order_type: Some(s.order_type.into()),
                limit_price: level.clone().filter(|_| s.order_type.contains("Limit")),
                stop_price: level.filter(|_| s.order_type.starts_with("Stop")),
                duration: Some(s.duration.into()),
                status: Some(s.status.into()),
                status_description: Some(s.description.into()),
                opened_date_time: Some(calendar::rfc3339(opened)),
                closed_date_time: closed.then(|| calendar::rfc3339(opened + 1500)),
                filled_price: filled.then(|| fmt(at_open)),
                currency: Some("USD".into()),
                commission_fee: Some("0".into()),
                routing: Some("Intelligent".into()),
                price_used_for_buying_power: Some(fmt(at_open)),
                unbundled_route_fee: Some("0".into()),
                legs: vec![OrderLeg {
                    asset_type: Some(asset_type.into()),
                    buy_or_sell: Some(s.side.into()),
                    open_or_close: Some(s.open_close.into()),
                    symbol: Some(inst.symbol.clone()),
                    quantity_ordered: Some(quantity.clone()),
                    exec_quantity: Some(if filled { quantity.clone() } else { "0".into() }),
                    quantity_remaining: Some(if closed { "0".into() } else { quantity }),
                    execution_price: filled.then(|| fmt(at_open)),
                    ..OrderLeg::default()
                }],
                ..Order::default()
            })
        })
        .collect()
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
            account_type: Some(kind_name(a.kind).into()),
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
    let now = calendar::now_ms();
    let balances = found
        .iter()
        .map(|a| balance(sim.market(), a, now))
        .collect();
    Json(BalancesResponse { balances, errors }).into_response()
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
    let now = calendar::now_ms();
    let positions = found
        .iter()
        .flat_map(|a| valued(sim.market(), a, now))
        .map(|v| v.position)
        .filter(|p| match (filter, &p.symbol) {
            (Some(filter), Some(symbol)) => matches_filter(filter, symbol),
            _ => true,
        })
        .collect();
    Json(PositionsResponse { positions, errors }).into_response()
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
    let now = calendar::now_ms();
    let mut all: Vec<Order> = found
        .iter()
        .flat_map(|a| orders_of(sim.market(), a, now))
        .collect();
    all.sort_by(|a, b| b.opened_date_time.cmp(&a.opened_date_time));
    let size = page_size.unwrap_or(600);
    let orders: Vec<Order> = all.iter().skip(offset).take(size).cloned().collect();
    let next = offset + orders.len();
    let next_token = (page_size.is_some() && next < all.len()).then(|| encode_next_token(next));
    Json(OrdersResponse {
        orders,
        errors,
        next_token,
    })
    .into_response()
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
        let market = Market::new(0);
        let now = 1_767_268_800_000;
        for account in accounts_of("trader") {
            let b = balance(&market, &account, now);
            let n = |s: &Option<String>| s.as_deref().unwrap().parse::<f64>().unwrap();
            if account.kind != Kind::Futures {
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
