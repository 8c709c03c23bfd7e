//! The demo's configuration: the embedded default files, their typed form, and the retry schedule.
//!
//! The demo reads every `*.toml` file of its config folder and merges them; each file may hold any of the sections below, and a section left out keeps
//! its default. The embedded defaults split them over three files so that each one is easy to edit
//! while the demo runs:
//!
//! | file | sections | what an edit changes |
//! |---|---|---|
//! | `queues.toml` | `[retry]`, `[clock]` | the retry schedule of deferred messages, the speed of simulated time |
//! | `shaping.toml` | `[shaping.default]`, `[shaping.domains."DOMAIN"]` | sessions at once per domain, address family, addresses per plan |
//! | `delivery.toml` | `[delivery]` | the weights of the simulated answers and the session latency |
//! | `listener.toml` | `[listener]` | who may relay through the ESMTP listener (`--smtp-listen`) |
//! | `admission.toml` | `[admission]` | how much may be pending in memory before new mail is refused (HTTP 503, SMTP 452) |
//! | `http.toml` | `[http]`, `[http.auth]` | the HTTP listener's timeouts and connection caps (at start), who may call which endpoint (live) |
//! | `observability.toml` | `[trace]`, `[metrics]` | trace streams at once and per-stream buffer (live), per-queue series cap and idle retirement (live) |

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use kumo_config::KeyPath;
use serde::{Deserialize, Serialize};

use crate::delivery::Probabilities;

/// The merged configuration of the demo.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// The retry schedule.
    pub retry: RetryConfig,
    /// Simulated time.
    pub clock: ClockConfig,
    /// Per-domain traffic shaping.
    pub shaping: ShapingConfig,
    /// The simulated delivery stage.
    pub delivery: DeliveryConfig,
    /// Relay control of the ESMTP listener.
    pub listener: ListenerConfig,
    /// The HTTP listener's limits and who may call which endpoint.
    pub http: HttpConfig,
    /// Limits on what may be pending in memory.
    pub admission: AdmissionConfig,
    /// Limits of the trace stream (`GET /api/trace/v1`).
    pub trace: TraceConfig,
    /// Bounds on the per-queue and per-provider metric series.
    pub metrics: MetricsConfig,
}

/// The `[trace]` section: limits of `GET /api/trace/v1`, so that clients that never read
/// cannot hold memory or slow delivery (kumo-trace's `TraceHubConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceConfig {
    /// Trace streams at once; one more is answered `503` with `Retry-After`.
    pub max_subscribers: usize,
    /// Bytes of events one stream may have waiting (beyond it, the oldest are dropped and
    /// counted in a lag notice).
    pub buffer_bytes: usize,
    /// A stream whose buffer stays full without a read for this long is dropped: its last line
    /// is a lag notice, and its place frees.
    pub stall_timeout_ms: u64,
}

impl Default for TraceConfig {
    fn default() -> Self {
        Self {
            max_subscribers: 64,
            buffer_bytes: 64 * 1024,
            stall_timeout_ms: 10_000,
        }
    }
}

/// The `[metrics]` section: bounds on the per-queue (and per-provider) series of `/metrics`.
///
/// A queue's series are retired once it has had nothing scheduled, ready or in a session for
/// `idle_series_ms`: its counters then start again from zero if it comes back (Prometheus
/// reads that as a counter reset). Beyond `max_queue_series` queues with series of their own,
/// further queues are counted together under `queue="(overflow)"` (and providers under
/// `provider="(overflow)"`) until their own series are retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Queues (and, separately, providers) with series of their own at once.
    pub max_queue_series: usize,
    /// How long an idle queue keeps its series, in real milliseconds.
    pub idle_series_ms: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            max_queue_series: 10_000,
            idle_series_ms: 300_000,
        }
    }
}

/// The `[admission]` section: beyond these limits new mail is refused until deliveries make
/// room (HTTP `503` with `Retry-After`, SMTP `452 4.3.1` at `MAIL` and `RCPT`), and
/// `deferred_generation` jobs already accepted wait.
///
/// "Pending" is every message the demo took and has not yet delivered or bounced: ready, in a
/// session, or scheduled for a retry (the ledger's pending count); its bytes are the message
/// data those messages hold in memory (a message recovered from the spool holds none until its
/// attempt loads it).
///
/// The defaults are sized for the machine the demo is measured on (2 cores, 24 GiB), to keep
/// the demo within about 5 GiB, a fifth of it: a pending message costs up to 8 KiB of RSS
/// besides its data while it waits in the ready queue for a session (its session task is
/// spawned already) and about 2 KiB once scheduled for a retry (measured in
/// `examples/README.md`), so 500,000 messages are at most 4 GiB, plus 1 GiB of data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Pending messages at which new mail is refused.
    pub max_pending_messages: u64,
    /// Bytes of pending message data in memory at which new mail is refused.
    pub max_pending_bytes: u64,
    /// The `Retry-After` of a refused HTTP request, in seconds.
    pub retry_after_secs: u64,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            max_pending_messages: 500_000,
            max_pending_bytes: 1 << 30,
            retry_after_secs: 1,
        }
    }
}

/// The `[listener]` section: relay control of the ESMTP listener, as KumoMTA's defaults.
///
/// A peer whose address is in `relay_hosts` may send to any domain; any other peer only to the
/// domains in `relay_domains` (A-labels, lowercase); other recipients get `550 5.7.1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerConfig {
    /// Networks whose peers may relay anywhere (default: loopback only).
    pub relay_hosts: Vec<kumo_trace::Cidr>,
    /// Domains that accept mail from any peer (default: none).
    pub relay_domains: Vec<String>,
}

/// `127.0.0.0/8` and `::1/128`: the networks trusted by default, for relaying and for the HTTP
/// API.
fn loopback_networks() -> Vec<kumo_trace::Cidr> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    [
        kumo_trace::Cidr::new(Ipv4Addr::LOCALHOST.into(), 8),
        kumo_trace::Cidr::new(Ipv6Addr::LOCALHOST.into(), 128),
    ]
    .into_iter()
    .flatten()
    .collect()
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            relay_hosts: loopback_networks(),
            relay_domains: Vec::new(),
        }
    }
}

impl ListenerConfig {
    /// Whether `peer` may send to `domain` (an A-label).
    pub fn may_relay(&self, peer: std::net::IpAddr, domain: &str) -> bool {
        // `Cidr::contains` takes an IPv4 peer seen through an IPv6 socket as IPv4.
        self.relay_hosts.iter().any(|n| n.contains(peer))
            || self
                .relay_domains
                .iter()
                .any(|d| d.trim_end_matches('.').eq_ignore_ascii_case(domain))
    }
}

