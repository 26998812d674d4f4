//! The matching engine of the simulated brokerage: one [`Book`] per user
//! holding its accounts' cash, holdings and orders, and the rules that move
//! them — placing (flip and buying-power checks, duplicate `OrderConfirmID`),
//! filling at the touch, resting limit and stop orders, DAY/GTD expiry,
//! cancel and replace, OCO and bracket groups.
//!
//! Pure bookkeeping: time and prices are passed in ([`Touch`] by a
//! function), so the same calls give the same book. The HTTP side lives in
//! [`super::execution`], the views (positions, balances, order objects) in
//! [`super::brokerage`].
//!
//! Resting orders are checked on every price step ([`STEP_MS`]) between two
//! looks at the book, so a price that crosses a limit between two requests
//! fills it even if it has moved back by the time anyone asks.

use std::collections::HashSet;

use super::calendar::DAY_MS;
use super::market::{AssetClass, CLOSE_OFFSET_MS, Instrument, STEP_MS};

/// Most price steps examined in one look at the book; a longer gap is
/// sampled at wider steps so a quiet day costs the same as a busy minute.
const MAX_STEPS: i64 = 2_400;
/// Initial margin of one futures contract.
pub(crate) const FUTURES_MARGIN: f64 = 12_650.0;
/// GTC orders last at most this long (TradeStation: 90 days).
const GTC_DAYS: i64 = 90;

/// The prices an order meets at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Touch {
    pub last: f64,
    pub bid: f64,
    pub ask: f64,
}

/// The price source the engine consults: instrument and instant to touch.
pub(crate) type Prices<'a> = &'a dyn Fn(&Instrument, i64) -> Touch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountKind {
    Margin,
    Cash,
    Futures,
}

impl AccountKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Margin => "Margin",
            Self::Cash => "Cash",
            Self::Futures => "Futures",
        }
    }
}

/// TradeStation's trade actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Buy,
    Sell,
    BuyToCover,
    SellShort,
    BuyToOpen,
    BuyToClose,
    SellToOpen,
    SellToClose,
}

impl Action {
    /// Any case (`BUY`, `Buy`, `buytocover`).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_uppercase().as_str() {
            "BUY" => Self::Buy,
            "SELL" => Self::Sell,
            "BUYTOCOVER" => Self::BuyToCover,
            "SELLSHORT" => Self::SellShort,
            "BUYTOOPEN" => Self::BuyToOpen,
            "BUYTOCLOSE" => Self::BuyToClose,
            "SELLTOOPEN" => Self::SellToOpen,
            "SELLTOCLOSE" => Self::SellToClose,
            _ => return None,
        })
    }

    pub(crate) fn is_buy(self) -> bool {
        matches!(
            self,
            Self::Buy | Self::BuyToCover | Self::BuyToOpen | Self::BuyToClose
        )
    }

    /// Opening actions need buying power; closing ones must not exceed the
    /// position.
    pub(crate) fn opens(self) -> bool {
        matches!(
            self,
            Self::Buy | Self::SellShort | Self::BuyToOpen | Self::SellToOpen
        )
    }

    /// The option actions, which only option symbols take.
    pub(crate) fn is_option_action(self) -> bool {
        matches!(
            self,
            Self::BuyToOpen | Self::BuyToClose | Self::SellToOpen | Self::SellToClose
        )
    }

    /// As order legs write it (`BuyOrSell`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Buy => "Buy",
            Self::Sell => "Sell",
            Self::BuyToCover => "BuyToCover",
            Self::SellShort => "SellShort",
            Self::BuyToOpen => "BuyToOpen",
            Self::BuyToClose => "BuyToClose",
            Self::SellToOpen => "SellToOpen",
            Self::SellToClose => "SellToClose",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrderType {
    Market,
    Limit,
    StopMarket,
    StopLimit,
}

