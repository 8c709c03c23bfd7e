//! [`TraceEvent`] and its [`Payload`]: the record of one thing that happened in a session.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{ConnMeta, SessionKey, Side, Timestamp};

/// One traced event: which side and session, when, the connection metadata, and what happened.
///
/// The fields are public: an event is plain data. It serializes to one JSON object (see
/// [`to_json_line`](crate::to_json_line)); `meta` is left out when absent.
///
/// # Examples
///
/// ```
/// use kumo_trace::{Payload, SessionKey, Side, Timestamp, TraceEvent};
///
/// let ev = TraceEvent::new(
///     Side::Server,
///     SessionKey::new("192.0.2.1:40000->198.51.100.7:25"),
///     Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
///     Payload::read("EHLO mx.example.com\r\n"),
/// );
/// assert!(!ev.is_opening());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Which end of SMTP the host plays in this session.
    pub side: Side,
    /// The session; empty for global events.
    pub session: SessionKey,
    /// When it happened, as passed in by the publisher.
    pub when: Timestamp,
    /// The connection metadata, shared between the events of a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Arc<ConnMeta>>,
    /// What happened.
    pub payload: Payload,
}

impl TraceEvent {
    /// An event without metadata.
    pub fn new(side: Side, session: SessionKey, when: Timestamp, payload: Payload) -> Self {
        Self {
            side,
            session,
            when,
            meta: None,
            payload,
        }
    }

    /// Attaches connection metadata.
    pub fn with_meta(mut self, meta: Arc<ConnMeta>) -> Self {
        self.meta = Some(meta);
        self
    }

    /// A global diagnostic: empty session key, no metadata.
    pub fn global_diagnostic(
        side: Side,
        when: Timestamp,
        level: Level,
        message: impl Into<String>,
    ) -> Self {
        Self::new(
            side,
            SessionKey::global(),
            when,
            Payload::Diagnostic {
                level,
                message: message.into(),
            },
        )
    }

    /// Whether this event opens a session: [`Payload::BeginSession`] on either side, or
    /// [`Payload::Connected`] on the server side (a client session opens with `BeginSession`
    /// and connects later).
    pub fn is_opening(&self) -> bool {
        match self.payload {
            Payload::BeginSession => true,
            Payload::Connected => self.side == Side::Server,
            _ => false,
        }
    }

    /// Whether this event closes its session ([`Payload::Closed`]).
    pub fn is_closing(&self) -> bool {
        matches!(self.payload, Payload::Closed)
    }
}

/// The severity of a [`Payload::Diagnostic`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Something failed.
    Error,
    /// Something looks wrong.
    Warn,
    /// Noteworthy.
    Info,
    /// Detail for debugging.
    Debug,
    /// Even more detail.
    Trace,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        })
    }
}

/// What happened to a message, in a [`Payload::MessageDisposition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Disposition {
    /// Server: the message was accepted and will be queued.
    Enqueued,
    /// Server: the message was refused (policy, size, ...).
    Rejected,
    /// Server: the message was accepted and dropped on purpose (ARF/OOB report consumed, sink).
    Discarded,
    /// Client: the session took the message from its ready queue.
    Obtained,
    /// Client: the peer accepted the message.
    Delivered,
    /// Client: a transient failure; the message goes back to its queue.
    Deferred,
    /// Client: a permanent failure; the message will bounce.
    Bounced,
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Disposition::Enqueued => "enqueued",
            Disposition::Rejected => "rejected",
            Disposition::Discarded => "discarded",
            Disposition::Obtained => "obtained",
            Disposition::Delivered => "delivered",
            Disposition::Deferred => "deferred",
            Disposition::Bounced => "bounced",
        })
    }
}

/// The message a [`Payload::MessageDisposition`] is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDisposition {
    /// The message id.
    pub id: String,
    /// What happened.
    pub disposition: Disposition,
    /// The envelope sender (may be empty: the null sender).
    pub sender: String,
    /// The envelope recipients.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// The queue it goes to or came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Free text: the response line, the reason, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What happened in a session. Both sides use the same payloads; see each variant for who
/// publishes it.
///
/// Data is text: a publisher that read non-UTF-8 bytes converts them lossily
/// (`String::from_utf8_lossy`), as an SMTP trace is for people.
///
/// It serializes internally tagged: `{"type":"read","data":"EHLO x\r\n"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Payload {
    /// A session starts: the client side before it connects; a server may publish it when it
    /// accepts, before [`Payload::Connected`].
    BeginSession,
    /// The connection is established (server: accepted; client: connected to the MX).
    Connected,
    /// The session ended; nothing more follows for its key.
    Closed,
    /// Bytes the host read from the peer.
    Read {
        /// The data as text.
        data: String,
    },
    /// Bytes the host wrote to the peer.
    Write {
        /// The data as text.
        data: String,
    },
    /// Multi-line read data cut by [`terse`](crate::terse): its first line and total length.
    AbbreviatedRead {
        /// The first line, without its line break.
        snippet: String,
        /// The total length of the data in bytes.
        len: u64,
    },
    /// Multi-line written data cut by [`terse`](crate::terse): its first line and total length.
    AbbreviatedWrite {
        /// The first line, without its line break.
        snippet: String,
        /// The total length of the data in bytes.
        len: u64,
    },
    /// A diagnostic about the session, or a global one (empty session key), such as the hub's
    /// notice that a subscriber lagged behind and missed events.
    Diagnostic {
        /// Severity.
        level: Level,
        /// The text.
        message: String,
    },
    /// A policy callback ran (for example a Lua or Rust hook on `MAIL FROM`).
    Callback {
        /// The callback's name.
        name: String,
        /// Its result rendered as text, when it succeeded with one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<String>,
        /// Its error, when it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// What happened to a message in this session.
    MessageDisposition(Box<MessageDisposition>),
}

impl Payload {
    /// `Payload::Read` from text.
    pub fn read(data: impl Into<String>) -> Self {
        Payload::Read { data: data.into() }
    }

    /// `Payload::Write` from text.
    pub fn write(data: impl Into<String>) -> Self {
        Payload::Write { data: data.into() }
    }

    /// Whether this is a diagnostic.
    pub fn is_diagnostic(&self) -> bool {
        matches!(self, Payload::Diagnostic { .. })
    }
}
