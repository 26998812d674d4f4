//! Order execution: what the app sends to `/v3/orderexecution/*`, what
//! TradeStation answers, and the lines of the order and position streams.
//!
//! Requests are checked here, once, for both sides: [`OrderRequest`],
//! [`OrderReplaceRequest`] and [`OrderGroupRequest`] are built only through
//! their `TryFrom<serde_json::Value>` (or [`OrderRequest::parse_for_placing`]),
//! which names the first bad field in an [`InvalidOrder`]. The backend
//! forwards the bytes it received, not a re-serialisation, so fields this
//! crate does not know reach TradeStation as sent; they are also kept in each
//! type's `extra` map.
//!
//! Prices and quantities stay strings, as TradeStation sends them. The order
//! shape of `GET …/orders` is [`super::accounts::Order`]; the stream adds a
//! few fields in [`StreamOrder`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::accounts::{Order, Position};
use super::stream::{Heartbeat, StreamError, StreamStatus};

/// The longest `OrderConfirmID` accepted.
pub const MAX_CONFIRM_ID_LEN: usize = 64;

/// The most orders a group may hold.
pub const MAX_GROUP_ORDERS: usize = 100;

/// A request that does not match the order types. `field` names the first
/// bad field as TradeStation spells it, with its place in a group
/// (`Orders[1].LimitPrice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidOrder {
    pub field: String,
    pub problem: &'static str,
}

impl InvalidOrder {
    fn new(field: &str, problem: &'static str) -> Self {
        Self {
            field: field.to_owned(),
            problem,
        }
    }

    fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

impl std::fmt::Display for InvalidOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for InvalidOrder {}

/// `OrderType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderType {
    Market,
    Limit,
    StopMarket,
    StopLimit,
}

impl OrderType {
    pub const ALL: [OrderType; 4] = [Self::Market, Self::Limit, Self::StopMarket, Self::StopLimit];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Market => "Market",
            Self::Limit => "Limit",
            Self::StopMarket => "StopMarket",
            Self::StopLimit => "StopLimit",
        }
    }

    /// TradeStation's spelling exactly.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    pub fn needs_limit_price(self) -> bool {
        matches!(self, Self::Limit | Self::StopLimit)
    }

    pub fn needs_stop_price(self) -> bool {
        matches!(self, Self::StopMarket | Self::StopLimit)
    }
}

/// `TradeAction`: TradeStation accepts any case (its own examples write
/// `Buy`); serialised in upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeAction {
    Buy,
    Sell,
    BuyToCover,
    SellShort,
    BuyToOpen,
    BuyToClose,
    SellToOpen,
    SellToClose,
}

impl TradeAction {
    pub const ALL: [TradeAction; 8] = [
        Self::Buy,
        Self::Sell,
        Self::BuyToCover,
        Self::SellShort,
        Self::BuyToOpen,
        Self::BuyToClose,
        Self::SellToOpen,
        Self::SellToClose,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "BUY",
            Self::Sell => "SELL",
            Self::BuyToCover => "BUYTOCOVER",
            Self::SellShort => "SELLSHORT",
            Self::BuyToOpen => "BUYTOOPEN",
            Self::BuyToClose => "BUYTOCLOSE",
            Self::SellToOpen => "SELLTOOPEN",
            Self::SellToClose => "SELLTOCLOSE",
        }
    }

    /// Any case.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(raw))
    }

    /// Whether the action buys (`BUY`, `BUYTOCOVER`, `BUYTOOPEN`, `BUYTOCLOSE`).
    pub fn is_buy(self) -> bool {
        matches!(
            self,
            Self::Buy | Self::BuyToCover | Self::BuyToOpen | Self::BuyToClose
        )
    }
}

impl Serialize for TradeAction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TradeAction {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom("unknown TradeAction"))
    }
}

