//! The metric families the demo exports on `/metrics` and `/metrics.json`.
//!
//! Per-queue and per-provider series are bounded ([`Keyed`]): a queue's series are retired once
//! it has had nothing scheduled, ready or in a session for `[metrics] idle_series_ms`, and
//! beyond `[metrics] max_queue_series` queues further ones are counted together under
//! `queue="(overflow)"` (providers likewise under `provider="(overflow)"`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kumo_metrics::{Counter, Family, Gauge, Histogram, LabelSet, RegisterError, Registry};
use parking_lot::{Mutex, RwLock};

use crate::settings::MetricsConfig;

kumo_metrics::label_set! {
    /// Per-queue metrics (the queue is the recipient domain, as an A-label).
    pub struct QueueLabel { queue }
}
kumo_metrics::label_set! {
    /// Per-provider metrics (the provider is derived from the MX host names).
    pub struct ProviderLabel { provider }
}
kumo_metrics::label_set! {
    /// Per-destination connection metrics.
    pub struct ConnLabels { mx_host, address }
}
kumo_metrics::label_set! {
    /// Why the ESMTP listener refused something.
    pub struct ReasonLabel { reason }
}
kumo_metrics::label_set! {
    /// Per ESMTP listener (its address).
    pub struct ListenerLabel { listener }
}

/// The label value that counts the queues (or providers) beyond the series cap.
pub(crate) const OVERFLOW: &str = "(overflow)";

/// A label set of one label, made from one value.
pub(crate) trait OneLabel: LabelSet {
    fn values(value: &str) -> Self::Values<'_>;
}

impl OneLabel for QueueLabel<'static> {
    fn values(queue: &str) -> QueueLabel<'_> {
        QueueLabel { queue }
    }
}

impl OneLabel for ProviderLabel<'static> {
    fn values(provider: &str) -> ProviderLabel<'_> {
        ProviderLabel { provider }
    }
}

/// One key's series handles (its own, or the overflow's).
struct SeriesSet {
    gauges: Vec<Gauge>,
    counters: Vec<Counter>,
}

/// A key (queue or provider): where its updates go and what it has outstanding.
struct KeyEntry {
    series: Arc<SeriesSet>,
    overflow: bool,
    /// The key's own values of the gauges, then its sessions in flight: while any is not zero
    /// the key is busy (its series may be the overflow's, shared with other keys).
    own: [AtomicI64; 3],
    /// Used since the last sweep.
    touched: AtomicBool,
}

const IN_FLIGHT: usize = 2;

struct Slot {
    entry: Arc<KeyEntry>,
    idle_since: Option<Instant>,
}

#[derive(Default)]
struct KeyedInner {
    map: HashMap<Arc<str>, Slot>,
    /// Keys with series of their own.
    own: usize,
    overflow: Option<Arc<SeriesSet>>,
}

/// Per-key series of weak families, bounded in number and retired when idle.
///
/// # Implementation
///
/// The families are weak (kumo-metrics): a series lives while a handle to it does. The map holds
/// each key's handles; a sweep (the engine's housekeeping tick) removes keys that were neither
/// used nor holding anything (gauges at zero, no session in flight) for the idle period, which
/// drops their handles and so their series. A key that arrives when `cap` keys have series of
/// their own shares the overflow series until it is retired itself, so that a gauge is never
/// raised on one series and lowered on another.
pub(crate) struct Keyed<L: OneLabel> {
    gauges: Vec<Family<L, Gauge>>,
    counters: Vec<Family<L, Counter>>,
    inner: RwLock<KeyedInner>,
    cap: AtomicUsize,
}

impl<L: OneLabel> std::fmt::Debug for Keyed<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.inner.read();
        f.debug_struct("Keyed")
            .field("keys", &g.map.len())
            .field("own", &g.own)
            .finish_non_exhaustive()
    }
}

impl<L: OneLabel> Keyed<L> {
    fn new(gauges: Vec<Family<L, Gauge>>, counters: Vec<Family<L, Counter>>) -> Self {
        Self {
            gauges,
            counters,
            inner: RwLock::default(),
            cap: AtomicUsize::new(MetricsConfig::default().max_queue_series),
        }
    }

    fn series(&self, value: &str) -> Arc<SeriesSet> {
        let v = L::values(value);
        Arc::new(SeriesSet {
            gauges: self.gauges.iter().map(|f| f.get_or_create(&v)).collect(),
            counters: self.counters.iter().map(|f| f.get_or_create(&v)).collect(),
        })
    }

