//! `/chart/:symbol`: a candlestick chart of bar-chart data, drawn as SVG by
//! [`crate::model::chart::layout`].
//!
//! The range (`?range=1D|1M|6M|1Y`) picks TradeStation's `interval`/`unit`/
//! `barsback`; the SVG has a fixed `viewBox` and scales to its box.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use shared::ts::bars::Bar;

use crate::api::{self, BarQuery};
use crate::components::{Loader, RequireSession};
use crate::format;
use crate::model::chart::{self, HEIGHT, VIEW_BOX, WIDTH};
use crate::watchlist;

/// The ranges offered, with what each asks TradeStation for.
pub const RANGES: [(&str, BarQuery); 4] = [
    (
        "1D",
        BarQuery {
            interval: 5,
            unit: "Minute",
            bars_back: 78,
        },
    ),
    (
        "1M",
        BarQuery {
            interval: 1,
            unit: "Daily",
            bars_back: 22,
        },
    ),
    (
        "6M",
        BarQuery {
            interval: 1,
            unit: "Daily",
            bars_back: 126,
        },
    ),
    (
        "1Y",
        BarQuery {
            interval: 1,
            unit: "Weekly",
            bars_back: 52,
        },
    ),
];

fn range_query(name: &str) -> (&'static str, BarQuery) {
    RANGES
        .iter()
        .find(|(n, _)| *n == name)
        .copied()
        .unwrap_or(RANGES[2])
}

#[component]
pub fn ChartPage() -> impl IntoView {
    view! {
        <div class="page" data-testid="chart-page">
            <RequireSession>
                <ChartView/>
            </RequireSession>
        </div>
    }
}

#[component]
fn ChartView() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let navigate = use_navigate();
    let symbol = Memo::new(move |_| {
        params
            .with(|p| p.get("symbol"))
            .and_then(|s| watchlist::normalise(&s).ok())
            .unwrap_or_else(|| "MSFT".to_owned())
    });
    let range =
        Memo::new(move |_| range_query(&query.with(|q| q.get("range")).unwrap_or_default()).0);
    let bars = Loader::new(move |signal| {
        let (s, (_, q)) = (symbol.get(), range_query(range.get()));
        async move { api::bars(&s, q, signal.as_ref()).await.map(|r| r.bars) }
    });

    let draft = RwSignal::new(symbol.get_untracked());
    let error = RwSignal::new(None::<String>);
    let go = {
        let navigate = navigate.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            match watchlist::normalise(&draft.get_untracked()) {
                Ok(s) => {
                    error.set(None);
                    navigate(
                        &format!(
                            "/chart/{}?range={}",
                            api::encode_segment(&s),
                            range.get_untracked()
                        ),
                        Default::default(),
                    );
                }
                Err(e) => error.set(Some(e)),
            }
        }
    };
    Effect::new(move |_| draft.set(symbol.get()));

    view! {
        <div class="page-head">
            <h1 data-testid="chart-symbol">{move || symbol.get()}</h1>
            <div class="segmented" role="group" aria-label="Range">
                {RANGES.iter().map(|(name, _)| {
                    let name = *name;
                    let href = move || format!("/chart/{}?range={name}", api::encode_segment(&symbol.get()));
                    view! {
                        <a href=href class="seg" data-testid=format!("range-{name}")
                           aria-current=move || (range.get() == name).then_some("true")>{name}</a>
                    }
                }).collect_view()}
            </div>
        </div>
        <form class="inline-form" on:submit=go>
            <label for="chart-input">"Symbol"</label>
            <input id="chart-input" data-testid="chart-input" autocomplete="off" spellcheck="false"
                   prop:value=move || draft.get() on:input=move |ev| draft.set(event_target_value(&ev))/>
            <button class="btn btn-primary" type="submit" data-testid="chart-go">"Show"</button>
        </form>
        {move || error.get().map(|e| view! { <p class="notice notice-warn">{e}</p> })}
        {bars.view(move |bars: Vec<Bar>| view! { <ChartSvg bars=bars symbol=symbol.get_untracked()/> })}
    }
}

/// The SVG itself, or the empty state when there is nothing to draw.
#[component]
pub fn ChartSvg(bars: Vec<Bar>, #[prop(into)] symbol: String) -> impl IntoView {
    let Some(layout) = chart::layout(&bars) else {
        return view! {
            <p class="empty" data-testid="chart-empty">"No price history for " {symbol} " in this range."</p>
        }
        .into_any();
    };
    let change = layout.last_close - layout.first_close;
    let change_pct = if layout.first_close != 0.0 {
        change / layout.first_close * 100.0
    } else {
        0.0
    };
    let class = if change >= 0.0 { "pos" } else { "neg" };
    let f = |v: f64| format::fixed(v, 1);
    let grid_x1 = f(chart::PAD_LEFT);
    let grid_x2 = f(WIDTH - chart::PAD_RIGHT);
    let label_x = f(WIDTH - chart::PAD_RIGHT + 6.0);
    let date_y = f(HEIGHT - 8.0);
    let bw = layout.body_width;
    // One path per candle: the wick, then the body as a closed rectangle.
    let candle = |c: &chart::Candle| {
        format!(
            "M{x} {hy}V{ly}M{left} {top}h{w}V{bottom}H{left}Z",
            x = f(c.x),
            hy = f(c.high_y),
            ly = f(c.low_y),
            left = f(c.x - bw / 2.0),
            top = f(c.body_top),
            w = f(bw),
            bottom = f(c.body_bottom),
        )
    };
    view! {
        <figure class="card chart">
            <figcaption>
                <strong class="value">{format::grouped(layout.last_close, 2)}</strong>
                " "
                <span class=class data-testid="chart-change">
                    {format::signed_f64(change, 2)} " (" {format::signed_f64(change_pct, 2)} "%)"
                </span>
                <span class="muted">" over " {layout.candles.len()} " bars"</span>
            </figcaption>
            <svg class="chart-svg" data-testid="chart-svg" viewBox=VIEW_BOX role="img"
                 aria-label=format!("{symbol} price chart, {} to {}", layout.first_date, layout.last_date)>
                {layout.grid.iter().map(|g| view! {
                    <path class="grid" d=format!("M{grid_x1} {y}H{grid_x2}", y = f(g.y))></path>
                    <text class="axis" x=label_x.clone() y=f(g.y + 4.0)>{g.label.clone()}</text>
                }).collect_view()}
                {layout.candles.iter().map(|c| view! {
                    <path class=if c.up { "candle up" } else { "candle down" } data-testid="candle" d=candle(c)></path>
                }).collect_view()}
                <path class="close-line" d=layout.close_path.clone()></path>
                <text class="axis" x=grid_x1.clone() y=date_y.clone()>{layout.first_date.clone()}</text>
                <text class="axis" x=grid_x2.clone() y=date_y text-anchor="end">{layout.last_date.clone()}</text>
            </svg>
        </figure>
    }
    .into_any()
}
