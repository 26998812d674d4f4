//! A TradeStation stand-in for fault tests: the simulator on its own port,
//! behind a TCP proxy that can be told to fail in the ways networks do.
//!
//! The app runs in TradeStation mode against it: the browser signs in on the
//! simulator directly, while token calls and data calls go through the
//! proxy.

use crate::helpers::TestApp;
use simulator::{SimConfig, Simulator};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with the next connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward to the simulator.
    Pass,
    /// `500` with an OAuth-looking JSON body.
    ServerError,
    /// `200` with a body that is not JSON.
    Garbage,
    /// Read the request, never answer.
    Stall,
    /// Read the request, reset the connection.
    Reset,
    /// `429` with rate-limit headers and a cookie that must not pass.
    RateLimited,
    /// Status 200, one chunk of a stream, then silence.
    SilentStream,
}

pub struct FaultyUpstream {
    pub sim: Simulator,
    pub sim_origin: String,
    pub proxy_origin: String,
    fault: watch::Sender<Fault>,
    /// Every request the proxy received, head and body.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl FaultyUpstream {
    pub async fn start() -> Self {
        let sim_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim_addr = sim_listener.local_addr().unwrap();
        let sim_origin = format!("http://{sim_addr}");
        let mut config = SimConfig::for_tests(format!("{sim_origin}/sim/"));
        config.heartbeat_interval = std::time::Duration::from_millis(200);
        config.tick_interval = std::time::Duration::from_millis(100);
        let sim = Simulator::new(config);
        let router = axum::Router::new().nest("/sim", sim.router());
        tokio::spawn(async move { axum::serve(sim_listener, router).await.unwrap() });

        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_origin = format!("http://{}", proxy.local_addr().unwrap());
        let (fault, watcher) = watch::channel(Fault::Pass);
        let seen = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(accept_loop(
            proxy,
            sim_addr.to_string(),
            watcher,
            seen.clone(),
        ));
        Self {
            sim,
            sim_origin,
            proxy_origin,
            fault,
            seen,
        }
    }

    /// Changes the fault; connections opened under the old one are closed.
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }

    /// The app in TradeStation mode against this upstream.
    pub async fn app(&self, extra: &[(&str, &str)]) -> TestApp {
        let sim = &self.sim_origin;
        let proxy = &self.proxy_origin;
        let mut vars = vec![
            ("TS_CLIENT_ID".to_owned(), "sim-client".to_owned()),
            ("TS_CLIENT_SECRET".to_owned(), "sim-secret".to_owned()),
            ("TS_AUTH_URL".to_owned(), format!("{sim}/sim/authorize")),
            ("TS_ISSUER".to_owned(), format!("{sim}/sim/")),
            (
                "TS_JWKS_URL".to_owned(),
                format!("{sim}/sim/.well-known/jwks.json"),
            ),
            (
                "TS_TOKEN_URL".to_owned(),
                format!("{proxy}/sim/oauth/token"),
            ),
            (
                "TS_REVOKE_URL".to_owned(),
                format!("{proxy}/sim/oauth/revoke"),
            ),
            ("TS_BASE_URL".to_owned(), format!("{proxy}/sim")),
            (
                "TS_REDIRECT_URI".to_owned(),
                "{app}/api/ts/callback".to_owned(),
            ),
            ("TS_HTTP_TIMEOUT".to_owned(), "1".to_owned()),
        ];
        for (k, v) in extra {
            vars.retain(|(name, _)| name != k);
            vars.push((k.to_string(), v.to_string()));
        }
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        TestApp::spawn_with(&vars).await
    }
}

async fn accept_loop(
    proxy: TcpListener,
    sim_addr: String,
    fault: watch::Receiver<Fault>,
    seen: Arc<Mutex<Vec<String>>>,
) {
    while let Ok((client, _)) = proxy.accept().await {
        let fault = fault.clone();
        let sim_addr = sim_addr.clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            let _ = handle(client, &sim_addr, fault, &seen).await;
        });
    }
}

/// Reads one request head (and its body, if any) from `client`.
async fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let n = client.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            return Ok(buffer);
        }
    }
}

async fn handle(
    mut client: TcpStream,
    sim_addr: &str,
    mut fault: watch::Receiver<Fault>,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let request = read_request(&mut client).await?;
    seen.lock()
        .unwrap()
        .push(String::from_utf8_lossy(&request).into_owned());
    let mode = *fault.borrow_and_update();
    let canned = |status: &str, headers: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
            body.len()
        )
    };
    match mode {
        Fault::Pass => {
            // One request per connection, so every request is seen here.
            let mut upstream = TcpStream::connect(sim_addr).await?;
            let line_end = request.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
            upstream.write_all(&request[..line_end]).await?;
            upstream.write_all(b"connection: close\r\n").await?;
            upstream.write_all(&request[line_end..]).await?;
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                _ = fault.changed() => {}
            }
        }
        Fault::ServerError => {
            let answer = canned(
                "500 Internal Server Error",
                "content-type: application/json\r\n",
                r#"{"error":"server_error"}"#,
            );
            client.write_all(answer.as_bytes()).await?;
        }
        Fault::Garbage => {
            let answer = canned("200 OK", "content-type: application/json\r\n", "<html>oops");
            client.write_all(answer.as_bytes()).await?;
        }
        Fault::Stall => {
            // Hold the connection until the client gives up.
            let mut sink = [0u8; 64];
            while client.read(&mut sink).await? > 0 {}
        }
        Fault::Reset => {
            // A zero linger makes the close a TCP reset; nothing blocks on it.
            #[allow(deprecated)]
            client.set_linger(Some(std::time::Duration::ZERO))?;
            drop(client);
        }
        Fault::RateLimited => {
            let answer = canned(
                "429 Too Many Requests",
                "content-type: application/json\r\nretry-after: 7\r\nx-ratelimit-remaining: 0\r\nset-cookie: upstream=1\r\nserver: upstream\r\n",
                r#"{"Error":"TooManyRequests","Message":"Rate quota exceeded"}"#,
            );
            client.write_all(answer.as_bytes()).await?;
        }
        Fault::SilentStream => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.tradestation.streams.v2+json\r\ntransfer-encoding: chunked\r\n\r\n";
            client.write_all(head.as_bytes()).await?;
            let line = "{\"Heartbeat\":1,\"Timestamp\":\"2026-11-25T00:00:00Z\"}\n";
            client
                .write_all(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes())
                .await?;
            let mut sink = [0u8; 64];
            while client.read(&mut sink).await? > 0 {}
        }
    }
    Ok(())
}
