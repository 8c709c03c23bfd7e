//! A hub takes at most `max_subscribers` subscriptions: beyond it `try_subscribe` gives a
//! typed, transient error (and `subscribe`, the host's own, attaches and counts); a place
//! frees when a subscription goes.

use std::time::Duration;

use kumo_trace::{
    DEFAULT_MAX_SUBSCRIBERS, SubscribeError, SubscribeOptions, TraceHub, TraceHubConfig,
};

use crate::support::Sess;

fn hub_of(max: usize) -> TraceHub {
    let mut config = TraceHubConfig::default();
    config.max_subscribers = max;
    TraceHub::with_config(config)
}

#[test]
fn beyond_the_cap_try_subscribe_is_refused_with_the_limit() {
    let hub = hub_of(3);
    let subs: Vec<_> = (0..3)
        .map(|_| hub.try_subscribe(SubscribeOptions::default()).unwrap())
        .collect();
    let err = hub.try_subscribe(SubscribeOptions::default()).unwrap_err();
    assert_eq!(err, SubscribeError::TooManySubscribers { max: 3 });
    assert_eq!(err.to_string(), "too many trace subscribers (at most 3)");
    assert_eq!(hub.subscriber_count(), 3, "the refused one is not attached");

    // The host's own subscriber attaches beyond the cap, and counts: one place must free
    // besides it before a client may attach again.
    let own = hub.subscribe(SubscribeOptions::default());
    assert_eq!(hub.subscriber_count(), 4);
    let mut subs = subs;
    subs.pop();
    assert!(hub.try_subscribe(SubscribeOptions::default()).is_err());
    drop(own);

    // A place frees when a subscription is dropped.
    drop(subs);
    assert_eq!(hub.subscriber_count(), 0);
    let _again = hub.try_subscribe(SubscribeOptions::default()).unwrap();
}

#[test]
fn the_default_cap_is_safe_and_a_lower_cap_applies_to_new_subscriptions() {
    let hub = TraceHub::new();
    assert_eq!(hub.config().max_subscribers, DEFAULT_MAX_SUBSCRIBERS);
    let held: Vec<_> = (0..DEFAULT_MAX_SUBSCRIBERS)
        .map(|_| hub.try_subscribe(SubscribeOptions::default()).unwrap())
        .collect();
    assert!(matches!(
        hub.try_subscribe(SubscribeOptions::default()),
        Err(SubscribeError::TooManySubscribers { .. })
    ));

    // Lowering the cap detaches nobody; it refuses until enough have gone.
    let mut config = hub.config();
    config.max_subscribers = 2;
    hub.set_config(config);
    assert_eq!(hub.subscriber_count(), DEFAULT_MAX_SUBSCRIBERS);
    let mut held = held;
    held.truncate(2);
    assert!(hub.try_subscribe(SubscribeOptions::default()).is_err());
    held.truncate(1);
    held.push(hub.try_subscribe(SubscribeOptions::default()).unwrap());
}

#[test]
fn a_stalled_subscriber_gives_its_place_back() {
    let mut config = TraceHubConfig::default();
    config.max_subscribers = 1;
    config.park_after = Duration::from_millis(10);
    config.stall_timeout = Duration::from_millis(100);
    let hub = TraceHub::with_config(config);
    let stuck = hub
        .try_subscribe(SubscribeOptions {
            capacity: 1,
            ..Default::default()
        })
        .unwrap();
    let s = Sess::server("192.0.2.1:1");
    hub.publish(s.open(0));
    hub.publish(s.read(1, "EHLO x\r\n")); // full from here
    assert!(hub.try_subscribe(SubscribeOptions::default()).is_err());
    assert_eq!(hub.expire_stalled(crate::support::at(100)), 0, "not yet");
    assert_eq!(hub.expire_stalled(crate::support::at(101)), 1);
    assert_eq!(hub.subscriber_count(), 0);
    let _next = hub.try_subscribe(SubscribeOptions::default()).unwrap();
    drop(stuck);
}
