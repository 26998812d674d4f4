//! An option chain, assembled from the option-chain stream.
//!
//! Every data line is one whole spread; a later line for the same
//! `Legs[].Symbol` replaces the earlier one. [`ChainBook::rows`] groups the
//! spreads by strike (ascending) with the call on the left and the put on the
//! right, as a chain is read.

use std::collections::HashMap;

use shared::ts::options::OptionChainSpread;
use shared::ts::stream::OptionChainStreamMessage;

use crate::format::num;

/// One strike of the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainRow {
    /// The strike as sent (`"332.5"`).
    pub strike: String,
    pub call: Option<OptionChainSpread>,
    pub put: Option<OptionChainSpread>,
}

/// The spreads received so far, keyed by leg symbol(s).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainBook {
    spreads: HashMap<String, OptionChainSpread>,
}

/// `Call` or `Put`, from `Side` or else the first leg's `OptionType`.
fn side(spread: &OptionChainSpread) -> Option<&str> {
    spread
        .side
        .as_deref()
        .or_else(|| spread.legs.first().and_then(|l| l.option_type.as_deref()))
}

fn strike(spread: &OptionChainSpread) -> Option<&str> {
    spread
        .strikes
        .first()
        .map(String::as_str)
        .or_else(|| spread.legs.first().and_then(|l| l.strike_price.as_deref()))
}

fn key(spread: &OptionChainSpread) -> Option<String> {
    let symbols: Vec<&str> = spread
        .legs
        .iter()
        .filter_map(|l| l.symbol.as_deref())
        .collect();
    if symbols.is_empty() {
        // No leg symbols: fall back to side and strike, still unique per row.
        Some(format!("{}:{}", side(spread)?, strike(spread)?))
    } else {
        Some(symbols.join("|"))
    }
}

impl ChainBook {
    pub fn len(&self) -> usize {
        self.spreads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spreads.is_empty()
    }

    pub fn clear(&mut self) {
        self.spreads.clear();
    }

    /// Applies one stream line; true if the chain changed.
    pub fn apply(&mut self, message: OptionChainStreamMessage) -> bool {
        match message {
            OptionChainStreamMessage::Spread(spread) => self.insert(*spread),
            _ => false,
        }
    }

    /// Adds or replaces one spread; false if it cannot be placed.
    pub fn insert(&mut self, spread: OptionChainSpread) -> bool {
        match key(&spread) {
            Some(k) => {
                self.spreads.insert(k, spread);
                true
            }
            None => false,
        }
    }

    /// Rows by ascending strike.
    pub fn rows(&self) -> Vec<ChainRow> {
        let mut rows: Vec<ChainRow> = Vec::new();
        for spread in self.spreads.values() {
            let Some(strike) = strike(spread) else {
                continue;
            };
            let index = match rows.iter().position(|r| r.strike == strike) {
                Some(i) => i,
                None => {
                    rows.push(ChainRow {
                        strike: strike.to_owned(),
                        call: None,
                        put: None,
                    });
                    rows.len() - 1
                }
            };
            match side(spread) {
                Some(s) if s.eq_ignore_ascii_case("call") => {
                    rows[index].call = Some(spread.clone())
                }
                Some(s) if s.eq_ignore_ascii_case("put") => rows[index].put = Some(spread.clone()),
                _ => {}
            }
        }
        rows.sort_by(|a, b| {
            let (x, y) = (num(Some(&a.strike)), num(Some(&b.strike)));
            x.partial_cmp(&y)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.strike.cmp(&b.strike))
        });
        rows
    }
}