    fn entry(&self, key: &str) -> Arc<KeyEntry> {
        if let Some(slot) = self.inner.read().map.get(key) {
            slot.entry.touched.store(true, Ordering::Relaxed);
            return slot.entry.clone();
        }
        let mut g = self.inner.write();
        if let Some(slot) = g.map.get(key) {
            slot.entry.touched.store(true, Ordering::Relaxed);
            return slot.entry.clone();
        }
        let overflow = g.own >= self.cap.load(Ordering::Relaxed);
        let series = if overflow {
            match &g.overflow {
                Some(s) => s.clone(),
                None => {
                    let s = self.series(OVERFLOW);
                    g.overflow = Some(s.clone());
                    s
                }
            }
        } else {
            g.own += 1;
            self.series(key)
        };
        let entry = Arc::new(KeyEntry {
            series,
            overflow,
            own: Default::default(),
            touched: AtomicBool::new(true),
        });
        g.map.insert(
            Arc::from(key),
            Slot {
                entry: entry.clone(),
                idle_since: None,
            },
        );
        entry
    }

    fn gauge(&self, key: &str, i: usize) -> KeyedGauge {
        KeyedGauge {
            entry: self.entry(key),
            i,
        }
    }

    fn count(&self, key: &str, i: usize) {
        self.entry(key).series.counters[i].inc();
    }

    /// Retires the keys idle for `idle` at `now`; returns how many keys are left.
    fn sweep(&self, now: Instant, idle: Duration, cap: usize) -> usize {
        self.cap.store(cap.max(1), Ordering::Relaxed);
        let mut g = self.inner.write();
        let KeyedInner { map, own, overflow } = &mut *g;
        map.retain(|_, slot| {
            let e = &slot.entry;
            let busy = e.touched.swap(false, Ordering::Relaxed)
                || e.own.iter().any(|v| v.load(Ordering::Relaxed) != 0);
            if busy {
                slot.idle_since = None;
                return true;
            }
            let since = *slot.idle_since.get_or_insert(now);
            if now.saturating_duration_since(since) < idle {
                return true;
            }
            if !e.overflow {
                *own -= 1;
            }
            false
        });
        // The overflow series go with the last key that used them.
        if overflow.as_ref().is_some_and(|s| Arc::strong_count(s) == 1) {
            *overflow = None;
        }
        map.len()
    }
}

/// A per-key gauge: updates the key's series (its own or the overflow's) and its own count.
pub(crate) struct KeyedGauge {
    entry: Arc<KeyEntry>,
    i: usize,
}

impl KeyedGauge {
    pub(crate) fn add(&self, n: i64) {
        self.entry.own[self.i].fetch_add(n, Ordering::Relaxed);
        self.entry.series.gauges[self.i].add(n);
    }
    pub(crate) fn inc(&self) {
        self.add(1);
    }
    pub(crate) fn dec(&self) {
        self.add(-1);
    }
}

/// A session of a queue in flight: the queue's series stay while it lives.
pub(crate) struct InFlight(Arc<KeyEntry>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.own[IN_FLIGHT].fetch_sub(1, Ordering::Relaxed);
        self.0.touched.store(true, Ordering::Relaxed);
    }
}

// Series indexes of the per-queue and per-provider families.
const SCHEDULED: usize = 0;
const READY: usize = 1;
const DELIVERED: usize = 0;
const TRANSFAIL: usize = 1;
const FAIL: usize = 2;

/// Pop tardiness buckets in seconds: KumoMTA's `timeq_pop_tardiness` buckets (0.25 s to 15 s),
/// with finer ones below, since the self test's tick is a few milliseconds.
const TARDINESS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0, 10.0, 15.0,
];

