//! Owned parse results: [`parse_text`] collects a whole input into [`ParsedFamily`]s.

use super::{HistogramSeries, Item, ParseError, Parser, SummarySeries};
use crate::family::MetricType;

/// A family with all its series, owned.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedFamily {
    /// The family name.
    pub name: String,
    /// The HELP text, empty when absent.
    pub help: String,
    /// The type.
    pub metric_type: MetricType,
    /// The series in input order.
    pub series: Vec<ParsedSeries>,
}

/// One series of a [`ParsedFamily`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ParsedSeries {
    /// A counter, gauge or untyped sample.
    Sample {
        /// The sample name as written.
        name: String,
        /// The labels in input order.
        labels: Vec<(String, String)>,
        /// The value.
        value: f64,
        /// The timestamp, if written.
        timestamp: Option<f64>,
    },
    /// A histogram series.
    Histogram(HistogramSeries),
    /// A summary series.
    Summary(SummarySeries),
}

/// Parses a whole text input (0.0.4 or OpenMetrics) into owned families.
///
/// # Errors
///
/// [`ParseError`] with the position of the first problem.
///
/// # Examples
///
/// ```
/// let families = kumo_metrics::parse_text(b"# TYPE up gauge\nup 1\n")?;
/// assert_eq!(families[0].name, "up");
/// # Ok::<(), kumo_metrics::ParseError>(())
/// ```
pub fn parse_text(input: &[u8]) -> Result<Vec<ParsedFamily>, ParseError> {
    let mut out: Vec<ParsedFamily> = Vec::new();
    let mut sink = |item: Item<'_>| collect(&mut out, item);
    let mut p = Parser::new();
    p.push(input, &mut sink)?;
    p.finish(&mut sink)?;
    Ok(out)
}

/// Adds one parser item to a list of owned families.
pub(crate) fn collect(out: &mut Vec<ParsedFamily>, item: Item<'_>) {
    let series = match item {
        Item::Family(info) => {
            out.push(ParsedFamily {
                name: info.name.clone(),
                help: info.help.clone(),
                metric_type: info.metric_type,
                series: Vec::new(),
            });
            return;
        }
        Item::Sample(s) => ParsedSeries::Sample {
            name: s.name.to_owned(),
            labels: s
                .labels
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
            value: s.value,
            timestamp: s.timestamp,
        },
        Item::Histogram(h) => ParsedSeries::Histogram(h.clone()),
        Item::Summary(s) => ParsedSeries::Summary(s.clone()),
    };
    if let Some(f) = out.last_mut() {
        f.series.push(series);
    }
}
