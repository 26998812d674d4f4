//! Brokerage payloads: `/v3/brokerage/accounts` and, per comma-separated
//! account list, `/balances`, `/positions` and `/orders`.
//!
//! The per-account answers are 200 with a partial `Errors` array when some of
//! the requested accounts cannot be served ([`AccountError`]): a client shows
//! what came back and the errors beside it.

use serde::{Deserialize, Serialize};

/// One brokerage account (`GET /v3/brokerage/accounts`).
///
/// `AccountType` is `Cash`, `Margin`, `Futures` or `DVP`; `Status` e.g.
/// `Active`, `Closed`, `Closing Transaction Only`. `Alias`/`AltID` are
/// omitted when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    #[serde(rename = "AccountID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(rename = "AltID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_detail: Option<AccountDetail>,
}

/// Trading permissions of an [`Account`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_stock_locate_eligible: Option<bool>,
    #[serde(rename = "EnrolledInRegTProgram")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolled_in_reg_t_program: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires_buying_power_warning: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_trading_qualified: Option<bool>,
    /// A JSON number (0–5), unlike most TradeStation values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option_approval_level: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern_day_trader: Option<bool>,
}

/// `{"Accounts":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountsResponse {
    #[serde(default)]
    pub accounts: Vec<Account>,
}

/// A partial error inside a 200 answer for one account of a comma list, e.g.
/// `{"AccountID":"123456782C","Error":"Forbidden","Message":"Request not supported for account type."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountError {
    #[serde(rename = "AccountID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The balances of one account. Money amounts are decimal strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Balance {
    #[serde(rename = "AccountID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cash_balance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buying_power: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub market_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub todays_profit_loss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncleared_deposit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commission: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_detail: Option<BalanceDetail>,
    /// Futures accounts only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency_details: Option<Vec<CurrencyDetail>>,
}

/// Detail of a [`Balance`]; the futures-only fields are absent elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BalanceDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_of_positions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_trades: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_rate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option_buying_power: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options_market_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overnight_buying_power: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_margin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realized_profit_loss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unrealized_profit_loss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_trade_excess: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_trade_margin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_margin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_margin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_order_margin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_on_deposit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trade_equity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub today_real_time_trade_equity: Option<String>,
}

/// Per-currency balances of a futures account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CurrencyDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cash_balance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commission: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_margin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_margin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realized_profit_loss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unrealized_profit_loss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_conversion_rate: Option<String>,
}

/// `{"Balances":[…],"Errors":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BalancesResponse {
    #[serde(default)]
    pub balances: Vec<Balance>,
    #[serde(default)]
    pub errors: Vec<AccountError>,
}

/// One open position. `AssetType` is `STOCK`, `STOCKOPTION`, `FUTURE` or
/// `INDEXOPTION`; `ExpirationDate` is set on options and futures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Position {
    #[serde(rename = "AccountID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(rename = "PositionID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_short: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversion_rate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub market_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cost: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark_to_market_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub todays_profit_loss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unrealized_profit_loss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unrealized_profit_loss_percent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unrealized_profit_loss_qty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_trade_requirement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_requirement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_margin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// `{"Positions":[…],"Errors":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PositionsResponse {
    #[serde(default)]
    pub positions: Vec<Position>,
    #[serde(default)]
    pub errors: Vec<AccountError>,
}

/// One order (today's and open orders, newest first).
///
/// `Status` codes: open `ACK, OPN, DON, …`, canceled `CAN, EXP, …`, rejected
/// `REJ`, filled `FLL, FLP`. Filled orders add `FilledPrice` and
/// `ClosedDateTime`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Order {
    #[serde(rename = "AccountID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(rename = "OrderID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub good_till_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filled_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commission_fee: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_used_for_buying_power: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unbundled_route_fee: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<String>,
    #[serde(default)]
    pub legs: Vec<OrderLeg>,
}

/// One leg of an [`Order`]; option legs add `OptionType`, `StrikePrice`,
/// `ExpirationDate` and `Underlying`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderLeg {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buy_or_sell: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_or_close: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity_ordered: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_quantity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity_remaining: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strike_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub underlying: Option<String>,
}

