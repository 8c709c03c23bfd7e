//! The demo's message flow: ready queue → MX resolution and plan → simulated session or real SMTP
//! delivery (`smtp.rs`) → delivered, bounced, or back into the scheduled queue (one
//! `SingletonTimerWheel` scheduler for every queue, ticked by kumo-queue's tokio driver) on the
//! config's retry schedule.
//!
//! Retry delays and message ages are in simulated seconds ([`SimClock`]); a delay is turned into
//! a real due time when the message is scheduled, so the driver runs on real time and its pop
//! tardiness is real.
//!
//! Nothing accepted is lost to a fault of the engine's own code: each delivery attempt runs
//! under [`Engine::attempt`], which catches a panic of the attempt and, unless the message had
//! already left the attempt's hands (ended, scheduled, or made ready again), puts it back into
//! the scheduled queue as a temporary failure, counted in `total_delivery_task_failures`. Every
//! conversion of a configured number into a duration or a due time saturates instead of
//! panicking.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::FutureExt;
use kumo_dns::{FamilyPolicy, HickoryResolver, MxCache, PlanPolicy};
use kumo_queue::driver::{Driver, DriverHandle};
use kumo_queue::{DueBatch, ScheduleError, Scheduler};
use kumo_smtp::{Envelope, Outcome};
use kumo_spool::{SpoolError, SpoolId};
use kumo_trace::{
    ConnMeta, Disposition as Traced, Level, MessageDisposition, Payload, SessionKey, Side,
    TraceHub, Tracer,
};
use parking_lot::Mutex;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{Semaphore, mpsc};

use super::admission::Held;
use super::config::ConfigSource;
use super::jobs::SpoolJobStore;
use super::journal::Ending as End;
use super::message::{Msg, NewMsg};
use super::metrics::DemoMetrics;
use super::smtp::SmtpDelivery;
use super::spool::{DemoSpool, SpooledMessage};
use crate::clock::SimClock;
use crate::delivery::{AttemptResult, Disposition, simulate};
use crate::ledger::Ledger;
use crate::maildir::Maildir;
use crate::settings::{AddressFamily, RetryDecision};
use crate::zones::provider_of;

/// The bytes of message data `msg` holds in memory, as admission counts them: taken when the
/// engine takes the message, released when it ends (its data is never replaced in between).
fn resident(msg: &Msg) -> usize {
    msg.data.as_ref().map_or(0, Bytes::len)
}

/// Sessions at once across all queues.
const GLOBAL_SESSIONS: usize = 512;

/// The longest real wait before a retry, whatever the config says: a slow clock and a long
/// retry interval delay a message by at most this (and keep every due time representable).
const MAX_REAL_WAIT: Duration = Duration::from_secs(30 * 86_400);

/// What one delivery attempt has done with its message, for [`Engine::attempt`], which runs it:
/// whether the message has left the attempt's hands (ended, scheduled, or made ready again),
/// and the spool entry a deferral stored for it.
#[derive(Debug, Default)]
struct Custody {
    released: AtomicBool,
    spool_id: Mutex<Option<SpoolId>>,
}

tokio::task_local! {
    /// The custody of the delivery attempt running on this task; not set outside
    /// [`Engine::attempt`] (injection, recovery, the due-batch task), where nothing is tracked.
    static CUSTODY: Arc<Custody>;
}

/// Marks the current attempt's message as handed on: from here on, a failure of the attempt
/// must not put it back (it would end twice, or be queued twice).
fn released() {
    let _ = CUSTODY.try_with(|c| c.released.store(true, Ordering::Release));
}

/// Remembers the spool entry a deferral of the current attempt stored, so that a message put
/// back after a failure of the attempt keeps it (and is not stored a second time).
fn stored(id: SpoolId) {
    let _ = CUSTODY.try_with(|c| *c.spool_id.lock() = Some(id));
}

/// A copy of a message for [`Engine::attempt`] to put back if its attempt fails: the envelope
/// strings are copied, the data is shared.
fn copy_of(msg: &Msg) -> Msg {
    Msg {
        seq: msg.seq,
        id: msg.id.clone(),
        queue: msg.queue.clone(),
        sender: msg.sender.clone(),
        recipient: msg.recipient.clone(),
        data: msg.data.clone(),
        injected_ms: msg.injected_ms,
        injected_unix_ms: msg.injected_unix_ms,
        failures: msg.failures,
        provider: msg.provider.clone(),
        spool_id: msg.spool_id,
    }
}

