//! The demo's HTTP listener: its own accept loop around hyper's HTTP/1.1 connection builder
//! (with hyper-util's tokio glue), serving the axum router with limits that keep idle, slow and
//! oversized clients from taking the server down, and optional TLS.
//!
//! | limit | where | default (`[http]`) |
//! |---|---|---|
//! | request head within `header_timeout` of its first byte (of the accept on a new connection, TLS handshake included) | the connection's watchdog; hyper's `header_read_timeout` as a backstop | 10 s |
//! | next request within `idle_timeout` on a kept-alive connection | the connection's watchdog | 30 s |
//! | a response that makes no progress (the client reads nothing, the kernel's buffer is full) for `write_timeout` | the socket wrapper notes a refused write; the connection's watchdog | 30 s |
//! | each piece of a body within `body_timeout`, then at least `body_min_rate` on average | [`TimedBody`] around the request body; `408` | 10 s, 4096 B/s |
//! | `Content-Length` over the route's limit | before the body is read; `413` | 2 MiB inject, 64 KiB others |
//! | connections in all, per peer address | the connection table (kumo-smtp's `ConnectionLimiter` counts); `503` | 4096 (below the file-handle limit), 256 |
//! | request head size | hyper's `max_buf_size` | 64 KiB |
//! | what a client that stopped reading can leave in the kernel | `SO_SNDBUF` | 256 KiB (the kernel doubles it); 16 KiB on a trace stream ([`SocketTuning`]) |
//!
//! When every place is taken, a new connection sheds the one that has waited longest without
//! a request in service (idle, silent, or still sending its head): a flood of idle or slow
//! connections cannot keep a normal client out. Only when every connection has a request in
//! service is the newcomer refused.
//!
//! # Implementation
//!
//! hyper 1 has one timer for the head of a request, and it also runs while a kept-alive
//! connection waits for its next request; it has no idle timeout of its own. The watchdog of
//! each connection therefore tracks three instants (waiting since, first byte since, requests
//! in service) through a wrapper of the socket and of each request and response body, and
//! closes the connection at the earlier of its deadlines; hyper's own timer is set to the sum
//! of both timeouts, so it only fires if the watchdog did not.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use kumo_smtp::{ConnectionLimiter, ConnectionPermit};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;

use crate::settings::HttpConfig;

/// File handles kept for everything but HTTP connections: at least this many, or an eighth
/// of the soft limit.
const RESERVED_FILES: u64 = 64;
/// How long to wait after a failed `accept` (out of file handles) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long a `503` to a refused connection may take to write.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// The process's file-handle limits (`RLIMIT_NOFILE`) after start raised the soft one to the
/// hard one; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FileLimits {
    /// The soft limit in force.
    pub soft: Option<u64>,
    /// The hard limit.
    pub hard: Option<u64>,
}

impl FileLimits {
    /// Raises the soft limit to the hard one (as nginx's `worker_rlimit_nofile` or KumoMTA's
    /// start-up do) and reads both back.
    pub(crate) fn raise() -> FileLimits {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let before = getrlimit(Resource::Nofile);
        if let Some(hard) = before.maximum
            && before.current.is_some_and(|soft| soft < hard)
        {
            // Refused only where the hard limit is above the kernel's ceiling: keep the soft.
            let _ = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(hard),
                    maximum: Some(hard),
                },
            );
        }
        let after = getrlimit(Resource::Nofile);
        FileLimits {
            soft: after.current,
            hard: after.maximum,
        }
    }

    /// The connection cap that fits: `wanted`, or fewer so that the other files (spool, SMTP,
    /// DNS, logs) keep `max(64, soft / 8)` handles.
    pub(crate) fn cap(&self, wanted: usize) -> usize {
        match self.soft {
            None => wanted,
            Some(soft) => {
                let room = soft.saturating_sub(RESERVED_FILES.max(soft / 8));
                wanted
                    .min(usize::try_from(room).unwrap_or(usize::MAX))
                    .max(1)
            }
        }
    }
}

