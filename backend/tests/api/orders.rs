//! The order routes over HTTP, in TradeStation mode: the browser signs in
//! on the simulator, while order calls go to a scripted upstream that counts
//! every call. Bad requests are refused in the contract's order with nothing
//! forwarded; placements go out at most once per `OrderConfirmID`; a
//! timeout is not retried; a 401 is refreshed and retried once.

use crate::helpers::{TestApp, captured_logs, error_code};
use crate::upstream::FaultyUpstream;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// What the scripted upstream answers next.
#[derive(Clone)]
enum Reply {
    Json(u16, &'static str),
    /// Never answers (the app times out).
    Stall,
    /// Answers once the gate lets it.
    Gated(Arc<Semaphore>, u16, &'static str),
}

#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: String,
    body: String,
    authorization: String,
}

const PLACED: &str =
    r#"{"Orders":[{"OrderID":"286234131","Message":"Sent order: Buy 10 MSFT @ Market"}]}"#;

/// A TradeStation API that answers from a script (default: a placed order)
/// and records every call.
#[derive(Clone)]
struct OrderUpstream {
    origin: String,
    calls: Arc<Mutex<Vec<Call>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl OrderUpstream {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let this = Self {
            origin,
            calls: Arc::default(),
            script: Arc::default(),
        };
        let shared = this.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                async move { shared.answer(method, uri, headers, body).await }
            },
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        this
    }