/// When deferred messages are retried, in simulated seconds (KumoMTA's `retry_interval`,
/// `max_retry_interval`, `max_age`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Delay before the first retry.
    pub interval: f64,
    /// The delay doubles after each temporary failure, up to this.
    pub max_interval: f64,
    /// A message whose next retry would come later than this after its injection bounces as
    /// expired instead.
    pub max_age: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            interval: 15.0,
            max_interval: 120.0,
            max_age: 900.0,
        }
    }
}

/// What to do with a message after its `failures`-th temporary failure.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum RetryDecision {
    /// Retry after this many simulated seconds.
    RetryAfter(f64),
    /// Give up: the next retry would be past `max_age`.
    Expire,
}

impl RetryConfig {
    /// The delay before retry number `failures` (1 for the first retry):
    /// `min(interval * 2^(failures-1), max_interval)`.
    pub fn delay(&self, failures: u32) -> f64 {
        let doublings = failures.saturating_sub(1).min(62);
        (self.interval * (1u64 << doublings) as f64).min(self.max_interval)
    }

    /// Decides between a retry and expiry for a message of age `age` (simulated seconds since
    /// injection) that just had its `failures`-th temporary failure.
    ///
    /// # Examples
    /// ```
    /// use kumo_examples::settings::{RetryConfig, RetryDecision};
    /// let r = RetryConfig { interval: 10.0, max_interval: 40.0, max_age: 100.0 };
    /// assert_eq!(r.decide(1, 0.0), RetryDecision::RetryAfter(10.0));
    /// assert_eq!(r.decide(3, 30.0), RetryDecision::RetryAfter(40.0));
    /// assert_eq!(r.decide(4, 70.0), RetryDecision::Expire);
    /// ```
    pub fn decide(&self, failures: u32, age: f64) -> RetryDecision {
        let delay = self.delay(failures);
        if age + delay > self.max_age {
            RetryDecision::Expire
        } else {
            RetryDecision::RetryAfter(delay)
        }
    }
}

/// How fast simulated time runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockConfig {
    /// Simulated seconds per real second (1 = real time). The self test runs at 600, so a
    /// 15-second retry takes 25 ms.
    pub speedup: f64,
    /// The scheduler's tick in simulated milliseconds: due times are rounded up to it. Read at
    /// start (a running scheduler keeps its tick).
    pub tick_ms: u64,
}

impl Default for ClockConfig {
    fn default() -> Self {
        Self {
            speedup: 1.0,
            tick_ms: 1000,
        }
    }
}

/// Which address families a connection plan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AddressFamily {
    /// IPv4 and IPv6, in the order the planner shuffled them.
    #[default]
    Both,
    /// IPv4 only.
    V4Only,
    /// IPv6 only.
    V6Only,
    /// IPv4 addresses first.
    V4First,
    /// IPv6 addresses first.
    V6First,
}

/// Shaping for one destination domain; unset fields fall back to `[shaping.default]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Shaping {
    /// Sessions at once to this domain.
    pub connection_limit: Option<u32>,
    /// Address families used by the connection plan.
    pub address_family: Option<AddressFamily>,
    /// The most addresses one session's plan walks.
    pub max_addresses: Option<u32>,
}

/// Shaping resolved for one domain: every field set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveShaping {
    /// Sessions at once to this domain.
    pub connection_limit: u32,
    /// Address families used by the connection plan.
    pub address_family: AddressFamily,
    /// The most addresses one session's plan walks.
    pub max_addresses: u32,
}

/// The `[shaping]` section.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShapingConfig {
    /// Applies to every domain.
    pub default: Shaping,
    /// Per-domain overrides, keyed by the domain's A-label form.
    pub domains: BTreeMap<String, Shaping>,
}

impl ShapingConfig {
    /// The shaping that applies to `domain`.
    pub fn for_domain(&self, domain: &str) -> EffectiveShaping {
        let over = self.domains.get(domain).copied().unwrap_or_default();
        EffectiveShaping {
            connection_limit: over
                .connection_limit
                .or(self.default.connection_limit)
                .unwrap_or(32),
            address_family: over
                .address_family
                .or(self.default.address_family)
                .unwrap_or_default(),
            max_addresses: over
                .max_addresses
                .or(self.default.max_addresses)
                .unwrap_or(8),
        }
    }
}

/// The `[delivery]` section.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Weight of a successful answer.
    pub success: f64,
    /// Weight of a temporary failure.
    pub transient: f64,
    /// Weight of a permanent failure.
    pub permanent: f64,
    /// Probability that one connection attempt fails.
    pub connect_failure: f64,
    /// Real milliseconds one simulated session takes.
    pub latency_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let p = Probabilities::default();
        Self {
            success: p.success,
            transient: p.transient,
            permanent: p.permanent,
            connect_failure: p.connect_failure,
            latency_ms: 20,
        }
    }
}

impl DeliveryConfig {
    /// The answer weights.
    pub fn probabilities(&self) -> Probabilities {
        Probabilities {
            success: self.success,
            transient: self.transient,
            permanent: self.permanent,
            connect_failure: self.connect_failure,
        }
    }

    /// The session latency.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

/// The `[http]` section: the HTTP listener's limits (read at start) and `[http.auth]`, who may
/// call which endpoint (read on every request, so an edit applies to the next request).
///
/// Times are in real seconds. The defaults keep an idle or slow client from holding a
/// connection for long, and the connection caps below the process's file-handle limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// How long a client may take to send a request's head, from its first byte (and, on a new
    /// connection, from the accept; the TLS handshake included).
    pub header_timeout: f64,
    /// How long a kept-alive connection may wait for the first byte of its next request.
    pub idle_timeout: f64,
    /// The longest wait for the next piece of a request body; also the grace period before
    /// `body_min_rate` applies.
    pub body_timeout: f64,
    /// How long a response may make no progress (the client reads nothing and the kernel's
    /// buffer is full) before the connection is closed.
    pub write_timeout: f64,
    /// Bytes per second a request body must average once `body_timeout` has passed (0: no
    /// minimum).
    pub body_min_rate: u64,
    /// Connections at once in all; capped at start below the file-handle limit.
    pub max_connections: usize,
    /// Connections at once from one peer address.
    pub max_connections_per_peer: usize,
    /// The largest request head (request line and headers), in bytes (at least 8192).
    pub max_header_bytes: usize,
    /// The largest body of the routes other than injection (whose limit is kumo-inject's
    /// 2 MiB), in bytes.
    pub max_body_bytes: usize,
    /// The kernel's send buffer of each connection (`SO_SNDBUF`), in bytes (0: the kernel's
    /// own sizing, which grows to `tcp_wmem`'s maximum, 4 MiB, for a client that does not
    /// read). Bounds what a stream to a client that stopped reading can hold.
    pub send_buffer_bytes: usize,
    /// Who may call which endpoint.
    pub auth: HttpAuthConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_timeout: 10.0,
            idle_timeout: 30.0,
            body_timeout: 10.0,
            write_timeout: 30.0,
            body_min_rate: 4096,
            max_connections: 4096,
            max_connections_per_peer: 256,
            max_header_bytes: 64 * 1024,
            max_body_bytes: 64 * 1024,
            send_buffer_bytes: 256 * 1024,
            auth: HttpAuthConfig::default(),
        }
    }
}

