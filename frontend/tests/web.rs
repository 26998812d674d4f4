//! Components in headless Chromium: mount the real [`App`], click, wait,
//! assert on `data-testid` nodes.
//!
//! No backend: `window.fetch` is replaced by a scripted fake (see [`FAKE`])
//! that answers by path prefix, can queue several answers for one path
//! (first a 502, then data), streams chunked bodies that split objects
//! across chunks, and records every call and every abort. Each test sets the
//! URL with `history.replaceState` before mounting, and unmounts at the end.
//!
//! The end of the file also reads hand-built browser `ReadableStream`s
//! through the stream loop the app uses, and checks `Retry-After` dates,
//! which go through the browser's `Date.parse`. The pure logic is tested
//! natively in `tests/logic.rs`.
//!
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!  cargo test -p frontend --target wasm32-unknown-unknown --test web`
#![cfg(target_arch = "wasm32")]

use frontend::App;
use frontend::api;
use frontend::api::stream::read_lines;
use frontend::clock;
use serde_json::{Value, json};
use shared::ts::stream::QuoteStreamMessage;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlSelectElement};

wasm_bindgen_test_configure!(run_in_browser);

/// The fake `fetch`. `routes` is a JSON array of
/// `{prefix, method?, status?, headers?, body?, chunks?, gapMs?, hold?, queue?}`:
/// the first route whose `prefix` starts the path (and whose `method`
/// matches, if given) answers. `queue` holds answers used one per call
/// before the route's own. `chunks` makes a streamed body, one chunk every
/// `gapMs`; `hold` keeps it open until aborted.
const FAKE: &str = r#"
window.__routes = JSON.parse(routes);
window.__calls = [];
window.__aborts = 0;
window.fetch = function (input, init) {
  const req = (input instanceof Request) ? input : new Request(input, init);
  const u = new URL(req.url);
  const path = u.pathname + u.search;
  window.__calls.push({ path: path, method: req.method, csrf: req.headers.get('X-CSRF') });
  const route = window.__routes.find(r => path.startsWith(r.prefix) && (!r.method || r.method === req.method));
  if (!route) {
    return Promise.resolve(new Response('{"error":"not_found","message":"No fake for ' + path + '"}',
      { status: 404, headers: { 'content-type': 'application/json' } }));
  }
  const spec = (route.queue && route.queue.length) ? route.queue.shift() : route;
  const headers = Object.assign({ 'content-type': 'application/json' }, spec.headers || {});
  if (spec.chunks) {
    const enc = new TextEncoder();
    let timer = null, i = 0;
    const stream = new ReadableStream({
      start(c) {
        const push = () => {
          if (i < spec.chunks.length) { c.enqueue(enc.encode(spec.chunks[i++])); timer = setTimeout(push, spec.gapMs || 5); }
          else if (!spec.hold) { c.close(); }
        };
        push();
        req.signal.addEventListener('abort', () => {
          window.__aborts++; clearTimeout(timer);
          try { c.error(new DOMException('aborted', 'AbortError')); } catch (e) {}
        });
      }
    });
    return Promise.resolve(new Response(stream, { status: spec.status || 200, headers }));
  }
  const body = typeof spec.body === 'string' ? spec.body : JSON.stringify(spec.body === undefined ? {} : spec.body);
  return Promise.resolve(new Response(body, { status: spec.status || 200, headers }));
};
"#;

fn install(routes: Value) {
    let f = js_sys::Function::new_with_args("routes", FAKE);
    f.call1(&JsValue::NULL, &JsValue::from_str(&routes.to_string()))
        .expect("install fake fetch");
}

fn window() -> web_sys::Window {
    web_sys::window().unwrap()
}

fn calls() -> Vec<Value> {
    let calls = js_sys::Reflect::get(&window(), &"__calls".into()).unwrap();
    let text = js_sys::JSON::stringify(&calls).unwrap();
    serde_json::from_str(&String::from(text)).unwrap()
}

fn aborts() -> u32 {
    js_sys::Reflect::get(&window(), &"__aborts".into())
        .unwrap()
        .as_f64()
        .unwrap_or(0.0) as u32
}

fn now() -> i64 {
    clock::now_secs()
}

fn signed_in(user: &str, expires_in: i64) -> Value {
    json!({ "prefix": "/api/ts/status", "body": {
        "authenticated": true, "user_id": user, "expires_at": now() + expires_in, "has_refresh_token": true
    }})
}

fn signed_out() -> Value {
    json!({ "prefix": "/api/ts/status", "body": {
        "authenticated": false, "user_id": null, "expires_at": null, "has_refresh_token": false
    }})
}

/// The app mounted at `path`; unmounted on drop.
struct Mounted {
    _handle: Box<dyn std::any::Any>,
    host: HtmlElement,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.host.remove();
    }
}

fn mount_at(path: &str) -> Mounted {
    window()
        .history()
        .unwrap()
        .replace_state_with_url(&JsValue::NULL, "", Some(path))
        .unwrap();
    let host: HtmlElement = window()
        .document()
        .unwrap()
        .create_element("div")
        .unwrap()
        .unchecked_into();
    window()
        .document()
        .unwrap()
        .body()
        .unwrap()
        .append_child(&host)
        .unwrap();
    let handle = leptos::mount::mount_to(host.clone(), App);
    Mounted {
        _handle: Box::new(handle),
        host,
    }
}

fn find(sel: &str) -> Option<Element> {
    window().document().unwrap().query_selector(sel).unwrap()
}

fn all(sel: &str) -> Vec<Element> {
    let list = window()
        .document()
        .unwrap()
        .query_selector_all(sel)
        .unwrap();
    (0..list.length())
        .filter_map(|i| list.item(i))
        .map(|n| n.unchecked_into())
        .collect()
}

fn tid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

fn text(el: &Element) -> String {
    el.text_content().unwrap_or_default()
}

/// Polls until `check` gives `Some`, letting Leptos and the fake run;
/// panics with `what` after five seconds.
async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..250 {
        leptos::task::tick().await;
        if let Some(v) = check() {
            return v;
        }
        clock::sleep_ms(20).await;
    }
    let body = window().document().unwrap().body().unwrap().inner_html();
    panic!(
        "timed out waiting for {what}; page: {}",
        &body[..body.len().min(3000)]
    );
}

async fn wait_el(sel: &str) -> Element {
    wait_for(sel, || find(sel)).await
}

async fn wait_text(sel: &str, want: &str) -> Element {
    wait_for(&format!("{sel} containing {want:?}"), || {
        find(sel).filter(|e| text(e).contains(want))
    })
    .await
}

fn click(el: &Element) {
    el.unchecked_ref::<HtmlElement>().click();
}

fn type_into(sel: &str, value: &str) {
    let input: HtmlInputElement = find(sel).expect(sel).unchecked_into();
    input.set_value(value);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let ev = web_sys::Event::new_with_event_init_dict("input", &init).unwrap();
    input.dispatch_event(&ev).unwrap();
}

fn account_routes() -> Vec<Value> {
    vec![
        json!({ "prefix": "/api/ts/v3/brokerage/accounts/11111111/balances", "body": { "Balances": [
            { "AccountID": "11111111", "CashBalance": "1234.5", "Equity": "25000", "BuyingPower": "50000.123",
              "TodaysProfitLoss": "-12.5", "MarketValue": "23765.5" } ] } }),
        json!({ "prefix": "/api/ts/v3/brokerage/accounts/11111111/positions", "body": { "Positions": [
            { "AccountID": "11111111", "Symbol": "MSFT", "Quantity": "10", "AveragePrice": "216.68", "Last": "220.10",
              "MarketValue": "2201", "UnrealizedProfitLoss": "34.2", "UnrealizedProfitLossPercent": "1.58",
              "TodaysProfitLoss": "-3", "LongShort": "Long" },
            { "AccountID": "11111111", "Symbol": "AAPL", "Quantity": "5", "AveragePrice": "190", "Last": "180",
              "UnrealizedProfitLoss": "-50", "LongShort": "Long" } ] } }),
        json!({ "prefix": "/api/ts/v3/brokerage/accounts/11111111/orders", "body": { "Orders": [
            { "AccountID": "11111111", "OrderID": "1", "OrderType": "Limit", "LimitPrice": "230", "Duration": "GTC",
              "Status": "ACK", "StatusDescription": "Received", "OpenedDateTime": "2024-01-02T16:34:37Z",
              "Legs": [{ "BuyOrSell": "Sell", "Symbol": "MSFT", "QuantityOrdered": "10" }] } ] } }),
    ]
}

fn accounts_list() -> Value {
    json!({ "Accounts": [{ "AccountID": "11111111", "AccountType": "Margin", "Status": "Active", "Currency": "USD" }] })
}

// ---- session --------------------------------------------------------------

#[wasm_bindgen_test]
async fn signed_out_home_offers_sign_in_that_returns_here() {
    install(json!([signed_out()]));
    let _app = mount_at("/");
    let link = wait_el(&tid("sign-in")).await;
    assert_eq!(text(&link), "Sign in with TradeStation");
    assert_eq!(
        link.get_attribute("href").as_deref(),
        Some("/api/ts/login?return_to=%2F")
    );
    assert_eq!(
        link.get_attribute("rel").as_deref(),
        Some("external"),
        "the router must not take it"
    );
    let marks = window()
        .performance()
        .unwrap()
        .get_entries_by_name("app-interactive");
    assert!(marks.length() >= 1, "the interactive mark is set");
    assert!(find(&tid("session-panel")).is_none());
}

#[wasm_bindgen_test]
async fn auth_error_from_the_callback_is_explained() {
    install(json!([signed_out()]));
    let _app = mount_at("/?auth_error=access_denied");
    wait_text(&tid("auth-error"), "Sign-in was cancelled at TradeStation.").await;
}

#[wasm_bindgen_test]
async fn signed_in_home_shows_user_countdown_and_refresh_token() {
    install(json!([signed_in("sim|alice", 1200)]));
    let _app = mount_at("/");
    wait_text(&tid("session-user"), "sim|alice").await;
    let countdown = text(&wait_el(&tid("session-countdown")).await);
    let (m, s) = countdown.split_once(':').expect("m:ss");
    assert!(
        (19..=20).contains(&m.parse::<u32>().unwrap()),
        "{countdown}"
    );
    assert_eq!(s.len(), 2);
    assert!(text(&find(&tid("session-refresh-token")).unwrap()).starts_with("held"));
    assert!(
        find(&tid("session-badge")).is_some(),
        "the header shows the session too"
    );
}

#[wasm_bindgen_test]
async fn the_countdown_ticks_and_says_when_the_token_has_expired() {
    install(json!([signed_in("bob", 2)]));
    let _app = mount_at("/");
    let first = text(&wait_el(&tid("session-countdown")).await);
    assert!(first == "0:02" || first == "0:01", "{first}");
    wait_text(
        &tid("session-countdown"),
        "expired; renewed on the next request",
    )
    .await;
}

#[wasm_bindgen_test]
async fn sign_out_confirms_revocation_everywhere_then_posts_with_csrf() {
    install(json!([
        signed_in("carol", 600),
        { "prefix": "/api/ts/logout", "method": "POST", "body": { "ok": true } },
    ]));
    let _app = mount_at("/");
    click(&wait_el(&tid("sign-out")).await);
    let confirm = wait_el(&tid("sign-out-confirm")).await;
    assert!(
        text(&confirm).contains("signs this login out everywhere"),
        "{}",
        text(&confirm)
    );
    click(&find(&tid("cancel-sign-out")).unwrap());
    click(&wait_el(&tid("sign-out")).await);
    click(&wait_el(&tid("confirm-sign-out")).await);
    wait_el(&tid("signed-out")).await;
    wait_text(&tid("signed-out-notice"), "revoked everywhere").await;
    let logout: Vec<Value> = calls()
        .into_iter()
        .filter(|c| c["path"] == "/api/ts/logout")
        .collect();
    assert_eq!(logout.len(), 1);
    assert_eq!(logout[0]["method"], "POST");
    assert_eq!(logout[0]["csrf"], "1");
}

#[wasm_bindgen_test]
async fn an_unreachable_backend_says_so_with_retry() {
    install(json!([
        { "prefix": "/api/ts/status", "status": 200, "body": { "authenticated": false, "user_id": null, "expires_at": null, "has_refresh_token": false },
          "queue": [ { "status": 502, "body": "<html>bad gateway</html>", "headers": { "content-type": "text/html" } } ] },
    ]));
    let _app = mount_at("/");
    let view = wait_el(&tid("error-view")).await;
    assert_eq!(
        view.get_attribute("data-code").as_deref(),
        Some("upstream_error")
    );
    click(&find(&tid("retry")).unwrap());
    wait_el(&tid("sign-in")).await;
}

// ---- routing ----------------------------------------------------------------

#[wasm_bindgen_test]
async fn unknown_paths_show_not_found() {
    install(json!([signed_out()]));
    let _app = mount_at("/no/such/page");
    wait_text(&tid("not-found"), "/no/such/page").await;
}

#[wasm_bindgen_test]
async fn protected_pages_prompt_for_sign_in_with_return_to() {
    install(json!([signed_out()]));
    let _app = mount_at("/accounts");
    wait_el(&tid("sign-in-prompt")).await;
    let link = find(&format!("{} {}", tid("sign-in-prompt"), tid("sign-in"))).unwrap();
    assert_eq!(
        link.get_attribute("href").as_deref(),
        Some("/api/ts/login?return_to=%2Faccounts")
    );
}

// ---- accounts -----------------------------------------------------------------

#[wasm_bindgen_test]
async fn accounts_show_balances_positions_and_orders_tab() {
    let mut routes = vec![
        signed_in("dave", 900),
        json!({ "prefix": "/api/ts/v3/brokerage/accounts", "body": accounts_list() }),
    ];
    routes.splice(1..1, account_routes());
    install(Value::Array(routes));
    let _app = mount_at("/accounts");
    let card = wait_el(&tid("account-card")).await;
    assert_eq!(
        card.get_attribute("data-account-id").as_deref(),
        Some("11111111")
    );
    assert_eq!(text(&find(&tid("balance-cash")).unwrap()), "1,234.50");
    assert_eq!(
        text(&find(&tid("balance-buying-power")).unwrap()),
        "50,000.12"
    );
    let pl = find(&tid("balance-todays-pl")).unwrap();
    assert_eq!(text(&pl), "-12.50");
    assert!(pl.get_attribute("class").unwrap().contains("neg"));

    let rows = all(&tid("position-row"));
    assert_eq!(rows.len(), 2);
    let upl: Vec<Element> = all(&tid("position-upl"));
    assert!(upl[0].get_attribute("class").unwrap().contains("pos"));
    assert!(upl[1].get_attribute("class").unwrap().contains("neg"));

    let orders_table = find(&tid("orders-table")).unwrap();
    assert!(
        orders_table.closest("[hidden]").unwrap().is_some(),
        "orders start hidden"
    );
    click(&find(&tid("orders-tab")).unwrap());
    wait_for("orders visible", || {
        find(&tid("orders-table")).filter(|t| t.closest("[hidden]").unwrap().is_none())
    })
    .await;
    assert_eq!(all(&tid("order-row")).len(), 1);
    assert!(text(&find(&tid("order-row")).unwrap()).contains("Received"));
}

#[wasm_bindgen_test]
async fn no_accounts_is_an_empty_state() {
    install(json!([
        signed_in("erin", 900),
        { "prefix": "/api/ts/v3/brokerage/accounts", "body": { "Accounts": [] } },
    ]));
    let _app = mount_at("/accounts");
    wait_el(&tid("accounts-empty")).await;
}

#[wasm_bindgen_test]
async fn session_expired_says_sign_in_again() {
    install(json!([
        signed_in("frank", 900),
        { "prefix": "/api/ts/v3/brokerage/accounts", "status": 401,
          "body": { "error": "session_expired", "message": "The refresh token was refused." } },
    ]));
    let _app = mount_at("/accounts");
    wait_text("body", "Your TradeStation session ended, sign in again.").await;
    wait_el(&tid("sign-in-prompt")).await;
    wait_text(
        &tid("signed-out-notice"),
        "Your TradeStation session ended, sign in again.",
    )
    .await;
}

#[wasm_bindgen_test]
async fn upstream_error_offers_retry_that_loads() {
    let mut routes = vec![
        signed_in("gina", 900),
        json!({ "prefix": "/api/ts/v3/brokerage/accounts", "body": accounts_list(),
                "queue": [ { "status": 504, "body": { "error": "upstream_timeout", "message": "slow" } } ] }),
    ];
    routes.splice(1..1, account_routes());
    install(Value::Array(routes));
    let _app = mount_at("/accounts");
    let error = wait_el(&tid("error-view")).await;
    assert_eq!(
        error.get_attribute("data-code").as_deref(),
        Some("upstream_timeout")
    );
    assert!(text(&error).contains("took too long"));
    click(&find(&tid("retry")).unwrap());
    wait_el(&tid("account-card")).await;
}

#[wasm_bindgen_test]
async fn rate_limited_counts_down_from_retry_after_then_retries() {
    let mut routes = vec![
        signed_in("hal", 900),
        json!({ "prefix": "/api/ts/v3/brokerage/accounts", "body": accounts_list(),
                "queue": [ { "status": 429, "headers": { "Retry-After": "2" },
                             "body": { "Error": "TooManyRequests", "Message": "Rate quota exceeded" } } ] }),
    ];
    routes.splice(1..1, account_routes());
    install(Value::Array(routes));
    let _app = mount_at("/accounts");
    let limited = wait_el(&tid("rate-limited")).await;
    assert_eq!(
        text(&limited),
        "Rate limited by TradeStation, retrying in 2 s."
    );
    wait_text(&tid("rate-countdown"), "1").await;
    wait_el(&tid("account-card")).await;
    let account_calls = calls()
        .into_iter()
        .filter(|c| c["path"] == "/api/ts/v3/brokerage/accounts")
        .count();
    assert_eq!(account_calls, 2);
}

// ---- quotes -----------------------------------------------------------------

const MSFT_FULL: &str = r#"{"Symbol":"MSFT","Last":"100.00","Bid":"99.99","Ask":"100.01","NetChange":"1.5","NetChangePct":"1.52","Volume":"1000","TradeTime":"2024-01-02T15:00:00Z"}"#;
const AAPL_FULL: &str = r#"{"Symbol":"AAPL","Last":"190.00","NetChange":"-2","Volume":"50"}"#;

#[wasm_bindgen_test]
async fn quotes_stream_into_rows_and_flash_on_each_tick() {
    let body = format!(
        "{MSFT_FULL}\n{AAPL_FULL}\n{{\"Heartbeat\":1,\"Timestamp\":\"2024-01-02T15:00:05Z\"}}\n"
    );
    // Split mid-object, then two ticks: up, then down.
    let (a, b) = body.split_at(30);
    install(json!([
        signed_in("ivy", 900),
        { "prefix": "/api/ts/v3/marketdata/stream/quotes/", "hold": true, "gapMs": 60,
          "chunks": [a, b, "{\"Symbol\":\"MSFT\",\"Last\":\"100.", "25\"}\n", "{\"Symbol\":\"MSFT\",\"Last\":\"99.75\"}\n"] },
    ]));
    let _app = mount_at("/quotes?symbols=MSFT,AAPL");
    let msft = "[data-testid=\"quote-row\"][data-symbol=\"MSFT\"]";
    wait_for("two ticks", || {
        find(msft).filter(|r| r.get_attribute("data-ticks").as_deref() == Some("2"))
    })
    .await;
    let last = find(&format!("{msft} {}", tid("quote-last"))).unwrap();
    assert_eq!(text(&last), "99.75");
    assert!(
        last.get_attribute("class").unwrap().contains("flash-down"),
        "{:?}",
        last.get_attribute("class")
    );
    assert_eq!(
        text(&find(&format!("{msft} {}", tid("quote-tick"))).unwrap()),
        "-0.50"
    );
    let aapl_change = find(&format!("[data-symbol=\"AAPL\"] {}", tid("quote-change"))).unwrap();
    assert_eq!(text(&aapl_change), "-2.00");
    assert!(aapl_change.get_attribute("class").unwrap().contains("neg"));
    wait_text(&tid("stream-status"), "Live").await;
    let streams: Vec<Value> = calls()
        .into_iter()
        .filter(|c| c["path"].as_str().unwrap().contains("/stream/quotes/"))
        .collect();
    assert_eq!(
        streams[0]["path"],
        "/api/ts/v3/marketdata/stream/quotes/MSFT,AAPL"
    );
}

#[wasm_bindgen_test]
async fn adding_a_symbol_updates_url_storage_and_restarts_the_stream() {
    window()
        .local_storage()
        .unwrap()
        .unwrap()
        .remove_item("ts.watchlist")
        .unwrap();
    install(json!([
        signed_in("jan", 900),
        { "prefix": "/api/ts/v3/marketdata/stream/quotes/", "hold": true, "chunks": [format!("{MSFT_FULL}\n")] },
    ]));
    let app = mount_at("/quotes?symbols=MSFT");
    wait_el("[data-testid=\"quote-row\"][data-symbol=\"MSFT\"]").await;
    let before = aborts();
    type_into(&tid("symbol-input"), "nvda, msft");
    click(&find(&tid("add-symbol")).unwrap());
    wait_el("[data-testid=\"quote-row\"][data-symbol=\"NVDA\"]").await;
    wait_for("URL updated", || {
        (window().location().search().unwrap() == "?symbols=MSFT,NVDA").then_some(())
    })
    .await;
    let stored = window()
        .local_storage()
        .unwrap()
        .unwrap()
        .get_item("ts.watchlist")
        .unwrap();
    assert_eq!(stored.as_deref(), Some("MSFT,NVDA"));
    wait_for("new stream", || {
        calls()
            .iter()
            .any(|c| c["path"] == "/api/ts/v3/marketdata/stream/quotes/MSFT,NVDA")
            .then_some(())
    })
    .await;
    assert!(aborts() > before, "the old stream was aborted");

    // Removing a symbol, then leaving the page, aborts what was open.
    click(&find(&format!("[data-symbol=\"NVDA\"] {}", tid("remove-symbol"))).unwrap());
    wait_for("row gone", || {
        find("[data-symbol=\"NVDA\"]").is_none().then_some(())
    })
    .await;
    let open = aborts();
    drop(app);
    wait_for("unmount aborts", || (aborts() > open).then_some(())).await;
}

#[wasm_bindgen_test]
async fn invalid_symbols_are_refused_with_a_reason() {
    install(json!([
        signed_in("kim", 900),
        { "prefix": "/api/ts/v3/marketdata/stream/quotes/", "hold": true, "chunks": [] },
    ]));
    let _app = mount_at("/quotes?symbols=MSFT");
    wait_el(&tid("quotes-table")).await;
    type_into(&tid("symbol-input"), "<b>");
    click(&find(&tid("add-symbol")).unwrap());
    wait_text(&tid("watchlist-errors"), "is not a symbol").await;
}

#[wasm_bindgen_test]
async fn a_broken_stream_says_it_reconnects_and_does() {
    install(json!([
        signed_in("lee", 900),
        { "prefix": "/api/ts/v3/marketdata/stream/quotes/", "hold": true, "chunks": [format!("{MSFT_FULL}\n")],
          "queue": [ { "chunks": [format!("{MSFT_FULL}\n")] } ] },
    ]));
    let _app = mount_at("/quotes?symbols=MSFT");
    let status = wait_text(&tid("stream-status"), "reconnecting in 1 s").await;
    assert_eq!(
        status.get_attribute("data-state").as_deref(),
        Some("reconnecting")
    );
    assert!(text(&status).contains("the stream ended"));
    wait_text(&tid("stream-status"), "Live").await;
    let n = calls()
        .iter()
        .filter(|c| c["path"].as_str().unwrap().contains("/stream/quotes/"))
        .count();
    assert_eq!(n, 2);
}

#[wasm_bindgen_test]
async fn a_stream_refused_as_session_expired_signs_out() {
    install(json!([
        signed_in("max", 900),
        { "prefix": "/api/ts/v3/marketdata/stream/quotes/", "status": 401,
          "body": { "error": "session_expired", "message": "gone" } },
    ]));
    let _app = mount_at("/quotes?symbols=MSFT");
    wait_el(&tid("sign-in-prompt")).await;
    wait_text(
        &tid("signed-out-notice"),
        "Your TradeStation session ended, sign in again.",
    )
    .await;
}

// ---- options ----------------------------------------------------------------

fn spread(side: &str, strike: &str, bid: &str) -> String {
    let letter = &side[..1];
    format!(
        r#"{{"Side":"{side}","Bid":"{bid}","Ask":"9.99","Last":"1.00","Volume":12,"DailyOpenInterest":345,"ImpliedVolatility":"0.25","Delta":"0.5","Strikes":["{strike}"],"Legs":[{{"Symbol":"MSFT 240119{letter}{strike}","OptionType":"{side}","StrikePrice":"{strike}"}}]}}"#
    )
}

#[wasm_bindgen_test]
async fn options_list_expirations_and_stream_the_chain() {
    let chain = [
        spread("Call", "410", "5.10"),
        spread("Put", "400", "2.20"),
        spread("Call", "400", "9.30"),
        spread("Put", "410", "6.40"),
    ]
    .join("\n")
        + "\n";
    let (a, b) = chain.split_at(100);
    install(json!([
        signed_in("ned", 900),
        { "prefix": "/api/ts/v3/marketdata/options/expirations/MSFT", "body": { "Expirations": [
            { "Date": "2024-01-19T00:00:00Z", "Type": "Monthly" }, { "Date": "2024-01-26T00:00:00Z", "Type": "Weekly" } ] } },
        { "prefix": "/api/ts/v3/marketdata/stream/options/chains/MSFT?expiration=2024-01-19", "hold": true, "chunks": [a, b] },
        { "prefix": "/api/ts/v3/marketdata/stream/options/chains/MSFT?expiration=2024-01-26", "hold": true,
          "chunks": [format!("{}\n", spread("Call", "420", "1.11"))] },
    ]));
    let _app = mount_at("/options?underlying=MSFT");
    let select: HtmlSelectElement = wait_el(&tid("expiration-select")).await.unchecked_into();
    assert_eq!(select.length(), 2);
    wait_for("both strikes", || {
        (all(&tid("chain-row")).len() == 2).then_some(())
    })
    .await;
    let rows = all(&tid("chain-row"));
    assert_eq!(rows[0].get_attribute("data-strike").as_deref(), Some("400"));
    assert_eq!(
        text(&rows[0].query_selector(&tid("call-bid")).unwrap().unwrap()),
        "9.30"
    );
    assert_eq!(
        text(&rows[0].query_selector(&tid("put-bid")).unwrap().unwrap()),
        "2.20"
    );
    assert_eq!(
        text(&rows[1].query_selector(&tid("put-bid")).unwrap().unwrap()),
        "6.40"
    );
    wait_for("URL", || {
        window()
            .location()
            .search()
            .unwrap()
            .contains("expiration=2024-01-19")
            .then_some(())
    })
    .await;

    select.set_value("2024-01-26");
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    select
        .dispatch_event(&web_sys::Event::new_with_event_init_dict("change", &init).unwrap())
        .unwrap();
    wait_for("new chain", || {
        let rows = all(&tid("chain-row"));
        (rows.len() == 1 && rows[0].get_attribute("data-strike").as_deref() == Some("420"))
            .then_some(())
    })
    .await;
}

// ---- chart --------------------------------------------------------------------

#[wasm_bindgen_test]
async fn chart_draws_a_candle_per_bar() {
    let bars: Vec<Value> = (1..=10)
        .map(|d| {
            let c = 100.0 + d as f64;
            json!({ "Open": format!("{}", c - 0.5), "High": format!("{}", c + 1.0), "Low": format!("{}", c - 1.0),
                    "Close": format!("{c}"), "TimeStamp": format!("2024-01-{d:02}T21:00:00Z") })
        })
        .collect();
    install(json!([
        signed_in("olga", 900),
        { "prefix": "/api/ts/v3/marketdata/barcharts/AAPL", "body": { "Bars": bars } },
    ]));
    let _app = mount_at("/chart/AAPL");
    wait_el(&tid("chart-svg")).await;
    assert_eq!(all(&tid("candle")).len(), 10);
    assert_eq!(text(&find(&tid("chart-symbol")).unwrap()), "AAPL");
    assert!(text(&find(&tid("chart-change")).unwrap()).starts_with('+'));
    let req = calls()
        .into_iter()
        .find(|c| c["path"].as_str().unwrap().contains("/barcharts/"))
        .unwrap();
    assert_eq!(
        req["path"],
        "/api/ts/v3/marketdata/barcharts/AAPL?interval=1&unit=Daily&barsback=126"
    );
}

#[wasm_bindgen_test]
async fn chart_without_bars_is_an_empty_state() {
    install(json!([
        signed_in("pia", 900),
        { "prefix": "/api/ts/v3/marketdata/barcharts/ZZZ", "body": { "Bars": [] } },
    ]));
    let _app = mount_at("/chart/ZZZ?range=1D");
    wait_text(&tid("chart-empty"), "No price history for ZZZ").await;
}

// ---- a real ReadableStream ----------------------------------------------

const HEARTBEAT: &str = r#"{"Heartbeat":1,"Timestamp":"2021-03-02T18:01:23Z"}"#;
const QUOTE: &str =
    r#"{"Symbol":"MSFT","Last":"212.85","Bid":"212.85","Ask":"212.87","Volume":"5852511"}"#;

fn stream_of(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// A `ReadableStream` that yields `chunks` (as UTF-8 bytes) and closes.
fn readable(chunks: &[&str]) -> web_sys::ReadableStreamDefaultReader {
    let make = js_sys::Function::new_with_args(
        "chunks",
        "const enc = new TextEncoder(); let i = 0;
         return new ReadableStream({ pull(c) {
             if (i < chunks.length) { c.enqueue(enc.encode(chunks[i++])); } else { c.close(); }
         }}).getReader();",
    );
    let array = js_sys::Array::new();
    for c in chunks {
        array.push(&JsValue::from_str(c));
    }
    make.call1(&JsValue::NULL, &array).unwrap().unchecked_into()
}

#[wasm_bindgen_test]
async fn reads_a_browser_stream_with_objects_split_across_chunks() {
    let body = stream_of(&[QUOTE, HEARTBEAT, r#"{"Symbol":"MSFT","Last":"212.90"}"#]);
    let (a, rest) = body.split_at(17);
    let (b, c) = rest.split_at(60);
    let reader = readable(&[a, b, c]);
    let (got, why) = read_lines::<QuoteStreamMessage>(&reader).await;
    assert_eq!(got.len(), 2, "heartbeats are not delivered");
    assert!(matches!(&got[1], QuoteStreamMessage::Quote(q) if q.last.as_deref() == Some("212.90")));
    assert_eq!(why, "lost: the stream ended");
}

#[wasm_bindgen_test]
async fn a_go_away_line_ends_the_read_and_asks_for_a_reconnect() {
    let body = stream_of(&[QUOTE, r#"{"Error":"GoAway","Message":"bye"}"#, QUOTE]);
    let reader = readable(&[&body]);
    let (got, why) = read_lines::<QuoteStreamMessage>(&reader).await;
    assert_eq!(got.len(), 1, "nothing after GoAway is delivered");
    assert_eq!(why, "server: bye");
}

#[wasm_bindgen_test]
async fn a_last_line_without_newline_is_delivered_at_the_end() {
    let reader = readable(&[&format!("{QUOTE}\n"), r#"{"Symbol":"MSFT","Bid":"1"}"#]);
    let (got, _) = read_lines::<QuoteStreamMessage>(&reader).await;
    assert_eq!(got.len(), 2);
}

// ---- Retry-After dates ---------------------------------------------------

#[wasm_bindgen_test]
fn retry_after_seconds_dates_and_garbage() {
    let now = 1_700_000_000_000.0;
    assert_eq!(api::parse_retry_after(Some("7"), now), 7);
    assert_eq!(api::parse_retry_after(Some(" 0 "), now), 1);
    assert_eq!(
        api::parse_retry_after(None, now),
        api::DEFAULT_RETRY_AFTER_SECS
    );
    assert_eq!(
        api::parse_retry_after(Some("soon"), now),
        api::DEFAULT_RETRY_AFTER_SECS
    );
    assert_eq!(
        api::parse_retry_after(Some("999999"), now),
        api::MAX_RETRY_AFTER_SECS
    );
    let in_12s = js_sys::Date::new(&JsValue::from_f64(now + 12_000.0)).to_utc_string();
    assert_eq!(api::parse_retry_after(Some(&String::from(in_12s)), now), 12);
}