impl OrderType {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "market" => Self::Market,
            "limit" => Self::Limit,
            "stopmarket" => Self::StopMarket,
            "stoplimit" => Self::StopLimit,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Market => "Market",
            Self::Limit => "Limit",
            Self::StopMarket => "StopMarket",
            Self::StopLimit => "StopLimit",
        }
    }

    pub(crate) fn needs_limit(self) -> bool {
        matches!(self, Self::Limit | Self::StopLimit)
    }

    pub(crate) fn needs_stop(self) -> bool {
        matches!(self, Self::StopMarket | Self::StopLimit)
    }
}

/// Order states, with TradeStation's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// `ACK`: received, not yet working (a market order waiting for the
    /// next price step when fills are not instant).
    Received,
    /// `OPN`: working.
    Open,
    /// `UCN`: a cancel was asked for and completes at the next step.
    CancelPending,
    Filled,
    Canceled,
    Expired,
    Rejected,
}

impl Status {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Received => "ACK",
            Self::Open => "OPN",
            Self::CancelPending => "UCN",
            Self::Filled => "FLL",
            Self::Canceled => "CAN",
            Self::Expired => "EXP",
            Self::Rejected => "REJ",
        }
    }

    pub(crate) fn description(self) -> &'static str {
        match self {
            Self::Received => "Received",
            Self::Open => "Sent",
            Self::CancelPending => "Cancel Sent",
            Self::Filled => "Filled",
            Self::Canceled => "Canceled",
            Self::Expired => "Expired",
            Self::Rejected => "Rejected",
        }
    }

    pub(crate) fn is_open(self) -> bool {
        matches!(self, Self::Received | Self::Open | Self::CancelPending)
    }
}

/// How orders of a group relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupKind {
    /// One fills, the others are canceled.
    Oco,
    /// A bracket: closing orders on one symbol and side, one-cancels-other.
    Bracket,
}

impl GroupKind {
    pub(crate) fn relationship(self) -> &'static str {
        match self {
            Self::Oco => "OCO",
            Self::Bracket => "BRK",
        }
    }
}

/// A validated order request.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    pub account_id: String,
    pub instrument: Instrument,
    pub quantity: f64,
    pub order_type: OrderType,
    pub limit: Option<f64>,
    pub stop: Option<f64>,
    pub action: Action,
    /// TradeStation's duration code as sent, upper-cased (`DAY`, `GTC`, …).
    pub duration: String,
    /// The `Expiration` of GTD/GDP orders.
    pub expiration_ms: Option<i64>,
    pub route: String,
    pub confirm_id: Option<String>,
}

impl Ticket {
    /// `Buy 10 MSFT @ Market`, `Sell 5 AAPL @ 190.5 Limit`.
    pub(crate) fn summary(&self) -> String {
        let price = |x: f64| super::num::fmt_price(x, self.instrument.tick);
        let at = match (self.order_type, self.limit, self.stop) {
            (OrderType::Market, _, _) => "Market".to_owned(),
            (OrderType::Limit, Some(l), _) => format!("{} Limit", price(l)),
            (OrderType::StopMarket, _, Some(s)) => format!("{} Stop Market", price(s)),
            (OrderType::StopLimit, Some(l), Some(s)) => {
                format!("{} Stop / {} Limit", price(s), price(l))
            }
            _ => self.order_type.name().to_owned(),
        };
        format!(
            "{} {} {} @ {at}",
            self.action.name(),
            super::num::fmt_decimal(self.quantity, 0),
            self.instrument.symbol
        )
    }

    /// The price buying power is reserved at: the limit, else the touch.
    pub(crate) fn estimated_price(&self, touch: Touch) -> f64 {
        match self.limit {
            Some(limit) => limit,
            None if self.action.is_buy() => self.stop.unwrap_or(touch.ask).max(touch.ask),
            None => touch.bid,
        }
    }

