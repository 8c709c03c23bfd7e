//! [`Received`]: an event as a subscriber receives it, owned or shared.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::TraceEvent;

/// An event delivered to a [`Subscription`](crate::Subscription); derefs to [`TraceEvent`].
///
/// When an event reaches a single subscriber it is moved into that subscriber's queue as is;
/// when it reaches several, they share one `Arc` — so the publisher never copies an event and
/// allocates nothing extra for the common case of one operator watching.
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
    Shared(Arc<TraceEvent>),
}

impl Received {
    pub(crate) fn owned(event: TraceEvent) -> Self {
        Self(Repr::Owned(event))
    }

    pub(crate) fn shared(event: Arc<TraceEvent>) -> Self {
        Self(Repr::Shared(event))
    }

    /// The event by value; clones it only when other subscribers still share it.
    pub fn into_owned(self) -> TraceEvent {
        match self.0 {
            Repr::Owned(e) => e,
            Repr::Shared(a) => Arc::unwrap_or_clone(a),
        }
    }

    /// The event behind an `Arc`, allocating one only when it was not shared.
    pub fn into_shared(self) -> Arc<TraceEvent> {
        match self.0 {
            Repr::Owned(e) => Arc::new(e),
            Repr::Shared(a) => a,
        }
    }
}

impl Deref for Received {
    type Target = TraceEvent;

    fn deref(&self) -> &TraceEvent {
        match &self.0 {
            Repr::Owned(e) => e,
            Repr::Shared(a) => a,
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
