//! [`Formatter`]: events as human-readable lines, timed from each session's first record.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crate::{ConnMeta, Payload, SessionKey, Timestamp, TraceEvent};

/// Turns events into text lines, one per event (data events: one per line of data), for a
/// terminal or a log file.
///
/// Each line starts with `[session key]` and the time since the session's first *observed*
/// record, right-aligned in 6 columns and truncated to a whole unit (`17µs`, `182ms`,
/// `1530ms` below 10 s, then `12s`). The first line of a session shows a
/// blank delta — also for a session that was already open when tracing began, which is then
/// timed from its first record seen (never a column of `0ns`). Global events (empty key) always
/// show a blank delta.
///
/// Connection metadata is appended after ` | ` on a session's first line that carries it, and
/// after that only the fields that changed (`name=` for a removed one). Data lines are marked
/// by direction: `<-` read by the host, `->` written by the host; `!!` marks diagnostics and
/// `===` everything else. Control characters (other than tab) are escaped, so one line of output
/// never spans two.
///
/// ```text
/// [192.0.2.1:40000->198.51.100.7:25]        === Connected 2024-09-03T10:00:00Z | peer=192.0.2.1:40000 local=198.51.100.7:25
/// [192.0.2.1:40000->198.51.100.7:25]   17µs -> 220 mx.example.net ESMTP
/// [192.0.2.1:40000->198.51.100.7:25]  182ms <- EHLO client.example.com | ehlo=client.example.com
/// ```
///
/// State: one entry per open session seen, removed on its `Closed` event.
///
/// # Examples
///
/// ```
/// use kumo_trace::{Formatter, Payload, SessionKey, Side, Timestamp, TraceEvent};
/// use std::time::Duration;
///
/// let t0 = Timestamp::from_unix_nanos(1_725_357_600_000_000_000);
/// let key = SessionKey::new("s1");
/// let mut f = Formatter::new();
/// // The tracer joined mid-session: the first record seen gets a blank delta.
/// let a = TraceEvent::new(Side::Server, key.clone(), t0, Payload::read("RCPT TO:<b@example.com>\r\n"));
/// let b = TraceEvent::new(Side::Server, key, t0.saturating_add(Duration::from_millis(3)), Payload::write("250 OK\r\n"));
/// assert_eq!(f.format(&a), "[s1]        <- RCPT TO:<b@example.com>\n");
/// assert_eq!(f.format(&b), "[s1]    3ms -> 250 OK\n");
/// ```
#[derive(Debug, Default)]
pub struct Formatter {
    sessions: HashMap<SessionKey, Seen>,
}

#[derive(Debug)]
struct Seen {
    first: Timestamp,
    meta: Option<Arc<ConnMeta>>,
}

impl Formatter {
    /// A formatter that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many sessions it currently remembers.
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Formats `event` as one or more `\n`-terminated lines.
    pub fn format(&mut self, event: &TraceEvent) -> String {
        let mut out = String::new();
        self.format_into(event, &mut out);
        out
    }

    /// Appends the lines of `event` to `out`.
    pub fn format_into(&mut self, event: &TraceEvent, out: &mut String) {
        let (delta, note) = self.observe(event);
        let mut prefix = String::with_capacity(event.session.as_str().len() + 10);
        prefix.push('[');
        escape_into(event.session.as_str(), &mut prefix);
        prefix.push_str("] ");
        match delta {
            None => prefix.push_str("      "),
            Some(d) => {
                let _ = write!(prefix, "{:>6}", short_duration(d));
            }
        }
        prefix.push(' ');
        let mut first = true;
        let mut line = |body: &str, out: &mut String| {
            out.push_str(&prefix);
            out.push_str(body);
            if first && !note.is_empty() {
                out.push_str(" | ");
                out.push_str(&note);
            }
            first = false;
            out.push('\n');
        };
        for body in bodies(event) {
            line(&body, out);
        }
    }

    /// Updates the session state; returns the delta to show and the metadata note.
    fn observe(&mut self, event: &TraceEvent) -> (Option<Duration>, String) {
        let cur = event.meta.as_deref();
        if event.session.is_global() {
            return (None, cur.map(|m| diff(None, m)).unwrap_or_default());
        }
        let result = match self.sessions.entry(event.session.clone()) {
            Entry::Vacant(v) => {
                v.insert(Seen {
                    first: event.when,
                    meta: event.meta.clone(),
                });
                (None, cur.map(|m| diff(None, m)).unwrap_or_default())
            }
            Entry::Occupied(mut o) => {
                let seen = o.get_mut();
                let delta = event.when.saturating_duration_since(seen.first);
                let note = match (&seen.meta, &event.meta) {
                    (_, None) => String::new(),
                    (Some(prev), Some(now)) if Arc::ptr_eq(prev, now) || prev == now => {
                        String::new()
                    }
                    (prev, Some(now)) => {
                        let note = diff(prev.as_deref(), now);
                        seen.meta = Some(Arc::clone(now));
                        note
                    }
                };
                (Some(delta), note)
            }
        };
        if event.is_closing() {
            self.sessions.remove(&event.session);
        }
        result
    }
}

