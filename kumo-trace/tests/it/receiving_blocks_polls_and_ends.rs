//! Receiving: blocking on a thread, async on a runtime, and the end of the stream when the
//! hub is dropped (after the queue drains).

use std::thread;

use crate::support::Sess;
use kumo_trace::{SubscribeOptions, TraceHub, TryRecvError};

#[test]
fn blocking_receive_gets_events_from_another_thread_then_ends_when_the_hub_goes() {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions::default());
    let s = Sess::server("192.0.2.1:1");
    let publisher = thread::spawn(move || {
        for i in 0..1000 {
            hub.publish(s.read(i, "NOOP\r\n"));
        }
        // `hub` is dropped here: the stream ends after the queue drains.
    });
    let mut n = 0;
    while sub.recv_blocking().is_some() {
        n += 1;
    }
    publisher.join().unwrap();
    assert_eq!(n, 1000);
    assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Closed);
}

#[test]
fn try_recv_tells_empty_from_closed() {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions::default());
    assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Empty);
    hub.publish(Sess::server("192.0.2.1:1").open(0));
    drop(hub);
    assert!(sub.try_recv().is_ok(), "queued events survive the hub");
    assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Closed);
}

#[tokio::test(flavor = "current_thread")]
async fn async_receive_wakes_on_publish_and_ends_on_hub_drop() {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions::default());
    let task = tokio::spawn(async move {
        let mut n = 0;
        while sub.recv().await.is_some() {
            n += 1;
        }
        n
    });
    tokio::task::yield_now().await; // let the receiver wait first
    let s = Sess::server("192.0.2.1:1");
    for i in 0..3 {
        hub.publish(s.read(i, "NOOP\r\n"));
        tokio::task::yield_now().await;
    }
    drop(hub);
    assert_eq!(task.await.unwrap(), 3);
}