    async fn answer(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        self.calls.lock().unwrap().push(Call {
            method: method.to_string(),
            path: uri.to_string(),
            body: String::from_utf8_lossy(&body).into_owned(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        });
        let reply = self.script.lock().unwrap().pop_front();
        let (status, body) = match reply {
            None => (200, PLACED),
            Some(Reply::Json(status, body)) => (status, body),
            Some(Reply::Stall) => std::future::pending().await,
            Some(Reply::Gated(gate, status, body)) => {
                let _permit = gate.acquire().await.unwrap();
                (status, body)
            }
        };
        axum::response::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("set-cookie", "upstream=1")
            .body(axum::body::Body::from(body))
            .unwrap()
    }

    fn then(&self, reply: Reply) {
        self.script.lock().unwrap().push_back(reply);
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

struct Trading {
    app: TestApp,
    api: OrderUpstream,
    _auth: FaultyUpstream,
}

/// A signed-in app whose API base is the scripted upstream.
async fn trading(extra: &[(&str, &str)]) -> Trading {
    let auth = FaultyUpstream::start().await;
    let api = OrderUpstream::start().await;
    let mut vars = vec![("TS_BASE_URL", api.origin.as_str())];
    vars.extend_from_slice(extra);
    if !extra.iter().any(|(k, _)| *k == "TS_TRADING") {
        vars.push(("TS_TRADING", "on"));
    }
    let app = auth.app(&vars).await;
    assert_eq!(app.sign_in().await.status(), 303);
    Trading {
        app,
        api,
        _auth: auth,
    }
}

fn market(confirm_id: &str) -> Value {
    json!({
        "AccountID": "SIM123456M",
        "Symbol": "MSFT",
        "Quantity": "10",
        "OrderType": "Market",
        "TradeAction": "BUY",
        "TimeInForce": {"Duration": "DAY"},
        "Route": "Intelligent",
        "OrderConfirmID": confirm_id
    })
}

const ORDERS: &str = "/api/ts/v3/orderexecution/orders";

impl TestApp {
    async fn order(&self, method: Method, path: &str, body: Option<&Value>) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("X-CSRF", "1");
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    async fn place(&self, body: &Value) -> reqwest::Response {
        self.order(Method::POST, ORDERS, Some(body)).await
    }
}

async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status(), status, "{code}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    body["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn requests_failing_a_check_get_the_contracts_error_in_order_and_are_not_forwarded() {
    let t = trading(&[]).await;
    let app = &t.app;
    let client = &app.client;
    let order = market("c-checks");

    // Method first; a GET is a passthrough path that is not forwarded.
    let get = app.get(ORDERS).await;
    assert_eq!(error_code_of(get, 400).await, "invalid_path");
    let get = app.get(&format!("{ORDERS}/123")).await;
    assert_eq!(error_code_of(get, 400).await, "invalid_path");
    let delete = client
        .delete(app.url(ORDERS))
        .header("X-CSRF", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code_of(delete, 405).await, "method_not_allowed");
    let patch = client
        .patch(app.url(ORDERS))
        .header("X-CSRF", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code_of(patch, 405).await, "method_not_allowed");
    let other = app
        .order(
            Method::POST,
            "/api/ts/v3/orderexecution/anything",
            Some(&order),
        )
        .await;
    assert_eq!(error_code_of(other, 405).await, "method_not_allowed");

    // Then X-CSRF (before the path and the body).
    for (method, path) in [
        (Method::POST, ORDERS),
        (Method::POST, "/api/ts/v3/orderexecution/orderconfirm"),
        (Method::PUT, "/api/ts/v3/orderexecution/orders/bad-id"),
        (Method::DELETE, "/api/ts/v3/orderexecution/orders/123"),
    ] {
        let no_csrf = client
            .request(method.clone(), app.url(path))
            .json(&order)
            .send()
            .await
            .unwrap();
        expect_error(no_csrf, 403, "csrf_required").await;
        let wrong = client
            .request(method, app.url(path))
            .header("X-CSRF", "yes")
            .json(&order)
            .send()
            .await
            .unwrap();
        expect_error(wrong, 403, "csrf_required").await;
    }

    // Then the order id in the path.
    for id in ["bad-id", "a%41", &"1".repeat(33), "x_y"] {
        let path = format!("{ORDERS}/{id}");
        expect_error(
            app.order(Method::DELETE, &path, None).await,
            400,
            "invalid_path",
        )
        .await;
        expect_error(
            app.order(Method::PUT, &path, Some(&json!({"Quantity": "1"})))
                .await,
            400,
            "invalid_path",
        )
        .await;
    }

    // Then the session (another browser has none), before the body.
    let stranger = TestApp::spawn_second_browser(app);
    let anonymous = stranger
        .client
        .post(stranger.url(ORDERS))
        .header("X-CSRF", "1")
        .body("not json")
        .send()
        .await
        .unwrap();
    expect_error(anonymous, 401, "not_authenticated").await;

    // Then the body: media type, size, JSON.
    let text = client
        .post(app.url(ORDERS))
        .header("X-CSRF", "1")
        .header("content-type", "text/plain")
        .body(order.to_string())
        .send()
        .await
        .unwrap();
    expect_error(text, 415, "unsupported_media_type").await;
    let bare = client
        .post(app.url(ORDERS))
        .header("X-CSRF", "1")
        .body(order.to_string())
        .send()
        .await
        .unwrap();
    expect_error(bare, 415, "unsupported_media_type").await;
    let mut big = market("c-big");
    big["Padding"] = json!("x".repeat(70 * 1024));
    expect_error(app.place(&big).await, 413, "payload_too_large").await;
    let garbage = client
        .post(app.url(ORDERS))
        .header("X-CSRF", "1")
        .header("content-type", "application/json")
        .body("{\"AccountID\":")
        .send()
        .await
        .unwrap();
    expect_error(garbage, 400, "invalid_order").await;

    assert!(
        t.api.calls().is_empty(),
        "nothing was forwarded: {:?}",
        t.api.calls()
    );
}

async fn error_code_of(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    error_code(response).await
}

fn with(mut v: Value, field: &str, value: Value) -> Value {
    v[field] = value;
    v
}

fn without(mut v: Value, field: &str) -> Value {
    v.as_object_mut().unwrap().remove(field);
    v
}

#[tokio::test]
async fn every_invalid_order_is_refused_naming_its_field_and_not_forwarded() {
    let t = trading(&[]).await;
    let app = &t.app;
    let base = market("c-invalid");
    let cases: Vec<(&str, Value, &str)> = vec![
        (ORDERS, without(base.clone(), "AccountID"), "AccountID"),
        (
            ORDERS,
            with(base.clone(), "AccountID", json!("")),
            "AccountID",
        ),
        (ORDERS, without(base.clone(), "Symbol"), "Symbol"),
        (
            ORDERS,
            with(base.clone(), "Quantity", json!(10)),
            "Quantity",
        ),
        (
            ORDERS,
            with(base.clone(), "Quantity", json!("0")),
            "Quantity",
        ),
        (
            ORDERS,
            with(base.clone(), "Quantity", json!("-5")),
            "Quantity",
        ),
        (
            ORDERS,
            with(base.clone(), "OrderType", json!("Trailing")),
            "OrderType",
        ),
        (
            ORDERS,
            with(base.clone(), "TradeAction", json!("HOLD")),
            "TradeAction",
        ),
        (
            ORDERS,
            with(base.clone(), "TimeInForce", json!({"Duration": "WEEK"})),
            "TimeInForce.Duration",
        ),
        (ORDERS, without(base.clone(), "TimeInForce"), "TimeInForce"),
        (
            ORDERS,
            with(base.clone(), "OrderType", json!("Limit")),
            "LimitPrice",
        ),
        (
            ORDERS,
            with(base.clone(), "OrderType", json!("StopMarket")),
            "StopPrice",
        ),
        (
            ORDERS,
            with(
                with(base.clone(), "OrderType", json!("StopLimit")),
                "StopPrice",
                json!("1"),
            ),
            "LimitPrice",
        ),
        (
            ORDERS,
            with(
                with(base.clone(), "OrderType", json!("Limit")),
                "LimitPrice",
                json!("0"),
            ),
            "LimitPrice",
        ),
        (
            ORDERS,
            without(base.clone(), "OrderConfirmID"),
            "OrderConfirmID",
        ),
        (
            ORDERS,
            with(base.clone(), "OrderConfirmID", json!("has space")),
            "OrderConfirmID",
        ),
        (
            ORDERS,
            with(base.clone(), "OrderConfirmID", json!("x".repeat(65))),
            "OrderConfirmID",
        ),
        (ORDERS, json!([base.clone()]), "body"),
        (
            "/api/ts/v3/orderexecution/orderconfirm",
            with(base.clone(), "Quantity", json!("ten")),
            "Quantity",
        ),
        (
            "/api/ts/v3/orderexecution/ordergroups",
            json!({"Type": "OCO", "Orders": [base.clone(), without(market("c-2"), "OrderConfirmID")]}),
            "Orders[1].OrderConfirmID",
        ),
        (
            "/api/ts/v3/orderexecution/ordergroups",
            json!({"Type": "XYZ", "Orders": [base.clone()]}),
            "Type",
        ),
        (
            "/api/ts/v3/orderexecution/ordergroupconfirm",
            json!({"Type": "BRK", "Orders": [with(market("c-3"), "Symbol", json!(5))]}),
            "Orders[0].Symbol",
        ),
        (
            "/api/ts/v3/orderexecution/ordergroupconfirm",
            json!({"Type": "BRK", "Orders": []}),
            "Orders",
        ),
    ];
    for (path, body, field) in cases {
        let message = expect_error(
            app.order(Method::POST, path, Some(&body)).await,
            400,
            "invalid_order",
        )
        .await;
        assert!(message.contains(field), "{path} {field}: {message}");
    }
    let replace = format!("{ORDERS}/123");
    for (body, field) in [
        (json!({}), "Quantity"),
        (json!({"LimitPrice": "-1"}), "LimitPrice"),
        (json!({"OrderType": "Bogus"}), "OrderType"),
    ] {
        let message = expect_error(
            app.order(Method::PUT, &replace, Some(&body)).await,
            400,
            "invalid_order",
        )
        .await;
        assert!(message.contains(field), "{field}: {message}");
    }
    assert!(
        t.api.calls().is_empty(),
        "nothing was forwarded: {:?}",
        t.api.calls()
    );
}

#[tokio::test]
async fn with_trading_off_or_auto_against_a_live_url_orders_are_refused() {
    for switch in ["off", "auto"] {
        let t = trading(&[("TS_TRADING", switch)]).await;
        let status = t.app.status().await;
        assert_eq!(status.environment, shared::api::Environment::Live);
        assert!(!status.trading, "{switch}");
        expect_error(t.app.place(&market("c-off")).await, 403, "trading_disabled").await;
        expect_error(
            t.app
                .order(Method::DELETE, &format!("{ORDERS}/123"), None)
                .await,
            403,
            "trading_disabled",
        )
        .await;
        expect_error(
            t.app.get("/api/ts/v3/orderexecution/routes").await,
            403,
            "trading_disabled",
        )
        .await;
        // The path is checked before the switch, the switch before the session.
        expect_error(
            t.app
                .order(Method::DELETE, &format!("{ORDERS}/a-b"), None)
                .await,
            400,
            "invalid_path",
        )
        .await;
        let stranger = TestApp::spawn_second_browser(&t.app);
        let anonymous = stranger
            .client
            .post(stranger.url(ORDERS))
            .header("X-CSRF", "1")
            .json(&market("c"))
            .send()
            .await
            .unwrap();
        expect_error(anonymous, 403, "trading_disabled").await;
        assert!(t.api.calls().is_empty(), "{switch}: nothing forwarded");
    }
}

#[tokio::test]
async fn in_simulation_mode_status_reports_the_simulator_with_trading_on() {
    let app = TestApp::spawn().await;
    let status = app.status().await;
    assert_eq!(status.environment, shared::api::Environment::Simulator);
    assert!(status.trading);
}

#[tokio::test]
async fn a_placement_that_times_out_answers_504_is_not_retried_and_the_same_id_goes_out_again() {
    let t = trading(&[]).await;
    t.api.then(Reply::Stall);
    let order = market("c-timeout");
    let message = expect_error(t.app.place(&order).await, 504, "upstream_timeout").await;
    assert!(message.contains("unknown"), "{message}");
    assert_eq!(t.api.calls().len(), 1, "a timed-out order is not resent");

    let again = t.app.place(&order).await;
    assert_eq!(again.status(), 200);
    assert!(again.headers().get("idempotent-replayed").is_none());
    assert_eq!(again.text().await.unwrap(), PLACED);
    assert_eq!(
        t.api.calls().len(),
        2,
        "the next request with the id is forwarded"
    );

    // A server error is an unknown outcome too.
    t.api
        .then(Reply::Json(500, r#"{"Error":"InternalServerError"}"#));
    let message = expect_error(t.app.place(&market("c-500")).await, 502, "upstream_error").await;
    assert!(message.contains("unknown"), "{message}");
    assert_eq!(t.api.place_count(), 3);
}

impl OrderUpstream {
    fn place_count(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.path == "/v3/orderexecution/orders")
            .count()
    }
}

#[tokio::test]
async fn an_upstream_401_is_refreshed_and_the_same_body_sent_once_more() {
    let t = trading(&[]).await;
    // Old enough for a forced refresh.
    t.app.clock.advance(31);
    t.api.then(Reply::Json(
        401,
        r#"{"Error":"Unauthorized","Message":"expired"}"#,
    ));
    let order = market("c-401");
    let response = t.app.place(&order).await;
    assert_eq!(response.status(), 200);
    let calls = t.api.calls();
    assert_eq!(calls.len(), 2, "one retry");
    assert_eq!(calls[0].body, calls[1].body, "the same body again");
    assert_ne!(
        calls[0].authorization, calls[1].authorization,
        "with a refreshed token"
    );

    // A second 401 in a row is answered as it is.
    t.app.clock.advance(31);
    t.api.then(Reply::Json(
        401,
        r#"{"Error":"Unauthorized","Message":"no"}"#,
    ));
    t.api.then(Reply::Json(
        401,
        r#"{"Error":"Unauthorized","Message":"still no"}"#,
    ));
    let response = t.app.place(&market("c-401-twice")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"Error":"Unauthorized","Message":"still no"}"#
    );
    assert_eq!(t.api.calls().len(), 4);
}

#[tokio::test]
async fn a_repeated_confirm_id_is_answered_from_the_first_with_idempotent_replayed() {
    let t = trading(&[]).await;
    let order = market("c-replay");
    let first = t.app.place(&order).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    assert!(
        first
            .headers()
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap().contains("upstream"))
    );
    let first_body = first.text().await.unwrap();

    let second = t.app.place(&order).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.headers()["content-type"], "application/json");
    assert_eq!(second.text().await.unwrap(), first_body);
    assert_eq!(t.api.place_count(), 1);

    // A definite refusal (4xx) is replayed as well.
    t.api.then(Reply::Json(
        400,
        r#"{"Error":"BadRequest","Message":"Order failed."}"#,
    ));
    let refused = market("c-refused");
    assert_eq!(t.app.place(&refused).await.status(), 400);
    let again = t.app.place(&refused).await;
    assert_eq!(again.status(), 400);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.text().await.unwrap(),
        r#"{"Error":"BadRequest","Message":"Order failed."}"#
    );
    assert_eq!(t.api.place_count(), 2);

