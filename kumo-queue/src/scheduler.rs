//! [`Scheduler`]: delayed messages across many named queues, on one strategy.

use crate::batch::{Due, DueBatch};
use crate::error::{InsertError, KeyError, QueueError, Rejected, ScheduleError, TickError};
use crate::paged::Paged;
use crate::queues::{QueueId, Queues};
use crate::slab::Key;
use crate::strategy::{SingletonTimerWheel, Strategy};
use crate::time::TickClock;
use std::fmt;
use std::time::Duration;

/// A message slot's bookkeeping: its queue and the generation of its keys.
#[derive(Debug, Clone, Copy, Default)]
struct Record {
    generation: u32,
    queue: u32,
}

/// The records of every slot, kept as two paged arrays (5 bytes a slot): a link word holding
/// the queue id (low 24 bits, see [`MAX_QUEUES`](crate::queues::MAX_QUEUES)) and the high byte
/// of a 16-bit generation, and the generation's low byte. A slot whose generation reaches
/// `u16::MAX` is retired when it is freed (never reused), so a key's `(index, generation)` is
/// never issued twice. Vacant slots wait on a stack of free indices (4 bytes each while vacant);
/// like the slots' pages, its memory follows the high-water mark of messages held at once.
#[derive(Debug)]
struct Records {
    links: Paged<u32>,
    low_generations: Paged<u8>,
    free: Vec<u32>,
}

impl Default for Records {
    fn default() -> Self {
        Self {
            links: Paged::zeroed(),
            low_generations: Paged::zeroed(),
            free: Vec::new(),
        }
    }
}

const QUEUE_MASK: u32 = (1 << crate::queues::QUEUE_BITS) - 1;

impl Records {
    #[inline]
    fn get(&self, i: u32) -> Option<Record> {
        let link = *self.links.get(i)?;
        let low = *self.low_generations.get(i)?;
        Some(Record {
            queue: link & QUEUE_MASK,
            generation: ((link >> crate::queues::QUEUE_BITS) << 8) | u32::from(low),
        })
    }

    /// Files slot `i` under `queue` and returns its generation.
    #[inline]
    fn occupy(&mut self, i: u32, queue: u32) -> u32 {
        let link = self.links.slot(i);
        *link = (*link & !QUEUE_MASK) | (queue & QUEUE_MASK);
        let high = *link >> crate::queues::QUEUE_BITS;
        (high << 8) | u32::from(*self.low_generations.slot(i))
    }

    /// Frees slot `i`: bumps its generation and puts it on the free stack, or retires it when
    /// its generation is used up. Returns its queue.
    fn vacate(&mut self, i: u32) -> Option<u32> {
        let rec = self.get(i)?;
        if rec.generation < u32::from(u16::MAX) {
            let next = rec.generation + 1;
            *self.links.slot(i) = (next >> 8) << crate::queues::QUEUE_BITS;
            *self.low_generations.slot(i) = next as u8;
            self.free.push(i);
        }
        Some(rec.queue)
    }
}

