//! The gate in front of every `/v3/…` route — bearer token, forced expiry,
//! rate limit, counters — and the REST market-data endpoints (quotes, bars,
//! symbols, option expirations and strikes).
//!
//! Refusals speak TradeStation's `{"Error","Message"}` body. Streams live in
//! [`super::stream`], brokerage in [`super::brokerage`].

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shared::ts::bars::BarsResponse;
use shared::ts::options::{Expiration, ExpirationsResponse, StrikesResponse};
use shared::ts::quotes::{QuotesResponse, SymbolError};
use shared::ts::symbols::SymbolsResponse;

use super::calendar::{self, DAY_MS};
use super::market::{AssetClass, BarUnit, Instrument, MAX_BARS};
use super::options::{self, fmt_strike};
use super::{Counters, Params, Quota, Simulator, bad_request, ts_error};

/// Length of a rate-limit window.
const WINDOW_MS: i64 = 5 * 60 * 1000;

/// The user an access token was issued to; set by [`authenticate`].
#[derive(Debug, Clone)]
pub(crate) struct User(pub String);

/// A path parameter whose rejection speaks TradeStation's error body.
#[derive(Debug)]
pub(crate) struct TsPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TsPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(_) => Err(bad_request("The request path is not valid.")),
        }
    }
}