    /// Buying power an opening order uses; closing orders use none.
    pub(crate) fn required(&self, touch: Touch) -> f64 {
        if !self.action.opens() {
            return 0.0;
        }
        if self.instrument.class == AssetClass::Future {
            return FUTURES_MARGIN * self.quantity;
        }
        self.quantity * self.estimated_price(touch) * self.instrument.point_value
    }
}

/// One order in a book.
#[derive(Debug, Clone)]
pub(crate) struct SimOrder {
    pub id: String,
    pub ticket: Ticket,
    pub status: Status,
    pub opened_ms: i64,
    pub closed_ms: Option<i64>,
    pub filled_price: Option<f64>,
    /// A stop-limit whose stop has been touched works as a limit.
    pub triggered: bool,
    /// When a DAY/GTD/GTC order stops working.
    pub expires_ms: Option<i64>,
    pub group: Option<(GroupKind, Vec<String>)>,
    pub reject_reason: Option<String>,
}

/// One holding of an account.
#[derive(Debug, Clone)]
pub(crate) struct Holding {
    pub id: String,
    pub instrument: Instrument,
    /// Signed: negative is short.
    pub quantity: f64,
    pub average: f64,
    pub opened_ms: i64,
}

/// One account's money, holdings and orders.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    pub id: String,
    pub kind: AccountKind,
    pub cash: f64,
    pub realized: f64,
    pub holdings: Vec<Holding>,
    pub orders: Vec<SimOrder>,
}

/// What an account is worth at an instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Valuation {
    /// Market value of the non-futures holdings (shorts negative).
    pub market_value: f64,
    /// Their cost at the average prices.
    pub cost: f64,
    pub gross: f64,
    pub unrealized: f64,
    pub options_value: f64,
    pub contracts: f64,
    pub equity: f64,
    pub buying_power: f64,
}

impl Ledger {
    pub(crate) fn holding(&self, symbol: &str) -> Option<&Holding> {
        self.holdings.iter().find(|h| h.instrument.symbol == symbol)
    }

    pub(crate) fn valuation(&self, prices: Prices<'_>, now_ms: i64) -> Valuation {
        let mut v = Valuation::default();
        for h in &self.holdings {
            let inst = &h.instrument;
            let last = prices(inst, now_ms).last;
            let value = h.quantity * last * inst.point_value;
            let cost = h.quantity * h.average * inst.point_value;
            v.unrealized += value - cost;
            if inst.class == AssetClass::Future {
                v.contracts += h.quantity.abs();
                continue;
            }
            v.market_value += value;
            v.cost += cost;
            v.gross += value.abs();
            if inst.class == AssetClass::Option {
                v.options_value += value;
            }
        }
        match self.kind {
            AccountKind::Margin => {
                v.equity = self.cash + v.market_value;
                v.buying_power = (4.0 * (v.equity - 0.25 * v.gross)).max(0.0);
            }
            AccountKind::Cash => {
                v.equity = self.cash + v.market_value;
                v.buying_power = self.cash.max(0.0);
            }
            AccountKind::Futures => {
                v.equity = self.cash + v.unrealized;
                v.buying_power = (v.equity - FUTURES_MARGIN * v.contracts).max(0.0);
            }
        }
        v
    }

    /// Moves cash and the holding for a fill of `quantity` at `price`.
    /// Closing more than is held is refused earlier ([`flip_refusal`]).
    fn apply_fill(&mut self, ticket: &Ticket, price: f64, now_ms: i64, position_id: String) {
        let inst = &ticket.instrument;
        let pv = inst.point_value;
        let signed = if ticket.action.is_buy() {
            ticket.quantity
        } else {
            -ticket.quantity
        };
        let future = inst.class == AssetClass::Future;
        if !future {
            self.cash -= signed * price * pv;
        }
        match self
            .holdings
            .iter()
            .position(|h| h.instrument.symbol == inst.symbol)
        {
            None => self.holdings.push(Holding {
                id: position_id,
                instrument: inst.clone(),
                quantity: signed,
                average: price,
                opened_ms: now_ms,
            }),
            Some(i) => {
                let h = &mut self.holdings[i];
                if h.quantity.signum() == signed.signum() {
                    let total = h.quantity.abs() + signed.abs();
                    h.average = (h.average * h.quantity.abs() + price * signed.abs()) / total;
                    h.quantity += signed;
                } else {
                    let closing = signed.abs().min(h.quantity.abs());
                    let realized = (price - h.average) * closing * h.quantity.signum() * pv;
                    self.realized += realized;
                    if future {
                        self.cash += realized;
                    }
                    h.quantity += signed;
                    if h.quantity.abs() < 1e-9 {
                        self.holdings.remove(i);
                    }
                }
            }
        }
    }
}