/// Delayed messages across many named queues (the SingletonTimerWheel strategy by default).
///
/// The scheduler owns the messages (`M`, typically a handle such as an `Arc` or a spool id).
/// Queues are interned names with dense `u32` ids; a queue costs its name, a count and a hash
/// table entry: no task, timer or set. Time is a [`Duration`] since the caller's epoch, passed in;
/// the scheduler never reads a clock (the [`driver`](crate::driver) does, with feature `tokio`).
///
/// Due times are rounded up to the tick (default 1 s): a message is never returned before its
/// due time and is returned by the first [`advance`](Self::advance) at or after its rounded due
/// time. A due time at or before `now` hands the message back ([`Rejected::is_due_now`]) for the
/// caller's ready queue.
///
/// # Examples
///
/// ```
/// use kumo_queue::Scheduler;
/// use std::time::Duration;
///
/// let mut s = Scheduler::new();
/// let gmail = s.queue("campaign-7:tenant-3@gmail.com")?;
/// let yahoo = s.queue("campaign-7:tenant-3@yahoo.com")?;
/// s.schedule(gmail, "retry 1", Duration::from_secs(60)).map_err(|r| r.reason)?;
/// let key = s.schedule(yahoo, "retry 2", Duration::from_secs(60)).map_err(|r| r.reason)?;
/// s.schedule(yahoo, "retry 3", Duration::from_secs(30)).map_err(|r| r.reason)?;
/// assert_eq!(s.cancel(key)?, "retry 2");
///
/// let batch = s.advance(Duration::from_secs(60));
/// let groups: Vec<_> = batch.into_groups();
/// assert_eq!(groups, [(gmail, vec!["retry 1"]), (yahoo, vec!["retry 3"])]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Implementation
///
/// Messages live in a paged slab: an `Option<M>` and a 5-byte record per slot (a 24-bit queue
/// id packed with a 16-bit key generation), reused through a stack of free slots. A slot is
/// reused at most 65,535 times: when its generation is used up it is retired instead of freed,
/// so no key is ever issued twice and a stale key never reaches a reused slot. The strategy
/// indexes slot numbers by due tick; with the singleton wheel that costs an 8-byte wheel entry
/// and a 4-byte due word per message. Queue ids are 24 bits, so one scheduler holds at most
/// [`MAX_QUEUES`](crate::MAX_QUEUES) (16,777,216) queues.
/// Per-queue drain and iteration are a linear scan of the slab's queue ids (skipped for an
/// empty queue), which keeps queues free of per-queue lists; per-queue counts are kept exactly.
pub struct Scheduler<M, S: Strategy = SingletonTimerWheel> {
    clock: TickClock,
    strategy: S,
    messages: Paged<Option<M>>,
    records: Records,
    /// Slots ever used (the high-water mark).
    slots: u32,
    len: usize,
    queues: Queues,
    scratch: Vec<(u32, u32)>,
}

impl<M, S: Strategy> fmt::Debug for Scheduler<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("len", &self.len)
            .field("queues", &self.queues.len())
            .field("now", &self.clock.now())
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

impl<M> Default for Scheduler<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> Scheduler<M> {
    /// A scheduler on the singleton wheel with the default 1 s tick.
    pub fn new() -> Self {
        Self::build(SingletonTimerWheel::default(), TickClock::default_tick())
    }

    /// A scheduler on the singleton wheel with the given tick.
    ///
    /// # Errors
    ///
    /// [`TickError`] when `tick` is zero or too long.
    pub fn with_tick(tick: Duration) -> Result<Self, TickError> {
        Ok(Self::build(
            SingletonTimerWheel::default(),
            TickClock::new(tick)?,
        ))
    }
}

impl<M, S: Strategy> Scheduler<M, S> {
    /// A scheduler on `strategy` with the given tick.
    ///
    /// # Errors
    ///
    /// [`TickError`] when `tick` is zero or too long.
    pub fn with_strategy(strategy: S, tick: Duration) -> Result<Self, TickError> {
        Ok(Self::build(strategy, TickClock::new(tick)?))
    }

    /// A scheduler on `strategy` with the default 1 s tick.
    pub fn with_default_tick(strategy: S) -> Self {
        Self::build(strategy, TickClock::default_tick())
    }

    fn build(strategy: S, clock: TickClock) -> Self {
        Self {
            clock,
            strategy,
            messages: Paged::default(),
            records: Records::default(),
            slots: 0,
            len: 0,
            queues: Queues::default(),
            scratch: Vec::new(),
        }
    }

    /// The strategy.
    pub fn strategy(&self) -> &S {
        &self.strategy
    }

    /// The tick length.
    pub fn tick(&self) -> Duration {
        self.clock.tick()
    }

    /// The latest `now` passed to [`advance`](Self::advance).
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    // ----- queues -----

