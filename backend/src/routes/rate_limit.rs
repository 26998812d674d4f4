//! The sign-in rate limit: `RATE_LIMIT_PER_MINUTE` requests to
//! `/api/ts/login` and `/api/ts/callback` per client address per minute;
//! past it `429 rate_limited` with `Retry-After`.
//!
//! The client address is the peer's, unless the peer is one of
//! `TRUSTED_PROXIES`: then it is the rightmost `X-Forwarded-For` hop that is
//! not itself a trusted proxy (the hops to its left were written by whoever
//! sent the request and prove nothing). A fixed one-minute window per
//! address is enough here: the limit exists to stop a flood from growing
//! the store and reaching the token endpoint, not to shape traffic.

use super::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; past it, windows that ended are dropped.
const MAX_TRACKED: usize = 100_000;

/// Per-address counters of one process.
#[derive(Debug)]
pub struct SignInLimiter {
    per_minute: u32,
    trusted: Vec<IpAddr>,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl SignInLimiter {
    /// `per_minute == 0` turns the limit off.
    pub fn new(per_minute: u32, trusted: Vec<IpAddr>) -> Self {
        Self {
            per_minute,
            trusted,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The address a request is counted under.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted.contains(&peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusted.contains(&ip) => {}
                Ok(ip) => return ip,
                // A hop we cannot read: stop at the last one we trust.
                Err(_) => return peer,
            }
        }
        peer
    }

    /// `Ok` when `client` may go on, else the seconds until its window ends.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() >= MAX_TRACKED && !windows.contains_key(&client) {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = windows.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_minute {
            let left = WINDOW.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Middleware on the sign-in routes.
pub async fn limit_sign_in(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let client = state.sign_in_limiter.client(peer, request.headers());
        if let Err(retry_after) = state.sign_in_limiter.check(client, Instant::now()) {
            tracing::info!(retry_after, "sign-in rate limit reached");
            return rate_limited(retry_after);
        }
    }
    next.run(request).await
}

fn rate_limited(retry_after: u64) -> Response {
    let body = serde_json::json!({
        "error": "rate_limited",
        "message": "Too many sign-in attempts from this address. Please wait a minute and try again.",
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static(value));
        h
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let limiter = SignInLimiter::new(1, vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        let headers = xff("6.6.6.6, 1.2.3.4, 10.0.0.2");
        assert_eq!(limiter.client(ip("10.0.0.1"), &headers), ip("1.2.3.4"));
        assert_eq!(limiter.client(ip("9.9.9.9"), &headers), ip("9.9.9.9"));
        assert_eq!(
            limiter.client(ip("10.0.0.1"), &xff("garbage")),
            ip("10.0.0.1")
        );
        assert_eq!(
            limiter.client(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_client_past_the_limit_waits_until_its_minute_ends() {
        let limiter = SignInLimiter::new(2, Vec::new());
        let t0 = Instant::now();
        let a = ip("1.1.1.1");
        assert_eq!(limiter.check(a, t0), Ok(()));
        assert_eq!(limiter.check(a, t0), Ok(()));
        assert_eq!(limiter.check(a, t0 + Duration::from_secs(20)), Err(40));
        assert_eq!(limiter.check(ip("2.2.2.2"), t0), Ok(()));
        assert_eq!(limiter.check(a, t0 + WINDOW), Ok(()));
        let off = SignInLimiter::new(0, Vec::new());
        for _ in 0..1000 {
            assert_eq!(off.check(a, t0), Ok(()));
        }
    }
}