/// The limits one listener runs with, fixed at start.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HttpLimits {
    /// See [`HttpConfig::header_timeout`].
    #[serde(serialize_with = "secs")]
    pub header_timeout: Duration,
    /// See [`HttpConfig::idle_timeout`].
    #[serde(serialize_with = "secs")]
    pub idle_timeout: Duration,
    /// See [`HttpConfig::body_timeout`].
    #[serde(serialize_with = "secs")]
    pub body_timeout: Duration,
    /// See [`HttpConfig::write_timeout`].
    #[serde(serialize_with = "secs")]
    pub write_timeout: Duration,
    /// See [`HttpConfig::body_min_rate`].
    pub body_min_rate: u64,
    /// The connection cap in force (the configured one, lowered to fit the file handles).
    pub max_connections: usize,
    /// See [`HttpConfig::max_connections_per_peer`].
    pub max_connections_per_peer: usize,
    /// See [`HttpConfig::max_header_bytes`].
    pub max_header_bytes: usize,
    /// The body limit of `POST /api/inject/v1` (kumo-inject's router's).
    pub inject_body_bytes: usize,
    /// See [`HttpConfig::max_body_bytes`].
    pub max_body_bytes: usize,
    /// See [`HttpConfig::send_buffer_bytes`].
    pub send_buffer_bytes: usize,
    /// The process's file-handle limits.
    pub files: FileLimits,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl HttpLimits {
    /// The limits of `config`, with the connection cap fitted to `files`.
    pub(crate) fn new(config: &HttpConfig, files: FileLimits) -> Self {
        Self {
            header_timeout: HttpConfig::duration(config.header_timeout),
            idle_timeout: HttpConfig::duration(config.idle_timeout),
            body_timeout: HttpConfig::duration(config.body_timeout),
            write_timeout: HttpConfig::duration(config.write_timeout),
            body_min_rate: config.body_min_rate,
            max_connections: files.cap(config.max_connections),
            max_connections_per_peer: config.max_connections_per_peer,
            max_header_bytes: config.max_header_bytes,
            // The demo's sink.rs builds kumo-inject's router with `RouterConfig::default()`.
            inject_body_bytes: kumo_inject::RouterConfig::default().body_limit,
            max_body_bytes: config.max_body_bytes,
            send_buffer_bytes: config.send_buffer_bytes,
            files,
        }
    }

    /// The largest body the route of `path` reads.
    fn body_limit(&self, path: &str) -> usize {
        if path == kumo_inject::INJECT_PATH {
            self.inject_body_bytes
        } else {
            self.max_body_bytes
        }
    }
}

/// Counts of what the listener did since start (`GET /api/http`).
#[derive(Debug, Default, serde::Serialize)]
pub struct HttpCounters {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections refused because every place held a request in service.
    pub refused_full: AtomicU64,
    /// Connections refused over the per-peer cap.
    pub refused_per_peer: AtomicU64,
    /// Waiting connections closed to make room for a new one.
    pub shed: AtomicU64,
    /// Connections closed because a request head was not complete in time (or the TLS
    /// handshake).
    pub header_timeouts: AtomicU64,
    /// Kept-alive connections closed after `idle_timeout` without a request.
    pub idle_timeouts: AtomicU64,
    /// Connections closed because a response made no progress for `write_timeout`.
    pub write_timeouts: AtomicU64,
    /// Requests answered `408` because their body was too slow.
    pub body_timeouts: AtomicU64,
    /// Requests answered `413` from their `Content-Length`.
    pub too_large: AtomicU64,
    /// TLS handshakes that failed.
    pub tls_failures: AtomicU64,
}

/// What the listener runs with and has done (`GET /api/http`, `Demo::http_info`).
#[derive(Debug, serde::Serialize)]
pub struct HttpInfo {
    /// `https` or `http`.
    pub scheme: &'static str,
    /// The limits in force.
    pub limits: HttpLimits,
    /// Connections open now.
    #[serde(skip)]
    table: Arc<ConnTable>,
    /// Counts since start.
    pub counters: HttpCounters,
}

impl HttpInfo {
    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.table.limiter.active()
    }
}

/// The document of `GET /api/http`.
#[derive(serde::Serialize)]
struct HttpDocument<'a> {
    #[serde(flatten)]
    info: &'a HttpInfo,
    open_connections: usize,
}

/// `GET /api/http`: the limits in force (file handles included) and the counters.
pub(crate) fn routes(info: Arc<HttpInfo>) -> Router {
    Router::new().route(
        "/api/http",
        axum::routing::get(
            |axum::extract::State(info): axum::extract::State<Arc<HttpInfo>>| async move {
                axum::Json(
                    serde_json::to_value(HttpDocument {
                        open_connections: info.open_connections(),
                        info: &info,
                    })
                    .unwrap_or_default(),
                )
            },
        )
        .with_state(info),
    )
}

