//! [`TraceHub`]: where hosts publish events and subscribers attach, at no cost when nobody does.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;

use crate::subscription::{Pushed, StallLimits, SubShared};
use crate::terse::terse_in_place;
use crate::{
    Received, Side, StreamFilter, SubscribeError, SubscribeOptions, Subscription, Timestamp,
    TraceEvent, TraceHubConfig, terse,
};

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
///   queue of [`SubscribeOptions::capacity`] events and [`SubscribeOptions::max_bytes`]
///   bytes. When it is full the oldest event is dropped; the subscriber's next receive yields
///   a global [`Payload::Diagnostic`] (level `Error`) saying how many events it missed, then
///   carries on — it is not disconnected.
/// * **A reader that stopped costs nothing.** A subscriber full without a receive for
///   [`TraceHubConfig::park_after`] is parked (publishers skip it; with only parked ones left
///   nothing is built) and after [`TraceHubConfig::stall_timeout`] dropped, its last event a
///   lag notice. At most [`TraceHubConfig::max_subscribers`] attach
///   ([`TraceHub::try_subscribe`]).
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
/// The subscriber lists (active, parked) are under one `RwLock` read by publishers; each
/// subscriber's queue is a `VecDeque` under its own mutex, so publishers from many session
/// tasks contend only per subscriber and only for a push. Parking and dropping take the write
/// lock once per subscriber; a parked subscriber's missed events are counted by one hub-wide
/// counter, not per subscriber. The active and parked counts share one atomic word, so the
/// idle check stays one load. A waiting receiver is woken through its `Waker` (async) or a
/// condition variable (blocking), each touched only when a receiver actually waits.
///
/// Where a stuck subscriber's memory went before these bounds: its queue held up to 16,384
/// events, and the queue slot of an event is 112 bytes (a `Received` on a 64-bit target) even
/// when the event itself is shared with other subscribers, so each stuck subscriber held a
/// 1.8 MB slot array. `max_bytes` counts the slots (the slot array may be up to twice what is
/// counted, as a `VecDeque` grows by doubling).
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

/// Active subscribers in the low 32 bits of [`HubShared::counts`], parked ones in the high 32.
const ACTIVE: u64 = u32::MAX as u64;