/// `TimeInForce.Duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Duration {
    #[serde(rename = "DAY")]
    Day,
    /// Day, plus pre- and post-market.
    #[serde(rename = "DYP")]
    DayPlus,
    #[serde(rename = "GTC")]
    GoodTillCanceled,
    /// Good till canceled, plus pre- and post-market.
    #[serde(rename = "GCP")]
    GoodTillCanceledPlus,
    #[serde(rename = "GTD")]
    GoodTillDate,
    /// Good till date, plus pre- and post-market.
    #[serde(rename = "GDP")]
    GoodTillDatePlus,
    #[serde(rename = "OPG")]
    AtTheOpening,
    #[serde(rename = "CLO")]
    OnClose,
    #[serde(rename = "IOC")]
    ImmediateOrCancel,
    #[serde(rename = "FOK")]
    FillOrKill,
    /// One minute.
    #[serde(rename = "1")]
    OneMinute,
    #[serde(rename = "3")]
    ThreeMinutes,
    #[serde(rename = "5")]
    FiveMinutes,
}

impl Duration {
    pub const ALL: [Duration; 13] = [
        Self::Day,
        Self::DayPlus,
        Self::GoodTillCanceled,
        Self::GoodTillCanceledPlus,
        Self::GoodTillDate,
        Self::GoodTillDatePlus,
        Self::AtTheOpening,
        Self::OnClose,
        Self::ImmediateOrCancel,
        Self::FillOrKill,
        Self::OneMinute,
        Self::ThreeMinutes,
        Self::FiveMinutes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "DAY",
            Self::DayPlus => "DYP",
            Self::GoodTillCanceled => "GTC",
            Self::GoodTillCanceledPlus => "GCP",
            Self::GoodTillDate => "GTD",
            Self::GoodTillDatePlus => "GDP",
            Self::AtTheOpening => "OPG",
            Self::OnClose => "CLO",
            Self::ImmediateOrCancel => "IOC",
            Self::FillOrKill => "FOK",
            Self::OneMinute => "1",
            Self::ThreeMinutes => "3",
            Self::FiveMinutes => "5",
        }
    }

    /// TradeStation's spelling exactly.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == raw)
    }
}

/// `{"Duration":"DAY","Expiration":"…"}`; `Expiration` (RFC 3339) goes with
/// GTD and GDP only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeInForce {
    pub duration: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of `POST …/orderconfirm` and `POST …/orders`, and each order of a
/// group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderRequest {
    #[serde(rename = "AccountID")]
    pub account_id: String,
    pub symbol: String,
    pub quantity: String,
    pub order_type: OrderType,
    pub trade_action: TradeAction,
    pub time_in_force: TimeInForce,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Keeps TradeStation from placing one order twice.
    #[serde(rename = "OrderConfirmID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_confirm_id: Option<String>,
    /// Every other field (`Legs`, `OSOs`, `AdvancedOptions`, …), as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OrderRequest {
    /// Checks an order that is to be placed: as [`TryFrom`], and it must
    /// carry an `OrderConfirmID`.
    ///
    /// # Errors
    /// The first bad field.
    pub fn parse_for_placing(value: Value) -> Result<Self, InvalidOrder> {
        let order = Self::try_from(value)?;
        if order.order_confirm_id.is_none() {
            return Err(InvalidOrder::new("OrderConfirmID", "is required"));
        }
        Ok(order)
    }
}

impl TryFrom<Value> for OrderRequest {
    type Error = InvalidOrder;

    /// # Errors
    /// The first field that is missing or malformed.
    fn try_from(value: Value) -> Result<Self, InvalidOrder> {
        let object = as_object(&value)?;
        text_field(object, "AccountID")?;
        text_field(object, "Symbol")?;
        positive_field(object, "Quantity")?;
        let order_type = match object.get("OrderType") {
            None => return Err(InvalidOrder::new("OrderType", "is required")),
            Some(v) => v.as_str().and_then(OrderType::parse).ok_or_else(|| {
                InvalidOrder::new(
                    "OrderType",
                    "must be Market, Limit, StopMarket or StopLimit",
                )
            })?,
        };
        match object.get("TradeAction") {
            None => return Err(InvalidOrder::new("TradeAction", "is required")),
            Some(v) if v.as_str().and_then(TradeAction::parse).is_none() => {
                return Err(InvalidOrder::new(
                    "TradeAction",
                    "must be one of BUY, SELL, BUYTOCOVER, SELLSHORT, BUYTOOPEN, BUYTOCLOSE, SELLTOOPEN, SELLTOCLOSE",
                ));
            }
            Some(_) => {}
        }
        check_time_in_force(object)?;
        if order_type.needs_limit_price() {
            positive_field(object, "LimitPrice")?;
        } else {
            optional_positive(object, "LimitPrice")?;
        }
        if order_type.needs_stop_price() {
            positive_field(object, "StopPrice")?;
        } else {
            optional_positive(object, "StopPrice")?;
        }
        if let Some(route) = object.get("Route")
            && !route.as_str().is_some_and(is_text)
        {
            return Err(InvalidOrder::new("Route", "must be a non-empty string"));
        }
        if let Some(id) = object.get("OrderConfirmID")
            && !id.as_str().is_some_and(is_confirm_id)
        {
            return Err(InvalidOrder::new(
                "OrderConfirmID",
                "must be 1 to 64 of A-Z, a-z, 0-9, - and _",
            ));
        }
        serde_json::from_value(value)
            .map_err(|_| InvalidOrder::new("OrderType", "does not match the order types"))
    }
}