/// Why an order was not accepted: inside a 200's `Errors[]`, with the
/// order's id when one was assigned (rejected orders are kept, as
/// TradeStation lists them with status `REJ`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub order_id: Option<String>,
    pub reason: String,
}

/// Refusals of cancel and replace, with TradeStation's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeError {
    UnknownOrder,
    NotOpen,
    CancelAttempted,
    Invalid(&'static str),
}

impl ChangeError {
    pub(crate) fn cancel_message(self) -> &'static str {
        match self {
            Self::UnknownOrder => "Invalid order ID.",
            Self::NotOpen | Self::CancelAttempted => "Not an open order.",
            Self::Invalid(message) => message,
        }
    }

    pub(crate) fn replace_message(self) -> &'static str {
        match self {
            Self::UnknownOrder => "Invalid order ID.",
            Self::NotOpen => "Failed to Cancel/Replace order: Not an open order.",
            Self::CancelAttempted => "Cancel/Replace not allowed after cancel has been attempted",
            Self::Invalid(message) => message,
        }
    }
}

/// What a replace changes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Replacement {
    pub quantity: Option<f64>,
    pub limit: Option<f64>,
    pub stop: Option<f64>,
    /// Only `Market` is allowed.
    pub to_market: bool,
}

/// What happened in a look at the book, for the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Activity {
    pub fills: u64,
}

/// One user's brokerage state.
#[derive(Debug, Clone)]
pub(crate) struct Book {
    pub ledgers: Vec<Ledger>,
    confirm_ids: HashSet<String>,
    next_id: u64,
    /// The last instant resting orders were checked at.
    checked_ms: i64,
    /// Bumped on every change, so streams can skip an unchanged book.
    pub revision: u64,
}

impl Book {
    /// A book with these ledgers; order and position ids count up from
    /// `first_id` (derived from the seed and the user by the caller).
    pub(crate) fn new(ledgers: Vec<Ledger>, first_id: u64, now_ms: i64) -> Self {
        Self {
            ledgers,
            confirm_ids: HashSet::new(),
            next_id: first_id,
            checked_ms: now_ms,
            revision: 0,
        }
    }

    pub(crate) fn ledger(&self, account_id: &str) -> Option<&Ledger> {
        self.ledgers.iter().find(|l| l.id == account_id)
    }

    fn ledger_mut(&mut self, account_id: &str) -> Option<&mut Ledger> {
        self.ledgers.iter_mut().find(|l| l.id == account_id)
    }

    fn fresh_id(&mut self) -> String {
        loop {
            self.next_id += 1;
            let id = self.next_id.to_string();
            let taken = self.ledgers.iter().any(|l| {
                l.orders.iter().any(|o| o.id == id) || l.holdings.iter().any(|h| h.id == id)
            });
            if !taken {
                return id;
            }
        }
    }

    pub(crate) fn find(&self, order_id: &str) -> Option<&SimOrder> {
        self.ledgers
            .iter()
            .flat_map(|l| l.orders.iter())
            .find(|o| o.id == order_id)
    }

    fn find_mut(&mut self, order_id: &str) -> Option<&mut SimOrder> {
        self.ledgers
            .iter_mut()
            .flat_map(|l| l.orders.iter_mut())
            .find(|o| o.id == order_id)
    }