/// A group of HTTP endpoints that `[http.auth]` grants together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /api/inject/v1`.
    Inject,
    /// `/metrics` and `/metrics.json`.
    Metrics,
    /// `/`, `/api/status`, `/api/http` and any other path.
    Status,
    /// `/api/trace/v1`.
    Trace,
}

impl Endpoint {
    /// Every endpoint group.
    pub const ALL: [Endpoint; 4] = [
        Endpoint::Inject,
        Endpoint::Metrics,
        Endpoint::Status,
        Endpoint::Trace,
    ];

    /// The group of a request path.
    ///
    /// # Examples
    /// ```
    /// use kumo_examples::settings::Endpoint;
    /// assert_eq!(Endpoint::of_path("/api/inject/v1"), Endpoint::Inject);
    /// assert_eq!(Endpoint::of_path("/metrics.json"), Endpoint::Metrics);
    /// assert_eq!(Endpoint::of_path("/api/injection"), Endpoint::Status);
    /// ```
    pub fn of_path(path: &str) -> Endpoint {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/api/inject") {
            Endpoint::Inject
        } else if path == "/metrics" || path == "/metrics.json" {
            Endpoint::Metrics
        } else if under("/api/trace") {
            Endpoint::Trace
        } else {
            Endpoint::Status
        }
    }

    fn all() -> Vec<Endpoint> {
        Endpoint::ALL.to_vec()
    }
}

/// The `[http.auth]` section: a peer in `trusted` may call every endpoint without credentials;
/// a peer in one of `open`'s lists may call that endpoint group without credentials; anyone
/// else needs a bearer token from `tokens` or HTTP basic credentials from `users`.
///
/// ```toml
/// [http.auth]
/// trusted = ["127.0.0.0/8", "::1/128"]
/// open = { metrics = ["10.1.0.0/16"] }   # the monitoring subnet scrapes without credentials
///
/// [[http.auth.tokens]]                    # Authorization: Bearer TOKEN
/// name = "ci"
/// sha256 = "<hex SHA-256 of TOKEN>"       # printf %s "$TOKEN" | sha256sum
/// endpoints = ["inject"]                  # default: all
///
/// [[http.auth.users]]                     # Authorization: Basic (curl -u ops:PASSWORD)
/// name = "ops"
/// password = "$argon2id$v=19$m=19456,t=2,p=1$..."  # printf %s PASSWORD | argon2 SALT -id -e
/// endpoints = ["metrics", "status", "trace"]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpAuthConfig {
    /// Networks whose peers may call every endpoint without credentials (default: loopback).
    pub trusted: Vec<kumo_trace::Cidr>,
    /// Networks whose peers may call one endpoint group without credentials.
    pub open: OpenEndpoints,
    /// Bearer tokens, stored as their SHA-256.
    pub tokens: Vec<TokenCredential>,
    /// Users of HTTP basic authentication, with argon2 password hashes.
    pub users: Vec<UserCredential>,
}

impl Default for HttpAuthConfig {
    fn default() -> Self {
        Self {
            trusted: loopback_networks(),
            open: OpenEndpoints::default(),
            tokens: Vec::new(),
            users: Vec::new(),
        }
    }
}

impl HttpAuthConfig {
    /// Whether any credential is configured (a token or a user).
    pub fn has_credentials(&self) -> bool {
        !self.tokens.is_empty() || !self.users.is_empty()
    }
}

/// `[http.auth.open]`: per endpoint group, the networks that may call it without credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenEndpoints {
    /// Who may inject without credentials.
    pub inject: Vec<kumo_trace::Cidr>,
    /// Who may scrape `/metrics` without credentials (a monitoring subnet).
    pub metrics: Vec<kumo_trace::Cidr>,
    /// Who may read the status pages without credentials.
    pub status: Vec<kumo_trace::Cidr>,
    /// Who may follow the trace stream without credentials.
    pub trace: Vec<kumo_trace::Cidr>,
}

impl OpenEndpoints {
    /// The networks open for `endpoint`.
    pub fn for_endpoint(&self, endpoint: Endpoint) -> &[kumo_trace::Cidr] {
        match endpoint {
            Endpoint::Inject => &self.inject,
            Endpoint::Metrics => &self.metrics,
            Endpoint::Status => &self.status,
            Endpoint::Trace => &self.trace,
        }
    }
}

/// One bearer token of `[[http.auth.tokens]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenCredential {
    /// A name for the status page.
    pub name: String,
    /// The token's SHA-256, 64 hexadecimal digits (shown as `redacted` in `/api/status`).
    #[serde(serialize_with = "redacted")]
    pub sha256: String,
    /// The endpoint groups this token may call (default: all).
    #[serde(default = "Endpoint::all")]
    pub endpoints: Vec<Endpoint>,
}

/// One user of `[[http.auth.users]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCredential {
    /// The user name of HTTP basic authentication (no `:`).
    pub name: String,
    /// The password's argon2 hash as a PHC string (`$argon2id$v=19$m=...`; shown as
    /// `redacted` in `/api/status`).
    #[serde(serialize_with = "redacted")]
    pub password: String,
    /// The endpoint groups this user may call (default: all).
    #[serde(default = "Endpoint::all")]
    pub endpoints: Vec<Endpoint>,
}

fn redacted<S: serde::Serializer>(_: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("redacted")
}

/// A number as the error messages print it: integers as they are, floats in their shortest
/// form (`0.001`, `120`), in scientific notation when very small or very large (`1e-20`,
/// `1e300`), and TOML's spelling for the special values (`nan`, `inf`, `-inf`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Num {
    /// An integer setting.
    Int(u64),
    /// A floating-point setting.
    Float(f64),
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Num::Int(n) => write!(f, "{n}"),
            Num::Float(x) if x.is_nan() => f.write_str("nan"),
            Num::Float(x) if x.is_infinite() => f.write_str(if x > 0.0 { "inf" } else { "-inf" }),
            Num::Float(x) if x == 0.0 || (1e-4..1e16).contains(&x.abs()) => write!(f, "{x}"),
            Num::Float(x) => write!(f, "{x:e}"),
        }
    }
}

