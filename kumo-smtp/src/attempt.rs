//! [`Attempt`], [`AttemptResult`], [`ConnectFailed`]: the record of walking a connection plan.

use std::fmt;
use std::time::Duration;

use crate::error::SessionError;
use crate::phase::Phase;
use crate::reply::Reply;
use crate::target::Target;

/// One connection attempt of [`Client::connect`](crate::Client::connect).
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The address tried.
    pub target: Target,
    /// How it ended.
    pub result: AttemptResult,
    /// From the call to `open` to the end of the attempt.
    pub elapsed: Duration,
}

impl fmt::Display for Attempt {
    /// `mx1.example.net [192.0.2.1]:25: greeting: server answered 421 4.3.2 busy`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.target, self.result)
    }
}

/// How a connection attempt ended.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AttemptResult {
    /// The session is ready for messages; the walk stopped here.
    Ready,
    /// `open` failed (connection refused, no route, ...): its error's text.
    ConnectFailed(String),
    /// A phase timed out (`Phase::Connect` for `open` itself).
    Timeout(Phase),
    /// The server refused: a `4xx`/`5xx` greeting, a `4xx` `EHLO`, a refused `HELO`
    /// fallback, a `421`.
    Refused(Reply),
    /// TLS was required and failed (not offered, refused, handshake or certificate), or an
    /// opportunistic handshake failed (the same address is then tried in plaintext): what
    /// happened, with its causes.
    TlsFailed(String),
    /// Anything else: the connection closed, an I/O error, a reply that is not one.
    Failed(SessionError),
}

impl AttemptResult {
    /// `true` for [`AttemptResult::Ready`].
    pub fn is_ready(&self) -> bool {
        matches!(self, AttemptResult::Ready)
    }
}

impl fmt::Display for AttemptResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptResult::Ready => f.write_str("ready"),
            AttemptResult::ConnectFailed(e) => write!(f, "connect failed: {e}"),
            AttemptResult::Timeout(phase) => write!(f, "{phase}: timed out"),
            AttemptResult::Refused(reply) => write!(f, "refused: {reply}"),
            AttemptResult::TlsFailed(e) => write!(f, "tls failed: {e}"),
            AttemptResult::Failed(e) => write!(f, "{}", error_chain(e)),
        }
    }
}

/// An error and its sources, `: `-separated, for one-line summaries.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// No address of the plan gave a ready session. Transient: the plan may work later.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", summary(.attempts))]
pub struct ConnectFailed {
    /// Every attempt, in the order made.
    pub attempts: Vec<Attempt>,
}

impl ConnectFailed {
    /// The result of the last attempt, the one a bounce or a log line usually quotes.
    pub fn last(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    /// The last server reply among the attempts (a refused greeting or `EHLO`), if any.
    pub fn last_reply(&self) -> Option<&Reply> {
        self.attempts.iter().rev().find_map(|a| match &a.result {
            AttemptResult::Refused(reply) => Some(reply),
            _ => None,
        })
    }
}

fn summary(attempts: &[Attempt]) -> String {
    match attempts {
        [] => "no addresses to try".to_owned(),
        [one] => format!("the only attempt failed: {one}"),
        [.., last] => format!("all {} attempts failed: last: {last}", attempts.len()),
    }
}
