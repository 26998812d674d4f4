//! An option chain, assembled from the option-chain stream.
//!
//! Every data line is one whole spread; a later line for the same
//! `Legs[].Symbol` replaces the earlier one. [`ChainBook::rows`] groups the
//! spreads by strike (ascending) with the call on the left and the put on the
//! right, as a chain is read.

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
    /// A chain stream carries tens of spreads (five strikes either side of
    /// the money by default): a vector searched in order is as fast as a
    /// hash map here, and smaller in wasm.
    spreads: Vec<(String, OptionChainSpread)>,
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
                match self.spreads.iter_mut().find(|(key, _)| *key == k) {
                    Some((_, old)) => *old = spread,
                    None => self.spreads.push((k, spread)),
                }
                true
            }
            None => false,
        }
    }

    /// Rows by ascending strike.
    pub fn rows(&self) -> Vec<ChainRow> {
        // Rows are inserted in place (binary search on the numeric strike,
        // then the text) rather than sorted afterwards: no sort routine is
        // linked for a list of tens.
        let key = |strike: &str| {
            (
                num(Some(strike)).unwrap_or(f64::INFINITY),
                strike.to_owned(),
            )
        };
        let mut rows: Vec<ChainRow> = Vec::new();
        for (_, spread) in &self.spreads {
            let Some(strike) = strike(spread) else {
                continue;
            };
            let wanted = key(strike);
            let at = rows.partition_point(|r| {
                let k = key(&r.strike);
                k.0 < wanted.0 || (k.0 == wanted.0 && k.1 < wanted.1)
            });
            if rows.get(at).is_none_or(|r| r.strike != strike) {
                rows.insert(
                    at,
                    ChainRow {
                        strike: strike.to_owned(),
                        call: None,
                        put: None,
                    },
                );
            }
            match side(spread) {
                Some(s) if s.eq_ignore_ascii_case("call") => rows[at].call = Some(spread.clone()),
                Some(s) if s.eq_ignore_ascii_case("put") => rows[at].put = Some(spread.clone()),
                _ => {}
            }
        }
        rows
    }
}
