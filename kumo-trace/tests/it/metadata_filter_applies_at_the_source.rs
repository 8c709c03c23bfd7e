//! Subscriber filters on connection metadata: peer address as CIDR, domain, queue, side.

use crate::support::{Sess, drain, global};
use kumo_trace::{Cidr, ConnMeta, MetaFilter, Side, SubscribeOptions, TraceHub};

#[test]
fn peer_cidr_and_labels_select_sessions_and_global_events_pass() {
    let hub = TraceHub::new();
    let mut by_peer = hub.subscribe(SubscribeOptions {
        filter: MetaFilter::new().with_peer("10.0.0.0/8".parse::<Cidr>().unwrap()),
        ..Default::default()
    });
    let mut by_domain = hub.subscribe(SubscribeOptions {
        filter: MetaFilter::new()
            .with_label(ConnMeta::DOMAIN, "Example.COM")
            .with_label(ConnMeta::DOMAIN, "example.net"),
        ..Default::default()
    });
    let mut by_queue_and_side = hub.subscribe(SubscribeOptions {
        filter: MetaFilter::new()
            .with_side(Side::Client)
            .with_label(ConnMeta::QUEUE, "example.org"),
        ..Default::default()
    });
    let inside = Sess::server("10.1.2.3:5000");
    let mapped = Sess::server("[::ffff:10.9.9.9]:5000");
    let outside = Sess::server("192.0.2.1:5000");
    let com = Sess::client("c1", "example.com");
    let org = Sess::client("c2", "example.org");
    for s in [&inside, &mapped, &outside, &com, &org] {
        hub.publish(s.open(0));
    }
    hub.publish(global(1, "for everyone"));

    let peers: Vec<_> = drain(&mut by_peer)
        .iter()
        .map(|e| e.session.to_string())
        .collect();
    assert_eq!(
        peers,
        [
            "10.1.2.3:5000->198.51.100.7:25",
            "[::ffff:10.9.9.9]:5000->198.51.100.7:25",
            ""
        ]
    );
    let domains: Vec<_> = drain(&mut by_domain)
        .iter()
        .map(|e| e.session.to_string())
        .collect();
    assert_eq!(domains, ["c1", ""]);
    let queues: Vec<_> = drain(&mut by_queue_and_side)
        .iter()
        .map(|e| e.session.to_string())
        .collect();
    assert_eq!(
        queues,
        ["c2"],
        "the side criterion applies to global events too"
    );
}

#[test]
fn filter_options_deserialize_from_json() {
    let opts: SubscribeOptions = serde_json::from_str(
        r#"{"terse":true,"only_new":true,"capacity":64,
            "filter":{"peer":["10.0.0.0/8"],"labels":{"domain":["example.com"]}}}"#,
    )
    .unwrap();
    assert!(opts.terse && opts.only_new && !opts.only_one);
    assert_eq!(opts.capacity, 64);
    assert_eq!(opts.filter.peer[0].to_string(), "10.0.0.0/8");
    let bad = serde_json::from_str::<SubscribeOptions>(r#"{"filter":{"peer":["10.0.0.0/99"]}}"#);
    assert!(bad.is_err());
    assert!(serde_json::from_str::<SubscribeOptions>(r#"{"tersee":true}"#).is_err());
}
