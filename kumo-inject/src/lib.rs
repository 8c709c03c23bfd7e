//! A KumoMTA-compatible batch HTTP injection API: validation, per-recipient templating, MIME building, deferred generation, and rate limits.
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! kumo-inject is KumoMTA's `POST /api/inject/v1` as an embeddable library: a host application
//! (an MTA, a relay, a test harness) gets batches of recipients with per-recipient substitutions
//! over HTTP and receives one RFC 5322 message per recipient through a trait it implements.
//!
//! # What it guarantees
//!
//! - **Wire compatibility.** [`InjectRequest`] and [`InjectResponse`] mirror KumoMTA's inject v1
//!   field for field, unknown fields rejected, so existing clients work unchanged; the router
//!   answers with KumoMTA's status codes (400, 413, 415, 422, 503, 200 with per-recipient errors).
//! - **Compile once, render per recipient.** Templates (minijinja for `Jinja`, handlebars for
//!   `Handlebars`) are compiled once per batch; HTML and AMP bodies are auto-escaped, text and
//!   headers are not; every render has an output cap and a work budget
//!   ([`GenerateOptions::template_fuel`]: minijinja's fuel, or kumo-inject's metered handlebars
//!   helpers), so a template bomb fails its recipient.
//! - **Bounded batches.** A batch stops once it has spent
//!   [`GenerateOptions::batch_time_limit`] generating, and a synchronous batch stops when its
//!   HTTP client disconnects; the recipients not yet generated fail
//!   ([`RecipientError::BatchTimeLimit`], [`RecipientError::Cancelled`]).
//! - **Well-formed MIME.** CRLF only, every line within 998 octets (headers folded at 78 where
//!   whitespace allows), `Date`, `Message-ID` and `MIME-Version` on every message, RFC 2047
//!   encoded words for non-ASCII headers and display names, RFC 2231 for non-ASCII file names,
//!   quoted-printable or 7bit text parts, the AMP part ordered text, amp, html. Attachments are
//!   decoded, checked and encoded **once per batch** and spliced into every message. An
//!   independent check parses generated messages with Python's `email` package in the tests.
//!   `From` comes from `content.from` or a `From` in `content.headers`; a request with neither
//!   gets a message without `From`, as with KumoMTA.
//! - **Failures stay per recipient.** A bad address, a template runtime error or a substitution
//!   that would inject a header (`x\r\nBcc: evil`) fails that recipient, not the batch.
//! - **Deferred generation that reports and resumes.** With `deferred_generation` the request is
//!   validated and compiled at once (template errors are still a 422), persisted through a
//!   [`JobStore`], answered, and generated in a bounded worker pool; each recipient's outcome is
//!   recorded and reported through [`MessageSink`]. Message ids derive from the batch id and the
//!   recipient index, so a batch resumed after a crash produces no duplicates. A full queue
//!   answers 429 or 503 with `Retry-After`.
//! - **Recipient rate limit** ([`RecipientRateLimit`], GCRA): keyed globally, per tenant or per
//!   peer; wait (KumoMTA's behaviour, bounded) or reject (429 with `Retry-After` and `RateLimit-*`);
//!   a batch larger than the burst is refused (422), never let through.
//!
//! # Primary types
//!
//! - [`InjectRequest`] / [`InjectResponse`]: the JSON model.
//! - [`Batch`]: the pure, synchronous core. [`Batch::compile`] validates a request and compiles
//!   it; [`Batch::generate`] builds one recipient's [`GeneratedMessage`]. It never reads the clock
//!   (the time comes in [`GenerateContext`]).
//! - Host traits: [`MessageSink`] (receives messages, with their [`Durability`]: `deferred_spool`
//!   means [`Durability::Deferred`]), [`JobStore`] (deferred batches; [`MemoryJobStore`] is
//!   provided) and [`Admission`] (refuse work when shutting down or short of memory or disk).
//!   A host that spools with buffered writes syncs once per batch in [`MessageSink::flush`]:
//!   the acknowledgement (the HTTP response, or a deferred job's completion) follows the flush,
//!   and a failed flush is a 503 ([`InjectError::Flush`]).
//! - [`Injector`] (feature `tokio`): the async service, synchronous and deferred.
//! - [`router`] (feature `axum`): `POST /api/inject/v1` for the host's axum server.
//!
//! # Example: nesting the API into a host's server
//!
//! The host implements [`MessageSink`] to put each message on its own queue (a demo MTA would
//! schedule it into kumo-queue here), builds an [`Injector`], and merges [`router`] into its
//! axum router next to its other endpoints.
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # mod host {
//! use kumo_inject::{GeneratedMessage, Injector, MessageSink, RouterConfig, SinkError};
//! use std::net::SocketAddr;
//! use std::sync::{Arc, Mutex};
//!
//! /// The host's queue; a real MTA schedules `m` for delivery (e.g. into kumo-queue).
//! #[derive(Default)]
//! pub struct QueueSink(pub Mutex<Vec<GeneratedMessage>>);
//!
//! impl MessageSink for QueueSink {
//!     fn accept(&self, m: GeneratedMessage) -> Result<(), SinkError> {
//!         self.0.lock().unwrap().push(m);
//!         Ok(())
//!     }
//! }
//!
//! pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
//!     let sink = Arc::new(QueueSink::default());
//!     let injector = Injector::builder(sink.clone()).build()?;
//!     let app = axum::Router::new()
//!         .route("/health", axum::routing::get(|| async { "ok" }))
//!         .merge(kumo_inject::router(injector, RouterConfig::default()));
//!
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     tokio::spawn(async move {
//!         let make = app.into_make_service_with_connect_info::<SocketAddr>();
//!         axum::serve(listener, make).await
//!     });
//!
//!     // A client injects a batch of two recipients.
//!     let body = r#"{"envelope_sender": "news@example.com",
//!         "recipients": [{"email": "ann@example.org", "name": "Ann"},
//!                        {"email": "bob@example.org", "name": "Bob"}],
//!         "content": {"from": {"email": "news@example.com"},
//!                     "subject": "Hello {{ name }}", "text_body": "Hi {{ name }}!\n"}}"#;
//!     let reply = post(addr, body).await?;
//!     assert!(reply.starts_with("HTTP/1.1 200"));
//!     assert!(reply.ends_with(r#"{"success_count":2,"fail_count":0,"failed_recipients":[],"errors":[]}"#));
//!     assert_eq!(sink.0.lock().unwrap().len(), 2);
//!     Ok(())
//! }
//! # async fn post(addr: SocketAddr, body: &str) -> std::io::Result<String> {
//! #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! #     let mut s = tokio::net::TcpStream::connect(addr).await?;
//! #     let req = format!("POST /api/inject/v1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
//! #         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
//! #     s.write_all(req.as_bytes()).await?;
//! #     let mut out = String::new();
//! #     s.read_to_string(&mut out).await?;
//! #     Ok(out)
//! # }
//! # }
//! # #[cfg(feature = "axum")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> { host::run().await }
//! # #[cfg(not(feature = "axum"))]
//! # fn main() {}
//! ```
//!
//! Without tokio, the core alone: see [`Batch`].
//!
//! # Crate features
//!
//! - `tokio`: [`Injector`], the async service with the deferred-generation worker pool.
//! - `axum` (implies `tokio`): [`router`], with gzip and deflate request bodies.
//! - `redis`: [`RecipientRateLimit`] shared by many processes through Redis.
//!
//! No feature changes behaviour; each adds API.
//!
//! # Differences from KumoMTA
//!
//! - `template_dialect: "Handlebars"` (the `handlebars` crate) renders with metered `each`,
//!   `with`, `lookup`, comparison and `log` helpers that share a work budget
//!   ([`TemplateError::HandlebarsOutOfFuel`]); `{{log}}` emits a `tracing` event (target
//!   `kumo_inject::template`) instead of a `log` record. Partials and decorators (inline
//!   partials) are refused with a 422 ([`TemplateError::HandlebarsPartial`]) because they can
//!   recurse without bound.
//! - An invalid `envelope_sender` is a 422 (KumoMTA answers 500).
//! - Builder messages get a `Message-ID` (`<batch>.<index>@<domain>`); KumoMTA's builder adds none.
//! - In deferred mode the per-recipient outcomes reach the host ([`MessageSink::recipient_failed`],
//!   [`MessageSink::batch_finished`]) instead of being dropped, and the batch id is returned in
//!   the `kumo-batch-id` response header. The body stays KumoMTA's zero counts.
//! - RFC 5322 (string) content is checked and passed through with CRLF line ends and missing
//!   `MIME-Version`, `Date` and `Message-ID` added; it is not re-encoded. 8-bit bodies are
//!   flagged ([`GeneratedMessage::eight_bit`]) for `BODY=8BITMIME`.
//!
//! # Should I use this crate?
//!
//! Use it to accept KumoMTA-style batch injection in your own Rust service, or to generate
//! templated bulk mail quickly ([`Batch`] alone has no async or HTTP dependency beyond its
//! defaults). For composing single messages by hand, a general MIME builder (mail-builder,
//! lettre) is simpler; for sending them over SMTP you need a client such as lettre's.

mod address;
mod attachment;
mod batch;
mod error;
mod host;
#[cfg(feature = "axum")]
mod http;
#[cfg(feature = "tokio")]
mod injector;
mod job_store;
mod mime;
mod model;
mod template;

pub use address::AddressError;
pub use batch::{
    Batch, BatchId, GenerateContext, GenerateOptions, GeneratedMessage, InvalidBatchId,
};
/// Re-exported: [`GeneratedMessage::data`] is a `bytes::Bytes`.
pub use bytes;
pub use error::{
    AttachmentError, MessageError, RecipientError, RequestError, TemplateError, error_chain,
};
/// The template engine, re-exported because its error type appears in [`RequestError`] and
/// [`RecipientError`].
pub use handlebars;
pub use host::{
    Admission, AlwaysAdmit, BatchReport, Durability, MessageSink, RecipientFailure, Refusal,
    SinkError,
};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use http::{BATCH_ID_HEADER, INJECT_PATH, RouterConfig, router};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use injector::{
    InjectError, Injected, Injector, InjectorBuilder, InjectorConfig, NoRuntime, Overload,
    RequestContext,
};
pub use job_store::{
    JobStore, JobStoreError, MemoryJobStore, PendingJob, RecipientOutcome, StoredJob,
};
pub use minijinja;
pub use model::{
    Attachment, Builder, Content, FromHeader, InjectRequest, InjectResponse, ParseError, Recipient,
    TemplateDialect, TraceHeaders,
};
/// Re-exported: substitutions and metadata are `serde_json::Value`s.
pub use serde_json;

pub mod ratelimit;
pub use ratelimit::{
    Admitted, KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RateLimited, RecipientRateLimit,
};
