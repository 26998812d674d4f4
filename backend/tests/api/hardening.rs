//! Hostile clients against the real app over HTTP on 127.0.0.1: sign-in
//! floods, junk callbacks, slow request heads, request ids and strict
//! paths; and the real binary draining on SIGTERM with a stream open.

use crate::helpers::{Browser, TestApp, error_code};
use futures_util::StreamExt;
use reqwest::cookie::Jar;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

fn store_bytes(app: &TestApp) -> u64 {
    ["tokens.db", "tokens.db-wal", "tokens.db-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(app.dir.path().join(f)).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_with_long_return_tos_is_rate_limited_and_barely_grows_the_store() {
    let app = TestApp::spawn_with(&[
        ("RATE_LIMIT_PER_MINUTE", "60"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    assert_eq!(app.get("/health").await.status(), 200);
    let before = store_bytes(&app);
    let long = format!("/{}", "x".repeat(10_000));
    let mut url = url::Url::parse(&app.url("/api/ts/login")).unwrap();
    url.query_pairs_mut().append_pair("return_to", &long);
    let (mut accepted, mut limited, mut worst_health) = (0, 0, Duration::ZERO);
    // 1,000 logins from 10 client addresses (100 each), 50 at a time, each
    // from a fresh browser (no cookie).
    for batch in 0..20 {
        let calls = (0..50).map(|i| {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let url = url.clone();
            async move {
                client
                    .get(url)
                    .header(
                        "X-Forwarded-For",
                        format!("203.0.113.{}", (batch * 50 + i) % 10),
                    )
                    .send()
                    .await
                    .unwrap()
            }
        });
        let health = async {
            let t = Instant::now();
            assert_eq!(app.get("/health").await.status(), 200);
            t.elapsed()
        };
        let (responses, took) = tokio::join!(futures_util::future::join_all(calls), health);
        worst_health = worst_health.max(took);
        for response in responses {
            match response.status().as_u16() {
                303 => accepted += 1,
                429 => {
                    let retry: u64 = response.headers()["retry-after"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!((1..=60).contains(&retry));
                    assert_eq!(error_code(response).await, "rate_limited");
                    limited += 1;
                }
                other => panic!("unexpected status {other}"),
            }
        }
    }
    let growth = store_bytes(&app).saturating_sub(before);
    println!(
        "1000 hostile logins: {accepted} accepted, {limited} limited, store +{growth} bytes, worst /health {worst_health:?}"
    );
    assert_eq!(accepted, 600, "60 per client address");
    assert_eq!(limited, 400);
    // The file and its write-ahead log together: every insert writes whole
    // pages to the log, so this counts pages, not row bytes. Had the 10 KB
    // return_to been stored, the rows alone would be over 6 MB.
    assert!(growth < 600 * 10_000, "store grew {growth} bytes");
    assert!(worst_health < Duration::from_secs(1), "{worst_health:?}");
}

#[tokio::test]
async fn junk_callbacks_past_the_limit_are_refused_without_reaching_the_token_endpoint() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_PER_MINUTE", "10")]).await;
    let (mut invalid, mut limited) = (0, 0);
    for i in 0..100 {
        let response = app
            .get(&format!("/api/ts/callback?code=junk{i}&state=forged{i}"))
            .await;
        match response.status().as_u16() {
            400 => {
                assert_eq!(error_code(response).await, "invalid_state");
                invalid += 1;
            }
            429 => {
                assert!(response.headers().contains_key("retry-after"));
                limited += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let calls = app.sim().stats().token_requests;
    println!("100 junk callbacks: {invalid} invalid_state, {limited} limited, {calls} token calls");
    assert_eq!((invalid, limited, calls), (10, 90, 0));
    // The limit covers /login too, for the same address.
    assert_eq!(app.get("/api/ts/login").await.status(), 429);
}

#[tokio::test]
async fn a_forged_login_cookie_is_replaced_by_one_the_backend_issues() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/api/ts/login"))
        .header("Cookie", "ts_login=attacker-chosen-value")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let set = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set.starts_with("ts_login="));
    assert!(!set.contains("attacker-chosen-value"), "{set}");
    // The backend's own value is kept on the next login (two tabs).
    let value = set.split(';').next().unwrap().to_owned();
    let again = app
        .client
        .get(app.url("/api/ts/login"))
        .header("Cookie", value.clone())
        .send()
        .await
        .unwrap();
    let set_again = again.headers()["set-cookie"].to_str().unwrap();
    assert!(set_again.starts_with(&format!("{value};")), "{set_again}");
}

#[tokio::test]
async fn request_ids_are_kept_only_when_short_and_plain() {
    let app = TestApp::spawn().await;
    let echo = |id: String| {
        let app = &app;
        async move {
            let r = app
                .client
                .get(app.url("/health"))
                .header("X-Request-Id", id)
                .send()
                .await
                .unwrap();
            r.headers()["x-request-id"].to_str().unwrap().to_owned()
        }
    };
    assert_eq!(echo("abc-123_XYZ".into()).await, "abc-123_XYZ");
    for bad in ["x".repeat(65), "a b".into(), "evil\"id".into(), "é".into()] {
        let got = echo(bad.clone()).await;
        assert_ne!(got, bad);
        assert!((1..=64).contains(&got.len()), "{got}");
        assert!(
            got.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
    let generated = app.get("/health").await.headers()["x-request-id"].clone();
    assert!(!generated.is_empty());
}

#[tokio::test]
async fn double_encoded_and_parameter_segments_are_invalid_paths() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/ts/v3/marketdata/quotes/MSFT%252F..",
        "/api/ts/v3/marketdata/quotes/MSFT;x=1",
        "/api/ts/v3/marketdata/quotes/MSFT%3B",
        "/api/ts/v3/marketdata/quotes/%2e%2E",
        "/api/ts/v3/marketdata/quotes/a%00b",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(error_code(response).await, "invalid_path", "{path}");
    }
}

#[tokio::test]
async fn relayed_bodies_carry_nosniff() {
    let app = TestApp::spawn().await;
    app.sign_in().await;
    let response = app.get("/api/ts/v3/brokerage/accounts").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn a_request_head_that_never_completes_is_closed_after_30_seconds() {
    let app = TestApp::spawn().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(45), slow.read(&mut buf))
        .await
        .expect("closed within 45 s");
    let waited = started.elapsed();
    assert!(matches!(read, Ok(0) | Err(_)), "closed without an answer");
    assert!(waited >= Duration::from_secs(29), "{waited:?}");
    // Other clients were served meanwhile.
    assert_eq!(app.get("/health").await.status(), 200);
}

/// The real binary in simulation mode on a free port; SIGTERM while a
/// stream is open must end it and exit 0 within TS_HTTP_TIMEOUT + 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_stream_open_exits_zero_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_backend"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("TS_HTTP_TIMEOUT", "3")
        .env("STATIC_DIR", dir.path().join("dist"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let origin = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.split("open ").nth(1) {
                return url.trim().trim_end_matches('/').to_owned();
            }
        }
        panic!("the binary ended before listening")
    })
    .await
    .expect("listening within 30 s");
    let browser = Browser::new(origin, Arc::new(Jar::default()));
    assert_eq!(browser.sign_in().await.status(), 303);
    let response = browser
        .get("/api/ts/v3/marketdata/stream/quotes/MSFT")
        .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    assert!(body.next().await.is_some(), "the stream is open");

    let pid = child.id().unwrap().to_string();
    let started = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(8), child.wait())
        .await
        .expect("exited within TS_HTTP_TIMEOUT + 5 s")
        .unwrap();
    let drain = started.elapsed();
    println!("SIGTERM with a stream open: exited {status} after {drain:?}");
    assert!(status.success(), "{status}");
    // The stream ended rather than being cut by the process dying mid-way.
    let rest = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                return false;
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    assert!(rest, "the stream was ended cleanly");
}
