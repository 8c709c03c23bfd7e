//! [`QueueSummary`]: the `queue-summary` report, every queue in compact interned rows, or the N
//! busiest in O(N).

use std::collections::HashMap;
use std::io::{self, Write};

use kumo_metrics::{Item, ParseError};

use super::{Cell, Interner, Ranked, desc_key};
use crate::http::Request;
use crate::http::Target;
use crate::snapshot::{Column, Connections, Row, SnapshotError, parse_items, scrape_with};

/// MX addresses listed, the most attempted first.
const CONNECTION_ROWS: usize = 12;

/// Every queue of a summary: names interned, one [`Row`] per id.
#[derive(Debug, Default)]
struct AllQueues {
    names: Interner,
    rows: Vec<Row>,
    /// The per-queue family that created the rows so far, while it is the only one seen and
    /// every sample of it had only the `queue` label: its queues are distinct (a body lists
    /// a series once), so they are appended without a lookup.
    first_family: Option<String>,
    appending: bool,
    /// The id after the last one found: later families list their queues in the same order
    /// more often than not, and a match costs one comparison instead of a lookup.
    next: u32,
}

impl AllQueues {
    fn set(&mut self, family: &str, single_label: bool, queue: &str, column: Column, v: f64) {
        if self.first_family.is_none() {
            self.first_family = Some(family.to_owned());
            self.appending = true;
        }
        let id = if self.appending && single_label && self.first_family.as_deref() == Some(family) {
            self.names.push_distinct(queue)
        } else {
            self.appending = false;
            if self.names.is(self.next, queue) {
                Some(self.next)
            } else {
                self.names.intern(queue)
            }
        };
        // Past 2^32 queues or 4 GiB of names, a queue is counted in the totals only.
        let Some(id) = id else { return };
        if id as usize == self.rows.len() {
            self.rows.push(Row::default());
        }
        self.rows[id as usize].set(column, v);
        self.next = id.wrapping_add(1);
    }
}

/// The queues of a summary.
#[derive(Debug)]
enum Queues {
    /// Every queue.
    All(AllQueues),
    /// The N busiest (most scheduled, then body order).
    Busiest(Ranked<Row>),
}

/// Builds a [`QueueSummary`] item by item (see [`QueueSummary::fetch`] for the usual way).
#[derive(Debug)]
pub struct SummaryBuilder {
    queues: Queues,
    providers: HashMap<String, Row>,
    connections: Ranked<Connections>,
    key: String,
    scheduled_series: u64,
    total: Row,
    injected: f64,
}

impl SummaryBuilder {
    /// Every queue when `limit` is `None`, else the `limit` busiest.
    pub fn new(limit: Option<usize>) -> Self {
        Self {
            queues: match limit {
                None => Queues::All(AllQueues::default()),
                Some(n) => Queues::Busiest(Ranked::new(n, Row::unknown)),
            },
            providers: HashMap::new(),
            connections: Ranked::new(CONNECTION_ROWS, Connections::unknown),
            key: String::new(),
            scheduled_series: 0,
            total: Row::default(),
            injected: 0.0,
        }
    }

    /// Takes one parsed item into account.
    pub fn add(&mut self, item: Item<'_>) {
        let Item::Sample(s) = item else { return };
        let (family, v) = (s.family.name.as_str(), s.value);
        if let Some(q) = s.labels.get("queue") {
            let Some(column) = Column::of_queue_family(family) else {
                return;
            };
            self.total.add(column, v);
            if column == Column::Scheduled {
                self.scheduled_series += 1;
            }
            match &mut self.queues {
                Queues::All(all) => all.set(family, s.labels.len() == 1, q, column, v),
                Queues::Busiest(busiest) if column == Column::Scheduled => busiest.offer(v, q),
                Queues::Busiest(busiest) => {
                    if let Some(row) = busiest.row_mut(q) {
                        row.set(column, v);
                    }
                }
            }
        } else if let Some(p) = s.labels.get("provider") {
            if let Some(column) = Column::of_provider_family(family) {
                match self.providers.get_mut(p) {
                    Some(row) => row.set(column, v),
                    None => {
                        let mut row = Row::default();
                        row.set(column, v);
                        self.providers.insert(p.to_owned(), row);
                    }
                }
            }
        } else if let (Some(h), Some(a)) = (s.labels.get("mx_host"), s.labels.get("address")) {
            self.key.clear();
            self.key.push_str(h);
            self.key.push('\0');
            self.key.push_str(a);
            if family == "total_connection_attempts" {
                self.connections.offer(v, &self.key);
            } else if let Some(c) = self.connections.row_mut(&self.key) {
                c.set(family, v);
            }
        } else if family == "total_messages_injected" {
            self.injected = v;
        }
    }

