//! `/accounts`: every account with its balances, and its positions and
//! orders in tabs.
//!
//! One resource loads the account list, then balances, positions and orders
//! for all accounts at once (TradeStation takes comma-separated ids). Those
//! answers may be 200 with a partial `Errors` array; the errors are shown on
//! the card of the account they name, beside whatever did arrive.

use leptos::prelude::*;
use shared::ts::accounts::{
    Account, AccountError, Balance, BalancesResponse, Order, OrdersResponse, Position,
    PositionsResponse,
};

use crate::api::{self, ApiError};
use crate::components::{Loader, RequireSession};
use crate::format;

/// Everything the page shows, fetched together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountsData {
    pub accounts: Vec<Account>,
    pub balances: BalancesResponse,
    pub positions: PositionsResponse,
    pub orders: OrdersResponse,
}

impl AccountsData {
    fn for_account(&self, id: &str) -> AccountView {
        let mine = |a: &Option<String>| a.as_deref() == Some(id);
        AccountView {
            balance: self
                .balances
                .balances
                .iter()
                .find(|b| mine(&b.account_id))
                .cloned(),
            positions: self
                .positions
                .positions
                .iter()
                .filter(|p| mine(&p.account_id))
                .cloned()
                .collect(),
            orders: self
                .orders
                .orders
                .iter()
                .filter(|o| mine(&o.account_id))
                .cloned()
                .collect(),
            errors: self
                .balances
                .errors
                .iter()
                .chain(&self.positions.errors)
                .chain(&self.orders.errors)
                .filter(|e| mine(&e.account_id))
                .cloned()
                .collect(),
        }
    }
}

/// One account's slice of [`AccountsData`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountView {
    pub balance: Option<Balance>,
    pub positions: Vec<Position>,
    pub orders: Vec<Order>,
    pub errors: Vec<AccountError>,
}

async fn load(signal: Option<web_sys::AbortSignal>) -> Result<AccountsData, ApiError> {
    let signal = signal.as_ref();
    let accounts = api::accounts(signal).await?.accounts;
    let ids: Vec<String> = accounts
        .iter()
        .filter_map(|a| a.account_id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(AccountsData {
            accounts,
            ..AccountsData::default()
        });
    }
    // TradeStation takes up to 25 ids per call; a login rarely has more.
    let ids = &ids[..ids.len().min(25)];
    let balances = api::balances(ids, signal).await?;
    let positions = api::positions(ids, signal).await?;
    let orders = api::orders(ids, signal).await?;
    Ok(AccountsData {
        accounts,
        balances,
        positions,
        orders,
    })
}

#[component]
pub fn AccountsPage() -> impl IntoView {
    view! {
        <div class="page" data-testid="accounts-page">
            <RequireSession>
                <AccountsView/>
            </RequireSession>
        </div>
    }
}

