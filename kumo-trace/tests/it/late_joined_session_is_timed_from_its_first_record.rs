//! The 0ns fix: a session already open when tracing began is timed from its first observed
//! record (blank delta first), not shown as 0ns on every line; `Closed` forgets it.

use crate::support::{Sess, drain};
use kumo_trace::{Formatter, SubscribeOptions, TraceHub};

fn delta(line: &str) -> &str {
    let rest = &line[line.find("] ").unwrap() + 2..];
    rest[..rest.char_indices().nth(6).unwrap().0].trim()
}

#[test]
fn first_record_blank_then_relative() {
    let hub = TraceHub::new();
    let s = Sess::server("192.0.2.1:40000");
    hub.publish(s.open(0)); // missed: nobody subscribed
    let mut sub = hub.subscribe(SubscribeOptions::default());
    hub.publish(s.read(10_000, "MAIL FROM:<a@example.com>\r\n"));
    hub.publish(s.write(10_002, "250 OK\r\n"));
    hub.publish(s.close(10_250));
    let mut f = Formatter::new();
    let lines: Vec<String> = drain(&mut sub).iter().map(|e| f.format(e)).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(delta(&lines[0]), "");
    assert_eq!(delta(&lines[1]), "2ms");
    assert_eq!(delta(&lines[2]), "250ms");
    assert_eq!(f.open_sessions(), 0, "closed sessions are forgotten");
}

#[test]
fn metadata_is_shown_once_per_session() {
    let s = Sess::server("192.0.2.1:40000");
    let mut f = Formatter::new();
    let first = f.format(&s.read(0, "NOOP\r\n"));
    let second = f.format(&s.read(1, "NOOP\r\n"));
    assert!(first.contains(" | peer=192.0.2.1:40000 local=198.51.100.7:25"));
    assert!(!second.contains('|'));
}
