//! [`Subscription`]: one subscriber's bounded queue and its receiving side.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::hub::HubShared;
use crate::{
    Level, MessageDisposition, MetaFilter, Payload, Received, Side, StreamFilter, Timestamp,
    TraceEvent, Verdict,
};

/// The error of [`Subscription::try_recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Nothing is waiting now (transient: try again later).
    #[error("no trace event waiting")]
    Empty,
    /// The stream has ended (permanent): the hub is gone and the queue is drained, or
    /// `only_one` saw its session close.
    #[error("trace stream ended")]
    Closed,
}

pub(crate) struct SubShared {
    filter: MetaFilter,
    filter_is_empty: bool,
    pub(crate) terse: bool,
    capacity: usize,
    max_bytes: usize,
    /// Publishers skip this subscriber (it stayed full without a receive). Written under the
    /// state lock; its receiver reads it without the lock to know when to resume.
    parked: AtomicBool,
    pub(crate) state: Mutex<SubState>,
    cond: Condvar,
}

/// What [`SubShared::push`] did, for the hub to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued (or dropped without further ado: the subscriber is closed or parked).
    Queued,
    /// Queued; the queue became full at this time (the stall deadline counts from it).
    NowFull(Timestamp),
    /// Not queued: the subscriber stayed full past `park_after` and is parked now.
    Park,
    /// Not queued: the subscriber stayed full past `stall_timeout` and is closed now.
    Dropped,
}

/// The stall limits in force, read once per publish.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StallLimits {
    pub(crate) park_after: Duration,
    pub(crate) stall_timeout: Duration,
}

pub(crate) struct SubState {
    queue: VecDeque<Received>,
    /// The approximate size of the queued events ([`approx_size`]).
    bytes: usize,
    /// Events dropped since the last lag notice.
    missed: u64,
    missed_total: u64,
    /// Side and time of the newest dropped event, for the lag notice.
    missed_side: Side,
    missed_when: Timestamp,
    /// When a publisher first found the queue full since the last receive.
    pub(crate) full_since: Option<Timestamp>,
    /// While parked: the hub's skip count when the subscriber left the publishers' list
    /// (`None` while it is flagged but still on the list).
    pub(crate) skip_base: Option<u64>,
    /// While parked: events that reached it while flagged but still on the publishers' list.
    parked_missed: u64,
    /// Side and time of the first event missed while parked, for the lag notice.
    parked_side: Side,
    parked_when: Timestamp,
    waker: Option<Waker>,
    sleepers: u32,
    pub(crate) closed: bool,
}

/// The approximate memory an event holds in a queue: its slot plus the text it owns (the
/// connection metadata and the session key are shared by a session's events and not
/// counted).
pub(crate) fn approx_size(event: &TraceEvent) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let heap = match &event.payload {
        Payload::Read { data } | Payload::Write { data } => data.len(),
        Payload::AbbreviatedRead { snippet, .. } | Payload::AbbreviatedWrite { snippet, .. } => {
            snippet.len()
        }
        Payload::Diagnostic { message, .. } => message.len(),
        Payload::Callback {
            name,
            result,
            error,
        } => name.len() + opt(result) + opt(error),
        Payload::MessageDisposition(m) => {
            std::mem::size_of::<MessageDisposition>()
                + m.id.len()
                + m.sender.len()
                + m.recipients
                    .iter()
                    .map(|r| r.len() + std::mem::size_of::<String>())
                    .sum::<usize>()
                + opt(&m.queue)
                + opt(&m.detail)
        }
        Payload::BeginSession | Payload::Connected | Payload::Closed => 0,
    };
    std::mem::size_of::<Received>() + heap
}

impl SubShared {
    pub(crate) fn new(filter: MetaFilter, terse: bool, capacity: usize, max_bytes: usize) -> Self {
        Self {
            filter_is_empty: filter.is_empty(),
            filter,
            terse,
            capacity,
            max_bytes,
            parked: AtomicBool::new(false),
            state: Mutex::new(SubState {
                queue: VecDeque::new(),
                bytes: 0,
                missed: 0,
                missed_total: 0,
                missed_side: Side::Server,
                missed_when: Timestamp::UNIX_EPOCH,
                full_since: None,
                skip_base: None,
                parked_missed: 0,
                parked_side: Side::Server,
                parked_when: Timestamp::UNIX_EPOCH,
                waker: None,
                sleepers: 0,
                closed: false,
            }),
            cond: Condvar::new(),
        }
    }

    #[inline]
    pub(crate) fn admits(&self, event: &TraceEvent) -> bool {
        self.filter_is_empty || self.filter.matches(event)
    }

    /// Whether publishers skip it now.
    pub(crate) fn is_parked(&self) -> bool {
        self.parked.load(Ordering::Relaxed)
    }

    /// Whether `size` more bytes (one event) do not fit now.
    fn is_full(&self, st: &SubState, size: usize) -> bool {
        !st.queue.is_empty()
            && (st.queue.len() >= self.capacity || st.bytes.saturating_add(size) > self.max_bytes)
    }