    /// Checks one ticket against the account without placing it.
    pub(crate) fn check(
        &self,
        ticket: &Ticket,
        prices: Prices<'_>,
        now_ms: i64,
    ) -> Result<(), String> {
        if ticket
            .confirm_id
            .as_ref()
            .is_some_and(|id| self.confirm_ids.contains(id))
        {
            return Err("Duplicate OrderConfirmID.".into());
        }
        let Some(ledger) = self.ledger(&ticket.account_id) else {
            return Err("Invalid account.".into());
        };
        if let Some(refusal) = flip_refusal(ledger, ticket) {
            return Err(refusal);
        }
        let touch = prices(&ticket.instrument, now_ms);
        let needed = ticket.required(touch);
        if needed > 0.0 && needed > ledger.valuation(prices, now_ms).buying_power {
            return Err(format!(
                "Insufficient buying power. This order requires {} of buying power.",
                super::num::fmt_decimal(needed, 2)
            ));
        }
        Ok(())
    }

    /// Places orders (one, or a group). All are checked first; if any
    /// fails, none works and each answers that failure. Marketable orders
    /// fill at once when `instant`.
    pub(crate) fn place(
        &mut self,
        tickets: Vec<Ticket>,
        group: Option<GroupKind>,
        prices: Prices<'_>,
        now_ms: i64,
        instant: bool,
    ) -> Result<Vec<String>, Vec<Failure>> {
        self.check_all(&tickets, group, prices, now_ms)?;
        let mut ids = Vec::new();
        for ticket in tickets {
            if let Some(confirm) = &ticket.confirm_id {
                self.confirm_ids.insert(confirm.clone());
            }
            let id = self.fresh_id();
            let status = if ticket.order_type == OrderType::Market {
                Status::Received
            } else {
                Status::Open
            };
            let expires_ms = expiry(&ticket, now_ms);
            let account = ticket.account_id.clone();
            let order = SimOrder {
                id: id.clone(),
                ticket,
                status,
                opened_ms: now_ms,
                closed_ms: None,
                filled_price: None,
                triggered: false,
                expires_ms,
                group: None,
                reject_reason: None,
            };
            if let Some(ledger) = self.ledger_mut(&account) {
                ledger.orders.push(order);
            }
            ids.push(id);
        }
        if let Some(kind) = group {
            for id in &ids {
                let others = ids.iter().filter(|o| *o != id).cloned().collect();
                if let Some(order) = self.find_mut(id) {
                    order.group = Some((kind, others));
                }
            }
        }
        self.revision += 1;
        if instant {
            for id in &ids {
                self.work(id, now_ms, prices, true);
            }
        }
        Ok(ids)
    }

    fn check_all(
        &mut self,
        tickets: &[Ticket],
        group: Option<GroupKind>,
        prices: Prices<'_>,
        now_ms: i64,
    ) -> Result<(), Vec<Failure>> {
        let fail_all = |reason: String| {
            Err(tickets
                .iter()
                .map(|_| Failure {
                    order_id: None,
                    reason: reason.clone(),
                })
                .collect())
        };
        let mut seen = HashSet::new();
        for ticket in tickets {
            if let Some(id) = &ticket.confirm_id
                && !seen.insert(id.clone())
            {
                return fail_all("Duplicate OrderConfirmID.".into());
            }
        }
        if group == Some(GroupKind::Bracket) {
            let first = &tickets[0];
            let same = tickets.iter().all(|t| {
                t.instrument.symbol == first.instrument.symbol
                    && t.action == first.action
                    && t.account_id == first.account_id
            });
            if !same || first.action.opens() {
                return fail_all(
                    "A bracket's orders must close one position: same account, symbol and trade action."
                        .into(),
                );
            }
        }
        let mut failures = Vec::new();
        for ticket in tickets {
            if let Err(reason) = self.check(ticket, prices, now_ms) {
                let duplicate = reason.starts_with("Duplicate");
                // A refused order is kept as rejected, except a duplicate:
                // that one never reaches the book.
                let order_id = (!duplicate).then(|| self.reject(ticket.clone(), &reason, now_ms));
                failures.push(Failure { order_id, reason });
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures)
        }
    }

