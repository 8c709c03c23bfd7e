//! [`Phase`]: the step of an SMTP session a timeout, an error or a reply belongs to.

use std::fmt;

/// A step of a client SMTP session, each with its own timeout in [`Timeouts`](crate::Timeouts).
///
/// Errors and attempts name the phase they happened in, so a host can tell a server that never
/// greeted from one that stalled after `DATA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Phase {
    /// Opening the connection (the host's `open` callback, TCP connect).
    Connect,
    /// Waiting for the server's `220` greeting.
    Greeting,
    /// `EHLO` (or the `HELO` fallback) and its reply.
    Ehlo,
    /// `STARTTLS`, its reply and the TLS handshake.
    StartTls,
    /// `MAIL FROM` and its reply.
    MailFrom,
    /// `RCPT TO` and its reply.
    RcptTo,
    /// `DATA` and its `354` reply.
    Data,
    /// Writing one block of the message body.
    DataBlock,
    /// Waiting for the reply to the final dot.
    DataDone,
    /// `RSET` and its reply.
    Rset,
    /// `QUIT` and its reply.
    Quit,
}

impl Phase {
    /// The phase's short lowercase name, as in `Display`: `"connect"`, `"mail from"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Greeting => "greeting",
            Phase::Ehlo => "ehlo",
            Phase::StartTls => "starttls",
            Phase::MailFrom => "mail from",
            Phase::RcptTo => "rcpt to",
            Phase::Data => "data",
            Phase::DataBlock => "data block",
            Phase::DataDone => "data done",
            Phase::Rset => "rset",
            Phase::Quit => "quit",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
