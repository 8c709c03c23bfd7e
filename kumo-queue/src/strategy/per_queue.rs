//! One wheel per queue, as KumoMTA's `TimerWheel` strategy.

use super::sealed::Engine;
use crate::core::{DueWords, WheelCore};
use crate::paged::Paged;
use crate::pool::ChunkPool;

/// A wheel engine per queue that holds messages (the chunk pool and due words are shared).
///
/// Each active queue costs about 16 KiB of slot heads and every advance visits every active
/// queue, so this suits hosts with few queues; it exists to compare with the singleton wheel.
pub struct TimerWheelPerQueue {
    wheels: Vec<Option<Box<WheelCore>>>,
    active: Vec<u32>,
    pool: ChunkPool,
    dues: Paged<u32>,
    /// The queue that owns each index's due word: a stale entry left in one queue's wheel must
    /// not match when its index is reused by a message of another queue.
    owners: Paged<u32>,
    cur: u32,
}

/// The due words as seen by one queue's wheel.
struct Owned<'a> {
    dues: &'a mut Paged<u32>,
    owners: &'a mut Paged<u32>,
    queue: u32,
}

impl DueWords for Owned<'_> {
    #[inline]
    fn word(&mut self, id: u32) -> Option<&mut u32> {
        if self.owners.get(id) != Some(&self.queue) {
            return None;
        }
        self.dues.get_mut(id)
    }

    #[inline]
    fn word_or_insert(&mut self, id: u32) -> &mut u32 {
        let owner = self.owners.slot(id);
        let w = self.dues.slot(id);
        if *owner != self.queue {
            *owner = self.queue;
            *w = 0;
        }
        w
    }
}

impl std::fmt::Debug for TimerWheelPerQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerWheelPerQueue")
            .field("active_queues", &self.active.len())
            .field("cur", &self.cur)
            .finish_non_exhaustive()
    }
}

impl Default for TimerWheelPerQueue {
    fn default() -> Self {
        Self {
            wheels: Vec::new(),
            active: Vec::new(),
            pool: ChunkPool::new(),
            dues: Paged::zeroed(),
            owners: Paged::zeroed(),
            cur: 0,
        }
    }
}

impl TimerWheelPerQueue {
    fn ensure_wheel(&mut self, queue: u32) {
        let q = queue as usize;
        if q >= self.wheels.len() {
            self.wheels.resize_with(q + 1, || None);
        }
        if self.wheels[q].is_none() {
            self.wheels[q] = Some(Box::new(WheelCore::new(self.cur)));
            self.active.push(queue);
        }
    }
}

impl Engine for TimerWheelPerQueue {
    fn schedule(&mut self, queue: u32, index: u32, due: u32) {
        self.reschedule(queue, index, due);
    }

    fn reschedule(&mut self, queue: u32, index: u32, due: u32) {
        self.ensure_wheel(queue);
        if let Some(Some(w)) = self.wheels.get_mut(queue as usize) {
            let mut dues = Owned {
                dues: &mut self.dues,
                owners: &mut self.owners,
                queue,
            };
            w.schedule(&mut self.pool, &mut dues, index, due);
        }
    }

    fn cancel(&mut self, queue: u32, index: u32) {
        if let Some(Some(w)) = self.wheels.get_mut(queue as usize) {
            let mut dues = Owned {
                dues: &mut self.dues,
                owners: &mut self.owners,
                queue,
            };
            w.cancel(&mut self.pool, &mut dues, index);
        }
    }

    fn advance(&mut self, target: u32, out: &mut Vec<(u32, u32)>) {
        if target <= self.cur {
            return;
        }
        self.cur = target;
        let Self {
            wheels,
            active,
            pool,
            dues,
            owners,
            ..
        } = self;
        active.retain(|&q| {
            let Some(w) = wheels[q as usize].as_mut() else {
                return false;
            };
            let mut dues = Owned {
                dues,
                owners,
                queue: q,
            };
            w.advance(pool, &mut dues, target, &mut |i, d| out.push((i, d)));
            if w.len() == 0 {
                // Free the stale entries it may still hold, then the wheel itself.
                w.drain(pool, &mut dues, &mut |_, _| {});
                wheels[q as usize] = None;
                false
            } else {
                true
            }
        });
    }

    fn next_due(&self) -> Option<u32> {
        self.active
            .iter()
            .filter_map(|&q| self.wheels[q as usize].as_ref()?.next_due())
            .min()
    }

    fn due_of(&self, index: u32) -> Option<u32> {
        // Every wheel is at `self.cur` after an advance.
        self.dues.get(index).copied().filter(|&d| d > self.cur)
    }

    fn take_queue(&mut self, queue: u32, out: &mut Vec<(u32, u32)>) -> bool {
        if let Some(slot) = self.wheels.get_mut(queue as usize)
            && let Some(mut w) = slot.take()
        {
            let mut dues = Owned {
                dues: &mut self.dues,
                owners: &mut self.owners,
                queue,
            };
            w.drain(&mut self.pool, &mut dues, &mut |i, d| out.push((i, d)));
            self.active.retain(|&q| q != queue);
        }
        true
    }
}
