//! Deterministic market data: the instrument universe, price paths, quotes,
//! bars and symbol details, built as [`shared::ts`] payloads.
//!
//! A price is a pure function of `(seed, instrument, instant)`: the log-price
//! is a sum of value-noise octaves with periods from 1 s to about 194 days,
//! each scaled like Brownian motion (amplitude ∝ √period × volatility). It
//! looks like a random walk at every zoom level, stays bounded, and can be
//! evaluated at any instant without replaying history — so two simulators
//! with the same seed agree, and a bar chart from years ago costs the same as
//! one from today.
//!
//! A "day" is a UTC calendar day: the session opens at 00:00 and the daily
//! bar closes at 21:00 (TradeStation stamps daily bars `…T21:00:00Z`).
//! Option contracts are priced in [`super::options`].

use shared::ts::bars::Bar;
use shared::ts::quotes::{MarketFlags, Quote, SymbolError};
use shared::ts::symbols::{PriceFormat, QuantityFormat, SymbolDetail};

use super::calendar::{self, DAY_MS, HOUR_MS};
use super::num::{fmt_decimal, fmt_price, fnv, hash2, round_to, unit_f, value_noise};
use super::options::OptionContract;

/// Seconds in a (calendar) year, the unit of volatility.
pub(crate) const YEAR_SECS: f64 = 365.0 * 86_400.0;
/// The grid prices move on: quotes change at most every half second.
pub(crate) const STEP_MS: i64 = 500;
/// When the daily bar closes, after the UTC day starts.
pub(crate) const CLOSE_OFFSET_MS: i64 = 21 * HOUR_MS;
/// TradeStation's limit on bars per request.
pub(crate) const MAX_BARS: usize = 57_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssetClass {
    Stock,
    Index,
    Future,
    Option,
}

/// Something with a price.
#[derive(Debug, Clone)]
pub(crate) struct Instrument {
    pub symbol: String,
    pub class: AssetClass,
    pub description: String,
    pub exchange: &'static str,
    /// Price level the path wanders around.
    pub base: f64,
    /// Annualised volatility of the path (and the options' historical vol).
    pub vol: f64,
    /// Minimum price increment.
    pub tick: f64,
    pub point_value: f64,
    pub daily_volume: f64,
    /// Set for [`AssetClass::Option`].
    pub option: Option<Box<OptionContract>>,
    /// Identity of the price path (all contracts of a future share one).
    path: u64,
}

impl Instrument {
    pub(crate) fn asset_type(&self) -> &'static str {
        match self.class {
            AssetClass::Stock => "STOCK",
            AssetClass::Index => "INDEX",
            AssetClass::Future => "FUTURE",
            AssetClass::Option => "STOCKOPTION",
        }
    }

    /// A stable per-instrument hash for sizes, volumes and the like.
    pub(crate) fn key(&self) -> u64 {
        fnv(&self.symbol)
    }
}

