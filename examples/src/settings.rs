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

use serde::{Deserialize, Serialize};

use crate::delivery::{Probabilities, ProbabilityError};

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

/// An `[http]` section that parses but cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpConfigError {
    /// A timeout that is not a positive finite number of seconds.
    #[error("{0} must be a positive number of seconds")]
    Timeout(&'static str),
    /// A connection cap of zero, or a head limit under 8192 bytes.
    #[error("{0} is too small")]
    TooSmall(&'static str),
    /// A token's `sha256` is not 64 hexadecimal digits.
    #[error("token {0:?}: sha256 must be 64 hexadecimal digits")]
    TokenHash(String),
    /// A user's `password` is not an argon2 PHC string.
    #[error("user {0:?}: password must be an argon2 hash ($argon2id$v=19$...)")]
    PasswordHash(String),
    /// A user name that is empty or holds a `:`.
    #[error("user {0:?}: the name must be non-empty and hold no ':'")]
    UserName(String),
}

impl HttpConfig {
    /// Checks what serde cannot: positive timeouts and caps, well-formed hashes.
    ///
    /// # Errors
    /// [`HttpConfigError`] naming the key or credential at fault.
    pub fn validate(&self) -> Result<(), HttpConfigError> {
        for (name, t) in [
            ("header_timeout", self.header_timeout),
            ("idle_timeout", self.idle_timeout),
            ("body_timeout", self.body_timeout),
        ] {
            if !(t.is_finite() && t > 0.0 && t < 1e9) {
                return Err(HttpConfigError::Timeout(name));
            }
        }
        for (name, v, min) in [
            ("max_connections", self.max_connections, 1),
            ("max_connections_per_peer", self.max_connections_per_peer, 1),
            ("max_header_bytes", self.max_header_bytes, 8192),
        ] {
            if v < min {
                return Err(HttpConfigError::TooSmall(name));
            }
        }
        for t in &self.auth.tokens {
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(HttpConfigError::TokenHash(t.name.clone()));
            }
        }
        for u in &self.auth.users {
            if u.name.is_empty() || u.name.contains(':') {
                return Err(HttpConfigError::UserName(u.name.clone()));
            }
            let ok = argon2::PasswordHash::new(&u.password)
                .is_ok_and(|h| h.algorithm.as_str().starts_with("argon2"));
            if !ok {
                return Err(HttpConfigError::PasswordHash(u.name.clone()));
            }
        }
        Ok(())
    }

    /// A validated timeout of this section (seconds) as a [`Duration`].
    pub fn duration(secs: f64) -> Duration {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_secs(1))
    }
}

