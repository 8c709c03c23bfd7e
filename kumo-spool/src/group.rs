//! Group commit: concurrent writers share one commit and one sync.

use std::ops::Range;

use parking_lot::{Condvar, Mutex};

use crate::backend::{Backend, Op, Prepared};
use crate::error::SpoolError;
use crate::stats::Counters;

/// Writers queue their prepared ops; the first writer that finds no commit running becomes the
/// leader, takes everything queued, commits it with one sync and wakes the others. While it
/// commits, the next group gathers.
///
/// # Implementation
///
/// Tickets are handed out in submission order and groups are taken in ticket order, so every
/// group is a contiguous range of tickets and `done` (every ticket below it is finished) is
/// enough to tell a waiter that its op was committed. Failed groups are remembered with the
/// number of their waiters that have yet to read the error.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    backend: Box<dyn Backend>,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    queue: Vec<Prepared>,
    sync: bool,
    next: u64,
    taken: u64,
    done: u64,
    leading: bool,
    failed: Vec<Failed>,
    /// Groups committed without a sync since the last synced one.
    unsynced: u32,
}

/// After this many buffered groups in a row, the next group syncs anyway: buffered writes
/// become durable within a bounded number of commits even when nobody asks for a sync, and
/// redb can release the pages that non-durable commits keep pinned.
const SYNC_EVERY: u32 = 64;

#[derive(Debug)]
struct Failed {
    tickets: Range<u64>,
    error: SpoolError,
    unread: u64,
}

impl GroupCommit {
    pub(crate) fn new(backend: Box<dyn Backend>) -> Self {
        Self {
            backend,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        }
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    /// Prepares `ops` on this thread, then waits until the group commit holding them (all in
    /// the same group, so all or none) finishes.
    pub(crate) fn submit(
        &self,
        ops: impl IntoIterator<Item = Op>,
        sync: bool,
        counters: &Counters,
    ) -> Result<(), SpoolError> {
        let mut prepared = Vec::new();
        for op in ops {
            match self.backend.prepare(op) {
                Ok(p) => prepared.push(p),
                Err(e) => {
                    self.backend.discard(prepared);
                    return Err(e);
                }
            }
        }
        let mut g = self.state.lock();
        let ticket = g.next;
        g.next += 1;
        g.queue.append(&mut prepared);
        g.sync |= sync;
        loop {
            if ticket < g.done {
                return Self::outcome(&mut g, ticket);
            }
            if !g.leading {
                self.lead(&mut g, counters);
                continue;
            }
            self.wake.wait(&mut g);
        }
    }

    fn outcome(g: &mut State, ticket: u64) -> Result<(), SpoolError> {
        let Some(pos) = g.failed.iter().position(|f| f.tickets.contains(&ticket)) else {
            return Ok(());
        };
        let f = &mut g.failed[pos];
        f.unread -= 1;
        let error = f.error.clone();
        if f.unread == 0 {
            g.failed.swap_remove(pos);
        }
        Err(error)
    }

    /// Commits everything queued, with the lock released while the backend works.
    fn lead(&self, g: &mut parking_lot::MutexGuard<'_, State>, counters: &Counters) {
        g.leading = true;
        let mut group = std::mem::take(&mut g.queue);
        let sync = std::mem::take(&mut g.sync) || g.unsynced + 1 >= SYNC_EVERY;
        g.unsynced = if sync { 0 } else { g.unsynced + 1 };
        let tickets = g.taken..g.next;
        let ops = group.len() as u64;
        g.taken = g.next;
        // Should the backend panic, the group fails (nothing of it was acknowledged) and
        // leadership passes on, so that no writer waits forever.
        let result = parking_lot::MutexGuard::unlocked(g, || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.backend.commit(&mut group, sync)
            }))
            .unwrap_or(Err(SpoolError::Interrupted));
            if r.is_err() {
                self.backend.discard(group);
            }
            r
        });
        counters.group(ops, sync, result.is_ok());
        if let Err(error) = result {
            tracing::warn!(error = %crate::error::error_chain(&error), ops, "spool group commit failed");
            let unread = tickets.end - tickets.start;
            g.failed.push(Failed {
                tickets: tickets.clone(),
                error,
                unread,
            });
        }
        g.done = tickets.end;
        g.leading = false;
        self.wake.notify_all();
    }
}
