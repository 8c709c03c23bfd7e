//! The axum router for `POST /api/inject/v1`, with KumoMTA's status codes.

use crate::error::error_chain;
use crate::injector::{InjectError, Injector, RequestContext};
use crate::model::InjectRequest;
use crate::ratelimit::{RateKeyContext, RateLimited, RecipientRateLimit};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt as _;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The path KumoMTA serves the API on.
pub const INJECT_PATH: &str = "/api/inject/v1";

/// The response header that carries the batch id (an extension; the body stays KumoMTA's).
pub const BATCH_ID_HEADER: &str = "kumo-batch-id";

/// Configuration of the HTTP layer.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// The largest request body, compressed or not (default 2 MiB, KumoMTA's).
    pub body_limit: usize,
    /// The recipient rate limit, checked after parsing and before generation.
    pub rate_limit: Option<RecipientRateLimit>,
    /// The request header naming the tenant, for [`KeyBy::Tenant`](crate::KeyBy::Tenant).
    pub tenant_header: Option<HeaderName>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            body_limit: 2 << 20,
            rate_limit: None,
            tenant_header: None,
        }
    }
}

#[derive(Debug)]
struct HttpState {
    injector: Injector,
    config: RouterConfig,
}

/// A router serving `POST /api/inject/v1`, to `merge` or `nest` into the host's own router.
///
/// Status codes: 400 malformed JSON or corrupt compressed body; 415 a `Content-Type` other than
/// JSON or an unknown `Content-Encoding`; 413 a body (before or after gzip/deflate decoding) over
/// [`RouterConfig::body_limit`]; 422 a request that does not fit the schema, a template that does
/// not compile, an invalid sender or a batch larger than the rate limit's burst; 429 over the
/// rate limit (with `Retry-After` and `RateLimit-*`), or a full deferred queue when so
/// configured; 503 when the host's [`Admission`](crate::Admission) refuses, the job store fails,
/// the deferred queue is full or the host's [`MessageSink::flush`](crate::MessageSink::flush)
/// fails; 200 otherwise, with per-recipient failures in the body.
///
/// The peer address (for `Received:` and [`KeyBy::Peer`](crate::KeyBy::Peer)) comes from axum's
/// `ConnectInfo<SocketAddr>` when the host serves with `into_make_service_with_connect_info`.
pub fn router<S>(injector: Injector, config: RouterConfig) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(INJECT_PATH, post(handle))
        .with_state(Arc::new(HttpState { injector, config }))
}

fn text(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (
        status,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Error: {msg}"),
    )
        .into_response()
}

fn secs(d: Duration) -> HeaderValue {
    let s = (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1);
    HeaderValue::from(s)
}

enum Encoding {
    Gzip,
    Deflate,
}

enum Decode {
    TooLarge,
    Corrupt(std::io::Error),
}

fn decompress(data: &[u8], enc: Encoding, limit: usize) -> Result<Bytes, Decode> {
    let mut out = Vec::with_capacity((data.len() * 4).min(limit));
    let cap = limit as u64 + 1;
    let r = match enc {
        Encoding::Gzip => flate2::read::MultiGzDecoder::new(data)
            .take(cap)
            .read_to_end(&mut out),
        Encoding::Deflate => {
            // HTTP's "deflate" is zlib-wrapped; some clients send raw deflate.
            let zlib = flate2::read::ZlibDecoder::new(data)
                .take(cap)
                .read_to_end(&mut out);
            if zlib.is_err() {
                out.clear();
                flate2::read::DeflateDecoder::new(data)
                    .take(cap)
                    .read_to_end(&mut out)
            } else {
                zlib
            }
        }
    };
    r.map_err(Decode::Corrupt)?;
    if out.len() > limit {
        return Err(Decode::TooLarge);
    }
    Ok(out.into())
}

fn rate_headers(h: &mut HeaderMap, limit: u64, remaining: u64, reset: Duration) {
    h.insert("ratelimit-limit", HeaderValue::from(limit));
    h.insert("ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("ratelimit-reset", secs(reset));
}

async fn handle(State(st): State<Arc<HttpState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Err(refusal) = st.injector.admit() {
        let mut r = text(StatusCode::SERVICE_UNAVAILABLE, &refusal);
        if let Some(d) = refusal.retry_after() {
            r.headers_mut().insert(RETRY_AFTER, secs(d));
        }
        return r;
    }
    let json = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/json")
                || essence.to_ascii_lowercase().ends_with("+json")
        });
    if !json {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expected request with `Content-Type: application/json`",
        );
    }
    let encoding = match parts
        .headers
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("" | "identity") => None,
        Some("gzip" | "x-gzip") => Some(Encoding::Gzip),
        Some("deflate") => Some(Encoding::Deflate),
        Some(_) => {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported Content-Encoding (gzip, deflate and identity are accepted)",
            );
        }
    };
    let limit = st.config.body_limit;
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Failed to buffer the request body: length limit exceeded",
            );
        }
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("reading the body: {e}")),
    };
    let bytes = match encoding {
        None => bytes,
        Some(enc) => match decompress(&bytes, enc, limit) {
            Ok(b) => b,
            Err(Decode::TooLarge) => {
                return text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Failed to buffer the request body: length limit exceeded",
                );
            }
            Err(Decode::Corrupt(e)) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("corrupt compressed body: {e}"),
                );
            }
        },
    };
    let request = match InjectRequest::from_json(&bytes) {
        Ok(r) => r,
        Err(e) => {
            let status = if e.is_syntax() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            return text(status, error_chain(&e));
        }
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let mut extra = HeaderMap::new();
    if let Some(rl) = &st.config.rate_limit {
        let tenant = st
            .config
            .tenant_header
            .as_ref()
            .and_then(|h| parts.headers.get(h))
            .and_then(|v| v.to_str().ok());
        let ctx = RateKeyContext { tenant, peer };
        match rl.admit(&ctx, request.recipients.len() as u64).await {
            Ok(a) => rate_headers(&mut extra, a.limit, a.remaining, a.reset_after),
            Err(e) => return rate_limited(&e),
        }
    }
    let result = st
        .injector
        .inject_request(request, bytes, RequestContext { peer })
        .await;
    let mut resp = match result {
        Ok(done) => {
            let body = serde_json::to_vec(&done.response()).unwrap_or_default();
            let mut r = Response::new(Body::from(body));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Ok(v) = HeaderValue::from_str(done.batch_id().as_str()) {
                r.headers_mut().insert(BATCH_ID_HEADER, v);
            }
            r
        }
        Err(e) => inject_error(&e),
    };
    resp.headers_mut().extend(extra);
    resp
}

fn inject_error(e: &InjectError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = text(status, error_chain(e));
    if let Some(d) = e.retry_after() {
        r.headers_mut().insert(RETRY_AFTER, secs(d));
    }
    r
}

fn rate_limited(e: &RateLimited) -> Response {
    match e {
        RateLimited::BatchTooLarge { .. } => text(StatusCode::UNPROCESSABLE_ENTITY, error_chain(e)),
        RateLimited::Limited {
            retry_after,
            limit,
            remaining,
            reset_after,
        } => {
            let mut r = text(StatusCode::TOO_MANY_REQUESTS, error_chain(e));
            r.headers_mut().insert(RETRY_AFTER, secs(*retry_after));
            rate_headers(r.headers_mut(), *limit, *remaining, *reset_after);
            r
        }
        _ => text(StatusCode::SERVICE_UNAVAILABLE, error_chain(e)),
    }
}
