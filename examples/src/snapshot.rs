//! A summary of the demo's `/metrics`, read with kumo-metrics' streaming [`Parser`] as the body
//! arrives: per-queue and per-provider counts, connection attempts, pop tardiness, every series
//! kept (the tests and the self test read it). [`scrape`] streams a body into any consumer;
//! the `top` and `queue-summary` tools use the bounded views of [`crate::tools`].

use std::collections::BTreeMap;

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

    /// A row whose columns are all unknown (`NaN`, shown as `-`).
    pub fn unknown() -> Row {
        Row {
            scheduled: f64::NAN,
            ready: f64::NAN,
            delivered: f64::NAN,
            transfail: f64::NAN,
            fail: f64::NAN,
        }
    }

    /// The value of `column`.
    pub fn get(&self, column: Column) -> f64 {
        match column {
            Column::Scheduled => self.scheduled,
            Column::Ready => self.ready,
            Column::Delivered => self.delivered,
            Column::Transfail => self.transfail,
            Column::Fail => self.fail,
        }
    }

    /// Sets `column`.
    pub fn set(&mut self, column: Column, value: f64) {
        match column {
            Column::Scheduled => self.scheduled = value,
            Column::Ready => self.ready = value,
            Column::Delivered => self.delivered = value,
            Column::Transfail => self.transfail = value,
            Column::Fail => self.fail = value,
        }
    }

    /// Adds `value` to `column`.
    pub fn add(&mut self, column: Column, value: f64) {
        self.set(column, self.get(column) + value);
    }

    /// Messages ended (delivered or bounced).
    pub fn ended(&self) -> f64 {
        self.delivered + self.fail
    }
}

/// A column of [`Row`], and the families that carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `scheduled_count` (per queue), `scheduled_count_by_provider`.
    Scheduled,
    /// `ready_count` (per queue).
    Ready,
    /// `total_messages_delivered`, `total_messages_delivered_by_provider`.
    Delivered,
    /// `total_messages_transfail`, `total_messages_transfail_by_provider`.
    Transfail,
    /// `total_messages_fail`, `total_messages_fail_by_provider`.
    Fail,
}

impl Column {
    /// The column a per-queue family (label `queue`) carries.
    pub fn of_queue_family(family: &str) -> Option<Column> {
        Some(match family {
            "scheduled_count" => Column::Scheduled,
            "ready_count" => Column::Ready,
            "total_messages_delivered" => Column::Delivered,
            "total_messages_transfail" => Column::Transfail,
            "total_messages_fail" => Column::Fail,
            _ => return None,
        })
    }

