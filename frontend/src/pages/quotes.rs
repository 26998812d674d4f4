//! `/quotes`: a watchlist whose rows update live from the quote stream.
//!
//! The symbols live in the URL (`?symbols=MSFT,AAPL`) and in local storage
//! (see [`crate::watchlist`]). Changing them restarts the stream: the effect
//! that opened it is re-run, and its cleanup aborts the old request first.
//! Each change of `Last` flashes the cell green or red and shows the tick's
//! size beside it.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use shared::ts::stream::QuoteStreamMessage;

use crate::api;
use crate::components::{RequireSession, StreamBadge};
use crate::format;
use crate::hooks::{use_query_mirror, use_stream};
use crate::model::quotes::{Direction, QuoteBook};
use crate::watchlist;

#[component]
pub fn QuotesPage() -> impl IntoView {
    view! {
        <div class="page" data-testid="quotes-page">
            <RequireSession>
                <QuotesView/>
            </RequireSession>
        </div>
    }
}

#[component]
fn QuotesView() -> impl IntoView {
    let query = use_query_map();
    let from_url = query.with_untracked(|q| q.get("symbols"));
    let symbols = RwSignal::new(watchlist::initial(
        from_url.as_deref(),
        watchlist::load().as_deref(),
    ));
    let book = RwSignal::new(QuoteBook::default());

    // Back/forward to another `?symbols=`: follow the URL.
    Effect::new(move |_| {
        if let Some(param) = query.with(|q| q.get("symbols")) {
            let (list, _) = watchlist::parse_list(&param);
            if !list.is_empty() && symbols.with_untracked(|s| *s != list) {
                symbols.set(list);
            }
        }
    });

    // Persist, mirror into the URL, and (re)start the stream.
    Effect::new(move |_| symbols.with(|list| watchlist::save(list)));
    use_query_mirror("/quotes", move || {
        vec![("symbols", Some(symbols.with(|l| watchlist::to_param(l))))]
    });
    let state = use_stream(
        move || {
            let list = symbols.get();
            book.update(|b| b.retain(&list));
            (!list.is_empty()).then(|| api::quote_stream_url(&list))
        },
        move |message: QuoteStreamMessage| {
            book.update(|b| {
                b.apply(message);
            });
        },
    );

    let draft = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<String>::new());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut list = symbols.get_untracked();
        let problems = watchlist::add(&mut list, &draft.get_untracked());
        errors.set(problems);
        if list != symbols.get_untracked() {
            symbols.set(list);
            draft.set(String::new());
        }
    };
    let remove = Callback::new(move |symbol: String| {
        symbols.update(|s| s.retain(|x| *x != symbol));
    });

    view! {
        <div class="page-head">
            <h1>"Quotes"</h1>
            <StreamBadge state=state/>
        </div>
        <form class="inline-form" on:submit=add>
            <label class="sr-only" for="symbol-input">"Add symbols"</label>
            <input id="symbol-input" data-testid="symbol-input" placeholder="Add symbols, e.g. NVDA, TSLA"
                   autocomplete="off" spellcheck="false"
                   prop:value=move || draft.get()
                   on:input=move |ev| draft.set(event_target_value(&ev))/>
            <button class="btn btn-primary" type="submit" data-testid="add-symbol">"Add"</button>
        </form>
        {move || {
            let list = errors.get();
            (!list.is_empty()).then(|| view! {
                <ul class="notice notice-warn" data-testid="watchlist-errors">
                    {list.into_iter().map(|e| view! { <li>{e}</li> }).collect_view()}
                </ul>
            })
        }}
        <QuoteTable symbols=symbols book=book on_remove=remove/>
    }
}

