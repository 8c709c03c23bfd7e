//! Accounting for the self test: every injected message must end exactly once, delivered or
//! bounced, and the ledger notices when one ends twice, ends without having been injected, or never
//! ends.

use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;

/// The ledger's number for one injected message, handed out by [`Ledger::injected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Seq(u64);

impl Seq {
    /// The number as an index (0-based, in injection order).
    pub fn index(self) -> usize {
        // A ledger holds one entry per message in memory, so its length fits a usize.
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Delivered,
    Bounced,
}

#[derive(Debug, Default)]
struct Inner {
    states: Vec<State>,
    delivered: u64,
    bounced: u64,
    retries: u64,
    retried_messages: u64,
    attempts_of: Vec<u16>,
    duplicates: u64,
    unknown: u64,
    scheduled: u64,
    scheduled_peak: u64,
}

/// Counts what happened to every message.
///
/// # Examples
/// ```
/// use kumo_examples::ledger::Ledger;
/// let ledger = Ledger::default();
/// let a = ledger.injected();
/// let b = ledger.injected();
/// ledger.deferred(a);
/// ledger.delivered(a);
/// ledger.bounced(b);
/// let s = ledger.summary(Some(2), std::time::Duration::from_secs(1));
/// assert!(s.balanced());
/// assert_eq!(s.retries, 1);
/// ```
#[derive(Debug, Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

impl Ledger {
    /// Records one injected message and returns its number.
    pub fn injected(&self) -> Seq {
        let mut g = self.inner.lock();
        let seq = g.states.len() as u64;
        g.states.push(State::Pending);
        g.attempts_of.push(0);
        Seq(seq)
    }

    /// Records a temporary failure: the message goes to the scheduled queue for a retry.
    pub fn deferred(&self, seq: Seq) {
        let mut g = self.inner.lock();
        match g.states.get(seq.index()) {
            Some(State::Pending) => {
                g.retries += 1;
                let n = &mut g.attempts_of[seq.index()];
                *n = n.saturating_add(1);
                if *n == 1 {
                    g.retried_messages += 1;
                }
                g.scheduled += 1;
                g.scheduled_peak = g.scheduled_peak.max(g.scheduled);
            }
            Some(_) => g.duplicates += 1,
            None => g.unknown += 1,
        }
    }

    /// Records that a deferred message left the scheduled queue (it is due again).
    pub fn due(&self, _seq: Seq) {
        let mut g = self.inner.lock();
        g.scheduled = g.scheduled.saturating_sub(1);
    }

    /// Records a delivery. Returns false (and counts a duplicate) when the message had already ended.
    pub fn delivered(&self, seq: Seq) -> bool {
        self.finish(seq, State::Delivered)
    }

    /// Records a bounce. Returns false (and counts a duplicate) when the message had already ended.
    pub fn bounced(&self, seq: Seq) -> bool {
        self.finish(seq, State::Bounced)
    }

    fn finish(&self, seq: Seq, to: State) -> bool {
        let mut g = self.inner.lock();
        match g.states.get(seq.index()).copied() {
            Some(State::Pending) => {
                g.states[seq.index()] = to;
                match to {
                    State::Delivered => g.delivered += 1,
                    State::Bounced => g.bounced += 1,
                    State::Pending => {}
                }
                true
            }
            Some(_) => {
                g.duplicates += 1;
                false
            }
            None => {
                g.unknown += 1;
                false
            }
        }
    }

    /// Number of messages injected and not yet ended.
    pub fn pending(&self) -> u64 {
        let g = self.inner.lock();
        g.states.len() as u64 - g.delivered - g.bounced
    }

    /// Number of messages injected so far.
    pub fn injected_count(&self) -> u64 {
        self.inner.lock().states.len() as u64
    }

