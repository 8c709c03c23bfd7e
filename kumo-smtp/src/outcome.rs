//! [`Outcome`], [`Delivery`], [`RecipientResult`]: what became of a message.

use crate::error::SessionError;
use crate::reply::Reply;

/// What became of a message, or of one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The server took responsibility for it (`2xx` to the final dot, recipient accepted).
    Delivered,
    /// Try again later: a `4xx`, a lost connection, a timeout.
    Transient,
    /// Do not try again: a `5xx`, or a message this server cannot take (size, 8-bit, UTF-8).
    Permanent,
}

impl Outcome {
    /// The outcome a reply code means: `2xx` delivered, `5xx` permanent, anything else
    /// transient.
    pub fn of_code(code: u16) -> Self {
        match code {
            200..=299 => Outcome::Delivered,
            500..=599 => Outcome::Permanent,
            _ => Outcome::Transient,
        }
    }
}

impl std::fmt::Display for Outcome {
    /// `delivered`, `transient` or `permanent`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Delivered => "delivered",
            Outcome::Transient => "transient",
            Outcome::Permanent => "permanent",
        })
    }
}

/// The result of [`Connection::send`](crate::Connection::send).
///
/// # Outcome rules
///
/// * **Delivered** when the reply to the final dot is `2xx` and at least one `RCPT` was
///   accepted. Recipients the server refused keep their own outcome in
///   [`recipients`](Self::recipients); retry or bounce those one by one.
/// * When no recipient was accepted: all `4xx` is **Transient**, all `5xx` **Permanent**, a
///   mix of both **Transient** (the `4xx` ones may succeed later; the `5xx` ones are
///   `Permanent` in `recipients`).
/// * `MAIL FROM` refused: `4xx` Transient, `5xx` Permanent, for every recipient.
/// * The connection lost, or a timeout, anywhere: **Transient**, and the connection is
///   unusable. Lost **after the final dot was written but before its reply**: Transient with
///   [`possible_duplicate`](Self::possible_duplicate) set (RFC 1047).
/// * A `421` reply anywhere: Transient, and the connection is unusable.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message's outcome.
    pub outcome: Outcome,
    /// The reply that decided it; for a failure without one (connection lost, timeout, a
    /// message refused before anything was sent) a reply made up locally, with
    /// [`error`](Self::error) saying what happened.
    pub reply: Reply,
    /// Each recipient's outcome and the reply that decided it, in envelope order.
    pub recipients: Vec<RecipientResult>,
    /// `true` when the final dot reached the connection but its reply never came: the server
    /// may have accepted the message, and retrying it may deliver it twice (RFC 1047).
    pub possible_duplicate: bool,
    /// What went wrong locally or on the connection, when [`reply`](Self::reply) was made up.
    pub error: Option<SessionError>,
}

impl Delivery {
    /// `true` when the outcome is [`Outcome::Delivered`].
    pub fn is_delivered(&self) -> bool {
        self.outcome == Outcome::Delivered
    }
}

/// One recipient's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    /// The address, as in the envelope.
    pub recipient: String,
    /// Its outcome.
    pub outcome: Outcome,
    /// The reply that decided it: its `RCPT` reply when refused, the final-dot reply when
    /// accepted, the `MAIL` reply when the transaction ended there, or a local reply.
    pub reply: Reply,
}
