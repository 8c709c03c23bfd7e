//! [`TimerWheel`]: the clock-free hierarchical timer wheel over caller-supplied `u32` ids.

use crate::core::{Ids, WheelCore};
use crate::error::{InsertError, Refused, TickError};
use crate::paged::Paged;
use crate::pool::ChunkPool;
use crate::time::TickClock;
use std::time::Duration;

/// A compact, clock-free timer wheel for `u32` ids (typically the caller's slab indices).
///
/// Time is a [`Duration`] since an epoch that the caller chooses (for example the `Instant` its
/// process started); the wheel never reads a clock. Due times are kept as `u32` ticks from that
/// epoch, with a configurable tick (default 1 s, which gives a range of about 136 years).
///
/// # Guarantees
///
/// - **Never early, at most one tick late.** [`insert`](Self::insert) rounds the due time up to
///   a whole tick; an id is returned by the first [`advance`](Self::advance) whose `now` is at or
///   after that rounded due time, and never before its due time.
/// - **Due now is handed back.** A due time at or before the last `now` passed to `advance`
///   returns [`Refused`] with [`InsertError::DueNow`] and the id, so the caller can make the item
///   ready at once.
/// - **Exactly once.** Every scheduled id is returned once, unless it is cancelled or
///   rescheduled first. Inserting an id that is already scheduled reschedules it.
/// - **O(1) cancel and reschedule, without allocation.** [`len`](Self::len) is exact.
/// - [`next_due`](Self::next_due) is never later than the true earliest due time.
///
/// # Examples
///
/// ```
/// use kumo_queue::TimerWheel;
/// use std::time::Duration;
///
/// let mut wheel = TimerWheel::new();
/// wheel.insert(7, Duration::from_secs(90))?;
/// wheel.insert(8, Duration::from_secs(30))?;
/// wheel.cancel(8);
///
/// let mut due = Vec::new();
/// wheel.advance(Duration::from_secs(60), &mut due);
/// assert!(due.is_empty());
/// wheel.advance(Duration::from_secs(90), &mut due);
/// assert_eq!(due, [7]);
/// assert!(wheel.is_empty());
/// # Ok::<(), kumo_queue::Refused>(())
/// ```
///
/// # Implementation
///
/// Four levels of 256 slots over absolute `u32` ticks. Each slot is a singly linked list of
/// fixed-size chunks taken from a free list; chunks are allocated in 32 KiB segments that never
/// move, so inserting never copies or doubles a vector. A per-level occupancy bitmap finds the
/// next non-empty slot with a few bit scans, and the tick of the next slot to process is kept
/// between advances, so an advance with nothing due costs O(1) (O(levels) after an insert). A
/// slot at level `l` is cascaded, its entries re-filed one level down, when the current tick
/// reaches its block, so an entry moves at most three times.
///
/// Layout of one scheduled id, 8 bytes in all:
///
/// - **Its entry, 4 bytes: the id alone**, in a slot's chunk (2 KiB: an 8-byte header, `len`
///   and the `u32` index of the next chunk, then 510 ids). The due tick is not stored with the
///   entry: the slot already says where it falls (the entry's level and slot are the highest
///   byte in which the due differs from the current tick, and that byte), and the rest is in
///   the due word.
/// - **Its due word, 4 bytes**, the absolute due tick, in 16 KiB pages indexed by id (0 means
///   not scheduled; an id is scheduled while its word is after the current tick, so popping
///   writes nothing). Cancel and reschedule only rewrite that word (O(1), no allocation).
///
/// An entry is live while its id's due word falls in the entry's slot. The entry a cancel or
/// reschedule leaves behind is stale: it is dropped when its slot is visited or cascaded, and a
/// slot of two chunks or more whose entries are more than three quarters stale is compacted in
/// place, which bounds it to four times its live entries. A stale entry whose id was
/// rescheduled into the same slot looks live; it is a duplicate, which follows the live one
/// down and is dropped at the pop (the pop zeroes the word) or by a compaction (which flags
/// each kept id's word while it runs). Slots that never held a stale entry are popped without
/// reading the due words, and cascaded with one in-order pass over them.
///
/// Because all four levels together span the full `u32` tick range there is no overflow list:
/// a due time beyond the last tick is refused with [`InsertError::BeyondRange`].
///
/// Memory: 8 bytes per entry (4 in chunks, 4 of due word per id) plus at most one partly
/// filled chunk per occupied slot and 16 KiB of slot heads; at 1M entries due over 24 hours the
/// measured total is about 8.6 bytes per entry (10.5 for `hierarchical_hash_wheel_timer`
/// holding the same `u32` payloads, which cannot cancel).
#[derive(Debug)]
pub struct TimerWheel {
    clock: TickClock,
    core: WheelCore,
    pool: ChunkPool,
    dues: Paged<u32>,
    id_limit: u32,
}