/// Milliseconds since the table's epoch: the instants of [`ConnState`].
fn millis(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
}

/// One connection as its watchdog, its socket wrapper and its requests see it.
#[derive(Debug)]
struct ConnState {
    /// Requests in service (from head parsed to response body dropped).
    in_service: AtomicUsize,
    /// Whether a request was answered (the wait is then the idle one).
    answered: AtomicBool,
    /// Since when (ms) the connection waits without a request in service.
    waiting_since: AtomicU64,
    /// 1 + the ms of the first byte read while waiting; 0 when none.
    first_byte: AtomicU64,
    /// Told to close (shed, or the server stops).
    close: Notify,
    /// A request began or ended: deadlines moved.
    changed: Notify,
    /// A handler's request for a new `SO_SNDBUF` (bytes; 0: none pending), applied by the
    /// connection's next write: see [`SocketTuning`].
    send_buffer: AtomicUsize,
    /// 1 + the ms since which writes are refused (the client reads nothing); 0 when the last
    /// write went through.
    write_blocked: AtomicU64,
}

impl ConnState {
    fn new(now_ms: u64) -> Self {
        Self {
            in_service: AtomicUsize::new(0),
            answered: AtomicBool::new(false),
            waiting_since: AtomicU64::new(now_ms),
            first_byte: AtomicU64::new(0),
            close: Notify::new(),
            changed: Notify::new(),
            send_buffer: AtomicUsize::new(0),
            write_blocked: AtomicU64::new(0),
        }
    }

    fn waiting(&self) -> bool {
        self.in_service.load(Ordering::Acquire) == 0
    }

    fn read_some(&self, now_ms: u64) {
        if self.waiting() && self.first_byte.load(Ordering::Relaxed) == 0 {
            self.first_byte.store(now_ms + 1, Ordering::Relaxed);
        }
    }

    fn begin(&self) {
        self.in_service.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_one();
    }

    fn end(&self, now_ms: u64) {
        self.answered.store(true, Ordering::Relaxed);
        self.first_byte.store(0, Ordering::Relaxed);
        self.waiting_since.store(now_ms, Ordering::Relaxed);
        self.in_service.fetch_sub(1, Ordering::AcqRel);
        self.changed.notify_one();
    }

    /// A write was refused (`blocked`) or went through, at `now_ms`; a new block moves the
    /// deadline, so the watchdog is told.
    fn wrote(&self, blocked: bool, now_ms: u64) {
        let was = self.write_blocked.load(Ordering::Relaxed);
        if blocked && was == 0 {
            self.write_blocked.store(now_ms + 1, Ordering::Relaxed);
            self.changed.notify_one();
        } else if !blocked && was != 0 {
            self.write_blocked.store(0, Ordering::Relaxed);
        }
    }

    /// When the connection must close (ms), and why: a response that made no progress for
    /// `write_timeout`, or, while no request is in service, the head or idle deadline.
    fn deadline(&self, limits: &HttpLimits) -> Option<(u64, Expiry)> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let blocked = self.write_blocked.load(Ordering::Relaxed);
        let write = (blocked > 0).then(|| {
            (
                (blocked - 1).saturating_add(ms(limits.write_timeout)),
                Expiry::Write,
            )
        });
        let wait = self.waiting().then(|| {
            let first = self.first_byte.load(Ordering::Relaxed);
            let since = self.waiting_since.load(Ordering::Relaxed);
            if first > 0 {
                (
                    (first - 1).saturating_add(ms(limits.header_timeout)),
                    Expiry::Head,
                )
            } else if self.answered.load(Ordering::Relaxed) {
                (since.saturating_add(ms(limits.idle_timeout)), Expiry::Idle)
            } else {
                (
                    since.saturating_add(ms(limits.header_timeout)),
                    Expiry::Head,
                )
            }
        });
        match (write, wait) {
            (Some(w), Some(h)) => Some(if w.0 <= h.0 { w } else { h }),
            (w, h) => w.or(h),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Head,
    Idle,
    Write,
}

/// Why a connection was not admitted. Transient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// Every place holds a request in service.
    Full,
    /// The peer has its cap of connections open.
    PerPeer,
}