/// `(symbol, description, exchange, class, base price, volatility, daily volume)`.
const UNIVERSE: &[(&str, &str, &str, AssetClass, f64, f64, f64)] = &[
    (
        "MSFT",
        "Microsoft Corp",
        "NASDAQ",
        AssetClass::Stock,
        420.0,
        0.25,
        22e6,
    ),
    (
        "AAPL",
        "Apple Inc",
        "NASDAQ",
        AssetClass::Stock,
        190.0,
        0.27,
        55e6,
    ),
    (
        "NVDA",
        "NVIDIA Corp",
        "NASDAQ",
        AssetClass::Stock,
        120.0,
        0.50,
        250e6,
    ),
    (
        "AMZN",
        "Amazon.com Inc",
        "NASDAQ",
        AssetClass::Stock,
        185.0,
        0.32,
        40e6,
    ),
    (
        "GOOGL",
        "Alphabet Inc Class A",
        "NASDAQ",
        AssetClass::Stock,
        170.0,
        0.28,
        25e6,
    ),
    (
        "META",
        "Meta Platforms Inc",
        "NASDAQ",
        AssetClass::Stock,
        500.0,
        0.35,
        15e6,
    ),
    (
        "TSLA",
        "Tesla Inc",
        "NASDAQ",
        AssetClass::Stock,
        250.0,
        0.55,
        90e6,
    ),
    (
        "AMD",
        "Advanced Micro Devices Inc",
        "NASDAQ",
        AssetClass::Stock,
        160.0,
        0.45,
        50e6,
    ),
    (
        "JPM",
        "JPMorgan Chase & Co",
        "NYSE",
        AssetClass::Stock,
        200.0,
        0.22,
        9e6,
    ),
    (
        "SPY",
        "SPDR S&P 500 ETF Trust",
        "NYSE Arca",
        AssetClass::Stock,
        520.0,
        0.16,
        70e6,
    ),
    (
        "QQQ",
        "Invesco QQQ Trust Series 1",
        "NASDAQ",
        AssetClass::Stock,
        450.0,
        0.20,
        40e6,
    ),
    (
        "IWM",
        "iShares Russell 2000 ETF",
        "NYSE Arca",
        AssetClass::Stock,
        205.0,
        0.22,
        30e6,
    ),
    (
        "$SPX.X",
        "S&P 500 Index",
        "S&P",
        AssetClass::Index,
        5200.0,
        0.16,
        0.0,
    ),
    (
        "$NDX.X",
        "Nasdaq-100 Index",
        "NASDAQ",
        AssetClass::Index,
        18_000.0,
        0.20,
        0.0,
    ),
    (
        "$DJI.X",
        "Dow Jones Industrial Average",
        "DJ",
        AssetClass::Index,
        39_000.0,
        0.15,
        0.0,
    ),
    (
        "$VIX.X",
        "CBOE Volatility Index",
        "CBOE",
        AssetClass::Index,
        15.0,
        0.80,
        0.0,
    ),
];

/// `(root, description, base price, tick, point value, volatility)`.
const FUTURES: &[(&str, &str, f64, f64, f64, f64)] = &[
    ("ES", "E-mini S&P 500", 5210.0, 0.25, 50.0, 0.16),
    ("NQ", "E-mini Nasdaq-100", 18_050.0, 0.25, 20.0, 0.20),
    ("CL", "Crude Oil", 78.0, 0.01, 1000.0, 0.35),
    ("GC", "Gold", 2300.0, 0.1, 100.0, 0.15),
];

/// Futures month codes, January to December.
pub(crate) const MONTH_CODES: &[u8; 12] = b"FGHJKMNQUVXZ";

/// Day-level figures of an instrument, which change once a day.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DayStats {
    pub day: i64,
    pub open: f64,
    pub previous_close: f64,
    pub previous_volume: f64,
    pub high52: (f64, i64),
    pub low52: (f64, i64),
}

/// Bar sizes TradeStation offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BarUnit {
    Minute(u32),
    Daily,
    Weekly,
    Monthly,
}

/// The price model. Cheap to share; all methods are pure.
#[derive(Debug, Clone)]
pub(crate) struct Market {
    seed: u64,
}

impl Market {
    pub(crate) fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// Looks a symbol up (case-insensitively). Known names, futures
    /// (`@ES`, `ESZ26`), option symbols (`MSFT 261218C450`), and any other
    /// alphabetic ticker of 1–5 letters as a made-up stock.
    pub(crate) fn instrument(&self, symbol: &str) -> Option<Instrument> {
        let symbol = symbol.trim().to_ascii_uppercase();
        if symbol.contains(' ') {
            return OptionContract::parse(self, &symbol).map(option_instrument);
        }
        if let Some(&(sym, description, exchange, class, base, vol, volume)) =
            UNIVERSE.iter().find(|u| u.0 == symbol)
        {
            return Some(self.make(sym, description, exchange, class, base, vol, volume));
        }
        if let Some(future) = self.future(&symbol) {
            return Some(future);
        }
        if (1..=5).contains(&symbol.len()) && symbol.bytes().all(|b| b.is_ascii_uppercase()) {
            let h = hash2(self.seed, fnv(&symbol));
            let base = 10.0 + (h % 49_000) as f64 / 100.0;
            let vol = 0.2 + (h >> 20) as f64 % 40.0 / 100.0;
            let volume = 1e6 + ((h >> 32) % 20_000_000) as f64;
            let description = format!("{symbol} Simulated Corp");
            return Some(self.make(
                &symbol,
                &description,
                "NYSE",
                AssetClass::Stock,
                base,
                vol,
                volume,
            ));
        }
        None
    }

