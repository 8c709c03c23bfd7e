//! [`DueBatch`]: the messages one advance returned, grouped by queue.

use crate::queues::QueueId;
use crate::slab::Key;
use std::time::Duration;

/// One message that left the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due<M> {
    /// Its queue.
    pub queue: QueueId,
    /// The key it had while scheduled (stale from now on).
    pub key: Key,
    /// Its due time, rounded up to the scheduler's tick.
    pub due: Duration,
    /// The message.
    pub message: M,
}

impl<M> Due<M> {
    /// How late the message left: `now - due`, zero if `now` is earlier.
    pub fn tardiness(&self, now: Duration) -> Duration {
        now.saturating_sub(self.due)
    }
}

/// The messages returned by one [`Scheduler::advance`](crate::Scheduler::advance), ordered by
/// queue id, then due time, then key index, so that each queue's messages are contiguous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueBatch<M> {
    pub(crate) now: Duration,
    pub(crate) items: Vec<Due<M>>,
}

impl<M> DueBatch<M> {
    /// The `now` the batch was popped at.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// How many messages the batch holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing was due.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The messages in order.
    pub fn items(&self) -> &[Due<M>] {
        &self.items
    }

    /// The messages, one slice per queue, in queue order.
    pub fn groups(&self) -> impl Iterator<Item = (QueueId, &[Due<M>])> + '_ {
        self.items
            .chunk_by(|a, b| a.queue == b.queue)
            .map(|g| (g[0].queue, g))
    }

    /// The messages as one vector, in order.
    pub fn into_items(self) -> Vec<Due<M>> {
        self.items
    }

    /// The messages as one vector per queue, in queue order.
    pub fn into_groups(self) -> Vec<(QueueId, Vec<M>)> {
        let mut out: Vec<(QueueId, Vec<M>)> = Vec::new();
        for d in self.items {
            match out.last_mut() {
                Some((q, v)) if *q == d.queue => v.push(d.message),
                _ => out.push((d.queue, vec![d.message])),
            }
        }
        out
    }
}

impl<M> IntoIterator for DueBatch<M> {
    type Item = Due<M>;
    type IntoIter = std::vec::IntoIter<Due<M>>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}