    fn reject(&mut self, ticket: Ticket, reason: &str, now_ms: i64) -> String {
        let id = self.fresh_id();
        let account = ticket.account_id.clone();
        let order = SimOrder {
            id: id.clone(),
            ticket,
            status: Status::Rejected,
            opened_ms: now_ms,
            closed_ms: Some(now_ms),
            filled_price: None,
            triggered: false,
            expires_ms: None,
            group: None,
            reject_reason: Some(reason.to_owned()),
        };
        if let Some(ledger) = self.ledger_mut(&account) {
            ledger.orders.push(order);
            self.revision += 1;
        }
        id
    }

    /// Cancels an open order: at once when `instant`, else at the next step.
    pub(crate) fn cancel(
        &mut self,
        order_id: &str,
        now_ms: i64,
        instant: bool,
    ) -> Result<(), ChangeError> {
        let order = self.find_mut(order_id).ok_or(ChangeError::UnknownOrder)?;
        match order.status {
            Status::Received | Status::Open => {}
            Status::CancelPending => return Err(ChangeError::CancelAttempted),
            _ => return Err(ChangeError::NotOpen),
        }
        if instant {
            close(order, Status::Canceled, now_ms);
        } else {
            order.status = Status::CancelPending;
        }
        self.revision += 1;
        Ok(())
    }

    /// Replaces quantity, prices or the type (to `Market` only) of a working
    /// order; the order keeps its id.
    pub(crate) fn replace(
        &mut self,
        order_id: &str,
        change: &Replacement,
        prices: Prices<'_>,
        now_ms: i64,
        instant: bool,
    ) -> Result<(), ChangeError> {
        let order = self.find(order_id).ok_or(ChangeError::UnknownOrder)?;
        match order.status {
            Status::Received | Status::Open => {}
            Status::CancelPending => return Err(ChangeError::CancelAttempted),
            _ => return Err(ChangeError::NotOpen),
        }
        let mut ticket = order.ticket.clone();
        if let Some(quantity) = change.quantity {
            ticket.quantity = quantity;
        }
        if change.to_market {
            ticket.order_type = OrderType::Market;
            ticket.limit = None;
            ticket.stop = None;
        }
        if let Some(limit) = change.limit {
            if !ticket.order_type.needs_limit() {
                return Err(ChangeError::Invalid(
                    "LimitPrice applies to Limit and StopLimit orders only.",
                ));
            }
            ticket.limit = Some(limit);
        }
        if let Some(stop) = change.stop {
            if !ticket.order_type.needs_stop() {
                return Err(ChangeError::Invalid(
                    "StopPrice applies to StopMarket and StopLimit orders only.",
                ));
            }
            ticket.stop = Some(stop);
        }
        let ledger = self
            .ledger(&ticket.account_id)
            .ok_or(ChangeError::UnknownOrder)?;
        if flip_refusal(ledger, &ticket).is_some() {
            return Err(ChangeError::Invalid(
                "The new quantity is more than the position.",
            ));
        }
        if let Some(order) = self.find_mut(order_id) {
            order.ticket = ticket;
        }
        self.revision += 1;
        if instant {
            self.work(order_id, now_ms, prices, true);
        }
        Ok(())
    }

