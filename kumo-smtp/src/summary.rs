//! [`SessionSummary`], [`SessionEnd`]: how a server session went and why it ended.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Why a server session ended. Every ending but [`Quit`](SessionEnd::Quit) and
/// [`ClientClosed`](SessionEnd::ClientClosed) was the server's decision or a failure, and
/// each of the server's decisions was announced to the client with a `421` or `554` first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The client sent `QUIT` and got `221`.
    Quit,
    /// The client closed the connection without `QUIT`.
    ClientClosed,
    /// No complete command (or no data) within
    /// [`idle_timeout`](crate::ServerConfig::idle_timeout): `421 4.4.2`.
    IdleTimeout,
    /// The session lasted [`session_timeout`](crate::ServerConfig::session_timeout):
    /// `421 4.4.2`.
    SessionTimeout,
    /// [`max_errors`](crate::ServerConfig::max_errors) reached: `421 4.7.0`.
    TooManyErrors,
    /// [`max_messages_per_connection`](crate::ServerConfig::max_messages_per_connection)
    /// reached: `421 4.7.0`.
    TooManyMessages,
    /// The client sent bytes after `DATA` or `STARTTLS` before the server's answer (RFC 2920
    /// forbids it; a smuggling or command-injection attempt): `554 5.5.0`.
    ImproperPipelining,
    /// The TLS handshake after `STARTTLS` failed.
    TlsHandshake {
        /// The kind of the handshake's error.
        kind: io::ErrorKind,
    },
    /// Reading or writing failed (a reset, a write that timed out).
    Io {
        /// The kind of the error.
        kind: io::ErrorKind,
    },
    /// The [`ServerConfig`](crate::ServerConfig) is invalid: `421 4.3.5`.
    InvalidConfig,
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionEnd::Quit => f.write_str("quit"),
            SessionEnd::ClientClosed => f.write_str("closed by the client"),
            SessionEnd::IdleTimeout => f.write_str("idle timeout"),
            SessionEnd::SessionTimeout => f.write_str("session time limit"),
            SessionEnd::TooManyErrors => f.write_str("too many errors"),
            SessionEnd::TooManyMessages => f.write_str("too many messages"),
            SessionEnd::ImproperPipelining => f.write_str("improper pipelining"),
            SessionEnd::TlsHandshake { kind } => write!(f, "tls handshake failed ({kind})"),
            SessionEnd::Io { kind } => write!(f, "i/o error ({kind})"),
            SessionEnd::InvalidConfig => f.write_str("invalid server configuration"),
        }
    }
}

/// What happened on one server session, from
/// [`serve_session`](crate::serve_session).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionSummary {
    /// The client's address.
    pub peer: SocketAddr,
    /// Messages the host accepted (`2xx` to the final dot).
    pub messages_accepted: usize,
    /// Messages refused after `DATA`: by the session (size, line endings, NUL, line length)
    /// or by the host.
    pub messages_refused: usize,
    /// Commands and messages answered with an error.
    pub errors: usize,
    /// `STARTTLS` completed.
    pub tls: bool,
    /// How long the session lasted.
    pub duration: Duration,
    /// Why it ended.
    pub end: SessionEnd,
}