/// `name=value` for every field of `now` that `prev` lacks or has differently, and `name=`
/// for fields `prev` has and `now` lacks.
fn diff(prev: Option<&ConnMeta>, now: &ConnMeta) -> String {
    let before = prev.map(ConnMeta::fields).unwrap_or_default();
    let after = now.fields();
    let mut out = String::new();
    let sep = |out: &mut String| {
        if !out.is_empty() {
            out.push(' ');
        }
    };
    for (k, v) in &after {
        if !before.iter().any(|(bk, bv)| bk == k && bv == v) {
            sep(&mut out);
            escape_into(k, &mut out);
            out.push('=');
            escape_into(v, &mut out);
        }
    }
    for (k, _) in &before {
        if !after.iter().any(|(ak, _)| ak == k) {
            sep(&mut out);
            escape_into(k, &mut out);
            out.push('=');
        }
    }
    out
}

/// `d` in at most 6 characters, truncated to a whole unit: `999ns`, `999µs`, `9999ms`, `12s`.
fn short_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{}µs", ns / 1_000)
    } else if ns < 10_000_000_000 {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{}s", d.as_secs())
    }
}

/// The lines of an event's text, without prefix or line break.
fn bodies(event: &TraceEvent) -> Vec<String> {
    let one = |s: String| vec![s];
    match &event.payload {
        Payload::BeginSession => one(format!("=== BeginSession {}", event.when)),
        Payload::Connected => one(format!("=== Connected {}", event.when)),
        Payload::Closed => one("=== Closed".to_owned()),
        Payload::Read { data } => data_lines(data).map(|l| marked("<- ", l)).collect(),
        Payload::Write { data } => data_lines(data).map(|l| marked("-> ", l)).collect(),
        Payload::AbbreviatedRead { snippet, len } => {
            let mut s = marked("<- ", snippet);
            let _ = write!(s, " ... ({len} bytes read)");
            one(s)
        }
        Payload::AbbreviatedWrite { snippet, len } => {
            let mut s = marked("-> ", snippet);
            let _ = write!(s, " ... ({len} bytes written)");
            one(s)
        }
        Payload::Diagnostic { level, message } => one(marked(&format!("!! {level} "), message)),
        Payload::Callback {
            name,
            result,
            error,
        } => {
            let mut s = marked("=== callback ", name);
            if let Some(r) = result {
                s.push_str(": ok ");
                escape_into(r, &mut s);
            }
            if let Some(e) = error {
                s.push_str(": error ");
                escape_into(e, &mut s);
            }
            one(s)
        }
        Payload::MessageDisposition(m) => {
            let mut s = marked("=== message ", &m.id);
            let _ = write!(s, " {} from=<", m.disposition);
            escape_into(&m.sender, &mut s);
            s.push_str("> to=");
            for (i, r) in m.recipients.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push('<');
                escape_into(r, &mut s);
                s.push('>');
            }
            if let Some(q) = &m.queue {
                s.push_str(" queue=");
                escape_into(q, &mut s);
            }
            if let Some(d) = &m.detail {
                s.push_str(" (");
                escape_into(d, &mut s);
                s.push(')');
            }
            one(s)
        }
    }
}

fn marked(mark: &str, text: &str) -> String {
    let mut s = String::with_capacity(mark.len() + text.len());
    s.push_str(mark);
    escape_into(text, &mut s);
    s
}

/// The lines of `data`: split at `\n`, each without its `\r`, the final line break ignored.
fn data_lines(data: &str) -> impl Iterator<Item = &str> {
    let body = data
        .strip_suffix('\n')
        .map(|d| d.strip_suffix('\r').unwrap_or(d))
        .unwrap_or(data);
    body.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))
}

fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_split() {
        fn v(d: &str) -> Vec<&str> {
            data_lines(d).collect()
        }
        assert_eq!(v(""), [""]);
        assert_eq!(v("a\r\n"), ["a"]);
        assert_eq!(v("a\r\nb\r\n"), ["a", "b"]);
        assert_eq!(v("a\n\n"), ["a", ""]);
        assert_eq!(v("a\rb"), ["a\rb"]);
    }

    #[test]
    fn short_durations() {
        let f = |ns| short_duration(Duration::from_nanos(ns));
        assert_eq!(f(0), "0ns");
        assert_eq!(f(999), "999ns");
        assert_eq!(f(17_999), "17µs");
        assert_eq!(f(1_530_000_000), "1530ms");
        assert_eq!(f(9_999_999_999), "9999ms");
        assert_eq!(f(10_000_000_000), "10s");
        assert!(f(u64::MAX).len() <= 12);
    }

    #[test]
    fn escapes_control_characters() {
        let mut s = String::new();
        escape_into("a\rb\u{1b}[0m\tc", &mut s);
        assert_eq!(s, "a\\rb\\u{1b}[0m\tc");
    }
}
