//! [`Subscription`]: one subscriber's bounded queue and its receiving side.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Weak};

use std::task::{Context, Poll, Waker};

use parking_lot::{Condvar, Mutex};

use crate::hub::HubShared;
use crate::{Level, MetaFilter, Received, Side, StreamFilter, Timestamp, TraceEvent, Verdict};

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
    state: Mutex<SubState>,
    cond: Condvar,
}

struct SubState {
    queue: VecDeque<Received>,
    /// Events dropped since the last lag notice.
    missed: u64,
    missed_total: u64,
    /// Side and time of the newest dropped event, for the lag notice.
    missed_side: Side,
    missed_when: Timestamp,
    waker: Option<Waker>,
    sleepers: u32,
    closed: bool,
}

impl SubShared {
    pub(crate) fn new(filter: MetaFilter, terse: bool, capacity: usize) -> Self {
        Self {
            filter_is_empty: filter.is_empty(),
            filter,
            terse,
            capacity,
            state: Mutex::new(SubState {
                queue: VecDeque::new(),
                missed: 0,
                missed_total: 0,
                missed_side: Side::Server,
                missed_when: Timestamp::UNIX_EPOCH,
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

    pub(crate) fn push(&self, event: Received) {
        let mut st = self.state.lock();
        if st.closed {
            return;
        }
        let dropped = if st.queue.len() >= self.capacity {
            let old = st.queue.pop_front();
            if let Some(o) = &old {
                st.missed += 1;
                st.missed_total += 1;
                st.missed_side = o.side;
                st.missed_when = o.when;
            }
            old
        } else {
            None
        };
        st.queue.push_back(event);
        let waker = st.waker.take();
        let sleepers = st.sleepers != 0;
        drop(st);
        // Free the dropped event outside the lock.
        drop(dropped);
        if let Some(w) = waker {
            w.wake();
        }
        if sleepers {
            self.cond.notify_one();
        }
    }

    pub(crate) fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        let waker = st.waker.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        self.cond.notify_all();
    }
}

impl SubState {
    /// The next raw event: the lag notice first when events were missed.
    fn take(&mut self) -> Option<Received> {
        if self.missed != 0 {
            let n = std::mem::take(&mut self.missed);
            return Some(Received::owned(TraceEvent::global_diagnostic(
                self.missed_side,
                self.missed_when,
                Level::Error,
                format!("subscriber lagged behind and missed {n} events"),
            )));
        }
        self.queue.pop_front()
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
/// is drained, or right after the `Closed` event of the session `only_one` follows — at which
/// point the subscription detaches from the hub. Dropping the subscription detaches it too.
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