/// What is wrong with one setting (the key is in [`ConfigError`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A number below the setting's minimum.
    #[error("{value} is below the minimum {min}")]
    BelowMinimum {
        /// The value found.
        value: Num,
        /// The smallest value allowed.
        min: Num,
    },
    /// A number above the setting's maximum.
    #[error("{value} is above the maximum {max}")]
    AboveMaximum {
        /// The value found.
        value: Num,
        /// The largest value allowed.
        max: Num,
    },
    /// A number that must stay below a bound it reached.
    #[error("{value} is not below {bound}")]
    NotBelow {
        /// The value found.
        value: Num,
        /// The bound, excluded.
        bound: Num,
    },
    /// NaN or an infinity where a finite number is needed.
    #[error("{value} is not a finite number")]
    NotFinite {
        /// The value found.
        value: Num,
    },
    /// A negative weight.
    #[error("{value} is negative")]
    Negative {
        /// The value found.
        value: Num,
    },
    /// A number above another setting it must not exceed.
    #[error("{value} is above {other} = {limit}")]
    AboveOther {
        /// The value found.
        value: Num,
        /// The other setting's key.
        other: &'static str,
        /// The other setting's value.
        limit: Num,
    },
    /// Every answer weight of `[delivery]` is zero.
    #[error("success, transient and permanent are all 0: at least one must be above 0")]
    AllWeightsZero,
    /// A string setting that is not in the form it must have.
    #[error("must be {expected}")]
    Malformed {
        /// What the setting must be.
        expected: &'static str,
    },
}

impl Problem {
    /// Whether the problem is about the setting's value (printed as `key = value ...`).
    fn has_value(&self) -> bool {
        !matches!(self, Problem::AllWeightsZero | Problem::Malformed { .. })
    }
}

/// A configuration that parses but cannot run: the key at fault (as TOML spells it:
/// `clock.speedup`, `shaping.domains."gmail.test".connection_limit`) and what is wrong with its
/// value. Permanent until the files change.
///
/// The config loader names the file that set the key in front of it:
/// `queues.toml: clock.speedup: 1e-20 is below the minimum 0.001`.
///
/// # Examples
/// ```
/// use kumo_examples::settings::DemoConfig;
/// let mut c = DemoConfig::default();
/// c.clock.speedup = 1e-20;
/// let e = c.validate().unwrap_err();
/// assert_eq!(e.key().to_string(), "clock.speedup");
/// assert_eq!(e.to_string(), "clock.speedup = 1e-20 is below the minimum 0.001");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    key: KeyPath,
    problem: Problem,
}

impl ConfigError {
    /// An error about the setting at `key`.
    pub fn new(key: KeyPath, problem: Problem) -> Self {
        Self { key, problem }
    }

    /// The key at fault.
    pub fn key(&self) -> &KeyPath {
        &self.key
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.problem.has_value() {
            write!(f, "{} = {}", self.key, self.problem)
        } else {
            write!(f, "{}: {}", self.key, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The key `section.field` (or deeper), as a [`KeyPath`].
fn key(path: &[&str]) -> KeyPath {
    KeyPath::from_keys(path.iter().copied())
}

/// Checks that the float at `at` is finite and within `[min, max]`.
fn check_float(at: KeyPath, value: f64, min: f64, max: f64) -> Result<(), ConfigError> {
    let problem = if !value.is_finite() {
        Problem::NotFinite {
            value: Num::Float(value),
        }
    } else if value < min {
        Problem::BelowMinimum {
            value: Num::Float(value),
            min: Num::Float(min),
        }
    } else if value > max {
        Problem::AboveMaximum {
            value: Num::Float(value),
            max: Num::Float(max),
        }
    } else {
        return Ok(());
    };
    Err(ConfigError::new(at, problem))
}

/// Checks that the integer at `at` is within `[min, max]`.
fn check_int(at: KeyPath, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    let problem = if value < min {
        Problem::BelowMinimum {
            value: Num::Int(value),
            min: Num::Int(min),
        }
    } else if value > max {
        Problem::AboveMaximum {
            value: Num::Int(value),
            max: Num::Int(max),
        }
    } else {
        return Ok(());
    };
    Err(ConfigError::new(at, problem))
}

/// A `usize` setting as a `u64` (saturating; no platform has a wider `usize`).
fn wide(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The longest retry delay, in simulated seconds: a year.
pub const MAX_RETRY_SECS: f64 = 31_536_000.0;
/// The longest `max_age`, in simulated seconds: 10^10, about 317 years (it is only compared,
/// never turned into a duration).
pub const MAX_AGE_SECS: f64 = 1e10;
/// The slowest and fastest simulated time.
pub const SPEEDUP_RANGE: (f64, f64) = (0.001, 1_000_000.0);
/// The largest delivery weight (so that their sum stays finite and meaningful).
pub const MAX_WEIGHT: f64 = 1e9;

impl HttpConfig {
    /// Checks what serde cannot: timeouts and caps within their ranges, well-formed hashes.
    ///
    /// Ranges: the timeouts 0.001 to 86,400 s; `body_min_rate` up to 1 GiB/s; the connection
    /// caps 1 to 1,000,000; `max_header_bytes` 8192 to 64 MiB; `max_body_bytes` and
    /// `send_buffer_bytes` up to 1 GiB.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key at fault (under `http.`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, t) in [
            ("header_timeout", self.header_timeout),
            ("idle_timeout", self.idle_timeout),
            ("body_timeout", self.body_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            check_float(key(&["http", name]), t, 0.001, 86_400.0)?;
        }
        check_int(
            key(&["http", "body_min_rate"]),
            self.body_min_rate,
            0,
            1 << 30,
        )?;
        for (name, v, min, max) in [
            ("max_connections", self.max_connections, 1, 1_000_000),
            (
                "max_connections_per_peer",
                self.max_connections_per_peer,
                1,
                1_000_000,
            ),
            ("max_header_bytes", self.max_header_bytes, 8192, 64 << 20),
            ("max_body_bytes", self.max_body_bytes, 0, 1 << 30),
            ("send_buffer_bytes", self.send_buffer_bytes, 0, 1 << 30),
        ] {
            check_int(key(&["http", name]), wide(v), min, max)?;
        }
        let at = |list: &str, i: usize, field: &str| {
            KeyPath::from_keys(["http", "auth", list])
                .index(i)
                .key(field)
        };
        for (i, t) in self.auth.tokens.iter().enumerate() {
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ConfigError::new(
                    at("tokens", i, "sha256"),
                    Problem::Malformed {
                        expected: "64 hexadecimal digits",
                    },
                ));
            }
        }
        for (i, u) in self.auth.users.iter().enumerate() {
            if u.name.is_empty() || u.name.contains(':') {
                return Err(ConfigError::new(
                    at("users", i, "name"),
                    Problem::Malformed {
                        expected: "non-empty and hold no ':'",
                    },
                ));
            }
            let ok = argon2::PasswordHash::new(&u.password)
                .is_ok_and(|h| h.algorithm.as_str().starts_with("argon2"));
            if !ok {
                return Err(ConfigError::new(
                    at("users", i, "password"),
                    Problem::Malformed {
                        expected: "an argon2 hash ($argon2id$v=19$...)",
                    },
                ));
            }
        }
        Ok(())
    }

    /// A validated timeout of this section (seconds) as a [`Duration`].
    pub fn duration(secs: f64) -> Duration {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_secs(1))
    }
}

impl DeliveryConfig {
    /// Checks the weights (finite, 0 to 1e9, not all 0), `connect_failure` (in `[0, 1)`) and
    /// `latency_ms` (up to 60,000).
    ///
    /// # Errors
    /// [`ConfigError`] naming the key at fault (under `delivery.`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, w) in [
            ("success", self.success),
            ("transient", self.transient),
            ("permanent", self.permanent),
        ] {
            if w.is_finite() && w < 0.0 {
                return Err(ConfigError::new(
                    key(&["delivery", name]),
                    Problem::Negative {
                        value: Num::Float(w),
                    },
                ));
            }
            check_float(key(&["delivery", name]), w, 0.0, MAX_WEIGHT)?;
        }
        if self.success + self.transient + self.permanent <= 0.0 {
            return Err(ConfigError::new(
                key(&["delivery"]),
                Problem::AllWeightsZero,
            ));
        }
        let cf = self.connect_failure;
        check_float(key(&["delivery", "connect_failure"]), cf, 0.0, 1.0)?;
        if cf >= 1.0 {
            return Err(ConfigError::new(
                key(&["delivery", "connect_failure"]),
                Problem::NotBelow {
                    value: Num::Float(cf),
                    bound: Num::Float(1.0),
                },
            ));
        }
        check_int(key(&["delivery", "latency_ms"]), self.latency_ms, 0, 60_000)
    }
}

