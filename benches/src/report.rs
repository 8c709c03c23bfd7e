//! The JSON-line report format of the `compare` binary.

use serde_json::{Value, json};

/// Whether a higher or a lower value of a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Higher is better (throughput).
    Higher,
    /// Lower is better (latency, memory).
    Lower,
}

impl Better {
    fn as_str(self) -> &'static str {
        match self {
            Better::Higher => "higher",
            Better::Lower => "lower",
        }
    }
}

/// One measured metric, printed as one JSON object on one line:
///
/// `{"area":"queue","metric":"insert_mops","n":1000000,"kumo":52.1,"peer":"hierarchical_hash_wheel_timer","peer_value":30.4,"ratio":1.71,"better":"higher"}`
///
/// `ratio` is kumo divided by the peer; `peer`, `peer_value` and `ratio` are `null` where the
/// metric has no peer.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The area (`queue`, `dns`, ...).
    pub area: &'static str,
    /// The metric's name, with its unit as a suffix (`_ns`, `_mops`, `bytes_per_entry`).
    pub metric: String,
    /// The workload size.
    pub n: u64,
    /// kumo's value.
    pub kumo: f64,
    /// The peer crate's name and value, where there is one.
    pub peer: Option<(String, f64)>,
    /// Which direction is better.
    pub better: Better,
}

impl Report {
    /// The report as one JSON object.
    pub fn to_json(&self) -> Value {
        let (peer, peer_value, ratio) = match &self.peer {
            Some((name, v)) => (
                Value::from(name.clone()),
                finite(*v),
                if *v != 0.0 {
                    finite(round(self.kumo / v))
                } else {
                    Value::Null
                },
            ),
            None => (Value::Null, Value::Null, Value::Null),
        };
        json!({
            "area": self.area,
            "metric": self.metric,
            "n": self.n,
            "kumo": finite(round(self.kumo)),
            "peer": peer,
            "peer_value": peer_value.as_f64().map(round).map(finite).unwrap_or(Value::Null),
            "ratio": ratio,
            "better": self.better.as_str(),
        })
    }
}

fn round(v: f64) -> f64 {
    if v.abs() >= 100.0 {
        (v * 10.0).round() / 10.0
    } else {
        (v * 1000.0).round() / 1000.0
    }
}

fn finite(v: f64) -> Value {
    if v.is_finite() {
        Value::from(v)
    } else {
        Value::Null
    }
}

/// Options that `compare` passes to every area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `--n N`: the workload size; `None` means the area's default (1M where the issue says so).
    pub n: Option<u64>,
}

impl Options {
    /// How many repetitions a comparison takes the best of: `full` at the default size, and 2
    /// when `--n` is given and small (below 100k), which is the quick consistency run for CI
    /// (every assertion still runs; the figures are not meant to be read).
    pub fn reps(&self, full: usize) -> usize {
        match self.n {
            Some(n) if n < 100_000 => full.min(2),
            _ => full,
        }
    }
}

/// The one statistic for both sides of a comparison: runs `a` and `b` alternately, `reps` times
/// each (so that both see the same machine load and neither pays alone for warming up), and
/// keeps each side's best value: the lowest when `better` is [`Better::Lower`] (times), the
/// highest when it is [`Better::Higher`] (rates).
pub fn best_of2(
    reps: usize,
    better: Better,
    mut a: impl FnMut() -> f64,
    mut b: impl FnMut() -> f64,
) -> (f64, f64) {
    let mut best = (f64::NAN, f64::NAN);
    for _ in 0..reps.max(1) {
        best.0 = pick(better, best.0, a());
        best.1 = pick(better, best.1, b());
    }
    best
}

/// [`best_of2`] for one side alone (a kumo-only line, or a side that cannot be interleaved).
pub fn best_of(reps: usize, better: Better, mut f: impl FnMut() -> f64) -> f64 {
    let mut best = f64::NAN;
    for _ in 0..reps.max(1) {
        best = pick(better, best, f());
    }
    best
}

fn pick(better: Better, old: f64, new: f64) -> f64 {
    if old.is_nan() {
        return new;
    }
    match better {
        Better::Lower => old.min(new),
        Better::Higher => old.max(new),
    }
}

/// Collects and prints reports, one JSON line each, as they are measured.
#[derive(Debug)]
pub struct Reporter {
    area: &'static str,
    lines: Vec<Report>,
    print: bool,
}

impl Reporter {
    /// A reporter for `area` that prints each report to stdout as it is added when `print` is set.
    pub fn new(area: &'static str, print: bool) -> Self {
        Self {
            area,
            lines: Vec::new(),
            print,
        }
    }

    /// Records a metric that has a peer.
    pub fn peer(
        &mut self,
        metric: &str,
        n: u64,
        kumo: f64,
        peer: &str,
        peer_value: f64,
        better: Better,
    ) {
        self.push(Report {
            area: self.area,
            metric: metric.to_owned(),
            n,
            kumo,
            peer: Some((peer.to_owned(), peer_value)),
            better,
        });
    }

    /// Records a metric that has no peer.
    pub fn solo(&mut self, metric: &str, n: u64, kumo: f64, better: Better) {
        self.push(Report {
            area: self.area,
            metric: metric.to_owned(),
            n,
            kumo,
            peer: None,
            better,
        });
    }

    fn push(&mut self, r: Report) {
        if self.print {
            #[allow(clippy::print_stdout, reason = "the compare binary's output is stdout")]
            {
                println!("{}", r.to_json());
            }
        }
        self.lines.push(r);
    }

    /// Everything reported so far.
    pub fn reports(&self) -> &[Report] {
        &self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_of_keeps_the_best_of_each_side() {
        let mut a = [3.0, 1.0, 2.0].into_iter();
        let mut b = [5.0, 6.0, 4.0].into_iter();
        let (x, y) = best_of2(3, Better::Lower, || a.next().unwrap(), || b.next().unwrap());
        assert_eq!((x, y), (1.0, 4.0));
        let mut c = [1.0, 3.0].into_iter();
        assert_eq!(best_of(2, Better::Higher, || c.next().unwrap()), 3.0);
        let quick = Options { n: Some(1000) };
        assert_eq!((quick.reps(9), Options { n: None }.reps(9)), (2, 9));
    }

    #[test]
    fn report_line_has_the_documented_fields() {
        let mut r = Reporter::new("queue", false);
        r.peer("insert_mops", 1_000_000, 52.1, "hhwt", 30.4, Better::Higher);
        r.solo("idle_advance_ns", 1, f64::NAN, Better::Lower);
        let a = r.reports()[0].to_json();
        assert_eq!(a["area"], "queue");
        assert_eq!(a["ratio"], 1.714);
        assert_eq!(a["better"], "higher");
        let b = r.reports()[1].to_json();
        assert!(b["peer"].is_null() && b["kumo"].is_null() && b["ratio"].is_null());
    }
}
