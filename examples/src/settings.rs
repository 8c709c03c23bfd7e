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

impl Default for ListenerConfig {
    fn default() -> Self {
        let net = |s: &str| s.parse().expect("a literal network");
        Self {
            relay_hosts: vec![net("127.0.0.0/8"), net("::1/128")],
            relay_domains: Vec::new(),
        }
    }
}

impl ListenerConfig {
    /// Whether `peer` may send to `domain` (an A-label).
    pub fn may_relay(&self, peer: std::net::IpAddr, domain: &str) -> bool {
        let peer = match peer {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, std::net::IpAddr::V4),
            v4 => v4,
        };
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
    }

    #[test]
    fn unknown_keys_are_refused() {
        let r: Result<DemoConfig, _> = toml::from_str("[retry]\nintervall = 3\n");
        assert!(r.is_err());
    }
}