impl DemoConfig {
    /// Checks the values that serde cannot: every number within a finite range, the retry
    /// schedule increasing, the delivery weights usable, the credentials well-formed.
    ///
    /// The ranges: `[retry]` `interval` and `max_interval` 0.001 to 31,536,000 simulated
    /// seconds (a year), `max_age` up to 10^10, `interval <= max_interval`; `[clock]`
    /// `speedup` 0.001 to 1,000,000, `tick_ms` 1 to 3,600,000; `[shaping]` `connection_limit`
    /// 1 to 65,536 and `max_addresses` 1 to 1024; `[admission]` limits from 1 (`retry_after_secs`
    /// up to 86,400); `[trace]` and `[metrics]` limits from 1; `[delivery]` and `[http]` as
    /// [`DeliveryConfig::validate`] and [`HttpConfig::validate`].
    ///
    /// # Errors
    /// [`ConfigError`] naming the first key at fault and its value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.retry;
        check_float(
            key(&["retry", "interval"]),
            r.interval,
            0.001,
            MAX_RETRY_SECS,
        )?;
        check_float(
            key(&["retry", "max_interval"]),
            r.max_interval,
            0.001,
            MAX_RETRY_SECS,
        )?;
        check_float(key(&["retry", "max_age"]), r.max_age, 0.001, MAX_AGE_SECS)?;
        if r.interval > r.max_interval {
            return Err(ConfigError::new(
                key(&["retry", "interval"]),
                Problem::AboveOther {
                    value: Num::Float(r.interval),
                    other: "retry.max_interval",
                    limit: Num::Float(r.max_interval),
                },
            ));
        }
        let (slow, fast) = SPEEDUP_RANGE;
        check_float(key(&["clock", "speedup"]), self.clock.speedup, slow, fast)?;
        check_int(key(&["clock", "tick_ms"]), self.clock.tick_ms, 1, 3_600_000)?;
        let shaping = std::iter::once((None, &self.shaping.default))
            .chain(self.shaping.domains.iter().map(|(d, s)| (Some(d), s)));
        for (domain, s) in shaping {
            let at = |field: &str| match domain {
                None => key(&["shaping", "default", field]),
                Some(d) => key(&["shaping", "domains", d, field]),
            };
            for (field, v, max) in [
                ("connection_limit", s.connection_limit, 65_536),
                ("max_addresses", s.max_addresses, 1024),
            ] {
                if let Some(v) = v {
                    check_int(at(field), u64::from(v), 1, max)?;
                }
            }
        }
        let a = &self.admission;
        for (field, v, max) in [
            ("max_pending_messages", a.max_pending_messages, 1 << 40),
            ("max_pending_bytes", a.max_pending_bytes, 1 << 50),
            ("retry_after_secs", a.retry_after_secs, 86_400),
        ] {
            check_int(key(&["admission", field]), v, 1, max)?;
        }
        self.http.validate()?;
        let t = &self.trace;
        for (field, v, max) in [
            ("max_subscribers", wide(t.max_subscribers), 1_000_000),
            ("buffer_bytes", wide(t.buffer_bytes), 1 << 30),
            ("stall_timeout_ms", t.stall_timeout_ms, 86_400_000),
        ] {
            check_int(key(&["trace", field]), v, 1, max)?;
        }
        let m = &self.metrics;
        for (field, v, max) in [
            ("max_queue_series", wide(m.max_queue_series), 100_000_000),
            ("idle_series_ms", m.idle_series_ms, 30 * 86_400_000),
        ] {
            check_int(key(&["metrics", field]), v, 1, max)?;
        }
        self.delivery.validate()
    }
}

/// Which set of embedded defaults to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// Real time, 20 ms sessions: for watching the demo with `top` and `trace`.
    Interactive,
    /// Simulated time 600 times faster, no session latency: for `--selftest`.
    Selftest,
    /// [`Profile::Selftest`] for real SMTP delivery (`--selftest N --deliver smtp`): the same
    /// sped-up retry schedule, but messages expire only after a simulated day, because real
    /// sessions are not sped up (a few seconds of real queueing are an hour of simulated age).
    SelftestSmtp,
}