    /// The summary: rows sorted, busiest first.
    pub fn finish(self) -> QueueSummary {
        let mut providers: Vec<(String, Row)> = self.providers.into_iter().collect();
        providers.sort_by(|a, b| {
            b.1.scheduled
                .total_cmp(&a.1.scheduled)
                .then(b.1.delivered.total_cmp(&a.1.delivered))
                .then(a.0.cmp(&b.0))
        });
        let queues = match self.queues {
            Queues::All(AllQueues { names, rows, .. }) => {
                // Compact keys, sorted in place: the most scheduled first, then body order.
                let mut keys: Vec<(u64, u32)> = (0u32..)
                    .zip(&rows)
                    .map(|(id, r)| (desc_key(r.scheduled), id))
                    .collect();
                keys.sort_unstable();
                let order = keys.into_iter().map(|(_, id)| id).collect();
                SortedQueues::All { names, rows, order }
            }
            Queues::Busiest(busiest) => SortedQueues::Busiest(
                busiest
                    .into_rows()
                    .into_iter()
                    .map(|(name, scheduled, mut row)| {
                        row.scheduled = scheduled;
                        (name, row)
                    })
                    .collect(),
            ),
        };
        let connections = self
            .connections
            .into_rows()
            .into_iter()
            .map(|(key, attempts, mut c)| {
                c.attempts = attempts;
                let (host, addr) = key.split_once('\0').unwrap_or((&key, ""));
                (host.to_owned(), addr.to_owned(), c)
            })
            .collect();
        QueueSummary {
            providers,
            queues,
            scheduled_series: self.scheduled_series,
            total: self.total,
            injected: self.injected,
            connections,
        }
    }
}

/// Sorted queues of a finished summary.
#[derive(Debug)]
enum SortedQueues {
    All {
        names: Interner,
        rows: Vec<Row>,
        order: Vec<u32>,
    },
    Busiest(Vec<(String, Row)>),
}

/// The `queue-summary` report of one scrape: per provider, per queue (every queue, or the N
/// busiest), totals, and the most attempted MX addresses.
#[derive(Debug)]
#[non_exhaustive]
pub struct QueueSummary {
    /// Per provider, the most scheduled first.
    pub providers: Vec<(String, Row)>,
    queues: SortedQueues,
    /// `scheduled_count` series (queues with a scheduled count).
    pub scheduled_series: u64,
    /// Sums over every per-queue series.
    pub total: Row,
    /// Messages injected.
    pub injected: f64,
    /// The most attempted MX addresses: host, address, counts.
    pub connections: Vec<(String, String, Connections)>,
}

impl QueueSummary {
    /// Scrapes `target` (a `/metrics` URL): every queue when `limit` is `None`, else the
    /// `limit` busiest.
    ///
    /// # Errors
    /// [`SnapshotError`] when the request fails or the text is invalid.
    pub fn fetch(
        target: &Target,
        gzip: bool,
        limit: Option<usize>,
    ) -> Result<QueueSummary, SnapshotError> {
        Self::fetch_with(target, gzip, limit, Request::default())
    }

    /// [`QueueSummary::fetch`] with the timeouts of `req` (its method, headers and body are
    /// replaced: a `GET`, asking for gzip when `gzip` is set).
    ///
    /// # Errors
    /// [`SnapshotError`] when the request fails or times out, or the text is invalid.
    pub fn fetch_with(
        target: &Target,
        gzip: bool,
        limit: Option<usize>,
        req: Request<'_>,
    ) -> Result<QueueSummary, SnapshotError> {
        let mut b = SummaryBuilder::new(limit);
        scrape_with(target, gzip, req, |item| b.add(item))?;
        Ok(b.finish())
    }

