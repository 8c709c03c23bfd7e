//! SMTP for mail transfer agents. The client walks a list of MX addresses, greets,
//! negotiates `STARTTLS`, sends messages with pipelined `MAIL`/`RCPT`/`DATA`, and says what
//! became of each in typed outcomes. The server side receives mail safely on a network: a
//! session that refuses SMTP smuggling, bounds every limit, and acknowledges a message only
//! once the host's callback has taken it.
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
//! # Receiving mail
//!
//! [`serve_session`] runs one ESMTP session on an accepted connection (any stream that is,
//! or wraps, an [`Io`]); [`serve`] is an accept loop that runs one per connection within a
//! [`ConnectionLimiter`]. The host decides through a [`Handler`]: each `MAIL FROM`, each
//! `RCPT TO` (relay control belongs there) and each finished message, answering with a
//! [`Reply`]. The reply to the final dot is written only after
//! [`Handler::message`] returns, so a host that spools before returning `250` never
//! acknowledges a message it could lose.
//!
//! * **Only `CRLF . CRLF` ends a message.** A bare CR or LF anywhere in the data (the SMTP
//!   smuggling sequences `\n.\n`, `\n.\r\n`, `\r.\r\n`, `\r\n.\r`) or a NUL is read on to
//!   the real end and refused (`550 5.5.2`, `550 5.6.0`), nothing accepted: Postfix's
//!   `smtpd_forbid_bare_newline = reject`.
//! * **Pipelining (RFC 2920) is answered in one write**; bytes sent behind `DATA` or
//!   `STARTTLS` before the server's answer are refused (`554 5.5.0`) and the connection
//!   closed, never read as message data or as TLS.
//! * **Every limit has an answer** ([`ServerConfig`]): message size `552 5.3.4`, recipients
//!   `452 4.5.3`, messages per connection, command and data line length `500 5.5.2`, errors,
//!   idle and session time (`421`), connections in all and per peer (`421 4.3.2`).
//! * Commands are parsed by `smtp-proto`'s request parser; the client's bytes never cause a
//!   panic (property-tested) and memory stays within the limits.
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
//! * Server: [`ServerConfig`], [`Handler`] (with [`SessionInfo`], [`MailFrom`], [`Body`],
//!   [`ReceivedEnvelope`]), [`serve_session`], [`SessionSummary`] and [`SessionEnd`];
//!   [`serve`], [`ConnectionLimiter`], [`ConnectionPermit`], [`LimitExceeded`].
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
//! [`Client`]'s docs have a complete session against an in-memory server;
//! [`serve_session`]'s have a server session against a scripted client, and [`serve`]'s a
//! listener.
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
//! Use its server side to receive mail into your own MTA: it gives the session and its
//! limits, and leaves relay policy, spooling and `Received:` headers to the host. Neither
//! side has `AUTH` or `CHUNKING`/`BDAT` yet: for submission to a smarthost with a password
//! use `lettre` or `mail-send`, and for a submission server with authentication look
//! elsewhere (Stalwart).

mod attempt;
mod capabilities;
mod client;
mod config;
mod connection;
mod data;
mod data_decoder;
mod envelope;
mod error;
mod handler;
mod inbound;
mod io;
mod limiter;
mod listener;
mod outcome;
mod phase;
mod reader;
mod reply;
mod server;
mod server_config;
mod summary;
mod target;
mod tls;

pub use attempt::{Attempt, AttemptResult, ConnectFailed};
pub use capabilities::Capabilities;
pub use client::Client;
pub use config::{ClientConfig, Timeouts, TlsPolicy, Verify};
pub use connection::Connection;
pub use envelope::Envelope;
pub use error::{ConfigError, ServerConfigError, SessionError, Unsendable};
pub use handler::{Body, Handler, MailFrom, ReceivedEnvelope, SessionInfo};
pub use io::{Io, TlsInfo};
pub use limiter::{ConnectionLimiter, ConnectionPermit, LimitExceeded};
pub use listener::serve;
pub use outcome::{Delivery, Outcome, RecipientResult};
pub use phase::Phase;
pub use reply::{MAX_REPLY_TEXT, Reply, ReplyError};
pub use server::serve_session;
pub use server_config::ServerConfig;
pub use summary::{SessionEnd, SessionSummary};
pub use target::Target;

/// rustls, re-exported: [`Verify::Roots`] takes a [`rustls::RootCertStore`], which must come
/// from the same rustls version as this crate's.
pub use rustls;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