/// The embedded default files for `profile`, as `(file name, contents)`.
pub fn default_files(profile: Profile) -> Vec<(&'static str, String)> {
    let (speedup, latency) = match profile {
        Profile::Interactive => ("1.0", 20),
        Profile::Selftest | Profile::SelftestSmtp => ("600.0", 0),
    };
    let d = DeliveryConfig::default();
    let h = HttpConfig::default();
    let a = AdmissionConfig::default();
    let (tr, me) = (TraceConfig::default(), MetricsConfig::default());
    let mut r = RetryConfig::default();
    if profile == Profile::SelftestSmtp {
        r.max_age = 86_400.0;
    }
    vec![
        (
            "queues.toml",
            format!(
                "# Retry schedule of deferred messages, in simulated seconds.\n\
                 # Edit while the demo runs: the next deferral uses the new values.\n\
                 [retry]\n\
                 interval = {:.1}       # delay before the first retry\n\
                 max_interval = {:.1}  # the delay doubles after each failure, up to this\n\
                 max_age = {:.1}       # a message whose next retry would be later than this bounces\n\
                 \n\
                 # Simulated seconds per real second (the self test runs at 600).\n\
                 [clock]\n\
                 speedup = {speedup}\n\
                 tick_ms = 1000  # scheduler tick, simulated milliseconds\n",
                r.interval, r.max_interval, r.max_age
            ),
        ),
        (
            "shaping.toml",
            "# Traffic shaping per destination domain (A-label form).\n\
             [shaping.default]\n\
             connection_limit = 32        # sessions at once per domain\n\
             address_family = \"both\"      # both, v4-only, v6-only, v4-first, v6-first\n\
             max_addresses = 8            # addresses one session's connection plan may walk\n\
             \n\
             [shaping.domains.\"gmail.test\"]\n\
             connection_limit = 8\n\
             \n\
             [shaping.domains.\"outlook.test\"]\n\
             address_family = \"v4-first\"\n"
                .to_owned(),
        ),
        (
            "delivery.toml",
            format!(
                "# The simulated delivery stage: relative weights of each SMTP answer.\n\
                 # Try: set permanent = 1.0 and watch the bounce counters in /metrics climb.\n\
                 [delivery]\n\
                 success = {}\n\
                 transient = {}        # 4xx: the message is retried on the [retry] schedule\n\
                 permanent = {}        # 5xx: the message bounces\n\
                 connect_failure = {}  # chance that one address does not connect (next one is tried)\n\
                 latency_ms = {latency}         # real milliseconds per simulated session\n",
                d.success, d.transient, d.permanent, d.connect_failure
            ),
        ),
        (
            "listener.toml",
            "# Relay control of the ESMTP listener (--smtp-listen), as KumoMTA's defaults.\n\
             [listener]\n\
             relay_hosts = [\"127.0.0.0/8\", \"::1/128\"]  # these peers may relay to any domain\n\
             relay_domains = []  # other peers may send only to these domains (550 5.7.1 otherwise)\n"
                .to_owned(),
        ),
        (
            "admission.toml",
            format!(
                "# How much may be pending (accepted, not yet delivered or bounced) in memory.\n\
                 # Beyond either limit new mail is refused: HTTP 503 with Retry-After, SMTP 452 4.3.1;\n\
                 # deferred_generation jobs already accepted wait for room.\n\
                 [admission]\n\
                 max_pending_messages = {}\n\
                 max_pending_bytes = {}  # message data held in memory\n\
                 retry_after_secs = {}\n",
                a.max_pending_messages, a.max_pending_bytes, a.retry_after_secs
            ),
        ),
        (
            "observability.toml",
            format!(
                "# Limits of the trace stream and of /metrics: what clients that never read, or a flood of\n\
                 # recipient domains, can make the demo hold. Edits apply to the next request or sweep.\n\
                 [trace]\n\
                 max_subscribers = {}     # GET /api/trace/v1 streams at once; more get 503 + Retry-After\n\
                 buffer_bytes = {}     # events waiting per stream; beyond it the oldest go (lag notice)\n\
                 stall_timeout_ms = {}  # a stream full without a read this long is dropped\n\
                 \n\
                 [metrics]\n\
                 max_queue_series = {}   # queues (and providers) with series of their own; others: queue=\"(overflow)\"\n\
                 idle_series_ms = {}    # a queue with nothing scheduled, ready or in a session loses its series after this\n",
                tr.max_subscribers,
                tr.buffer_bytes,
                tr.stall_timeout_ms,
                me.max_queue_series,
                me.idle_series_ms,
            ),
        ),
        (
            "http.toml",
            format!(
                "# The HTTP listener. Limits are read at start; [http.auth] applies to the next request.\n\
                 [http]\n\
                 header_timeout = {:.1}  # seconds to send a request head (from its first byte; TLS handshake included)\n\
                 idle_timeout = {:.1}    # seconds a kept-alive connection may wait for its next request\n\
                 body_timeout = {:.1}    # seconds to wait for the next piece of a body; then body_min_rate applies\n\
                 write_timeout = {:.1}   # seconds a response may make no progress (the client reads nothing)\n\
                 body_min_rate = {}     # bytes per second a body must average after body_timeout (0: none)\n\
                 max_connections = {}   # in all; lowered at start to fit the file-handle limit\n\
                 max_connections_per_peer = {}\n\
                 max_header_bytes = {}\n\
                 max_body_bytes = {}    # routes other than /api/inject/v1 (kumo-inject's limit: 2 MiB)\n\
                 send_buffer_bytes = {} # SO_SNDBUF per connection (0: the kernel's, up to 4 MiB)\n\
                 \n\
                 # Who may call what. Peers in `trusted` need no credentials; anyone else needs a bearer\n\
                 # token or a user below. --listen on a non-loopback address refuses to start without one.\n\
                 [http.auth]\n\
                 trusted = [\"127.0.0.0/8\", \"::1/128\"]\n\
                 # open = {{ metrics = [\"10.1.0.0/16\"] }}  # networks that may call one endpoint group\n\
                 #                                        # (inject, metrics, status, trace) without credentials\n\
                 #\n\
                 # [[http.auth.tokens]]            # Authorization: Bearer TOKEN\n\
                 # name = \"ci\"\n\
                 # sha256 = \"...\"                # printf %s \"$TOKEN\" | sha256sum\n\
                 # endpoints = [\"inject\"]        # default: all\n\
                 #\n\
                 # [[http.auth.users]]             # Authorization: Basic (curl -u ops:PASSWORD)\n\
                 # name = \"ops\"\n\
                 # password = \"$argon2id$...\"    # printf %s PASSWORD | argon2 SOMESALT -id -e\n",
                h.header_timeout,
                h.idle_timeout,
                h.body_timeout,
                h.write_timeout,
                h.body_min_rate,
                h.max_connections,
                h.max_connections_per_peer,
                h.max_header_bytes,
                h.max_body_bytes,
                h.send_buffer_bytes,
            ),
        ),
    ]
}

