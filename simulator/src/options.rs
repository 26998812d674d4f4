//! Options: contract symbols, listed expirations and strikes, and
//! Black-Scholes prices and Greeks for the option-chain payloads.
//!
//! TradeStation computes Greeks with Bjerksund-Stensland; plain
//! Black-Scholes (European, no dividends) is close enough for a simulator.
//! Implied volatility is the underlying's volatility bent into a smile, so
//! `ImpliedVolatility` differs from strike to strike while the
//! "historical" figures (`TheoreticalValue`, `ProbabilityITM`, …) use the
//! flat volatility, as TradeStation's two sets of fields do.

use shared::ts::options::{OptionChainSpread, OptionLeg};

use super::calendar::{self, DAY_MS};
use super::market::{AssetClass, CLOSE_OFFSET_MS, Instrument, Market, STEP_MS, YEAR_SECS};
use super::num::{fmt_decimal, fnv, hash2, round_to, unit_f};

/// Risk-free rate when the request names none.
pub(crate) const DEFAULT_RISK_FREE: f64 = 0.045;

/// One listed option: `ROOT YYMMDD{C|P}STRIKE`.
#[derive(Debug, Clone)]
pub(crate) struct OptionContract {
    pub underlying: Instrument,
    pub expiry_day: i64,
    pub call: bool,
    pub strike: f64,
}

impl OptionContract {
    /// Parses `MSFT 261218C450`; the root must be a stock or ETF.
    pub(crate) fn parse(market: &Market, symbol: &str) -> Option<Self> {
        let (root, rest) = symbol.split_once(' ')?;
        let underlying = market.instrument(root)?;
        if underlying.class != AssetClass::Stock || rest.len() < 8 || rest.len() > 16 {
            return None;
        }
        let date = rest.get(..6)?;
        if !date.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let expiry_day = calendar::parse_date(&format!(
            "20{}-{}-{}",
            date.get(..2)?,
            date.get(2..4)?,
            date.get(4..6)?
        ))?;
        let call = match rest.as_bytes().get(6)? {
            b'C' => true,
            b'P' => false,
            _ => return None,
        };
        let strike_text = rest.get(7..)?;
        if !strike_text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return None;
        }
        let strike: f64 = strike_text.parse().ok()?;
        (strike > 0.0 && strike.is_finite()).then_some(Self {
            underlying,
            expiry_day,
            call,
            strike,
        })
    }

    pub(crate) fn symbol(&self) -> String {
        let (y, m, d) = calendar::civil_from_days(self.expiry_day);
        format!(
            "{} {:02}{m:02}{d:02}{}{}",
            self.underlying.symbol,
            y.rem_euclid(100),
            if self.call { 'C' } else { 'P' },
            fmt_strike(self.strike)
        )
    }

    pub(crate) fn description(&self) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let (y, m, d) = calendar::civil_from_days(self.expiry_day);
        format!(
            "{} {} {d} {y} {:.2} {}",
            self.underlying.symbol,
            MONTHS[(m as usize).saturating_sub(1) % 12],
            self.strike,
            self.side()
        )
    }

    pub(crate) fn side(&self) -> &'static str {
        if self.call { "Call" } else { "Put" }
    }

    /// Years until 21:00 UTC of the expiration day, at least one minute.
    fn years_left(&self, t_ms: i64) -> f64 {
        let expiry_ms = self.expiry_day * DAY_MS + CLOSE_OFFSET_MS;
        (expiry_ms - t_ms).max(60_000) as f64 / 1000.0 / YEAR_SECS
    }

    /// Market price at an instant (Black-Scholes at the implied volatility).
    pub(crate) fn price(&self, market: &Market, t_ms: i64) -> f64 {
        let spot = market.price(&self.underlying, t_ms);
        let iv = implied_vol(self.underlying.vol, spot, self.strike);
        let g = black_scholes(
            spot,
            self.strike,
            self.years_left(t_ms),
            DEFAULT_RISK_FREE,
            iv,
            self.call,
        );
        round_to(g.value, 0.01).max(0.01)
    }

    /// Open interest: largest near the money, fixed per contract.
    pub(crate) fn open_interest(&self) -> u64 {
        let m = (self.strike / self.underlying.base).ln();
        let h = fnv(&self.symbol());
        let peak = 500.0 + (h % 20_000) as f64;
        (peak * (-m * m * 40.0).exp()).round() as u64
    }
}