    /// The column a per-provider family (label `provider`) carries.
    pub fn of_provider_family(family: &str) -> Option<Column> {
        Some(match family {
            "scheduled_count_by_provider" => Column::Scheduled,
            "total_messages_delivered_by_provider" => Column::Delivered,
            "total_messages_transfail_by_provider" => Column::Transfail,
            "total_messages_fail_by_provider" => Column::Fail,
            _ => return None,
        })
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

impl Connections {
    /// Both counts unknown (`NaN`, shown as `-`).
    pub fn unknown() -> Connections {
        Connections {
            attempts: f64::NAN,
            failures: f64::NAN,
        }
    }

    /// Sets the column that `family` carries (`total_connection_attempts`,
    /// `total_connection_failures`); other families are ignored.
    pub fn set(&mut self, family: &str, value: f64) {
        match family {
            "total_connection_attempts" => self.attempts = value,
            "total_connection_failures" => self.failures = value,
            _ => {}
        }
    }
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
    /// The request failed (the message names the URL and what happened).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server answered with an error status.
    #[error("{0}: answered HTTP {1}")]
    Status(String, u16),
    /// The body is not valid Prometheus text.
    #[error("invalid metrics text")]
    Parse(#[from] ParseError),
}

/// Scrapes `target` (a `/metrics` URL) and hands every item to `on_item` as the body streams
/// through kumo-metrics' parser: nothing of the body is kept. Asks for gzip when `gzip` is
/// set.
///
/// # Errors
/// [`SnapshotError`] when the request fails, the status is not 200 or the text is invalid.
pub fn scrape(
    target: &Target,
    gzip: bool,
    on_item: impl FnMut(Item<'_>),
) -> Result<(), SnapshotError> {
    scrape_with(target, gzip, Request::default(), on_item)
}

/// [`scrape`] with the timeouts of `req` ([`Request::timeout`], [`Request::deadline`]); its
/// method, headers and body are replaced (a `GET`, asking for gzip when `gzip` is set).
///
/// # Errors
/// [`SnapshotError`] when the request fails or times out, the body is corrupt (a compressed
/// body that is truncated, damaged or followed by junk), the status is not 200 or the text is
/// invalid.
pub fn scrape_with(
    target: &Target,
    gzip: bool,
    req: Request<'_>,
    mut on_item: impl FnMut(Item<'_>),
) -> Result<(), SnapshotError> {
    let headers: &[(&str, &str)] = if gzip {
        &[("accept-encoding", "gzip")]
    } else {
        &[]
    };
    let mut parser = Parser::new();
    let mut error = None;
    let head = http::stream(
        target,
        Request {
            method: "GET",
            headers,
            body: &[],
            ..req
        },
        |chunk| match parser.push(chunk, &mut on_item) {
            Ok(()) => true,
            Err(e) => {
                error = Some(e);
                false
            }
        },
    )?;
    if head.status != 200 {
        return Err(SnapshotError::Status(target.url(), head.status));
    }
    if let Some(e) = error {
        return Err(e.into());
    }
    parser.finish(&mut on_item)?;
    Ok(())
}

/// Hands every item of a whole body to `on_item`, as [`scrape`] does for a body that streams.
///
/// # Errors
/// [`ParseError`] for invalid text.
pub fn parse_items(text: &[u8], mut on_item: impl FnMut(Item<'_>)) -> Result<(), ParseError> {
    let mut parser = Parser::new();
    parser.push(text, &mut on_item)?;
    parser.finish(&mut on_item)
}

impl Snapshot {
    /// Takes one parsed item into account.
    pub fn add(&mut self, item: Item<'_>) {
        match item {
            Item::Sample(s) => {
                self.samples += 1;
                let v = s.value;
                let family = s.family.name.as_str();
                if let Some(q) = s.labels.get("queue") {
                    let row = self.queues.entry(q.to_owned()).or_default();
                    if let Some(c) = Column::of_queue_family(family) {
                        row.set(c, v);
                    }
                } else if let Some(p) = s.labels.get("provider") {
                    let row = self.providers.entry(p.to_owned()).or_default();
                    if let Some(c) = Column::of_provider_family(family) {
                        row.set(c, v);
                    }
                } else if let (Some(h), Some(a)) =
                    (s.labels.get("mx_host"), s.labels.get("address"))
                {
                    let c = self
                        .connections
                        .entry((h.to_owned(), a.to_owned()))
                        .or_default();
                    c.set(family, v);
                } else if family == "total_messages_injected" {
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
        parse_items(text, |item| snap.add(item))?;
        Ok(snap)
    }

    /// Scrapes `target` (a `/metrics` URL), streaming the body through the parser; asks for
    /// gzip when `gzip` is set.
    ///
    /// # Errors
    /// [`SnapshotError`] when the request fails or the text is invalid.
    pub fn fetch(target: &Target, gzip: bool) -> Result<Snapshot, SnapshotError> {
        let mut snap = Snapshot::default();
        scrape(target, gzip, |item| snap.add(item))?;
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
    fn invalid_text_is_an_error() {
        assert!(Snapshot::parse(b"# TYPE x gauge\nx{a=\"b} 1\n").is_err());
    }
}
