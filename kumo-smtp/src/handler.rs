//! [`Handler`]: the host's decisions on a server session, and what it is told
//! ([`SessionInfo`], [`MailFrom`], [`Body`], [`ReceivedEnvelope`]).

use std::future::Future;
use std::net::SocketAddr;

use crate::io::TlsInfo;
use crate::reply::Reply;
use crate::summary::SessionSummary;

/// What the host knows of a session when it decides.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
    /// The name the client gave in `EHLO`/`HELO` (as sent, unchecked).
    pub helo: Option<String>,
    /// `true` after `EHLO`, `false` after `HELO`.
    pub esmtp: bool,
    /// The TLS parameters once `STARTTLS` completed.
    pub tls: Option<TlsInfo>,
    /// Messages accepted on this connection so far.
    pub messages_accepted: usize,
}

/// The `MESSAGE BODY` type a client declared (RFC 6152).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Body {
    /// No `BODY=` parameter, or `BODY=7BIT`.
    #[default]
    SevenBit,
    /// `BODY=8BITMIME`.
    EightBitMime,
}

/// A `MAIL FROM` command, parsed by `smtp-proto` and checked against what the server
/// offers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailFrom {
    /// The reverse path without angle brackets; empty for the null sender `<>` (bounces).
    pub address: String,
    /// The `SIZE=` the client declared.
    pub size: Option<usize>,
    /// The declared body type.
    pub body: Body,
    /// `SMTPUTF8` was given (RFC 6531): addresses and headers may be UTF-8.
    pub smtputf8: bool,
}

/// The envelope of a received message: its sender and the recipients the host accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedEnvelope {
    /// The `MAIL FROM` command.
    pub mail_from: MailFrom,
    /// The accepted recipients (without angle brackets), in the order given.
    pub recipients: Vec<String>,
}

/// The host's side of a server session: each callback returns the reply the client gets.
///
/// A `2xx` reply accepts; anything else refuses with that reply (`4xx` transient, `5xx`
/// permanent). A code outside `200..=599` is sent as `451`. The callbacks are awaited in
/// order, one at a time per session; a session never calls them for a message it refused on
/// its own (too large, bare line endings, too many recipients).
///
/// # Examples
///
/// A host that accepts mail for one domain and keeps it in memory (a real one writes it to a
/// spool before returning `250`):
///
/// ```
/// use kumo_smtp::{Handler, MailFrom, ReceivedEnvelope, Reply, SessionInfo};
/// use std::sync::Mutex;
///
/// #[derive(Debug, Default)]
/// struct Inbox(Mutex<Vec<(ReceivedEnvelope, Vec<u8>)>>);
///
/// impl Handler for Inbox {
///     async fn rcpt_to(&self, _: &SessionInfo, _: &MailFrom, rcpt: &str) -> Reply {
///         if rcpt.to_ascii_lowercase().ends_with("@example.com") {
///             Reply::new(250, Some((2, 1, 5)), "recipient ok")
///         } else {
///             Reply::new(550, Some((5, 7, 1)), "relaying denied")
///         }
///     }
///
///     async fn message(&self, _: &SessionInfo, env: &ReceivedEnvelope, data: Vec<u8>) -> Reply {
///         self.0.lock().unwrap().push((env.clone(), data));
///         Reply::new(250, Some((2, 0, 0)), "queued")
///     }
/// }
/// ```
pub trait Handler: Send + Sync {
    /// Decides on a `MAIL FROM`. The default accepts every sender.
    fn mail_from(
        &self,
        session: &SessionInfo,
        mail: &MailFrom,
    ) -> impl Future<Output = Reply> + Send {
        let _ = (session, mail);
        async { Reply::new(250, Some((2, 1, 0)), "sender ok") }
    }

    /// Decides on one `RCPT TO` (`recipient` without angle brackets). Relay control belongs
    /// here: refuse (`550 5.7.1`) what this host should not accept from this peer.
    fn rcpt_to(
        &self,
        session: &SessionInfo,
        mail: &MailFrom,
        recipient: &str,
    ) -> impl Future<Output = Reply> + Send;

    /// Takes a complete message: its bytes after dot-unstuffing, every line ending in CRLF.
    /// The session writes the returned reply to the final dot only after this returns, so a
    /// host that stores the message durably before returning `250` never acknowledges a
    /// message it could lose.
    fn message(
        &self,
        session: &SessionInfo,
        envelope: &ReceivedEnvelope,
        data: Vec<u8>,
    ) -> impl Future<Output = Reply> + Send;

    /// Told once when a session ends (for metrics and logs). The default does nothing.
    fn session_ended(&self, summary: &SessionSummary) {
        let _ = summary;
    }
}
