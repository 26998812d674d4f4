//! `/options`: choose an underlying, then an expiration, and watch its chain.
//!
//! Expirations come from `/options/expirations/{underlying}`; the chain from
//! the option-chain stream for the chosen expiration, calls on the left,
//! puts on the right, strikes in the middle. The choices are kept in the URL
//! (`?underlying=MSFT&expiration=2021-12-17`).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use shared::ts::options::{Expiration, OptionChainSpread};
use shared::ts::stream::OptionChainStreamMessage;

use crate::api;
use crate::api::stream::StreamState;
use crate::components::{Loader, Loading, RequireSession, StreamBadge};
use crate::format;
use crate::hooks::{use_query_mirror, use_stream};
use crate::model::chain::{ChainBook, ChainRow};
use crate::watchlist;

#[component]
pub fn OptionsPage() -> impl IntoView {
    view! {
        <div class="page" data-testid="options-page">
            <RequireSession>
                <OptionsView/>
            </RequireSession>
        </div>
    }
}

/// `2021-12-17T00:00:00Z` → `2021-12-17`, the form the stream's
/// `expiration` parameter takes.
fn expiration_param(e: &Expiration) -> Option<String> {
    e.date
        .as_deref()
        .and_then(|d| d.get(..10))
        .map(str::to_owned)
}

#[component]
fn OptionsView() -> impl IntoView {
    let query = use_query_map();
    let initial = query
        .with_untracked(|q| q.get("underlying"))
        .and_then(|u| watchlist::normalise(&u).ok())
        .unwrap_or_else(|| "MSFT".to_owned());
    let underlying = RwSignal::new(initial.clone());
    let expiration = RwSignal::new(query.with_untracked(|q| q.get("expiration")));
    let draft = RwSignal::new(initial);
    let input_error = RwSignal::new(None::<String>);

    let expirations = Loader::new(move |signal| {
        let u = underlying.get();
        async move {
            api::expirations(&u, signal.as_ref())
                .await
                .map(|r| r.expirations)
        }
    });

    // Pick the first expiration when none (or an unknown one) is chosen.
    Effect::new(move |_| {
        if let Some(Ok(list)) = expirations.get() {
            let dates: Vec<String> = list.iter().filter_map(expiration_param).collect();
            let chosen = expiration.get_untracked();
            if chosen.as_ref().is_none_or(|c| !dates.contains(c)) {
                expiration.set(dates.first().cloned());
            }
        }
    });

    // Mirror the choice into the URL.
    use_query_mirror("/options", move || {
        vec![
            ("underlying", Some(underlying.get())),
            ("expiration", expiration.get()),
        ]
    });

    let book = RwSignal::new(ChainBook::default());
    let state = use_stream(
        move || {
            let u = underlying.get();
            let e = expiration.get()?;
            book.update(ChainBook::clear);
            Some(api::chain_stream_url(&u, &e))
        },
        move |message: OptionChainStreamMessage| {
            book.update(|b| {
                b.apply(message);
            });
        },
    );

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match watchlist::normalise(&draft.get_untracked()) {
            Ok(u) => {
                input_error.set(None);
                if u != underlying.get_untracked() {
                    expiration.set(None);
                    underlying.set(u);
                }
            }
            Err(e) => input_error.set(Some(e)),
        }
    };
    let rows = Signal::derive(move || book.with(ChainBook::rows));

    view! {
        <div class="page-head">
            <h1>"Options"</h1>
            {move || expiration.get().is_some().then(|| view! { <StreamBadge state=state/> })}
        </div>
        <form class="inline-form" on:submit=submit>
            <label for="underlying-input">"Underlying"</label>
            <input id="underlying-input" data-testid="underlying-input" autocomplete="off" spellcheck="false"
                   prop:value=move || draft.get()
                   on:input=move |ev| draft.set(event_target_value(&ev))/>
            <button class="btn btn-primary" type="submit" data-testid="load-underlying">"Load"</button>
            {move || expirations.get().map(|result| match result {
                Ok(list) if list.is_empty() => view! {
                    <span class="muted" data-testid="no-expirations">"No option expirations for this symbol."</span>
                }.into_any(),
                Ok(list) => view! { <ExpirationSelect list=list selected=expiration/> }.into_any(),
                Err(_) => ().into_any(),
            })}
        </form>
        {move || input_error.get().map(|e| view! { <p class="notice notice-warn" data-testid="underlying-error">{e}</p> })}
        {expirations.view(move |list: Vec<Expiration>| {
            (!list.is_empty()).then(|| view! {
                <ChainTable underlying=underlying rows=rows
                    loading=Signal::derive(move || book.with(ChainBook::is_empty) && !matches!(state.get(), StreamState::Stopped(_)))/>
            })
        })}
    }
}