#[component]
fn AccountsView() -> impl IntoView {
    let data = Loader::new(load);
    view! {
        <div class="page-head">
            <h1>"Accounts"</h1>
            <button class="btn" data-testid="refresh-accounts" on:click=move |_| data.reload()>"Refresh"</button>
        </div>
        {data.view(|data: AccountsData| {
            if data.accounts.is_empty() {
                return view! {
                    <p class="empty" data-testid="accounts-empty">"No brokerage accounts on this TradeStation login."</p>
                }
                .into_any();
            }
            data.accounts
                .iter()
                .map(|account| {
                    let id = account.account_id.clone().unwrap_or_default();
                    let slice = data.for_account(&id);
                    view! { <AccountCard account=account.clone() data=slice/> }
                })
                .collect_view()
                .into_any()
        })}
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Positions,
    Orders,
}

/// One account: header, balances, and the positions/orders tabs.
#[component]
pub fn AccountCard(account: Account, data: AccountView) -> impl IntoView {
    let tab = RwSignal::new(Tab::Positions);
    let id = account.account_id.clone().unwrap_or_default();
    // The id leads the details only when an alias is the title.
    let kind = [
        account.alias.is_some().then(|| id.clone()),
        account.account_type.clone(),
        account.status.clone(),
        account.currency.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    let AccountView {
        balance,
        positions,
        orders,
        errors,
    } = data;
    let (n_pos, n_ord) = (positions.len(), orders.len());
    view! {
        <section class="card account" data-testid="account-card" data-account-id=id.clone()>
            <header class="account-head">
                <h2>{account.alias.clone().unwrap_or_else(|| id.clone())}</h2>
                <span class="muted">{kind}</span>
            </header>
            {errors.into_iter().map(|e| view! {
                <p class="notice notice-warn" data-testid="account-error">
                    {e.message.or(e.error).unwrap_or_else(|| "TradeStation reported a problem with this account.".to_owned())}
                </p>
            }).collect_view()}
            {match balance {
                Some(b) => view! { <Balances balance=b/> }.into_any(),
                None => view! { <p class="empty" data-testid="balances-empty">"No balances for this account."</p> }.into_any(),
            }}
            <div class="tabs" role="tablist">
                <button role="tab" class="tab" data-testid="positions-tab"
                        aria-selected=move || (tab.get() == Tab::Positions).to_string()
                        on:click=move |_| tab.set(Tab::Positions)>
                    "Positions (" {n_pos} ")"
                </button>
                <button role="tab" class="tab" data-testid="orders-tab"
                        aria-selected=move || (tab.get() == Tab::Orders).to_string()
                        on:click=move |_| tab.set(Tab::Orders)>
                    "Orders (" {n_ord} ")"
                </button>
            </div>
            <div role="tabpanel">
                <div hidden=move || tab.get() != Tab::Positions>
                    <Positions positions=positions/>
                </div>
                <div hidden=move || tab.get() != Tab::Orders>
                    <Orders orders=orders/>
                </div>
            </div>
        </section>
    }
}

#[component]
fn Balances(balance: Balance) -> impl IntoView {
    let pl = balance.todays_profit_loss.clone();
    let pl_class = format!("value {}", format::sign_class(pl.as_deref()));
    view! {
        <dl class="balances" data-testid="balances">
            <div><dt>"Cash"</dt><dd class="value" data-testid="balance-cash">{format::money(balance.cash_balance.as_deref())}</dd></div>
            <div><dt>"Equity"</dt><dd class="value" data-testid="balance-equity">{format::money(balance.equity.as_deref())}</dd></div>
            <div><dt>"Buying power"</dt><dd class="value" data-testid="balance-buying-power">{format::money(balance.buying_power.as_deref())}</dd></div>
            <div><dt>"Today's P/L"</dt><dd class=pl_class data-testid="balance-todays-pl">{format::signed(pl.as_deref())}</dd></div>
            <div><dt>"Market value"</dt><dd class="value" data-testid="balance-market-value">{format::money(balance.market_value.as_deref())}</dd></div>
        </dl>
    }
}

#[component]
fn Positions(positions: Vec<Position>) -> impl IntoView {
    if positions.is_empty() {
        return view! { <p class="empty" data-testid="positions-empty">"No open positions."</p> }
            .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="positions-table">
                <thead><tr>
                    <th>"Symbol"</th><th class="num">"Qty"</th><th class="num">"Avg price"</th>
                    <th class="num">"Last"</th><th class="num">"Market value"</th>
                    <th class="num">"Unrealized P/L"</th><th class="num">"Today"</th>
                </tr></thead>
                <tbody>
                    {positions.into_iter().map(|p| {
                        let upl = p.unrealized_profit_loss.clone();
                        let upl_class = format!("num {}", format::sign_class(upl.as_deref()));
                        let today_class = format!("num {}", format::sign_class(p.todays_profit_loss.as_deref()));
                        let qty = format::quantity(p.quantity.as_deref());
                        let qty = if p.long_short.as_deref() == Some("Short") { format!("{qty} short") } else { qty };
                        let pct = p.unrealized_profit_loss_percent.as_deref().map(|v| format::pct(Some(v)));
                        view! {
                            <tr data-testid="position-row" data-symbol=p.symbol.clone().unwrap_or_default()>
                                <td class="sym">{p.symbol.clone().unwrap_or_default()}</td>
                                <td class="num">{qty}</td>
                                <td class="num">{format::price(p.average_price.as_deref())}</td>
                                <td class="num">{format::price(p.last.as_deref())}</td>
                                <td class="num">{format::money(p.market_value.as_deref())}</td>
                                <td class=upl_class data-testid="position-upl">
                                    {format::signed(upl.as_deref())}
                                    {pct.map(|pct| view! { <small>" (" {pct} ")"</small> })}
                                </td>
                                <td class=today_class>{format::signed(p.todays_profit_loss.as_deref())}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn Orders(orders: Vec<Order>) -> impl IntoView {
    if orders.is_empty() {
        return view! { <p class="empty" data-testid="orders-empty">"No orders today."</p> }
            .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="orders-table">
                <thead><tr>
                    <th>"Opened"</th><th>"Symbol"</th><th>"Side"</th><th>"Type"</th>
                    <th class="num">"Qty"</th><th class="num">"Price"</th><th>"Status"</th>
                </tr></thead>
                <tbody>
                    {orders.into_iter().map(|o| {
                        let leg = o.legs.first().cloned().unwrap_or_default();
                        let symbols = o.legs.iter().filter_map(|l| l.symbol.clone()).collect::<Vec<_>>().join(", ");
                        let price = match o.order_type.as_deref() {
                            Some("Limit") | Some("StopLimit") => format::price(o.limit_price.as_deref()),
                            Some("StopMarket") => format::price(o.stop_price.as_deref()),
                            _ => o.filled_price.as_deref().map_or_else(|| "market".to_owned(), |p| format::price(Some(p))),
                        };
                        let status = o.status_description.clone().or(o.status.clone()).unwrap_or_default();
                        let side_class = match leg.buy_or_sell.as_deref() { Some("Buy") => "pos", Some("Sell") => "neg", _ => "" };
                        view! {
                            <tr data-testid="order-row">
                                <td>{format::date_of(o.opened_date_time.as_deref())} " " {format::time_of(o.opened_date_time.as_deref())}</td>
                                <td class="sym">{symbols}</td>
                                <td class=side_class>{leg.buy_or_sell.unwrap_or_default()}</td>
                                <td>{o.order_type.clone().unwrap_or_default()} " " <small class="muted">{o.duration.clone().unwrap_or_default()}</small></td>
                                <td class="num">{format::quantity(leg.quantity_ordered.as_deref())}</td>
                                <td class="num">{price}</td>
                                <td>{status}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