/// Middleware on every data route: counts the call, checks the bearer token
/// (MAC, expiry, [`Simulator::expire_access_tokens`]), applies the user's
/// quota, and stamps `X-RateLimit-*` on the answer.
pub(super) async fn authenticate(
    State(sim): State<Simulator>,
    mut request: Request,
    next: Next,
) -> Response {
    Counters::bump(&sim.counters().api_requests);
    let now = calendar::now_ms();
    let claims = bearer(request.headers()).and_then(|t| sim.inner.codec.open_access(t));
    let user = match claims {
        None => return unauthorized(&sim, "The access token is missing or invalid."),
        Some(c)
            if c.expires_ms <= now || c.issued <= sim.inner.access_floor.load(Ordering::SeqCst) =>
        {
            return unauthorized(&sim, "The access token has expired.");
        }
        Some(c) => c.user,
    };
    let quota = take_quota(&sim, &user, now);
    if !quota.allowed {
        let mut response = ts_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Rate quota exceeded",
        );
        quota.stamp(response.headers_mut(), now, true);
        return response;
    }
    request.extensions_mut().insert(User(user));
    let mut response = next.run(request).await;
    quota.stamp(response.headers_mut(), now, false);
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(sim: &Simulator, message: &str) -> Response {
    Counters::bump(&sim.counters().api_unauthorized);
    let mut response = ts_error(StatusCode::UNAUTHORIZED, "Unauthorized", message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

/// The outcome of counting one request against a user's window.
struct QuotaState {
    limit: u32,
    remaining: u32,
    reset_ms: i64,
    allowed: bool,
}

impl QuotaState {
    fn stamp(&self, headers: &mut HeaderMap, now: i64, refused: bool) {
        if self.limit == 0 {
            return;
        }
        let reset_secs = (self.reset_ms / 1000).to_string();
        let wait = ((self.reset_ms - now).max(0) + 999) / 1000;
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        };
        put("x-ratelimit-limit", self.limit.to_string());
        put("x-ratelimit-remaining", self.remaining.to_string());
        put("x-ratelimit-reset", reset_secs);
        if refused {
            put("retry-after", wait.to_string());
        }
    }
}

/// Fixed windows of [`WINDOW_MS`] from a user's first request, as
/// TradeStation's older rate-limit page describes.
fn take_quota(sim: &Simulator, user: &str, now: i64) -> QuotaState {
    let limit = sim.config().rate_limit;
    if limit == 0 {
        return QuotaState {
            limit,
            remaining: 0,
            reset_ms: now,
            allowed: true,
        };
    }
    let mut state = sim.state();
    let quota = state.quotas.entry(user.to_owned()).or_insert(Quota {
        window_start_ms: now,
        used: 0,
    });
    if now - quota.window_start_ms >= WINDOW_MS {
        *quota = Quota {
            window_start_ms: now,
            used: 0,
        };
    }
    let allowed = quota.used < limit;
    if allowed {
        quota.used += 1;
    }
    QuotaState {
        limit,
        remaining: limit - quota.used,
        reset_ms: quota.window_start_ms + WINDOW_MS,
        allowed,
    }
}

/// A comma list of symbols, trimmed, upper-cased, empty entries dropped.
pub(crate) fn split_symbols(list: &str) -> Vec<String> {
    list.split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `GET /v3/marketdata/quotes/{symbols}` (≤100).
pub(super) async fn quotes(State(sim): State<Simulator>, TsPath(symbols): TsPath) -> Response {
    let symbols = split_symbols(&symbols);
    if symbols.is_empty() || symbols.len() > 100 {
        return bad_request("Between 1 and 100 symbols may be requested.");
    }
    let now = calendar::now_ms();
    let mut response = QuotesResponse::default();
    for symbol in &symbols {
        match sim.market().quote_for(symbol, now) {
            Ok(quote) => response.quotes.push(quote),
            Err(error) => response.errors.push(error),
        }
    }
    Json(response).into_response()
}

/// `GET /v3/marketdata/symbols/{symbols}` (≤50).
pub(super) async fn symbols(State(sim): State<Simulator>, TsPath(symbols): TsPath) -> Response {
    let symbols = split_symbols(&symbols);
    if symbols.is_empty() || symbols.len() > 50 {
        return bad_request("Between 1 and 50 symbols may be requested.");
    }
    let mut response = SymbolsResponse::default();
    for symbol in &symbols {
        match sim.market().instrument(symbol) {
            Some(inst) => response.symbols.push(sim.market().symbol_detail(&inst)),
            None => response.errors.push(SymbolError {
                symbol: Some(symbol.clone()),
                error: Some("FAILED, INVALID SYMBOL".into()),
                message: Some(format!("Symbol {symbol} was not found.")),
            }),
        }
    }
    Json(response).into_response()
}

/// `GET /v3/marketdata/barcharts/{symbol}`: `interval`, `unit`, `barsback`,
/// `firstdate`, `lastdate` (alias `startdate`), `sessiontemplate`.
pub(super) async fn bars(
    State(sim): State<Simulator>,
    TsPath(symbol): TsPath,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""));
    let Some(inst) = sim.market().instrument(&symbol) else {
        return bad_request(&format!("Invalid symbol: {}.", symbol.trim()));
    };
    let interval = match params.get_ci("interval").map(str::parse::<u32>) {
        None => 1,
        Some(Ok(n)) if (1..=1440).contains(&n) => n,
        Some(_) => return bad_request("interval must be a number from 1 to 1440."),
    };
    let unit = match params
        .get_ci("unit")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("daily") => BarUnit::Daily,
        Some("minute") => BarUnit::Minute(interval),
        Some("weekly") => BarUnit::Weekly,
        Some("monthly") => BarUnit::Monthly,
        Some(_) => return bad_request("unit must be Minute, Daily, Weekly or Monthly."),
    };
    if interval != 1 && !matches!(unit, BarUnit::Minute(_)) {
        return bad_request("interval must be 1 unless unit is Minute.");
    }
    if let Some(template) = params.get_ci("sessiontemplate") {
        let known = [
            "USEQPre",
            "USEQPost",
            "USEQPreAndPost",
            "USEQ24Hour",
            "Default",
        ];
        if !known.iter().any(|k| k.eq_ignore_ascii_case(template)) {
            return bad_request("sessiontemplate is not a known session template.");
        }
    }
    let first = match params.get_ci("firstdate") {
        None => None,
        Some(text) => match calendar::parse_instant(text, false) {
            Some(ms) => Some(ms),
            None => return bad_request("firstdate must be YYYY-MM-DD or an RFC 3339 instant."),
        },
    };
    let barsback = match (params.get_ci("barsback"), first) {
        (Some(_), Some(_)) => return bad_request("firstdate and barsback are exclusive."),
        (None, Some(_)) => MAX_BARS,
        (None, None) => 1,
        (Some(text), None) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_BARS).contains(&n) => n,
            _ => return bad_request("barsback must be a number from 1 to 57600."),
        },
    };
    let now = calendar::now_ms();
    let last = match params
        .get_ci("lastdate")
        .or_else(|| params.get_ci("startdate"))
    {
        None => now,
        Some(text) => match calendar::parse_instant(text, true) {
            Some(ms) => ms,
            None => return bad_request("lastdate must be YYYY-MM-DD or an RFC 3339 instant."),
        },
    };
    let bars = sim.market().bars(&inst, unit, barsback, first, last, now);
    Json(BarsResponse { bars }).into_response()
}

