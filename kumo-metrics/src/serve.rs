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
    openmetrics: bool,
}

/// A router serving `GET /metrics` as Prometheus text 0.0.4 and `GET /metrics.json`, both
/// streamed in chunks of `chunk_size` bytes and compressed as `Accept-Encoding` allows. Both
/// take an optional `?prefix=NAME_PREFIX` query (400 when it is not a valid name prefix).
///
/// The same as `MetricsRouter::new(registry).chunk_size(chunk_size).build()`: OpenMetrics is
/// not offered, so the names a scraper stores are the names in the text. See
/// [`MetricsRouter::negotiate_openmetrics`] for the other choice.
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
    MetricsRouter::new(registry).chunk_size(chunk_size).build()
}

/// Builds the `/metrics` and `/metrics.json` router, with the choices a host may make.
///
/// # Examples
///
/// ```
/// let registry = kumo_metrics::Registry::new();
/// let app: axum::Router = kumo_metrics::MetricsRouter::new(registry)
///     .chunk_size(16 * 1024)
///     .negotiate_openmetrics(false)
///     .build();
/// ```
#[derive(Debug, Clone)]
pub struct MetricsRouter {
    endpoint: Endpoint,
}

impl MetricsRouter {
    /// Chunks of 64 KiB; Prometheus text 0.0.4 only.
    pub fn new(registry: Registry) -> Self {
        Self {
            endpoint: Endpoint {
                registry,
                chunk_size: 64 * 1024,
                openmetrics: false,
            },
        }
    }

    /// The size of the chunks the body is streamed in (the memory one scrape holds).
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.endpoint.chunk_size = bytes;
        self
    }

    /// Whether `GET /metrics` answers OpenMetrics 1.0 to a scraper whose `Accept` header asks
    /// for `application/openmetrics-text`. Default `false`: always Prometheus text 0.0.4.
    ///
    /// **This changes the names a scraper stores.** Prometheus asks for OpenMetrics first, and
    /// OpenMetrics requires every counter sample to end in `_total`. The rule, for each family
    /// registered as a counter:
    /// - a counter whose name does not end in `_total` (`total_messages_delivered`) is written
    ///   with `# TYPE total_messages_delivered counter` and samples named
    ///   `total_messages_delivered_total`, which is what Prometheus then stores;
    /// - a counter whose name already ends in `_total` (`requests_total`) keeps its sample
    ///   name; only its `# HELP`/`# TYPE` lines drop the suffix (`# TYPE requests counter`);
    /// - gauges, histograms and untyped families keep their names (histograms keep their
    ///   `_bucket`, `_sum` and `_count` samples).
    ///
    /// So with negotiation on, dashboards and alerts written for the text names (KumoMTA's
    /// among them: KumoMTA serves only text 0.0.4) find nothing for counters without `_total`.
    /// Leave it off unless the host's users chart the OpenMetrics names.
    pub fn negotiate_openmetrics(mut self, on: bool) -> Self {
        self.endpoint.openmetrics = on;
        self
    }

    /// The router: `GET /metrics` and `GET /metrics.json`.
    pub fn build(self) -> axum::Router {
        axum::Router::new()
            .route("/metrics", get(text))
            .route("/metrics.json", get(json))
            .with_state(self.endpoint)
    }
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
    let om = ep.openmetrics
        && headers
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What Prometheus 2.42 sends.
    const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
         application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    fn registry() -> Registry {
        let registry = Registry::new();
        registry
            .family("total_messages_delivered", "delivered")
            .counter::<()>()
            .unwrap()
            .get_or_create(&())
            .inc();
        registry
    }

    async fn scrape(router: MetricsRouter) -> (String, String) {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(PROMETHEUS_ACCEPT));
        let uri: Uri = "/metrics".parse().unwrap();
        let resp = text(State(router.endpoint), uri, headers).await;
        let ct = resp.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (ct, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn text_unless_the_host_turns_openmetrics_on() {
        let (ct, body) = scrape(MetricsRouter::new(registry())).await;
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        assert!(body.contains("\ntotal_messages_delivered 1\n"), "{body}");
        assert!(
            !body.contains("_total 1") && !body.contains("# EOF"),
            "{body}"
        );

        let on = MetricsRouter::new(registry()).negotiate_openmetrics(true);
        let (ct, body) = scrape(on).await;
        assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
        assert!(
            body.contains("\ntotal_messages_delivered_total 1\n"),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
    }
}
