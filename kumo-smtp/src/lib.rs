//! An SMTP client for mail transfer agents: walks a list of MX addresses, greets, negotiates
//! `STARTTLS`, sends messages with pipelined `MAIL`/`RCPT`/`DATA`, and says what became of
//! each in typed outcomes.
#![forbid(unsafe_code)] // nothing here needs it: rustls, ring and tokio do the unsafe work
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! A host application resolves MX records and plans the addresses (kumo-dns does that),
//! connects TCP with its own socket options, and hands kumo-smtp the list and a way to open
//! each address. kumo-smtp does the SMTP: the greeting, `EHLO` (and `HELO` for old servers),
//! `STARTTLS` per the policy, and transaction after transaction on the same connection, each
//! ending in a [`Delivery`] the host acts on: delivered, retry later, or bounce.
//!
//! # What it guarantees
//!
//! * **Every ending is typed.** [`Connection::send`] returns a [`Delivery`] whatever happens:
//!   an [`Outcome`] (`Delivered`, `Transient`, `Permanent`), the reply that decided it, each
//!   recipient's own outcome, and [`SessionError`] when the connection failed. A connection
//!   lost after the final dot and before its reply is flagged
//!   [`possible_duplicate`](Delivery::possible_duplicate) (RFC 1047).
//! * **Every wait has a timeout** ([`Timeouts`], RFC 5321 §4.5.3.2 defaults), and **every
//!   read is bounded**: a reply line longer than [`ClientConfig::max_reply_line`], a reply
//!   of more lines than [`ClientConfig::max_reply_lines`], or of more text than
//!   [`MAX_REPLY_TEXT`], is a typed error, never unbounded memory. Bytes from the server
//!   never cause a panic (property-tested).
//! * **The wire grammar comes from `smtp-proto`** (Stalwart's fuzzed parser): replies,
//!   multi-line replies, enhanced status codes and `EHLO` capabilities.
//! * **The body arrives as given.** CRLF line endings (bare LF and bare CR become CRLF, so no
//!   SMTP smuggling sequence leaves this client), dot-stuffing, the final dot. A body that
//!   already uses CRLF is stored by the receiver byte for byte (tested against Python's
//!   `aiosmtpd`).
//! * **No command injection.** An address with a control character or an angle bracket is
//!   refused locally, never written into a command.
//! * **TLS in place.** [`Io`] switches to TLS under any layer the host wraps it in, so a
//!   tracing layer keeps seeing plaintext. rustls on the `ring` provider; certificates
//!   unchecked ([`Verify::None`]), checked against the Mozilla roots ([`Verify::WebPki`]) or
//!   against the host's own ([`Verify::Roots`]).
//!
//! # Primary types
//!
//! * [`Client`] (made from a [`ClientConfig`]): [`Client::connect`] walks [`Target`]s,
//!   [`Client::handshake`] starts a session on one stream.
//! * [`Connection`]: [`send`](Connection::send) messages ([`Envelope`] + bytes), then
//!   [`quit`](Connection::quit).
//! * [`Delivery`], [`Outcome`], [`RecipientResult`], [`Reply`]: what became of a message.
//! * [`Attempt`], [`AttemptResult`], [`ConnectFailed`]: the record of a walk.
//! * [`Io`]: the transport; [`Capabilities`]: what the server offered; [`Phase`]: where.
//!
//! # Examples
//!
//! Delivering one message to the first address of a plan that works:
//!
//! ```no_run
//! use kumo_smtp::{Client, ClientConfig, Envelope, Io, Outcome, Target};
//!
//! # async fn deliver() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(ClientConfig::default().ehlo_name("mta1.example.com"))?;
//! let plan = [
//!     Target::new("mx1.example.net", "192.0.2.10:25".parse()?),
//!     Target::new("mx2.example.net", "192.0.2.20:25".parse()?),
//! ];
//! let (mut conn, attempts) = client
//!     .connect(&plan, |t| {
//!         let addr = t.addr;
//!         async move { Ok(Io::new(tokio::net::TcpStream::connect(addr).await?)) }
//!     })
//!     .await?;
//! let envelope = Envelope::new("news@example.com", ["alice@example.net"]);
//! let delivery = conn.send(&envelope, b"Subject: hello\r\n\r\nHello, Alice.\r\n").await;
//! match delivery.outcome {
//!     Outcome::Delivered => {}
//!     Outcome::Transient if delivery.possible_duplicate => { /* retry, knowing it may duplicate */ }
//!     Outcome::Transient => { /* retry later */ }
//!     Outcome::Permanent => { /* bounce */ }
//! }
//! conn.quit().await;
//! # let _ = attempts;
//! # Ok(())
//! # }
//! ```
//!
//! [`Client`]'s docs have a complete session against an in-memory server.
//!
//! # Crate features
//!
//! None. tokio (I/O traits and timers), rustls with the `ring` provider, `webpki-roots` and
//! `smtp-proto` are always built. aws-lc-rs is never pulled in.
//!
//! # Should I use this crate?
//!
//! Use it to deliver mail from your own MTA or relay to MX hosts: it gives the session and
//! its outcomes, and leaves DNS, queues, retries, connection pools and bounces to the host.
//! It has no `AUTH` and no `CHUNKING`/`BDAT` yet, so for submission to a smarthost with a
//! password use `lettre` or `mail-send`. The server side (an ESMTP listener) is planned in
//! this crate and not written yet.

mod attempt;
mod capabilities;
mod client;
mod config;
mod connection;
mod data;
mod envelope;
mod error;
mod io;
mod outcome;
mod phase;
mod reader;
mod reply;
mod target;
mod tls;

pub use attempt::{Attempt, AttemptResult, ConnectFailed};
pub use capabilities::Capabilities;
pub use client::Client;
pub use config::{ClientConfig, Timeouts, TlsPolicy, Verify};
pub use connection::Connection;
pub use envelope::Envelope;
pub use error::{ConfigError, SessionError, Unsendable};
pub use io::{Io, TlsInfo};
pub use outcome::{Delivery, Outcome, RecipientResult};
pub use phase::Phase;
pub use reply::{MAX_REPLY_TEXT, Reply, ReplyError};
pub use target::Target;

/// rustls, re-exported: [`Verify::Roots`] takes a [`rustls::RootCertStore`], which must come
/// from the same rustls version as this crate's.
pub use rustls;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