fn pack(active: usize, parked: usize) -> u64 {
    (active.min(u32::MAX as usize) as u64) | ((parked.min(u32::MAX as usize) as u64) << 32)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The subscribers: those publishers offer events to, and the parked ones they skip.
#[derive(Default)]
struct Lists {
    active: Vec<Arc<SubShared>>,
    parked: Vec<Arc<SubShared>>,
}

pub(crate) struct HubShared {
    /// [`pack`]ed counts of active and parked subscribers: zero means nobody subscribes.
    counts: AtomicU64,
    /// Active subscribers that want message data whole (not `terse`).
    whole: AtomicUsize,
    subs: RwLock<Lists>,
    /// Events published while a subscriber was parked: what parked subscribers miss.
    skipped: AtomicU64,
    /// The earliest stall deadline (Unix nanoseconds) of a full subscriber; `u64::MAX`: none.
    next_deadline: AtomicU64,
    max_subscribers: AtomicUsize,
    park_after: AtomicU64,
    stall_timeout: AtomicU64,
    /// Subscribers dropped for stalling, in total.
    dropped: AtomicU64,
}

impl Default for HubShared {
    fn default() -> Self {
        let config = TraceHubConfig::default();
        Self {
            counts: AtomicU64::new(0),
            whole: AtomicUsize::new(0),
            subs: RwLock::default(),
            skipped: AtomicU64::new(0),
            next_deadline: AtomicU64::new(u64::MAX),
            max_subscribers: AtomicUsize::new(config.max_subscribers),
            park_after: AtomicU64::new(nanos(config.park_after)),
            stall_timeout: AtomicU64::new(nanos(config.stall_timeout)),
            dropped: AtomicU64::new(0),
        }
    }
}

impl HubShared {
    pub(crate) fn remove(&self, sub: &Arc<SubShared>) {
        let mut subs = self.subs.write();
        let Lists { active, parked } = &mut *subs;
        for list in [active, parked] {
            if let Some(i) = list.iter().position(|s| Arc::ptr_eq(s, sub)) {
                list.swap_remove(i);
            }
        }
        self.counted(&subs);
    }

    /// Updates the counts after a change of the lists (under their write lock).
    fn counted(&self, subs: &Lists) {
        self.counts.store(
            pack(subs.active.len(), subs.parked.len()),
            Ordering::Relaxed,
        );
        let whole = subs.active.iter().filter(|s| !s.terse).count();
        self.whole.store(whole, Ordering::Relaxed);
    }

    fn limits(&self) -> StallLimits {
        StallLimits {
            park_after: Duration::from_nanos(self.park_after.load(Ordering::Relaxed)),
            stall_timeout: Duration::from_nanos(self.stall_timeout.load(Ordering::Relaxed)),
        }
    }

    /// Puts a parked subscriber back on the publishers' list (its reader receives again).
    pub(crate) fn unpark(&self, sub: &Arc<SubShared>) {
        let mut subs = self.subs.write();
        let mut st = sub.state.lock();
        if !sub.is_parked() {
            return;
        }
        sub.unpark(&mut st, self.skipped.load(Ordering::Relaxed));
        drop(st);
        if let Some(i) = subs.parked.iter().position(|s| Arc::ptr_eq(s, sub)) {
            let s = subs.parked.swap_remove(i);
            subs.active.push(s);
        }
        self.counted(&subs);
    }

    /// Moves the subscribers flagged as parked off the publishers' list, drops those full
    /// without a receive for the stall timeout at `now`, and forgets the closed ones. Returns
    /// how many it dropped.
    fn sweep(&self, now: Timestamp) -> usize {
        let limits = self.limits();
        let mut subs = self.subs.write();
        let skipped = self.skipped.load(Ordering::Relaxed);
        let mut next = u64::MAX;
        let mut dropped = 0usize;
        // Whether to keep a subscriber: not closed, and not stalled past the deadline (then
        // it is dropped here, with its final lag notice).
        let mut keep = |s: &Arc<SubShared>| {
            let mut st = s.state.lock();
            if st.closed {
                return false;
            }
            let Some(since) = st.full_since else {
                return true;
            };
            if now.saturating_duration_since(since) >= limits.stall_timeout {
                let missed = st.skip_base.map_or(0, |b| skipped.wrapping_sub(b));
                st.stall(missed, limits.stall_timeout, Side::Server, now);
                s.wake(st);
                dropped += 1;
                return false;
            }
            let deadline = since.saturating_add(limits.stall_timeout);
            next = next.min(deadline.as_unix_nanos());
            true
        };
        let Lists { active, parked } = &mut *subs;
        let mut to_park = Vec::new();
        active.retain(|s| {
            if !keep(s) {
                return false;
            }
            if s.is_parked() {
                s.state.lock().skip_base = Some(skipped);
                to_park.push(Arc::clone(s));
                return false;
            }
            true
        });
        parked.retain(&mut keep);
        parked.append(&mut to_park);
        self.next_deadline.store(next, Ordering::Relaxed);
        self.counted(&subs);
        drop(subs);
        if dropped != 0 {
            self.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
            tracing::debug!(
                dropped,
                stall_timeout_ms = limits.stall_timeout.as_millis() as u64,
                "trace subscribers dropped: full without a receive past the stall timeout"
            );
        }
        dropped
    }
}

impl Drop for HubShared {
    fn drop(&mut self) {
        let subs = self.subs.get_mut();
        for s in subs.active.drain(..).chain(subs.parked.drain(..)) {
            s.close();
        }
    }
}

impl TraceHub {
    /// A hub with no subscribers and the default [`TraceHubConfig`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A hub with no subscribers and these limits.
    ///
    /// # Examples
    ///
    /// ```
    /// use kumo_trace::{SubscribeError, SubscribeOptions, TraceHub, TraceHubConfig};
    ///
    /// let mut config = TraceHubConfig::default();
    /// config.max_subscribers = 1;
    /// let hub = TraceHub::with_config(config);
    /// let _first = hub.try_subscribe(SubscribeOptions::default())?;
    /// assert_eq!(
    ///     hub.try_subscribe(SubscribeOptions::default()).unwrap_err(),
    ///     SubscribeError::TooManySubscribers { max: 1 }
    /// );
    /// # Ok::<(), SubscribeError>(())
    /// ```
    pub fn with_config(config: TraceHubConfig) -> Self {
        let hub = Self::default();
        hub.set_config(config);
        hub
    }

    /// Changes the limits (for a live configuration). A lower
    /// [`max_subscribers`](TraceHubConfig::max_subscribers) refuses new subscriptions until
    /// enough have gone; it detaches none. New timeouts apply from the next publish.
    pub fn set_config(&self, config: TraceHubConfig) {
        let s = &self.shared;
        s.max_subscribers
            .store(config.max_subscribers.max(1), Ordering::Relaxed);
        s.park_after
            .store(nanos(config.park_after), Ordering::Relaxed);
        s.stall_timeout
            .store(nanos(config.stall_timeout), Ordering::Relaxed);
    }

    /// The limits in force.
    pub fn config(&self) -> TraceHubConfig {
        let s = &self.shared;
        let limits = s.limits();
        TraceHubConfig {
            max_subscribers: s.max_subscribers.load(Ordering::Relaxed),
            park_after: limits.park_after,
            stall_timeout: limits.stall_timeout,
        }
    }

    /// Whether anybody receives events now (one relaxed atomic load). Parked subscribers
    /// ([`TraceHubConfig`]) do not count: while only they remain, events are not built.
    #[inline]
    pub fn has_subscribers(&self) -> bool {
        self.shared.counts.load(Ordering::Relaxed) & ACTIVE != 0
    }

    /// Whether every subscriber asked for [`terse`](crate::terse) data (and at least one
    /// subscribes): a publisher may then cut message data itself, before making text of it.
    #[inline]
    pub fn all_terse(&self) -> bool {
        self.has_subscribers() && self.shared.whole.load(Ordering::Relaxed) == 0
    }

    /// How many subscriptions are attached (parked ones included).
    pub fn subscriber_count(&self) -> usize {
        let n = self.shared.counts.load(Ordering::Relaxed);
        (n & ACTIVE) as usize + (n >> 32) as usize
    }

    /// How many subscriptions are parked now: full without a receive for
    /// [`TraceHubConfig::park_after`], skipped by publishers.
    pub fn parked_count(&self) -> usize {
        (self.shared.counts.load(Ordering::Relaxed) >> 32) as usize
    }

    /// How many subscriptions the hub has dropped for stalling since it was made.
    pub fn stalled_total(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Publishes the event `build` returns, calling `build` only when somebody receives.
    ///
    /// Never blocks on a slow subscriber (it loses its oldest events instead), and a
    /// subscriber that does not read at all stops costing anything after
    /// [`TraceHubConfig::park_after`]. An event published while a subscription attaches or
    /// resumes may or may not reach it.
    #[inline]
    pub fn publish_with<F: FnOnce() -> TraceEvent>(&self, build: F) {
        let counts = self.shared.counts.load(Ordering::Relaxed);
        if counts != 0 {
            if counts & ACTIVE != 0 {
                self.deliver(build());
            } else {
                self.skip();
            }
        }
    }

    /// Like [`TraceHub::publish_with`], passing the current time to `build`: the clock is read
    /// only when somebody receives.
    ///
    /// This is the one place where the crate reads the clock (`SystemTime::now()`), as a
    /// convenience for hosts; use [`TraceHub::publish_with`] to pass your own time.
    #[inline]
    pub fn publish_now_with<F: FnOnce(Timestamp) -> TraceEvent>(&self, build: F) {
        self.publish_with(|| build(Timestamp::from_system_time(SystemTime::now())));
    }

    /// Publishes an event that is already built.
    #[inline]
    pub fn publish(&self, event: TraceEvent) {
        self.publish_with(|| event);
    }

    /// Counts an event that only parked subscribers would have wanted.
    #[cold]
    fn skip(&self) {
        self.shared.skipped.fetch_add(1, Ordering::Relaxed);
    }

    #[inline(never)]
    fn deliver(&self, mut event: TraceEvent) {
        let when = event.when;
        let limits = self.shared.limits();
        let mut settle = false;
        {
            let subs = self.shared.subs.read();
            if !subs.parked.is_empty() {
                self.shared.skipped.fetch_add(1, Ordering::Relaxed);
            }
            let mut note = |pushed: Pushed| match pushed {
                Pushed::Queued => {}
                Pushed::NowFull(since) => {
                    let deadline = since.saturating_add(limits.stall_timeout);
                    self.shared
                        .next_deadline
                        .fetch_min(deadline.as_unix_nanos(), Ordering::Relaxed);
                }
                Pushed::Park | Pushed::Dropped => settle = true,
            };
            // One subscriber (the usual case): move the event into its queue, no sharing needed.
            if let [only] = subs.active.as_slice() {
                if only.admits(&event) {
                    if only.terse {
                        terse_in_place(&mut event);
                    }
                    note(only.push(Received::owned(event), limits));
                }
            } else {
                // Every subscriber of the full event shares it and its JSON cache.
                let full = Received::shared(Arc::new(event), Arc::new(OnceLock::new()));
                // The terse copy (with its own cache), made at most once per event, on the
                // first terse subscriber; `None` inside when terse leaves the event as is.
                let mut cut: Option<Option<Received>> = None;
                for s in subs.active.iter() {
                    if !s.admits(&full) {
                        continue;
                    }
                    let shared = match s.terse {
                        true => cut
                            .get_or_insert_with(|| {
                                terse(&full).map(|t| {
                                    Received::shared(Arc::new(t), Arc::new(OnceLock::new()))
                                })
                            })
                            .as_ref()
                            .unwrap_or(&full)
                            .clone(),
                        false => full.clone(),
                    };
                    note(s.push(shared, limits));
                }
            }
        }
        if settle || when.as_unix_nanos() >= self.shared.next_deadline.load(Ordering::Relaxed) {
            self.shared.sweep(when);
        }
    }

    /// Drops the subscribers that have been full without a receive for
    /// [`TraceHubConfig::stall_timeout`] at `now`; returns how many.
    ///
    /// Publishing does this too, with the time of the event published; call it now and then
    /// (a host's housekeeping tick, or before refusing a new subscriber) so that stalled
    /// subscribers go even while nothing is published, or while only parked ones remain and
    /// events are not built. It is one atomic load when no deadline has passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use kumo_trace::{
    ///     Payload, SessionKey, Side, SubscribeOptions, Timestamp, TraceEvent, TraceHub, TryRecvError,
    /// };
    ///
    /// let hub = TraceHub::new(); // stall timeout 10 s
    /// let mut sub = hub.subscribe(SubscribeOptions { capacity: 1, ..Default::default() });
    /// let t0 = Timestamp::from_unix_nanos(1_700_000_000_000_000_000);
    /// let ev = |t| TraceEvent::new(Side::Client, SessionKey::new("s"), t, Payload::Connected);
    /// hub.publish(ev(t0));
    /// hub.publish(ev(t0)); // finds the queue full: the stall clock starts
    /// assert_eq!(hub.expire_stalled(t0.saturating_add(Duration::from_secs(9))), 0);
    /// assert_eq!(hub.expire_stalled(t0.saturating_add(Duration::from_secs(10))), 1);
    /// assert!(sub.try_recv()?.payload.is_diagnostic()); // the final lag notice
    /// assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Closed);
    /// # Ok::<(), TryRecvError>(())
    /// ```
    pub fn expire_stalled(&self, now: Timestamp) -> usize {
        if now.as_unix_nanos() < self.shared.next_deadline.load(Ordering::Relaxed) {
            return 0;
        }
        self.shared.sweep(now)
    }

    /// Attaches a subscriber. It receives events published from now on that pass its filter;
    /// dropping the [`Subscription`] detaches it.
    ///
    /// For the host's own consumers: it attaches whatever the number attached, and counts
    /// towards [`TraceHubConfig::max_subscribers`], which only [`TraceHub::try_subscribe`]
    /// enforces. Use that one for subscribers that clients open (an HTTP endpoint).
    pub fn subscribe(&self, options: SubscribeOptions) -> Subscription {
        match self.attach(options, |_, _| Ok::<(), std::convert::Infallible>(())) {
            Ok(sub) => sub,
            Err(never) => match never {},
        }
    }

    /// Attaches a subscriber, unless [`TraceHubConfig::max_subscribers`] are attached already.
    ///
    /// # Errors
    ///
    /// [`SubscribeError::TooManySubscribers`] (transient). Subscribers that stalled past
    /// their deadline keep their place until a publish or [`TraceHub::expire_stalled`] drops
    /// them, so call that first with the current time.
    ///
    /// # Examples
    ///
    /// ```
    /// use kumo_trace::{SubscribeError, SubscribeOptions, TraceHub, TraceHubConfig};
    ///
    /// let mut config = TraceHubConfig::default();
    /// config.max_subscribers = 2;
    /// let hub = TraceHub::with_config(config);
    /// let a = hub.try_subscribe(SubscribeOptions::default())?;
    /// let _b = hub.try_subscribe(SubscribeOptions::default())?;
    /// assert!(matches!(
    ///     hub.try_subscribe(SubscribeOptions::default()),
    ///     Err(SubscribeError::TooManySubscribers { max: 2 })
    /// ));
    /// drop(a); // a place frees
    /// let _c = hub.try_subscribe(SubscribeOptions::default())?;
    /// # Ok::<(), SubscribeError>(())
    /// ```
    pub fn try_subscribe(&self, options: SubscribeOptions) -> Result<Subscription, SubscribeError> {
        self.attach(options, |attached, max| {
            if attached >= max {
                Err(SubscribeError::TooManySubscribers { max })
            } else {
                Ok(())
            }
        })
    }

    /// Attaches a subscriber if `admit`, given the number attached and the cap under the
    /// lock that the attach takes, lets it.
    fn attach<E>(
        &self,
        options: SubscribeOptions,
        admit: impl FnOnce(usize, usize) -> Result<(), E>,
    ) -> Result<Subscription, E> {
        let stream = StreamFilter::new()
            .only_new(options.only_new)
            .only_one(options.only_one);
        let shared = Arc::new(SubShared::new(
            options.filter,
            options.terse,
            options.capacity.max(1),
            options.max_bytes.max(1),
        ));
        let mut subs = self.shared.subs.write();
        let max = self.shared.max_subscribers.load(Ordering::Relaxed);
        admit(subs.active.len() + subs.parked.len(), max)?;
        subs.active.push(Arc::clone(&shared));
        self.shared.counted(&subs);
        drop(subs);
        Ok(Subscription::new(
            shared,
            Arc::downgrade(&self.shared),
            stream,
        ))
    }
}

impl fmt::Debug for TraceHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceHub")
            .field("subscribers", &self.subscriber_count())
            .finish()
    }
}