    /// Every listed instrument a symbol look-up can find: the named stocks,
    /// ETFs and indexes, each futures root's continuous and front contract.
    pub(crate) fn listed(&self, now_ms: i64) -> Vec<Instrument> {
        let named = UNIVERSE.iter().map(|u| u.0.to_owned());
        let futures = FUTURES
            .iter()
            .flat_map(|f| [format!("@{}", f.0), Self::front_future(f.0, now_ms)]);
        named
            .chain(futures)
            .filter_map(|symbol| self.instrument(&symbol))
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn make(
        &self,
        symbol: &str,
        description: &str,
        exchange: &'static str,
        class: AssetClass,
        base: f64,
        vol: f64,
        daily_volume: f64,
    ) -> Instrument {
        Instrument {
            symbol: symbol.to_owned(),
            class,
            description: description.to_owned(),
            exchange,
            base,
            vol,
            tick: 0.01,
            point_value: 1.0,
            daily_volume,
            option: None,
            path: fnv(symbol),
        }
    }

    /// `@ES` (continuous) or `ES` + month code + two-digit year.
    fn future(&self, symbol: &str) -> Option<Instrument> {
        let (root, contract) = match symbol.strip_prefix('@') {
            Some(root) => (root, None),
            None => {
                let b = symbol.as_bytes();
                let ok = b.len() == 5
                    && MONTH_CODES.contains(&b[2])
                    && b[3].is_ascii_digit()
                    && b[4].is_ascii_digit();
                if !ok {
                    return None;
                }
                (symbol.get(..2)?, Some(()))
            }
        };
        let &(root, name, base, tick, point_value, vol) = FUTURES.iter().find(|f| f.0 == root)?;
        let description = match contract {
            Some(()) => format!("{name} Futures {symbol}"),
            None => format!("{name} Continuous Contract"),
        };
        Some(Instrument {
            symbol: symbol.to_owned(),
            class: AssetClass::Future,
            description,
            exchange: "CME",
            base,
            vol,
            tick,
            point_value,
            daily_volume: 1.5e6,
            option: None,
            path: fnv(root),
        })
    }

    /// The front quarterly contract of a futures root at `now_ms`, e.g. `ESM26`.
    pub(crate) fn front_future(root: &str, now_ms: i64) -> String {
        let (year, month) = front_quarter(now_ms);
        let code = MONTH_CODES[(month - 1) as usize] as char;
        format!("{root}{code}{:02}", year.rem_euclid(100))
    }

    /// The expiration day of [`Market::front_future`]: its third Friday.
    pub(crate) fn front_future_expiry(now_ms: i64) -> i64 {
        let (year, month) = front_quarter(now_ms);
        calendar::third_friday(year, month)
    }

    /// The raw (unrounded) price of a non-option instrument at an instant.
    pub(crate) fn raw_price(&self, inst: &Instrument, t_ms: i64) -> f64 {
        let key = hash2(self.seed, inst.path);
        let t = t_ms as f64 / 1000.0;
        let mut log = 0.0;
        for octave in 0..25u32 {
            let period = f64::from(1u32 << octave);
            let amplitude = 0.6 * inst.vol * (period / YEAR_SECS).sqrt();
            log += amplitude * value_noise(hash2(key, u64::from(octave)), t / period);
        }
        inst.base * log.exp()
    }

    /// The price at an instant, on the instrument's tick grid.
    pub(crate) fn price(&self, inst: &Instrument, t_ms: i64) -> f64 {
        match &inst.option {
            Some(contract) => contract.price(self, t_ms),
            None => round_to(self.raw_price(inst, t_ms), inst.tick).max(inst.tick),
        }
    }

    /// Opening price, previous close and 52-week range for the UTC day `day`.
    pub(crate) fn day_stats(&self, inst: &Instrument, day: i64) -> DayStats {
        let mut previous = day - 1;
        while calendar::is_weekend(previous) {
            previous -= 1;
        }
        let mut high52 = (f64::MIN, day);
        let mut low52 = (f64::MAX, day);
        // Weekly closes over the past year (options: their own life only).
        for week in 1..=52 {
            let d = day - week * 7;
            let t = d * DAY_MS + CLOSE_OFFSET_MS;
            let p = self.price(inst, t);
            if p > high52.0 {
                high52 = (p, d);
            }
            if p < low52.0 {
                low52 = (p, d);
            }
        }
        DayStats {
            day,
            open: self.price(inst, day * DAY_MS),
            previous_close: self.price(inst, previous * DAY_MS + CLOSE_OFFSET_MS),
            previous_volume: inst.daily_volume
                * (0.7 + 0.6 * unit_f(hash2(inst.key(), previous as u64))),
            high52,
            low52,
        }
    }

    /// Bid and ask around a last price, as the quotes show them.
    pub(crate) fn bid_ask(inst: &Instrument, last: f64) -> (f64, f64) {
        match inst.class {
            AssetClass::Index => (last, last),
            AssetClass::Option => {
                let half = (last * 0.02).max(0.01);
                (
                    round_to((last - half).max(0.0), 0.01),
                    round_to(last + half, 0.01),
                )
            }
            AssetClass::Future => (last - inst.tick, last + inst.tick),
            AssetClass::Stock => {
                let half = round_to(last * 0.0001, 0.01).max(0.01);
                (last - half, last + half)
            }
        }
    }

    /// A full quote at `t_ms` (snapped to the half-second grid).
    pub(crate) fn quote(&self, inst: &Instrument, t_ms: i64, day: &DayStats) -> Quote {
        let t_ms = t_ms - t_ms.rem_euclid(STEP_MS);
        let step = (t_ms / STEP_MS) as u64;
        let last = self.price(inst, t_ms);
        let day_start = day.day * DAY_MS;
        let (mut high, mut low) = (day.open.max(last), day.open.min(last));
        let mut t = day_start + HOUR_MS / 2;
        while t < t_ms {
            let p = self.price(inst, t);
            high = high.max(p);
            low = low.min(p);
            t += HOUR_MS / 2;
        }
        let (high52, low52) = (
            (day.high52.0.max(high), day.high52.1),
            (day.low52.0.min(low), day.low52.1),
        );
        let frac = ((t_ms - day_start) as f64 / DAY_MS as f64).clamp(0.0, 1.0);
        let volume = (inst.daily_volume * frac).round();
        let h = hash2(inst.key(), step);
        let (bid, ask) = Self::bid_ask(inst, last);
        let (bid_size, ask_size, last_size) = match inst.class {
            AssetClass::Index => (0, 0, 0),
            AssetClass::Option => (1 + h % 50, 1 + (h >> 8) % 50, 1 + (h >> 16) % 10),
            AssetClass::Future => (1 + h % 40, 1 + (h >> 8) % 40, 1 + (h >> 16) % 5),
            AssetClass::Stock => (
                100 * (1 + h % 20),
                100 * (1 + (h >> 8) % 20),
                1 + (h >> 16) % 1000,
            ),
        };
        let change = last - day.previous_close;
        let change_pct = if day.previous_close > 0.0 {
            change / day.previous_close * 100.0
        } else {
            0.0
        };
        let venues = ["ARCX", "NSDQ", "NYSE", "BATS", "EDGX", "IEXG"];
        let last_venue = match inst.class {
            AssetClass::Stock => venues[(h >> 24) as usize % venues.len()],
            AssetClass::Index => "",
            AssetClass::Future => "CME",
            AssetClass::Option => "OPRA",
        };
        let open_interest = match &inst.option {
            Some(contract) => contract.open_interest(),
            None => 0,
        };
        let fmt = |x: f64| fmt_price(x, inst.tick);
        Quote {
            symbol: Some(inst.symbol.clone()),
            open: Some(fmt(day.open)),
            high: Some(fmt(high)),
            low: Some(fmt(low)),
            previous_close: Some(fmt(day.previous_close)),
            last: Some(fmt(last)),
            ask: Some(fmt(ask)),
            ask_size: Some(ask_size.to_string()),
            bid: Some(fmt(bid)),
            bid_size: Some(bid_size.to_string()),
            net_change: Some(fmt(change)),
            net_change_pct: Some(fmt_decimal(change_pct, 2)),
            high52_week: Some(fmt(high52.0)),
            high52_week_timestamp: Some(calendar::date_rfc3339(high52.1)),
            low52_week: Some(fmt(low52.0)),
            low52_week_timestamp: Some(calendar::date_rfc3339(low52.1)),
            volume: Some(format!("{volume}")),
            previous_volume: Some(format!("{}", day.previous_volume.round())),
            close: Some(fmt(last)),
            daily_open_interest: Some(open_interest.to_string()),
            trade_time: Some(calendar::rfc3339(t_ms)),
            tick_size_tier: Some("0".into()),
            last_size: Some(last_size.to_string()),
            last_venue: (!last_venue.is_empty()).then(|| last_venue.to_owned()),
            vwap: Some(fmt_decimal((day.open + high + low + last) / 4.0, 4)),
            market_flags: Some(MarketFlags {
                is_delayed: Some(false),
                is_hard_to_borrow: Some(false),
                is_bats: Some(false),
                is_halted: Some(false),
            }),
        }
    }

    /// A quote for a symbol, or the `Errors` entry TradeStation gives.
    pub(crate) fn quote_for(&self, symbol: &str, t_ms: i64) -> Result<Quote, SymbolError> {
        let inst = self
            .instrument(symbol)
            .ok_or_else(|| invalid_symbol(symbol))?;
        let day = self.day_stats(&inst, t_ms.div_euclid(DAY_MS));
        Ok(self.quote(&inst, t_ms, &day))
    }

    /// `count` bars ending with the one that contains `last_ms` (never past
    /// `now_ms`), oldest first; stops early at `first_ms`.
    pub(crate) fn bars(
        &self,
        inst: &Instrument,
        unit: BarUnit,
        count: usize,
        first_ms: Option<i64>,
        last_ms: i64,
        now_ms: i64,
    ) -> Vec<Bar> {
        let last_ms = last_ms.min(now_ms);
        let mut bars = Vec::new();
        let mut cursor = last_ms;
        while bars.len() < count.min(MAX_BARS) {
            let (start, end) = period(unit, cursor);
            if first_ms.is_some_and(|first| end < first) {
                break;
            }
            if start <= now_ms
                && !(unit == BarUnit::Daily && calendar::is_weekend(start.div_euclid(DAY_MS)))
            {
                bars.push(self.bar(inst, unit, start, end, now_ms));
            }
            cursor = start - 1;
        }
        bars.reverse();
        bars
    }

    fn bar(&self, inst: &Instrument, unit: BarUnit, start: i64, end: i64, now_ms: i64) -> Bar {
        let close_t = end.min(now_ms);
        let open = self.price(inst, start);
        let close = self.price(inst, close_t);
        let (mut high, mut low) = (open.max(close), open.min(close));
        for i in 1..=4 {
            let p = self.price(inst, start + (close_t - start) * i / 5);
            high = high.max(p);
            low = low.min(p);
        }
        let h = hash2(hash2(inst.key(), start as u64), 1);
        let days = match unit {
            BarUnit::Minute(n) => f64::from(n) / 390.0,
            BarUnit::Daily => 1.0,
            BarUnit::Weekly => 5.0,
            BarUnit::Monthly => 21.0,
        };
        let done = if end > now_ms {
            ((now_ms - start) as f64 / (end - start).max(1) as f64).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let volume = (inst.daily_volume * days * (0.6 + 0.8 * unit_f(h)) * done).round() as u64;
        let ticks = (volume / 90).max(u64::from(volume > 0));
        let up_share = 0.4 + 0.2 * unit_f(h >> 11);
        let up_ticks = (ticks as f64 * up_share).round() as u64;
        let up_volume = (volume as f64 * up_share).round() as u64;
        let fmt = |x: f64| fmt_price(x, inst.tick);
        let status = if end > now_ms { "Open" } else { "Closed" };
        Bar {
            high: Some(fmt(high)),
            low: Some(fmt(low)),
            open: Some(fmt(open)),
            close: Some(fmt(close)),
            time_stamp: Some(calendar::rfc3339(end)),
            total_volume: Some(volume.to_string()),
            down_ticks: Some(ticks - up_ticks),
            down_volume: Some(volume - up_volume),
            up_ticks: Some(up_ticks),
            up_volume: Some(up_volume),
            total_ticks: Some(ticks),
            unchanged_ticks: Some(0),
            unchanged_volume: Some(0),
            open_interest: Some("0".into()),
            is_realtime: Some(end > now_ms),
            is_end_of_history: Some(false),
            epoch: Some(end),
            bar_status: Some(status.into()),
        }
    }

    /// A symbol's static description.
    pub(crate) fn symbol_detail(&self, inst: &Instrument) -> SymbolDetail {
        let decimals = if inst.tick >= 0.1 && inst.tick < 0.25 {
            1
        } else {
            2
        };
        let root = match &inst.option {
            Some(contract) => contract.underlying.symbol.clone(),
            None if inst.class == AssetClass::Future => inst
                .symbol
                .trim_start_matches('@')
                .chars()
                .take(2)
                .collect(),
            None => inst.symbol.clone(),
        };
        SymbolDetail {
            symbol: Some(inst.symbol.clone()),
            root: Some(root.clone()),
            asset_type: Some(inst.asset_type().into()),
            country: Some("United States".into()),
            currency: Some("USD".into()),
            description: Some(inst.description.clone()),
            exchange: Some(inst.exchange.into()),
            future_type: (inst.class == AssetClass::Future).then(|| "Electronic".into()),
            underlying: match inst.class {
                AssetClass::Future => Some(root),
                AssetClass::Option => Some(root),
                _ => None,
            },
            price_format: Some(PriceFormat {
                format: Some("Decimal".into()),
                decimals: Some(decimals.to_string()),
                fraction: None,
                sub_fraction: None,
                increment_style: Some("Simple".into()),
                increment: Some(fmt_decimal(inst.tick, 2)),
                point_value: Some(fmt_decimal(inst.point_value, 2)),
            }),
            quantity_format: Some(QuantityFormat {
                format: Some("Decimal".into()),
                decimals: Some("0".into()),
                increment_style: Some("Simple".into()),
                increment: Some("1".into()),
                minimum_trade_quantity: Some("1".into()),
            }),
        }
    }
}

/// An option contract as an instrument: priced by Black-Scholes off its
/// underlying's path.
pub(crate) fn option_instrument(contract: OptionContract) -> Instrument {
    let symbol = contract.symbol();
    Instrument {
        description: contract.description(),
        exchange: "OPRA",
        class: AssetClass::Option,
        base: contract.underlying.base,
        vol: contract.underlying.vol,
        tick: 0.01,
        point_value: 100.0,
        daily_volume: contract.open_interest() as f64 * 0.3,
        path: contract.underlying.path,
        symbol,
        option: Some(Box::new(contract)),
    }
}

/// The `[start, end]` of the bar of `unit` containing `t_ms`.
fn period(unit: BarUnit, t_ms: i64) -> (i64, i64) {
    let day = t_ms.div_euclid(DAY_MS);
    match unit {
        BarUnit::Minute(n) => {
            let len = i64::from(n.max(1)) * 60_000;
            let start = t_ms.div_euclid(len) * len;
            (start, start + len)
        }
        BarUnit::Daily => (day * DAY_MS, day * DAY_MS + CLOSE_OFFSET_MS),
        BarUnit::Weekly => {
            let monday = day - calendar::weekday(day);
            (monday * DAY_MS, (monday + 4) * DAY_MS + CLOSE_OFFSET_MS)
        }
        BarUnit::Monthly => {
            let (y, m, _) = calendar::civil_from_days(day);
            let first = calendar::days_from_civil(y, m, 1);
            let last = first + i64::from(calendar::days_in_month(y, m)) - 1;
            (first * DAY_MS, last * DAY_MS + CLOSE_OFFSET_MS)
        }
    }
}

/// The first quarterly month (Mar, Jun, Sep, Dec) not yet expired.
fn front_quarter(now_ms: i64) -> (i64, u32) {
    let today = now_ms.div_euclid(DAY_MS);
    let (mut year, month, _) = calendar::civil_from_days(today);
    let mut quarter_month = month.div_ceil(3) * 3;
    if calendar::third_friday(year, quarter_month) < today {
        quarter_month += 3;
        if quarter_month > 12 {
            quarter_month = 3;
            year += 1;
        }
    }
    (year, quarter_month)
}

/// TradeStation's entry for a symbol it does not know.
pub(crate) fn invalid_symbol(symbol: &str) -> SymbolError {
    SymbolError {
        symbol: Some(symbol.to_owned()),
        error: Some("FAILED, INVALID SYMBOL".into()),
        message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_268_800_000; // 2026-01-01T12:00:00Z, a Thursday

    #[test]
    fn the_same_seed_gives_the_same_prices_and_another_seed_others() {
        let (a, b, c) = (Market::new(1), Market::new(1), Market::new(2));
        let msft = a.instrument("msft").unwrap();
        assert_eq!(msft.symbol, "MSFT");
        for t in [NOW, NOW + 500, NOW + 86_400_000] {
            assert_eq!(
                a.quote_for("MSFT", t).unwrap(),
                b.quote_for("MSFT", t).unwrap()
            );
        }
        assert_ne!(
            a.quote_for("MSFT", NOW).unwrap(),
            c.quote_for("MSFT", NOW).unwrap()
        );
        assert_ne!(a.price(&msft, NOW), a.price(&msft, NOW + 60_000));
    }

    #[test]
    fn prices_wander_plausibly_and_stay_bounded() {
        let market = Market::new(7);
        for symbol in ["MSFT", "TSLA", "$SPX.X", "XYZ", "@ES"] {
            let inst = market.instrument(symbol).unwrap();
            let mut previous = market.price(&inst, NOW);
            for step in 1..2000 {
                let t = NOW + step * 3_600_000;
                let p = market.price(&inst, t);
                assert!(p > inst.base * 0.3 && p < inst.base * 3.0, "{symbol} {p}");
                // An hour never moves a price by more than a few percent.
                assert!((p / previous - 1.0).abs() < 0.08, "{symbol} jumped");
                previous = p;
            }
        }
    }

    #[test]
    fn quotes_are_consistent_and_written_as_strings() {
        let market = Market::new(3);
        let q = market.quote_for("AAPL", NOW).unwrap();
        let num = |s: &Option<String>| s.as_deref().unwrap().parse::<f64>().unwrap();
        assert!(num(&q.bid) < num(&q.ask));
        assert!(num(&q.low) <= num(&q.last) && num(&q.last) <= num(&q.high));
        let last = q.last.as_deref().unwrap();
        assert!(
            last.split('.').nth(1).is_none_or(|d| d.len() <= 2),
            "{last}"
        );
        assert_eq!(q.trade_time.as_deref(), Some("2026-01-01T12:00:00Z"));
        assert!(market.quote_for("TOOLONG", NOW).is_err());
        assert!(market.quote_for("AB1", NOW).is_err());
        assert_eq!(
            market.quote_for("NOPE1", NOW).unwrap_err().error.as_deref(),
            Some("FAILED, INVALID SYMBOL")
        );
    }

    #[test]
    fn bars_are_ordered_well_formed_and_skip_weekends() {
        let market = Market::new(3);
        let inst = market.instrument("MSFT").unwrap();
        let bars = market.bars(&inst, BarUnit::Daily, 10, None, NOW, NOW);
        assert_eq!(bars.len(), 10);
        let epochs: Vec<i64> = bars.iter().map(|b| b.epoch.unwrap()).collect();
        assert!(epochs.windows(2).all(|w| w[0] < w[1]));
        for bar in &bars {
            let day = bar.epoch.unwrap().div_euclid(DAY_MS);
            assert!(!calendar::is_weekend(day));
            let v = |s: &Option<String>| s.as_deref().unwrap().parse::<f64>().unwrap();
            assert!(v(&bar.low) <= v(&bar.open) && v(&bar.open) <= v(&bar.high));
            assert!(v(&bar.low) <= v(&bar.close) && v(&bar.close) <= v(&bar.high));
            assert_eq!(
                bar.up_ticks.unwrap() + bar.down_ticks.unwrap(),
                bar.total_ticks.unwrap()
            );
        }
        // Today's bar is still open at noon.
        assert_eq!(bars.last().unwrap().bar_status.as_deref(), Some("Open"));
        let minutes = market.bars(&inst, BarUnit::Minute(5), 3, None, NOW, NOW);
        assert_eq!(minutes.len(), 3);
        assert_eq!(
            minutes[1].epoch.unwrap() - minutes[0].epoch.unwrap(),
            300_000
        );
    }

    #[test]
    fn futures_and_formats() {
        assert_eq!(Market::front_future("ES", NOW), "ESH26");
        let market = Market::new(0);
        let es = market.instrument("ESH26").unwrap();
        assert_eq!(es.class, AssetClass::Future);
        assert_eq!(es.point_value, 50.0);
        assert!(market.instrument("ESA26").is_none());
    }
}
