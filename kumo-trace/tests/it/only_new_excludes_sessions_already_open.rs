//! `only_new`: a session already open when the subscriber joined is dropped entirely; a
//! session whose opening was seen passes whole, including after another one closes.

use crate::support::{Sess, drain, global, summary};
use kumo_trace::{SubscribeOptions, TraceHub};

#[test]
fn a_session_open_before_the_subscriber_joined_is_excluded() {
    let hub = TraceHub::new();
    let old = Sess::server("192.0.2.1:40000");
    let new = Sess::server("192.0.2.2:40000");
    hub.publish(old.open(0)); // nobody listens yet

    let mut sub = hub.subscribe(SubscribeOptions {
        only_new: true,
        ..Default::default()
    });
    hub.publish(old.read(1, "MAIL FROM:<a@example.com>\r\n"));
    hub.publish(new.open(2));
    hub.publish(old.write(3, "250 OK\r\n"));
    hub.publish(global(4, "disk almost full"));
    hub.publish(new.read(5, "EHLO x\r\n"));
    hub.publish(old.close(6));
    hub.publish(new.close(7));

    assert_eq!(
        summary(&drain(&mut sub)),
        [
            "192.0.2.2:40000->198.51.100.7:25:connected",
            ":diagnostic",
            "192.0.2.2:40000->198.51.100.7:25:read",
            "192.0.2.2:40000->198.51.100.7:25:closed",
        ]
    );
}

#[test]
fn client_sessions_open_with_begin_session_not_connected() {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions {
        only_new: true,
        ..Default::default()
    });
    let c = Sess::client("c1", "example.com");
    // Joined after BeginSession: its Connected is not an opening on the client side.
    hub.publish(c.ev(1, kumo_trace::Payload::Connected));
    hub.publish(c.write(2, "EHLO me\r\n"));
    let d = Sess::client("c2", "example.org");
    hub.publish(d.open(3));
    hub.publish(d.ev(4, kumo_trace::Payload::Connected));
    assert_eq!(
        summary(&drain(&mut sub)),
        ["c2:begin_session", "c2:connected"]
    );
}

#[test]
fn a_key_reused_after_close_needs_a_new_opening() {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions {
        only_new: true,
        ..Default::default()
    });
    let s = Sess::server("192.0.2.1:40000");
    hub.publish(s.open(0));
    hub.publish(s.close(1));
    hub.publish(s.read(2, "stray\r\n"));
    hub.publish(s.open(3));
    hub.publish(s.read(4, "EHLO x\r\n"));
    assert_eq!(drain(&mut sub).len(), 4);
}