    pub(crate) fn push(&self, event: Received, limits: StallLimits) -> Pushed {
        let size = approx_size(&event);
        let mut st = self.state.lock();
        if st.closed {
            return Pushed::Queued;
        }
        if self.is_parked() {
            st.parked_missed += 1;
            return Pushed::Queued;
        }
        let mut outcome = Pushed::Queued;
        let mut dropped = None;
        if self.is_full(&st, size) {
            let since = match st.full_since {
                Some(since) => since,
                None => {
                    st.full_since = Some(event.when);
                    outcome = Pushed::NowFull(event.when);
                    event.when
                }
            };
            let full_for = event.when.saturating_duration_since(since);
            if full_for >= limits.stall_timeout {
                st.stall(0, limits.stall_timeout, event.side, event.when);
                self.wake(st);
                return Pushed::Dropped;
            }
            if full_for >= limits.park_after {
                self.parked.store(true, Ordering::Relaxed);
                st.parked_missed = 1;
                st.parked_side = event.side;
                st.parked_when = event.when;
                return Pushed::Park;
            }
            while self.is_full(&st, size) {
                let Some(old) = st.queue.pop_front() else {
                    break;
                };
                st.bytes = st.bytes.saturating_sub(approx_size(&old));
                st.missed += 1;
                st.missed_total += 1;
                st.missed_side = old.side;
                st.missed_when = old.when;
                // Free the first dropped event outside the lock (usually the only one).
                if dropped.is_none() {
                    dropped = Some(old);
                }
            }
        }
        st.bytes += size;
        st.queue.push_back(event);
        self.wake(st);
        drop(dropped);
        outcome
    }

    /// Wakes a waiting receiver, releasing the lock first.
    pub(crate) fn wake(&self, mut st: MutexGuard<'_, SubState>) {
        let waker = st.waker.take();
        let sleepers = st.sleepers != 0;
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        if sleepers {
            self.cond.notify_all();
        }
    }

    /// Takes it off the parked state (under the hub's write lock): the events missed while
    /// parked (`skipped_now` minus the base) are announced after the events it holds.
    pub(crate) fn unpark(&self, st: &mut SubState, skipped_now: u64) {
        let n = st.parked_missed + st.skip_base.map_or(0, |b| skipped_now.wrapping_sub(b));
        st.parked_missed = 0;
        st.skip_base = None;
        st.full_since = None;
        self.parked.store(false, Ordering::Relaxed);
        if n != 0 {
            st.missed_total += n;
            let notice = lag_notice(st.parked_side, st.parked_when, n, None);
            st.bytes += approx_size(&notice);
            st.queue.push_back(notice);
        }
    }

    pub(crate) fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        self.wake(st);
    }
}

/// The global diagnostic that tells a subscriber how many events it missed, and, when it is
/// dropped, why.
fn lag_notice(side: Side, when: Timestamp, n: u64, dropped_after: Option<Duration>) -> Received {
    let message = match dropped_after {
        None => format!("subscriber lagged behind and missed {n} events"),
        Some(d) => format!(
            "subscriber lagged behind and missed {n} events; dropped: nothing received for {} ms while its queue was full",
            d.as_millis()
        ),
    };
    Received::owned(TraceEvent::global_diagnostic(
        side,
        when,
        Level::Error,
        message,
    ))
}

impl SubState {
    /// The next raw event: the lag notice first when events were missed.
    fn take(&mut self) -> Option<Received> {
        if self.missed != 0 {
            let n = std::mem::take(&mut self.missed);
            self.full_since = None;
            return Some(lag_notice(self.missed_side, self.missed_when, n, None));
        }
        let event = self.queue.pop_front()?;
        self.bytes = self.bytes.saturating_sub(approx_size(&event));
        self.full_since = None;
        Some(event)
    }

    /// Drops the subscriber for stalling: frees the queue, leaves the final lag notice (with
    /// `skipped` more events missed while parked) and closes it.
    pub(crate) fn stall(&mut self, skipped: u64, timeout: Duration, side: Side, when: Timestamp) {
        let lost = self.queue.len() as u64 + self.parked_missed + skipped;
        let n = self.missed + lost;
        self.missed_total += lost;
        self.missed = 0;
        self.parked_missed = 0;
        self.skip_base = None;
        self.full_since = None;
        self.queue = VecDeque::new();
        let notice = lag_notice(side, when, n, Some(timeout));
        self.bytes = approx_size(&notice);
        self.queue.push_back(notice);
        self.closed = true;
    }
}

