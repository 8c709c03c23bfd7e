//! One in-flight load of one key at one epoch, that any number of callers wait for.

use parking_lot::{Condvar, Mutex};
use std::sync::Arc;

/// What a flight ended with.
pub(crate) enum Outcome<V, E> {
    /// The answer every waiter gets: the value (new or last good) or the loader's error.
    Done(Result<V, Arc<E>>),
    /// The leader went away (panic, dropped future): waiters start over.
    Abandoned,
}

pub(crate) struct Flight<V, E> {
    /// The epoch the leader read before loading.
    pub(crate) epoch: u64,
    state: Mutex<Option<Outcome<V, E>>>,
    cond: Condvar,
    notify: tokio::sync::Notify,
}

impl<V: Clone, E> Flight<V, E> {
    pub(crate) fn new(epoch: u64) -> Self {
        Self {
            epoch,
            state: Mutex::new(None),
            cond: Condvar::new(),
            notify: tokio::sync::Notify::new(),
        }
    }

    pub(crate) fn complete(&self, outcome: Outcome<V, E>) {
        {
            let mut st = self.state.lock();
            if st.is_none() {
                *st = Some(outcome);
            }
            self.cond.notify_all();
        }
        self.notify.notify_waiters();
    }

    fn read(&self) -> Option<Option<Result<V, Arc<E>>>> {
        match &*self.state.lock() {
            None => None,
            Some(Outcome::Abandoned) => Some(None),
            Some(Outcome::Done(r)) => Some(Some(r.clone())),
        }
    }

    /// Blocks until the flight ends; `None` when it was abandoned.
    pub(crate) fn wait_blocking(&self) -> Option<Result<V, Arc<E>>> {
        let mut st = self.state.lock();
        loop {
            match &*st {
                None => self.cond.wait(&mut st),
                Some(Outcome::Abandoned) => return None,
                Some(Outcome::Done(r)) => return Some(r.clone()),
            }
        }
    }

    /// Waits until the flight ends; `None` when it was abandoned.
    pub(crate) async fn wait(&self) -> Option<Result<V, Arc<E>>> {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.read() {
                return r;
            }
            notified.await;
        }
    }
}
