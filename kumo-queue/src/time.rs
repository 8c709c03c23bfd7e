//! Conversion between the caller's time (a [`Duration`] since the caller's epoch) and wheel ticks.

use crate::error::{InsertError, TickError};
use std::time::Duration;

/// The default tick: one second.
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);

/// Tracks `now` in nanoseconds and in whole ticks, and rounds due times up to a tick.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TickClock {
    tick_nanos: u64,
    /// The latest `now` passed to an advance, in nanoseconds since the epoch.
    now_nanos: u64,
    /// `now_nanos` as whole seconds and the nanoseconds left over.
    now_split: (u64, u32),
    /// `floor(now_nanos / tick_nanos)`, saturated at `u32::MAX`.
    cur: u32,
}

pub(crate) fn nanos(d: Duration) -> Option<u64> {
    d.as_secs()
        .checked_mul(1_000_000_000)?
        .checked_add(u64::from(d.subsec_nanos()))
}

impl TickClock {
    pub(crate) fn new(tick: Duration) -> Result<Self, TickError> {
        let tick_nanos = nanos(tick).ok_or(TickError::TooLong)?;
        if tick_nanos == 0 {
            return Err(TickError::Zero);
        }
        Ok(Self {
            tick_nanos,
            now_nanos: 0,
            now_split: (0, 0),
            cur: 0,
        })
    }

    /// A clock with the default 1 s tick.
    pub(crate) const fn default_tick() -> Self {
        Self {
            tick_nanos: 1_000_000_000,
            now_nanos: 0,
            now_split: (0, 0),
            cur: 0,
        }
    }

    pub(crate) fn tick(&self) -> Duration {
        Duration::from_nanos(self.tick_nanos)
    }

    pub(crate) fn cur(&self) -> u32 {
        self.cur
    }

    pub(crate) fn now(&self) -> Duration {
        Duration::from_nanos(self.now_nanos)
    }

    /// [`due_tick`](Self::due_tick) for the common case only: the default tick and a due time
    /// in a later second than `now`, within range. `None` means "ask `due_tick`".
    #[inline(always)]
    pub(crate) fn quick_due_tick(&self, due: Duration) -> Option<u32> {
        if self.tick_nanos != 1_000_000_000 || due.as_secs() <= self.now_split.0 {
            return None;
        }
        // A later second than now is after the current tick (which is now's second, or
        // u32::MAX when now is beyond the range, and then the conversion fails).
        u32::try_from(due.as_secs())
            .ok()?
            .checked_add(u32::from(due.subsec_nanos() != 0))
    }

    /// The due tick for `due`: rounded up to a whole tick, strictly after the current tick.
    #[inline]
    pub(crate) fn due_tick(&self, due: Duration) -> Result<u32, InsertError> {
        if self.tick_nanos != 1_000_000_000 {
            return self.due_tick_general(due);
        }
        // The default tick: no multiplication or division.
        let (s, sub) = (due.as_secs(), due.subsec_nanos());
        if (s, sub) <= self.now_split {
            return Err(InsertError::DueNow);
        }
        self.checked(s.saturating_add(u64::from(sub != 0)))
    }

    /// [`due_tick`](Self::due_tick) for any tick length (kept out of line so that the default
    /// tick's path stays small enough to inline).
    #[inline(never)]
    fn due_tick_general(&self, due: Duration) -> Result<u32, InsertError> {
        let Some(n) = nanos(due) else {
            return Err(InsertError::BeyondRange);
        };
        if n <= self.now_nanos {
            return Err(InsertError::DueNow);
        }
        self.checked(n / self.tick_nanos + u64::from(n % self.tick_nanos != 0))
    }

    /// A rounded-up due tick as a `u32` after the current tick.
    #[inline]
    fn checked(&self, t: u64) -> Result<u32, InsertError> {
        let t = u32::try_from(t).map_err(|_| InsertError::BeyondRange)?;
        if t <= self.cur {
            // Only reachable when the clock saturated at the last tick.
            return Err(InsertError::DueNow);
        }
        Ok(t)
    }

    /// Checks a due tick given directly.
    pub(crate) fn check_tick(&self, due: u32) -> Result<u32, InsertError> {
        if due <= self.cur {
            Err(InsertError::DueNow)
        } else {
            Ok(due)
        }
    }

