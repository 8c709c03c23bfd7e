//! [`Tracer`]: one session's handle on a [`TraceHub`], which publishes with the session's side,
//! key and metadata filled in.

use std::sync::Arc;

use crate::{ConnMeta, Payload, SessionKey, Side, TraceEvent, TraceHub};

/// A session's publishing handle: a [`TraceHub`] plus the [`Side`], [`SessionKey`] and
/// [`ConnMeta`] that every event of the session carries.
///
/// Cheap to clone (three reference counts). Like the hub, every publish builds nothing and
/// reads no clock when nobody subscribes. The time of each event is the current time
/// (`SystemTime::now()`, read only when somebody subscribes), as with
/// [`TraceHub::publish_now_with`]; publish through the hub directly to pass your own.
///
/// A host publishes its own events of a session (a diagnostic, a message disposition) through
/// the same `Tracer` that a [`TracedStream`](crate::TracedStream) uses for the bytes, so they
/// interleave in one session.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use kumo_trace::{ConnMeta, Payload, SessionKey, Side, SubscribeOptions, TraceHub, Tracer};
///
/// let hub = TraceHub::new();
/// let mut sub = hub.subscribe(SubscribeOptions::default());
/// let tracer = Tracer::new(hub.clone(), Side::Client, SessionKey::new("example.test#1"))
///     .with_meta(Arc::new(ConnMeta::new().with_label(ConnMeta::QUEUE, "example.test")));
/// tracer.publish(Payload::BeginSession);
/// let ev = sub.try_recv()?;
/// assert_eq!(ev.session.as_str(), "example.test#1");
/// assert_eq!(ev.meta.as_ref().and_then(|m| m.queue()), Some("example.test"));
/// # Ok::<(), kumo_trace::TryRecvError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Tracer {
    hub: TraceHub,
    side: Side,
    key: SessionKey,
    meta: Option<Arc<ConnMeta>>,
}

impl Tracer {
    /// A handle for the session `key` on `side`, without metadata.
    pub fn new(hub: TraceHub, side: Side, key: SessionKey) -> Self {
        Self {
            hub,
            side,
            key,
            meta: None,
        }
    }

    /// Attaches the metadata every later event carries.
    pub fn with_meta(mut self, meta: Arc<ConnMeta>) -> Self {
        self.meta = Some(meta);
        self
    }

    /// Replaces the metadata (for example once the peer address or the MX host is known);
    /// events published from now on carry the new one.
    pub fn set_meta(&mut self, meta: Arc<ConnMeta>) {
        self.meta = Some(meta);
    }

    /// The hub.
    pub fn hub(&self) -> &TraceHub {
        &self.hub
    }

    /// The session's side.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The session's key.
    pub fn key(&self) -> &SessionKey {
        &self.key
    }

    /// The metadata, when set.
    pub fn meta(&self) -> Option<&Arc<ConnMeta>> {
        self.meta.as_ref()
    }

    /// Whether anybody subscribes now (one relaxed atomic load).
    #[inline]
    pub fn is_watched(&self) -> bool {
        self.hub.has_subscribers()
    }

    /// Publishes `payload` for this session, stamped with the current time.
    #[inline]
    pub fn publish(&self, payload: Payload) {
        self.publish_with(|| payload);
    }

    /// Publishes the payload `build` returns, calling it only when somebody subscribes (so
    /// that text is formatted only for a watcher).
    #[inline]
    pub fn publish_with<F: FnOnce() -> Payload>(&self, build: F) {
        self.hub.publish_now_with(|when| {
            let ev = TraceEvent::new(self.side, self.key.clone(), when, build());
            match &self.meta {
                Some(m) => ev.with_meta(Arc::clone(m)),
                None => ev,
            }
        });
    }
}
