//! [`StreamFilter`]: the stateful `only_new` and `only_one` filters over an event stream.

use std::collections::HashSet;

use crate::{SessionKey, TraceEvent};

/// What a [`StreamFilter`] decides about one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Show the event.
    Pass,
    /// Skip the event.
    Drop,
    /// Show the event, then end the stream: the followed session closed (`only_one`).
    End,
}

/// The `only_new` and `only_one` filters, applied in that order to a stream of events.
///
/// * `only_new`: an event of a session the filter does not know is dropped unless it opens
///   the session ([`TraceEvent::is_opening`]); no state is kept for dropped sessions, so every
///   later event of a session whose first seen event was not its opening is dropped too. An
///   admitted session is forgotten when it closes.
/// * `only_one`: the first session admitted (after `only_new`) is followed; events of other
///   sessions are dropped; when the followed session closes, its `Closed` event gets
///   [`Verdict::End`] and everything after it is dropped.
/// * Global events (empty session key) always pass until the stream ends.
///
/// [`Subscription`](crate::Subscription) applies it for you; a reader of a JSON-lines stream
/// (say, a command-line tracer) uses it directly. Memory: one key per admitted open session
/// with `only_new`, one key with `only_one` alone, nothing with neither.
///
/// # Examples
///
/// ```
/// use kumo_trace::{Payload, SessionKey, Side, StreamFilter, Timestamp, TraceEvent, Verdict};
///
/// let ev = |key: &str, p: Payload| {
///     TraceEvent::new(Side::Server, SessionKey::new(key), Timestamp::UNIX_EPOCH, p)
/// };
/// let mut f = StreamFilter::new().only_new(true).only_one(true);
/// assert_eq!(f.check(&ev("old", Payload::read("QUIT\r\n"))), Verdict::Drop);
/// assert_eq!(f.check(&ev("new", Payload::Connected)), Verdict::Pass);
/// assert_eq!(f.check(&ev("new2", Payload::Connected)), Verdict::Drop);
/// assert_eq!(f.check(&ev("new", Payload::Closed)), Verdict::End);
/// assert!(f.is_ended());
/// ```
#[derive(Clone, Debug, Default)]
pub struct StreamFilter {
    only_new: bool,
    only_one: bool,
    open: HashSet<SessionKey>,
    wanted: Option<SessionKey>,
    ended: bool,
}

impl StreamFilter {
    /// A filter that passes everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns `only_new` on or off.
    pub fn only_new(mut self, on: bool) -> Self {
        self.only_new = on;
        self
    }

    /// Turns `only_one` on or off.
    pub fn only_one(mut self, on: bool) -> Self {
        self.only_one = on;
        self
    }

    /// Whether the filter passes everything (neither option is on).
    pub fn is_pass_all(&self) -> bool {
        !self.only_new && !self.only_one
    }

    /// Whether the stream has ended (`only_one` saw its session close).
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The session `only_one` follows, once chosen.
    pub fn followed(&self) -> Option<&SessionKey> {
        self.wanted.as_ref()
    }

    /// Decides about the next event of the stream and updates the state.
    pub fn check(&mut self, event: &TraceEvent) -> Verdict {
        if self.ended {
            return Verdict::Drop;
        }
        let key = &event.session;
        if key.is_global() || self.is_pass_all() {
            return Verdict::Pass;
        }
        let known = self.only_new && self.open.contains(key);
        if self.only_new && !known && !event.is_opening() {
            return Verdict::Drop;
        }
        if self.only_one {
            match &self.wanted {
                None => self.wanted = Some(key.clone()),
                Some(w) if w != key => return Verdict::Drop,
                Some(_) => {}
            }
        }
        let closing = event.is_closing();
        if self.only_new {
            if closing {
                self.open.remove(key);
            } else if !known {
                self.open.insert(key.clone());
            }
        }
        if self.only_one && closing {
            self.ended = true;
            self.open = HashSet::new();
            return Verdict::End;
        }
        Verdict::Pass
    }
}