/// The demo's metric families. Handles are looked up per event: finding an existing series does
/// not allocate.
#[derive(Debug, Clone)]
pub(crate) struct DemoMetrics {
    pub(crate) registry: Registry,
    /// scheduled_count, ready_count; total_messages_{delivered,transfail,fail}.
    queues: Arc<Keyed<QueueLabel<'static>>>,
    /// scheduled_count_by_provider; total_messages_{delivered,transfail,fail}_by_provider.
    providers: Arc<Keyed<ProviderLabel<'static>>>,
    /// When the per-key series were last swept.
    swept: Arc<Mutex<Option<Instant>>>,
    connections: Family<ConnLabels<'static>, Counter>,
    connection_failures: Family<ConnLabels<'static>, Counter>,
    pub(crate) injected: Counter,
    pub(crate) tardiness: Histogram,
    pub(crate) dns_hits: Gauge,
    pub(crate) dns_misses: Gauge,
    pub(crate) config_epoch: Gauge,
    pub(crate) config_errors: Counter,
    pub(crate) maildir_errors: Counter,
    pub(crate) spool_errors: Counter,
    pub(crate) deferred_unspooled: Counter,
    pub(crate) possible_duplicates: Counter,
    /// `total_delivery_task_failures`: delivery attempts that failed in the demo's own code (a
    /// panic caught by the engine); each message went back to the scheduled queue unless the
    /// attempt had already handed it on. Anything but 0 is a bug worth a look.
    pub(crate) delivery_task_failures: Counter,
    smtp_received: Family<ListenerLabel<'static>, Counter>,
    smtp_sessions: Family<ListenerLabel<'static>, Counter>,
    smtp_refusals: Family<ReasonLabel<'static>, Counter>,
    pub(crate) spool_live: Gauge,
    pub(crate) spool_bytes_written: Gauge,
    pub(crate) spool_syncs: Gauge,
    pub(crate) spool_groups: Gauge,
    pub(crate) spool_quarantined: Gauge,
    pub(crate) spool_recovered: Gauge,
    pub(crate) spool_remove_errors: Gauge,
    pub(crate) spool_recovered_jobs: Gauge,
    pub(crate) spool_recovery_ms: Gauge,
}

