//! The HTTP/1 listener: accepts connections, serves the router on each, and
//! drains on shutdown.
//!
//! `axum::serve` has no header-read timeout and no connection cap, so this
//! drives hyper directly:
//!
//! - **Connection cap:** a permit of a [`Semaphore`] is taken *before*
//!   `accept`, so past [`Limits::max_connections`] new connections wait in
//!   the kernel's accept backlog (and are refused by the kernel once that is
//!   full); nothing already accepted is dropped to make room.
//! - **Request head within 30 s, idle keep-alive closed after 75 s:** hyper's
//!   own `header_read_timeout` starts while a kept-alive connection waits for
//!   its next request, so it would also close idle connections after 30 s. A
//!   per-connection watchdog separates the two: the head clock starts when
//!   the connection opens or when the first byte of a new request arrives;
//!   the idle clock when the last response body has been sent.
//! - **Shutdown:** when the [`CancellationToken`] fires the accept loop
//!   stops, every connection is told to finish its current request and
//!   close (hyper's graceful shutdown), and the wait for them is bounded by
//!   [`Limits::drain_timeout`]. Passthrough streams watch the same token and
//!   end themselves, so they never hold the drain up.

use axum::Router;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The listener's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once (`MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// A request head must arrive within this of the connection opening or
    /// of its first byte.
    pub header_timeout: Duration,
    /// A kept-alive connection with no request is closed after this.
    pub idle_timeout: Duration,
    /// How long shutdown waits for open connections to finish.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            drain_timeout: Duration::from_secs(20),
        }
    }
}

/// Serves `router` on `listener` until `stop` is cancelled, then drains.
///
/// # Errors
/// Never at present: a failed `accept` (e.g. out of file descriptors) is
/// logged and retried after a short pause rather than ending the server.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: CancellationToken,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(cause = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let closer = CloseConnection(CancellationToken::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let service = connection_service(router.clone(), peer, activity.clone(), closer.clone());
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            // The watchdog times the head; hyper's timer would also cut
            // idle keep-alive connections at the head timeout.
            .header_read_timeout(None)
            .serve_connection(io, service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            tokio::select! {
                result = conn => {
                    if let Err(e) = result {
                        tracing::debug!(cause = %e, "connection ended with an error");
                    }
                }
                reason = activity.watchdog(limits) => {
                    tracing::debug!(reason, "connection closed");
                }
                () = closer.0.cancelled() => {
                    tracing::debug!("connection closed by its handler");
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let open = graceful.count();
    let started = Instant::now();
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open,
            "connections still open after the drain timeout; closing"
        );
    } else {
        tracing::info!(
            open,
            drain_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "connections drained"
        );
    }
    Ok(())
}

/// In every request's extensions: closes the connection at once. A stream
/// whose browser stopped reading cannot be ended by ending its body (hyper
/// polls the body only when the socket takes more), so the handler drops
/// the whole connection instead.
#[derive(Debug, Clone)]
pub struct CloseConnection(CancellationToken);

impl CloseConnection {
    pub fn close(&self) {
        self.0.cancel();
    }
}

type HyperResponse = hyper::Response<axum::body::Body>;

/// The router as a hyper service for one connection: adds the peer address
/// (`ConnectInfo`) and keeps the connection's [`Activity`] up to date.
fn connection_service(
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    closer: CloseConnection,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = HyperResponse,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<HyperResponse, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(closer.clone());
        let guard = activity.begin_request();
        let router = router.clone();
        async move {
            let response = match router.oneshot(request.map(axum::body::Body::new)).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            // The guard lives in the body's frame mapper, so it is dropped
            // when hyper has sent (or abandoned) the whole body: a stream
            // counts as an open request for as long as it runs.
            Ok(response.map(|body| {
                axum::body::Body::new(body.map_frame(move |frame| {
                    let _held = &guard;
                    frame
                }))
            }))
        }
    })
}

/// What a connection is doing, for its watchdog. Times are milliseconds
/// since the connection opened.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// A request head is expected: set on open and when a byte arrives on
    /// an idle connection; cleared when a request starts.
    head_pending: AtomicBool,
    /// When `head_pending` was set, or when the connection last became idle.
    since_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            head_pending: AtomicBool::new(true),
            since_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 && !self.head_pending.load(Ordering::Acquire)
        {
            self.since_ms.store(self.now_ms(), Ordering::Release);
            self.head_pending.store(true, Ordering::Release);
        }
    }

    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_pending.store(false, Ordering::Release);
        RequestGuard(self.clone())
    }

    /// Completes when the connection should be closed, with the reason.
    async fn watchdog(&self, limits: Limits) -> &'static str {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.in_flight.load(Ordering::Acquire) > 0 {
                continue;
            }
            let waited = Duration::from_millis(
                self.now_ms() - self.since_ms.load(Ordering::Acquire).min(self.now_ms()),
            );
            if self.head_pending.load(Ordering::Acquire) {
                if waited >= limits.header_timeout {
                    return "request head not received in time";
                }
            } else if waited >= limits.idle_timeout {
                return "idle keep-alive connection";
            }
        }
    }
}

/// One request being served; dropped when its response body is done.
#[derive(Debug)]
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let activity = &self.0;
        activity
            .since_ms
            .store(activity.now_ms(), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The TCP stream, telling its [`Activity`] when bytes arrive.
#[derive(Debug)]
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
