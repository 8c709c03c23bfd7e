//! A summary of the demo's `/metrics`, read with kumo-metrics' streaming [`Parser`] as the body
//! arrives: per-queue and per-provider counts, connection attempts, pop tardiness. The `top` and
//! `queue-summary` examples print it.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use kumo_metrics::{HistogramSeries, Item, ParseError, Parser};

use crate::http::{self, HttpError, Request, Target};

/// Counts for one queue or one provider.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Row {
    /// Messages in the scheduled queue (waiting for a retry).
    pub scheduled: f64,
    /// Messages in the ready queue (waiting for a session). Per queue only.
    pub ready: f64,
    /// Messages delivered.
    pub delivered: f64,
    /// Temporary failures.
    pub transfail: f64,
    /// Messages bounced.
    pub fail: f64,
}

impl Row {
    /// Messages waiting: scheduled + ready.
    pub fn queued(&self) -> f64 {
        self.scheduled + self.ready
    }
}

/// Connection attempts to one MX address.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Connections {
    /// Attempts.
    pub attempts: f64,
    /// Attempts that did not connect.
    pub failures: f64,
}

/// What one scrape of `/metrics` says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Per queue (recipient domain).
    pub queues: BTreeMap<String, Row>,
    /// Per provider (derived from MX host names).
    pub providers: BTreeMap<String, Row>,
    /// Per (MX host, address).
    pub connections: BTreeMap<(String, String), Connections>,
    /// Messages injected.
    pub injected: f64,
    /// The pop tardiness histogram.
    pub tardiness: Option<HistogramSeries>,
    /// Number of samples read.
    pub samples: u64,
}

