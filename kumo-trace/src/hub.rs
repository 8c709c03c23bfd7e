//! [`TraceHub`]: where hosts publish events and subscribers attach, at no cost when nobody does.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use parking_lot::RwLock;

use crate::subscription::SubShared;
use crate::terse::terse_in_place;
use crate::{Received, StreamFilter, SubscribeOptions, Subscription, Timestamp, TraceEvent, terse};

/// A broadcast point for [`TraceEvent`]s: hosts publish, subscribers each get their own
/// bounded queue.
///
/// Cheap to clone (one `Arc`); all clones are the same hub. When the last clone is dropped,
/// subscriptions drain what they hold and then end.
///
/// * **Free when idle.** [`TraceHub::publish_with`] takes a closure that builds the event and
///   calls it only when somebody subscribes: the idle cost is one relaxed atomic load and a
///   branch (measured by `compare trace`, `publish_ns_no_subscriber`).
/// * **Bounded, lossy per subscriber, never blocking the publisher.** Each subscriber has a
///   queue of [`SubscribeOptions::capacity`] events. When it is full the oldest event is
///   dropped; the subscriber's next receive yields a global [`Payload::Diagnostic`]
///   (level `Error`) saying how many events it missed, then carries on — it is not
///   disconnected.
/// * **Filtered at the source.** A subscriber's [`MetaFilter`](crate::MetaFilter) and its `terse` wish are
///   applied while publishing, so unwanted events never enter its queue and message data is
///   cut once per event for all terse subscribers. `only_new`/`only_one` are applied on the
///   receiving side ([`Subscription`]).
///
/// Events are never copied: with one subscriber an event is moved into its queue, with several
/// they share one `Arc` ([`Received`]).
///
/// # Implementation
///
/// The subscriber list is a `RwLock<Vec<_>>` read by publishers; each subscriber's queue is a
/// `VecDeque` under its own mutex, so publishers from many session tasks contend only per
/// subscriber and only for a push. A waiting receiver is woken through its `Waker` (async)
/// or a condition variable (blocking), each touched only when a receiver actually waits.
///
/// [`Payload::Diagnostic`]: crate::Payload::Diagnostic
///
/// # Examples
///
/// ```
/// use kumo_trace::{Payload, SessionKey, Side, SubscribeOptions, Timestamp, TraceEvent, TraceHub};
///
/// let hub = TraceHub::new();
/// let key = SessionKey::new("s1");
/// // Nobody listens: the closure does not run.
/// hub.publish_with(|| unreachable!("not built without subscribers"));
///
/// let mut sub = hub.subscribe(SubscribeOptions::default());
/// hub.publish_with(|| {
///     TraceEvent::new(Side::Server, key.clone(), Timestamp::UNIX_EPOCH, Payload::Connected)
/// });
/// let ev = sub.try_recv()?;
/// assert_eq!(ev.payload, Payload::Connected);
/// # Ok::<(), kumo_trace::TryRecvError>(())
/// ```
#[derive(Clone, Default)]
pub struct TraceHub {
    shared: Arc<HubShared>,
}

#[derive(Default)]
pub(crate) struct HubShared {
    count: AtomicUsize,
    /// Subscribers that want message data whole (not `terse`).
    whole: AtomicUsize,
    subs: RwLock<Vec<Arc<SubShared>>>,
}

impl HubShared {
    pub(crate) fn remove(&self, sub: &Arc<SubShared>) {
        let mut subs = self.subs.write();
        if let Some(i) = subs.iter().position(|s| Arc::ptr_eq(s, sub)) {
            subs.swap_remove(i);
            self.counted(&subs);
        }
    }

    /// Updates the counts after a change of the list (under its write lock).
    fn counted(&self, subs: &[Arc<SubShared>]) {
        self.count.store(subs.len(), Ordering::Relaxed);
        let whole = subs.iter().filter(|s| !s.terse).count();
        self.whole.store(whole, Ordering::Relaxed);
    }
}

impl Drop for HubShared {
    fn drop(&mut self) {
        for s in self.subs.get_mut().drain(..) {
            s.close();
        }
    }
}

impl TraceHub {
    /// A hub with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether anybody subscribes now (one relaxed atomic load).
    #[inline]
    pub fn has_subscribers(&self) -> bool {
        self.shared.count.load(Ordering::Relaxed) != 0
    }

    /// Whether every subscriber asked for [`terse`](crate::terse) data (and at least one
    /// subscribes): a publisher may then cut message data itself, before making text of it.
    #[inline]
    pub fn all_terse(&self) -> bool {
        self.has_subscribers() && self.shared.whole.load(Ordering::Relaxed) == 0
    }

    /// How many subscriptions are attached.
    pub fn subscriber_count(&self) -> usize {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// Publishes the event `build` returns, calling `build` only when somebody subscribes.
    ///
    /// Never blocks on a slow subscriber (it loses its oldest events instead). An event
    /// published while a subscription attaches may or may not reach it.
    #[inline]
    pub fn publish_with<F: FnOnce() -> TraceEvent>(&self, build: F) {
        if self.has_subscribers() {
            self.deliver(build());
        }
    }

    /// Like [`TraceHub::publish_with`], passing the current time to `build`: the clock is read
    /// only when somebody subscribes.
    ///
    /// This is the one place where the crate reads the clock (`SystemTime::now()`), as a
    /// convenience for hosts; use [`TraceHub::publish_with`] to pass your own time.
    #[inline]
    pub fn publish_now_with<F: FnOnce(Timestamp) -> TraceEvent>(&self, build: F) {
        if self.has_subscribers() {
            self.deliver(build(Timestamp::from_system_time(SystemTime::now())));
        }
    }

    /// Publishes an event that is already built.
    #[inline]
    pub fn publish(&self, event: TraceEvent) {
        if self.has_subscribers() {
            self.deliver(event);
        }
    }

    #[inline(never)]
    fn deliver(&self, mut event: TraceEvent) {
        let subs = self.shared.subs.read();
        // One subscriber (the usual case): move the event into its queue, no sharing needed.
        if let [only] = subs.as_slice() {
            if only.admits(&event) {
                if only.terse {
                    terse_in_place(&mut event);
                }
                only.push(Received::owned(event));
            }
            return;
        }
        let event = Arc::new(event);
        // The terse copy, made at most once per event, on the first terse subscriber.
        let mut cut: Option<Option<Arc<TraceEvent>>> = None;
        for s in subs.iter() {
            if !s.admits(&event) {
                continue;
            }
            let shared = if s.terse {
                let c = cut.get_or_insert_with(|| terse(&event).map(Arc::new));
                Arc::clone(c.as_ref().unwrap_or(&event))
            } else {
                Arc::clone(&event)
            };
            s.push(Received::shared(shared));
        }
    }

    /// Attaches a subscriber. It receives events published from now on that pass its filter;
    /// dropping the [`Subscription`] detaches it.
    pub fn subscribe(&self, options: SubscribeOptions) -> Subscription {
        let stream = StreamFilter::new()
            .only_new(options.only_new)
            .only_one(options.only_one);
        let shared = Arc::new(SubShared::new(
            options.filter,
            options.terse,
            options.capacity.max(1),
        ));
        let mut subs = self.shared.subs.write();
        subs.push(Arc::clone(&shared));
        self.shared.counted(&subs);
        drop(subs);
        Subscription::new(shared, Arc::downgrade(&self.shared), stream)
    }
}

impl fmt::Debug for TraceHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceHub")
            .field("subscribers", &self.subscriber_count())
            .finish()
    }
}