    /// Brings the book to `now_ms`: every open order is checked at every
    /// price step since the last look (sampled when the gap is long).
    pub(crate) fn advance(&mut self, now_ms: i64, prices: Prices<'_>, instant: bool) -> Activity {
        let mut activity = Activity::default();
        let working: Vec<String> = self
            .ledgers
            .iter()
            .flat_map(|l| l.orders.iter())
            .filter(|o| o.status.is_open())
            .map(|o| o.id.clone())
            .collect();
        if working.is_empty() {
            self.checked_ms = self.checked_ms.max(now_ms);
            return activity;
        }
        // Looking again at the same instant still checks it: a pinned price
        // may have moved while the clock stood still.
        let first = if now_ms <= self.checked_ms {
            now_ms
        } else {
            (self.checked_ms - self.checked_ms.rem_euclid(STEP_MS) + STEP_MS).min(now_ms)
        };
        let step = ((now_ms - first) / MAX_STEPS).max(STEP_MS);
        let mut t = first;
        loop {
            for id in &working {
                if self.work(id, t, prices, instant) {
                    activity.fills += 1;
                }
            }
            if t >= now_ms {
                break;
            }
            t = (t + step).min(now_ms);
        }
        self.checked_ms = self.checked_ms.max(now_ms);
        activity
    }

    /// Gives one order its chance at `t_ms`; true when it filled.
    fn work(&mut self, order_id: &str, t_ms: i64, prices: Prices<'_>, instant: bool) -> bool {
        let Some(order) = self.find(order_id) else {
            return false;
        };
        if !order.status.is_open() {
            return false;
        }
        if order.status == Status::CancelPending {
            if t_ms > order.opened_ms || instant {
                if let Some(order) = self.find_mut(order_id) {
                    close(order, Status::Canceled, t_ms);
                }
                self.revision += 1;
            }
            return false;
        }
        if let Some(at) = order.expires_ms.filter(|at| t_ms >= *at) {
            // Stamped at the close itself, however coarse the steps were.
            if let Some(order) = self.find_mut(order_id) {
                close(order, Status::Expired, at);
            }
            self.revision += 1;
            return false;
        }
        // Without instant fills a market order waits for the step after it
        // arrived, like an order on its way to an exchange.
        if order.ticket.order_type == OrderType::Market && !instant && t_ms <= order.opened_ms {
            return false;
        }
        let touch = prices(&order.ticket.instrument, t_ms);
        let mut triggered = order.triggered;
        let price = crossing(&order.ticket, touch, &mut triggered);
        if triggered != order.triggered {
            if let Some(order) = self.find_mut(order_id) {
                order.triggered = triggered;
            }
            self.revision += 1;
        }
        match price {
            Some(price) => self.fill(order_id, price, t_ms),
            None => {
                if let Some(order) = self.find_mut(order_id)
                    && order.status == Status::Received
                    && order.ticket.order_type != OrderType::Market
                {
                    order.status = Status::Open;
                }
                false
            }
        }
    }

    /// Fills an order in full at `price`; cancels its OCO siblings.
    fn fill(&mut self, order_id: &str, price: f64, t_ms: i64) -> bool {
        let Some(order) = self.find(order_id).cloned() else {
            return false;
        };
        let Some(ledger) = self.ledger(&order.ticket.account_id) else {
            return false;
        };
        // The position may have changed since the order was placed (another
        // order closed it): a fill that would flip it is rejected instead.
        if let Some(reason) = flip_refusal(ledger, &order.ticket) {
            if let Some(o) = self.find_mut(order_id) {
                close(o, Status::Rejected, t_ms);
                o.reject_reason = Some(reason);
            }
            self.revision += 1;
            return false;
        }
        let position_id = match ledger.holding(&order.ticket.instrument.symbol) {
            Some(h) => h.id.clone(),
            None => self.fresh_id(),
        };
        if let Some(ledger) = self.ledger_mut(&order.ticket.account_id) {
            ledger.apply_fill(&order.ticket, price, t_ms, position_id);
        }
        if let Some(o) = self.find_mut(order_id) {
            close(o, Status::Filled, t_ms);
            o.filled_price = Some(price);
        }
        if let Some((_, siblings)) = &order.group {
            for sibling in siblings {
                if let Some(s) = self.find_mut(sibling)
                    && s.status.is_open()
                {
                    close(s, Status::Canceled, t_ms);
                }
            }
        }
        self.revision += 1;
        true
    }
}

