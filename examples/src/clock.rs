//! Simulated time: real time multiplied by a speed-up that the config can change while the demo
//! runs, without simulated time ever going backwards.
//!
//! The clock reads no system clock itself: callers pass the real instant in.

use std::time::{Duration, Instant};

/// Maps real instants to simulated milliseconds since the clock started.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    anchor_real: Instant,
    anchor_sim_ms: f64,
    speedup: f64,
}

impl SimClock {
    /// A clock at simulated time 0 at the real instant `start`, running `speedup` times faster
    /// than real time. A `speedup` that is not a positive finite number is taken as 1 (real
    /// time), as [`set_speedup`](Self::set_speedup) ignores one: the config refuses such values
    /// before they get here, and the clock never panics on one.
    pub fn new(start: Instant, speedup: f64) -> Self {
        Self {
            anchor_real: start,
            anchor_sim_ms: 0.0,
            speedup: if usable(speedup) { speedup } else { 1.0 },
        }
    }

    /// Simulated milliseconds at the real instant `real` (0 for instants before the anchor).
    ///
    /// # Examples
    /// ```
    /// use std::time::{Duration, Instant};
    /// use kumo_examples::clock::SimClock;
    /// let t0 = Instant::now();
    /// let mut c = SimClock::new(t0, 10.0);
    /// assert_eq!(c.sim_ms(t0 + Duration::from_secs(1)), 10_000);
    /// c.set_speedup(t0 + Duration::from_secs(1), 1.0);
    /// assert_eq!(c.sim_ms(t0 + Duration::from_secs(2)), 11_000);
    /// ```
    pub fn sim_ms(&self, real: Instant) -> u64 {
        let dt = real
            .saturating_duration_since(self.anchor_real)
            .as_secs_f64()
            * 1000.0;
        (self.anchor_sim_ms + dt * self.speedup) as u64
    }

    /// The current speed-up.
    pub fn speedup(&self) -> f64 {
        self.speedup
    }

    /// Changes the speed-up from the real instant `real` on; simulated time stays continuous.
    /// Ignores a speed-up that is not a positive finite number.
    pub fn set_speedup(&mut self, real: Instant, speedup: f64) {
        if !usable(speedup) || speedup == self.speedup {
            return;
        }
        let real = real.max(self.anchor_real);
        let dt = real.duration_since(self.anchor_real).as_secs_f64() * 1000.0;
        self.anchor_sim_ms += dt * self.speedup;
        self.anchor_real = real;
        self.speedup = speedup;
    }

    /// The real duration that `sim_ms` simulated milliseconds take at the current speed-up
    /// (saturating at [`Duration::MAX`]).
    pub fn real_duration(&self, sim_ms: u64) -> Duration {
        self.real_duration_secs(sim_ms as f64 / 1000.0)
    }

    /// The real duration that `sim_secs` simulated seconds take at the current speed-up:
    /// [`Duration::ZERO`] for a value that is not positive (NaN included), [`Duration::MAX`]
    /// for one too large to represent. Never panics.
    ///
    /// # Examples
    /// ```
    /// use std::time::{Duration, Instant};
    /// use kumo_examples::clock::SimClock;
    /// let c = SimClock::new(Instant::now(), 600.0);
    /// assert_eq!(c.real_duration_secs(15.0), Duration::from_millis(25));
    /// assert_eq!(c.real_duration_secs(1e300), Duration::MAX);
    /// assert_eq!(c.real_duration_secs(f64::NAN), Duration::ZERO);
    /// ```
    pub fn real_duration_secs(&self, sim_secs: f64) -> Duration {
        if sim_secs.is_nan() || sim_secs <= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(sim_secs / self.speedup).unwrap_or(Duration::MAX)
    }
}

/// Whether `speedup` can drive a clock: a positive finite number.
fn usable(speedup: f64) -> bool {
    speedup.is_finite() && speedup > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_across_speed_changes() {
        let t0 = Instant::now();
        let mut c = SimClock::new(t0, 600.0);
        let a = c.sim_ms(t0 + Duration::from_millis(100));
        assert_eq!(a, 60_000);
        c.set_speedup(t0 + Duration::from_millis(100), 1.0);
        let b = c.sim_ms(t0 + Duration::from_millis(100));
        assert_eq!(a, b);
        assert_eq!(c.sim_ms(t0 + Duration::from_millis(1100)), 61_000);
        c.set_speedup(t0, f64::NAN);
        assert_eq!(c.speedup(), 1.0);
        assert_eq!(
            c.sim_ms(t0),
            60_000,
            "an instant before the anchor never goes back"
        );
        assert_eq!(c.real_duration(1500), Duration::from_millis(1500));
    }

    #[test]
    fn extreme_speedups_never_panic() {
        let t0 = Instant::now();
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(SimClock::new(t0, bad).speedup(), 1.0, "{bad}");
        }
        let mut c = SimClock::new(t0, 1.0);
        c.set_speedup(t0, 1e-300);
        assert_eq!(c.real_duration(u64::MAX), Duration::MAX);
        assert_eq!(c.real_duration_secs(1e300), Duration::MAX);
        assert_eq!(c.real_duration_secs(-5.0), Duration::ZERO);
        c.set_speedup(t0, 1e300);
        assert_eq!(c.sim_ms(t0 + Duration::from_secs(1_000_000)), u64::MAX);
        assert_eq!(c.real_duration(1), Duration::ZERO);
    }
}
