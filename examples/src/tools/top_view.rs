//! [`TopView`]: what the `top` screen shows, in O(K) memory whatever the number of queues.

use std::collections::HashMap;
use std::fmt::Write as _;

use kumo_metrics::{HistogramSeries, Item, ParseError};

use super::{Cell, Ranked};
use crate::http::Request;
use crate::http::Target;
use crate::snapshot::{Column, Row, SnapshotError, parse_items, scrape_with};

/// The `top` screen's data from one scrape: totals over every queue, and the K busiest queues
/// (most messages scheduled, then by name) with their other columns.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TopView {
    /// Queues with a `scheduled_count` series.
    pub queues: u64,
    /// Sums over every per-queue series.
    pub total: Row,
    /// Messages injected.
    pub injected: f64,
    /// The pop tardiness histogram.
    pub tardiness: Option<HistogramSeries>,
    /// The K busiest queues, busiest first; a column is `NaN` when its family had no series
    /// for the queue after `scheduled_count`.
    pub rows: Vec<(String, Row)>,
    /// Samples read.
    pub samples: u64,
}

/// Builds a [`TopView`] item by item (see [`TopView::fetch`] for the usual way).
#[derive(Debug)]
pub struct TopBuilder {
    busiest: Ranked<Row>,
    view: TopView,
}

impl TopBuilder {
    /// Keeps the `k` busiest queues.
    pub fn new(k: usize) -> Self {
        Self {
            busiest: Ranked::new(k, Row::unknown),
            view: TopView::default(),
        }
    }

    /// Takes one parsed item into account.
    pub fn add(&mut self, item: Item<'_>) {
        let view = &mut self.view;
        match item {
            Item::Sample(s) => {
                view.samples += 1;
                let family = s.family.name.as_str();
                if let Some(q) = s.labels.get("queue") {
                    let Some(column) = Column::of_queue_family(family) else {
                        return;
                    };
                    view.total.add(column, s.value);
                    if column == Column::Scheduled {
                        view.queues += 1;
                        self.busiest.offer(s.value, q);
                    } else if let Some(row) = self.busiest.row_mut(q) {
                        row.set(column, s.value);
                    }
                } else if family == "total_messages_injected" {
                    view.injected = s.value;
                }
            }
            Item::Histogram(h) if h.name == "timeq_pop_tardiness" => {
                view.tardiness = Some(h.clone());
            }
            _ => {}
        }
    }

    /// The view.
    pub fn finish(self) -> TopView {
        let mut view = self.view;
        view.rows = self
            .busiest
            .into_rows()
            .into_iter()
            .map(|(name, scheduled, mut row)| {
                row.scheduled = scheduled;
                (name, row)
            })
            .collect();
        view
    }
}

impl TopView {
    /// Scrapes `target` (a `/metrics` URL) and keeps the `k` busiest queues.
    ///
    /// # Errors
    /// [`SnapshotError`] when the request fails or the text is invalid.
    pub fn fetch(target: &Target, gzip: bool, k: usize) -> Result<TopView, SnapshotError> {
        Self::fetch_with(target, gzip, k, Request::default())
    }

    /// [`TopView::fetch`] with the timeouts of `req` (its method, headers and body are
    /// replaced: a `GET`, asking for gzip when `gzip` is set).
    ///
    /// # Errors
    /// [`SnapshotError`] when the request fails or times out, or the text is invalid.
    pub fn fetch_with(
        target: &Target,
        gzip: bool,
        k: usize,
        req: Request<'_>,
    ) -> Result<TopView, SnapshotError> {
        let mut b = TopBuilder::new(k);
        scrape_with(target, gzip, req, |item| b.add(item))?;
        Ok(b.finish())
    }

    /// The view of a whole body.
    ///
    /// # Errors
    /// [`ParseError`] for invalid text.
    ///
    /// # Examples
    /// ```
    /// let text = b"# TYPE scheduled_count gauge\n\
    ///     scheduled_count{queue=\"a.test\"} 4\nscheduled_count{queue=\"b.test\"} 9\n";
    /// let v = kumo_examples::tools::TopView::parse(text, 1)?;
    /// assert_eq!((v.queues, v.total.scheduled), (2, 13.0));
    /// assert_eq!(v.rows[0].0, "b.test");
    /// # Ok::<(), kumo_metrics::ParseError>(())
    /// ```
    pub fn parse(text: &[u8], k: usize) -> Result<TopView, ParseError> {
        let mut b = TopBuilder::new(k);
        parse_items(text, |item| b.add(item))?;
        Ok(b.finish())
    }

    /// Messages ended (delivered or bounced) per kept queue, for rates between two views.
    pub fn ended(&self) -> HashMap<String, f64> {
        self.rows
            .iter()
            .filter(|(_, r)| !r.ended().is_nan())
            .map(|(q, r)| (q.clone(), r.ended()))
            .collect()
    }