impl DemoMetrics {
    pub(crate) fn new() -> Result<Self, RegisterError> {
        let r = Registry::new();
        // Per-queue and per-provider families are weak: a retired key's series vanish.
        let q = |name: &str, help: &str| r.family(name, help).weak().gauge::<QueueLabel<'static>>();
        let qc =
            |name: &str, help: &str| r.family(name, help).weak().counter::<QueueLabel<'static>>();
        let pc = |name: &str, help: &str| {
            r.family(name, help)
                .weak()
                .counter::<ProviderLabel<'static>>()
        };
        let g = |name: &str, help: &str| {
            r.family(name, help)
                .gauge::<()>()
                .map(|f| f.get_or_create(&()))
        };
        let queues = Keyed::new(
            vec![
                q(
                    "scheduled_count",
                    "number of messages in the scheduled queue",
                )?,
                q("ready_count", "number of messages in the ready queue")?,
            ],
            vec![
                qc("total_messages_delivered", "messages delivered, per queue")?,
                qc(
                    "total_messages_transfail",
                    "temporary delivery failures (each followed by a retry or an expiry), per queue",
                )?,
                qc(
                    "total_messages_fail",
                    "messages bounced (permanent failure or expired), per queue",
                )?,
            ],
        );
        let providers = Keyed::new(
            vec![
                r.family(
                    "scheduled_count_by_provider",
                    "messages in the scheduled queue, per provider",
                )
                .weak()
                .gauge::<ProviderLabel<'static>>()?,
            ],
            vec![
                pc(
                    "total_messages_delivered_by_provider",
                    "messages delivered, per provider",
                )?,
                pc(
                    "total_messages_transfail_by_provider",
                    "temporary delivery failures, per provider",
                )?,
                pc(
                    "total_messages_fail_by_provider",
                    "messages bounced, per provider",
                )?,
            ],
        );
        let m = Self {
            queues: Arc::new(queues),
            providers: Arc::new(providers),
            swept: Arc::new(Mutex::new(None)),
            connections: r
                .family(
                    "total_connection_attempts",
                    "connection attempts, per MX host and address",
                )
                .counter::<ConnLabels<'static>>()?,
            connection_failures: r
                .family(
                    "total_connection_failures",
                    "connection attempts that did not connect, per MX host and address",
                )
                .counter::<ConnLabels<'static>>()?,
            injected: r
                .family(
                    "total_messages_injected",
                    "messages accepted by the HTTP injection API",
                )
                .counter::<()>()?
                .get_or_create(&()),
            tardiness: r
                .family(
                    "timeq_pop_tardiness",
                    "how late (seconds) messages left the scheduled queue after their due time",
                )
                .histogram::<()>(TARDINESS_BUCKETS)?
                .get_or_create(&()),
            dns_hits: r
                .family("dns_mx_cache_hits", "MX cache hits")
                .gauge::<()>()?
                .get_or_create(&()),
            dns_misses: r
                .family(
                    "dns_mx_cache_misses",
                    "MX cache misses (upstream resolutions)",
                )
                .gauge::<()>()?
                .get_or_create(&()),
            config_epoch: r
                .family("config_epoch", "the config epoch whose files are applied")
                .gauge::<()>()?
                .get_or_create(&()),
            config_errors: r
                .family(
                    "total_config_reload_errors",
                    "config reloads that failed (the last good config stays in use)",
                )
                .counter::<()>()?
                .get_or_create(&()),
            maildir_errors: r
                .family(
                    "total_maildir_errors",
                    "delivered messages the Maildir could not store",
                )
                .counter::<()>()?
                .get_or_create(&()),
            spool_errors: r
                .family(
                    "total_spool_errors",
                    "spool writes, loads or journal appends that failed",
                )
                .counter::<()>()?
                .get_or_create(&()),
            deferred_unspooled: r
                .family(
                    "total_deferred_spool_unspooled",
                    "deferred_spool messages that ended without ever being written to the spool",
                )
                .counter::<()>()?
                .get_or_create(&()),
            possible_duplicates: r
                .family(
                    "total_smtp_possible_duplicates",
                    "messages whose connection was lost after the final dot and before the reply: \
                     retried, so the recipient may get them twice (RFC 1047)",
                )
                .counter::<()>()?
                .get_or_create(&()),
            delivery_task_failures: r
                .family(
                    "total_delivery_task_failures",
                    "delivery attempts that failed in the demo's own code (a panic caught by the \
                     engine); the message went back to the scheduled queue unless the attempt had \
                     already handed it on",
                )
                .counter::<()>()?
                .get_or_create(&()),
            smtp_received: r
                .family(
                    "total_smtp_messages_received",
                    "messages an ESMTP listener accepted (each spooled before its 250)",
                )
                .counter::<ListenerLabel<'static>>()?,
            smtp_sessions: r
                .family(
                    "total_smtp_sessions",
                    "SMTP sessions of an ESMTP listener that ended",
                )
                .counter::<ListenerLabel<'static>>()?,
            smtp_refusals: r
                .family(
                    "total_smtp_refusals",
                    "what the ESMTP listener refused, by reason (relay_denied, spool_error, \
                     too_many_connections, idle_timeout, ...)",
                )
                .counter::<ReasonLabel<'static>>()?,
            spool_live: g("spool_message_count", "messages in the spool now")?,
            spool_bytes_written: g(
                "spool_bytes_written",
                "bytes of data and metadata written to the spool since start",
            )?,
            spool_syncs: g(
                "spool_sync_count",
                "spool group commits that synced to stable storage since start",
            )?,
            spool_groups: g(
                "spool_group_commit_count",
                "spool group commits since start",
            )?,
            spool_quarantined: g(
                "spool_quarantined_count",
                "torn or corrupt spool entries moved to quarantine since start",
            )?,
            spool_recovered: g(
                "spool_recovered_messages",
                "messages put back into the queues from the spool at start",
            )?,
            spool_remove_errors: g(
                "spool_remove_errors",
                "removals of ended messages that failed (the entry stays; the journal has the ending)",
            )?,
            spool_recovered_jobs: g(
                "spool_recovered_jobs",
                "deferred_generation jobs found in the spool at start and resumed",
            )?,
            spool_recovery_ms: g(
                "spool_recovery_milliseconds",
                "how long enumerating the spool took at start",
            )?,
            registry: r.clone(),
        };
        Ok(m)
    }

    pub(crate) fn scheduled(&self, queue: &str) -> KeyedGauge {
        self.queues.gauge(queue, SCHEDULED)
    }
    pub(crate) fn ready(&self, queue: &str) -> KeyedGauge {
        self.queues.gauge(queue, READY)
    }
    pub(crate) fn scheduled_by_provider(&self, provider: &str) -> KeyedGauge {
        self.providers.gauge(provider, SCHEDULED)
    }
    /// Marks a session of `queue` in flight until the guard is dropped: the queue's series are
    /// not retired meanwhile.
    pub(crate) fn in_flight(&self, queue: &str) -> InFlight {
        let entry = self.queues.entry(queue);
        entry.own[IN_FLIGHT].fetch_add(1, Ordering::Relaxed);
        InFlight(entry)
    }
    pub(crate) fn delivered(&self, queue: &str, provider: &str) {
        self.queues.count(queue, DELIVERED);
        self.providers.count(provider, DELIVERED);
    }
    pub(crate) fn transfail(&self, queue: &str, provider: &str) {
        self.queues.count(queue, TRANSFAIL);
        self.providers.count(provider, TRANSFAIL);
    }
    pub(crate) fn fail(&self, queue: &str, provider: &str) {
        self.queues.count(queue, FAIL);
        self.providers.count(provider, FAIL);
    }

