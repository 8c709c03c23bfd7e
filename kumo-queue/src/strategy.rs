//! [`QueueStrategy`]: how a [`Scheduler`](crate::Scheduler) indexes its messages by due time.
//!
//! Three strategies sit behind one trait, [`Strategy`], and behave identically (the property
//! tests check that they return the same batches); they differ in cost:
//!
//! | strategy | structure | advance cost | per-queue cost |
//! |---|---|---|---|
//! | [`SingletonTimerWheel`] (default) | one wheel for every queue | O(1) idle, O(1) per entry | none |
//! | [`TimerWheelPerQueue`] | one wheel per queue with messages | O(active queues) | ~16 KiB per active queue |
//! | [`SkipList`] | one ordered set per queue | O(active queues) + O(log n) per entry | a `BTreeSet` per active queue |
//!
//! The per-queue strategies exist so hosts can compare and choose, as KumoMTA offers
//! `TimerWheel` and `SkipList` beside `SingletonTimerWheel`; at more than a few thousand queues the
//! singleton wheel is the one to use.

mod per_queue;
mod singleton;
mod skip_list;

pub use per_queue::TimerWheelPerQueue;
pub use singleton::SingletonTimerWheel;
pub use skip_list::SkipList;

pub(crate) mod sealed {
    /// The operations a strategy provides to the scheduler. Indices are the scheduler's message
    /// slots, queues its queue ids, ticks absolute due ticks (always after the current tick).
    pub trait Engine: std::fmt::Debug {
        /// Files message `index` of `queue` at `due`; the message is not yet scheduled.
        fn schedule(&mut self, queue: u32, index: u32, due: u32);
        /// Moves scheduled message `index` of `queue` to `due`.
        fn reschedule(&mut self, queue: u32, index: u32, due: u32);
        /// Removes scheduled message `index` of `queue`.
        fn cancel(&mut self, queue: u32, index: u32);
        /// Advances to tick `target`, appending `(index, due)` of every message due by then.
        fn advance(&mut self, target: u32, out: &mut Vec<(u32, u32)>);
        /// A lower bound of the earliest due tick.
        fn next_due(&self) -> Option<u32>;
        /// The due tick of scheduled message `index`.
        fn due_of(&self, index: u32) -> Option<u32>;
        /// Removes every message of `queue`, appending `(index, due)`; returns `false` when the
        /// strategy keeps no per-queue index, and the scheduler has to find them itself.
        fn take_queue(&mut self, queue: u32, out: &mut Vec<(u32, u32)>) -> bool;
    }
}

/// A way of indexing scheduled messages by due time; see the [module docs](self).
///
/// The trait is sealed: its operations are internal to the scheduler. Pick one of
/// [`SingletonTimerWheel`], [`TimerWheelPerQueue`] and [`SkipList`] statically as the
/// scheduler's type parameter, or [`QueueStrategy`] to choose at run time.
pub trait Strategy: sealed::Engine + Default {}

impl Strategy for SingletonTimerWheel {}
impl Strategy for TimerWheelPerQueue {}
impl Strategy for SkipList {}
impl Strategy for QueueStrategy {}

/// The strategy chosen at run time, as KumoMTA's `strategy` queue option.
///
/// # Examples
///
/// ```
/// use kumo_queue::{QueueStrategy, Scheduler};
/// use std::time::Duration;
///
/// let mut s: Scheduler<&str, QueueStrategy> =
///     Scheduler::with_strategy(QueueStrategy::skip_list(), Duration::from_secs(1))?;
/// let q = s.queue("example.com")?;
/// s.schedule(q, "hello", Duration::from_secs(5)).map_err(|r| r.reason)?;
/// assert_eq!(s.advance(Duration::from_secs(5)).len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum QueueStrategy {
    /// One wheel shared by every queue (the default).
    SingletonTimerWheel(SingletonTimerWheel),
    /// One wheel per queue.
    TimerWheel(TimerWheelPerQueue),
    /// One ordered set per queue.
    SkipList(SkipList),
}

impl Default for QueueStrategy {
    fn default() -> Self {
        Self::singleton_timer_wheel()
    }
}

impl QueueStrategy {
    /// [`QueueStrategy::SingletonTimerWheel`].
    pub fn singleton_timer_wheel() -> Self {
        Self::SingletonTimerWheel(SingletonTimerWheel::default())
    }

    /// [`QueueStrategy::TimerWheel`].
    pub fn timer_wheel() -> Self {
        Self::TimerWheel(TimerWheelPerQueue::default())
    }

    /// [`QueueStrategy::SkipList`].
    pub fn skip_list() -> Self {
        Self::SkipList(SkipList::default())
    }

    /// The strategy's name as KumoMTA spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SingletonTimerWheel(_) => "SingletonTimerWheel",
            Self::TimerWheel(_) => "TimerWheel",
            Self::SkipList(_) => "SkipList",
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            QueueStrategy::SingletonTimerWheel($s) => $e,
            QueueStrategy::TimerWheel($s) => $e,
            QueueStrategy::SkipList($s) => $e,
        }
    };
}

impl sealed::Engine for QueueStrategy {
    fn schedule(&mut self, queue: u32, index: u32, due: u32) {
        dispatch!(self, s => s.schedule(queue, index, due))
    }
    fn reschedule(&mut self, queue: u32, index: u32, due: u32) {
        dispatch!(self, s => s.reschedule(queue, index, due))
    }
    fn cancel(&mut self, queue: u32, index: u32) {
        dispatch!(self, s => s.cancel(queue, index))
    }
    fn advance(&mut self, target: u32, out: &mut Vec<(u32, u32)>) {
        dispatch!(self, s => s.advance(target, out))
    }
    fn next_due(&self) -> Option<u32> {
        dispatch!(self, s => s.next_due())
    }
    fn due_of(&self, index: u32) -> Option<u32> {
        dispatch!(self, s => s.due_of(index))
    }
    fn take_queue(&mut self, queue: u32, out: &mut Vec<(u32, u32)>) -> bool {
        dispatch!(self, s => s.take_queue(queue, out))
    }
}
