//! Real delivery (`--deliver smtp`): kumo-smtp's client walks the connection plan over real TCP,
//! every connection wrapped in kumo-trace's traced stream, and healthy connections wait per
//! site (the set of MX host names, so domains that share MX hosts share connections) to carry
//! the next message.
//!
//! One connection is one traced session (`{queue}#{n}`): `BeginSession` before it connects, the
//! bytes both ways, the disposition of each message it carries, `Closed` when it ends. A
//! connection is reused while the server keeps answering and it is under kumo-smtp's
//! per-connection message limit; one left idle longer than the client's idle timeout is closed
//! with `QUIT` by the housekeeping task. The per-domain connection limit (shaping.toml's
//! `connection_limit`) holds because a connection is only ever used by a session holding one of
//! the domain's permits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kumo_smtp::{
    Attempt, AttemptResult, Client, ClientConfig, ConnectFailed, Connection, Delivery, Io, Outcome,
    Phase, Target,
};
use kumo_trace::{ConnMeta, Level, Payload, SessionKey, Side, TraceHub, TracedStream, Tracer};
use parking_lot::Mutex;
use tokio::net::TcpStream;

/// The name the demo announces in `EHLO`.
pub(crate) const EHLO_NAME: &str = "demo.kumo.test";

/// A live connection; its stream carries the tracer of its session.
pub(crate) type Live = Connection<TracedStream<Io>>;

/// An idle connection and when it became idle.
struct Idle {
    live: Live,
    since: Instant,
}

/// The SMTP side of the engine: the client, the destination port and the idle connections.
pub(crate) struct SmtpDelivery {
    client: Client,
    port: u16,
    idle_timeout: Duration,
    connect_timeout: Duration,
    idle: Mutex<HashMap<Arc<str>, Vec<Idle>>>,
}

impl std::fmt::Debug for SmtpDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpDelivery")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl SmtpDelivery {
    /// A client with kumo-smtp's defaults (opportunistic STARTTLS without certificate checks,
    /// as Postfix does for MX delivery; RFC 5321 timeouts) connecting to `port`.
    pub(crate) fn new(port: u16) -> Result<Self, kumo_smtp::ConfigError> {
        let config = ClientConfig::default().ehlo_name(EHLO_NAME);
        let idle_timeout = config.timeouts.idle;
        let connect_timeout = config.timeouts.connect;
        Ok(Self {
            client: Client::new(config)?,
            port,
            idle_timeout,
            connect_timeout,
            idle: Mutex::new(HashMap::new()),
        })
    }

    /// The plan's addresses as targets on the SMTP port.
    pub(crate) fn targets<'a>(
        &self,
        plan: impl IntoIterator<Item = (&'a str, std::net::IpAddr)>,
    ) -> Vec<Target> {
        plan.into_iter()
            .map(|(host, ip)| Target {
                host: host.trim_end_matches('.').to_owned(),
                addr: SocketAddr::new(ip, self.port),
            })
            .collect()
    }

    /// An idle connection to `site`, the one used last first.
    pub(crate) fn take_idle(&self, site: &str) -> Option<Live> {
        let mut idle = self.idle.lock();
        let list = idle.get_mut(site)?;
        let found = list.pop().map(|i| i.live);
        if list.is_empty() {
            idle.remove(site);
        }
        found
    }

    /// Keeps a healthy connection for the site's next message.
    pub(crate) fn put_back(&self, site: Arc<str>, live: Live) {
        self.idle.lock().entry(site).or_default().push(Idle {
            live,
            since: Instant::now(),
        });
    }

    /// Closes (with `QUIT`, in the background) the connections idle longer than the idle
    /// timeout, or all of them when `all`.
    pub(crate) fn close_idle(&self, all: bool) -> usize {
        let now = Instant::now();
        let mut closing = Vec::new();
        self.idle.lock().retain(|_, list| {
            let mut i = 0;
            while i < list.len() {
                if all || now.duration_since(list[i].since) >= self.idle_timeout {
                    closing.push(list.swap_remove(i).live);
                } else {
                    i += 1;
                }
            }
            !list.is_empty()
        });
        let n = closing.len();
        for live in closing {
            tokio::spawn(quit(live));
        }
        n
    }

    /// Connects along `targets`, one traced session per attempt (numbered from `sessions`);
    /// on success the connection and every attempt.
    pub(crate) async fn connect(
        &self,
        hub: &TraceHub,
        queue: &str,
        targets: &[Target],
        sessions: &AtomicU64,
    ) -> Result<(Live, Vec<Attempt>), ConnectFailed> {
        let connect_timeout = self.connect_timeout;
        let open = |t: &Target| {
            let n = sessions.fetch_add(1, Ordering::Relaxed);
            let meta = Arc::new(
                ConnMeta::new()
                    .with_peer(t.addr)
                    .with_label(ConnMeta::DOMAIN, queue)
                    .with_label(ConnMeta::QUEUE, queue)
                    .with_label(ConnMeta::MX_HOST, t.host.as_str()),
            );
            let tracer = Tracer::new(
                hub.clone(),
                Side::Client,
                SessionKey::new(format!("{queue}#{n}")),
            )
            .with_meta(meta);
            tracer.publish(Payload::BeginSession);
            let (addr, host) = (t.addr, t.host.clone());
            async move {
                let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
                    .await
                    .unwrap_or_else(|_| {
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "connect timed out",
                        ))
                    });
                match tcp {
                    Ok(tcp) => {
                        // Commands are written whole; Nagle would only delay them.
                        let _ = tcp.set_nodelay(true);
                        Ok(TracedStream::new(Io::new(tcp), tracer))
                    }
                    Err(e) => {
                        tracer.publish_with(|| Payload::Diagnostic {
                            level: Level::Warn,
                            message: format!("connection to {host} [{addr}] failed: {e}"),
                        });
                        tracer.publish(Payload::Closed);
                        Err(e)
                    }
                }
            }
        };
        self.client.connect(targets, open).await
    }
}

/// Whether an attempt got as far as a TCP connection (for the per-address connection metrics).
pub(crate) fn connected(attempt: &Attempt) -> bool {
    !matches!(
        attempt.result,
        AttemptResult::ConnectFailed(_) | AttemptResult::Timeout(Phase::Connect)
    )
}

/// Whether a reused connection failed before the server accepted anything of the message: no
/// answer (or a `421`) to the `RSET` that starts a reused connection's transaction, or to the
/// `MAIL` written with it. Sending again on a new connection cannot duplicate the message.
pub(crate) fn went_stale(delivery: &Delivery) -> bool {
    delivery.outcome == Outcome::Transient
        && !delivery.possible_duplicate
        && delivery
            .error
            .as_ref()
            .and_then(|e| e.phase())
            .is_some_and(|p| matches!(p, Phase::Rset | Phase::MailFrom))
}

/// Ends a connection politely.
pub(crate) async fn quit(live: Live) {
    live.quit().await;
}
