//! What the views show, computed from TradeStation payloads without touching
//! the DOM: merging quote changes, grouping a chain by strike, laying out a
//! chart. Pure, so `tests/logic.rs` covers them directly.
//!
//! - [`quotes`]: [`quotes::QuoteBook`], the watchlist rows and their ticks.
//! - [`chain`]: [`chain::ChainBook`], option spreads keyed by leg symbol.
//! - [`chart`]: [`chart::layout`], bars to SVG coordinates.

pub mod chain;
pub mod chart;
pub mod quotes;