#[component]
fn ExpirationSelect(list: Vec<Expiration>, selected: RwSignal<Option<String>>) -> impl IntoView {
    view! {
        <label for="expiration-select">"Expiration"</label>
        <select id="expiration-select" data-testid="expiration-select"
                on:change=move |ev| selected.set(Some(event_target_value(&ev)))
                prop:value=move || selected.get().unwrap_or_default()>
            {list.into_iter().filter_map(|e| {
                let value = expiration_param(&e)?;
                let kind = e.kind.clone().map(|k| format!(" ({k})")).unwrap_or_default();
                let is_selected = {
                    let value = value.clone();
                    move || selected.get().as_deref() == Some(value.as_str())
                };
                Some(view! { <option value=value.clone() selected=is_selected>{value.clone()}{kind}</option> })
            }).collect_view()}
        </select>
    }
}

/// The chain grid: calls | strike | puts.
#[component]
pub fn ChainTable(
    #[prop(into)] underlying: Signal<String>,
    #[prop(into)] rows: Signal<Vec<ChainRow>>,
    #[prop(optional, into)] loading: Signal<bool>,
) -> impl IntoView {
    view! {
        {move || {
            if rows.with(Vec::is_empty) {
                return if loading.get() {
                    view! { <Loading label="Waiting for the option chain…"/> }.into_any()
                } else {
                    view! { <p class="empty" data-testid="chain-empty">"No options in this chain yet."</p> }.into_any()
                };
            }
            view! {
                <div class="table-wrap">
                    <table class="data chain" data-testid="chain-table">
                        <caption class="sr-only">{move || format!("Option chain for {}", underlying.get())}</caption>
                        <thead>
                            <tr class="sides"><th colspan="7" class="calls">"Calls"</th><th></th><th colspan="7" class="puts">"Puts"</th></tr>
                            <tr>
                                <th class="num">"Delta"</th><th class="num">"IV"</th><th class="num hide-narrow">"OI"</th>
                                <th class="num hide-narrow">"Vol"</th><th class="num">"Last"</th><th class="num">"Bid"</th><th class="num">"Ask"</th>
                                <th class="strike">"Strike"</th>
                                <th class="num">"Bid"</th><th class="num">"Ask"</th><th class="num">"Last"</th>
                                <th class="num hide-narrow">"Vol"</th><th class="num hide-narrow">"OI"</th><th class="num">"IV"</th><th class="num">"Delta"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {rows.get().into_iter().map(|row| view! {
                                <tr data-testid="chain-row" data-strike=row.strike.clone()>
                                    {call_cells(row.call.as_ref())}
                                    <th class="strike" scope="row">{row.strike.clone()}</th>
                                    {put_cells(row.put.as_ref())}
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
    }
}

struct Cells {
    bid: String,
    ask: String,
    last: String,
    volume: String,
    open_interest: String,
    iv: String,
    delta: String,
}

fn cells(spread: Option<&OptionChainSpread>) -> Cells {
    let s = |f: fn(&OptionChainSpread) -> Option<&str>| spread.and_then(f);
    Cells {
        bid: format::price(s(|x| x.bid.as_deref())),
        ask: format::price(s(|x| x.ask.as_deref())),
        last: format::price(s(|x| x.last.as_deref())),
        volume: format::count(spread.and_then(|x| x.volume)),
        open_interest: format::count(spread.and_then(|x| x.daily_open_interest)),
        iv: format::fraction_pct(s(|x| x.implied_volatility.as_deref())),
        delta: format::greek(s(|x| x.delta.as_deref())),
    }
}

fn call_cells(spread: Option<&OptionChainSpread>) -> impl IntoView + use<> {
    let c = cells(spread);
    view! {
        <td class="num">{c.delta}</td><td class="num">{c.iv}</td><td class="num hide-narrow">{c.open_interest}</td>
        <td class="num hide-narrow">{c.volume}</td><td class="num">{c.last}</td>
        <td class="num" data-testid="call-bid">{c.bid}</td><td class="num" data-testid="call-ask">{c.ask}</td>
    }
}

fn put_cells(spread: Option<&OptionChainSpread>) -> impl IntoView + use<> {
    let c = cells(spread);
    view! {
        <td class="num" data-testid="put-bid">{c.bid}</td><td class="num" data-testid="put-ask">{c.ask}</td>
        <td class="num">{c.last}</td><td class="num hide-narrow">{c.volume}</td>
        <td class="num hide-narrow">{c.open_interest}</td><td class="num">{c.iv}</td><td class="num">{c.delta}</td>
    }
}