/// An underlying that has options (a stock or ETF).
pub(crate) fn optionable(sim: &Simulator, symbol: &str) -> Option<Instrument> {
    sim.market()
        .instrument(symbol)
        .filter(|inst| inst.class == AssetClass::Stock)
}

/// TradeStation's 404 body for an underlying without options.
pub(crate) fn no_options(symbol: &str) -> Response {
    ts_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("No options found for underlying {}.", symbol.trim()),
    )
}

/// `GET /v3/marketdata/options/expirations/{underlying}?strikePrice=`.
pub(super) async fn expirations(
    State(sim): State<Simulator>,
    TsPath(underlying): TsPath,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""));
    let Some(inst) = optionable(&sim, &underlying) else {
        return no_options(&underlying);
    };
    if let Some(strike) = params.get_ci("strikePrice") {
        let listed = strike
            .parse::<f64>()
            .is_ok_and(|k| options::strikes(&inst).iter().any(|s| (s - k).abs() < 1e-9));
        if !listed {
            return Json(ExpirationsResponse::default()).into_response();
        }
    }
    let today = calendar::now_ms().div_euclid(DAY_MS);
    let expirations = options::expirations(today)
        .into_iter()
        .map(|(day, kind)| Expiration {
            date: Some(calendar::date_rfc3339(day)),
            kind: Some(kind.into()),
        })
        .collect();
    Json(ExpirationsResponse { expirations }).into_response()
}

