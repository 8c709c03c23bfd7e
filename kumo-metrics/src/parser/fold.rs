//! Folding histogram and summary samples into whole series: one piece of code for both.

use super::series::{HistogramSeries, SummarySeries};
use super::{Item, Labels, ParseErrorKind, Suffix, number, owned_labels, same_labels};

/// The fields of a folded series that its samples fill in.
pub(super) struct Parts<'a> {
    /// The `(bound, value)` points: histogram buckets or summary quantiles.
    points: &'a mut Vec<(f64, f64)>,
    sum: &'a mut Option<f64>,
    count: &'a mut Option<f64>,
    created: &'a mut Option<f64>,
    timestamp: &'a mut Option<f64>,
}

/// A series folded from several samples: a [`HistogramSeries`] or a [`SummarySeries`].
pub(super) trait Folded: Sized {
    /// The label that tells the series' points apart (`le`, `quantile`).
    const KEY: &'static str;
    /// The error when a point sample lacks [`Self::KEY`].
    const MISSING: ParseErrorKind;
    /// The suffix of the samples that carry a point.
    const POINT: Suffix;

    /// A new, empty series.
    fn start(name: String, labels: Vec<(String, String)>) -> Self;
    /// The series' labels, without [`Self::KEY`].
    fn labels(&self) -> &[(String, String)];
    /// The fields the samples fill in.
    fn parts(&mut self) -> Parts<'_>;
    /// The series as a parser item.
    fn item(&self) -> Item<'_>;
}

/// Implements [`Folded`] for a series type: its points field, key label, missing-key error,
/// point suffix and item variant.
macro_rules! folded {
    ($ty:ident, $points:ident, $key:literal, $missing:ident, $point:ident, $item:ident) => {
        impl Folded for $ty {
            const KEY: &'static str = $key;
            const MISSING: ParseErrorKind = ParseErrorKind::$missing;
            const POINT: Suffix = Suffix::$point;

            fn start(name: String, labels: Vec<(String, String)>) -> Self {
                $ty {
                    name,
                    labels,
                    ..Default::default()
                }
            }

            fn labels(&self) -> &[(String, String)] {
                &self.labels
            }

            fn parts(&mut self) -> Parts<'_> {
                Parts {
                    points: &mut self.$points,
                    sum: &mut self.sum,
                    count: &mut self.count,
                    created: &mut self.created,
                    timestamp: &mut self.timestamp,
                }
            }

            fn item(&self) -> Item<'_> {
                Item::$item(self)
            }
        }
    };
}

folded!(HistogramSeries, buckets, "le", MissingLe, Bucket, Histogram);
folded!(
    SummarySeries,
    quantiles,
    "quantile",
    MissingQuantile,
    None,
    Summary
);

/// One sample of a histogram or summary family, as the parser hands it to [`fold`].
pub(super) struct FoldSample<'l, 't> {
    /// The family name.
    pub(super) family: &'l str,
    pub(super) labels: &'l Labels<'t>,
    pub(super) suffix: Suffix,
    pub(super) value: f64,
    pub(super) timestamp: Option<f64>,
    /// The byte offsets of the sample's name and of its end.
    pub(super) first: usize,
    pub(super) name_end: usize,
}

/// Folds one sample into the open series in `slot`: a sample with other labels (the point label
/// aside) closes the open series, hands it to `f` and opens a new one.
pub(super) fn fold<S: Folded, F: FnMut(Item<'_>)>(
    slot: &mut Option<S>,
    sample: FoldSample<'_, '_>,
    f: &mut F,
) -> Result<(), (usize, ParseErrorKind)> {
    let FoldSample {
        family,
        labels,
        suffix,
        value,
        timestamp,
        first,
        name_end,
    } = sample;
    let point = suffix == S::POINT;
    let special = point.then_some(S::KEY);
    let same = slot
        .as_ref()
        .is_some_and(|s| same_labels(s.labels(), labels, special));
    if !same {
        let old = slot.replace(S::start(family.to_owned(), owned_labels(labels, special)));
        if let Some(s) = old {
            f(s.item());
        }
    }
    let parts = slot.as_mut().ok_or((first, S::MISSING))?.parts();
    match suffix {
        _ if point => {
            let bound = labels.get(S::KEY).ok_or((name_end, S::MISSING))?;
            let bound = number(bound).ok_or((name_end, ParseErrorKind::InvalidBound))?;
            parts.points.push((bound, value));
        }
        Suffix::Sum => *parts.sum = Some(value),
        Suffix::Count => *parts.count = Some(value),
        _ => *parts.created = Some(value),
    }
    if timestamp.is_some() {
        *parts.timestamp = timestamp;
    }
    Ok(())
}