/// One subscriber of a [`TraceHub`](crate::TraceHub): receives the events that pass its
/// filters, in publish order, as [`Received`] (an owned or shared [`TraceEvent`]).
///
/// Three ways to receive: [`Subscription::recv`] (async, works on any executor, cancel-safe),
/// [`Subscription::recv_blocking`] (a thread) and [`Subscription::try_recv`] (poll). Each
/// applies the subscription's `only_new`/`only_one` [`StreamFilter`]; a lag notice (a global
/// diagnostic) passes every filter.
///
/// The stream ends (`None` / [`TryRecvError::Closed`]) when the hub is dropped and the queue
/// is drained, right after the `Closed` event of the session `only_one` follows — at which
/// point the subscription detaches from the hub — or when the hub dropped it for stalling
/// ([`TraceHubConfig`](crate::TraceHubConfig)): its last event is then a lag notice.
/// Dropping the subscription detaches it too.
pub struct Subscription {
    shared: Arc<SubShared>,
    hub: Weak<HubShared>,
    filter: StreamFilter,
}

impl Subscription {
    pub(crate) fn new(shared: Arc<SubShared>, hub: Weak<HubShared>, filter: StreamFilter) -> Self {
        Self {
            shared,
            hub,
            filter,
        }
    }

    /// Puts a parked subscriber back on the publishers' list once its reader receives again.
    fn resume_if_parked(&mut self) {
        if !self.shared.is_parked() {
            return;
        }
        match self.hub.upgrade() {
            Some(hub) => hub.unpark(&self.shared),
            None => {
                let mut st = self.shared.state.lock();
                self.shared.unpark(&mut st, 0);
            }
        }
    }

    fn detach(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.remove(&self.shared);
        }
        self.hub = Weak::new();
    }

    /// Runs the stream filter; `None` means skip.
    fn admit(&mut self, event: Received) -> Option<Received> {
        match self.filter.check(&event) {
            Verdict::Pass => Some(event),
            Verdict::Drop => None,
            Verdict::End => {
                self.detach();
                Some(event)
            }
        }
    }

    /// The next event if one is waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when nothing is waiting, [`TryRecvError::Closed`] when the
    /// stream has ended.
    pub fn try_recv(&mut self) -> Result<Received, TryRecvError> {
        loop {
            self.resume_if_parked();
            if self.filter.is_ended() {
                return Err(TryRecvError::Closed);
            }
            let event = {
                let mut st = self.shared.state.lock();
                match st.take() {
                    Some(e) => e,
                    None if st.closed => return Err(TryRecvError::Closed),
                    None => return Err(TryRecvError::Empty),
                }
            };
            if let Some(e) = self.admit(event) {
                return Ok(e);
            }
        }
    }

    /// Waits on this thread for the next event; `None` when the stream has ended.
    ///
    /// Do not call it from an async task; use [`Subscription::recv`] there.
    pub fn recv_blocking(&mut self) -> Option<Received> {
        loop {
            self.resume_if_parked();
            if self.filter.is_ended() {
                return None;
            }
            let event = {
                let mut st = self.shared.state.lock();
                loop {
                    if let Some(e) = st.take() {
                        break e;
                    }
                    if st.closed {
                        return None;
                    }
                    st.sleepers += 1;
                    self.shared.cond.wait(&mut st);
                    st.sleepers -= 1;
                }
            };
            if let Some(e) = self.admit(event) {
                return Some(e);
            }
        }
    }

    /// Polls for the next event, registering `cx`'s waker when none is waiting;
    /// `Ready(None)` when the stream has ended. For building a `Stream`.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Received>> {
        loop {
            self.resume_if_parked();
            if self.filter.is_ended() {
                return Poll::Ready(None);
            }
            let event = {
                let mut st = self.shared.state.lock();
                match st.take() {
                    Some(e) => e,
                    None if st.closed => return Poll::Ready(None),
                    None => {
                        match &mut st.waker {
                            Some(w) if w.will_wake(cx.waker()) => {}
                            slot => *slot = Some(cx.waker().clone()),
                        }
                        return Poll::Pending;
                    }
                }
            };
            if let Some(e) = self.admit(event) {
                return Poll::Ready(Some(e));
            }
        }
    }

    /// Waits for the next event; `None` when the stream has ended.
    ///
    /// Runtime-agnostic (a plain future) and cancel-safe: dropping the future loses no event.
    pub async fn recv(&mut self) -> Option<Received> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// How many events this subscriber has missed in total by lagging behind.
    pub fn missed_total(&self) -> u64 {
        self.shared.state.lock().missed_total
    }

    /// How many events wait in the queue now (before `only_new`/`only_one`).
    pub fn len(&self) -> usize {
        self.shared.state.lock().queue.len()
    }

    /// Whether no event waits in the queue now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The approximate memory the waiting events hold, in bytes: what
    /// [`SubscribeOptions::max_bytes`](crate::SubscribeOptions::max_bytes) bounds (each
    /// event's queue slot plus the text it owns).
    pub fn queued_bytes(&self) -> usize {
        self.shared.state.lock().bytes
    }

    /// Whether publishers skip this subscriber now, because its queue stayed full without a
    /// receive for [`TraceHubConfig::park_after`](crate::TraceHubConfig::park_after). The
    /// next receive resumes it.
    pub fn is_parked(&self) -> bool {
        self.shared.is_parked()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.detach();
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("waiting", &self.len())
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}