    /// Retires the series of queues and providers idle for `[metrics] idle_series_ms` and
    /// applies the series cap; does the work at most every quarter of the idle period (at
    /// least 50 ms apart), so the engine may call it on every housekeeping tick.
    pub(crate) fn sweep_series(&self, config: &MetricsConfig, now: Instant) {
        let idle = Duration::from_millis(config.idle_series_ms);
        let every = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(10));
        {
            let mut last = self.swept.lock();
            if last.is_some_and(|t| now.saturating_duration_since(t) < every) {
                return;
            }
            *last = Some(now);
        }
        self.queues.sweep(now, idle, config.max_queue_series);
        self.providers.sweep(now, idle, config.max_queue_series);
    }
    pub(crate) fn smtp_received(&self, listener: &str) {
        self.smtp_received
            .get_or_create(&ListenerLabel { listener })
            .inc();
    }
    pub(crate) fn smtp_session(&self, listener: &str) {
        self.smtp_sessions
            .get_or_create(&ListenerLabel { listener })
            .inc();
    }
    pub(crate) fn smtp_refusal(&self, reason: &str) {
        self.smtp_refusals_by(reason, 1);
    }
    pub(crate) fn smtp_refusals_by(&self, reason: &str, n: u64) {
        self.smtp_refusals
            .get_or_create(&ReasonLabel { reason })
            .inc_by(n);
    }
    pub(crate) fn connection(&self, mx_host: &str, address: &str, connected: bool) {
        let l = ConnLabels { mx_host, address };
        self.connections.get_or_create(&l).inc();
        if !connected {
            self.connection_failures.get_or_create(&l).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &DemoMetrics) -> String {
        let opts = kumo_metrics::ScrapeOptions::text();
        String::from_utf8(m.registry.scrape(&opts).flatten().collect()).unwrap()
    }

    #[test]
    fn idle_queues_are_retired_and_queues_past_the_cap_share_the_overflow_series() {
        let m = DemoMetrics::new().unwrap();
        let cfg = MetricsConfig {
            max_queue_series: 2,
            idle_series_ms: 1000,
        };
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        m.sweep_series(&cfg, at(0)); // applies the cap
        m.fail("a.test", "p");
        m.fail("b.test", "p");
        m.fail("c.test", "p");
        let c = m.scheduled("c.test");
        c.inc();
        let t = text(&m);
        assert!(
            t.contains("total_messages_fail{queue=\"a.test\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("total_messages_fail{queue=\"(overflow)\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("scheduled_count{queue=\"(overflow)\"} 1\n"),
            "{t}"
        );
        assert!(!t.contains("c.test"), "{t}");

        // Used until 300 ms, idle from 600 ms, retired one idle period later; the overflowed
        // queue still has a scheduled message and keeps the overflow series.
        for ms in [300, 600, 1700] {
            m.sweep_series(&cfg, at(ms));
        }
        let t = text(&m);
        assert!(!t.contains("a.test") && !t.contains("b.test"), "{t}");
        assert!(
            t.contains("scheduled_count{queue=\"(overflow)\"} 1\n"),
            "{t}"
        );

        // Its message leaves: after its idle period the overflow series go too, and a new
        // queue has series of its own again.
        c.dec();
        drop(c);
        for ms in [2000, 2300, 3400] {
            m.sweep_series(&cfg, at(ms));
        }
        let t = text(&m);
        assert!(!t.contains("(overflow)"), "{t}");
        m.delivered("d.test", "p");
        assert!(text(&m).contains("total_messages_delivered{queue=\"d.test\"} 1\n"));
    }

    #[test]
    fn a_queue_in_flight_keeps_its_series() {
        let m = DemoMetrics::new().unwrap();
        let cfg = MetricsConfig {
            max_queue_series: 10,
            idle_series_ms: 1000,
        };
        let t0 = Instant::now();
        let flight = m.in_flight("a.test");
        m.transfail("a.test", "p");
        for ms in [0, 300, 600, 5000] {
            m.sweep_series(&cfg, t0 + Duration::from_millis(ms));
        }
        assert!(text(&m).contains("total_messages_transfail{queue=\"a.test\"} 1\n"));
        drop(flight);
        for ms in [5300, 5600, 6700] {
            m.sweep_series(&cfg, t0 + Duration::from_millis(ms));
        }
        assert!(!text(&m).contains("a.test"));
    }
}
