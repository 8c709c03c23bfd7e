//! The metric families the demo exports on `/metrics` and `/metrics.json`.

use kumo_metrics::{Counter, Family, Gauge, Histogram, RegisterError, Registry};

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
    scheduled: Family<QueueLabel<'static>, Gauge>,
    ready: Family<QueueLabel<'static>, Gauge>,
    delivered: Family<QueueLabel<'static>, Counter>,
    transfail: Family<QueueLabel<'static>, Counter>,
    fail: Family<QueueLabel<'static>, Counter>,
    scheduled_by_provider: Family<ProviderLabel<'static>, Gauge>,
    delivered_by_provider: Family<ProviderLabel<'static>, Counter>,
    transfail_by_provider: Family<ProviderLabel<'static>, Counter>,
    fail_by_provider: Family<ProviderLabel<'static>, Counter>,
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
        let q = |name: &str, help: &str| r.family(name, help).gauge::<QueueLabel<'static>>();
        let qc = |name: &str, help: &str| r.family(name, help).counter::<QueueLabel<'static>>();
        let pc = |name: &str, help: &str| r.family(name, help).counter::<ProviderLabel<'static>>();
        let g = |name: &str, help: &str| {
            r.family(name, help)
                .gauge::<()>()
                .map(|f| f.get_or_create(&()))
        };
        let m = Self {
            scheduled: q(
                "scheduled_count",
                "number of messages in the scheduled queue",
            )?,
            ready: q("ready_count", "number of messages in the ready queue")?,
            delivered: qc("total_messages_delivered", "messages delivered, per queue")?,
            transfail: qc(
                "total_messages_transfail",
                "temporary delivery failures (each followed by a retry or an expiry), per queue",
            )?,
            fail: qc(
                "total_messages_fail",
                "messages bounced (permanent failure or expired), per queue",
            )?,
            scheduled_by_provider: r
                .family(
                    "scheduled_count_by_provider",
                    "messages in the scheduled queue, per provider",
                )
                .gauge::<ProviderLabel<'static>>()?,
            delivered_by_provider: pc(
                "total_messages_delivered_by_provider",
                "messages delivered, per provider",
            )?,
            transfail_by_provider: pc(
                "total_messages_transfail_by_provider",
                "temporary delivery failures, per provider",
            )?,
            fail_by_provider: pc(
                "total_messages_fail_by_provider",
                "messages bounced, per provider",
            )?,
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

    pub(crate) fn scheduled(&self, queue: &str) -> Gauge {
        self.scheduled.get_or_create(&QueueLabel { queue })
    }
    pub(crate) fn ready(&self, queue: &str) -> Gauge {
        self.ready.get_or_create(&QueueLabel { queue })
    }
    pub(crate) fn scheduled_by_provider(&self, provider: &str) -> Gauge {
        self.scheduled_by_provider
            .get_or_create(&ProviderLabel { provider })
    }
    pub(crate) fn delivered(&self, queue: &str, provider: &str) {
        self.delivered.get_or_create(&QueueLabel { queue }).inc();
        self.delivered_by_provider
            .get_or_create(&ProviderLabel { provider })
            .inc();
    }
    pub(crate) fn transfail(&self, queue: &str, provider: &str) {
        self.transfail.get_or_create(&QueueLabel { queue }).inc();
        self.transfail_by_provider
            .get_or_create(&ProviderLabel { provider })
            .inc();
    }
    pub(crate) fn fail(&self, queue: &str, provider: &str) {
        self.fail.get_or_create(&QueueLabel { queue }).inc();
        self.fail_by_provider
            .get_or_create(&ProviderLabel { provider })
            .inc();
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
