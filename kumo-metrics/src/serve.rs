//! The axum handler serving `/metrics` and `/metrics.json` (feature `axum`).

use crate::{ContentEncoding, Format, Registry, ScrapeOptions};
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};

/// A streamed, compressed response for one scrape of `registry` with `options`, with the
/// coding chosen from the request's `Accept-Encoding` header.
///
/// The body is produced chunk by chunk as the client reads it: memory is O(chunk size).
pub fn metrics_response(
    registry: &Registry,
    options: &ScrapeOptions,
    request_headers: &HeaderMap,
) -> Response {
    let accept = request_headers
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let encoding = ContentEncoding::negotiate(accept);
    let chunk = options.get_chunk_size();
    let body = encoding.compress(registry.scrape(options), chunk);
    let mut resp = Response::new(Body::from_stream(futures_util::stream::iter(body)));
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(options.get_format().content_type()),
    );
    h.insert(VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(v) = encoding.header_value() {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static(v));
    }
    resp
}

#[derive(Debug, Clone)]
struct Endpoint {
    registry: Registry,
    chunk_size: usize,
}

/// A router serving `GET /metrics` (Prometheus text 0.0.4, or OpenMetrics 1.0 when the
/// `Accept` header asks for `application/openmetrics-text`) and `GET /metrics.json`, both
/// streamed in chunks of `chunk_size` bytes and compressed as `Accept-Encoding` allows. Both
/// take an optional `?prefix=NAME_PREFIX` query (400 when it is not a valid name prefix).
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let registry = kumo_metrics::Registry::new();
/// let app = kumo_metrics::router(registry, 64 * 1024);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
pub fn router(registry: Registry, chunk_size: usize) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(text))
        .route("/metrics.json", get(json))
        .with_state(Endpoint {
            registry,
            chunk_size,
        })
}

fn prefix_of(uri: &Uri) -> Option<&str> {
    uri.query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("prefix="))
}

fn respond(ep: &Endpoint, format: Format, uri: &Uri, headers: &HeaderMap) -> Response {
    let mut options = ScrapeOptions::new(format).chunk_size(ep.chunk_size);
    if let Some(p) = prefix_of(uri) {
        match options.prefix(p) {
            Ok(o) => options = o,
            Err(e) => {
                let mut r = Response::new(Body::from(e.to_string()));
                *r.status_mut() = StatusCode::BAD_REQUEST;
                return r;
            }
        }
    }
    metrics_response(&ep.registry, &options, headers)
}

async fn text(State(ep): State<Endpoint>, uri: Uri, headers: HeaderMap) -> Response {
    let om = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let format = if om {
        Format::OpenMetrics
    } else {
        Format::Text
    };
    respond(&ep, format, &uri, &headers)
}

async fn json(State(ep): State<Endpoint>, uri: Uri, headers: HeaderMap) -> Response {
    respond(&ep, Format::Json, &uri, &headers)
}
