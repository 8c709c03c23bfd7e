//! SMTP session tracing: a broadcast hub with terse, only-new and only-one filters, and a session-relative formatter.
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! Operators debug delivery problems by watching the SMTP conversations of live sessions. This
//! crate gives a mail server that ability as a library, for both ends of SMTP: the host
//! publishes [`TraceEvent`]s into a [`TraceHub`], and tools subscribe — in process, or over a
//! JSON-lines stream — with the filters KumoMTA's `kcli trace-smtp-{server,client}` offers.
//!
//! # What it guarantees
//!
//! * **Free when nobody watches.** [`TraceHub::publish_with`] builds the event only when a
//!   subscriber exists; otherwise it is one relaxed atomic load.
//! * **A slow watcher never slows the mail.** Each subscriber has a queue bounded in events
//!   and bytes; when it is full the oldest event is dropped and the subscriber is told how
//!   many it missed (a global diagnostic event), instead of being disconnected or blocking the
//!   publisher. A watcher that stopped reading is parked (publishers skip it) and, past a
//!   deadline, dropped with a final lag notice; a hub takes a bounded number of subscribers
//!   ([`TraceHubConfig`], [`TraceHub::try_subscribe`]).
//! * **Filters:** at the source, on connection metadata ([`MetaFilter`]: peer/local address as
//!   CIDR, domain, queue, any label) and [`terse`] (multi-line message data becomes its first
//!   line plus a byte count); on the stream, [`StreamFilter`]'s `only_new` (only sessions whose
//!   opening was seen) and `only_one` (follow one session, end when it closes).
//! * **Honest times.** The [`Formatter`] times each line from the session's first *observed*
//!   record; a session already open when tracing began starts with a blank delta, never a
//!   column of `0ns`.
//! * **No hidden clock.** Timestamps are passed in by the publisher;
//!   [`TraceHub::publish_now_with`] is the one documented convenience that reads
//!   `SystemTime::now()`, and only when somebody subscribes.
//! * **Untrusted input never panics.** [`from_json_line`] and [`JsonLinesReader`] return
//!   typed errors for any bytes (property-tested).
//!
//! # Primary types
//!
//! * [`TraceEvent`] = [`Side`] + [`SessionKey`] + [`Timestamp`] + [`ConnMeta`] + [`Payload`].
//! * [`TraceHub`] / [`SubscribeOptions`] / [`Subscription`] / [`Received`]: publish and
//!   subscribe; [`TraceHubConfig`] / [`SubscribeError`]: the limits.
//! * [`MetaFilter`], [`Cidr`], [`terse`], [`StreamFilter`]: the filters.
//! * [`Formatter`]: human-readable lines.
//! * [`Tracer`]: one session's handle (hub, side, key, metadata); `TracedStream` (feature
//!   `tokio`): any tokio byte stream, its reads and writes published for a session.
//! * [`to_json_line`], [`from_json_line`], [`JsonLinesReader`]: the wire format.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use kumo_trace::{
//!     ConnMeta, Formatter, Payload, SessionKey, Side, SubscribeOptions, Timestamp, TraceEvent,
//!     TraceHub, from_json_line, to_json_line,
//! };
//!
//! let hub = TraceHub::new();
//! let mut sub = hub.subscribe(SubscribeOptions { terse: true, only_new: true, ..Default::default() });
//!
//! // The host, in its session task:
//! let peer = "192.0.2.1:40000".parse()?;
//! let local = "198.51.100.7:25".parse()?;
//! let key = SessionKey::server(peer, local);
//! let meta = Arc::new(ConnMeta::new().with_peer(peer).with_local(local));
//! let t0 = Timestamp::from_unix_nanos(1_725_357_600_000_000_000);
//! let ev = |ms, p: Payload| {
//!     let when = t0.saturating_add(std::time::Duration::from_millis(ms));
//!     TraceEvent::new(Side::Server, key.clone(), when, p).with_meta(meta.clone())
//! };
//! hub.publish_with(|| ev(0, Payload::Connected));
//! hub.publish_with(|| ev(2, Payload::read("Subject: hi\r\n\r\nhello\r\n.\r\n")));
//!
//! // A tool: over the wire as JSON lines, then formatted.
//! let mut fmt = Formatter::new();
//! let mut text = String::new();
//! while let Ok(event) = sub.try_recv() {
//!     let line = to_json_line(&event);
//!     text += &fmt.format(&from_json_line(line.as_bytes())?);
//! }
//! assert_eq!(text, "\
//! [192.0.2.1:40000->198.51.100.7:25]        === Connected 2024-09-03T10:00:00Z | peer=192.0.2.1:40000 local=198.51.100.7:25
//! [192.0.2.1:40000->198.51.100.7:25]    2ms <- Subject: hi ... (25 bytes read)
//! ");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! * `tokio` (off by default): `TracedStream`, a wrapper around any tokio
//!   `AsyncRead + AsyncWrite` that publishes what is read and written, so that an SMTP
//!   implementation is traced without a change to its code. It uses only tokio's I/O traits.
//!
//! The hub itself is runtime-agnostic: [`Subscription::recv`] is a plain future woken through
//! the standard `Waker`, so it runs under tokio or any other executor without depending on
//! one, and [`Subscription::recv_blocking`] / [`Subscription::try_recv`] serve threads and
//! polling loops. serde and serde_json are required, as JSON lines are the wire format.
//!
//! # Should I use this crate?
//!
//! Use it if you write an SMTP server or client and want operators to watch live sessions
//! with filters, at no cost when nobody watches. It is not a logging framework: it does not
//! persist, sample or aggregate; for structured logs use `tracing`, and for a plain in-process
//! fan-out of arbitrary values `tokio::sync::broadcast` is enough.

mod cidr;
mod event;
mod format;
mod hub;
mod json;
mod limits;
mod meta;
mod meta_filter;
mod options;
mod received;
mod session;
#[cfg(feature = "tokio")]
mod stream;
mod stream_filter;
mod subscription;
mod terse;
mod timestamp;
mod tracer;

pub use cidr::{Cidr, ParseCidrError};
pub use event::{Disposition, Level, MessageDisposition, Payload, TraceEvent};
pub use format::Formatter;
pub use hub::TraceHub;
pub use json::{
    DEFAULT_MAX_LINE, DecodeError, JsonLine, JsonLinesReader, ReadError, from_json_line,
    to_json_line, write_json_line,
};
pub use limits::{
    DEFAULT_MAX_SUBSCRIBERS, DEFAULT_PARK_AFTER, DEFAULT_STALL_TIMEOUT, SubscribeError,
    TraceHubConfig,
};
pub use meta::ConnMeta;
pub use meta_filter::MetaFilter;
pub use options::{DEFAULT_CAPACITY, DEFAULT_MAX_BYTES, OptionsError, SubscribeOptions};
pub use received::Received;
pub use session::{SessionKey, Side};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use stream::TracedStream;
pub use stream_filter::{StreamFilter, Verdict};
pub use subscription::{Subscription, TryRecvError};
pub(crate) use terse::terse_bytes;
pub use terse::{abbreviate, terse};
pub use timestamp::{ParseTimestampError, Timestamp};
pub use tracer::Tracer;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
