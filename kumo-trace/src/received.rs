//! [`Received`]: an event as a subscriber receives it, owned or shared.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use crate::{JsonLine, TraceEvent};

/// An event delivered to a [`Subscription`](crate::Subscription); derefs to [`TraceEvent`].
///
/// When an event reaches a single subscriber it is moved into that subscriber's queue as is;
/// when it reaches several, they share one `Arc` — so the publisher never copies an event and
/// allocates nothing extra for the common case of one operator watching.
///
/// Subscribers that share an event also share its JSON line: [`Received::json_line`] serializes
/// it once, for the first of them that asks, and hands the others the same bytes. A host that
/// streams events to many clients (the cost that grows with their number) pays for the
/// encoding once per event, not once per client.
///
/// # Examples
///
/// ```
/// use kumo_trace::{Payload, SessionKey, Side, SubscribeOptions, Timestamp, TraceEvent, TraceHub};
///
/// let hub = TraceHub::new();
/// let mut sub = hub.subscribe(SubscribeOptions::default());
/// hub.publish(TraceEvent::new(Side::Client, SessionKey::new("c1"), Timestamp::UNIX_EPOCH, Payload::BeginSession));
/// let got = sub.try_recv()?;
/// assert!(got.is_opening()); // a `TraceEvent` method, through `Deref`
/// let owned: TraceEvent = got.into_owned();
/// # Ok::<(), kumo_trace::TryRecvError>(())
/// ```
#[derive(Clone)]
pub struct Received(Repr);

#[derive(Clone)]
enum Repr {
    Owned(TraceEvent),
    Shared(Arc<TraceEvent>, Arc<OnceLock<JsonLine>>),
}

impl Received {
    pub(crate) fn owned(event: TraceEvent) -> Self {
        Self(Repr::Owned(event))
    }

    /// `line` is the JSON cache that every subscriber receiving this same `event` shares.
    pub(crate) fn shared(event: Arc<TraceEvent>, line: Arc<OnceLock<JsonLine>>) -> Self {
        Self(Repr::Shared(event, line))
    }

    /// The event as one line of JSON ([`to_json_line`](crate::to_json_line)'s text), encoded
    /// once for all the subscribers that share this event.
    ///
    /// # Examples
    ///
    /// ```
    /// use kumo_trace::{Payload, SessionKey, Side, SubscribeOptions, Timestamp, TraceEvent, TraceHub};
    ///
    /// let hub = TraceHub::new();
    /// let mut a = hub.subscribe(SubscribeOptions::default());
    /// let mut b = hub.subscribe(SubscribeOptions::default());
    /// hub.publish(TraceEvent::new(Side::Client, SessionKey::new("c1"), Timestamp::UNIX_EPOCH, Payload::BeginSession));
    /// let (x, y) = (a.try_recv()?.json_line(), b.try_recv()?.json_line());
    /// assert!(x.as_str().ends_with("\n"));
    /// assert!(x.same_bytes(&y)); // encoded once, shared
    /// # Ok::<(), kumo_trace::TryRecvError>(())
    /// ```
    pub fn json_line(&self) -> JsonLine {
        match &self.0 {
            Repr::Owned(e) => JsonLine::encode(e),
            Repr::Shared(e, line) => line.get_or_init(|| JsonLine::encode(e)).clone(),
        }
    }

    /// The event by value; clones it only when other subscribers still share it.
    pub fn into_owned(self) -> TraceEvent {
        match self.0 {
            Repr::Owned(e) => e,
            Repr::Shared(a, _) => Arc::unwrap_or_clone(a),
        }
    }

    /// The event behind an `Arc`, allocating one only when it was not shared.
    pub fn into_shared(self) -> Arc<TraceEvent> {
        match self.0 {
            Repr::Owned(e) => Arc::new(e),
            Repr::Shared(a, _) => a,
        }
    }
}

impl Deref for Received {
    type Target = TraceEvent;

    fn deref(&self) -> &TraceEvent {
        match &self.0 {
            Repr::Owned(e) => e,
            Repr::Shared(a, _) => a,
        }
    }
}

impl AsRef<TraceEvent> for Received {
    fn as_ref(&self) -> &TraceEvent {
        self
    }
}

impl fmt::Debug for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for Received {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Received {}