/// `GET /v3/marketdata/options/strikes/{underlying}`: `spreadType` (only
/// `Single` here), `strikeInterval`, `expiration`.
pub(super) async fn strikes(
    State(sim): State<Simulator>,
    TsPath(underlying): TsPath,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""));
    let Some(inst) = optionable(&sim, &underlying) else {
        return no_options(&underlying);
    };
    match params.get_ci("spreadType") {
        None => {}
        Some(t) if t.eq_ignore_ascii_case("Single") => {}
        Some(_) => return bad_request("The simulator lists strikes for spreadType Single only."),
    }
    let interval = match params.get_ci("strikeInterval").map(str::parse::<usize>) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => return bad_request("strikeInterval must be a positive number."),
    };
    if params
        .get_ci("expiration")
        .is_some_and(|text| calendar::parse_date(text).is_none())
    {
        return bad_request("expiration must be a date such as 12-17-2021.");
    }
    let strikes = options::strikes(&inst)
        .into_iter()
        .step_by(interval)
        .map(|k| vec![fmt_strike(k)])
        .collect();
    Json(StrikesResponse {
        spread_type: Some("Single".into()),
        strikes,
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use std::time::Duration;

    fn assert_ts_error(answer: &Answer, status: StatusCode, error: &str) {
        assert_eq!(answer.status, status, "{}", answer.text());
        let body = answer.json();
        assert_eq!(body["Error"], error);
        assert!(body["Message"].is_string());
    }

    #[tokio::test]
    async fn missing_forged_and_expired_access_tokens_get_tradestations_401() {
        let sim = simulator(|_| {});
        let tokens = sign_in(&sim, "trader").await;
        let path = "/v3/brokerage/accounts";
        assert_ts_error(
            &get(&sim, path, None).await,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
        );
        assert_ts_error(
            &get(&sim, path, Some("forged")).await,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
        );
        assert_ts_error(
            &get(&sim, path, Some(&tokens.refresh)).await,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
        );
        let mut forged = tokens.access.clone();
        forged.pop();
        assert_ts_error(
            &get(&sim, path, Some(&forged)).await,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
        );
        assert_eq!(
            get(&sim, path, Some(&tokens.access)).await.status,
            StatusCode::OK
        );

        sim.expire_access_tokens();
        assert_ts_error(
            &get(&sim, path, Some(&tokens.access)).await,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
        );
        let fresh = refresh(&sim, &tokens.refresh).await.json();
        let fresh = fresh["access_token"].as_str().unwrap();
        assert_eq!(get(&sim, path, Some(fresh)).await.status, StatusCode::OK);
        let stats = sim.stats();
        assert_eq!((stats.api_requests, stats.api_unauthorized), (7, 5));

        let short = simulator(|c| c.access_token_ttl = Duration::ZERO);
        let tokens = sign_in(&short, "trader").await;
        assert_ts_error(
            &get(&short, path, Some(&tokens.access)).await,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
        );
    }

    #[tokio::test]
    async fn unknown_accounts_and_symbols_become_partial_errors() {
        let sim = simulator(|_| {});
        let token = sign_in(&sim, "trader").await.access;
        let accounts = get(&sim, "/v3/brokerage/accounts", Some(&token))
            .await
            .json();
        let list = accounts["Accounts"].as_array().unwrap();
        let types: Vec<&str> = list
            .iter()
            .map(|a| a["AccountType"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["Margin", "Cash", "Futures"]);
        let ids: Vec<&str> = list
            .iter()
            .map(|a| a["AccountID"].as_str().unwrap())
            .collect();

        for endpoint in ["balances", "positions", "orders"] {
            let uri = format!(
                "/v3/brokerage/accounts/{},{},BOGUS1/{endpoint}",
                ids[0], ids[2]
            );
            let answer = get(&sim, &uri, Some(&token)).await;
            assert_eq!(answer.status, StatusCode::OK, "{endpoint}");
            let json = answer.json();
            let errors = json["Errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{endpoint}");
            assert_eq!(errors[0]["AccountID"], "BOGUS1");
            assert_eq!(errors[0]["Error"], "Forbidden");
        }
        let balances = get(
            &sim,
            &format!("/v3/brokerage/accounts/{}/balances", ids.join(",")),
            Some(&token),
        )
        .await;
        let parsed: shared::ts::accounts::BalancesResponse =
            serde_json::from_slice(&balances.body).unwrap();
        assert_eq!(parsed.balances.len(), 3);
        let futures = &parsed.balances[2];
        assert!(futures.currency_details.is_some());
        assert!(
            futures
                .balance_detail
                .as_ref()
                .unwrap()
                .initial_margin
                .is_some()
        );

        let quotes = get(
            &sim,
            "/v3/marketdata/quotes/MSFT,NOPE1,aapl,$SPX.X",
            Some(&token),
        )
        .await;
        let parsed: QuotesResponse = serde_json::from_slice(&quotes.body).unwrap();
        let symbols: Vec<&str> = parsed
            .quotes
            .iter()
            .map(|q| q.symbol.as_deref().unwrap())
            .collect();
        assert_eq!(symbols, ["MSFT", "AAPL", "$SPX.X"]);
        assert_eq!(parsed.errors[0].symbol.as_deref(), Some("NOPE1"));
        assert_eq!(
            parsed.errors[0].error.as_deref(),
            Some("FAILED, INVALID SYMBOL")
        );
        let raw = quotes.json();
        assert!(
            raw["Quotes"][0]["Last"].is_string(),
            "prices are JSON strings"
        );

        let many = vec!["A"; 101].join(",");
        assert_ts_error(
            &get(&sim, &format!("/v3/marketdata/quotes/{many}"), Some(&token)).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        );
    }

    #[tokio::test]
    async fn orders_page_with_next_tokens_and_positions_filter() {
        let sim = simulator(|_| {});
        let token = sign_in(&sim, "trader").await.access;
        let accounts = get(&sim, "/v3/brokerage/accounts", Some(&token))
            .await
            .json();
        let ids: Vec<&str> = accounts["Accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["AccountID"].as_str().unwrap())
            .collect();
        let all = ids.join(",");
        let first = get(
            &sim,
            &format!("/v3/brokerage/accounts/{all}/orders?pageSize=4"),
            Some(&token),
        )
        .await
        .json();
        assert_eq!(first["Orders"].as_array().unwrap().len(), 4);
        let next = first["NextToken"].as_str().unwrap();
        let second = get(
            &sim,
            &format!("/v3/brokerage/accounts/{all}/orders?pageSize=4&nextToken={next}"),
            Some(&token),
        )
        .await
        .json();
        assert_eq!(second["Orders"].as_array().unwrap().len(), 2);
        assert!(second.get("NextToken").is_none());
        let bad = get(
            &sim,
            &format!("/v3/brokerage/accounts/{all}/orders?pageSize=0"),
            Some(&token),
        )
        .await;
        assert_ts_error(&bad, StatusCode::BAD_REQUEST, "BadRequest");

        let positions = get(
            &sim,
            &format!(
                "/v3/brokerage/accounts/{}/positions?symbol=MSFT%20*",
                ids[0]
            ),
            Some(&token),
        )
        .await
        .json();
        let list = positions["Positions"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["AssetType"], "STOCKOPTION");
    }

    #[tokio::test]
    async fn rate_limit_headers_and_a_429_past_the_quota() {
        let sim = simulator(|c| c.rate_limit = 2);
        let token = sign_in(&sim, "trader").await.access;
        let path = "/v3/marketdata/quotes/MSFT";
        let first = get(&sim, path, Some(&token)).await;
        assert_eq!(first.headers["x-ratelimit-limit"], "2");
        assert_eq!(first.headers["x-ratelimit-remaining"], "1");
        assert!(first.headers.contains_key("x-ratelimit-reset"));
        assert_eq!(
            get(&sim, path, Some(&token)).await.headers["x-ratelimit-remaining"],
            "0"
        );
        let refused = get(&sim, path, Some(&token)).await;
        assert_ts_error(&refused, StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
        let wait: u64 = refused.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=300).contains(&wait));
        // Another user has a quota of their own.
        let other = sign_in(&sim, "someone").await.access;
        assert_eq!(get(&sim, path, Some(&other)).await.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn bars_symbols_expirations_and_strikes() {
        let sim = simulator(|_| {});
        let token = sign_in(&sim, "trader").await.access;
        let t = Some(token.as_str());
        let bars = get(
            &sim,
            "/v3/marketdata/barcharts/MSFT?interval=5&unit=Minute&barsback=12",
            t,
        )
        .await;
        let parsed: BarsResponse = serde_json::from_slice(&bars.body).unwrap();
        assert_eq!(parsed.bars.len(), 12);
        let daily = get(
            &sim,
            "/v3/marketdata/barcharts/AAPL?firstdate=2024-01-01&lastdate=2024-01-31",
            t,
        )
        .await;
        let parsed: BarsResponse = serde_json::from_slice(&daily.body).unwrap();
        assert_eq!(parsed.bars.len(), 23, "weekdays of January 2024");
        assert_eq!(
            parsed.bars[0].time_stamp.as_deref(),
            Some("2024-01-01T21:00:00Z")
        );
        for bad in [
            "interval=5",
            "unit=Hourly",
            "barsback=0",
            "barsback=1&firstdate=2024-01-01",
            "lastdate=yesterday",
        ] {
            let answer = get(&sim, &format!("/v3/marketdata/barcharts/MSFT?{bad}"), t).await;
            assert_ts_error(&answer, StatusCode::BAD_REQUEST, "BadRequest");
        }
        assert_ts_error(
            &get(&sim, "/v3/marketdata/barcharts/NOPE1", t).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        );

        let symbols = get(&sim, "/v3/marketdata/symbols/MSFT,@ES,BAD1", t).await;
        let parsed: SymbolsResponse = serde_json::from_slice(&symbols.body).unwrap();
        assert_eq!(parsed.symbols.len(), 2);
        assert_eq!(parsed.symbols[1].asset_type.as_deref(), Some("FUTURE"));
        assert_eq!(parsed.errors[0].symbol.as_deref(), Some("BAD1"));

        let expirations = get(&sim, "/v3/marketdata/options/expirations/MSFT", t).await;
        let parsed: ExpirationsResponse = serde_json::from_slice(&expirations.body).unwrap();
        assert!(parsed.expirations.len() >= 10);
        assert!(
            parsed
                .expirations
                .iter()
                .any(|e| e.kind.as_deref() == Some("Monthly"))
        );
        let strikes = get(
            &sim,
            "/v3/marketdata/options/strikes/MSFT?strikeInterval=2",
            t,
        )
        .await;
        let parsed: StrikesResponse = serde_json::from_slice(&strikes.body).unwrap();
        assert_eq!(parsed.spread_type.as_deref(), Some("Single"));
        assert!(parsed.strikes.iter().all(|s| s.len() == 1));
        assert!(parsed.strikes.iter().any(|s| s[0] == "450"));
        assert_ts_error(
            &get(&sim, "/v3/marketdata/options/expirations/$SPX.X", t).await,
            StatusCode::NOT_FOUND,
            "NotFound",
        );
        assert_ts_error(
            &get(&sim, "/v3/marketdata/nothing-here", t).await,
            StatusCode::NOT_FOUND,
            "NotFound",
        );
    }
}
