//! Shared helpers for the integration tests: a scripted session builder.
#![allow(dead_code, unreachable_pub, reason = "each test file uses a subset")]

use std::sync::Arc;
use std::time::Duration;

use kumo_trace::{ConnMeta, Payload, SessionKey, Side, Timestamp, TraceEvent};

/// 2024-09-03T10:00:00Z.
pub const T0: Timestamp = Timestamp::from_unix_nanos(1_725_357_600_000_000_000);

/// The time `ms` milliseconds after [`T0`].
pub fn at(ms: u64) -> Timestamp {
    T0.saturating_add(Duration::from_millis(ms))
}

/// A session: key, side and metadata, making events.
#[derive(Clone, Debug)]
pub struct Sess {
    pub side: Side,
    pub key: SessionKey,
    pub meta: Arc<ConnMeta>,
}

impl Sess {
    /// A server session from `peer` (an IPv4 address with port) to 198.51.100.7:25.
    pub fn server(peer: &str) -> Self {
        let peer = peer.parse().unwrap();
        let local = "198.51.100.7:25".parse().unwrap();
        Self {
            side: Side::Server,
            key: SessionKey::server(peer, local),
            meta: Arc::new(ConnMeta::new().with_peer(peer).with_local(local)),
        }
    }

    /// A client session with id `id` delivering to `domain`.
    pub fn client(id: &str, domain: &str) -> Self {
        Self {
            side: Side::Client,
            key: SessionKey::new(id),
            meta: Arc::new(
                ConnMeta::new()
                    .with_label(ConnMeta::DOMAIN, domain)
                    .with_label(ConnMeta::QUEUE, domain),
            ),
        }
    }

    pub fn ev(&self, ms: u64, payload: Payload) -> TraceEvent {
        TraceEvent::new(self.side, self.key.clone(), at(ms), payload).with_meta(self.meta.clone())
    }

    pub fn open(&self, ms: u64) -> TraceEvent {
        match self.side {
            Side::Server => self.ev(ms, Payload::Connected),
            Side::Client => self.ev(ms, Payload::BeginSession),
        }
    }

    pub fn read(&self, ms: u64, data: &str) -> TraceEvent {
        self.ev(ms, Payload::read(data))
    }

    pub fn write(&self, ms: u64, data: &str) -> TraceEvent {
        self.ev(ms, Payload::write(data))
    }

    pub fn close(&self, ms: u64) -> TraceEvent {
        self.ev(ms, Payload::Closed)
    }
}

/// A global diagnostic at `ms`.
pub fn global(ms: u64, msg: &str) -> TraceEvent {
    TraceEvent::global_diagnostic(Side::Server, at(ms), kumo_trace::Level::Warn, msg)
}

/// A multi-line message body.
pub const BODY: &str = "Subject: x\r\n\r\nhello\r\n.\r\n";

/// Everything waiting in `sub` (until empty or closed).
pub fn drain(sub: &mut kumo_trace::Subscription) -> Vec<TraceEvent> {
    let mut out = Vec::new();
    while let Ok(e) = sub.try_recv() {
        out.push((*e).clone());
    }
    out
}

/// Keys and payload type names, for compact assertions.
pub fn summary(events: &[TraceEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let kind = serde_json::to_value(&e.payload).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned();
            format!("{}:{kind}", e.session)
        })
        .collect()
}
