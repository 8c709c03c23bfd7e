//! An ordered set per queue, as KumoMTA's `SkipList` strategy.

use super::sealed::Engine;
use crate::paged::Paged;
use std::collections::BTreeSet;

/// An ordered set of `(due, index)` per queue that holds messages (a `BTreeSet`, where KumoMTA
/// uses a lock-free skip list).
///
/// Insert and cancel are O(log n) in the queue's size; every advance visits every active queue.
#[derive(Default)]
pub struct SkipList {
    sets: Vec<BTreeSet<(u32, u32)>>,
    active: Vec<u32>,
    /// Whether a queue is in `active`.
    listed: Vec<bool>,
    dues: Paged<u32>,
    cur: u32,
}

impl std::fmt::Debug for SkipList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkipList")
            .field("active_queues", &self.active.len())
            .field("cur", &self.cur)
            .finish_non_exhaustive()
    }
}

impl Engine for SkipList {
    fn schedule(&mut self, queue: u32, index: u32, due: u32) {
        let q = queue as usize;
        if q >= self.sets.len() {
            self.sets.resize_with(q + 1, BTreeSet::new);
            self.listed.resize(q + 1, false);
        }
        if !self.listed[q] {
            self.listed[q] = true;
            self.active.push(queue);
        }
        self.sets[q].insert((due, index));
        *self.dues.slot(index) = due;
    }

    fn reschedule(&mut self, queue: u32, index: u32, due: u32) {
        let old = self.dues.get(index).copied().unwrap_or(0);
        if let Some(set) = self.sets.get_mut(queue as usize) {
            set.remove(&(old, index));
        }
        self.schedule(queue, index, due);
    }

    fn cancel(&mut self, queue: u32, index: u32) {
        let Some(w) = self.dues.get_mut(index) else {
            return;
        };
        let old = std::mem::replace(w, 0);
        if let Some(set) = self.sets.get_mut(queue as usize) {
            set.remove(&(old, index));
        }
    }

    fn advance(&mut self, target: u32, out: &mut Vec<(u32, u32)>) {
        if target <= self.cur {
            return;
        }
        self.cur = target;
        let Self {
            sets,
            active,
            listed,
            dues,
            ..
        } = self;
        active.retain(|&q| {
            let set = &mut sets[q as usize];
            while let Some(&(due, index)) = set.first() {
                if due > target {
                    break;
                }
                set.pop_first();
                *dues.slot(index) = 0;
                out.push((index, due));
            }
            let keep = !set.is_empty();
            listed[q as usize] = keep;
            keep
        });
    }

    fn next_due(&self) -> Option<u32> {
        self.active
            .iter()
            .filter_map(|&q| self.sets[q as usize].first().map(|&(d, _)| d))
            .min()
    }

    fn due_of(&self, index: u32) -> Option<u32> {
        self.dues.get(index).copied().filter(|&d| d != 0)
    }

    fn take_queue(&mut self, queue: u32, out: &mut Vec<(u32, u32)>) -> bool {
        if let Some(set) = self.sets.get_mut(queue as usize) {
            for (due, index) in std::mem::take(set) {
                *self.dues.slot(index) = 0;
                out.push((index, due));
            }
            if std::mem::take(&mut self.listed[queue as usize]) {
                self.active.retain(|&q| q != queue);
            }
        }
        true
    }
}
