//! The composed demo MTA: HTTP injection → scheduler → MX plan → simulated or real SMTP delivery,
//! with metrics, live configuration and a trace stream. `examples/examples/mta.rs` is a thin command line around
//! [`Demo`] and [`selftest()`].
//!
//! | piece | crate |
//! |---|---|
//! | `POST /api/inject/v1` → messages | kumo-inject (router nested into the demo's axum server) |
//! | scheduled queue with the retry schedule | kumo-queue (`Scheduler`, the SingletonTimerWheel strategy) |
//! | MX resolution, cache, connection plan | kumo-dns (`LoopbackDnsServer` with the `.test` zones, `MxCache`, `plan`) |
//! | `/metrics`, `/metrics.json` | kumo-metrics (registry, streamed and compressed router) |
//! | config files, reloaded on change | kumo-config (`ConfigEpoch`, `Layered`, `LiveConfig`; an `EpochCache` of per-domain shaping) |
//! | `/api/trace/v1` | kumo-trace (`TraceHub`, JSON lines; `TracedStream` around every SMTP connection) |
//! | `--deliver smtp` | kumo-smtp (`Client::connect` along the plan, `Connection::send`, reuse per site) |
//! | the spool | kumo-spool (group commit before the `200`, recovery at start) |

mod admission;
mod auth;
mod config;
mod crash;
mod engine;
mod http_server;
mod jobs;
pub mod journal;
mod listener;
mod message;
mod metrics;
mod selftest;
mod sink;
mod smtp;
mod spool;
mod tls;
mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kumo_dns::server::LoopbackDnsServer;
use kumo_dns::{CacheConfig, HickoryOptions, HickoryResolver, MxCache};
use kumo_trace::TraceHub;
use tokio::task::JoinHandle;

pub use config::ConfigLoadError;
pub use crash::{CrashReport, crash_selftest};
pub use http_server::{FileLimits, HttpCounters, HttpInfo, HttpLimits};
pub use selftest::{SelftestReport, selftest};
pub use spool::{Recovery, SpoolOpenError};
pub use tls::TlsError;
pub use web::Status;

use crate::cli::{DeliverTarget, HttpTls, MtaArgs, ProbabilityOverrides};
use crate::ledger::Ledger;
use crate::maildir::{Maildir, MaildirError};
use crate::settings::{Profile, write_defaults};
use engine::Engine;

/// How to start the demo. Build it with struct update syntax from `DemoOptions::default()`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// HTTP listener (port 0 picks a free port). A non-loopback address needs a credential in
    /// `[http.auth]`.
    pub listen: SocketAddr,
    /// HTTPS instead of HTTP.
    pub tls: Option<HttpTls>,
    /// Resolve through this DNS server instead of the in-process `.test` zones.
    pub dns: Option<SocketAddr>,
    /// The config folder; `None` writes the embedded defaults into a temporary folder. A folder
    /// that holds no `*.toml` file gets the defaults written into it.
    pub config: Option<PathBuf>,
    /// Which embedded defaults to write.
    pub profile: Profile,
    /// Where delivered messages are also written, or real SMTP delivery.
    pub deliver: Option<DeliverTarget>,
    /// The port of real SMTP delivery.
    pub smtp_port: u16,
    /// The ESMTP listener's address; `None`: no listener.
    pub smtp_listen: Option<SocketAddr>,
    /// Delivery weights overriding the config files.
    pub probabilities: ProbabilityOverrides,
    /// Seed of the simulation.
    pub seed: u64,
    /// How often the config files are scanned (filesystem events also trigger a scan).
    pub config_scan: Duration,
    /// The spool folder; `None`: [`default_spool_dir`] for the interactive profile, a fresh
    /// temporary folder (removed at shutdown) for the self test.
    pub spool: Option<PathBuf>,
    /// Where the spool keeps its entries.
    pub spool_backend: kumo_spool::BackendKind,
    /// `/metrics` answers OpenMetrics to a scraper that asks for it; off by default, so that
    /// a Prometheus server stores the names `curl /metrics` shows (see
    /// [`kumo_metrics::MetricsRouter::negotiate_openmetrics`]).
    pub metrics_openmetrics: bool,
    /// Fault injection, for tests of the engine's second line of defence: while this file
    /// exists, every delivery attempt panics just before it records its outcome (the engine
    /// catches the panic, counts it in `total_delivery_task_failures` and puts the message back
    /// into the scheduled queue); when the file says `after`, just after it recorded the
    /// outcome instead (the engine counts the panic and leaves the message where the outcome
    /// put it). `None` (the default): no check at all. The `mta` program sets it from the
    /// environment variable [`FAULT_PANIC_FILE_ENV`]; never set it in production.
    pub fault_panic_file: Option<PathBuf>,
}