/// `{"Orders":[…],"Errors":[…],"NextToken":"…"}`; `NextToken` (1 h lifetime)
/// fetches the next page when `pageSize` was given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrdersResponse {
    #[serde(default)]
    pub orders: Vec<Order>,
    #[serde(default)]
    pub errors: Vec<AccountError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    /// Parses `json`, checks that serialising gives the same JSON value back.
    fn round_trip<T: Serialize + DeserializeOwned>(json: &str) -> T {
        let parsed: T = serde_json::from_str(json).unwrap();
        let again = serde_json::to_value(&parsed).unwrap();
        let original: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(again, original);
        parsed
    }

    const ACCOUNT: &str = r#"{"AccountID":"123456782","Currency":"USD","Status":"Active","AccountType":"Margin",
 "AccountDetail":{"IsStockLocateEligible":false,"EnrolledInRegTProgram":true,"RequiresBuyingPowerWarning":true,
  "DayTradingQualified":true,"OptionApprovalLevel":1,"PatternDayTrader":false}}"#;

    const BALANCE: &str = r#"{"AccountID":"123456782","AccountType":"Margin","CashBalance":"39735538.661","BuyingPower":"39735498.661",
 "Equity":"39893233.6211","MarketValue":"157727.6092","TodaysProfitLoss":"982.8001","UnclearedDeposit":"0",
 "Commission":"0","BalanceDetail":{"CostOfPositions":"134589.21","DayTrades":"0","MaintenanceRate":"29720.06",
  "OptionBuyingPower":"39735538.661","OptionsMarketValue":"0","OvernightBuyingPower":"39735458.661",
  "RequiredMargin":"134589.21","RealizedProfitLoss":"0","UnrealizedProfitLoss":"23138.3992000534"}}"#;

    const POSITION: &str = r#"{"AccountID":"123456782","PositionID":"64630792","Symbol":"MSFT","AssetType":"STOCK","LongShort":"Long",
 "Quantity":"10","AveragePrice":"216.68","Last":"216.63","Bid":"216.62","Ask":"216.64","ConversionRate":"1",
 "MarketValue":"2166.3","TotalCost":"2166.8","MarkToMarketPrice":"216.68","TodaysProfitLoss":"-0.5",
 "UnrealizedProfitLoss":"-0.5","UnrealizedProfitLossPercent":"-0.023","UnrealizedProfitLossQty":"-0.05",
 "DayTradeRequirement":"0","InitialRequirement":"0","MaintenanceMargin":"0","Timestamp":"2020-11-16T16:53:37Z"}"#;

    const ORDER: &str = r#"{"AccountID":"123456782","OrderID":"286179863","OrderType":"Limit","LimitPrice":"230","Duration":"GTC",
 "Status":"ACK","StatusDescription":"Received","OpenedDateTime":"2020-11-17T16:34:37Z","Currency":"USD",
 "CommissionFee":"0","Routing":"Intelligent","PriceUsedForBuyingPower":"230","UnbundledRouteFee":"0",
 "Legs":[{"AssetType":"STOCK","BuyOrSell":"Sell","OpenOrClose":"Close","Symbol":"MSFT",
  "QuantityOrdered":"10","ExecQuantity":"0","QuantityRemaining":"10"}]}"#;

    #[test]
    fn account_example_parses_and_round_trips() {
        let account: Account = round_trip(ACCOUNT);
        assert_eq!(account.account_id.as_deref(), Some("123456782"));
        assert_eq!(account.account_type.as_deref(), Some("Margin"));
        let detail = account.account_detail.unwrap();
        assert_eq!(detail.option_approval_level, Some(1));
        assert_eq!(detail.enrolled_in_reg_t_program, Some(true));
        assert_eq!(account.alias, None);
    }

    #[test]
    fn balance_example_parses_and_round_trips() {
        let balance: Balance = round_trip(BALANCE);
        assert_eq!(balance.cash_balance.as_deref(), Some("39735538.661"));
        let detail = balance.balance_detail.unwrap();
        assert_eq!(
            detail.unrealized_profit_loss.as_deref(),
            Some("23138.3992000534")
        );
    }

    #[test]
    fn position_and_order_examples_parse_and_round_trip() {
        let position: Position = round_trip(POSITION);
        assert_eq!(position.position_id.as_deref(), Some("64630792"));
        assert_eq!(position.last.as_deref(), Some("216.63"));
        let order: Order = round_trip(ORDER);
        assert_eq!(order.order_id.as_deref(), Some("286179863"));
        assert_eq!(order.legs.len(), 1);
        assert_eq!(order.legs[0].buy_or_sell.as_deref(), Some("Sell"));
    }

    #[test]
    fn partial_errors_and_absent_lists() {
        let json = format!(
            r#"{{"Balances":[{BALANCE}],"Errors":[{{"AccountID":"123456782C","Error":"Forbidden","Message":"Request not supported for account type."}}]}}"#
        );
        let response: BalancesResponse = round_trip(&json);
        assert_eq!(response.balances.len(), 1);
        assert_eq!(response.errors[0].error.as_deref(), Some("Forbidden"));

        let empty: OrdersResponse = serde_json::from_str("{}").unwrap();
        assert!(empty.orders.is_empty() && empty.errors.is_empty());
        let accounts: AccountsResponse =
            serde_json::from_str(&format!(r#"{{"Accounts":[{ACCOUNT}]}}"#)).unwrap();
        assert_eq!(accounts.accounts.len(), 1);
        let positions: PositionsResponse =
            serde_json::from_str(&format!(r#"{{"Positions":[{POSITION}]}}"#)).unwrap();
        assert!(positions.errors.is_empty());
    }

    #[test]
    fn unset_fields_are_omitted_not_null() {
        let json = serde_json::to_string(&Account {
            account_id: Some("1".into()),
            ..Account::default()
        })
        .unwrap();
        assert_eq!(json, r#"{"AccountID":"1"}"#);
    }
}
