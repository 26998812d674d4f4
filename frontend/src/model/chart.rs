//! Bars to SVG coordinates: candlesticks, a close line, price gridlines.
//!
//! The SVG uses a fixed `viewBox` ([`WIDTH`] × [`HEIGHT`]) and scales to its
//! container, so layout happens once per data set, not per resize. Prices
//! grow upwards: `y = top + (max - price) / (max - min) * plot height`.

use shared::ts::bars::Bar;

use crate::format::{fixed, num};

pub const WIDTH: f64 = 800.0;
pub const HEIGHT: f64 = 360.0;
/// `0 0 WIDTH HEIGHT`, written out: formatting the `f64`s would link float
/// formatting for one string (a test keeps them in step).
pub const VIEW_BOX: &str = "0 0 800 360";
/// Room for price labels on the right and dates at the bottom.
pub const PAD_RIGHT: f64 = 64.0;
pub const PAD_TOP: f64 = 12.0;
pub const PAD_BOTTOM: f64 = 28.0;
pub const PAD_LEFT: f64 = 8.0;

/// One candle in SVG units.
#[derive(Debug, Clone, PartialEq)]
pub struct Candle {
    /// Centre.
    pub x: f64,
    pub high_y: f64,
    pub low_y: f64,
    /// Top and bottom of the body (top ≤ bottom).
    pub body_top: f64,
    pub body_bottom: f64,
    /// Close ≥ open.
    pub up: bool,
}

/// A horizontal gridline with its price.
#[derive(Debug, Clone, PartialEq)]
pub struct GridLine {
    pub y: f64,
    pub label: String,
}

/// Everything the chart view draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub candles: Vec<Candle>,
    /// Width of a candle body.
    pub body_width: f64,
    /// `M x y L x y …` through the closes.
    pub close_path: String,
    pub grid: Vec<GridLine>,
    pub first_date: String,
    pub last_date: String,
    pub min: f64,
    pub max: f64,
    pub last_close: f64,
    pub first_close: f64,
}

struct Ohlc {
    open: f64,
    high: f64,
    low: f64,
    close: f64,
}

fn ohlc(bar: &Bar) -> Option<Ohlc> {
    let close = num(bar.close.as_deref())?;
    let open = num(bar.open.as_deref()).unwrap_or(close);
    let high = num(bar.high.as_deref()).unwrap_or(open.max(close));
    let low = num(bar.low.as_deref()).unwrap_or(open.min(close));
    Some(Ohlc {
        open,
        high: high.max(open).max(close),
        low: low.min(open).min(close),
        close,
    })
}

/// Lays out `bars` (oldest first); `None` when no bar has a close.
pub fn layout(bars: &[Bar]) -> Option<Layout> {
    let points: Vec<(&Bar, Ohlc)> = bars.iter().filter_map(|b| Some((b, ohlc(b)?))).collect();
    let (first, last) = (points.first()?, points.last()?);
    let mut min = points
        .iter()
        .map(|(_, p)| p.low)
        .fold(f64::INFINITY, f64::min);
    let mut max = points
        .iter()
        .map(|(_, p)| p.high)
        .fold(f64::NEG_INFINITY, f64::max);
    if max - min < 1e-9 {
        // A flat series still gets a visible band around it.
        let pad = (max.abs() * 0.01).max(0.01);
        min -= pad;
        max += pad;
    }
    let plot_w = WIDTH - PAD_LEFT - PAD_RIGHT;
    let plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM;
    let y = |price: f64| PAD_TOP + (max - price) / (max - min) * plot_h;
    let step = plot_w / points.len() as f64;
    let body_width = (step * 0.7).clamp(1.0, 24.0);

    let mut close_path = String::new();
    let candles = points
        .iter()
        .enumerate()
        .map(|(i, (_, p))| {
            let x = PAD_LEFT + step * (i as f64 + 0.5);
            let (o, c) = (y(p.open), y(p.close));
            close_path.push_str(if i == 0 { "M" } else { " L" });
            close_path.push_str(&fixed(x, 1));
            close_path.push(' ');
            close_path.push_str(&fixed(c, 1));
            Candle {
                x,
                high_y: y(p.high),
                low_y: y(p.low),
                body_top: o.min(c),
                body_bottom: o.max(c).max(o.min(c) + 0.5),
                up: p.close >= p.open,
            }
        })
        .collect();

    let grid = (0..=4)
        .map(|i| {
            let price = max - (max - min) * f64::from(i) / 4.0;
            GridLine {
                y: y(price),
                label: crate::format::grouped(price, 2),
            }
        })
        .collect();

    let date = |bar: &Bar| crate::format::date_of(bar.time_stamp.as_deref());
    Some(Layout {
        candles,
        body_width,
        close_path,
        grid,
        first_date: date(first.0),
        last_date: date(last.0),
        min,
        max,
        last_close: last.1.close,
        first_close: first.1.close,
    })
}