/// `450`, `332.5`, `12.25`.
pub(crate) fn fmt_strike(strike: f64) -> String {
    fmt_decimal(strike, 2)
}

/// Standard normal CDF (via Numerical Recipes' `erfcc`, error < 1.2e-7).
pub(crate) fn norm_cdf(x: f64) -> f64 {
    let z = (x / std::f64::consts::SQRT_2).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Price and Greeks. Theta per calendar day, vega and rho per percentage
/// point, as TradeStation shows them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Greeks {
    pub value: f64,
    pub delta: f64,
    pub gamma: f64,
    pub theta: f64,
    pub vega: f64,
    pub rho: f64,
}

pub(crate) fn black_scholes(s: f64, k: f64, t: f64, r: f64, sigma: f64, call: bool) -> Greeks {
    let st = sigma * t.sqrt();
    let d1 = ((s / k).ln() + (r + sigma * sigma / 2.0) * t) / st;
    let d2 = d1 - st;
    let disc = (-r * t).exp();
    let decay = -s * norm_pdf(d1) * sigma / (2.0 * t.sqrt());
    let (value, delta, theta, rho) = if call {
        (
            s * norm_cdf(d1) - k * disc * norm_cdf(d2),
            norm_cdf(d1),
            decay - r * k * disc * norm_cdf(d2),
            k * t * disc * norm_cdf(d2),
        )
    } else {
        (
            k * disc * norm_cdf(-d2) - s * norm_cdf(-d1),
            norm_cdf(d1) - 1.0,
            decay + r * k * disc * norm_cdf(-d2),
            -k * t * disc * norm_cdf(-d2),
        )
    };
    Greeks {
        value: value.max(0.0),
        delta,
        gamma: norm_pdf(d1) / (s * st),
        theta: theta / 365.0,
        vega: s * norm_pdf(d1) * t.sqrt() / 100.0,
        rho: rho / 100.0,
    }
}

/// Probability that the underlying ends above `level` (lognormal, drift `r`).
fn prob_above(s: f64, level: f64, t: f64, r: f64, sigma: f64) -> f64 {
    if level <= 0.0 {
        return 1.0;
    }
    let st = sigma * t.sqrt();
    norm_cdf(((s / level).ln() + (r - sigma * sigma / 2.0) * t) / st)
}

/// The volatility smile: higher away from the money, skewed to puts.
pub(crate) fn implied_vol(base_vol: f64, spot: f64, strike: f64) -> f64 {
    let m = (strike / spot).ln();
    (base_vol * (1.0 + 2.0 * m * m) - 0.1 * m).clamp(0.05, 3.0)
}

/// Listed expirations from `today`: six weeklies, nine monthlies (third
/// Fridays), and January and December LEAPS. Sorted, with their `Type`.
pub(crate) fn expirations(today: i64) -> Vec<(i64, &'static str)> {
    let mut days = Vec::new();
    let first_friday = today + (4 - calendar::weekday(today)).rem_euclid(7);
    days.extend((0..6).map(|w| first_friday + 7 * w));
    let (year, month, _) = calendar::civil_from_days(today);
    for ahead in 0..9 {
        let index = i64::from(month) - 1 + ahead;
        let (y, m) = (year + index / 12, (index % 12) as u32 + 1);
        days.push(calendar::third_friday(y, m));
    }
    days.push(calendar::third_friday(year + 1, 1));
    days.push(calendar::third_friday(year + 1, 12));
    days.push(calendar::third_friday(year + 2, 1));
    days.retain(|d| *d >= today);
    days.sort_unstable();
    days.dedup();
    days.into_iter()
        .map(|d| {
            let (y, m, _) = calendar::civil_from_days(d);
            let kind = if calendar::third_friday(y, m) == d {
                "Monthly"
            } else {
                "Weekly"
            };
            (d, kind)
        })
        .collect()
}