    /// The summary of a whole body.
    ///
    /// # Errors
    /// [`ParseError`] for invalid text.
    ///
    /// # Examples
    /// ```
    /// let text = b"# TYPE scheduled_count gauge\n\
    ///     scheduled_count{queue=\"a.test\"} 4\nscheduled_count{queue=\"b.test\"} 9\n";
    /// let s = kumo_examples::tools::QueueSummary::parse(text, None)?;
    /// let queues: Vec<&str> = s.queues().map(|(q, _)| q).collect();
    /// assert_eq!(queues, ["b.test", "a.test"]);
    /// # Ok::<(), kumo_metrics::ParseError>(())
    /// ```
    pub fn parse(text: &[u8], limit: Option<usize>) -> Result<QueueSummary, ParseError> {
        let mut b = SummaryBuilder::new(limit);
        parse_items(text, |item| b.add(item))?;
        Ok(b.finish())
    }

    /// The queues, busiest (most scheduled, then body order) first.
    pub fn queues(&self) -> impl Iterator<Item = (&str, &Row)> + '_ {
        let (all, busiest) = match &self.queues {
            SortedQueues::All { names, rows, order } => (
                Some(
                    order
                        .iter()
                        .map(move |&id| (names.name(id), &rows[id as usize])),
                ),
                None,
            ),
            SortedQueues::Busiest(v) => (None, Some(v.iter().map(|(q, r)| (q.as_str(), r)))),
        };
        all.into_iter()
            .flatten()
            .chain(busiest.into_iter().flatten())
    }

    /// Writes the report to `out`.
    ///
    /// # Errors
    /// What writing to `out` returns.
    pub fn render(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "{:<28} {:>10} {:>11} {:>10} {:>9}",
            "PROVIDER", "SCHEDULED", "DELIVERED", "TRANSFAIL", "BOUNCED"
        )?;
        for (p, r) in &self.providers {
            writeln!(
                out,
                "{p:<28} {:>10} {:>11} {:>10} {:>9}",
                r.scheduled, r.delivered, r.transfail, r.fail
            )?;
        }
        writeln!(
            out,
            "\n{:<28} {:>10} {:>8} {:>11} {:>10} {:>9}",
            "QUEUE", "SCHEDULED", "READY", "DELIVERED", "TRANSFAIL", "BOUNCED"
        )?;
        for (q, r) in self.queues() {
            writeln!(
                out,
                "{q:<28} {:>10} {:>8} {:>11} {:>10} {:>9}",
                Cell(r.scheduled),
                Cell(r.ready),
                Cell(r.delivered),
                Cell(r.transfail),
                Cell(r.fail)
            )?;
        }
        let t = &self.total;
        writeln!(
            out,
            "\ntotal: injected {}  delivered {}  bounced {}  waiting {} (scheduled {}, ready {})",
            self.injected,
            t.delivered,
            t.fail,
            t.queued(),
            t.scheduled,
            t.ready
        )?;
        if !self.connections.is_empty() {
            writeln!(
                out,
                "\n{:<42} {:<22} {:>9} {:>9}",
                "MX HOST", "ADDRESS", "ATTEMPTS", "FAILED"
            )?;
            for (host, addr, c) in &self.connections {
                writeln!(
                    out,
                    "{host:<42} {addr:<22} {:>9} {:>9}",
                    Cell(c.attempts),
                    Cell(c.failures)
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# TYPE scheduled_count gauge
scheduled_count{queue=\"gmail.test\"} 3
scheduled_count{queue=\"odd\\\"name\"} 1
scheduled_count{queue=\"yahoo.test\"} 3
# TYPE ready_count gauge
ready_count{queue=\"gmail.test\"} 2
# TYPE total_messages_delivered counter
total_messages_delivered{queue=\"gmail.test\"} 10
total_messages_delivered{queue=\"only-delivered.test\"} 6
# TYPE total_messages_fail_by_provider counter
total_messages_fail_by_provider{provider=\"google.test\"} 4
# TYPE total_connection_attempts counter
total_connection_attempts{mx_host=\"mx1.example.test\",address=\"192.0.2.10\"} 7
total_connection_attempts{mx_host=\"mx2.example.test\",address=\"192.0.2.11\"} 9
# TYPE total_connection_failures counter
total_connection_failures{mx_host=\"mx1.example.test\",address=\"192.0.2.10\"} 2
# TYPE total_messages_injected counter
total_messages_injected 20
";

    fn rendered(s: &QueueSummary) -> String {
        let mut out = Vec::new();
        s.render(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_queue_sorted_with_providers_totals_and_connections() {
        let s = QueueSummary::parse(TEXT.as_bytes(), None).unwrap();
        let queues: Vec<(&str, f64, f64)> = s
            .queues()
            .map(|(q, r)| (q, r.scheduled, r.delivered))
            .collect();
        assert_eq!(
            queues,
            [
                ("gmail.test", 3.0, 10.0),
                ("yahoo.test", 3.0, 0.0),
                ("odd\"name", 1.0, 0.0),
                ("only-delivered.test", 0.0, 6.0),
            ]
        );
        assert_eq!(s.scheduled_series, 3);
        assert_eq!(s.providers[0].0, "google.test");
        assert_eq!(s.providers[0].1.fail, 4.0);
        let c: Vec<_> = s
            .connections
            .iter()
            .map(|(h, a, c)| (h.as_str(), a.as_str(), c.attempts, c.failures.is_nan()))
            .collect();
        assert_eq!(
            c,
            [
                ("mx2.example.test", "192.0.2.11", 9.0, true),
                ("mx1.example.test", "192.0.2.10", 7.0, false),
            ]
        );
        let text = rendered(&s);
        assert!(
            text.contains(
                "total: injected 20  delivered 16  bounced 0  waiting 9 (scheduled 7, ready 2)"
            ),
            "{text}"
        );
        assert!(text.contains("mx1.example.test"), "{text}");
    }

    #[test]
    fn a_limit_keeps_the_first_rows_of_the_full_listing() {
        let all = QueueSummary::parse(TEXT.as_bytes(), None).unwrap();
        let two = QueueSummary::parse(TEXT.as_bytes(), Some(2)).unwrap();
        let names =
            |s: &QueueSummary| -> Vec<String> { s.queues().map(|(q, _)| q.to_owned()).collect() };
        assert_eq!(names(&two), names(&all)[..2]);
        let gmail = two.queues().next().unwrap().1;
        assert_eq!((gmail.ready, gmail.delivered), (2.0, 10.0));
        assert_eq!(two.total.delivered, 16.0, "totals count every queue");
        assert!(rendered(&two).contains("yahoo.test"));
        assert!(!rendered(&two).contains("odd"));
    }

    #[test]
    fn invalid_text_is_an_error() {
        assert!(QueueSummary::parse(b"# TYPE x gauge\nx{a=\"b} 1\n", None).is_err());
    }

    proptest::proptest! {
        /// Untrusted bytes: both views answer (a value or a parse error) without a panic,
        /// whole or split anywhere, and the split parse agrees with the whole one.
        #[test]
        fn any_body_is_answered_without_a_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            cut in 0usize..400,
            limit in proptest::option::of(0usize..4),
        ) {
            use crate::tools::{TopBuilder, TopView};
            let whole = QueueSummary::parse(&body, limit).ok().map(|s| rendered(&s));
            let top = TopView::parse(&body, limit.unwrap_or(2)).ok().map(|v| format!("{v:?}"));
            let (a, b) = body.split_at(cut.min(body.len()));
            let split = |add: &mut dyn FnMut(Item<'_>)| {
                let mut p = kumo_metrics::Parser::new();
                let mut f = |i: Item<'_>| add(i);
                p.push(a, &mut f)
                    .and_then(|()| p.push(b, &mut f))
                    .and_then(|()| p.finish(&mut f))
            };
            let mut sb = SummaryBuilder::new(limit);
            let ok = split(&mut |i| sb.add(i));
            let mut tb = TopBuilder::new(limit.unwrap_or(2));
            let top_ok = split(&mut |i| tb.add(i));
            proptest::prop_assert_eq!(top_ok.is_ok(), top.is_some());
            proptest::prop_assert_eq!(ok.is_ok(), whole.is_some());
            if ok.is_ok() {
                proptest::prop_assert_eq!(Some(rendered(&sb.finish())), whole);
                proptest::prop_assert_eq!(Some(format!("{:?}", tb.finish())), top);
            }
        }
    }
}
