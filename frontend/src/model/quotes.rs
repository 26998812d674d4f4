//! Watchlist rows, merged from the quote stream.
//!
//! The first object per symbol is a full quote; later ones carry only what
//! changed (always with `Symbol`), so [`merge`] overwrites only the fields a
//! change names. Each change of `Last` is a *tick*: its direction and size
//! drive the up/down flash, and its counter lets the view restart the CSS
//! animation on every tick, not just on a change of direction.

use shared::ts::quotes::Quote;
use shared::ts::stream::{QuoteStreamMessage, StreamError};

use crate::format::num;

/// Which way the last tick went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    #[default]
    None,
    Up,
    Down,
}

impl Direction {
    /// CSS suffix: `up`, `down` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// One watchlist row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuoteRow {
    pub quote: Quote,
    /// Direction of the last change of `Last`.
    pub direction: Direction,
    /// `Last` minus the previous `Last`.
    pub delta: Option<f64>,
    /// Counts changes of `Last`.
    pub ticks: u64,
    /// A per-symbol stream error (`FAILED, INVALID SYMBOL`).
    pub error: Option<String>,
}

/// Copies every field `update` carries into `into`.
pub fn merge(into: &mut Quote, update: Quote) {
    macro_rules! take {
        ($($field:ident),* $(,)?) => {
            $( if update.$field.is_some() { into.$field = update.$field; } )*
        };
    }
    take!(
        symbol,
        open,
        high,
        low,
        previous_close,
        last,
        ask,
        ask_size,
        bid,
        bid_size,
        net_change,
        net_change_pct,
        high52_week,
        high52_week_timestamp,
        low52_week,
        low52_week_timestamp,
        volume,
        previous_volume,
        close,
        daily_open_interest,
        trade_time,
        tick_size_tier,
        last_size,
        last_venue,
        vwap,
        market_flags,
    );
}

/// All rows, keyed by symbol.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuoteBook {
    /// A watchlist holds at most 50 symbols: a vector searched in order is
    /// as fast as a hash map here, and smaller in wasm.
    rows: Vec<(String, QuoteRow)>,
}

impl QuoteBook {
    pub fn get(&self, symbol: &str) -> Option<&QuoteRow> {
        self.rows.iter().find(|(s, _)| s == symbol).map(|(_, r)| r)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn row_mut(&mut self, symbol: &str) -> &mut QuoteRow {
        let index = match self.rows.iter().position(|(s, _)| s == symbol) {
            Some(i) => i,
            None => {
                self.rows.push((symbol.to_owned(), QuoteRow::default()));
                self.rows.len() - 1
            }
        };
        &mut self.rows[index].1
    }

    /// Forgets symbols no longer watched.
    pub fn retain(&mut self, symbols: &[String]) {
        self.rows.retain(|(k, _)| symbols.contains(k));
    }

    /// Applies one stream line; returns the symbol it touched.
    pub fn apply(&mut self, message: QuoteStreamMessage) -> Option<String> {
        match message {
            QuoteStreamMessage::Quote(quote) => self.apply_quote(*quote),
            QuoteStreamMessage::Error(StreamError {
                error,
                message,
                symbol: Some(symbol),
            }) => {
                let row = self.row_mut(&symbol);
                row.error = Some(message.unwrap_or(error));
                Some(symbol)
            }
            _ => None,
        }
    }

    /// Merges one quote (full or partial).
    pub fn apply_quote(&mut self, quote: Quote) -> Option<String> {
        let symbol = quote.symbol.clone()?;
        let row = self.row_mut(&symbol);
        let before = num(row.quote.last.as_deref());
        let carries_last = quote.last.is_some();
        merge(&mut row.quote, quote);
        row.error = None;
        let after = num(row.quote.last.as_deref());
        if let (true, Some(before), Some(after)) = (carries_last, before, after) {
            let delta = after - before;
            if delta != 0.0 {
                row.direction = if delta > 0.0 {
                    Direction::Up
                } else {
                    Direction::Down
                };
                row.delta = Some(delta);
                row.ticks += 1;
            }
        }
        Some(symbol)
    }
}