fn close(order: &mut SimOrder, status: Status, t_ms: i64) {
    order.status = status;
    order.closed_ms = Some(t_ms);
}

/// Where an order meets the touch: buys at the ask, sells at the bid. A
/// stop-limit first waits for its stop, then works as a limit.
fn crossing(ticket: &Ticket, touch: Touch, triggered: &mut bool) -> Option<f64> {
    let buy = ticket.action.is_buy();
    let at = if buy { touch.ask } else { touch.bid };
    let stop_hit = |stop: f64| {
        if buy {
            touch.last >= stop
        } else {
            touch.last <= stop
        }
    };
    let limit_ok = |limit: f64| if buy { at <= limit } else { at >= limit };
    match ticket.order_type {
        OrderType::Market => Some(at),
        OrderType::Limit => ticket.limit.filter(|l| limit_ok(*l)).map(|_| at),
        OrderType::StopMarket => ticket.stop.filter(|s| stop_hit(*s)).map(|_| at),
        OrderType::StopLimit => {
            if !*triggered && ticket.stop.is_some_and(stop_hit) {
                *triggered = true;
            }
            if *triggered {
                ticket.limit.filter(|l| limit_ok(*l)).map(|_| at)
            } else {
                None
            }
        }
    }
}

/// When a new order stops working: DAY at the next close, GTD/GDP at its
/// `Expiration`, GTC after 90 days; IOC/FOK are treated as DAY.
fn expiry(ticket: &Ticket, now_ms: i64) -> Option<i64> {
    match ticket.duration.as_str() {
        "GTC" | "GCP" => Some(now_ms + GTC_DAYS * DAY_MS),
        "GTD" | "GDP" => ticket.expiration_ms,
        _ => {
            let day = now_ms.div_euclid(DAY_MS);
            let close_today = day * DAY_MS + CLOSE_OFFSET_MS;
            Some(if now_ms < close_today {
                close_today
            } else {
                close_today + DAY_MS
            })
        }
    }
}

/// TradeStation will not take a position from long to short (or back) in
/// one order, nor close more than is held, nor add to the wrong side:
/// `[EC601,EC602,EC701,EC702]: You are long 10 shares`.
pub(crate) fn flip_refusal(ledger: &Ledger, ticket: &Ticket) -> Option<String> {
    let held = ledger
        .holding(&ticket.instrument.symbol)
        .map_or(0.0, |h| h.quantity);
    let unit = match ticket.instrument.class {
        AssetClass::Option | AssetClass::Future => "contracts",
        _ => "shares",
    };
    let said = |held: f64| {
        let side = if held < 0.0 { "short" } else { "long" };
        Some(format!(
            "[EC601,EC602,EC701,EC702]: You are {side} {} {unit}",
            super::num::fmt_decimal(held.abs(), 0)
        ))
    };
    let q = ticket.quantity;
    let futures = ticket.instrument.class == AssetClass::Future;
    match ticket.action {
        // Futures have no short-sale actions: Buy and Sell both open and
        // close, and only a flip through zero is refused.
        Action::Buy | Action::Sell if futures => {
            let signed = if ticket.action.is_buy() { q } else { -q };
            let after = held + signed;
            (held != 0.0 && after != 0.0 && after.signum() != held.signum()).then(|| said(held))?
        }
        Action::Buy | Action::BuyToOpen => (held < 0.0).then(|| said(held))?,
        Action::SellShort | Action::SellToOpen => (held > 0.0).then(|| said(held))?,
        Action::Sell | Action::SellToClose => (held <= 0.0 || q > held).then(|| said(held))?,
        Action::BuyToCover | Action::BuyToClose => {
            (held >= 0.0 || q > -held).then(|| said(held))?
        }
    }
}