struct Entry {
    state: Arc<ConnState>,
    _permit: ConnectionPermit,
}

/// The open connections: kumo-smtp's [`ConnectionLimiter`] counts them (in all and per
/// peer); the table keeps each one's permit and state so that a waiting one can be shed.
struct ConnTable {
    limiter: ConnectionLimiter,
    per_peer: usize,
    conns: Mutex<(u64, HashMap<u64, Entry>)>,
}

impl std::fmt::Debug for ConnTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnTable")
            .field("open", &self.limiter.active())
            .finish_non_exhaustive()
    }
}

impl ConnTable {
    fn new(limits: &HttpLimits) -> Self {
        Self {
            limiter: ConnectionLimiter::new(
                limits.max_connections,
                limits.max_connections_per_peer,
            ),
            per_peer: limits.max_connections_per_peer,
            conns: Mutex::new((0, HashMap::new())),
        }
    }

    /// A place for a connection from `peer` at `now_ms`; when all are taken, the connection
    /// waiting longest without a request in service is told to close and loses its place.
    /// Returns the id, the state and whether a connection was shed.
    fn admit(&self, peer: IpAddr, now_ms: u64) -> Result<(u64, Arc<ConnState>, bool), Refused> {
        let mut g = self.conns.lock();
        if self.limiter.active_from(peer) >= self.per_peer {
            return Err(Refused::PerPeer);
        }
        let mut shed = false;
        let permit = match self.limiter.try_acquire(peer) {
            Ok(p) => p,
            Err(_) => {
                let oldest =
                    g.1.iter()
                        .filter(|(_, e)| e.state.waiting())
                        .min_by_key(|(_, e)| e.state.waiting_since.load(Ordering::Relaxed))
                        .map(|(id, _)| *id);
                let Some(victim) = oldest.and_then(|id| g.1.remove(&id)) else {
                    return Err(Refused::Full);
                };
                victim.state.close.notify_one();
                drop(victim);
                shed = true;
                self.limiter.try_acquire(peer).map_err(|_| Refused::Full)?
            }
        };
        g.0 += 1;
        let id = g.0;
        let state = Arc::new(ConnState::new(now_ms));
        g.1.insert(
            id,
            Entry {
                state: state.clone(),
                _permit: permit,
            },
        );
        Ok((id, state, shed))
    }

    fn remove(&self, id: u64) {
        let removed = self.conns.lock().1.remove(&id);
        drop(removed);
    }

    fn close_all(&self) {
        for e in self.conns.lock().1.values() {
            e.state.close.notify_one();
        }
    }
}

/// A request's handle on its own connection's socket, as a request extension.
///
/// A handler that answers with a long-lived stream (the trace stream) asks for a small kernel
/// send buffer: what a client that stops reading can make the server encode and hand to the
/// kernel before the stream blocks (and its trace subscription is parked) is then this buffer,
/// not the connection's default `send_buffer_bytes`.
#[derive(Clone)]
pub(crate) struct SocketTuning(Arc<ConnState>);

impl SocketTuning {
    /// `SO_SNDBUF` of `bytes` (the kernel doubles it and keeps its own minimum) from the
    /// connection's next write on.
    pub(crate) fn set_send_buffer(&self, bytes: usize) {
        self.0.send_buffer.store(bytes.max(1), Ordering::Relaxed);
    }
}

/// The TCP socket under a connection's stream (plain or TLS), for socket options.
pub(crate) trait HasSocket {
    /// The socket.
    fn socket(&self) -> &TcpStream;
}

impl HasSocket for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl HasSocket for tokio_rustls::server::TlsStream<TcpStream> {
    fn socket(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// The socket, noting the first byte that arrives while the connection waits.
struct Watched<IO> {
    io: IO,
    state: Arc<ConnState>,
    epoch: Instant,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.read_some(millis(self.epoch, Instant::now()));
        }
        r
    }
}

impl<IO> Watched<IO> {
    /// Notes whether a write went through, for the write deadline.
    fn note<T>(&self, r: Poll<T>) -> Poll<T> {
        let now = || millis(self.epoch, Instant::now());
        match r {
            Poll::Pending => self.state.wrote(true, now()),
            Poll::Ready(_) if self.state.write_blocked.load(Ordering::Relaxed) != 0 => {
                self.state.wrote(false, now())
            }
            Poll::Ready(_) => {}
        }
        r
    }
}

