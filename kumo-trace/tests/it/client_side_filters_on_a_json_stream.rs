//! What a command-line tracer does: read a JSON-lines stream produced from a hub (as an HTTP
//! endpoint would serve it), then apply `terse`, `only_new`, `only_one` and the formatter on
//! its own side. The result equals subscribing with the same options in process.

use crate::support::{BODY, Sess, drain, global};
use kumo_trace::{
    Formatter, JsonLinesReader, StreamFilter, SubscribeOptions, TraceEvent, TraceHub, Verdict,
    terse, to_json_line,
};

fn publish_scenario(hub: &TraceHub) {
    let old = Sess::server("192.0.2.1:1");
    let a = Sess::server("192.0.2.2:2");
    let b = Sess::server("192.0.2.3:3");
    hub.publish(old.read(0, "DATA\r\n"));
    hub.publish(a.open(1));
    hub.publish(b.open(2));
    hub.publish(global(3, "note"));
    hub.publish(a.read(4, BODY));
    hub.publish(b.read(5, BODY));
    hub.publish(old.close(6));
    hub.publish(a.close(7));
    hub.publish(b.close(8));
}

#[test]
fn client_side_filtering_matches_in_process_subscription() {
    let hub = TraceHub::new();
    let mut raw = hub.subscribe(SubscribeOptions::default());
    let mut in_process = hub.subscribe(SubscribeOptions {
        terse: true,
        only_new: true,
        only_one: true,
        ..Default::default()
    });
    publish_scenario(&hub);

    let wire: String = drain(&mut raw).iter().map(to_json_line).collect();
    let mut filter = StreamFilter::new().only_new(true).only_one(true);
    let mut fmt = Formatter::new();
    let mut seen: Vec<TraceEvent> = Vec::new();
    let mut text = String::new();
    for ev in JsonLinesReader::new(wire.as_bytes()) {
        let ev = ev.unwrap();
        let ev = terse(&ev).unwrap_or(ev);
        let verdict = filter.check(&ev);
        if verdict != Verdict::Drop {
            fmt.format_into(&ev, &mut text);
            seen.push(ev);
        }
        if verdict == Verdict::End {
            break;
        }
    }
    assert_eq!(seen, drain(&mut in_process));
    assert_eq!(seen.len(), 4, "a: open, note, body, close");
    assert!(text.contains("<- Subject: x ... (24 bytes read)"), "{text}");
}
