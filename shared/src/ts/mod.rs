//! TradeStation v3 payloads, with TradeStation's exact field names.
//!
//! The simulator crate serialises these and the SPA parses them, so both
//! sides agree by construction. They follow TradeStation's published v3
//! OpenAPI document and its examples; where a type and TradeStation's wire
//! form differ, the wire form wins and the type is the bug.
//!
//! Conventions, all of them TradeStation's:
//! - every field is an `Option`: TradeStation omits fields freely, and a
//!   missing field must never fail a whole response;
//! - prices and quantities are JSON **strings** (`"Last":"212.85"`), kept as
//!   `String` so no precision is lost; the few JSON numbers (bar tick counts,
//!   option-chain sizes and open interest) are integers here;
//! - list fields default to empty when absent;
//! - unknown fields are ignored, so newer TradeStation fields do not break us.
//!
//! # Layout
//! - [`accounts`]: accounts, balances, positions, orders and the partial
//!   per-account `Errors` entries.
//! - [`orders`]: order requests (checked), their answers, and the order and
//!   position stream lines.
//! - [`quotes`]: quote snapshots and per-symbol errors.
//! - [`symbols`]: symbol details (price and quantity formats).
//! - [`bars`]: bar charts.
//! - [`options`]: expirations, strikes and option-chain spreads.
//! - [`stream`]: the newline-delimited stream messages (data, heartbeat,
//!   status, error).
//! - [`error`]: the `{"Error","Message"}` body of a failed request.

pub mod accounts;
pub mod bars;
pub mod error;
pub mod options;
pub mod orders;
pub mod quotes;
pub mod stream;
pub mod symbols;
