//! The handles to one series: [`Counter`], [`Gauge`], [`FloatGauge`], [`Histogram`].

use crate::family::{MetricType, SeriesRef, ValueKind};
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) mod sealed {
    use crate::family::{MetricType, SeriesRef, ValueKind};

    #[allow(
        unreachable_pub,
        private_interfaces,
        reason = "a sealed trait: public but unnameable"
    )]
    pub trait Sealed: Sized {
        const METRIC_TYPE: MetricType;
        const VALUE_KIND: ValueKind;
        fn from_series(series: SeriesRef) -> Self;
    }
}

/// A kind of metric a [`Family`](crate::Family) holds: [`Counter`], [`Gauge`], [`FloatGauge`]
/// or [`Histogram`]. Sealed.
pub trait Metric: sealed::Sealed {}

macro_rules! handle {
    ($name:ident, $ty:expr, $kind:expr) => {
        #[allow(private_interfaces, reason = "a sealed trait: public but unnameable")]
        impl sealed::Sealed for $name {
            const METRIC_TYPE: MetricType = $ty;
            const VALUE_KIND: ValueKind = $kind;
            fn from_series(series: SeriesRef) -> Self {
                Self(series)
            }
        }
        impl Metric for $name {}
    };
}

/// A handle to one counter series (a `u64` that only goes up).
///
/// Cloning is cheap; updates are one atomic add and never lock. For a weak family the series
/// exists while at least one handle does.
#[derive(Debug, Clone)]
pub struct Counter(SeriesRef);
handle!(Counter, MetricType::Counter, ValueKind::U64);

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `n` (wrapping at `u64::MAX`, which a real count never reaches).
    #[inline]
    pub fn inc_by(&self, n: u64) {
        self.0.cells()[0].fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.cells()[0].load(Ordering::Relaxed)
    }
}

/// A handle to one signed integer gauge series (an `i64`).
///
/// Decrementing below zero gives a negative value, never a wrapped huge one.
#[derive(Debug, Clone)]
pub struct Gauge(SeriesRef);
handle!(Gauge, MetricType::Gauge, ValueKind::I64);

impl Gauge {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.add(-1);
    }

    /// Adds `n` (which may be negative).
    #[inline]
    pub fn add(&self, n: i64) {
        self.0.cells()[0].fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Subtracts `n`.
    #[inline]
    pub fn sub(&self, n: i64) {
        self.add(n.wrapping_neg());
    }

    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.cells()[0].store(v as u64, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.cells()[0].load(Ordering::Relaxed) as i64
    }
}

/// A handle to one floating-point gauge series (an `f64`; `NaN` and infinities are allowed and
/// written as `NaN`, `+Inf`, `-Inf`, or `null` in JSON).
#[derive(Debug, Clone)]
pub struct FloatGauge(SeriesRef);
handle!(FloatGauge, MetricType::Gauge, ValueKind::F64);

impl FloatGauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.cells()[0].store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `v` (a compare-and-swap loop).
    pub fn add(&self, v: f64) {
        add_f64(&self.0.cells()[0], v);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.cells()[0].load(Ordering::Relaxed))
    }
}

/// A handle to one histogram series: observations counted in the family's buckets.
///
/// The count is the sum of the bucket counts when read, so the written `le="+Inf"` bucket always
/// equals `_count`.
#[derive(Debug, Clone)]
pub struct Histogram(SeriesRef);
handle!(Histogram, MetricType::Histogram, ValueKind::Histogram);

impl Histogram {
    /// Records one observation. `NaN` counts in the `+Inf` bucket (and makes the sum `NaN`).
    pub fn observe(&self, v: f64) {
        let bounds = &self.0.core().bounds;
        let i = if v.is_nan() {
            bounds.len()
        } else {
            bounds.partition_point(|&b| b < v)
        };
        let cells = self.0.cells();
        cells[i].fetch_add(1, Ordering::Relaxed);
        add_f64(&cells[bounds.len() + 1], v);
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        let n = self.0.core().bounds.len() + 1;
        self.0.cells()[..n]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// The sum of the observations.
    pub fn sum(&self) -> f64 {
        let n = self.0.core().bounds.len() + 1;
        f64::from_bits(self.0.cells()[n].load(Ordering::Relaxed))
    }
}

fn add_f64(cell: &AtomicU64, v: f64) {
    let mut cur = cell.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(cur) + v).to_bits();
        match cell.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(x) => cur = x,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Registry;

    #[test]
    fn histogram_buckets_are_inclusive_and_nan_goes_to_inf() {
        let r = Registry::new();
        let h = r
            .family("h", "")
            .histogram::<()>(&[1.0, 2.0])
            .unwrap()
            .get_or_create(&());
        for v in [1.0, 1.5, 2.0, 3.0, f64::NAN, -5.0] {
            h.observe(v);
        }
        let counts: Vec<u64> =
            h.0.cells()
                .iter()
                .take(3)
                .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
                .collect();
        assert_eq!(counts, [2, 2, 2]);
        assert_eq!(h.count(), 6);
        assert!(h.sum().is_nan());
    }

    #[test]
    fn gauges_go_negative_without_wrapping() {
        let r = Registry::new();
        let g = r.family("g", "").gauge::<()>().unwrap().get_or_create(&());
        g.dec();
        g.sub(2);
        assert_eq!(g.get(), -3);
        let f = r
            .family("f", "")
            .float_gauge::<()>()
            .unwrap()
            .get_or_create(&());
        f.add(0.5);
        f.add(0.25);
        assert_eq!(f.get(), 0.75);
    }
}
