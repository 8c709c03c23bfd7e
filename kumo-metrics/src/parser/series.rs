//! Folded histogram and summary series, and the histogram quantile estimate.

/// One histogram series folded from its `_bucket`, `_sum`, `_count` (and `_created`) samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramSeries {
    /// The family name (without `_bucket`).
    pub name: String,
    /// The labels, without `le`, in input order.
    pub labels: Vec<(String, String)>,
    /// `(upper bound, cumulative count)` in input order, `+Inf` included when present.
    pub buckets: Vec<(f64, f64)>,
    /// The `_sum` sample.
    pub sum: Option<f64>,
    /// The `_count` sample.
    pub count: Option<f64>,
    /// The `_created` sample.
    pub created: Option<f64>,
    /// The timestamp of the last sample that had one.
    pub timestamp: Option<f64>,
}

impl HistogramSeries {
    /// Estimates the `q`-quantile (0 ≤ q ≤ 1) by linear interpolation within the bucket that
    /// holds it, as Prometheus' `histogram_quantile` does: `NaN` without a `+Inf` bucket or
    /// without observations, `-Inf`/`+Inf` for q below 0/above 1, the largest finite bound
    /// when the quantile falls in the `+Inf` bucket, and 0 as the lower edge of the first
    /// bucket when its bound is positive.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = kumo_metrics::HistogramSeries {
    ///     buckets: vec![(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)],
    ///     ..Default::default()
    /// };
    /// assert_eq!(h.quantile(0.5), 1.0);
    /// assert_eq!(h.quantile(0.75), 1.5);
    /// ```
    pub fn quantile(&self, q: f64) -> f64 {
        if q.is_nan() {
            return f64::NAN;
        }
        if q < 0.0 {
            return f64::NEG_INFINITY;
        }
        if q > 1.0 {
            return f64::INFINITY;
        }
        let mut b: Vec<(f64, f64)> = self
            .buckets
            .iter()
            .copied()
            .filter(|(ub, _)| !ub.is_nan())
            .collect();
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        b.dedup_by(|x, y| x.0 == y.0);
        let n = b.len();
        if n < 2 || b[n - 1].0 != f64::INFINITY {
            return f64::NAN;
        }
        for i in 1..n {
            if b[i].1 < b[i - 1].1 {
                b[i].1 = b[i - 1].1;
            }
        }
        let total = b[n - 1].1;
        if total.is_nan() || total <= 0.0 {
            return f64::NAN;
        }
        let mut rank = q * total;
        let i = b.iter().position(|x| x.1 >= rank).unwrap_or(n - 1);
        if i == n - 1 {
            return b[n - 2].0;
        }
        if i == 0 && b[0].0 <= 0.0 {
            return b[0].0;
        }
        let (start, below) = if i == 0 { (0.0, 0.0) } else { b[i - 1] };
        let end = b[i].0;
        let count = b[i].1 - below;
        rank -= below;
        if count <= 0.0 {
            return end;
        }
        start + (end - start) * (rank / count)
    }
}

/// One summary series folded from its quantile, `_sum`, `_count` (and `_created`) samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SummarySeries {
    /// The family name.
    pub name: String,
    /// The labels, without `quantile`, in input order.
    pub labels: Vec<(String, String)>,
    /// `(quantile, value)` in input order.
    pub quantiles: Vec<(f64, f64)>,
    /// The `_sum` sample.
    pub sum: Option<f64>,
    /// The `_count` sample.
    pub count: Option<f64>,
    /// The `_created` sample.
    pub created: Option<f64>,
    /// The timestamp of the last sample that had one.
    pub timestamp: Option<f64>,
}

impl SummarySeries {
    /// The value given for quantile `q`, if the input had it.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles.iter().find(|x| x.0 == q).map(|x| x.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: &[(f64, f64)]) -> HistogramSeries {
        HistogramSeries {
            buckets: b.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn quantile_edges() {
        let inf = f64::INFINITY;
        assert!(h(&[(1.0, 1.0)]).quantile(0.5).is_nan());
        assert!(h(&[(1.0, 0.0), (inf, 0.0)]).quantile(0.5).is_nan());
        assert_eq!(h(&[(1.0, 0.0), (inf, 4.0)]).quantile(0.5), 1.0);
        assert_eq!(h(&[(-1.0, 4.0), (inf, 4.0)]).quantile(0.5), -1.0);
        assert_eq!(h(&[(4.0, 4.0), (inf, 4.0)]).quantile(0.5), 2.0);
        assert_eq!(h(&[(4.0, 4.0), (inf, 4.0)]).quantile(-0.1), -inf);
        assert_eq!(h(&[(4.0, 4.0), (inf, 4.0)]).quantile(1.1), inf);
    }
}