    /// A summary of everything recorded. `expected` is the number of recipients the caller meant
    /// to inject; `elapsed` the wall time the run took.
    pub fn summary(&self, expected: Option<u64>, elapsed: Duration) -> Summary {
        let g = self.inner.lock();
        let injected = g.states.len() as u64;
        let ended = g.delivered + g.bounced;
        let secs = elapsed.as_secs_f64();
        Summary {
            expected,
            injected,
            delivered: g.delivered,
            bounced: g.bounced,
            pending: injected - ended,
            retries: g.retries,
            retried_messages: g.retried_messages,
            duplicates: g.duplicates,
            unknown: g.unknown,
            scheduled_peak: g.scheduled_peak,
            elapsed,
            throughput: if secs > 0.0 { ended as f64 / secs } else { 0.0 },
        }
    }
}

/// The outcome of a run, as printed by `--selftest`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Summary {
    /// Recipients the run meant to inject.
    pub expected: Option<u64>,
    /// Messages accepted by the injection API.
    pub injected: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Messages bounced (permanent failure or expired).
    pub bounced: u64,
    /// Messages still in flight.
    pub pending: u64,
    /// Temporary failures, each followed by a retry.
    pub retries: u64,
    /// Messages that needed at least one retry.
    pub retried_messages: u64,
    /// Messages that ended more than once (must be 0).
    pub duplicates: u64,
    /// Outcomes for messages that were never injected (must be 0).
    pub unknown: u64,
    /// The largest number of messages in the scheduled queue at one time.
    pub scheduled_peak: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Messages ended per second.
    pub throughput: f64,
}

impl Summary {
    /// True when every message is accounted for exactly once: all expected recipients injected,
    /// injected = delivered + bounced, nothing pending, nothing ended twice or out of nowhere.
    pub fn balanced(&self) -> bool {
        self.expected.is_none_or(|n| n == self.injected)
            && self.injected == self.delivered + self.bounced
            && self.pending == 0
            && self.duplicates == 0
            && self.unknown == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "selftest summary")?;
        if let Some(n) = self.expected {
            writeln!(f, "  requested        {n:>10}")?;
        }
        writeln!(f, "  injected         {:>10}", self.injected)?;
        writeln!(f, "  delivered        {:>10}", self.delivered)?;
        writeln!(f, "  bounced          {:>10}", self.bounced)?;
        writeln!(f, "  pending          {:>10}", self.pending)?;
        writeln!(
            f,
            "  retried          {:>10}  (temporary failures; {} messages needed a retry)",
            self.retries, self.retried_messages
        )?;
        writeln!(f, "  ended twice      {:>10}", self.duplicates)?;
        writeln!(f, "  unknown outcome  {:>10}", self.unknown)?;
        writeln!(
            f,
            "  scheduled peak   {:>10}  messages",
            self.scheduled_peak
        )?;
        writeln!(
            f,
            "  elapsed          {:>10.2}  s",
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "  throughput       {:>10.0}  messages/s",
            self.throughput
        )?;
        write!(
            f,
            "  result           {}",
            if self.balanced() {
                "OK: every message accounted for exactly once"
            } else {
                "FAILED: messages are missing or counted twice"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_unknowns_unbalance() {
        let l = Ledger::default();
        let a = l.injected();
        assert!(l.delivered(a));
        assert!(!l.bounced(a));
        assert!(!l.delivered(Seq(99)));
        let s = l.summary(Some(1), Duration::from_secs(1));
        assert_eq!(s.duplicates, 1);
        assert_eq!(s.unknown, 1);
        assert!(!s.balanced());
        assert!(s.to_string().contains("FAILED"));
    }

    #[test]
    fn pending_and_missing_unbalance() {
        let l = Ledger::default();
        let a = l.injected();
        let _b = l.injected();
        l.delivered(a);
        let s = l.summary(Some(2), Duration::from_secs(1));
        assert_eq!(s.pending, 1);
        assert!(!s.balanced());
        let l = Ledger::default();
        let a = l.injected();
        l.bounced(a);
        assert!(l.summary(None, Duration::ZERO).balanced());
        assert!(
            !l.summary(Some(3), Duration::ZERO).balanced(),
            "two recipients never injected"
        );
    }

    #[test]
    fn retries_and_peak() {
        let l = Ledger::default();
        let seqs: Vec<_> = (0..5).map(|_| l.injected()).collect();
        for &s in &seqs {
            l.deferred(s);
        }
        for &s in &seqs {
            l.due(s);
        }
        l.deferred(seqs[0]);
        l.due(seqs[0]);
        for &s in &seqs {
            l.delivered(s);
        }
        let s = l.summary(Some(5), Duration::from_secs(2));
        assert_eq!(s.retries, 6);
        assert_eq!(s.retried_messages, 5);
        assert_eq!(s.scheduled_peak, 5);
        assert_eq!(s.throughput, 2.5);
        assert!(s.balanced());
        assert!(
            s.to_string()
                .contains("OK: every message accounted for exactly once")
        );
    }

    #[test]
    fn deferring_an_ended_message_is_a_duplicate() {
        let l = Ledger::default();
        let a = l.injected();
        l.bounced(a);
        l.deferred(a);
        assert_eq!(l.summary(None, Duration::ZERO).duplicates, 1);
    }
}
