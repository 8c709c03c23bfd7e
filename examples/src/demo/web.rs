//! The demo's HTTP routes besides injection and metrics: the index, a status document, and the
//! trace stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use kumo_trace::{SubscribeOptions, Timestamp};

use super::engine::Engine;

/// Query of `GET /api/trace/v1`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TraceQuery {
    terse: bool,
    only_new: bool,
    only_one: bool,
    /// `client` (delivery sessions) or `server` (the ESMTP listener's sessions); both when
    /// absent.
    side: Option<TraceSide>,
}

/// The `side` of `GET /api/trace/v1`, as `kcli trace-smtp-client` and `trace-smtp-server`.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum TraceSide {
    Client,
    Server,
}

/// The status document of `GET /api/status`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Status {
    /// Messages accepted by the injection API.
    pub injected: u64,
    /// Messages not yet delivered or bounced.
    pub pending: u64,
    /// Messages in the scheduled queue now.
    pub scheduled: u64,
    /// Message entries in the spool now.
    pub spooled: i64,
    /// `deferred_generation` jobs not yet completed.
    pub jobs: u64,
    /// Messages recovered from the spool at start.
    pub recovered: u64,
    /// `deferred_generation` jobs recovered from the spool at start (and resumed).
    pub recovered_jobs: u64,
    /// How long the recovery took, in seconds.
    pub recovery_seconds: f64,
    /// The spool folder.
    pub spool_dir: String,
    /// The config folder.
    pub config_dir: String,
    /// The epoch of the config files on disk.
    pub config_epoch: u64,
    /// The epoch of the configuration in force.
    pub config_applied_epoch: Option<u64>,
    /// The error of the last config reload, while the files stay broken.
    pub config_error: Option<String>,
    /// The configuration in force, as JSON.
    pub config: serde_json::Value,
}

pub(crate) fn status(engine: &Engine) -> Status {
    let cfg = engine.config.current();
    Status {
        injected: engine.ledger.injected_count(),
        pending: engine.ledger.pending(),
        scheduled: engine.sched.with(|s| s.len() as u64).unwrap_or(0),
        spooled: engine.spool.live(),
        jobs: engine.jobs.get().map_or(0, |j| j.len() as u64),
        recovered: engine.metrics.spool_recovered.get().max(0) as u64,
        recovered_jobs: engine.metrics.spool_recovered_jobs.get().max(0) as u64,
        recovery_seconds: engine.metrics.spool_recovery_ms.get().max(0) as f64 / 1000.0,
        spool_dir: engine.spool.dir().display().to_string(),
        config_dir: engine.config.dir().display().to_string(),
        config_epoch: engine.config.epoch(),
        config_applied_epoch: engine.config.loaded_epoch(),
        config_error: engine.config.last_error(),
        config: serde_json::to_value(&*cfg).unwrap_or(serde_json::Value::Null),
    }
}

pub(crate) fn routes(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/status", get(status_handler))
        .route("/api/trace/v1", get(trace_handler))
        .with_state(engine)
}

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "kumo demo MTA\n\
         \n\
         POST /api/inject/v1   inject messages (KumoMTA's inject v1 JSON)\n\
         GET  /metrics         Prometheus text (gzip/deflate on Accept-Encoding)\n\
         GET  /metrics.json    the same as JSON\n\
         GET  /api/trace/v1    SMTP sessions as JSON lines (?terse=true&only_new=true&only_one=true&side=client|server)\n\
         GET  /api/status      counts and the configuration in force\n",
    )
}

async fn status_handler(State(engine): State<Arc<Engine>>) -> impl IntoResponse {
    axum::Json(status(&engine))
}

/// `SO_SNDBUF` of a trace stream's connection (the kernel doubles it): see
/// [`SocketTuning`](super::http_server::SocketTuning).
const TRACE_SEND_BUFFER: usize = 16 * 1024;

/// The most bytes of lines a trace stream gathers into one chunk.
const TRACE_CHUNK: usize = 32 * 1024;

async fn trace_handler(
    State(engine): State<Arc<Engine>>,
    socket: Option<Extension<super::http_server::SocketTuning>>,
    query: Result<Query<TraceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return (
            StatusCode::BAD_REQUEST,
            "expected terse, only_new, only_one as true/false, side as client or server\n",
        )
            .into_response();
    };
    let mut filter = kumo_trace::MetaFilter::new();
    if let Some(side) = q.side {
        filter = filter.with_side(match side {
            TraceSide::Client => kumo_trace::Side::Client,
            TraceSide::Server => kumo_trace::Side::Server,
        });
    }
    // The `[trace]` limits in force, then a place for this stream (or 503).
    let limits = engine.config.current().trace;
    let stall = Duration::from_millis(limits.stall_timeout_ms);
    let mut config = engine.trace.config();
    config.max_subscribers = limits.max_subscribers;
    config.stall_timeout = stall;
    if engine.trace.config() != config {
        engine.trace.set_config(config);
    }
    engine
        .trace
        .expire_stalled(Timestamp::from_system_time(SystemTime::now()));
    let sub = match engine.trace.try_subscribe(SubscribeOptions {
        terse: q.terse,
        only_new: q.only_new,
        only_one: q.only_one,
        filter,
        max_bytes: limits.buffer_bytes,
        ..SubscribeOptions::default()
    }) {
        Ok(sub) => sub,
        Err(e) => {
            let retry = stall.as_secs().max(1).to_string();
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, retry)],
                format!("{e}; try again later\n"),
            )
                .into_response();
        }
    };
    // While only stalled streams are left nothing is published to them (events are not even
    // built), so a watchdog passes the time to the hub: a stream whose client stopped reading
    // is dropped one stall timeout after its buffer filled. It ends with the response body.
    let (alive, mut gone) = tokio::sync::oneshot::channel::<()>();
    let hub = engine.trace.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(
            (stall / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)),
        );
        loop {
            tokio::select! {
                _ = &mut gone => break,
                _ = tick.tick() => {
                    hub.expire_stalled(Timestamp::from_system_time(SystemTime::now()));
                }
            }
        }
    });
    // What a client that stops reading can make this stream encode and hand to the kernel
    // before it blocks (and the hub parks it): a small socket buffer, not the connection's.
    if let Some(Extension(socket)) = socket {
        socket.set_send_buffer(TRACE_SEND_BUFFER);
    }
    // Each wake sends what has arrived since, as one chunk: lines are encoded once per event
    // for all streams (`Received::json_line`), so a chunk costs a copy of their bytes.
    let stream = futures_util::stream::unfold((sub, alive), |(mut sub, alive)| async move {
        let first = sub.recv().await?.json_line();
        let mut chunk = Vec::new();
        while chunk.len() < TRACE_CHUNK {
            let Ok(ev) = sub.try_recv() else { break };
            if chunk.is_empty() {
                chunk.extend_from_slice(first.as_ref());
            }
            chunk.extend_from_slice(ev.json_line().as_ref());
        }
        let bytes = match chunk.is_empty() {
            true => Bytes::from_owner(first),
            false => Bytes::from(chunk),
        };
        Some((Ok::<_, Infallible>(bytes), (sub, alive)))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}
