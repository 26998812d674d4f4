//! Numbers for the simulator: the hashes that make everything a pure
//! function of the seed, value noise, rounding to a tick, and decimals
//! written the way TradeStation writes them. A leaf: it uses no other module
//! of the crate, so the market, the options and the order book can all lean
//! on it without leaning on each other.

/// Rounds to a multiple of `tick`.
pub(crate) fn round_to(x: f64, tick: f64) -> f64 {
    (x / tick).round() * tick
}

/// A price as TradeStation writes it: the tick's decimals, trailing zeros
/// dropped (`"230"`, `"2166.3"`, `"212.85"`).
pub(crate) fn fmt_price(x: f64, tick: f64) -> String {
    let decimals = if tick >= 1.0 {
        0
    } else if tick >= 0.1 && (tick * 10.0 - (tick * 10.0).round()).abs() < 1e-9 {
        1
    } else {
        2
    };
    fmt_decimal(round_to(x, tick), decimals)
}

/// `decimals` places, trailing zeros dropped, never `-0`.
pub(crate) fn fmt_decimal(x: f64, decimals: usize) -> String {
    let mut s = format!("{x:.decimals$}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" { "0".into() } else { s }
}

/// FNV-1a, for turning names into seeds.
pub(crate) fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64 finaliser of two words.
pub(crate) fn hash2(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash as a float in `[0, 1)`.
pub(crate) fn unit_f(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Smoothly interpolated lattice noise in `[-1, 1]`.
pub(crate) fn value_noise(key: u64, x: f64) -> f64 {
    let i = x.floor();
    let f = x - i;
    let at = |n: f64| unit_f(hash2(key, n as i64 as u64)) * 2.0 - 1.0;
    let u = f * f * (3.0 - 2.0 * f);
    at(i) * (1.0 - u) + at(i + 1.0) * u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_written_with_the_ticks_decimals_and_no_negative_zero() {
        assert_eq!(fmt_price(230.0, 0.01), "230");
        assert_eq!(fmt_price(2166.3, 0.01), "2166.3");
        assert_eq!(fmt_price(5210.25, 0.25), "5210.25");
        assert_eq!(fmt_decimal(-0.0001, 2), "0");
        assert_eq!(round_to(1.234, 0.05), 1.25);
    }

    #[test]
    fn hashes_are_stable_and_noise_stays_in_range() {
        assert_eq!(fnv("MSFT"), fnv("MSFT"));
        assert_ne!(hash2(1, 2), hash2(2, 1));
        for i in 0..100 {
            let x = value_noise(hash2(7, i), i as f64 * 0.37);
            assert!((-1.0..=1.0).contains(&x));
        }
    }
}