    // Concurrent duplicates wait for the one call.
    let gate = Arc::new(Semaphore::new(0));
    t.api.then(Reply::Gated(gate.clone(), 200, PLACED));
    let order = market("c-concurrent");
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let client = t.app.client.clone();
            let url = t.app.url(ORDERS);
            let order = order.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("X-CSRF", "1")
                    .json(&order)
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while t.api.place_count() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the placement did not arrive"
        );
        tokio::task::yield_now().await;
    }
    // Callers still arriving after the answer get it from the ledger:
    // replayed either way.
    gate.add_permits(1);
    let mut replayed = 0;
    for caller in callers {
        let response = caller.await.unwrap();
        assert_eq!(response.status(), 200);
        replayed += usize::from(response.headers().contains_key("idempotent-replayed"));
        assert_eq!(response.text().await.unwrap(), PLACED);
    }
    assert_eq!(
        t.api.place_count(),
        3,
        "20 concurrent duplicates, one upstream placement"
    );
    assert_eq!(replayed, 19);

    // A second browser of the same user gets the replay too.
    let other = TestApp::spawn_second_browser(&t.app);
    assert_eq!(other.sign_in().await.status(), 303);
    let from_other = other
        .client
        .post(other.url(ORDERS))
        .header("X-CSRF", "1")
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(from_other.headers()["idempotent-replayed"], "true");
    assert_eq!(t.api.place_count(), 3);
}

