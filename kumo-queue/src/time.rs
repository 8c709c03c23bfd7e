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

    /// The due tick for `due`: rounded up to a whole tick, strictly after the current tick.
    #[inline]
    pub(crate) fn due_tick(&self, due: Duration) -> Result<u32, InsertError> {
        let t = if self.tick_nanos == 1_000_000_000 {
            // The default tick: no multiplication or division.
            let (s, sub) = (due.as_secs(), due.subsec_nanos());
            if (s, sub) <= self.now_split {
                return Err(InsertError::DueNow);
            }
            s.saturating_add(u64::from(sub != 0))
        } else {
            let Some(n) = nanos(due) else {
                return Err(InsertError::BeyondRange);
            };
            if n <= self.now_nanos {
                return Err(InsertError::DueNow);
            }
            n / self.tick_nanos + u64::from(n % self.tick_nanos != 0)
        };
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