/// The watchlist table. Rows are keyed by symbol, so a tick updates cells in
/// place and only the ticking cell flashes.
#[component]
pub fn QuoteTable(
    #[prop(into)] symbols: Signal<Vec<String>>,
    #[prop(into)] book: Signal<QuoteBook>,
    #[prop(optional, into)] on_remove: Option<Callback<String>>,
) -> impl IntoView {
    view! {
        <Show
            when=move || !symbols.with(Vec::is_empty)
            fallback=|| view! {
                <p class="empty" data-testid="watchlist-empty">"Your watchlist is empty. Add a symbol above."</p>
            }
        >
            <div class="table-wrap">
                <table class="data quotes" data-testid="quotes-table">
                    <thead><tr>
                        <th>"Symbol"</th><th class="num">"Last"</th><th class="num">"Tick"</th>
                        <th class="num">"Change"</th><th class="num">"%"</th>
                        <th class="num">"Bid"</th><th class="num">"Ask"</th>
                        <th class="num hide-narrow">"Volume"</th><th class="hide-narrow">"Time (UTC)"</th><th></th>
                    </tr></thead>
                    <tbody>
                        <For each=move || symbols.get() key=|s| s.clone() let:symbol>
                            <QuoteRowView symbol=symbol book=book on_remove=on_remove/>
                        </For>
                    </tbody>
                </table>
            </div>
        </Show>
    }
}

/// One row. Its cells are one reactive view of the row's [`QuoteRow`]: a
/// tick re-creates them, which also restarts the flash animation, and the
/// other rows stay untouched (their memo does not change).
#[component]
fn QuoteRowView(
    symbol: String,
    book: Signal<QuoteBook>,
    on_remove: Option<Callback<String>>,
) -> impl IntoView {
    let sym = symbol.clone();
    let row = Memo::new(move |_| book.with(|b| b.get(&sym).cloned()));
    let chart_href = format!("/chart/{}", api::encode_segment(&symbol));
    let cells = {
        let symbol = symbol.clone();
        move || {
            let r = row.get().unwrap_or_default();
            let q = &r.quote;
            // Two identical animations, alternated per tick, restart the flash.
            let last_class = match r.direction {
                Direction::None => "num last".to_owned(),
                d => format!("num last flash-{}-{}", d.as_str(), r.ticks % 2),
            };
            let tick_class = match r.direction {
                Direction::Up => "num tick pos",
                Direction::Down => "num tick neg",
                Direction::None => "num tick",
            };
            let tick = r
                .delta
                .map(|d| format::signed_f64(d, 2))
                .unwrap_or_default();
            let change = q.net_change.as_deref();
            let change_pct = q.net_change_pct.as_deref();
            let remove = on_remove.map(|remove| {
                let s = symbol.clone();
                view! {
                    <button class="btn btn-icon" data-testid="remove-symbol" title="Remove"
                            aria-label=format!("Remove {symbol}")
                            on:click=move |_| remove.run(s.clone())>"×"</button>
                }
            });
            view! {
                <td class="sym">
                    <a href=chart_href.clone() title="Chart">{symbol.clone()}</a>
                    {r.error.clone().map(|e| view! { <small class="row-error" data-testid="quote-error">{e}</small> })}
                </td>
                <td class=last_class data-testid="quote-last">{format::price(q.last.as_deref())}</td>
                <td class=tick_class data-testid="quote-tick">{tick}</td>
                <td class=format!("num {}", format::sign_class(change)) data-testid="quote-change">
                    {format::signed(change)}
                </td>
                <td class=format!("num {}", format::sign_class(change_pct))>{format::pct(change_pct)}</td>
                <td class="num">{format::price(q.bid.as_deref())}</td>
                <td class="num">{format::price(q.ask.as_deref())}</td>
                <td class="num hide-narrow">{format::quantity(q.volume.as_deref())}</td>
                <td class="hide-narrow">{format::time_of(q.trade_time.as_deref())}</td>
                <td>{remove}</td>
            }
        }
    };
    view! {
        <tr data-testid="quote-row" data-symbol=symbol
            data-ticks=move || row.with(|r| r.as_ref().map_or(0, |r| r.ticks)).to_string()>
            {cells}
        </tr>
    }
}