#[tokio::test]
async fn every_order_route_forwards_the_body_as_sent_and_relays_the_answer_as_it_is() {
    let t = trading(&[]).await;
    let app = &t.app;
    let mut order = market("c-routes");
    order["Novel"] = json!({"kept": [1, "two"]});
    let group =
        json!({"Type": "OCO", "Orders": [market("g-2"), market("g-1")], "GroupExtra": true});
    let partial = r#"{"Orders":[],"Errors":[{"OrderID":"0","Error":"FAILED","Message":"Order failed. Reason: x"}]}"#;
    t.api.then(Reply::Json(200, partial));
    let replace = json!({"Quantity": "5", "Other": 1});
    let cases: Vec<(Method, &str, Option<&Value>, &str)> = vec![
        (
            Method::POST,
            ORDERS,
            Some(&order),
            "/v3/orderexecution/orders",
        ),
        (
            Method::POST,
            "/api/ts/v3/orderexecution/orderconfirm",
            Some(&order),
            "/v3/orderexecution/orderconfirm",
        ),
        (
            Method::POST,
            "/api/ts/v3/orderexecution/ordergroupconfirm",
            Some(&group),
            "/v3/orderexecution/ordergroupconfirm",
        ),
        (
            Method::POST,
            "/api/ts/v3/orderexecution/ordergroups",
            Some(&group),
            "/v3/orderexecution/ordergroups",
        ),
        (
            Method::PUT,
            "/api/ts/v3/orderexecution/orders/286234131",
            Some(&replace),
            "/v3/orderexecution/orders/286234131",
        ),
        (
            Method::DELETE,
            "/api/ts/v3/orderexecution/orders/286234131",
            None,
            "/v3/orderexecution/orders/286234131",
        ),
    ];
    for (i, (method, path, body, upstream_path)) in cases.iter().enumerate() {
        let response = app.order(method.clone(), path, *body).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let text = response.text().await.unwrap();
        if i == 0 {
            assert_eq!(text, partial, "an Errors[] inside a 200 passes through");
        }
        let call = t.api.calls().last().cloned().unwrap();
        assert_eq!(
            (call.method.as_str(), call.path.as_str()),
            (method.as_str(), *upstream_path)
        );
        match body {
            Some(body) => assert_eq!(
                serde_json::from_str::<Value>(&call.body).unwrap(),
                **body,
                "{path}"
            ),
            None => assert!(call.body.is_empty()),
        }
        assert!(call.authorization.starts_with("Bearer "));
    }
    for (path, upstream_path) in [
        (
            "/api/ts/v3/orderexecution/routes",
            "/v3/orderexecution/routes",
        ),
        (
            "/api/ts/v3/orderexecution/activationtriggers",
            "/v3/orderexecution/activationtriggers",
        ),
        (
            "/api/ts/v2/data/symbols/suggest/MSF?$top=5",
            "/v2/data/symbols/suggest/MSF?$top=5",
        ),
        (
            "/api/ts/v2/data/symbols/search/N=MS%26C=Stock",
            "/v2/data/symbols/search/N=MS%26C=Stock",
        ),
    ] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
        let call = t.api.calls().last().cloned().unwrap();
        assert_eq!(
            (call.method.as_str(), call.path.as_str()),
            ("GET", upstream_path)
        );
    }
    expect_error(
        app.get("/api/ts/v2/data/symbols/suggest/a%2Fb").await,
        400,
        "invalid_path",
    )
    .await;

    // One audit line per order request, and the metric.
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains("\"order\"") && l.contains("c-routes") && l.contains("\"place\""))
        .expect("an order line for the placement");
    for fact in [
        "SIM123456M",
        "MSFT",
        "\"10\"",
        "Market",
        "\"upstream_status\":\"200\"",
        "latency_ms",
    ] {
        assert!(line.contains(fact), "{fact} in {line}");
    }
    assert!(!logs.contains("Bearer "), "no token in the logs");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"ts_orders_total{action="place",result="200"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"ts_orders_total{action="cancel",result="200"}"#));
}