/// The body of `PUT …/orders/{orderID}`: every field optional, at least one
/// given. TradeStation changes an order's type only to `Market`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderReplaceRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_type: Option<OrderType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advanced_options: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl TryFrom<Value> for OrderReplaceRequest {
    type Error = InvalidOrder;

    /// # Errors
    /// The first malformed field, or `Quantity` when nothing is to change.
    fn try_from(value: Value) -> Result<Self, InvalidOrder> {
        let object = as_object(&value)?;
        optional_positive(object, "Quantity")?;
        optional_positive(object, "LimitPrice")?;
        optional_positive(object, "StopPrice")?;
        if let Some(v) = object.get("OrderType")
            && v.as_str().and_then(OrderType::parse).is_none()
        {
            return Err(InvalidOrder::new(
                "OrderType",
                "must be Market, Limit, StopMarket or StopLimit",
            ));
        }
        let changes = [
            "Quantity",
            "LimitPrice",
            "StopPrice",
            "OrderType",
            "AdvancedOptions",
        ];
        if !changes.iter().any(|f| object.contains_key(*f)) {
            return Err(InvalidOrder::new(
                "Quantity",
                "is required unless LimitPrice, StopPrice, OrderType or AdvancedOptions is given",
            ));
        }
        serde_json::from_value(value)
            .map_err(|_| InvalidOrder::new("OrderType", "does not match the order types"))
    }
}

/// `Type` of an [`OrderGroupRequest`]: one-cancels-other, bracket, or plain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupType {
    Oco,
    Brk,
    Normal,
}

impl GroupType {
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Oco, Self::Brk, Self::Normal]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(raw))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oco => "OCO",
            Self::Brk => "BRK",
            Self::Normal => "NORMAL",
        }
    }
}

/// The body of `POST …/ordergroupconfirm` and `POST …/ordergroups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderGroupRequest {
    #[serde(deserialize_with = "group_type")]
    pub r#type: GroupType,
    pub orders: Vec<OrderRequest>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn group_type<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<GroupType, D::Error> {
    let raw = String::deserialize(deserializer)?;
    GroupType::parse(&raw).ok_or_else(|| serde::de::Error::custom("unknown group Type"))
}

impl OrderGroupRequest {
    /// Checks a group that is to be placed: every order carries an
    /// `OrderConfirmID`, and no two the same.
    ///
    /// # Errors
    /// The first bad field.
    pub fn parse_for_placing(value: Value) -> Result<Self, InvalidOrder> {
        let group = Self::try_from(value)?;
        let mut seen = std::collections::HashSet::new();
        for (i, order) in group.orders.iter().enumerate() {
            let field = format!("Orders[{i}].OrderConfirmID");
            match &order.order_confirm_id {
                None => return Err(InvalidOrder::new(&field, "is required")),
                Some(id) if !seen.insert(id.as_str()) => {
                    return Err(InvalidOrder::new(&field, "repeats another order's"));
                }
                Some(_) => {}
            }
        }
        Ok(group)
    }

    /// The orders' confirm ids, sorted (an exactly-once key for the group).
    pub fn confirm_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .orders
            .iter()
            .filter_map(|o| o.order_confirm_id.as_deref())
            .collect();
        ids.sort_unstable();
        ids
    }
}

impl TryFrom<Value> for OrderGroupRequest {
    type Error = InvalidOrder;

