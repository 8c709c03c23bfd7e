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
    /// A clock at simulated time 0 at the real instant `start`.
    ///
    /// # Panics
    /// When `speedup` is not a positive finite number.
    pub fn new(start: Instant, speedup: f64) -> Self {
        assert!(
            speedup.is_finite() && speedup > 0.0,
            "speedup must be positive"
        );
        Self {
            anchor_real: start,
            anchor_sim_ms: 0.0,
            speedup,
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
        if !(speedup.is_finite() && speedup > 0.0) || speedup == self.speedup {
            return;
        }
        let real = real.max(self.anchor_real);
        let dt = real.duration_since(self.anchor_real).as_secs_f64() * 1000.0;
        self.anchor_sim_ms += dt * self.speedup;
        self.anchor_real = real;
        self.speedup = speedup;
    }

    /// The real duration that `sim_ms` simulated milliseconds take at the current speed-up.
    pub fn real_duration(&self, sim_ms: u64) -> Duration {
        Duration::from_secs_f64(sim_ms as f64 / 1000.0 / self.speedup)
    }
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
}