impl<IO: HasSocket> Watched<IO> {
    /// Applies a handler's pending [`SocketTuning`] request (best effort: a refusal leaves
    /// the buffer as it was).
    fn tune(&self) {
        if self.state.send_buffer.load(Ordering::Relaxed) != 0 {
            let bytes = self.state.send_buffer.swap(0, Ordering::Relaxed);
            let _ = rustix::net::sockopt::set_socket_send_buffer_size(self.io.socket(), bytes);
        }
    }
}

impl<IO: AsyncWrite + HasSocket + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.tune();
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.note(r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.tune();
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.note(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.note(r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A request body that failed to arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
struct BodyTooSlow;

/// The request body with `body_timeout` between pieces and `body_min_rate` on average after
/// the first `body_timeout`. A failure is an error to the handler and sets `timed_out`, which
/// turns its answer into `408`.
struct TimedBody {
    inner: Incoming,
    started: Instant,
    last: Instant,
    received: u64,
    timeout: Duration,
    min_rate: u64,
    sleep: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
}

impl TimedBody {
    fn new(inner: Incoming, limits: &HttpLimits, timed_out: Arc<AtomicBool>) -> Self {
        let now = Instant::now();
        Self {
            inner,
            started: now,
            last: now,
            received: 0,
            timeout: limits.body_timeout,
            min_rate: limits.body_min_rate,
            sleep: Box::pin(tokio::time::sleep(limits.body_timeout)),
            timed_out,
        }
    }

    /// The next instant the body must have made progress by.
    fn deadline(&self) -> Instant {
        let gap = self.last + self.timeout;
        if self.min_rate == 0 {
            return gap;
        }
        // Saturating: a huge body at a tiny rate owes more time than an Instant can hold.
        let owed = Duration::try_from_secs_f64(self.received as f64 / self.min_rate as f64)
            .unwrap_or(Duration::MAX);
        match self
            .started
            .checked_add(self.timeout)
            .and_then(|t| t.checked_add(owed))
        {
            Some(paced) => gap.min(paced),
            None => gap,
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    let now = Instant::now();
                    this.received += d.len() as u64;
                    this.last = now;
                    let deadline = this.deadline();
                    if deadline <= now {
                        this.timed_out.store(true, Ordering::Relaxed);
                        return Poll::Ready(Some(Err(Box::new(BodyTooSlow))));
                    }
                    this.sleep.as_mut().reset(deadline.into());
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if this.sleep.as_mut().poll(cx).is_ready() {
                    this.timed_out.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(Box::new(BodyTooSlow))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Marks the request out of service when the response body is dropped (written or not).
struct InService {
    state: Arc<ConnState>,
    epoch: Instant,
}

impl Drop for InService {
    fn drop(&mut self) {
        self.state.end(millis(self.epoch, Instant::now()));
    }
}

/// The response body, holding the request's place in service until it is dropped.
struct GuardedBody {
    inner: Body,
    _in_service: InService,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    // The body was not read: the connection cannot carry another request.
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Everything a connection's requests need.
struct Shared {
    app: Router,
    limits: HttpLimits,
    info: Arc<HttpInfo>,
    epoch: Instant,
}

async fn handle(
    shared: Arc<Shared>,
    state: Arc<ConnState>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<GuardedBody> {
    state.begin();
    let in_service = InService {
        state,
        epoch: shared.epoch,
    };
    let limit = shared.limits.body_limit(req.uri().path());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let resp = if declared.is_some_and(|n| n > limit as u64) {
        shared
            .info
            .counters
            .too_large
            .fetch_add(1, Ordering::Relaxed);
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Failed to buffer the request body: length limit exceeded\n",
        )
    } else {
        let timed_out = Arc::new(AtomicBool::new(false));
        let (parts, body) = req.into_parts();
        let body = Body::new(TimedBody::new(body, &shared.limits, timed_out.clone()));
        let mut req = Request::from_parts(parts, body);
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut()
            .insert(SocketTuning(in_service.state.clone()));
        let resp = match shared.app.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        if timed_out.load(Ordering::Relaxed) {
            shared
                .info
                .counters
                .body_timeouts
                .fetch_add(1, Ordering::Relaxed);
            plain(
                StatusCode::REQUEST_TIMEOUT,
                "the request body arrived too slowly\n",
            )
        } else {
            resp
        }
    };
    resp.map(|inner| GuardedBody {
        inner,
        _in_service: in_service,
    })
}

/// Serves one connection until it ends, times out, is shed or the server stops.
async fn serve_io<IO>(
    io: IO,
    peer: SocketAddr,
    state: Arc<ConnState>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + HasSocket + Unpin + Send + 'static,
{
    let epoch = shared.epoch;
    let limits = shared.limits.clone();
    let io = TokioIo::new(Watched {
        io,
        state: state.clone(),
        epoch,
    });
    let svc_state = state.clone();
    let svc_shared = shared.clone();
    let service = hyper::service::service_fn(move |req| {
        let (shared, state) = (svc_shared.clone(), svc_state.clone());
        async move { Ok::<_, Infallible>(handle(shared, state, peer, req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout + limits.idle_timeout)
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = state.deadline(&limits);
        let sleep = match deadline {
            Some((ms, _)) => tokio::time::sleep_until((epoch + Duration::from_millis(ms)).into()),
            None => tokio::time::sleep(limits.idle_timeout.max(limits.header_timeout)),
        };
        tokio::select! {
            _ = conn.as_mut() => break,
            () = state.close.notified() => break,
            () = state.changed.notified() => {}
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = sleep => {
                let now = millis(epoch, Instant::now());
                if let Some((at, why)) = state.deadline(&limits)
                    && at <= now
                {
                    let c = &shared.info.counters;
                    match why {
                        Expiry::Head => c.header_timeouts.fetch_add(1, Ordering::Relaxed),
                        Expiry::Idle => c.idle_timeouts.fetch_add(1, Ordering::Relaxed),
                        Expiry::Write => c.write_timeouts.fetch_add(1, Ordering::Relaxed),
                    };
                    break;
                }
            }
        }
    }
}

/// A running listener, as `Demo` keeps it.
#[derive(Debug)]
pub(crate) struct HttpServer {
    /// The bound address.
    pub(crate) addr: SocketAddr,
    /// What it runs with and has done.
    pub(crate) info: Arc<HttpInfo>,
}

/// Serves `listener` with `app` under `limits` (and TLS when `tls` is set) until `shutdown`
/// resolves; then stops accepting, lets requests in service finish and closes the rest.
/// `compose` gets the router and the listener's [`HttpInfo`] and returns what is served (the
/// demo adds `GET /api/http` and its authentication layer there). Returns the listener's
/// description and the serving future.
pub(crate) fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    tls: Option<Arc<kumo_smtp::rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    compose: impl FnOnce(Router, Arc<HttpInfo>) -> Router,
) -> io::Result<(HttpServer, impl Future<Output = ()> + Send + 'static)> {
    let addr = listener.local_addr()?;
    let epoch = Instant::now();
    let table = Arc::new(ConnTable::new(&limits));
    let info = Arc::new(HttpInfo {
        scheme: if tls.is_some() { "https" } else { "http" },
        limits: limits.clone(),
        table: table.clone(),
        counters: HttpCounters::default(),
    });
    let shared = Arc::new(Shared {
        app: compose(app, info.clone()),
        limits,
        info: info.clone(),
        epoch,
    });
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let run = accept_loop(listener, shared, table, acceptor, shutdown);
    Ok((HttpServer { addr, info }, run))
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    table: Arc<ConnTable>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Dropping the set (the task aborted) closes every connection.
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(_) => {
                // Out of file handles, or a connection reset before accept: wait a little.
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let counters = &shared.info.counters;
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        // An IPv4 peer seen through an IPv6 socket counts as that IPv4 peer.
        let ip = peer.ip().to_canonical();
        let (id, state, shed) = match table.admit(ip, millis(shared.epoch, Instant::now())) {
            Ok(a) => a,
            Err(why) => {
                match why {
                    Refused::Full => counters.refused_full.fetch_add(1, Ordering::Relaxed),
                    Refused::PerPeer => counters.refused_per_peer.fetch_add(1, Ordering::Relaxed),
                };
                if acceptor.is_none() {
                    conns.spawn(refuse(tcp, why));
                }
                continue;
            }
        };
        if shed {
            counters.shed.fetch_add(1, Ordering::Relaxed);
        }
        let _ = tcp.set_nodelay(true);
        if shared.limits.send_buffer_bytes > 0 {
            // Best effort: a refusal leaves the kernel's sizing.
            let _ = rustix::net::sockopt::set_socket_send_buffer_size(
                &tcp,
                shared.limits.send_buffer_bytes,
            );
        }
        let (shared, table, stop) = (shared.clone(), table.clone(), stop_rx.clone());
        let acceptor = acceptor.clone();
        conns.spawn(async move {
            match acceptor {
                None => serve_io(tcp, peer, state, shared.clone(), stop).await,
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        h = tokio::time::timeout(shared.limits.header_timeout, acceptor.accept(tcp)) => h,
                        () = state.close.notified() => {
                            table.remove(id);
                            return;
                        }
                    };
                    match handshake {
                        Ok(Ok(tls)) => serve_io(tls, peer, state, shared.clone(), stop).await,
                        Ok(Err(_)) => {
                            shared
                                .info
                                .counters
                                .tls_failures
                                .fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            shared
                                .info
                                .counters
                                .header_timeouts
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            table.remove(id);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Connections without a request in service close now; the others after their answer.
    for e in table.conns.lock().1.values() {
        if e.state.waiting() {
            e.state.close.notify_one();
        }
    }
    while conns.join_next().await.is_some() {}
    table.close_all();
}

/// Answers a connection over a cap `503` (with `Retry-After`) and closes it.
async fn refuse(mut tcp: TcpStream, why: Refused) {
    let text: &[u8] = match why {
        Refused::Full => {
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 21\r\n\r\ntoo many connections\n"
        }
        Refused::PerPeer => {
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 39\r\n\r\ntoo many connections from your address\n"
        }
    };
    let _ = tokio::time::timeout(REFUSAL_WRITE, async {
        tcp.write_all(text).await?;
        tcp.shutdown().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_peer: usize) -> HttpLimits {
        let config = HttpConfig {
            max_connections: max,
            max_connections_per_peer: per_peer,
            ..HttpConfig::default()
        };
        HttpLimits::new(
            &config,
            FileLimits {
                soft: None,
                hard: None,
            },
        )
    }

    #[test]
    fn the_cap_leaves_room_for_other_files() {
        let f = |soft| FileLimits {
            soft: Some(soft),
            hard: Some(soft),
        };
        assert_eq!(f(20_000).cap(4096), 4096);
        assert_eq!(f(1024).cap(4096), 1024 - 128);
        assert_eq!(f(256).cap(4096), 256 - 64);
        assert_eq!(f(10).cap(4096), 1);
    }

    #[test]
    fn bodies_over_the_route_limit() {
        let l = limits(10, 10);
        assert_eq!(l.body_limit("/api/inject/v1"), 2 << 20);
        assert_eq!(l.body_limit("/api/status"), 64 * 1024);
    }

    #[test]
    fn a_full_table_sheds_the_longest_waiting_and_refuses_when_all_are_busy() {
        let l = limits(2, 2);
        let t = ConnTable::new(&l);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let (id1, s1, shed) = t.admit(a, 10).unwrap();
        assert!(!shed);
        let (_, s2, _) = t.admit(a, 20).unwrap();
        assert_eq!(t.admit(a, 30).unwrap_err(), Refused::PerPeer);
        // Full: the first (waiting since 10) goes.
        let (_, s3, shed) = t.admit(b, 40).unwrap();
        assert!(shed);
        assert!(!t.conns.lock().1.contains_key(&id1));
        drop(s1);
        // Both remaining connections are in service: nothing to shed.
        s2.begin();
        s3.begin();
        assert_eq!(t.admit(b, 50).unwrap_err(), Refused::Full);
        s2.end(60);
        let (_, _, shed) = t.admit(b, 70).unwrap();
        assert!(shed);
    }

    #[test]
    fn deadlines_follow_the_connection() {
        let l = limits(2, 2);
        let s = ConnState::new(1000);
        let head = l.header_timeout.as_millis() as u64;
        let idle = l.idle_timeout.as_millis() as u64;
        assert_eq!(s.deadline(&l), Some((1000 + head, Expiry::Head)));
        s.begin();
        assert_eq!(s.deadline(&l), None);
        s.end(5000);
        assert_eq!(s.deadline(&l), Some((5000 + idle, Expiry::Idle)));
        s.read_some(6000);
        assert_eq!(s.deadline(&l), Some((6000 + head, Expiry::Head)));
    }
}