    /// Moves `now` forward (never backward) and returns the new current tick.
    #[inline]
    pub(crate) fn advance(&mut self, now: Duration) -> u32 {
        if self.tick_nanos == 1_000_000_000 {
            // The default tick: whole seconds are ticks, no division.
            let split = (now.as_secs(), now.subsec_nanos());
            if split > self.now_split {
                self.now_split = split;
                self.now_nanos = nanos(now).unwrap_or(u64::MAX);
                self.cur = u32::try_from(split.0).unwrap_or(u32::MAX);
            }
            return self.cur;
        }
        let n = nanos(now).unwrap_or(u64::MAX);
        if n > self.now_nanos {
            self.set_now(n);
            self.cur = u32::try_from(n / self.tick_nanos).unwrap_or(u32::MAX);
        }
        self.cur
    }

    /// Moves the current tick forward to `tick` (never backward).
    pub(crate) fn advance_tick(&mut self, tick: u32) -> u32 {
        if tick > self.cur {
            self.cur = tick;
            self.now_nanos = self
                .now_nanos
                .max(self.tick_nanos.saturating_mul(u64::from(tick)));
        }
        self.cur
    }

    fn set_now(&mut self, n: u64) {
        self.now_nanos = n;
        self.now_split = (n / 1_000_000_000, (n % 1_000_000_000) as u32);
    }

    /// The time of a tick's start.
    pub(crate) fn time_of(&self, tick: u32) -> Duration {
        Duration::from_nanos(self.tick_nanos.saturating_mul(u64::from(tick)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_rounds_up_and_rejects_now() {
        let mut c = TickClock::new(Duration::from_secs(1)).unwrap();
        assert_eq!(c.due_tick(Duration::from_millis(1)), Ok(1));
        assert_eq!(c.due_tick(Duration::from_secs(1)), Ok(1));
        assert_eq!(c.due_tick(Duration::from_millis(1001)), Ok(2));
        assert_eq!(c.due_tick(Duration::ZERO), Err(InsertError::DueNow));
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.cur(), 1);
        assert_eq!(
            c.due_tick(Duration::from_millis(1500)),
            Err(InsertError::DueNow)
        );
        assert_eq!(c.due_tick(Duration::from_millis(1501)), Ok(2));
        assert_eq!(
            c.due_tick(Duration::from_secs(u64::from(u32::MAX) + 1)),
            Err(InsertError::BeyondRange)
        );
        assert_eq!(c.due_tick(Duration::MAX), Err(InsertError::BeyondRange));
    }

    proptest::proptest! {
        /// The inline fast path agrees with the full conversion whenever it answers, and only
        /// answers for the default tick.
        #[test]
        fn quick_due_tick_agrees_with_due_tick(
            now_s in 0u64..(1 << 33),
            now_ns in 0u32..1_000_000_000,
            due_s in 0u64..(1 << 33),
            due_ns in proptest::prop_oneof![proptest::strategy::Just(0u32), 0u32..1_000_000_000],
            near in proptest::bool::ANY,
        ) {
            let mut c = TickClock::default_tick();
            c.advance(Duration::new(now_s, now_ns));
            // Half the cases put the due time within a second or two of now.
            let due_s = if near { now_s + due_s % 2 } else { due_s };
            let due = Duration::new(due_s, due_ns);
            if let Some(t) = c.quick_due_tick(due) {
                proptest::prop_assert_eq!(c.due_tick(due), Ok(t));
            }
            let slow = TickClock::new(Duration::from_millis(1000) + Duration::from_nanos(1)).unwrap();
            proptest::prop_assert_eq!(slow.quick_due_tick(due), None);
        }
    }

    #[test]
    fn quick_due_tick_takes_the_common_case() {
        let mut c = TickClock::default_tick();
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.quick_due_tick(Duration::from_millis(2001)), Some(3));
        assert_eq!(c.quick_due_tick(Duration::from_secs(2)), Some(2));
        // Within now's second, at or before now, or beyond the range: the full path decides.
        assert_eq!(c.quick_due_tick(Duration::from_millis(1700)), None);
        assert_eq!(c.quick_due_tick(Duration::from_millis(1000)), None);
        assert_eq!(
            c.quick_due_tick(Duration::from_secs(u64::from(u32::MAX) + 1)),
            None
        );
        assert_eq!(
            c.quick_due_tick(Duration::new(u64::from(u32::MAX), 1)),
            None
        );
        assert_eq!(
            c.quick_due_tick(Duration::from_secs(u64::from(u32::MAX))),
            Some(u32::MAX)
        );
    }

    #[test]
    fn clock_never_goes_back_and_saturates() {
        let mut c = TickClock::new(Duration::from_secs(1)).unwrap();
        c.advance(Duration::from_secs(10));
        c.advance(Duration::from_secs(5));
        assert_eq!(c.cur(), 10);
        c.advance(Duration::MAX);
        assert_eq!(c.cur(), u32::MAX);
        assert_eq!(TickClock::new(Duration::ZERO).unwrap_err(), TickError::Zero);
    }
}