    /// The id of queue `name`, interning the name if it is new.
    ///
    /// # Errors
    ///
    /// [`QueueError`] when the name is longer than 65535 bytes or [`MAX_QUEUES`](crate::MAX_QUEUES)
    /// (16,777,216) queues exist.
    pub fn queue(&mut self, name: &str) -> Result<QueueId, QueueError> {
        self.queues.intern(name).map(QueueId)
    }

    /// The id of queue `name` if it was interned.
    pub fn find_queue(&self, name: &str) -> Option<QueueId> {
        self.queues.find(name).map(QueueId)
    }

    /// The name of a queue, or `None` for an id this scheduler did not issue.
    pub fn queue_name(&self, queue: QueueId) -> Option<&str> {
        self.queues.name(queue.0)
    }

    /// How many messages `queue` holds (0 for an unknown id).
    pub fn queue_len(&self, queue: QueueId) -> usize {
        self.queues.count(queue.0) as usize
    }

    /// How many queue names were interned.
    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    /// Every interned queue with its name and message count, in id order.
    pub fn queues(&self) -> impl Iterator<Item = (QueueId, &str, usize)> + '_ {
        (0..self.queues.len() as u32).filter_map(move |q| {
            Some((
                QueueId(q),
                self.queues.name(q)?,
                self.queues.count(q) as usize,
            ))
        })
    }

    // ----- messages -----

    /// Schedules `message` on `queue` at `due` (time since the epoch, rounded up to the tick).
    ///
    /// # Errors
    ///
    /// The message comes back in [`Rejected`] when `due` is at or before [`now`](Self::now)
    /// (then [`Rejected::is_due_now`] is true and the message belongs in the ready queue),
    /// beyond the last tick, the queue id is unknown, or the scheduler is full.
    pub fn schedule(
        &mut self,
        queue: QueueId,
        message: M,
        due: Duration,
    ) -> Result<Key, Rejected<M>> {
        if !self.queues.contains(queue.0) {
            return Err(Rejected {
                message,
                reason: ScheduleError::Key(KeyError::UnknownQueue),
            });
        }
        let tick = match self.clock.due_tick(due) {
            Ok(t) => t,
            Err(e) => {
                return Err(Rejected {
                    message,
                    reason: ScheduleError::Due(e),
                });
            }
        };
        let index = if let Some(index) = self.records.free.pop() {
            index
        } else if self.slots < u32::MAX {
            self.slots += 1;
            self.slots - 1
        } else {
            return Err(Rejected {
                message,
                reason: ScheduleError::Full,
            });
        };
        let key = Key::new(index, self.records.occupy(index, queue.0));
        *self.messages.slot(index) = Some(message);
        self.strategy.schedule(queue.0, index, tick);
        self.queues.add(queue.0);
        self.len += 1;
        Ok(key)
    }

    /// [`schedule`](Self::schedule) on the queue named `queue`, interning the name if needed.
    ///
    /// # Errors
    ///
    /// As for [`schedule`](Self::schedule), plus [`ScheduleError::Queue`] when the name cannot
    /// be interned.
    pub fn schedule_named(
        &mut self,
        queue: &str,
        message: M,
        due: Duration,
    ) -> Result<Key, Rejected<M>> {
        match self.queue(queue) {
            Ok(q) => self.schedule(q, message, due),
            Err(e) => Err(Rejected {
                message,
                reason: ScheduleError::Queue(e),
            }),
        }
    }

    /// The slot of a live key, or `None` when it is stale.
    fn live(&self, key: Key) -> Option<u32> {
        let i = key.index();
        let occupied = self.messages.get(i).is_some_and(Option::is_some);
        let rec = self.records.get(i)?;
        (occupied && rec.generation == key.generation()).then_some(rec.queue)
    }

    /// Moves a scheduled message to a new due time.
    ///
    /// # Errors
    ///
    /// [`ScheduleError::Key`] for a stale key; [`ScheduleError::Due`] when the new due time is
    /// now or past (the message keeps its old due time: [`cancel`](Self::cancel) it to make it
    /// ready) or beyond the last tick.
    pub fn reschedule(&mut self, key: Key, due: Duration) -> Result<(), ScheduleError> {
        let queue = self.live(key).ok_or(ScheduleError::Key(KeyError::Stale))?;
        let tick = self.clock.due_tick(due).map_err(ScheduleError::Due)?;
        self.strategy.reschedule(queue, key.index(), tick);
        Ok(())
    }

    /// Removes a scheduled message and returns it.
    ///
    /// # Errors
    ///
    /// [`KeyError::Stale`] when the message already left (so cancelling twice is harmless).
    pub fn cancel(&mut self, key: Key) -> Result<M, KeyError> {
        let queue = self.live(key).ok_or(KeyError::Stale)?;
        self.strategy.cancel(queue, key.index());
        self.release(key.index()).ok_or(KeyError::Stale)
    }

    /// Frees slot `index` (whose strategy entry is already gone) and returns its message.
    fn release(&mut self, index: u32) -> Option<M> {
        let message = self.messages.get_mut(index)?.take()?;
        let queue = self.records.vacate(index)?;
        self.queues.sub(queue);
        self.len -= 1;
        Some(message)
    }

    /// The message for `key`, or `None` when the key is stale.
    pub fn get(&self, key: Key) -> Option<&M> {
        self.live(key)?;
        self.messages.get(key.index())?.as_ref()
    }

    /// The message for `key`, mutably.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut M> {
        self.live(key)?;
        self.messages.get_mut(key.index())?.as_mut()
    }

    /// The queue of the message for `key`.
    pub fn queue_of(&self, key: Key) -> Option<QueueId> {
        self.live(key).map(QueueId)
    }

    /// The due time of the message for `key`, rounded up to the tick.
    pub fn due(&self, key: Key) -> Option<Duration> {
        self.live(key)?;
        self.strategy
            .due_of(key.index())
            .map(|t| self.clock.time_of(t))
    }

    /// How many messages are scheduled (exact).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no message is scheduled.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A time never later than the earliest due time, or `None` when nothing is scheduled.
    pub fn next_due(&self) -> Option<Duration> {
        if self.len == 0 {
            return None;
        }
        self.strategy.next_due().map(|t| self.clock.time_of(t))
    }

    /// Advances to `now` and returns every message due at or before it, grouped by queue. A
    /// `now` earlier than a previous one returns nothing.
    pub fn advance(&mut self, now: Duration) -> DueBatch<M> {
        let target = self.clock.advance(now);
        let mut popped = std::mem::take(&mut self.scratch);
        self.strategy.advance(target, &mut popped);
        let items = self.collect(&mut popped);
        self.scratch = popped;
        DueBatch {
            now: self.clock.now(),
            items,
        }
    }

    /// Turns popped `(index, due)` pairs into sorted [`Due`] items, releasing their slots.
    fn collect(&mut self, popped: &mut Vec<(u32, u32)>) -> Vec<Due<M>> {
        // Release in output order, so that slot reuse (and so every later key) is the same
        // whichever order the strategy popped in.
        let records = &self.records;
        popped.sort_unstable_by_key(|&(index, due)| {
            let q = records.get(index).map_or(u32::MAX, |r| r.queue);
            (q, due, index)
        });
        let mut items = Vec::with_capacity(popped.len());
        for (index, due) in popped.drain(..) {
            let Some(rec) = self.records.get(index) else {
                continue;
            };
            let Some(message) = self.release(index) else {
                continue;
            };
            items.push(Due {
                queue: QueueId(rec.queue),
                key: Key::new(index, rec.generation),
                due: self.clock.time_of(due),
                message,
            });
        }
        items
    }

    /// Removes every message of `queue` (for a bounce or a rebind) and returns them ordered by
    /// due time. Other queues keep their messages.
    ///
    /// Cost: O(messages in the scheduler) with the singleton wheel (a scan of 4-byte queue ids),
    /// O(messages in the queue) with the per-queue strategies; O(1) for an empty queue.
    ///
    /// # Errors
    ///
    /// [`KeyError::UnknownQueue`] for an id this scheduler did not issue.
    pub fn drain_queue(&mut self, queue: QueueId) -> Result<Vec<Due<M>>, KeyError> {
        if !self.queues.contains(queue.0) {
            return Err(KeyError::UnknownQueue);
        }
        let mut popped = std::mem::take(&mut self.scratch);
        if self.queues.count(queue.0) > 0 && !self.strategy.take_queue(queue.0, &mut popped) {
            for i in self.indices_of(Some(queue.0)) {
                if let Some(due) = self.strategy.due_of(i) {
                    self.strategy.cancel(queue.0, i);
                    popped.push((i, due));
                }
            }
        }
        let items = self.collect(&mut popped);
        self.scratch = popped;
        Ok(items)
    }

    /// Removes every message (at shutdown, say) and returns them grouped by queue.
    pub fn drain_all(&mut self) -> Vec<Due<M>> {
        let mut popped = Vec::with_capacity(self.len);
        for i in self.indices_of(None) {
            let Some(q) = self.records.get(i).map(|r| r.queue) else {
                continue;
            };
            if let Some(due) = self.strategy.due_of(i) {
                self.strategy.cancel(q, i);
                popped.push((i, due));
            }
        }
        self.collect(&mut popped)
    }

    /// The occupied slots, optionally of one queue only.
    fn indices_of(&self, queue: Option<u32>) -> Vec<u32> {
        (0..self.slots)
            .filter(|&i| {
                self.messages.get(i).is_some_and(Option::is_some)
                    && self
                        .records
                        .get(i)
                        .is_some_and(|r| queue.is_none_or(|q| r.queue == q))
            })
            .collect()
    }

    /// The messages of `queue` with their keys, in slot order (a scan, as for
    /// [`drain_queue`](Self::drain_queue)).
    pub fn iter_queue(&self, queue: QueueId) -> impl Iterator<Item = (Key, &M)> + '_ {
        let n = if self.queues.count(queue.0) > 0 {
            self.slots
        } else {
            0
        };
        (0..n).filter_map(move |i| {
            let rec = self.records.get(i)?;
            if rec.queue != queue.0 {
                return None;
            }
            let m = self.messages.get(i)?.as_ref()?;
            Some((Key::new(i, rec.generation), m))
        })
    }

    /// Every scheduled message with its queue and key, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (QueueId, Key, &M)> + '_ {
        (0..self.slots).filter_map(move |i| {
            let rec = self.records.get(i)?;
            let m = self.messages.get(i)?.as_ref()?;
            Some((QueueId(rec.queue), Key::new(i, rec.generation), m))
        })
    }
}