/// A scrape that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The request failed.
    #[error("cannot fetch metrics")]
    Http(#[from] HttpError),
    /// The server answered with an error status.
    #[error("metrics endpoint answered HTTP {0}")]
    Status(u16),
    /// The body is not valid Prometheus text.
    #[error("invalid metrics text")]
    Parse(#[from] ParseError),
}

impl Snapshot {
    /// Takes one parsed item into account.
    pub fn add(&mut self, item: Item<'_>) {
        match item {
            Item::Sample(s) => {
                self.samples += 1;
                let v = s.value;
                if let Some(q) = s.labels.get("queue") {
                    let row = self.queues.entry(q.to_owned()).or_default();
                    match s.family.name.as_str() {
                        "scheduled_count" => row.scheduled = v,
                        "ready_count" => row.ready = v,
                        "total_messages_delivered" => row.delivered = v,
                        "total_messages_transfail" => row.transfail = v,
                        "total_messages_fail" => row.fail = v,
                        _ => {}
                    }
                } else if let Some(p) = s.labels.get("provider") {
                    let row = self.providers.entry(p.to_owned()).or_default();
                    match s.family.name.as_str() {
                        "scheduled_count_by_provider" => row.scheduled = v,
                        "total_messages_delivered_by_provider" => row.delivered = v,
                        "total_messages_transfail_by_provider" => row.transfail = v,
                        "total_messages_fail_by_provider" => row.fail = v,
                        _ => {}
                    }
                } else if let (Some(h), Some(a)) =
                    (s.labels.get("mx_host"), s.labels.get("address"))
                {
                    let c = self
                        .connections
                        .entry((h.to_owned(), a.to_owned()))
                        .or_default();
                    match s.family.name.as_str() {
                        "total_connection_attempts" => c.attempts = v,
                        "total_connection_failures" => c.failures = v,
                        _ => {}
                    }
                } else if s.family.name == "total_messages_injected" {
                    self.injected = v;
                }
            }
            Item::Histogram(h) if h.name == "timeq_pop_tardiness" => {
                self.tardiness = Some(h.clone());
            }
            _ => {}
        }
    }

    /// Parses a whole body.
    ///
    /// # Errors
    /// [`SnapshotError::Parse`] for invalid text.
    ///
    /// # Examples
    /// ```
    /// let text = b"# TYPE scheduled_count gauge\nscheduled_count{queue=\"a.test\"} 4\n";
    /// let s = kumo_examples::snapshot::Snapshot::parse(text)?;
    /// assert_eq!(s.queues["a.test"].scheduled, 4.0);
    /// # Ok::<(), kumo_examples::snapshot::SnapshotError>(())
    /// ```
    pub fn parse(text: &[u8]) -> Result<Snapshot, SnapshotError> {
        let mut snap = Snapshot::default();
        let mut parser = Parser::new();
        let mut f = |item: Item<'_>| snap.add(item);
        parser.push(text, &mut f)?;
        parser.finish(&mut f)?;
        Ok(snap)
    }

    /// Scrapes `target` (a `/metrics` URL), streaming the body through the parser; asks for
    /// gzip when `gzip` is set.
    ///
    /// # Errors
    /// [`SnapshotError`] when the request fails or the text is invalid.
    pub fn fetch(target: &Target, gzip: bool) -> Result<Snapshot, SnapshotError> {
        let headers: &[(&str, &str)] = if gzip {
            &[("accept-encoding", "gzip")]
        } else {
            &[]
        };
        let mut snap = Snapshot::default();
        let mut parser = Parser::new();
        let mut error = None;
        let head = http::stream(
            target,
            Request {
                headers,
                ..Request::default()
            },
            |chunk| match parser.push(chunk, &mut |item: Item<'_>| snap.add(item)) {
                Ok(()) => true,
                Err(e) => {
                    error = Some(e);
                    false
                }
            },
        )?;
        if head.status != 200 {
            return Err(SnapshotError::Status(head.status));
        }
        if let Some(e) = error {
            return Err(e.into());
        }
        parser.finish(&mut |item: Item<'_>| snap.add(item))?;
        Ok(snap)
    }

    /// Totals over every queue.
    pub fn total(&self) -> Row {
        self.queues.values().fold(Row::default(), |mut t, r| {
            t.scheduled += r.scheduled;
            t.ready += r.ready;
            t.delivered += r.delivered;
            t.transfail += r.transfail;
            t.fail += r.fail;
            t
        })
    }
}

impl Snapshot {
    /// Messages ended (delivered or bounced) per queue, for rates between two snapshots.
    pub fn ended(&self) -> HashMap<String, f64> {
        self.queues
            .iter()
            .map(|(q, r)| (q.clone(), r.delivered + r.fail))
            .collect()
    }

    /// The `top` table: the `limit` busiest queues (most messages waiting, then fastest), with
    /// the rate of ended messages per second when `rates` has one.
    pub fn render_top(&self, rates: &HashMap<String, f64>, limit: usize) -> String {
        let rate = |q: &str| rates.get(q).copied().unwrap_or(0.0);
        let mut rows: Vec<_> = self.queues.iter().collect();
        rows.sort_by(|a, b| {
            b.1.queued()
                .total_cmp(&a.1.queued())
                .then(rate(b.0).total_cmp(&rate(a.0)))
                .then(a.0.cmp(b.0))
        });
        let t = self.total();
        let mut out = format!(
            "{} queues  scheduled {}  ready {}  delivered {}  bounced {}\n",
            self.queues.len(),
            t.scheduled,
            t.ready,
            t.delivered,
            t.fail
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
        for (q, r) in rows.into_iter().take(limit) {
            let per_sec = rates.get(q).map_or("-".to_owned(), |r| format!("{r:.1}"));
            let _ = writeln!(
                out,
                "{q:<28} {:>10} {:>8} {:>11} {:>10} {:>9} {per_sec:>9}",
                r.scheduled, r.ready, r.delivered, r.transfail, r.fail
            );
        }
        out
    }

    /// The `queue-summary` report: per provider, per queue, totals, and the busiest MX addresses.
    pub fn render_summary(&self) -> String {
        let mut out = String::new();
        let sorted = |m: &BTreeMap<String, Row>| {
            let mut v: Vec<(String, Row)> = m.iter().map(|(k, r)| (k.clone(), *r)).collect();
            v.sort_by(|a, b| {
                b.1.queued()
                    .total_cmp(&a.1.queued())
                    .then(b.1.delivered.total_cmp(&a.1.delivered))
                    .then(a.0.cmp(&b.0))
            });
            v
        };
        let _ = writeln!(
            out,
            "{:<28} {:>10} {:>11} {:>10} {:>9}",
            "PROVIDER", "SCHEDULED", "DELIVERED", "TRANSFAIL", "BOUNCED"
        );
        for (p, r) in sorted(&self.providers) {
            let _ = writeln!(
                out,
                "{p:<28} {:>10} {:>11} {:>10} {:>9}",
                r.scheduled, r.delivered, r.transfail, r.fail
            );
        }
        let _ = writeln!(
            out,
            "\n{:<28} {:>10} {:>8} {:>11} {:>10} {:>9}",
            "QUEUE", "SCHEDULED", "READY", "DELIVERED", "TRANSFAIL", "BOUNCED"
        );
        for (q, r) in sorted(&self.queues) {
            let _ = writeln!(
                out,
                "{q:<28} {:>10} {:>8} {:>11} {:>10} {:>9}",
                r.scheduled, r.ready, r.delivered, r.transfail, r.fail
            );
        }
        let t = self.total();
        let _ = writeln!(
            out,
            "\ntotal: injected {}  delivered {}  bounced {}  waiting {} (scheduled {}, ready {})",
            self.injected,
            t.delivered,
            t.fail,
            t.queued(),
            t.scheduled,
            t.ready
        );
        let mut conns: Vec<_> = self.connections.iter().collect();
        conns.sort_by(|a, b| b.1.attempts.total_cmp(&a.1.attempts).then(a.0.cmp(b.0)));
        if !conns.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<42} {:<22} {:>9} {:>9}",
                "MX HOST", "ADDRESS", "ATTEMPTS", "FAILED"
            );
            for ((host, addr), c) in conns.into_iter().take(12) {
                let _ = writeln!(
                    out,
                    "{host:<42} {addr:<22} {:>9} {:>9}",
                    c.attempts, c.failures
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP scheduled_count number of messages in the scheduled queue
# TYPE scheduled_count gauge
scheduled_count{queue=\"gmail.test\"} 3
scheduled_count{queue=\"odd\\\"name\"} 1
# TYPE ready_count gauge
ready_count{queue=\"gmail.test\"} 2
# TYPE total_messages_delivered counter
total_messages_delivered{queue=\"gmail.test\"} 10
# TYPE total_messages_fail_by_provider counter
total_messages_fail_by_provider{provider=\"google.test\"} 4
# TYPE total_connection_attempts counter
total_connection_attempts{mx_host=\"mx1.example.test\",address=\"192.0.2.10\"} 7
# TYPE total_messages_injected counter
total_messages_injected 20
# TYPE timeq_pop_tardiness histogram
timeq_pop_tardiness_bucket{le=\"0.5\"} 3
timeq_pop_tardiness_bucket{le=\"+Inf\"} 4
timeq_pop_tardiness_sum 2.5
timeq_pop_tardiness_count 4
";

    #[test]
    fn parses_every_kind() {
        let s = Snapshot::parse(TEXT.as_bytes()).unwrap();
        let g = s.queues["gmail.test"];
        assert_eq!(
            (g.scheduled, g.ready, g.delivered, g.queued()),
            (3.0, 2.0, 10.0, 5.0)
        );
        assert_eq!(s.queues["odd\"name"].scheduled, 1.0);
        assert_eq!(s.providers["google.test"].fail, 4.0);
        let c = s.connections[&("mx1.example.test".to_owned(), "192.0.2.10".to_owned())];
        assert_eq!(c.attempts, 7.0);
        assert_eq!(s.injected, 20.0);
        assert_eq!(s.tardiness.as_ref().unwrap().count, Some(4.0));
        assert_eq!(s.total().scheduled, 4.0);
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let whole = Snapshot::parse(TEXT.as_bytes()).unwrap();
        let mut snap = Snapshot::default();
        let mut p = Parser::new();
        for b in TEXT.as_bytes() {
            p.push(std::slice::from_ref(b), &mut |i: Item<'_>| snap.add(i))
                .unwrap();
        }
        p.finish(&mut |i: Item<'_>| snap.add(i)).unwrap();
        assert_eq!(snap, whole);
    }

    #[test]
    fn top_orders_by_waiting_then_rate() {
        let s = Snapshot::parse(TEXT.as_bytes()).unwrap();
        let rates = HashMap::from([("gmail.test".to_owned(), 2.5)]);
        let top = s.render_top(&rates, 10);
        let lines: Vec<&str> = top.lines().collect();
        assert!(
            lines[0].starts_with("2 queues  scheduled 4  ready 2  delivered 10"),
            "{top}"
        );
        assert!(lines[1].starts_with("pop tardiness p50"), "{top}");
        let gmail = lines
            .iter()
            .position(|l| l.starts_with("gmail.test"))
            .unwrap();
        let odd = lines.iter().position(|l| l.starts_with("odd")).unwrap();
        assert!(gmail < odd, "5 waiting before 1 waiting: {top}");
        assert!(lines[gmail].trim_end().ends_with("2.5"), "{top}");
        assert!(lines[odd].trim_end().ends_with('-'), "{top}");
        assert_eq!(
            s.render_top(&rates, 1)
                .lines()
                .filter(|l| l.starts_with("odd"))
                .count(),
            0
        );
    }

    #[test]
    fn summary_lists_providers_queues_and_connections() {
        let s = Snapshot::parse(TEXT.as_bytes()).unwrap();
        let text = s.render_summary();
        assert!(text.contains("google.test"), "{text}");
        assert!(text.contains("gmail.test"), "{text}");
        assert!(
            text.contains("total: injected 20  delivered 10  bounced 0  waiting 6"),
            "{text}"
        );
        assert!(text.contains("mx1.example.test"), "{text}");
        assert_eq!(s.ended()["gmail.test"], 10.0);
    }

    #[test]
    fn invalid_text_is_an_error() {
        assert!(Snapshot::parse(b"# TYPE x gauge\nx{a=\"b} 1\n").is_err());
    }
}