    /// The table: totals, tardiness, the kept queues with the rate of ended messages per
    /// second when `rates` has one.
    pub fn render(&self, rates: &HashMap<String, f64>) -> String {
        let t = &self.total;
        let mut out = format!(
            "{} queues  scheduled {}  ready {}  delivered {}  bounced {}\n",
            self.queues, t.scheduled, t.ready, t.delivered, t.fail
        );
        if let Some(h) = self
            .tardiness
            .as_ref()
            .filter(|h| h.count.unwrap_or(0.0) > 0.0)
        {
            let _ = writeln!(
                out,
                "pop tardiness p50 {:.3}s  p99 {:.3}s  ({} pops)",
                h.quantile(0.5),
                h.quantile(0.99),
                h.count.unwrap_or(0.0)
            );
        }
        let _ = writeln!(
            out,
            "\n{:<28} {:>10} {:>8} {:>11} {:>10} {:>9} {:>9}",
            "QUEUE", "SCHEDULED", "READY", "DELIVERED", "TRANSFAIL", "BOUNCED", "DONE/s"
        );
        for (q, r) in &self.rows {
            let per_sec = rates.get(q).map_or("-".to_owned(), |r| format!("{r:.1}"));
            let _ = writeln!(
                out,
                "{q:<28} {:>10} {:>8} {:>11} {:>10} {:>9} {per_sec:>9}",
                Cell(r.scheduled),
                Cell(r.ready),
                Cell(r.delivered),
                Cell(r.transfail),
                Cell(r.fail)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kumo_metrics::Parser;

    const TEXT: &str = "\
# TYPE total_messages_fail counter
total_messages_fail{queue=\"b.test\"} 99
# TYPE scheduled_count gauge
scheduled_count{queue=\"a.test\"} 3
scheduled_count{queue=\"b.test\"} 8
scheduled_count{queue=\"odd\\\"name\"} 5
scheduled_count{queue=\"c.test\"} 1
# TYPE ready_count gauge
ready_count{queue=\"b.test\"} 2
ready_count{queue=\"c.test\"} 7
# TYPE total_messages_delivered counter
total_messages_delivered{queue=\"b.test\"} 10
total_messages_delivered{queue=\"odd\\\"name\"} 4
# TYPE total_messages_injected counter
total_messages_injected 20
# TYPE timeq_pop_tardiness histogram
timeq_pop_tardiness_bucket{le=\"0.5\"} 3
timeq_pop_tardiness_bucket{le=\"+Inf\"} 4
timeq_pop_tardiness_sum 2.5
timeq_pop_tardiness_count 4
";

    #[test]
    fn keeps_the_busiest_and_totals_everything() {
        let v = TopView::parse(TEXT.as_bytes(), 2).unwrap();
        assert_eq!(v.queues, 4);
        assert_eq!(
            (
                v.total.scheduled,
                v.total.ready,
                v.total.delivered,
                v.total.fail
            ),
            (17.0, 9.0, 14.0, 99.0)
        );
        assert_eq!(v.injected, 20.0);
        let names: Vec<&str> = v.rows.iter().map(|(q, _)| q.as_str()).collect();
        assert_eq!(names, ["b.test", "odd\"name"]);
        let b = v.rows[0].1;
        assert_eq!((b.scheduled, b.ready, b.delivered), (8.0, 2.0, 10.0));
        assert!(b.fail.is_nan(), "listed before scheduled_count: unknown");
        assert!(v.rows[1].1.ready.is_nan(), "no ready_count series for it");
        assert_eq!(v.ended(), HashMap::new(), "b's ended is unknown, odd's too");
        let text = v.render(&HashMap::from([("b.test".to_owned(), 2.5)]));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("4 queues  scheduled 17  ready 9  delivered 14  bounced 99"),
            "{text}"
        );
        assert!(lines[1].starts_with("pop tardiness p50"), "{text}");
        assert!(
            lines[4].starts_with("b.test") && lines[4].ends_with("2.5"),
            "{text}"
        );
        assert!(
            lines[5].starts_with("odd\"name") && lines[5].ends_with('-'),
            "{text}"
        );
        assert_eq!(lines.len(), 6, "{text}");
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let whole = TopView::parse(TEXT.as_bytes(), 3).unwrap();
        let mut b = TopBuilder::new(3);
        let mut p = Parser::new();
        for byte in TEXT.as_bytes() {
            p.push(std::slice::from_ref(byte), &mut |i: Item<'_>| b.add(i))
                .unwrap();
        }
        p.finish(&mut |i: Item<'_>| b.add(i)).unwrap();
        // `NaN` columns: compared by their text.
        assert_eq!(format!("{:?}", b.finish()), format!("{whole:?}"));
    }

    #[test]
    fn invalid_text_is_an_error() {
        assert!(TopView::parse(b"# TYPE x gauge\nx{a=\"b} 1\n", 3).is_err());
    }
}
