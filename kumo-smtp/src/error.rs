//! [`SessionError`], [`ConfigError`], [`Unsendable`]: what went wrong, and where.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::phase::Phase;
use crate::reply::{Reply, ReplyError};

/// Why a session failed or a message was not sent. Cheap to clone.
///
/// Every variant but [`Unsendable`](SessionError::Unsendable) and a permanent
/// [`Rejected`](SessionError::Rejected) is transient: another attempt, later or at another
/// address, may succeed ([`SessionError::is_transient`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The server did not answer (or the stream did not take bytes) within the phase's timeout.
    #[error("{phase}: timed out after {after:?}")]
    Timeout {
        /// Where.
        phase: Phase,
        /// The timeout in force.
        after: Duration,
    },
    /// The stream failed.
    #[error("{phase}: i/o error")]
    Io {
        /// Where.
        phase: Phase,
        /// The stream's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The server closed the connection.
    #[error("{phase}: connection closed by the server")]
    Closed {
        /// Where.
        phase: Phase,
    },
    /// The server refused: a `4xx`/`5xx` greeting, `EHLO` and `HELO`, `STARTTLS` (when TLS
    /// is required) or `RSET`, or a `421` anywhere.
    #[error("{phase}: server answered {reply}")]
    Rejected {
        /// Where.
        phase: Phase,
        /// The server's reply.
        reply: Reply,
    },
    /// The server's bytes are not a reply within the limits.
    #[error("{phase}: bad reply")]
    BadReply {
        /// Where.
        phase: Phase,
        /// What is wrong with it.
        #[source]
        source: ReplyError,
    },
    /// A well-formed reply that makes no sense for the command (a `3xx` to `MAIL`, a `2xx` to
    /// `DATA`): the session is out of step.
    #[error("{phase}: unexpected reply {reply}")]
    Unexpected {
        /// Where.
        phase: Phase,
        /// The server's reply.
        reply: Reply,
    },
    /// TLS is required and the server does not offer `STARTTLS`.
    #[error("tls required but the server does not offer STARTTLS")]
    TlsNotOffered,
    /// The TLS handshake failed (including the certificate check).
    #[error("tls handshake failed")]
    TlsHandshake {
        /// The handshake's error (a `rustls::Error` inside an `io::Error`).
        #[source]
        source: Arc<io::Error>,
    },
    /// The message was not sent: something known before a byte went out rules it out.
    #[error("message not sent")]
    Unsendable(#[from] Unsendable),
}

impl SessionError {
    /// The phase it happened in, when it belongs to one.
    pub fn phase(&self) -> Option<Phase> {
        match self {
            SessionError::Timeout { phase, .. }
            | SessionError::Io { phase, .. }
            | SessionError::Closed { phase }
            | SessionError::Rejected { phase, .. }
            | SessionError::BadReply { phase, .. }
            | SessionError::Unexpected { phase, .. } => Some(*phase),
            SessionError::TlsNotOffered | SessionError::TlsHandshake { .. } => {
                Some(Phase::StartTls)
            }
            SessionError::Unsendable(_) => None,
        }
    }

    /// `true` when another attempt may succeed: everything except a `5xx` rejection and a
    /// message that cannot be sent as it is.
    pub fn is_transient(&self) -> bool {
        match self {
            SessionError::Rejected { reply, .. } => !reply.is_permanent(),
            SessionError::Unsendable(u) => u.is_transient(),
            _ => true,
        }
    }

    pub(crate) fn io(phase: Phase, source: io::Error) -> Self {
        SessionError::Io {
            phase,
            source: Arc::new(source),
        }
    }
}

/// Why [`Connection::send`](crate::Connection::send) did not send a message: known before a
/// byte went out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsendable {
    /// The envelope has no recipient. Permanent.
    #[error("no recipients")]
    NoRecipients,
    /// An address has a control character or an angle bracket, or is too long. Permanent.
    #[error("address {address:?} cannot be sent safely")]
    UnsafeAddress {
        /// The address.
        address: String,
    },
    /// The message is larger than the server's advertised `SIZE`. Permanent.
    #[error("message of {size} bytes exceeds the server's limit of {limit}")]
    TooLarge {
        /// The message's size on the wire (before dot-stuffing).
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// The message has 8-bit bytes and the server does not offer `8BITMIME` (RFC 6152).
    /// Permanent: kumo-smtp does not down-convert.
    #[error("8-bit message and the server does not offer 8BITMIME")]
    EightBitUnsupported,
    /// The envelope needs `SMTPUTF8` and the server does not offer it (RFC 6531). Permanent.
    #[error("UTF-8 address and the server does not offer SMTPUTF8")]
    Utf8Unsupported,
    /// The connection has carried
    /// [`max_messages_per_connection`](crate::ClientConfig::max_messages_per_connection)
    /// transactions. Transient: open another.
    #[error("connection reached its message limit")]
    LimitReached,
    /// The connection failed earlier (or the server said `421`). Transient: open another.
    #[error("connection is no longer usable")]
    ConnectionUnusable,
}

impl Unsendable {
    /// `true` for the two that another connection fixes.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Unsendable::LimitReached | Unsendable::ConnectionUnusable
        )
    }
}

/// Why [`Client::new`](crate::Client::new) refused a configuration.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The EHLO name is empty, or has a space or control character.
    #[error("invalid EHLO name {name:?}")]
    EhloName {
        /// The name.
        name: String,
    },
    /// A limit that must be at least some value is below it.
    #[error("{what} must be at least {min}")]
    Limit {
        /// Which setting.
        what: &'static str,
        /// Its smallest value.
        min: usize,
    },
    /// rustls refused to build a TLS configuration.
    #[error("tls configuration")]
    Tls(#[source] rustls::Error),
}

/// Why a [`ServerConfig`](crate::ServerConfig) is refused
/// ([`ServerConfig::validate`](crate::ServerConfig::validate)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerConfigError {
    /// The host name is empty, or has a space or control character.
    #[error("invalid server host name {name:?}")]
    Hostname {
        /// The name.
        name: String,
    },
    /// A limit is below its smallest value.
    #[error("{what} must be at least {min}")]
    Limit {
        /// Which setting.
        what: &'static str,
        /// Its smallest value.
        min: usize,
    },
}