/// Counters that describe a wheel's memory use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WheelStats {
    /// Scheduled ids (the same as [`TimerWheel::len`]).
    pub len: usize,
    /// Entries stored in chunks, including stale entries left by cancel and reschedule.
    pub entries: usize,
    /// Chunks holding entries.
    pub chunks_in_use: u32,
    /// Chunks allocated, in use or on the free list.
    pub chunks_allocated: u32,
}

impl Default for TimerWheel {
    fn default() -> Self {
        Self::new()
    }
}

impl TimerWheel {
    /// A wheel with the default 1 s tick, accepting any id below `u32::MAX`.
    pub fn new() -> Self {
        Self::build(TickClock::default_tick())
    }

    /// A wheel with the given tick.
    ///
    /// # Errors
    ///
    /// [`TickError`] when `tick` is zero or longer than `u64::MAX` nanoseconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use kumo_queue::TimerWheel;
    /// use std::time::Duration;
    ///
    /// let wheel = TimerWheel::with_tick(Duration::from_millis(100))?;
    /// assert_eq!(wheel.tick(), Duration::from_millis(100));
    /// assert!(TimerWheel::with_tick(Duration::ZERO).is_err());
    /// # Ok::<(), kumo_queue::TickError>(())
    /// ```
    pub fn with_tick(tick: Duration) -> Result<Self, TickError> {
        Ok(Self::build(TickClock::new(tick)?))
    }

    fn build(clock: TickClock) -> Self {
        Self {
            clock,
            core: WheelCore::new(0),
            pool: ChunkPool::new(),
            dues: Paged::zeroed(),
            id_limit: u32::MAX,
        }
    }

    /// Limits ids to `0..limit`; inserting a larger id is refused with
    /// [`InsertError::IdOutOfRange`]. The default limit is `u32::MAX`. Ids index 16 KiB pages of
    /// due words, so dense ids (slab indices) are cheapest.
    #[must_use]
    pub fn id_limit(mut self, limit: u32) -> Self {
        self.id_limit = limit;
        self
    }

    /// The tick length.
    pub fn tick(&self) -> Duration {
        self.clock.tick()
    }

    /// The latest `now` passed to [`advance`](Self::advance) (zero before the first).
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// The current tick: every id due at or before it has been returned.
    pub fn current_tick(&self) -> u32 {
        self.clock.cur()
    }

    /// Schedules `id` at `due` (time since the epoch), rounded up to a whole tick. If `id` is
    /// already scheduled it is moved to the new due time (a reschedule).
    ///
    /// # Errors
    ///
    /// The id comes back in [`Refused`] when `due` is at or before [`now`](Self::now)
    /// ([`InsertError::DueNow`]), beyond the last tick ([`InsertError::BeyondRange`]) or the
    /// id is not below the id limit ([`InsertError::IdOutOfRange`]). A refused id that was
    /// scheduled before keeps its old due time.
    // Always inlined: measured, the call itself cost about a fifth of an insert into a burst.
    #[inline(always)]
    pub fn insert(&mut self, id: u32, due: Duration) -> Result<(), Refused> {
        // The common case (default tick, due in a later second) inline; every other case,
        // including each refusal, out of line with the full checks.
        if id < self.id_limit
            && let Some(tick) = self.clock.quick_due_tick(due)
        {
            self.core.schedule(&mut self.pool, &mut self.dues, id, tick);
            return Ok(());
        }
        self.insert_slow(id, due)
    }

    /// [`insert`](Self::insert) for every case but the common one, with the full checks.
    #[inline(never)]
    fn insert_slow(&mut self, id: u32, due: Duration) -> Result<(), Refused> {
        // `due_tick` only returns ticks after the current one.
        let tick = self.clock.due_tick(due);
        self.schedule_checked(id, tick)
    }

    /// Schedules `id` at due tick `tick` (ticks since the epoch); see [`insert`](Self::insert).
    ///
    /// # Errors
    ///
    /// As for [`insert`](Self::insert); [`InsertError::DueNow`] when `tick` is at or before
    /// [`current_tick`](Self::current_tick).
    #[inline]
    pub fn insert_at(&mut self, id: u32, tick: u32) -> Result<(), Refused> {
        let tick = self.clock.check_tick(tick);
        self.schedule_checked(id, tick)
    }