/// Where a test's fault injection makes a delivery attempt panic ([`Engine::fault_point`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultAt {
    /// After the session, before its outcome is recorded: the message must go back.
    BeforeOutcome,
    /// After the outcome is recorded (ended, or scheduled for a retry): the message must not
    /// go back, or it would end twice.
    AfterOutcome,
}

/// The text of a caught panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}

/// Simulated milliseconds as the signed count `Msg::injected_ms` holds (saturating).
fn signed(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Per-queue session limits: the configured limit and its semaphore.
type SessionLimits = HashMap<Arc<str>, (u32, Arc<Semaphore>)>;

/// How a session ended for its message, for the trace: the disposition and its detail.
type Ending = (Traced, String);

/// A new engine and the pieces its tasks consume.
pub(crate) struct Started {
    pub(crate) engine: Arc<Engine>,
    pub(crate) driver: Driver<Msg>,
    pub(crate) due_rx: mpsc::UnboundedReceiver<DueBatch<Msg>>,
    pub(crate) ready_rx: mpsc::UnboundedReceiver<Msg>,
}

/// What the engine shares between its tasks.
pub(crate) struct Engine {
    pub(crate) sched: DriverHandle<Msg>,
    pub(crate) clock: Mutex<SimClock>,
    pub(crate) config: ConfigSource,
    pub(crate) dns: MxCache<HickoryResolver>,
    pub(crate) metrics: DemoMetrics,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) trace: TraceHub,
    pub(crate) maildir: Option<Arc<Maildir>>,
    /// Real delivery (`--deliver smtp`); `None`: simulated.
    pub(crate) smtp: Option<SmtpDelivery>,
    pub(crate) spool: Arc<DemoSpool>,
    /// Message ids held in the spool or ended before a crash, while deferred jobs resume (so
    /// a recipient offered again is not taken twice); empty otherwise.
    pub(crate) known_ids: Mutex<HashSet<u128>>,
    /// The `deferred_generation` jobs, set once at start.
    pub(crate) jobs: std::sync::OnceLock<Arc<SpoolJobStore>>,
    /// The messages taken and not yet ended, and their bytes in memory: what admission limits.
    pub(crate) held: Held,
    ready_tx: mpsc::UnboundedSender<Msg>,
    rng: Mutex<StdRng>,
    limits: Mutex<SessionLimits>,
    global: Arc<Semaphore>,
    sessions: AtomicU64,
    pub(crate) stopping: AtomicBool,
    /// Fault injection for tests ([`super::DemoOptions::fault_panic_file`]): while this file
    /// exists, every delivery attempt panics just before it records its outcome.
    fault_panic_file: Option<PathBuf>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    #[allow(
        clippy::too_many_arguments,
        reason = "one constructor wires the whole engine"
    )]
    pub(crate) fn start(
        config: ConfigSource,
        dns: MxCache<HickoryResolver>,
        metrics: DemoMetrics,
        ledger: Arc<Ledger>,
        trace: TraceHub,
        maildir: Option<Maildir>,
        smtp: Option<SmtpDelivery>,
        spool: DemoSpool,
        seed: u64,
        start: Instant,
        fault_panic_file: Option<PathBuf>,
    ) -> Started {
        let cfg = config.current();
        let clock = SimClock::new(start, cfg.clock.speedup);
        // The scheduler runs on real time: its tick is the configured simulated tick, sped up
        // (saturating: the config bounds both numbers, and a bad one falls back to 1 s).
        let tick = clock
            .real_duration(cfg.clock.tick_ms.max(1))
            .max(Duration::from_millis(1));
        let sched = Scheduler::with_tick(tick).unwrap_or_else(|_| Scheduler::new());
        let tardiness = metrics.tardiness.clone();
        let (driver, due_rx) = Driver::builder(sched)
            .on_tardiness(move |late| tardiness.observe(late.as_secs_f64()))
            .spawn_channel();
        let (ready_tx, ready_rx) = mpsc::unbounded_channel();
        let engine = Arc::new(Self {
            sched: driver.handle(),
            clock: Mutex::new(clock),
            config,
            dns,
            metrics,
            ledger,
            trace,
            maildir: maildir.map(Arc::new),
            smtp,
            spool: Arc::new(spool),
            known_ids: Mutex::new(HashSet::new()),
            jobs: std::sync::OnceLock::new(),
            held: Held::default(),
            ready_tx,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            limits: Mutex::new(HashMap::new()),
            global: Arc::new(Semaphore::new(GLOBAL_SESSIONS)),
            sessions: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            fault_panic_file,
        });
        Started {
            engine,
            driver,
            due_rx,
            ready_rx,
        }
    }

    /// Simulated milliseconds now.
    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.lock().sim_ms(Instant::now())
    }

    /// Takes a new message: counts it (ledger and admission) and hands it to the ready queue.
    pub(crate) fn accept(&self, new: NewMsg) {
        self.held.take(new.data.len());
        let msg = Msg {
            seq: self.ledger.injected(),
            id: new.id,
            queue: new.queue,
            sender: new.sender,
            recipient: new.recipient,
            data: Some(new.data),
            injected_ms: signed(self.now_ms()),
            injected_unix_ms: new.injected_unix_ms,
            failures: 0,
            provider: None,
            spool_id: new.spool_id,
        };
        self.metrics.injected.inc();
        self.make_ready(msg);
    }

    /// Puts messages found in the spool at start back: into the ready queue when they are due,
    /// into the scheduled queue otherwise (under one lock for the whole chunk), with their
    /// attempts so far.
    pub(crate) fn recover(&self, chunk: Vec<SpooledMessage>, now: SystemTime) {
        let speedup = self.clock.lock().speedup();
        let now_ms = signed(self.now_ms());
        let sched_now = self.sched.now();
        let mut queues: HashMap<String, Arc<str>> = HashMap::new();
        let mut due_later = Vec::with_capacity(chunk.len());
        for SpooledMessage { id, meta, host } in chunk {
            let injected = std::time::UNIX_EPOCH
                .checked_add(Duration::from_millis(host.injected_unix_ms))
                .unwrap_or(now);
            let real_age = now.duration_since(injected).unwrap_or_default();
            let sim_age_ms =
                (real_age.as_secs_f64() * 1000.0 * speedup).min(i64::MAX as f64) as i64;
            let queue = match queues.get(&meta.queue) {
                Some(q) => q.clone(),
                None => {
                    let q: Arc<str> = Arc::from(meta.queue.as_str());
                    queues.insert(meta.queue, q.clone());
                    q
                }
            };
            let msg = Msg {
                seq: self.ledger.injected(),
                id: host.message_id,
                queue,
                sender: meta.sender,
                recipient: meta.recipients.into_iter().next().unwrap_or_default(),
                data: None,
                injected_ms: now_ms.saturating_sub(sim_age_ms),
                injected_unix_ms: host.injected_unix_ms,
                failures: meta.attempts,
                provider: None,
                spool_id: Some(id),
            };
            self.held.take(resident(&msg));
            match meta.due.and_then(|due| due.duration_since(now).ok()) {
                // A due time too far to represent is refused by the scheduler: ready at once.
                Some(wait) if !wait.is_zero() => {
                    due_later.push((msg, sched_now.saturating_add(wait)));
                }
                _ => self.make_ready(msg),
            }
        }
        let mut counts: HashMap<Arc<str>, i64> = HashMap::new();
        let refused = self
            .sched
            .with(|s| {
                let mut refused = Vec::new();
                for (msg, due) in due_later {
                    let queue = msg.queue.clone();
                    match s.schedule_named(&queue, msg, due) {
                        Ok(_) => *counts.entry(queue).or_default() += 1,
                        Err(rejected) => refused.push(rejected.message),
                    }
                }
                refused
            })
            .unwrap_or_default();
        for (queue, n) in counts {
            self.metrics.scheduled(&queue).add(n);
        }
        for msg in refused {
            self.make_ready(msg);
        }
    }

    fn make_ready(&self, msg: Msg) {
        released();
        self.metrics.ready(&msg.queue).inc();
        if let Err(mpsc::error::SendError(msg)) = self.ready_tx.send(msg) {
            // The dispatcher is gone (shutting down): the message stays unaccounted, which the
            // ledger reports as pending.
            self.metrics.ready(&msg.queue).dec();
        }
    }

    /// The session limit of a queue, following the config's `connection_limit`.
    fn limit_for(&self, queue: &Arc<str>, limit: u32) -> Arc<Semaphore> {
        let mut g = self.limits.lock();
        match g.get(queue) {
            Some((l, s)) if *l == limit => s.clone(),
            _ => {
                let s = Arc::new(Semaphore::new(limit as usize));
                g.insert(queue.clone(), (limit, s.clone()));
                s
            }
        }
    }

    /// Moves the batches the driver pops into the ready queue.
    pub(crate) async fn run_due(self: Arc<Self>, mut due: mpsc::UnboundedReceiver<DueBatch<Msg>>) {
        while let Some(batch) = due.recv().await {
            for item in batch.into_items() {
                let msg = item.message;
                self.metrics.scheduled(&msg.queue).dec();
                if let Some(p) = &msg.provider {
                    self.metrics.scheduled_by_provider(p).dec();
                }
                self.ledger.due(msg.seq);
                self.make_ready(msg);
            }
        }
    }

    /// Follows the config (speed of simulated time) and refreshes the gauges that mirror other
    /// components' state, until the engine stops.
    pub(crate) async fn run_housekeeping(self: Arc<Self>) {
        let mut last_error: Option<String> = None;
        while !self.stopping.load(Ordering::Relaxed) {
            let cfg = self.config.current();
            self.clock
                .lock()
                .set_speedup(Instant::now(), cfg.clock.speedup);
            let error = self.config.last_error();
            if error.is_some() && error != last_error {
                self.metrics.config_errors.inc();
            }
            last_error = error;
            self.metrics
                .config_epoch
                .set(self.config.loaded_epoch().unwrap_or(0) as i64);
            let st = self.spool.spool.stats();
            let m = &self.metrics;
            m.spool_live.set(self.spool.live());
            m.sweep_series(&cfg.metrics, Instant::now());
            m.spool_bytes_written.set(st.bytes_written as i64);
            m.spool_syncs.set(st.syncs as i64);
            m.spool_groups.set(st.groups as i64);
            m.spool_quarantined.set(st.quarantined as i64);
            m.spool_remove_errors
                .set(self.spool.remove_errors.load(Ordering::Relaxed) as i64);
            if let Some(smtp) = &self.smtp {
                smtp.close_idle(false);
            }
            let stats = self.dns.stats();
            self.metrics.dns_hits.set(stats.hits as i64);
            self.metrics.dns_misses.set(stats.misses as i64);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts a session task for each ready message, within the session limits.
    pub(crate) async fn run_dispatcher(self: Arc<Self>, mut ready: mpsc::UnboundedReceiver<Msg>) {
        while let Some(msg) = ready.recv().await {
            let limit = self.config.shaping(&msg.queue).connection_limit;
            let per_queue = self.limit_for(&msg.queue, limit);
            let global = self.global.clone();
            let engine = self.clone();
            tokio::spawn(async move {
                let Ok(_g) = global.acquire_owned().await else {
                    return;
                };
                let Ok(_q) = per_queue.acquire_owned().await else {
                    return;
                };
                engine.metrics.ready(&msg.queue).dec();
                engine.attempt(msg).await;
            });
        }
    }

    /// One delivery attempt of `msg`, guarded: a panic anywhere in the attempt is caught here,
    /// counted in `total_delivery_task_failures` and traced, and the message, unless it had
    /// already been handed on (ended, scheduled, or made ready again), goes back to the
    /// scheduled queue as a temporary failure. So a bug delays a message; it neither loses it
    /// nor ends it twice.
    async fn attempt(self: &Arc<Self>, msg: Msg) {
        let backup = copy_of(&msg);
        let custody = Arc::new(Custody::default());
        let run = CUSTODY.scope(custody.clone(), self.deliver(msg));
        let Err(payload) = AssertUnwindSafe(run).catch_unwind().await else {
            return;
        };
        let why = format!("delivery task failed: {}", panic_text(&*payload));
        self.attempt_failed(backup, &custody, why).await;
    }

    /// After a failed attempt: count and trace the failure, then put the message back into
    /// the scheduled queue (a temporary failure with the retry schedule's delay; a fault of
    /// the demo never makes a message expire) unless the attempt had handed it on already.
    async fn attempt_failed(&self, mut msg: Msg, custody: &Custody, why: String) {
        self.metrics.delivery_task_failures.inc();
        let handed_on = custody.released.load(Ordering::Acquire);
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        let tracer = Tracer::new(
            self.trace.clone(),
            Side::Client,
            SessionKey::new(format!("{}#{n}", msg.queue)),
        );
        tracer.publish(Payload::BeginSession);
        tracer.publish(Payload::Diagnostic {
            level: Level::Error,
            message: if handed_on {
                format!("{why} (after the message was handed on)")
            } else {
                format!("451 4.3.0 {why}: the message goes back to the scheduled queue")
            },
        });
        tracer.publish(Payload::Closed);
        if handed_on {
            return;
        }
        if let Some(id) = *custody.spool_id.lock() {
            msg.spool_id = Some(id);
        }
        let provider = msg.provider.clone().unwrap_or_else(|| msg.queue.clone());
        self.metrics.transfail(&msg.queue, &provider);
        msg.failures = msg.failures.saturating_add(1);
        let delay = self.config.current().retry.delay(msg.failures);
        self.wait_for_retry(msg, provider, delay).await;
    }

    /// Fault injection for tests: panics at `at` while the file named by
    /// [`super::DemoOptions::fault_panic_file`] exists (at [`FaultAt::AfterOutcome`] when the
    /// file says `after`, at [`FaultAt::BeforeOutcome`] otherwise).
    fn fault_point(&self, at: FaultAt) {
        let Some(file) = &self.fault_panic_file else {
            return;
        };
        let Ok(text) = std::fs::read_to_string(file) else {
            return;
        };
        let wanted = if text.trim() == "after" {
            FaultAt::AfterOutcome
        } else {
            FaultAt::BeforeOutcome
        };
        if wanted == at {
            panic!("fault injection: {} exists ({at:?})", file.display());
        }
    }

    /// One message: resolve, plan, then a simulated session or a real SMTP delivery; then
    /// deliver, bounce or defer.
    async fn deliver(self: &Arc<Self>, mut msg: Msg) {
        // The queue's series are not retired while a session of it is in flight.
        let _in_flight = self.metrics.in_flight(&msg.queue);
        let cfg = self.config.current();
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        let tracer = Tracer::new(
            self.trace.clone(),
            Side::Client,
            SessionKey::new(format!("{}#{n}", msg.queue)),
        )
        .with_meta(Arc::new(
            ConnMeta::new()
                .with_label(ConnMeta::DOMAIN, msg.queue.to_string())
                .with_label(ConnMeta::QUEUE, msg.queue.to_string()),
        ));
        // The message's own session opens at its first event: in SMTP mode only a message that
        // ends before it reaches a connection has one (the connections have theirs).
        let begun = AtomicBool::new(false);
        let trace = |p: Payload| {
            if !begun.swap(true, Ordering::Relaxed) {
                tracer.publish(Payload::BeginSession);
            }
            tracer.publish(p);
        };
        if self.smtp.is_none() && !cfg.delivery.latency().is_zero() {
            tokio::time::sleep(cfg.delivery.latency()).await;
        }
        let data = match self.data_of(&msg).await {
            Ok(data) => data,
            Err(e) => {
                self.metrics.spool_errors.inc();
                let gone = matches!(e, SpoolError::NotFound(_) | SpoolError::Corrupt { .. });
                let reason = format!(
                    "{} spool: {}",
                    if gone { "554 5.3.0" } else { "451 4.3.0" },
                    super::config::error_chain(&e)
                );
                trace(Payload::Diagnostic {
                    level: Level::Error,
                    message: reason.clone(),
                });
                let provider = msg.queue.clone();
                self.end_early(msg, provider, reason, gone, &trace).await;
                return;
            }
        };

        let mx = match self.dns.resolve(&msg.queue).await {
            Ok(mx) => mx,
            Err(e) => {
                let provider: Arc<str> = msg.queue.clone();
                let (code, status) = e.smtp_status();
                let reason = format!("{code} {status} {}", super::config::error_chain(&e));
                trace(Payload::Diagnostic {
                    level: Level::Warn,
                    message: reason.clone(),
                });
                self.end_early(msg, provider, reason, e.is_permanent(), &trace)
                    .await;
                return;
            }
        };
        let provider: Arc<str> = match mx.hosts().first() {
            Some(h) => Arc::from(provider_of(h.name())),
            None => msg.queue.clone(),
        };
        let shaping = self.config.shaping(&msg.queue);
        let family = match shaping.address_family {
            AddressFamily::V4Only => FamilyPolicy::V4Only,
            AddressFamily::V6Only => FamilyPolicy::V6Only,
            AddressFamily::V4First => FamilyPolicy::V4First,
            AddressFamily::V6First => FamilyPolicy::V6First,
            _ => FamilyPolicy::Both,
        };
        let policy = PlanPolicy::default()
            .family(family)
            .max_addresses(shaping.max_addresses as usize);
        // The plan's steps borrow the host names from the resolution: nothing is copied.
        let queue = msg.queue.clone();
        let steps: Vec<(&str, std::net::IpAddr)> = {
            let mut rng = self.rng.lock();
            kumo_dns::plan(&mx, &policy, &mut *rng)
                .iter()
                .map(|a| {
                    let host = a.host_name(&mx).unwrap_or(&queue);
                    (host.trim_end_matches('.'), a.addr().ip())
                })
                .collect()
        };
        if let Some(smtp) = &self.smtp {
            // The site: domains with the same MX hosts share their idle connections.
            let hosts: Vec<&str> = mx
                .hosts()
                .iter()
                .map(|h| h.name().trim_end_matches('.'))
                .collect();
            let site: Arc<str> = Arc::from(hosts.join(","));
            self.deliver_smtp(smtp, msg, data, (provider, site), &steps, &trace)
                .await;
            return;
        }
        let outcome = simulate(
            steps.iter().copied(),
            &cfg.delivery.probabilities(),
            &mut *self.rng.lock(),
        );
        for attempt in &outcome.attempts {
            let addr = attempt.addr.to_string();
            let connected = !matches!(attempt.result, AttemptResult::ConnectFailed);
            self.metrics.connection(&attempt.host, &addr, connected);
            if !connected {
                trace(Payload::Diagnostic {
                    level: Level::Warn,
                    message: format!("connection to {} [{addr}] failed (simulated)", attempt.host),
                });
                continue;
            }
            trace(Payload::Connected);
            trace(Payload::read(format!(
                "220 {} ESMTP simulated\r\n",
                attempt.host
            )));
            trace(Payload::write(format!("MAIL FROM:<{}>\r\n", msg.sender)));
            trace(Payload::read("250 2.1.0 OK\r\n"));
            trace(Payload::write(format!("RCPT TO:<{}>\r\n", msg.recipient)));
            if outcome.disposition == Disposition::Delivered {
                trace(Payload::read("250 2.1.5 OK\r\n"));
                trace(Payload::write("DATA\r\n"));
                trace(Payload::read("354 go ahead\r\n"));
                trace(Payload::write(String::from_utf8_lossy(&data).into_owned()));
            }
            trace(Payload::read(format!("{}\r\n", outcome.response)));
            trace(Payload::write("QUIT\r\n"));
        }
        if outcome.attempts.is_empty() {
            trace(Payload::Diagnostic {
                level: Level::Warn,
                message: outcome.response.clone(),
            });
        }
        self.fault_point(FaultAt::BeforeOutcome);
        let who = self.who(&msg);
        let ending = match outcome.disposition {
            Disposition::Delivered => match self.store(&data).await {
                Err(e) => {
                    self.metrics.maildir_errors.inc();
                    let reason = format!("451 4.3.0 {}", super::config::error_chain(&e));
                    trace(Payload::Diagnostic {
                        level: Level::Error,
                        message: reason.clone(),
                    });
                    self.defer(msg, provider, &reason).await
                }
                _ => {
                    self.metrics.delivered(&msg.queue, &provider);
                    self.finish(&msg, End::Delivered);
                    (Traced::Delivered, outcome.response)
                }
            },
            Disposition::Permanent => self.bounce(msg, &provider, outcome.response),
            _ => {
                msg.provider = Some(provider.clone());
                self.defer(msg, provider, &outcome.response).await
            }
        };
        self.trace_ending(&trace, who, ending);
        trace(Payload::Closed);
        self.fault_point(FaultAt::AfterOutcome);
    }

    /// Real delivery: an idle connection to the site (the MX host set) or a new one along the
    /// plan, then one SMTP transaction; the message's disposition goes into the connection's
    /// session.
    ///
    /// A reused connection that turns out to be dead before the server accepted anything (the
    /// server closed it while it was idle: the `RSET` or `MAIL` got no answer) is not held
    /// against the message: it is sent once more on a new connection.
    async fn deliver_smtp(
        &self,
        smtp: &SmtpDelivery,
        mut msg: Msg,
        data: Bytes,
        (provider, site): (Arc<str>, Arc<str>),
        steps: &[(&str, std::net::IpAddr)],
        trace: &impl Fn(Payload),
    ) {
        let envelope = Envelope {
            sender: msg.sender.clone(),
            recipients: vec![msg.recipient.clone()],
        };
        let mut reused = smtp.take_idle(&site);
        let (live, delivery) = loop {
            let (mut live, was_idle) = match reused.take() {
                Some(live) => (live, true),
                None => {
                    let targets = smtp.targets(steps.iter().copied());
                    let connected = smtp
                        .connect(&self.trace, &msg.queue, &targets, &self.sessions)
                        .await;
                    match connected {
                        Ok((live, attempts)) => {
                            self.count_attempts(&attempts);
                            (live, false)
                        }
                        Err(failed) => {
                            self.count_attempts(&failed.attempts);
                            let reason = format!("451 4.4.1 {failed}");
                            trace(Payload::Diagnostic {
                                level: Level::Warn,
                                message: reason.clone(),
                            });
                            msg.provider = Some(provider.clone());
                            self.end_early(msg, provider, reason, false, trace).await;
                            return;
                        }
                    }
                }
            };
            let delivery = live.send(&envelope, &data).await;
            if was_idle && super::smtp::went_stale(&delivery) {
                continue; // dropping `live` closes its session
            }
            break (live, delivery);
        };
        self.fault_point(FaultAt::BeforeOutcome);
        let who = self.who(&msg);
        let tracer = live.get_ref().tracer().clone();
        if live.can_send() {
            smtp.put_back(site, live);
        } else {
            tokio::spawn(super::smtp::quit(live));
        }
        if delivery.possible_duplicate {
            self.metrics.possible_duplicates.inc();
        }
        let reply = delivery.reply.to_string();
        let ending = match delivery.outcome {
            Outcome::Delivered => {
                self.metrics.delivered(&msg.queue, &provider);
                self.finish(&msg, End::Delivered);
                (Traced::Delivered, reply)
            }
            Outcome::Permanent => self.bounce(msg, &provider, reply),
            _ => {
                msg.provider = Some(provider.clone());
                self.defer(msg, provider, &reply).await
            }
        };
        self.trace_ending(&|p| tracer.publish(p), who, ending);
        self.fault_point(FaultAt::AfterOutcome);
    }

    /// Counts each connection attempt per MX host and address.
    fn count_attempts(&self, attempts: &[kumo_smtp::Attempt]) {
        for a in attempts {
            let addr = a.target.addr.ip().to_string();
            self.metrics
                .connection(&a.target.host, &addr, super::smtp::connected(a));
        }
    }

    /// Writes a delivered message into the Maildir, when there is one, off the async threads
    /// (each file is flushed to disk).
    async fn store(&self, data: &Bytes) -> Result<(), crate::maildir::MaildirError> {
        let Some(md) = self.maildir.clone() else {
            return Ok(());
        };
        let data = data.clone();
        match tokio::task::spawn_blocking(move || md.deliver(&data)).await {
            Ok(r) => r.map(drop),
            Err(join) => Err(crate::maildir::MaildirError::Task(join.to_string())),
        }
    }

    /// The message's id, sender, recipient and queue, copied only when somebody traces.
    fn who(&self, msg: &Msg) -> Option<MessageDisposition> {
        self.trace.has_subscribers().then(|| MessageDisposition {
            id: msg.id.clone(),
            disposition: Traced::Obtained,
            sender: msg.sender.clone(),
            recipients: vec![msg.recipient.clone()],
            queue: Some(msg.queue.to_string()),
            detail: None,
        })
    }

    fn trace_ending(
        &self,
        trace: &impl Fn(Payload),
        who: Option<MessageDisposition>,
        ending: Ending,
    ) {
        if let Some(mut m) = who {
            m.disposition = ending.0;
            m.detail = Some(ending.1);
            trace(Payload::MessageDisposition(Box::new(m)));
        }
    }

    fn bounce(&self, msg: Msg, provider: &str, reason: String) -> Ending {
        self.metrics.fail(&msg.queue, provider);
        self.finish(&msg, End::Bounced);
        (Traced::Bounced, reason)
    }

    /// Ends a session before any attempt (spool or DNS failure): bounce or defer, then trace
    /// the ending and the close.
    async fn end_early(
        &self,
        msg: Msg,
        provider: Arc<str>,
        reason: String,
        permanent: bool,
        trace: &impl Fn(Payload),
    ) {
        let who = self.who(&msg);
        let ending = if permanent {
            self.bounce(msg, &provider, reason)
        } else {
            self.defer(msg, provider, &reason).await
        };
        self.trace_ending(trace, who, ending);
        trace(Payload::Closed);
    }

    /// The message's data: in memory, or loaded from the spool (a recovered message).
    async fn data_of(&self, msg: &Msg) -> Result<Bytes, SpoolError> {
        if let Some(d) = &msg.data {
            return Ok(d.clone());
        }
        let Some(id) = msg.spool_id else {
            return Ok(Bytes::new());
        };
        let spool = self.spool.clone();
        tokio::task::spawn_blocking(move || spool.load(id))
            .await
            .unwrap_or_else(|_| Err(SpoolError::Interrupted))
    }

    /// A message ended: count it in the ledger, journal it (the commit point), then remove its
    /// spool entry. Every ending passes here: admission releases it here too, and the attempt
    /// that ends it no longer holds it ([`released`]).
    fn finish(&self, msg: &Msg, ending: End) {
        released();
        match ending {
            End::Delivered => self.ledger.delivered(msg.seq),
            End::Bounced => self.ledger.bounced(msg.seq),
        };
        self.held.release(resident(msg));
        if self.spool.journal(ending, &msg.id, &msg.recipient).is_err() {
            self.metrics.spool_errors.inc();
        }
        let Some(id) = msg.spool_id else {
            // A `deferred_spool` message that ended without ever being written.
            self.metrics.deferred_unspooled.inc();
            return;
        };
        self.spool.remove(id);
    }

    /// Writes a deferral to the spool before the message waits: the first one stores a
    /// `deferred_spool` message (synced), later ones update the attempts and due time.
    async fn persist_deferral(&self, msg: &mut Msg, due: SystemTime) {
        let spool = self.spool.clone();
        let meta = msg.spool_metadata(due);
        let (id, data) = (msg.spool_id, msg.data.clone());
        let r = tokio::task::spawn_blocking(move || match id {
            Some(id) => spool.update(id, &meta).map(|()| id),
            None => spool.store(data.unwrap_or_default(), &meta),
        })
        .await;
        match r {
            Ok(Ok(id)) => {
                msg.spool_id = Some(id);
                stored(id);
            }
            // The message waits in memory all the same; the error is counted.
            _ => self.metrics.spool_errors.inc(),
        }
    }

    /// A temporary failure: retry on the schedule, or bounce when the message would expire.
    async fn defer(&self, mut msg: Msg, provider: Arc<str>, reason: &str) -> Ending {
        self.metrics.transfail(&msg.queue, &provider);
        let cfg = self.config.current();
        msg.failures = msg.failures.saturating_add(1);
        let now_ms = signed(self.now_ms());
        let age = now_ms.saturating_sub(msg.injected_ms).max(0) as f64 / 1000.0;
        let delay = match cfg.retry.decide(msg.failures, age) {
            RetryDecision::RetryAfter(d) => d,
            _ => {
                let why = format!("expired after {} attempts: {reason}", msg.failures);
                return self.bounce(msg, &provider, why);
            }
        };
        self.wait_for_retry(msg, provider, delay).await;
        (Traced::Deferred, format!("retry in {delay} s: {reason}"))
    }

    /// Writes the deferral to the spool and puts the message into the scheduled queue, due in
    /// `delay` simulated seconds (a real wait of at most [`MAX_REAL_WAIT`]). Never ends the
    /// message: one the scheduler refuses waits on a timer of its own instead, or, while the
    /// demo shuts down, stays in the spool for the next start.
    async fn wait_for_retry(&self, mut msg: Msg, provider: Arc<str>, delay: f64) {
        let wait = self
            .clock
            .lock()
            .real_duration_secs(delay)
            .min(MAX_REAL_WAIT);
        let due = self.sched.now().saturating_add(wait);
        msg.provider = Some(provider.clone());
        let due_at = SystemTime::now()
            .checked_add(wait)
            .unwrap_or_else(SystemTime::now);
        self.persist_deferral(&mut msg, due_at).await;
        let queue = msg.queue.clone();
        let seq = msg.seq;
        self.ledger.deferred(seq);
        match self.sched.schedule(&queue, msg, due) {
            Ok(_) => {
                released();
                self.metrics.scheduled(&queue).inc();
                self.metrics.scheduled_by_provider(&provider).inc();
            }
            Err(rejected) if rejected.is_due_now() => {
                self.ledger.due(seq);
                self.make_ready(rejected.message);
            }
            Err(rejected) if rejected.reason == ScheduleError::Stopped => {
                // Shutting down: the deferral is in the spool, and the next start recovers it.
                released();
            }
            Err(rejected) => self.retry_outside_scheduler(rejected.message, wait),
        }
    }

    /// A message the scheduler refused (its due time out of the wheel's range, the scheduler
    /// full): it waits on a timer task of its own, then goes to the ready queue.
    fn retry_outside_scheduler(&self, msg: Msg, wait: Duration) {
        released();
        let (ready, metrics, ledger) = (
            self.ready_tx.clone(),
            self.metrics.clone(),
            self.ledger.clone(),
        );
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            ledger.due(msg.seq);
            metrics.ready(&msg.queue).inc();
            if let Err(mpsc::error::SendError(msg)) = ready.send(msg) {
                metrics.ready(&msg.queue).dec();
            }
        });
    }
}
