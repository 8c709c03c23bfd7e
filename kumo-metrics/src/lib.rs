//! A metrics registry with streaming Prometheus text and JSON writers, compression, and a streaming parser, for millions of series.
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! kumo-metrics is built for an MTA with over a million queues, where one scrape is more than
//! 100 MB of text. It guarantees:
//!
//! - **Streaming in O(chunk) memory.** A [`Scrape`] is an iterator of [`bytes::Bytes`] chunks
//!   of a configurable size; it never copies the series or buffers the output.
//! - **Writers are never stalled for long.** A scrape walks each family in bounded steps and holds
//!   the family lock only for nanoseconds per 1024 series (each series is read under its own slot
//!   lock), so a thread creating a series during a scrape waits at most one step.
//! - **Exact output.** Label values and HELP are escaped as the formats say; `NaN`, `+Inf`,
//!   `-Inf` are spelled as Prometheus spells them; histogram buckets are cumulative with
//!   `le="+Inf"` equal to `_count`; the JSON is valid for any label text and never holds a
//!   non-finite number (`null` instead).
//! - **Small series.** A series is its label values (one allocation), one or more atomic cells,
//!   and a slot in a hash index; label names are stored once per family. Looking up an existing
//!   series by borrowed label values does not allocate.
//! - **Weak series.** A family made with [`FamilyBuilder::weak`] keeps a series only while a
//!   handle to it exists: when its owner (a queue) drops its handles the series vanishes from
//!   the output and its memory is freed.
//!
//! # Primary types
//!
//! - [`Registry`], [`FamilyBuilder`], [`Family`]: register families and get series handles
//!   [`Counter`], [`Gauge`] (signed `i64`, never wraps below zero), [`FloatGauge`], [`Histogram`].
//!   Label sets are typed structs made by [`label_set!`].
//! - [`Scrape`], [`ScrapeOptions`], [`Format`]: the streaming writers (Prometheus text 0.0.4,
//!   OpenMetrics 1.0, KumoMTA's `/metrics.json` shape), with an optional name prefix.
//! - [`ContentEncoding`], [`Compress`]: `Accept-Encoding` negotiation and streaming gzip/deflate.
//! - [`Parser`], [`Item`], [`parse_text`], [`parse_json`]: a streaming parser that takes chunks
//!   down to one byte, and a reader of the JSON shape.
//!
//! # Example
//!
//! ```
//! use kumo_metrics::{parse_text, ContentEncoding, ParsedSeries, Registry, ScrapeOptions};
//!
//! kumo_metrics::label_set! {
//!     /// The labels of per-queue metrics.
//!     pub struct QueueLabels { queue, provider, pool }
//! }
//!
//! let registry = Registry::new();
//! let delivered = registry
//!     .family("delivered_total", "messages delivered")
//!     .weak()
//!     .counter::<QueueLabels<'static>>()?;
//! let latency = registry
//!     .family("delivery_seconds", "delivery latency")
//!     .histogram::<()>(&[0.1, 1.0, 10.0])?
//!     .get_or_create(&());
//!
//! let labels = QueueLabels { queue: "t1:c\"1@example.com", provider: "p", pool: "default" };
//! let counter = delivered.get_or_create(&labels); // the queue keeps this handle
//! counter.inc_by(3);
//! latency.observe(0.25);
//!
//! // Stream the text format in 4 KiB chunks, gzip-compressed as a client asked for.
//! let opts = ScrapeOptions::text().chunk_size(4096);
//! let coding = ContentEncoding::negotiate(Some("gzip;q=0, identity"));
//! let text: Vec<u8> = coding
//!     .compress(registry.scrape(&opts), 4096)
//!     .collect::<std::io::Result<Vec<_>>>()?
//!     .concat();
//! assert!(text.starts_with(b"# HELP delivered_total messages delivered\n"));
//!
//! // Read it back.
//! let families = parse_text(&text)?;
//! let ParsedSeries::Sample { labels, value, .. } = &families[0].series[0] else { panic!() };
//! assert_eq!(labels[0].1, "t1:c\"1@example.com");
//! assert_eq!(*value, 3.0);
//!
//! // The queue goes away: so does its series.
//! drop(counter);
//! assert_eq!(delivered.len(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! - `axum`: [`router`], [`MetricsRouter`] and [`metrics_response`], an axum 0.8 handler
//!   serving `/metrics` and `/metrics.json`, streamed and compressed. Off by default. It serves
//!   Prometheus text 0.0.4 unless the host turns on OpenMetrics negotiation
//!   ([`MetricsRouter::negotiate_openmetrics`]), which renames counters in the scraper's
//!   storage (`x` becomes `x_total`).
//!
//! # Should I use this crate?
//!
//! Use it when you have many series (hundreds of thousands to millions, e.g. per queue), need
//! scrapes that start at once and do not balloon memory, need label values with arbitrary text
//! escaped correctly, or want KumoMTA's `/metrics.json` shape. If you have a few hundred series
//! and want the OpenMetrics data model with exemplars and info metrics, `prometheus-client` is
//! simpler. Summaries are parsed but cannot be registered.

mod compress;
mod escape;
mod family;
mod json;
mod labels;
mod metric;
mod parser;
mod registry;
mod scrape;
#[cfg(feature = "axum")]
mod serve;
mod text;

pub use bytes;
pub use compress::{Compress, ContentEncoding};
pub use family::MetricType;
pub use labels::LabelSet;
pub use metric::{Counter, FloatGauge, Gauge, Histogram, Metric};
pub use parser::{
    FamilyInfo, HistogramSeries, Item, JsonError, Labels, ParseError, ParseErrorKind, ParsedFamily,
    ParsedSeries, Parser, Sample, SummarySeries, parse_json, parse_text,
};
pub use registry::{Family, FamilyBuilder, RegisterError, Registry};
pub use scrape::{Format, InvalidPrefix, Scrape, ScrapeOptions};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use serve::{MetricsRouter, metrics_response, router};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