/// Listed strikes of an underlying: a fixed ladder around its base price,
/// spaced as exchanges space them for that price level.
pub(crate) fn strikes(underlying: &Instrument) -> Vec<f64> {
    let base = underlying.base;
    let step = match base {
        b if b < 25.0 => 0.5,
        b if b < 50.0 => 1.0,
        b if b < 200.0 => 2.5,
        b if b < 1000.0 => 5.0,
        b if b < 5000.0 => 10.0,
        _ => 25.0,
    };
    let low = (base * 0.4 / step).ceil() as i64;
    let high = (base * 2.5 / step).floor() as i64;
    (low..=high).map(|i| i as f64 * step).collect()
}

/// Which spreads an option-chain request wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrikeRange {
    All,
    Itm,
    Otm,
}

/// The option-chain query, validated.
#[derive(Debug, Clone)]
pub(crate) struct ChainRequest {
    pub expiry_day: i64,
    pub proximity: usize,
    pub strike_interval: usize,
    pub price_center: Option<f64>,
    pub risk_free: f64,
    pub greeks: bool,
    pub range: StrikeRange,
    pub calls: bool,
    pub puts: bool,
}

/// The contracts of a chain around `center`: `proximity` strikes at or
/// below it and as many above, calls and puts as asked, filtered by range.
pub(crate) fn chain_contracts(
    underlying: &Instrument,
    request: &ChainRequest,
    center: f64,
) -> Vec<OptionContract> {
    let ladder: Vec<f64> = strikes(underlying)
        .into_iter()
        .step_by(request.strike_interval.max(1))
        .collect();
    let split = ladder.partition_point(|k| *k <= center);
    let from = split.saturating_sub(request.proximity);
    let to = (split + request.proximity).min(ladder.len());
    let mut contracts = Vec::new();
    for &strike in &ladder[from..to] {
        for call in [true, false] {
            if (call && !request.calls) || (!call && !request.puts) {
                continue;
            }
            let itm = if call {
                strike < center
            } else {
                strike > center
            };
            let keep = match request.range {
                StrikeRange::All => true,
                StrikeRange::Itm => itm,
                StrikeRange::Otm => !itm,
            };
            if keep {
                contracts.push(OptionContract {
                    underlying: underlying.clone(),
                    expiry_day: request.expiry_day,
                    call,
                    strike,
                });
            }
        }
    }
    contracts
}

