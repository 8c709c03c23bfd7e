//! `only_one`: with two interleaved sessions, the first admitted one is followed, global
//! diagnostics pass, and the stream ends with that session's `Closed`.

use crate::support::{Sess, drain, global, summary};
use kumo_trace::{SubscribeOptions, TraceHub, TryRecvError};

#[test]
fn two_interleaved_sessions_follow_the_first_and_end_on_its_close() {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions {
        only_one: true,
        ..Default::default()
    });
    assert_eq!(hub.subscriber_count(), 1);
    let a = Sess::client("a", "example.com");
    let b = Sess::client("b", "example.org");
    hub.publish(a.open(0));
    hub.publish(b.open(1));
    hub.publish(global(2, "shaping reloaded"));
    hub.publish(b.write(3, "EHLO me\r\n"));
    hub.publish(a.write(4, "EHLO me\r\n"));
    hub.publish(b.close(5));
    hub.publish(a.close(6));
    hub.publish(global(7, "after the end"));

    assert_eq!(
        summary(&drain(&mut sub)),
        ["a:begin_session", ":diagnostic", "a:write", "a:closed"]
    );
    assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(hub.subscriber_count(), 0, "an ended subscription detaches");
}

#[test]
fn without_only_new_a_session_already_open_can_be_the_one() {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions {
        only_one: true,
        ..Default::default()
    });
    let a = Sess::server("192.0.2.1:1");
    let b = Sess::server("192.0.2.2:2");
    hub.publish(a.read(1, "RCPT TO:<x@example.com>\r\n")); // a was open before we joined
    hub.publish(b.open(2));
    hub.publish(a.close(3));
    hub.publish(b.close(4));
    assert_eq!(
        summary(&drain(&mut sub)),
        [
            "192.0.2.1:1->198.51.100.7:25:read",
            "192.0.2.1:1->198.51.100.7:25:closed"
        ]
    );
}

#[tokio::test]
async fn async_receive_ends_when_the_session_closes() {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions {
        only_one: true,
        ..Default::default()
    });
    let a = Sess::client("a", "example.com");
    let publisher = {
        let hub = hub.clone();
        tokio::spawn(async move {
            for (i, p) in [a.open(0), a.write(1, "QUIT\r\n"), a.close(2)]
                .into_iter()
                .enumerate()
            {
                tokio::time::sleep(std::time::Duration::from_millis(i as u64)).await;
                hub.publish(p);
            }
        })
    };
    let mut n = 0;
    while let Some(_ev) = sub.recv().await {
        n += 1;
    }
    assert_eq!(n, 3);
    publisher.await.unwrap();
}
