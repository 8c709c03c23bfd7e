//! `trace` area: the cost of publishing a session event into `kumo_trace::TraceHub`, beside
//! `tokio::sync::broadcast` (the channel KumoMTA's tracer uses) on the same event.
//!
//! * `publish_ns_no_subscriber`: nobody listens. kumo: `hub.publish_with(|| event)`; tokio:
//!   KumoMTA's guard `if tx.receiver_count() > 0 { tx.send(event) }`. Neither builds the event.
//! * `publish_ns_one_subscriber`: one subscriber with the same queue capacity on both sides.
//!   Events are published in batches of [`BATCH`]; only the publishing is timed, the subscriber
//!   drains each batch untimed, so neither side ever lags. Both build the same event per publish
//!   (an `Arc` metadata clone, a key clone, a 26-byte `String`). Note where the event is freed:
//!   tokio frees the value a slot held when a later send overwrites it (inside `send`), kumo
//!   frees it when the subscriber drops its `Arc` (in the untimed drain).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use kumo_trace::{
    ConnMeta, Payload, SessionKey, Side, SubscribeOptions, Timestamp, TraceEvent, TraceHub,
};
use tokio::sync::broadcast;

use crate::{Better, CountingAlloc, Options, Reporter};

/// Events published per timed batch in the one-subscriber workload.
pub const BATCH: usize = 256;

/// Alternating measurement rounds per side; the best round counts.
const ROUNDS: usize = 5;

/// Queue capacity of the subscriber on both sides.
pub const CAPACITY: usize = 16 * 1024;

/// What a session task has at hand when it publishes: key and metadata.
#[derive(Debug, Clone)]
pub struct Session {
    key: SessionKey,
    meta: Arc<ConnMeta>,
}

impl Session {
    /// A server session from 192.0.2.1:40000 to 198.51.100.7:25 with two labels.
    pub fn new() -> Self {
        let peer = "192.0.2.1:40000".parse().expect("literal");
        let local = "198.51.100.7:25".parse().expect("literal");
        Self {
            key: SessionKey::server(peer, local),
            meta: Arc::new(
                ConnMeta::new()
                    .with_peer(peer)
                    .with_local(local)
                    .with_label(ConnMeta::EHLO, "client.example.com"),
            ),
        }
    }

    /// The event published for the `i`th read of the session.
    #[inline]
    pub fn event(&self, i: u64) -> TraceEvent {
        TraceEvent::new(
            Side::Server,
            self.key.clone(),
            Timestamp::from_unix_nanos(1_725_357_600_000_000_000 + i),
            Payload::read("RCPT TO:<b@example.org>\r\n"),
        )
        .with_meta(Arc::clone(&self.meta))
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

/// kumo, nobody subscribed: `n` publishes; returns ns per publish.
pub fn kumo_no_subscriber(s: &Session, n: u64) -> f64 {
    let hub = TraceHub::new();
    let start = Instant::now();
    for i in 0..n {
        black_box(&hub).publish_with(|| s.event(i));
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// tokio broadcast, no receiver, with KumoMTA's `receiver_count` guard; ns per publish.
pub fn tokio_no_subscriber(s: &Session, n: u64) -> f64 {
    let (tx, rx) = broadcast::channel::<TraceEvent>(CAPACITY);
    drop(rx);
    let start = Instant::now();
    for i in 0..n {
        let tx = black_box(&tx);
        if tx.receiver_count() > 0 {
            let _ = tx.send(s.event(i));
        }
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// kumo, one subscriber: `batches` timed batches of [`BATCH`] publishes, each drained untimed;
/// returns total timed nanoseconds.
pub fn kumo_one_subscriber(s: &Session, batches: u64) -> u128 {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions {
        capacity: CAPACITY,
        ..Default::default()
    });
    let mut timed = 0u128;
    let mut i = 0u64;
    for _ in 0..batches {
        let start = Instant::now();
        for _ in 0..BATCH {
            hub.publish_with(|| s.event(i));
            i += 1;
        }
        timed += start.elapsed().as_nanos();
        let mut got = 0;
        while let Ok(ev) = sub.try_recv() {
            black_box(&ev);
            got += 1;
        }
        assert_eq!(got, BATCH, "the subscriber never lags in this workload");
    }
    timed
}

/// tokio broadcast, one receiver, the same batches; returns total timed nanoseconds.
pub fn tokio_one_subscriber(s: &Session, batches: u64) -> u128 {
    let (tx, mut rx) = broadcast::channel::<TraceEvent>(CAPACITY);
    let mut timed = 0u128;
    let mut i = 0u64;
    for _ in 0..batches {
        let start = Instant::now();
        for _ in 0..BATCH {
            if tx.receiver_count() > 0 {
                let _ = tx.send(s.event(i));
            }
            i += 1;
        }
        timed += start.elapsed().as_nanos();
        let mut got = 0;
        while let Ok(ev) = rx.try_recv() {
            black_box(&ev);
            got += 1;
        }
        assert_eq!(got, BATCH, "the receiver never lags in this workload");
    }
    timed
}

/// Runs the `trace` area.
pub fn run(opts: &Options, _alloc: &CountingAlloc, r: &mut Reporter) {
    let s = Session::new();

    // Idle path: 20M publishes per round by default.
    let n = opts.n.unwrap_or(20_000_000).max(1);
    // Warm up, then take the best of ROUNDS alternating runs on each side (the machine is
    // shared: alternating exposes both sides to the same background load).
    kumo_no_subscriber(&s, n / 10 + 1);
    tokio_no_subscriber(&s, n / 10 + 1);
    let (mut kumo, mut tokio) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        kumo = kumo.min(kumo_no_subscriber(&s, n));
        tokio = tokio.min(tokio_no_subscriber(&s, n));
    }
    r.peer(
        "publish_ns_no_subscriber",
        n,
        kumo,
        "tokio broadcast (receiver_count guard)",
        tokio,
        Better::Lower,
    );

    // One subscriber: 1M publishes per round by default.
    let events = opts.n.unwrap_or(1_000_000).max(BATCH as u64);
    let batches = events / BATCH as u64;
    let total = batches * BATCH as u64;
    kumo_one_subscriber(&s, batches / 10 + 1);
    tokio_one_subscriber(&s, batches / 10 + 1);
    let (mut kumo, mut tokio) = (u128::MAX, u128::MAX);
    for _ in 0..ROUNDS {
        kumo = kumo.min(kumo_one_subscriber(&s, batches));
        tokio = tokio.min(tokio_one_subscriber(&s, batches));
    }
    let (kumo, tokio) = (kumo as f64 / total as f64, tokio as f64 / total as f64);
    r.peer(
        "publish_ns_one_subscriber",
        total,
        kumo,
        "tokio broadcast",
        tokio,
        Better::Lower,
    );
}