    /// The shared tail of [`insert`](Self::insert) and [`insert_at`](Self::insert_at): checks
    /// the id (an out-of-range id is reported before a bad tick), then schedules at the checked
    /// tick.
    #[inline(always)]
    fn schedule_checked(&mut self, id: u32, tick: Result<u32, InsertError>) -> Result<(), Refused> {
        if id >= self.id_limit {
            return Err(Refused {
                id,
                reason: InsertError::IdOutOfRange,
            });
        }
        let tick = tick.map_err(|reason| Refused { id, reason })?;
        self.core.schedule(&mut self.pool, &mut self.dues, id, tick);
        Ok(())
    }

    /// Cancels `id`. Returns `false`, and does nothing, when `id` is not scheduled (never
    /// inserted, already returned, already cancelled, or out of range).
    #[inline]
    pub fn cancel(&mut self, id: u32) -> bool {
        self.core
            .cancel(&mut self.pool, &mut self.dues, id)
            .is_some()
    }

    /// Whether `id` is scheduled.
    pub fn contains(&self, id: u32) -> bool {
        self.core.scheduled(self.dues.get(id).copied()).is_some()
    }

    /// The due time of `id`, rounded up to its tick, or `None` when it is not scheduled.
    pub fn due(&self, id: u32) -> Option<Duration> {
        self.core
            .scheduled(self.dues.get(id).copied())
            .map(|d| self.clock.time_of(d))
    }

    /// Advances to `now` and appends every id due at or before it to `out`. Returns how many ids
    /// were appended. A `now` earlier than a previous one changes nothing.
    ///
    /// Cost: O(levels) when nothing is due, plus O(1) per returned or cascaded entry.
    #[inline]
    pub fn advance(&mut self, now: Duration, out: &mut Vec<u32>) -> usize {
        let before = out.len();
        let target = self.clock.advance(now);
        self.core
            .advance(&mut self.pool, &mut self.dues, target, &mut Ids(out));
        out.len() - before
    }

    /// Advances to `now`, calling `f(id, due)` for every id due at or before it; `due` is its due
    /// time rounded up to the tick, so `now - due` is the pop tardiness.
    pub fn advance_with(&mut self, now: Duration, mut f: impl FnMut(u32, Duration)) {
        let target = self.clock.advance(now);
        let clock = self.clock;
        self.core
            .advance(&mut self.pool, &mut self.dues, target, &mut |id, due| {
                f(id, clock.time_of(due));
            });
    }

    /// Advances to tick `tick`, appending every id due at or before it to `out`.
    pub fn advance_to(&mut self, tick: u32, out: &mut Vec<u32>) -> usize {
        let before = out.len();
        let target = self.clock.advance_tick(tick);
        self.core
            .advance(&mut self.pool, &mut self.dues, target, &mut |id, _| {
                out.push(id)
            });
        out.len() - before
    }

    /// A time that is never later than the earliest due time, or `None` when nothing is
    /// scheduled. It is exact when the earliest entry lies within the next 256 ticks; otherwise it
    /// is the start of the block holding it, and the wheel can be advanced to it cheaply.
    pub fn next_due(&self) -> Option<Duration> {
        self.core.next_due().map(|t| self.clock.time_of(t))
    }

    /// How many ids are scheduled (exact).
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether no id is scheduled.
    pub fn is_empty(&self) -> bool {
        self.core.len() == 0
    }

    /// Memory counters.
    pub fn stats(&self) -> WheelStats {
        WheelStats {
            len: self.core.len(),
            entries: self.core.entries(),
            chunks_in_use: self.pool.in_use(),
            chunks_allocated: self.pool.capacity(),
        }
    }

    /// Removes every scheduled id and returns them with their due times, in no particular order.
    /// The wheel keeps its current time.
    pub fn drain(&mut self) -> Vec<(u32, Duration)> {
        let mut out = Vec::with_capacity(self.len());
        let clock = self.clock;
        self.core
            .drain(&mut self.pool, &mut self.dues, &mut |id, due| {
                out.push((id, clock.time_of(due)));
            });
        self.pool.clear();
        self.dues.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascades_from_every_level() {
        let mut w = TimerWheel::new();
        let dues = [
            1u32,
            255,
            256,
            300,
            65_535,
            65_536,
            70_000,
            1 << 24,
            (1 << 24) + 5,
            u32::MAX,
        ];
        for (i, &d) in dues.iter().enumerate() {
            w.insert_at(i as u32, d).unwrap();
        }
        let mut out = Vec::new();
        for (i, &d) in dues.iter().enumerate() {
            w.advance_to(d - 1, &mut out);
            assert!(out.is_empty(), "early at {d}: {out:?}");
            assert!(w.next_due().unwrap() <= Duration::from_secs(u64::from(d)));
            w.advance_to(d, &mut out);
            assert_eq!(out, [i as u32], "due {d}");
            out.clear();
        }
        assert!(w.is_empty());
        assert_eq!(w.stats().chunks_in_use, 0);
    }
}