/// A configuration that parses but cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The retry schedule is not positive and increasing.
    #[error("retry: need 0 < interval <= max_interval and max_age > 0")]
    Retry,
    /// `clock.speedup` is not a positive finite number, or `clock.tick_ms` is 0.
    #[error("clock: speedup must be > 0 and tick_ms >= 1")]
    Clock,
    /// A shaping value of zero.
    #[error("shaping: connection_limit and max_addresses must be >= 1")]
    Shaping,
    /// The delivery weights cannot drive a simulation.
    #[error("delivery: bad weights")]
    Delivery(#[source] ProbabilityError),
    /// The `[http]` section cannot run.
    #[error("http: invalid settings")]
    Http(#[source] HttpConfigError),
    /// An `[admission]` limit of zero; the field is named.
    #[error("admission: {0} must be >= 1")]
    Admission(&'static str),
    /// A `[trace]` limit of zero; the field is named.
    #[error("trace: {0} must be >= 1")]
    Trace(&'static str),
    /// A `[metrics]` limit of zero; the field is named.
    #[error("metrics: {0} must be >= 1")]
    Metrics(&'static str),
}

impl DemoConfig {
    /// Checks the values that serde cannot.
    ///
    /// # Errors
    /// [`ConfigError`] naming the section at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.retry;
        let ok = |x: f64| x.is_finite() && x > 0.0;
        if !(ok(r.interval) && ok(r.max_interval) && ok(r.max_age) && r.interval <= r.max_interval)
        {
            return Err(ConfigError::Retry);
        }
        if !ok(self.clock.speedup) || self.clock.tick_ms == 0 {
            return Err(ConfigError::Clock);
        }
        let zero = |s: &Shaping| s.connection_limit == Some(0) || s.max_addresses == Some(0);
        if zero(&self.shaping.default) || self.shaping.domains.values().any(zero) {
            return Err(ConfigError::Shaping);
        }
        let a = &self.admission;
        for (field, v) in [
            ("max_pending_messages", a.max_pending_messages),
            ("max_pending_bytes", a.max_pending_bytes),
            ("retry_after_secs", a.retry_after_secs),
        ] {
            if v == 0 {
                return Err(ConfigError::Admission(field));
            }
        }
        self.http.validate().map_err(ConfigError::Http)?;
        let t = &self.trace;
        for (field, v) in [
            ("max_subscribers", t.max_subscribers as u64),
            ("buffer_bytes", t.buffer_bytes as u64),
            ("stall_timeout_ms", t.stall_timeout_ms),
        ] {
            if v == 0 {
                return Err(ConfigError::Trace(field));
            }
        }
        let m = &self.metrics;
        for (field, v) in [
            ("max_queue_series", m.max_queue_series as u64),
            ("idle_series_ms", m.idle_series_ms),
        ] {
            if v == 0 {
                return Err(ConfigError::Metrics(field));
            }
        }
        self.delivery
            .probabilities()
            .validate()
            .map_err(ConfigError::Delivery)
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

    #[test]
    fn validation_names_the_section() {
        let mut c = DemoConfig::default();
        c.validate().unwrap();
        c.retry.interval = 500.0;
        assert_eq!(c.validate(), Err(ConfigError::Retry));
        let mut c = DemoConfig::default();
        c.clock.speedup = 0.0;
        assert_eq!(c.validate(), Err(ConfigError::Clock));
        let mut c = DemoConfig::default();
        c.shaping.domains.insert(
            "a.test".into(),
            Shaping {
                connection_limit: Some(0),
                ..Default::default()
            },
        );
        assert_eq!(c.validate(), Err(ConfigError::Shaping));
        let mut c = DemoConfig::default();
        c.delivery.success = -1.0;
        assert!(matches!(c.validate(), Err(ConfigError::Delivery(_))));
        let mut c = DemoConfig::default();
        c.admission.max_pending_bytes = 0;
        let e = c.validate().unwrap_err();
        assert_eq!(e, ConfigError::Admission("max_pending_bytes"));
        assert_eq!(e.to_string(), "admission: max_pending_bytes must be >= 1");
    }

    #[test]
    fn trace_and_metrics_limits_name_the_field() {
        let c = merged(Profile::Interactive);
        assert_eq!(c.trace, TraceConfig::default());
        assert_eq!(c.metrics, MetricsConfig::default());
        let mut c = DemoConfig::default();
        c.trace.buffer_bytes = 0;
        assert_eq!(c.validate(), Err(ConfigError::Trace("buffer_bytes")));
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "trace: buffer_bytes must be >= 1"
        );
        let mut c = DemoConfig::default();
        c.metrics.idle_series_ms = 0;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "metrics: idle_series_ms must be >= 1"
        );
        let r: Result<DemoConfig, _> = toml::from_str("[metrics]\nmax_queue_series = -1\n");
        assert!(r.is_err(), "a negative cap does not parse");
    }

    #[test]
    fn http_section_defaults_and_validation() {
        assert_eq!(merged(Profile::Interactive).http, HttpConfig::default());
        let bad = |edit: fn(&mut HttpConfig)| {
            let mut c = DemoConfig::default();
            edit(&mut c.http);
            c.validate()
        };
        assert_eq!(
            bad(|h| h.idle_timeout = 0.0),
            Err(ConfigError::Http(HttpConfigError::Timeout("idle_timeout")))
        );
        assert_eq!(
            bad(|h| h.max_connections = 0),
            Err(ConfigError::Http(HttpConfigError::TooSmall(
                "max_connections"
            )))
        );
        assert!(matches!(
            bad(|h| h.auth.tokens.push(TokenCredential {
                name: "t".into(),
                sha256: "abc".into(),
                endpoints: Endpoint::ALL.to_vec(),
            })),
            Err(ConfigError::Http(HttpConfigError::TokenHash(_)))
        ));
        assert!(matches!(
            bad(|h| h.auth.users.push(UserCredential {
                name: "u".into(),
                password: "plain text".into(),
                endpoints: Endpoint::ALL.to_vec(),
            })),
            Err(ConfigError::Http(HttpConfigError::PasswordHash(_)))
        ));
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
    fn unknown_keys_are_refused() {
        let r: Result<DemoConfig, _> = toml::from_str("[retry]\nintervall = 3\n");
        assert!(r.is_err());
    }
}
