//! The singleton wheel: one wheel for every queue.

use super::sealed::Engine;
use crate::core::WheelCore;
use crate::paged::Paged;
use crate::pool::ChunkPool;

/// One [`TimerWheel`](crate::TimerWheel) engine shared by every queue (the default strategy).
///
/// Queues cost nothing here: the wheel holds `(message index, due)` entries and the scheduler
/// keeps each message's queue id beside it. An idle advance is O(levels).
#[derive(Debug)]
pub struct SingletonTimerWheel {
    core: WheelCore,
    pool: ChunkPool,
    dues: Paged<u32>,
}

impl Default for SingletonTimerWheel {
    fn default() -> Self {
        Self {
            core: WheelCore::new(0),
            pool: ChunkPool::new(),
            dues: Paged::zeroed(),
        }
    }
}

impl Engine for SingletonTimerWheel {
    #[inline]
    fn schedule(&mut self, _queue: u32, index: u32, due: u32) {
        self.core
            .schedule(&mut self.pool, &mut self.dues, index, due);
    }

    #[inline]
    fn reschedule(&mut self, _queue: u32, index: u32, due: u32) {
        self.core
            .schedule(&mut self.pool, &mut self.dues, index, due);
    }

    #[inline]
    fn cancel(&mut self, _queue: u32, index: u32) {
        self.core.cancel(&mut self.pool, &mut self.dues, index);
    }

    fn advance(&mut self, target: u32, out: &mut Vec<(u32, u32)>) {
        self.core
            .advance(&mut self.pool, &mut self.dues, target, &mut |i, d| {
                out.push((i, d));
            });
    }

    fn next_due(&self) -> Option<u32> {
        self.core.next_due()
    }

    fn due_of(&self, index: u32) -> Option<u32> {
        self.core.scheduled(self.dues.get(index).copied())
    }

    fn take_queue(&mut self, _queue: u32, _out: &mut Vec<(u32, u32)>) -> bool {
        false
    }
}