/// Writes the embedded defaults into `dir` (which must exist), overwriting same-named files.
///
/// # Errors
/// The I/O error of the first file that cannot be written.
pub fn write_defaults(dir: &Path, profile: Profile) -> std::io::Result<()> {
    for (name, text) in default_files(profile) {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(profile: Profile) -> DemoConfig {
        let mut table = toml::Table::new();
        for (_, text) in default_files(profile) {
            let t: toml::Table = text.parse().unwrap();
            table.extend(t);
        }
        toml::Value::Table(table).try_into().unwrap()
    }

    #[test]
    fn embedded_defaults_parse_and_validate() {
        let c = merged(Profile::Interactive);
        c.validate().unwrap();
        assert_eq!(c.retry, RetryConfig::default());
        assert_eq!(c.delivery, DeliveryConfig::default());
        assert_eq!(c.clock.speedup, 1.0);
        assert_eq!(c.shaping.for_domain("gmail.test").connection_limit, 8);
        assert_eq!(
            c.shaping.for_domain("outlook.test").address_family,
            AddressFamily::V4First
        );
        assert_eq!(c.shaping.for_domain("example.test").connection_limit, 32);
        let s = merged(Profile::Selftest);
        s.validate().unwrap();
        assert_eq!(s.clock.speedup, 600.0);
        assert_eq!(s.delivery.latency_ms, 0);
        assert_eq!(s.listener, ListenerConfig::default());
        assert_eq!(s.admission, AdmissionConfig::default());
        let r = merged(Profile::SelftestSmtp);
        r.validate().unwrap();
        assert_eq!(r.clock.speedup, 600.0);
        assert_eq!(r.retry.max_age, 86_400.0);
        assert_eq!(r.retry.interval, s.retry.interval);
    }

    #[test]
    fn relay_control() {
        let l = ListenerConfig::default();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(l.may_relay(ip("127.0.0.1"), "example.test"));
        assert!(l.may_relay(ip("::1"), "example.test"));
        assert!(l.may_relay(ip("::ffff:127.0.0.5"), "example.test"));
        assert!(!l.may_relay(ip("192.0.2.1"), "example.test"));
        // The HTTP API trusts the same loopback networks by default.
        let trusted = HttpAuthConfig::default().trusted;
        for peer in ["127.0.0.1", "::1", "::ffff:127.0.0.5"] {
            assert!(trusted.iter().any(|n| n.contains(ip(peer))), "{peer}");
        }
        assert!(!trusted.iter().any(|n| n.contains(ip("192.0.2.1"))));
        let l = ListenerConfig {
            relay_hosts: vec![],
            relay_domains: vec!["Example.TEST.".into()],
        };
        assert!(l.may_relay(ip("192.0.2.1"), "example.test"));
        assert!(!l.may_relay(ip("127.0.0.1"), "gmail.test"));
        let bad = toml::from_str::<DemoConfig>("[listener]\nrelay_hosts = [\"not a net\"]\n");
        assert!(bad.is_err(), "a bad network does not parse");
    }

    #[test]
    fn retry_schedule_doubles_then_caps_then_expires() {
        let r = RetryConfig {
            interval: 15.0,
            max_interval: 120.0,
            max_age: 900.0,
        };
        let delays: Vec<f64> = (1..=6).map(|n| r.delay(n)).collect();
        assert_eq!(delays, [15.0, 30.0, 60.0, 120.0, 120.0, 120.0]);
        assert_eq!(r.delay(u32::MAX), 120.0);
        assert_eq!(r.decide(1, 885.0), RetryDecision::RetryAfter(15.0));
        assert_eq!(r.decide(1, 885.1), RetryDecision::Expire);
    }

    /// The error of `c` with one edit.
    fn error_of(edit: impl FnOnce(&mut DemoConfig)) -> String {
        let mut c = DemoConfig::default();
        edit(&mut c);
        c.validate()
            .map_or_else(|e| e.to_string(), |()| "valid".into())
    }

    #[test]
    fn validation_names_the_key_and_the_value() {
        DemoConfig::default().validate().unwrap();
        assert_eq!(
            error_of(|c| c.retry.interval = 500.0),
            "retry.interval = 500 is above retry.max_interval = 120"
        );
        assert_eq!(
            error_of(|c| c.clock.speedup = 0.0),
            "clock.speedup = 0 is below the minimum 0.001"
        );
        assert_eq!(
            error_of(|c| c.clock.speedup = 1e-20),
            "clock.speedup = 1e-20 is below the minimum 0.001"
        );
        assert_eq!(
            error_of(|c| c.retry.max_age = 1e300),
            "retry.max_age = 1e300 is above the maximum 10000000000"
        );
        assert_eq!(
            error_of(|c| {
                c.shaping.domains.insert(
                    "a.test".into(),
                    Shaping {
                        connection_limit: Some(0),
                        ..Default::default()
                    },
                );
            }),
            "shaping.domains.\"a.test\".connection_limit = 0 is below the minimum 1"
        );
        assert_eq!(
            error_of(|c| c.delivery.success = -1.0),
            "delivery.success = -1 is negative"
        );
        assert_eq!(
            error_of(|c| {
                c.delivery.success = 0.0;
                c.delivery.transient = 0.0;
                c.delivery.permanent = 0.0;
            }),
            "delivery: success, transient and permanent are all 0: at least one must be above 0"
        );
        assert_eq!(
            error_of(|c| c.delivery.connect_failure = 1.0),
            "delivery.connect_failure = 1 is not below 1"
        );
        assert_eq!(
            error_of(|c| c.admission.max_pending_bytes = 0),
            "admission.max_pending_bytes = 0 is below the minimum 1"
        );
        let mut c = DemoConfig::default();
        c.clock.speedup = f64::NAN;
        let e = c.validate().unwrap_err();
        assert_eq!(e.key().to_string(), "clock.speedup");
        assert!(matches!(e.problem(), Problem::NotFinite { .. }), "{e}");
        assert_eq!(e.to_string(), "clock.speedup = nan is not a finite number");
    }

    /// Every numeric field: its largest value below the minimum, its smallest above the
    /// maximum, and (for floats) NaN and the infinities are refused with the key named.
    #[test]
    fn every_numeric_field_has_a_finite_range() {
        type Edit = fn(&mut DemoConfig, f64);
        // (key, below the minimum, above the maximum, is a float, how to set it)
        let table: &[(&str, Option<f64>, f64, bool, Edit)] = &[
            ("retry.interval", Some(0.0), 4e7, true, |c, v| {
                c.retry.interval = v;
                c.retry.max_interval = MAX_RETRY_SECS;
            }),
            ("retry.max_interval", Some(0.0), 4e7, true, |c, v| {
                c.retry.max_interval = v;
                c.retry.interval = 0.001;
            }),
            ("retry.max_age", Some(-1.0), 1e300, true, |c, v| {
                c.retry.max_age = v
            }),
            ("clock.speedup", Some(1e-20), 1e7, true, |c, v| {
                c.clock.speedup = v
            }),
            ("clock.tick_ms", Some(0.0), 3_600_001.0, false, |c, v| {
                c.clock.tick_ms = v as u64
            }),
            (
                "shaping.default.connection_limit",
                Some(0.0),
                65_537.0,
                false,
                |c, v| c.shaping.default.connection_limit = Some(v as u32),
            ),
            (
                "shaping.default.max_addresses",
                Some(0.0),
                1025.0,
                false,
                |c, v| c.shaping.default.max_addresses = Some(v as u32),
            ),
            ("delivery.success", Some(-1.0), 1e10, true, |c, v| {
                c.delivery.success = v
            }),
            ("delivery.transient", Some(-1.0), 1e10, true, |c, v| {
                c.delivery.transient = v
            }),
            ("delivery.permanent", Some(-1.0), 1e10, true, |c, v| {
                c.delivery.permanent = v
            }),
            ("delivery.connect_failure", Some(-0.5), 1.0, true, |c, v| {
                c.delivery.connect_failure = v
            }),
            ("delivery.latency_ms", None, 60_001.0, false, |c, v| {
                c.delivery.latency_ms = v as u64
            }),
            ("http.header_timeout", Some(0.0), 86_401.0, true, |c, v| {
                c.http.header_timeout = v
            }),
            ("http.idle_timeout", Some(0.0), 86_401.0, true, |c, v| {
                c.http.idle_timeout = v
            }),
            ("http.body_timeout", Some(0.0), 86_401.0, true, |c, v| {
                c.http.body_timeout = v
            }),
            ("http.write_timeout", Some(0.0), 86_401.0, true, |c, v| {
                c.http.write_timeout = v
            }),
            ("http.body_min_rate", None, 2e9, false, |c, v| {
                c.http.body_min_rate = v as u64
            }),
            ("http.max_connections", Some(0.0), 1e7, false, |c, v| {
                c.http.max_connections = v as usize
            }),
            (
                "http.max_connections_per_peer",
                Some(0.0),
                1e7,
                false,
                |c, v| c.http.max_connections_per_peer = v as usize,
            ),
            ("http.max_header_bytes", Some(8191.0), 1e9, false, |c, v| {
                c.http.max_header_bytes = v as usize
            }),
            ("http.max_body_bytes", None, 2e9, false, |c, v| {
                c.http.max_body_bytes = v as usize
            }),
            ("http.send_buffer_bytes", None, 2e9, false, |c, v| {
                c.http.send_buffer_bytes = v as usize
            }),
            (
                "admission.max_pending_messages",
                Some(0.0),
                1e13,
                false,
                |c, v| c.admission.max_pending_messages = v as u64,
            ),
            (
                "admission.max_pending_bytes",
                Some(0.0),
                1e16,
                false,
                |c, v| c.admission.max_pending_bytes = v as u64,
            ),
            (
                "admission.retry_after_secs",
                Some(0.0),
                86_401.0,
                false,
                |c, v| c.admission.retry_after_secs = v as u64,
            ),
            ("trace.max_subscribers", Some(0.0), 1e7, false, |c, v| {
                c.trace.max_subscribers = v as usize
            }),
            ("trace.buffer_bytes", Some(0.0), 2e9, false, |c, v| {
                c.trace.buffer_bytes = v as usize
            }),
            ("trace.stall_timeout_ms", Some(0.0), 1e11, false, |c, v| {
                c.trace.stall_timeout_ms = v as u64
            }),
            ("metrics.max_queue_series", Some(0.0), 1e9, false, |c, v| {
                c.metrics.max_queue_series = v as usize
            }),
            ("metrics.idle_series_ms", Some(0.0), 1e10, false, |c, v| {
                c.metrics.idle_series_ms = v as u64
            }),
        ];
        for &(field, below, above, float, edit) in table {
            let mut cases: Vec<f64> = below.into_iter().chain([above]).collect();
            if float {
                cases.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
            }
            for v in cases {
                let mut c = DemoConfig::default();
                edit(&mut c, v);
                let e = c.validate().expect_err(field);
                assert_eq!(e.key().to_string(), field, "{field} = {v}: {e}");
                assert!(e.to_string().starts_with(&format!("{field} = ")), "{e}");
            }
        }
    }

    #[test]
    fn http_section_defaults_and_validation() {
        assert_eq!(merged(Profile::Interactive).http, HttpConfig::default());
        assert_eq!(
            error_of(|c| c.http.idle_timeout = 0.0),
            "http.idle_timeout = 0 is below the minimum 0.001"
        );
        assert_eq!(
            error_of(|c| c.http.max_connections = 0),
            "http.max_connections = 0 is below the minimum 1"
        );
        assert_eq!(
            error_of(|c| c.http.auth.tokens.push(TokenCredential {
                name: "t".into(),
                sha256: "abc".into(),
                endpoints: Endpoint::ALL.to_vec(),
            })),
            "http.auth.tokens[0].sha256: must be 64 hexadecimal digits"
        );
        assert_eq!(
            error_of(|c| c.http.auth.users.push(UserCredential {
                name: "u".into(),
                password: "plain text".into(),
                endpoints: Endpoint::ALL.to_vec(),
            })),
            "http.auth.users[0].password: must be an argon2 hash ($argon2id$v=19$...)"
        );
        let c: DemoConfig = toml::from_str(
            "[http.auth]\nopen = { metrics = [\"10.1.0.0/16\"] }\n\
             [[http.auth.tokens]]\nname = \"ci\"\nsha256 = \"00\"\nendpoints = [\"inject\"]\n",
        )
        .unwrap();
        assert_eq!(c.http.auth.tokens[0].endpoints, [Endpoint::Inject]);
        assert_eq!(c.http.auth.open.metrics.len(), 1);
        assert!(toml::from_str::<DemoConfig>("[http.auth]\nopen = { smtp = [] }\n").is_err());
        // The status page never shows a hash.
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"sha256\":\"redacted\""), "{json}");
    }

    #[test]
    fn trace_and_metrics_defaults() {
        let c = merged(Profile::Interactive);
        assert_eq!(c.trace, TraceConfig::default());
        assert_eq!(c.metrics, MetricsConfig::default());
        assert_eq!(
            error_of(|c| c.trace.buffer_bytes = 0),
            "trace.buffer_bytes = 0 is below the minimum 1"
        );
        let r: Result<DemoConfig, _> = toml::from_str("[metrics]\nmax_queue_series = -1\n");
        assert!(r.is_err(), "a negative cap does not parse");
    }

    #[test]
    fn numbers_print_as_toml_would_read_them() {
        let f = |x: f64| Num::Float(x).to_string();
        assert_eq!(f(0.001), "0.001");
        assert_eq!(f(120.0), "120");
        assert_eq!(f(-1.0), "-1");
        assert_eq!(f(1e-20), "1e-20");
        assert_eq!(f(1e300), "1e300");
        assert_eq!(f(f64::NAN), "nan");
        assert_eq!(f(f64::NEG_INFINITY), "-inf");
        assert_eq!(Num::Int(u64::MAX).to_string(), "18446744073709551615");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let r: Result<DemoConfig, _> = toml::from_str("[retry]\nintervall = 3\n");
        assert!(r.is_err());
    }
}