/// One spread of the option-chain stream at `t_ms`.
pub(crate) fn spread(
    market: &Market,
    contract: &OptionContract,
    t_ms: i64,
    risk_free: f64,
    with_greeks: bool,
) -> OptionChainSpread {
    let t_ms = t_ms - t_ms.rem_euclid(STEP_MS);
    let spot = market.price(&contract.underlying, t_ms);
    let k = contract.strike;
    let t = contract.years_left(t_ms);
    let hv = contract.underlying.vol;
    let iv = implied_vol(hv, spot, k);
    let at_iv = black_scholes(spot, k, t, risk_free, iv, contract.call);
    let at_hv = black_scholes(spot, k, t, risk_free, hv, contract.call);

    let last = round_to(at_iv.value, 0.01).max(0.01);
    let half = (last * 0.02).max(0.01);
    let bid = round_to((last - half).max(0.0), 0.01);
    let ask = round_to(last + half, 0.01);
    let mid = (bid + ask) / 2.0;
    let intrinsic = if contract.call {
        (spot - k).max(0.0)
    } else {
        (k - spot).max(0.0)
    };

    let day = t_ms.div_euclid(DAY_MS);
    let open = contract.price(market, day * DAY_MS);
    let previous_close = contract.price(market, (day - 1) * DAY_MS + CLOSE_OFFSET_MS);
    let (mut high, mut low) = (open.max(last), open.min(last));
    for i in 1..4 {
        let p = contract.price(market, day * DAY_MS + (t_ms - day * DAY_MS) * i / 4);
        high = high.max(p);
        low = low.min(p);
    }
    let change = last - previous_close;

    // Probabilities: in the money, out of it, and beyond the break-even.
    let breakeven = if contract.call { k + mid } else { k - mid };
    let probabilities = |sigma: f64| {
        let above_k = prob_above(spot, k, t, risk_free, sigma);
        let above_be = prob_above(spot, breakeven, t, risk_free, sigma);
        let itm = if contract.call {
            above_k
        } else {
            1.0 - above_k
        };
        let be = if contract.call {
            above_be
        } else {
            1.0 - above_be
        };
        (itm, 1.0 - itm, be)
    };
    let (itm_hv, otm_hv, be_hv) = probabilities(hv);
    let (itm_iv, otm_iv, be_iv) = probabilities(iv);

    let symbol = contract.symbol();
    let h = hash2(fnv(&symbol), (t_ms / STEP_MS) as u64);
    let open_interest = contract.open_interest();
    let day_fraction = ((t_ms - day * DAY_MS) as f64 / DAY_MS as f64).clamp(0.0, 1.0);
    let volume = (open_interest as f64 * 0.3 * day_fraction * (0.8 + 0.4 * unit_f(hash2(h, 3))))
        .round() as u64;

    let d4 = |x: f64| Some(fmt_decimal(x, 4));
    let d2 = |x: f64| Some(fmt_decimal(x, 2));
    let greek = |x: f64| if with_greeks { d4(x) } else { None };
    OptionChainSpread {
        delta: greek(at_iv.delta),
        theta: greek(at_iv.theta),
        gamma: greek(at_iv.gamma),
        rho: greek(at_iv.rho),
        vega: greek(at_iv.vega),
        implied_volatility: greek(iv),
        intrinsic_value: d2(intrinsic),
        extrinsic_value: d2((mid - intrinsic).max(0.0)),
        theoretical_value: greek(at_hv.value),
        theoretical_value_iv: greek(at_iv.value),
        probability_itm: greek(itm_hv),
        probability_otm: greek(otm_hv),
        probability_be: greek(be_hv),
        probability_itm_iv: greek(itm_iv),
        probability_otm_iv: greek(otm_iv),
        probability_be_iv: greek(be_iv),
        standard_deviation: greek(iv * t.sqrt()),
        daily_open_interest: Some(open_interest),
        ask: d2(ask),
        bid: d2(bid),
        mid: d2(mid),
        ask_size: Some(1 + h % 60),
        bid_size: Some(1 + (h >> 8) % 60),
        close: d2(last),
        high: d2(high),
        last: d2(last),
        low: d2(low),
        net_change: d2(change),
        net_change_pct: d2(if previous_close > 0.0 {
            change / previous_close * 100.0
        } else {
            0.0
        }),
        open: d2(open),
        previous_close: d2(previous_close),
        volume: Some(volume),
        side: Some(contract.side().into()),
        strikes: vec![fmt_strike(k)],
        legs: vec![OptionLeg {
            symbol: Some(symbol),
            ratio: Some(1),
            strike_price: Some(fmt_strike(k)),
            expiration: Some(calendar::date_rfc3339(contract.expiry_day)),
            option_type: Some(contract.side().into()),
            asset_type: Some("StockOption".into()),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_scholes_matches_the_textbook_and_put_call_parity() {
        // Hull's example: S=42, K=40, r=10%, σ=20%, T=0.5 → call 4.76, put 0.81.
        let call = black_scholes(42.0, 40.0, 0.5, 0.1, 0.2, true);
        let put = black_scholes(42.0, 40.0, 0.5, 0.1, 0.2, false);
        assert!((call.value - 4.76).abs() < 0.01, "{call:?}");
        assert!((put.value - 0.81).abs() < 0.01, "{put:?}");
        let parity = call.value - put.value - (42.0 - 40.0 * (-0.05f64).exp());
        assert!(parity.abs() < 1e-6);
        assert!((call.delta - put.delta - 1.0).abs() < 1e-9);
        assert!(call.theta < 0.0 && call.gamma > 0.0 && call.vega > 0.0);
        assert!((norm_cdf(0.0) - 0.5).abs() < 1e-7 && (norm_cdf(1.96) - 0.975).abs() < 1e-4);
    }

    #[test]
    fn option_symbols_parse_and_print_like_tradestation() {
        let market = Market::new(0);
        let c = OptionContract::parse(&market, "MSFT 211217P332.5").unwrap();
        assert!(!c.call);
        assert_eq!(c.strike, 332.5);
        assert_eq!(c.expiry_day, calendar::days_from_civil(2021, 12, 17));
        assert_eq!(c.symbol(), "MSFT 211217P332.5");
        let inst = market.instrument("msft 261218c450").unwrap();
        assert_eq!(inst.symbol, "MSFT 261218C450");
        assert_eq!(inst.class, AssetClass::Option);
        for bad in [
            "MSFT 211317P300",
            "MSFT 211217X300",
            "MSFT 211217P",
            "$SPX.X 211217C5000",
            "NOPE1 211217C1",
        ] {
            assert!(market.instrument(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn expirations_are_future_fridays_with_monthlies_marked() {
        let today = calendar::days_from_civil(2026, 1, 1);
        let list = expirations(today);
        assert!(list.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(
            list.iter()
                .all(|(d, _)| *d >= today && calendar::weekday(*d) == 4)
        );
        assert!(list.contains(&(calendar::days_from_civil(2026, 1, 16), "Monthly")));
        assert!(list.contains(&(calendar::days_from_civil(2026, 1, 2), "Weekly")));
        assert!(list.contains(&(calendar::third_friday(2027, 12), "Monthly")));
    }

    #[test]
    fn a_chain_brackets_the_center_and_spreads_are_sane() {
        let market = Market::new(0);
        let msft = market.instrument("MSFT").unwrap();
        let request = ChainRequest {
            expiry_day: calendar::days_from_civil(2026, 1, 16),
            proximity: 3,
            strike_interval: 1,
            price_center: None,
            risk_free: DEFAULT_RISK_FREE,
            greeks: true,
            range: StrikeRange::All,
            calls: true,
            puts: true,
        };
        let contracts = chain_contracts(&msft, &request, 421.0);
        let strikes: Vec<f64> = contracts.iter().map(|c| c.strike).step_by(2).collect();
        assert_eq!(strikes, vec![410.0, 415.0, 420.0, 425.0, 430.0, 435.0]);
        let now = calendar::days_from_civil(2026, 1, 2) * DAY_MS + 15 * 3_600_000;
        for contract in &contracts {
            let s = spread(&market, contract, now, DEFAULT_RISK_FREE, true);
            let delta: f64 = s.delta.as_deref().unwrap().parse().unwrap();
            if contract.call {
                assert!((0.0..=1.0).contains(&delta));
            } else {
                assert!((-1.0..=0.0).contains(&delta));
            }
            let bid: f64 = s.bid.as_deref().unwrap().parse().unwrap();
            let ask: f64 = s.ask.as_deref().unwrap().parse().unwrap();
            assert!(bid <= ask);
            assert_eq!(s.legs[0].symbol, Some(contract.symbol()));
        }
        let without = spread(&market, &contracts[0], now, DEFAULT_RISK_FREE, false);
        assert_eq!(without.delta, None);
        assert!(without.bid.is_some());
    }
}
