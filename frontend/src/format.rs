//! How numbers, times and countdowns read on screen.
//!
//! TradeStation sends prices and quantities as decimal **strings**; these
//! helpers parse them only to format, and show `—` for anything missing or
//! unreadable rather than a misleading zero. Pure functions, tested in
//! `tests/logic.rs`.

/// Shown for a missing value.
pub const DASH: &str = "—";

/// A TradeStation decimal string as a number.
pub fn num(value: Option<&str>) -> Option<f64> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// `value` rounded to `decimals` places (at most 6), as sign, integer digits
/// and fraction digits.
///
/// Done in integers on purpose: `format!("{:.2}", f64)` links core's float
/// formatting (Grisu/Dragon4 with bignums), several KB of wasm for what a
/// price display needs. Halves round away from zero; magnitudes beyond what
/// a `u64` holds at this precision saturate.
fn digits(value: f64, decimals: usize) -> (bool, String, String) {
    let decimals = decimals.min(6);
    let scale = 10u64.pow(decimals as u32);
    let scaled = (value.abs() * scale as f64).round();
    let n = if scaled.is_finite() && scaled < u64::MAX as f64 {
        scaled as u64
    } else {
        u64::MAX
    };
    let int = (n / scale).to_string();
    let mut frac = String::new();
    if decimals > 0 {
        let f = (n % scale).to_string();
        frac.extend(std::iter::repeat_n('0', decimals - f.len()));
        frac.push_str(&f);
    }
    (value < 0.0 && n != 0, int, frac)
}

/// `value` with `decimals` places, no grouping: `-3.5` → `-3.50`.
pub fn fixed(value: f64, decimals: usize) -> String {
    let (negative, int, frac) = digits(value, decimals);
    let mut out = String::with_capacity(int.len() + frac.len() + 2);
    if negative {
        out.push('-');
    }
    out.push_str(&int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    out
}

/// `1234567.891` → `1,234,567.89` (`decimals` places, thousands grouped).
pub fn grouped(value: f64, decimals: usize) -> String {
    let (negative, int, frac) = digits(value, decimals);
    let mut out = String::with_capacity(int.len() + int.len() / 3 + frac.len() + 2);
    if negative {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    out
}

/// Money: two decimals, grouped.
pub fn money(value: Option<&str>) -> String {
    num(value).map_or_else(|| DASH.to_owned(), |v| grouped(v, 2))
}

/// A price: as many decimals as sent, at least two, at most four.
pub fn price(value: Option<&str>) -> String {
    let Some(v) = num(value) else {
        return DASH.to_owned();
    };
    let sent = value
        .and_then(|s| s.trim().split_once('.'))
        .map_or(0, |(_, f)| f.len());
    grouped(v, sent.clamp(2, 4))
}

/// A quantity or volume: whole, grouped.
pub fn quantity(value: Option<&str>) -> String {
    num(value).map_or_else(|| DASH.to_owned(), |v| grouped(v, 0))
}

/// An integer count (option sizes, open interest), grouped.
pub fn count(value: Option<u64>) -> String {
    value.map_or_else(|| DASH.to_owned(), |v| grouped(v as f64, 0))
}

/// A signed change: `+1.25` / `-0.50`, two decimals.
pub fn signed(value: Option<&str>) -> String {
    num(value).map_or_else(|| DASH.to_owned(), |v| signed_f64(v, 2))
}

/// A signed number with `decimals` places and an explicit `+`.
pub fn signed_f64(value: f64, decimals: usize) -> String {
    let body = grouped(value, decimals);
    if body.starts_with('-') || !body.bytes().any(|b| matches!(b, b'1'..=b'9')) {
        body
    } else {
        format!("+{body}")
    }
}

/// A fraction as a percentage: `0.3118` → `31.18%`.
pub fn fraction_pct(value: Option<&str>) -> String {
    num(value).map_or_else(
        || DASH.to_owned(),
        |v| format!("{}%", grouped(v * 100.0, 2)),
    )
}

/// A value already in percent: `3.5` → `+3.50%`.
pub fn pct(value: Option<&str>) -> String {
    num(value).map_or_else(|| DASH.to_owned(), |v| format!("{}%", signed_f64(v, 2)))
}

/// A Greek or other small decimal: four places.
pub fn greek(value: Option<&str>) -> String {
    num(value).map_or_else(|| DASH.to_owned(), |v| fixed(v, 4))
}

/// CSS class for a signed value: `pos`, `neg` or `flat`.
pub fn sign_class(value: Option<&str>) -> &'static str {
    match num(value) {
        Some(v) if v > 0.0 => "pos",
        Some(v) if v < 0.0 => "neg",
        _ => "flat",
    }
}

/// `2020-11-18T15:19:14Z` → `15:19:14` (UTC, as sent).
pub fn time_of(rfc3339: Option<&str>) -> String {
    rfc3339
        .and_then(|t| t.get(11..19))
        .map_or_else(|| DASH.to_owned(), str::to_owned)
}

/// `2021-12-17T00:00:00Z` → `2021-12-17`.
pub fn date_of(rfc3339: Option<&str>) -> String {
    rfc3339
        .and_then(|t| t.get(..10))
        .map_or_else(|| DASH.to_owned(), str::to_owned)
}

/// Seconds left as `m:ss` or `h:mm:ss`; `None` once it is over.
pub fn countdown(secs_left: i64) -> Option<String> {
    if secs_left <= 0 {
        return None;
    }
    let (h, m, s) = (secs_left / 3600, (secs_left % 3600) / 60, secs_left % 60);
    Some(if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    })
}
