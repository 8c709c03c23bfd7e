//! The epoch counter: one atomic number that moves forward whenever the configuration changed.

use parking_lot::{Condvar, Mutex};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A shared, cheaply cloned handle on a config epoch: a counter that only moves forward.
///
/// Reading the epoch is one atomic load ([`EpochHandle::current`]). A [`ConfigEpoch`] bumps it
/// when the files it watches really changed; anyone may bump it by hand with
/// [`EpochHandle::bump`] (an admin endpoint, a remote-config poller). [`EpochCache`]s read it to
/// decide whether a cached value is current.
///
/// # Examples
///
/// ```
/// use kumo_config::EpochHandle;
///
/// let epoch = EpochHandle::new();
/// let mut sub = epoch.subscribe();
/// assert_eq!(epoch.current(), 0);
/// assert!(!sub.has_changed());
/// epoch.bump();
/// epoch.bump(); // bursts coalesce: a subscriber sees one change to the latest value
/// assert!(sub.has_changed());
/// assert_eq!(sub.mark_seen(), 2);
/// ```
///
/// [`ConfigEpoch`]: crate::ConfigEpoch
/// [`EpochCache`]: crate::EpochCache
#[derive(Clone)]
pub struct EpochHandle {
    shared: Arc<Shared>,
}

struct Shared {
    epoch: AtomicU64,
    // Async subscribers: `notify_waiters` after every bump.
    notify: tokio::sync::Notify,
    // Blocking subscribers.
    lock: Mutex<()>,
    cond: Condvar,
}

impl fmt::Debug for EpochHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochHandle")
            .field("epoch", &self.current())
            .finish()
    }
}

impl Default for EpochHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl EpochHandle {
    /// A new counter at epoch 0.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                epoch: AtomicU64::new(0),
                notify: tokio::sync::Notify::new(),
                lock: Mutex::new(()),
                cond: Condvar::new(),
            }),
        }
    }

    /// The current epoch: one atomic load, no lock, no clock.
    #[inline]
    pub fn current(&self) -> u64 {
        self.shared.epoch.load(Ordering::Acquire)
    }

    /// Moves the epoch forward by one and wakes every subscriber; returns the new epoch.
    pub fn bump(&self) -> u64 {
        let new = self.shared.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        {
            // Taking the lock orders this wake-up after a blocking waiter's check.
            let _g = self.shared.lock.lock();
            self.shared.cond.notify_all();
        }
        self.shared.notify.notify_waiters();
        new
    }

    /// A subscriber that has seen the current epoch and waits for the next change.
    pub fn subscribe(&self) -> EpochSubscriber {
        EpochSubscriber {
            handle: self.clone(),
            seen: self.current(),
        }
    }

    /// Whether both handles share one counter.
    pub fn same_counter(&self, other: &EpochHandle) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// Waits for the epoch to move, like a `tokio::sync::watch` receiver: it remembers the last epoch
/// it saw, and any number of bumps since then is one change (bursts coalesce).
///
/// Use [`EpochSubscriber::changed`] from async code and [`EpochSubscriber::wait_timeout`] from a
/// thread.
#[derive(Debug, Clone)]
pub struct EpochSubscriber {
    handle: EpochHandle,
    seen: u64,
}

impl EpochSubscriber {
    /// The epoch this subscriber saw last.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Whether the epoch moved since this subscriber saw it last.
    pub fn has_changed(&self) -> bool {
        self.handle.current() != self.seen
    }

    /// Marks the current epoch as seen and returns it.
    pub fn mark_seen(&mut self) -> u64 {
        self.seen = self.handle.current();
        self.seen
    }

    /// Waits until the epoch moves past the last one seen, marks it seen and returns it.
    ///
    /// Cancel-safe: dropping the future loses nothing (the next call sees the change).
    pub async fn changed(&mut self) -> u64 {
        let handle = self.handle.clone();
        loop {
            let notified = handle.shared.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.has_changed() {
                return self.mark_seen();
            }
            notified.await;
        }
    }

    /// Blocks the thread until the epoch moves past the last one seen (then marks it seen and
    /// returns it) or `timeout` passes (then returns `None`). Reads the clock.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<u64> {
        let deadline = crate::cache::later(Instant::now(), timeout);
        let shared = &self.handle.shared;
        let mut guard = shared.lock.lock();
        loop {
            if self.handle.current() != self.seen {
                drop(guard);
                return Some(self.mark_seen());
            }
            if shared.cond.wait_until(&mut guard, deadline).timed_out() {
                drop(guard);
                return self.has_changed().then(|| self.mark_seen());
            }
        }
    }

    /// The handle this subscriber watches.
    pub fn handle(&self) -> &EpochHandle {
        &self.handle
    }
}