impl ScheduleError {
    /// Whether this is [`InsertError::DueNow`].
    pub fn is_due_now(&self) -> bool {
        *self == ScheduleError::Due(InsertError::DueNow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_retired_when_its_generation_is_used_up() {
        let mut s = Scheduler::new();
        let q = s.queue("q").unwrap();
        let other = s.queue("other").unwrap();
        let due = Duration::from_secs(5);
        let mut last = None;
        for g in 0..=u32::from(u16::MAX) {
            // The queue id and the generation share the record's link word: both survive.
            let queue = if g % 2 == 0 { q } else { other };
            let key = s.schedule(queue, g, due).unwrap();
            assert_eq!((key.index(), key.generation()), (0, g));
            assert_eq!(s.queue_of(key), Some(queue));
            assert_eq!(s.queue_len(queue), 1);
            assert_eq!(s.cancel(key), Ok(g));
            last = Some(key);
        }
        let q = other;
        // The last key of slot 0 stays stale: the slot is not reused.
        let key = s.schedule(q, 7, due).unwrap();
        assert_eq!((key.index(), key.generation()), (1, 0));
        let last = last.unwrap();
        assert_eq!(s.get(last), None);
        assert_eq!(s.cancel(last), Err(KeyError::Stale));
        assert_eq!((s.len(), s.queue_len(q)), (1, 1));
        assert_eq!(s.iter().count(), 1);
    }
}