    /// # Errors
    /// The first bad field; an order's is named with its place.
    fn try_from(mut value: Value) -> Result<Self, InvalidOrder> {
        let object = as_object(&value)?;
        match object.get("Type") {
            None => return Err(InvalidOrder::new("Type", "is required")),
            Some(v) if v.as_str().and_then(GroupType::parse).is_none() => {
                return Err(InvalidOrder::new("Type", "must be OCO, BRK or NORMAL"));
            }
            Some(_) => {}
        }
        let Some(Value::Array(orders)) = value.get_mut("Orders").map(Value::take) else {
            return Err(InvalidOrder::new("Orders", "must be a list of orders"));
        };
        if orders.is_empty() || orders.len() > MAX_GROUP_ORDERS {
            return Err(InvalidOrder::new("Orders", "must hold 1 to 100 orders"));
        }
        let orders = orders
            .into_iter()
            .enumerate()
            .map(|(i, order)| {
                OrderRequest::try_from(order).map_err(|e| e.within(&format!("Orders[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let Value::Object(mut rest) = value else {
            return Err(InvalidOrder::new("Orders", "must be a list of orders"));
        };
        rest.remove("Orders");
        let r#type = rest
            .remove("Type")
            .as_ref()
            .and_then(Value::as_str)
            .and_then(GroupType::parse)
            .ok_or_else(|| InvalidOrder::new("Type", "must be OCO, BRK or NORMAL"))?;
        Ok(Self {
            r#type,
            orders,
            extra: rest,
        })
    }
}

fn as_object(value: &Value) -> Result<&Map<String, Value>, InvalidOrder> {
    value
        .as_object()
        .ok_or_else(|| InvalidOrder::new("body", "must be a JSON object"))
}

/// A non-empty string of at most 64 characters without control characters.
fn is_text(s: &str) -> bool {
    !s.trim().is_empty() && s.chars().count() <= 64 && !s.chars().any(char::is_control)
}

fn text_field(object: &Map<String, Value>, field: &str) -> Result<(), InvalidOrder> {
    match object.get(field) {
        None => Err(InvalidOrder::new(field, "is required")),
        Some(v) if v.as_str().is_some_and(is_text) => Ok(()),
        Some(_) => Err(InvalidOrder::new(
            field,
            "must be a non-empty string of at most 64 characters",
        )),
    }
}

/// A decimal string above zero: digits with at most one `.`, no sign, no
/// exponent, at most 32 characters.
pub fn is_positive_decimal(s: &str) -> bool {
    if s.is_empty() || s.len() > 32 || s.starts_with('.') || s.ends_with('.') {
        return false;
    }
    let mut dots = 0;
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => {}
            b'.' => dots += 1,
            _ => return false,
        }
    }
    dots <= 1 && s.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

fn positive_field(object: &Map<String, Value>, field: &str) -> Result<(), InvalidOrder> {
    if !object.contains_key(field) {
        return Err(InvalidOrder::new(field, "is required"));
    }
    optional_positive(object, field)
}

fn optional_positive(object: &Map<String, Value>, field: &str) -> Result<(), InvalidOrder> {
    match object.get(field) {
        None => Ok(()),
        Some(v) if v.as_str().is_some_and(is_positive_decimal) => Ok(()),
        Some(_) => Err(InvalidOrder::new(
            field,
            "must be a string holding a positive number",
        )),
    }
}

fn check_time_in_force(object: &Map<String, Value>) -> Result<(), InvalidOrder> {
    let Some(tif) = object.get("TimeInForce") else {
        return Err(InvalidOrder::new("TimeInForce", "is required"));
    };
    let Some(tif) = tif.as_object() else {
        return Err(InvalidOrder::new(
            "TimeInForce",
            "must be an object with a Duration",
        ));
    };
    match tif.get("Duration") {
        None => Err(InvalidOrder::new("TimeInForce.Duration", "is required")),
        Some(v) if v.as_str().and_then(Duration::parse).is_some() => match tif.get("Expiration") {
            Some(e) if !e.as_str().is_some_and(is_text) => Err(InvalidOrder::new(
                "TimeInForce.Expiration",
                "must be a date and time (RFC 3339)",
            )),
            _ => Ok(()),
        },
        Some(_) => Err(InvalidOrder::new(
            "TimeInForce.Duration",
            "must be one of DAY, DYP, GTC, GCP, GTD, GDP, OPG, CLO, IOC, FOK, 1, 3, 5",
        )),
    }
}

/// 1–64 of `[A-Za-z0-9_-]`.
pub fn is_confirm_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_CONFIRM_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// 1–32 of `[A-Za-z0-9]`: an order id in a replace or cancel path.
pub fn is_order_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// One preview in `{"Confirmations":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderConfirmation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_asset_category: Option<String>,
    #[serde(rename = "AccountID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// An object like the request's (`{"Duration":"DAY"}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_in_force: Option<Value>,
    #[serde(rename = "OrderConfirmID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_confirm_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debit_credit_estimated_cost: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_commission: Option<String>,
    /// `Buy 10 MSFT @ Market`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_message: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer of `…/orderconfirm` and `…/ordergroupconfirm`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderConfirmResponse {
    #[serde(default)]
    pub confirmations: Vec<OrderConfirmation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<OrderResult>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of a place answer's `Orders[]` (`{"OrderID","Message"}`) or
/// `Errors[]` (`{"OrderID","Error":"FAILED","Message"}`); an `Orders[]`
/// entry may carry `Error` too. Also the whole answer of a replace
/// (`Cancel/Replace order sent.`) and of a cancel (`Cancel request sent`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderResult {
    #[serde(rename = "OrderID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer of `PUT …/orders/{orderID}`.
pub type ReplaceOrderResponse = OrderResult;

/// The answer of `DELETE …/orders/{orderID}`.
pub type CancelOrderResponse = OrderResult;

/// The answer of `POST …/orders` and `…/ordergroups`: a 200 may still hold
/// failures, in `Errors[]` or in an `Orders[]` entry with `Error`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PlaceOrderResponse {
    #[serde(default)]
    pub orders: Vec<OrderResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<OrderResult>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PlaceOrderResponse {
    /// The ids of the orders TradeStation accepted.
    pub fn order_ids(&self) -> impl Iterator<Item = &str> {
        self.orders
            .iter()
            .filter(|o| o.error.is_none())
            .filter_map(|o| o.order_id.as_deref())
    }
}

/// `{"Relationship":"BRK|OSP|OSO|OCO","OrderID"}` in a streamed order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConditionalOrder {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relationship: Option<String>,
    #[serde(rename = "OrderID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

/// An order as the order stream sends it: the `GET …/orders` shape plus
/// group links, the group's name, and `AdvancedOptions` as a string
/// (`"STPTRG=STT;TRL=5%;"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOrder {
    #[serde(flatten)]
    pub order: Order,
    #[serde(rename = "ConditionalOrders", default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditional_orders: Vec<ConditionalOrder>,
    #[serde(rename = "GroupName")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    #[serde(rename = "AdvancedOptions")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advanced_options: Option<String>,
    /// Fields neither shape knows (declared last: it gets what the others
    /// leave).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One line of `/v3/brokerage/stream/accounts/{ids}/orders`: the snapshot's
/// orders, `{"StreamStatus":"EndSnapshot"}`, then updates, with heartbeats
/// and errors (`{"Error":"Forbidden","Message":"Invalid Account ID.","AccountID"}`).
/// Fills are final only at terminal states: earlier frames may already carry
/// `ExecQuantity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OrderStreamMessage {
    Heartbeat(Heartbeat),
    Status(StreamStatus),
    Error(StreamError),
    Order(Box<StreamOrder>),
}

/// `{"PositionID":"…","Deleted":true}`: a position closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionDeleted {
    #[serde(rename = "PositionID")]
    pub position_id: String,
    #[serde(rename = "Deleted")]
    pub deleted: bool,
}

/// One line of `/v3/brokerage/stream/accounts/{ids}/positions?changes=true`:
/// a full snapshot, `EndSnapshot`, then only changed fields with
/// `PositionID`, and [`PositionDeleted`] for a closed position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PositionStreamMessage {
    Heartbeat(Heartbeat),
    Status(StreamStatus),
    Error(StreamError),
    Deleted(PositionDeleted),
    Position(Box<Position>),
}

#[cfg(test)]
mod tests;