/// The environment variable that sets [`DemoOptions::fault_panic_file`] for the `mta` program
/// (read by [`DemoOptions::from_args`]): a debugging hook for tests, named so that nobody sets it
/// by accident.
pub const FAULT_PANIC_FILE_ENV: &str = "KUMO_DEMO_FAULT_INJECT_PANIC_WHILE_FILE_EXISTS";

/// The spool folder of `cargo run --example mta` without `--spool`: `kumo-demo-spool` in the
/// system's temporary folder, kept across runs so that a restart recovers what was queued.
pub fn default_spool_dir() -> PathBuf {
    std::env::temp_dir().join("kumo-demo-spool")
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            dns: None,
            config: None,
            profile: Profile::Interactive,
            deliver: None,
            smtp_port: crate::cli::DEFAULT_SMTP_PORT,
            smtp_listen: None,
            probabilities: ProbabilityOverrides::default(),
            seed: 1,
            config_scan: Duration::from_secs(1),
            spool: None,
            spool_backend: kumo_spool::BackendKind::default(),
            metrics_openmetrics: false,
            fault_panic_file: None,
        }
    }
}

impl DemoOptions {
    /// Options from the command line; the self test gets its fast profile and, unless
    /// `--listen` was given, an ephemeral port. [`DemoOptions::fault_panic_file`] comes from
    /// the environment variable [`FAULT_PANIC_FILE_ENV`], when it is set and not empty.
    pub fn from_args(args: &MtaArgs) -> Self {
        let selftest = args.selftest.is_some();
        Self {
            listen: if selftest && !args.listen_given {
                SocketAddr::from(([127, 0, 0, 1], 0))
            } else {
                args.listen
            },
            tls: args.tls.clone(),
            dns: args.dns,
            config: args.config.clone(),
            profile: if selftest && args.deliver == Some(DeliverTarget::Smtp) {
                Profile::SelftestSmtp
            } else if selftest || args.fast {
                Profile::Selftest
            } else {
                Profile::Interactive
            },
            deliver: args.deliver.clone(),
            smtp_port: args.smtp_port,
            smtp_listen: args.smtp_listen,
            probabilities: args.probabilities,
            seed: args.seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            }),
            config_scan: Duration::from_secs(1),
            spool: args.spool.clone(),
            spool_backend: args.spool_backend,
            metrics_openmetrics: args.metrics_openmetrics,
            fault_panic_file: std::env::var_os(FAULT_PANIC_FILE_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// The demo could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Writing the default config files failed.
    #[error("cannot write the default config files into {0}")]
    WriteDefaults(PathBuf, #[source] std::io::Error),
    /// The config files do not load.
    #[error("cannot load the configuration")]
    Config(#[from] ConfigLoadError),
    /// The in-process DNS server did not start.
    #[error("cannot start the in-process DNS server")]
    DnsServer(#[from] kumo_dns::server::ServerError),
    /// The resolver could not be built.
    #[error("cannot create the resolver")]
    Resolver(#[from] kumo_dns::LookupError),
    /// A metric family could not be registered.
    #[error("cannot register the metrics")]
    Metrics(#[from] kumo_metrics::RegisterError),
    /// The Maildir cannot be created.
    #[error("cannot open the maildir")]
    Maildir(#[from] MaildirError),
    /// The SMTP client's settings are refused.
    #[error("cannot configure SMTP delivery")]
    Smtp(#[from] kumo_smtp::ConfigError),
    /// The spool cannot be opened or recovered (for example another demo holds it).
    #[error("cannot use the spool")]
    Spool(#[from] SpoolOpenError),
    /// The spool recovery task failed.
    #[error("spool recovery failed")]
    Recovery(#[source] tokio::task::JoinError),
    /// The HTTP listener cannot bind.
    #[error("cannot listen on {0}")]
    Listen(SocketAddr, #[source] std::io::Error),
    /// `--listen` names a non-loopback address and `[http.auth]` holds no credential.
    #[error("refusing to serve HTTP on {addr} (not loopback) without credentials: {fix}")]
    InsecureListen {
        /// The address.
        addr: SocketAddr,
        /// How to fix it (a token to configure, made for the purpose).
        fix: String,
    },
    /// The HTTP listener's TLS cannot be set up.
    #[error("cannot set up HTTPS")]
    Tls(#[from] TlsError),
    /// The ESMTP listener cannot bind.
    #[error("cannot listen for SMTP on {0}")]
    SmtpListen(SocketAddr, #[source] std::io::Error),
    /// Not called inside a tokio runtime.
    #[error("the demo needs a tokio runtime")]
    Runtime(#[source] kumo_inject::NoRuntime),
    /// A self-test request failed.
    #[error("self-test injection failed")]
    Inject(#[source] crate::http::HttpError),
    /// The self test's final scrape of `/metrics` failed.
    #[error("self-test scrape of /metrics failed")]
    Scrape(#[source] crate::snapshot::SnapshotError),
    /// The injection API answered a self-test request with an error status.
    #[error("self-test injection got HTTP {status}: {body}")]
    InjectStatus {
        /// The status.
        status: u16,
        /// The body, abbreviated.
        body: String,
    },
}

/// A running demo MTA.
#[derive(Debug)]
pub struct Demo {
    engine: Arc<Engine>,
    http: SocketAddr,
    http_info: Arc<HttpInfo>,
    smtp: Option<listener::Listener>,
    dns_server: Option<LoopbackDnsServer>,
    config_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    _spool_temp: Option<tempfile::TempDir>,
    recovery: Recovery,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
    server: Option<JoinHandle<()>>,
    injector: kumo_inject::Injector,
    driver: Option<kumo_queue::driver::Driver<message::Msg>>,
    started: Instant,
}

impl Demo {
    /// Starts the demo: config, DNS, engine tasks and the HTTP server. Must run inside a tokio
    /// runtime with time and I/O enabled.
    ///
    /// # Errors
    /// [`DemoError`] for the piece that could not start.
    pub async fn start(opts: DemoOptions) -> Result<Demo, DemoError> {
        let started = Instant::now();
        let (config_dir, temp) = match &opts.config {
            Some(dir) => {
                let has_toml = std::fs::read_dir(dir).ok().is_some_and(|mut r| {
                    r.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "toml")))
                });
                if !has_toml {
                    std::fs::create_dir_all(dir)
                        .and_then(|()| write_defaults(dir, opts.profile))
                        .map_err(|e| DemoError::WriteDefaults(dir.clone(), e))?;
                }
                (dir.clone(), None)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("kumo-demo-config-")
                    .tempdir()
                    .map_err(|e| DemoError::WriteDefaults(std::env::temp_dir(), e))?;
                write_defaults(t.path(), opts.profile)
                    .map_err(|e| DemoError::WriteDefaults(t.path().to_owned(), e))?;
                (t.path().to_owned(), Some(t))
            }
        };
        let config = config::ConfigSource::open(&config_dir, opts.probabilities, opts.config_scan)?;
        // The HTTP listener's limits are read at start; `[http.auth]` on every request.
        let http_config = config.current().http.clone();
        if !opts.listen.ip().is_loopback() && !http_config.auth.has_credentials() {
            return Err(insecure_listen(
                opts.listen,
                &config_dir,
                opts.config.is_none(),
            ));
        }
        let http_tls = opts.tls.as_ref().map(tls::server_config).transpose()?;
        let http_limits = HttpLimits::new(&http_config, FileLimits::raise());

        let (dns_server, resolver) = match opts.dns {
            Some(addr) => (
                None,
                HickoryResolver::new(&[addr], HickoryOptions::default())?,
            ),
            None => {
                let server = LoopbackDnsServer::start(crate::zones::ZONE_TEXT).await?;
                let resolver = server.resolver(HickoryOptions::default())?;
                (Some(server), resolver)
            }
        };
        // Failures are cached briefly, so that a fixed DNS problem is seen on the next retry.
        let dns = MxCache::new(
            resolver,
            CacheConfig::default().negative_ttl(Duration::from_secs(5)),
        );
        let metrics = metrics::DemoMetrics::new()?;
        let (maildir, smtp) = match &opts.deliver {
            Some(DeliverTarget::Maildir(dir)) => (Some(Maildir::create(dir)?), None),
            Some(DeliverTarget::Smtp) => (None, Some(smtp::SmtpDelivery::new(opts.smtp_port)?)),
            None => (None, None),
        };
        let (spool_dir, spool_temp) = match &opts.spool {
            Some(dir) => (dir.clone(), None),
            None if opts.profile == Profile::Interactive => (default_spool_dir(), None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("kumo-demo-spool-")
                    .tempdir()
                    .map_err(|e| SpoolOpenError::Create(std::env::temp_dir(), e))?;
                (t.path().to_owned(), Some(t))
            }
        };
        let spool = spool::DemoSpool::open(&spool_dir, opts.spool_backend)?;
        let registry = metrics.registry.clone();
        let engine::Started {
            engine,
            driver,
            due_rx,
            ready_rx,
        } = Engine::start(
            config,
            dns,
            metrics,
            Arc::new(Ledger::default()),
            TraceHub::new(),
            maildir,
            smtp,
            spool,
            opts.seed,
            started,
            opts.fault_panic_file.clone(),
        );
        let jobs = Arc::new(jobs::SpoolJobStore::new(engine.spool.spool.clone()));
        let _ = engine.jobs.set(jobs.clone());
        let recovery = recover(&engine, &jobs).await?;
        let tasks = vec![
            tokio::spawn(engine.clone().run_due(due_rx)),
            tokio::spawn(engine.clone().run_housekeeping()),
            tokio::spawn(engine.clone().run_dispatcher(ready_rx)),
        ];

        let smtp = match opts.smtp_listen {
            Some(addr) => Some(
                listener::start(&engine, addr, smtp::EHLO_NAME)
                    .await
                    .map_err(|e| DemoError::SmtpListen(addr, e))?,
            ),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| DemoError::Listen(opts.listen, e))?;
        let (inject, injector) =
            sink::inject_routes(&engine, jobs.clone()).map_err(DemoError::Runtime)?;
        if jobs.len() > 0 {
            // Resumed jobs regenerate only the recipients without a record; a spool failure
            // here leaves them pending for the next start.
            let _ = injector.resume_pending().await;
        }
        let app = web::routes(engine.clone())
            .merge(
                kumo_metrics::MetricsRouter::new(registry)
                    .chunk_size(64 * 1024)
                    .negotiate_openmetrics(opts.metrics_openmetrics)
                    .build(),
            )
            .merge(inject);
        // The listener's own accept loop (limits, shedding, TLS) around the router, with
        // `[http.auth]` as a tower layer over every route.
        let live = engine.clone();
        let auth = auth::Auth::new(Box::new(move || live.config.current()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (http_server, serving) = http_server::serve(
            listener,
            app,
            http_limits,
            http_tls,
            async move {
                let _ = rx.await;
            },
            move |app, info| {
                app.merge(http_server::routes(info))
                    .layer(axum::middleware::from_fn_with_state(auth, auth::authorize))
            },
        )
        .map_err(|e| DemoError::Listen(opts.listen, e))?;
        let (http, http_info) = (http_server.addr, http_server.info);
        let server = tokio::spawn(serving);
        Ok(Demo {
            engine,
            http,
            http_info,
            smtp,
            dns_server,
            config_dir,
            _temp: temp,
            _spool_temp: spool_temp,
            recovery,
            shutdown: Some(tx),
            tasks,
            server: Some(server),
            injector,
            driver: Some(driver),
            started,
        })
    }

    /// The HTTP listener's address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// The HTTP listener's limits in force (file handles included) and what it did.
    pub fn http_info(&self) -> &HttpInfo {
        &self.http_info
    }

    /// The ESMTP listener's address, when `--smtp-listen` was given.
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp.as_ref().map(|l| l.addr)
    }

    /// The in-process DNS server's address (`None` with `--dns`).
    pub fn dns_addr(&self) -> Option<SocketAddr> {
        self.dns_server.as_ref().map(LoopbackDnsServer::addr)
    }

    /// The config folder.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// The spool folder.
    pub fn spool_dir(&self) -> &Path {
        self.engine.spool.dir()
    }

    /// The temporary folders this demo made, which [`Demo::shutdown`] removes: the config folder
    /// the embedded defaults were written into (no [`DemoOptions::config`]), and the spool of
    /// the self-test profile (no [`DemoOptions::spool`]). The interactive profile's default
    /// spool ([`default_spool_dir`]) is not one of them: it is kept, so that a restart recovers
    /// what was queued.
    pub fn temporary_dirs(&self) -> Vec<PathBuf> {
        self._temp
            .iter()
            .chain(&self._spool_temp)
            .map(|t| t.path().to_owned())
            .collect()
    }

    /// What start-up recovered from the spool.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// Counts of the spool since start (stores, syncs, bytes written).
    pub fn spool_stats(&self) -> kumo_spool::SpoolStats {
        self.engine.spool.spool.stats()
    }

    /// The self-test accounting of every message this demo took.
    pub fn ledger(&self) -> &Ledger {
        &self.engine.ledger
    }

    /// Counts and the configuration in force (the same as `GET /api/status`).
    pub fn status(&self) -> Status {
        web::status(&self.engine)
    }

    /// Scans the config files now instead of waiting for the watcher.
    pub fn rescan_config(&self) {
        self.engine.config.scan();
    }

    /// Time since start.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits until every injected message is delivered or bounced, or `timeout` passes.
    /// Returns true when nothing is pending.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        // A timeout too long for an Instant waits for ever.
        let end = Instant::now().checked_add(timeout);
        loop {
            if self.engine.ledger.pending() == 0 {
                return true;
            }
            if end.is_some_and(|end| Instant::now() >= end) {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// What the demo serves and three commands to try, as printed on start.
    pub fn banner(&self) -> String {
        banner(
            self.http,
            &self.http_info,
            self.smtp_addr(),
            self.dns_addr(),
            &self.config_dir,
            self.spool_dir(),
            self.recovery,
        )
    }

    /// Stops the HTTP server, the engine and the DNS server.
    pub async fn shutdown(mut self) {
        self.engine.stopping.store(true, Ordering::Relaxed);
        self.injector.close();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            // Open trace streams never end by themselves: give the others a moment, then stop.
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        if let Some(smtp) = &self.engine.smtp {
            smtp.close_idle(true);
        }
        if let Some(l) = self.smtp.take() {
            l.task.abort();
            let _ = l.task.await;
        }
        if let Some(driver) = self.driver.take() {
            // What is still scheduled is in the spool and comes back at the next start.
            drop(driver.shutdown().await);
        }
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
        if let Some(dns) = self.dns_server.take() {
            dns.shutdown().await;
        }
        // The spool stays locked while anything holds the engine (the injector's workers, a
        // removal on a blocking thread): let them finish, so that a new demo can open it.
        let Demo {
            engine, injector, ..
        } = self;
        drop(injector);
        let end = Instant::now() + Duration::from_secs(10);
        while (Arc::strong_count(&engine) > 1 || Arc::strong_count(&engine.spool) > 1)
            && Instant::now() < end
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Enumerates the spool on a blocking thread and puts every message back; jobs go to the job
/// store. Counts and times it in the metrics.
async fn recover(
    engine: &Arc<Engine>,
    jobs: &Arc<jobs::SpoolJobStore>,
) -> Result<Recovery, DemoError> {
    // Two threads: one reads the spool, the other puts the messages back into the queues.
    const CHUNK: usize = 1024;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<spool::SpooledMessage>>(8);
    let e = engine.clone();
    let requeue = tokio::task::spawn_blocking(move || {
        let now = std::time::SystemTime::now();
        let mut ids = std::collections::HashSet::new();
        while let Ok(chunk) = rx.recv() {
            ids.extend(chunk.iter().map(|m| message::id_key(&m.host.message_id)));
            e.recover(chunk, now);
        }
        ids
    });
    let (e, j) = (engine.clone(), jobs.clone());
    let read = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(CHUNK);
        let r = e.spool.recover(
            |m| {
                chunk.push(m);
                if chunk.len() == CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                    let _ = tx.send(full);
                }
            },
            |id, meta| j.found(id, meta),
        );
        let _ = tx.send(chunk);
        r
    });
    let (rec, ended) = read.await.map_err(DemoError::Recovery)??;
    let recovered_ids = requeue.await.map_err(DemoError::Recovery)?;
    // Only a resumed job needs to recognise message ids it generated before the crash.
    let known = if jobs.len() > 0 {
        let mut k = recovered_ids;
        k.extend(ended.iter().map(|id| message::id_key(id)));
        k
    } else {
        std::collections::HashSet::new()
    };
    *engine.known_ids.lock() = known;
    engine.metrics.spool_recovered.set(rec.messages as i64);
    engine.metrics.spool_recovered_jobs.set(rec.jobs as i64);
    engine
        .metrics
        .spool_recovery_ms
        .set(rec.elapsed.as_millis().min(i64::MAX as u128) as i64);
    Ok(rec)
}

/// Why `--listen` on a non-loopback address is refused, and how to fix it: a token made for
/// the purpose, its SHA-256 for `http.toml`.
fn insecure_listen(addr: SocketAddr, config_dir: &Path, temporary: bool) -> DemoError {
    let token: String = tls::random_bytes::<24>()
        .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .unwrap_or_else(|| "CHOOSE-A-LONG-RANDOM-TOKEN".to_owned());
    let file = if temporary {
        "http.toml of a config folder given with --config DIR (an empty folder gets the \
         defaults written into it)"
            .to_owned()
    } else {
        config_dir.join("http.toml").display().to_string()
    };
    let fix = format!(
        "add a bearer token (or a user) to [http.auth] in {file}, for example\n\n\
         [[http.auth.tokens]]\n\
         name = \"admin\"\n\
         sha256 = \"{hash}\"\n\n\
         and send `Authorization: Bearer {token}`; or listen on loopback (--listen 127.0.0.1:8000)",
        hash = auth::token_sha256_hex(&token),
    );
    DemoError::InsecureListen { addr, fix }
}

/// The start-up text: what the demo serves and three commands to try.
pub fn banner(
    http: SocketAddr,
    http_info: &HttpInfo,
    smtp: Option<SocketAddr>,
    dns: Option<SocketAddr>,
    config_dir: &Path,
    spool_dir: &Path,
    recovery: Recovery,
) -> String {
    let base = format!("{}://{http}", http_info.scheme);
    let l = &http_info.limits;
    let files = |n: Option<u64>| n.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    let http_line = format!(
        "  http      {scheme}; up to {max} connections ({per} per peer; file handles: soft {soft}, hard {hard});\n            \
         timeouts: head {head:.0} s, idle {idle:.0} s, body {body:.0} s (then >= {rate} B/s); GET {base}/api/http\n            \
         [http.auth] in http.toml: loopback needs no credentials, others a token or a user\n",
        scheme = http_info.scheme,
        max = l.max_connections,
        per = l.max_connections_per_peer,
        soft = files(l.files.soft),
        hard = files(l.files.hard),
        head = l.header_timeout.as_secs_f64(),
        idle = l.idle_timeout.as_secs_f64(),
        body = l.body_timeout.as_secs_f64(),
        rate = l.body_min_rate,
    );
    // A self-signed certificate is not one curl can check.
    let curl = if http_info.scheme == "https" {
        "curl -sk"
    } else {
        "curl -s"
    };
    let dns_line = match dns {
        Some(d) => format!(
            "  dns       {d} (in process) serves the .test zones: example.test, gmail.test,\n            \
             googlemail.test, outlook.test, bücher.test, nomx.test (no MX), nullmx.test (null MX)\n"
        ),
        None => "  dns       the resolver given with --dns\n".to_owned(),
    };
    let delivery = config_dir.join("delivery.toml");
    let smtp_line = match smtp {
        Some(a) => format!("  smtp      {a} (ESMTP listener; relay control in listener.toml)\n"),
        None => String::new(),
    };
    format!(
        "kumo demo MTA is running\n\
         \n\
         \x20 inject    POST {base}/api/inject/v1   (KumoMTA's inject v1 JSON)\n\
         \x20 metrics   {base}/metrics   and   {base}/metrics.json   (gzip on Accept-Encoding)\n\
         \x20 trace     {base}/api/trace/v1   (JSON lines; ?terse=true&only_new=true&only_one=true&side=client|server)\n\
         \x20 status    {base}/api/status\n\
         {http_line}\
         {smtp_line}\
         {dns_line}\
         \x20 config    {dir}  (queues.toml, shaping.toml, delivery.toml; edits apply within a second)\n\
         \x20 spool     {spool}  (--spool DIR; recovered {recovered} messages in {secs:.3} s)\n\
         \n\
         Try:\n\
         \n\
         \x20 # 1. inject three messages (templated per recipient)\n\
         \x20 {curl} {base}/api/inject/v1 -H 'content-type: application/json' -d '{{\n\
         \x20   \"envelope_sender\": \"demo@kumo.test\",\n\
         \x20   \"content\": {{\"from\": {{\"email\": \"demo@kumo.test\", \"name\": \"kumo demo\"}},\n\
         \x20               \"subject\": \"Hello {{{{ name }}}}\", \"text_body\": \"Hi {{{{ name }}}}, this is kumo.\"}},\n\
         \x20   \"recipients\": [{{\"email\": \"alice@example.test\", \"name\": \"Alice\"}},\n\
         \x20                  {{\"email\": \"bob@gmail.test\", \"name\": \"Bob\"}},\n\
         \x20                  {{\"email\": \"carl@bücher.test\", \"name\": \"Carl\"}}]}}'\n\
         \n\
         \x20 # 2. watch the counters\n\
         \x20 {curl} {base}/metrics | grep -E '^(total_messages|scheduled_count|ready_count)'\n\
         \n\
         \x20 # 3. make every delivery fail permanently, inject again, and watch total_messages_fail climb\n\
         \x20 sed -i 's/^permanent = .*/permanent = 100.0/' {delivery}\n\
         \n\
         More: cargo run --example top | queue-summary | trace -- --terse   (each takes --url {base})\n",
        dir = config_dir.display(),
        delivery = delivery.display(),
        spool = spool_dir.display(),
        recovered = recovery.messages,
        secs = recovery.elapsed.as_secs_f64(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kumo_inject::{BatchId, Durability, GeneratedMessage, MessageSink};

    fn message(i: u64) -> GeneratedMessage {
        let d = crate::zones::domain_for(i);
        GeneratedMessage {
            id: format!("m{i}"),
            batch_id: BatchId::new("test-batch").unwrap(),
            index: i as u32,
            envelope_sender: "s@kumo.test".into(),
            recipient: format!("u{i}@{}", d.display),
            data: bytes::Bytes::from(format!("Subject: {i}\r\n\r\nhello\r\n")),
            metadata: Default::default(),
            durability: Durability::Immediate,
            smtputf8: false,
            eight_bit: false,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_maildir_holds_the_generated_bytes_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        write_defaults(&config, Profile::Selftest).unwrap();
        let demo = Demo::start(DemoOptions {
            config: Some(config),
            profile: Profile::Selftest,
            deliver: Some(DeliverTarget::Maildir(dir.path().join("md"))),
            probabilities: ProbabilityOverrides::always_deliver(),
            ..DemoOptions::default()
        })
        .await
        .unwrap();
        let sink = sink::EngineSink::new(demo.engine.clone());
        let mut m = message(0);
        m.recipient = "exact@example.test".into();
        m.data =
            bytes::Bytes::from_static(b"Subject: exact\r\nX-Bin: \xfe\xff\r\n\r\nbody\r\n.\r\n");
        let data = m.data.clone();
        let batch = m.batch_id.clone();
        sink.accept(m).unwrap();
        sink.flush(&batch).unwrap();
        assert!(demo.wait_idle(Duration::from_secs(30)).await);
        let files: Vec<_> = std::fs::read_dir(dir.path().join("md/new"))
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(
            std::fs::read(files[0].as_ref().unwrap().path()).unwrap(),
            data
        );
        demo.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_message_ends_once_with_retries() {
        let demo = Demo::start(DemoOptions {
            profile: Profile::Selftest,
            ..DemoOptions::default()
        })
        .await
        .unwrap();
        let sink = sink::EngineSink::new(demo.engine.clone());
        let n = 2000;
        for i in 0..n {
            sink.accept(message(i)).unwrap();
        }
        sink.flush(&BatchId::new("test-batch").unwrap()).unwrap();
        assert!(
            demo.wait_idle(Duration::from_secs(60)).await,
            "pending: {}",
            demo.ledger().pending()
        );
        let s = demo.ledger().summary(Some(n), demo.uptime());
        assert!(s.balanced(), "{s}");
        assert!(
            s.retries > 0,
            "the default weights make retries happen: {s}"
        );
        assert!(s.bounced > 0, "nullmx.test and nxdomain.test bounce: {s}");
        assert_eq!(demo.status().scheduled, 0);
        demo.shutdown().await;
    }
}
