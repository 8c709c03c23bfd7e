//! The pure connection planner: [`plan`] turns a [`MailExchanger`] into the ordered list of
//! addresses one SMTP session tries.

use crate::mx::{MailExchanger, MxSource};
use rand::{Rng, SeedableRng};
use smallvec::SmallVec;
use std::net::{IpAddr, SocketAddr};

/// The unit that is shuffled within one preference level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ShuffleMode {
    /// Fisher-Yates over the hosts of the level, then over each host's addresses: every host is
    /// first with probability 1/k, whatever its number of addresses (RFC 5321 section 5.1).
    #[default]
    Host,
    /// Fisher-Yates over all addresses of the level (KumoMTA's behaviour): a host with m of the
    /// level's n addresses is first with probability m/n, so dual-stack hosts count double.
    AddressWeighted,
    /// No shuffle: hosts in name order, addresses in the resolver's order (deterministic).
    None,
}

/// Which address families a plan contains, and in which order within a preference level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum FamilyPolicy {
    /// Both families, in shuffled order.
    #[default]
    Both,
    /// IPv4 addresses only.
    V4Only,
    /// IPv6 addresses only.
    V6Only,
    /// Both; within each level every IPv4 address before any IPv6 address (otherwise shuffled).
    V4First,
    /// Both; within each level every IPv6 address before any IPv4 address.
    V6First,
    /// Both; within each level the families alternate, starting with the family of the first
    /// shuffled address (so an outage of one family costs at most every other attempt).
    Interleaved,
}

impl FamilyPolicy {
    #[inline]
    fn allows(self, ip: &IpAddr) -> bool {
        match self {
            FamilyPolicy::V4Only => ip.is_ipv4(),
            FamilyPolicy::V6Only => ip.is_ipv6(),
            _ => true,
        }
    }
}

/// How [`plan`] orders and limits the addresses of a [`MailExchanger`].
///
/// The default shuffles hosts uniformly within each level, keeps both families, has no limits,
/// and connects to port 25.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlanPolicy {
    /// What is shuffled within a level.
    pub shuffle: ShuffleMode,
    /// Address families.
    pub family: FamilyPolicy,
    /// At most this many addresses in the plan (Postfix `smtp_mx_address_limit`).
    pub max_addresses: Option<usize>,
    /// At most this many distinct hosts in the plan (Exim `hosts_max_try`).
    pub max_hosts: Option<usize>,
    /// When a limit would leave a preference level out entirely, still take its first address
    /// (Exim's soft `hosts_max_try`): every level with an address gets at least one attempt.
    pub every_level: bool,
    /// Port used when neither the host nor the destination names one.
    pub default_port: u16,
}

impl Default for PlanPolicy {
    fn default() -> Self {
        PlanPolicy {
            shuffle: ShuffleMode::Host,
            family: FamilyPolicy::Both,
            max_addresses: None,
            max_hosts: None,
            every_level: false,
            default_port: 25,
        }
    }
}

impl PlanPolicy {
    /// Sets the shuffle mode.
    pub fn shuffle(mut self, mode: ShuffleMode) -> Self {
        self.shuffle = mode;
        self
    }

    /// Sets the address-family policy.
    pub fn family(mut self, family: FamilyPolicy) -> Self {
        self.family = family;
        self
    }

    /// Limits the number of addresses.
    pub fn max_addresses(mut self, n: usize) -> Self {
        self.max_addresses = Some(n);
        self
    }

    /// Limits the number of distinct hosts.
    pub fn max_hosts(mut self, n: usize) -> Self {
        self.max_hosts = Some(n);
        self
    }

    /// Keeps at least one address per preference level despite the limits.
    pub fn every_level(mut self, yes: bool) -> Self {
        self.every_level = yes;
        self
    }

    /// Sets the default port.
    pub fn default_port(mut self, port: u16) -> Self {
        self.default_port = port;
        self
    }
}

/// One connection attempt of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Attempt {
    addr: SocketAddr,
    preference: u16,
    host: u32,
}

impl Attempt {
    /// Address and port to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The MX preference of the host.
    pub fn preference(&self) -> u16 {
        self.preference
    }

    /// Index of the host in [`MailExchanger::hosts`] of the `MailExchanger` the plan was made
    /// from.
    pub fn host_index(&self) -> usize {
        self.host as usize
    }

    /// The host's name (lowercase A-label), looked up in the `MailExchanger` the plan was made
    /// from; `None` if `mx` is a different, smaller one.
    pub fn host_name<'a>(&self, mx: &'a MailExchanger) -> Option<&'a str> {
        mx.hosts().get(self.host as usize).map(|h| h.name())
    }
}

/// The ordered addresses one session tries: every address of preference p before any address of
/// preference q > p.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionPlan {
    attempts: Vec<Attempt>,
}

impl ConnectionPlan {
    /// The attempts, first to try first.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// Number of attempts.
    pub fn len(&self) -> usize {
        self.attempts.len()
    }

    /// `true` when there is nothing to try (no host had a usable address).
    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
    }

    /// Iterates over the attempts in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Attempt> {
        self.attempts.iter()
    }

    /// The addresses in order.
    pub fn addrs(&self) -> impl ExactSizeIterator<Item = SocketAddr> + '_ {
        self.attempts.iter().map(|a| a.addr)
    }
}

impl IntoIterator for ConnectionPlan {
    type Item = Attempt;
    type IntoIter = std::vec::IntoIter<Attempt>;
    fn into_iter(self) -> Self::IntoIter {
        self.attempts.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConnectionPlan {
    type Item = &'a Attempt;
    type IntoIter = std::slice::Iter<'a, Attempt>;
    fn into_iter(self) -> Self::IntoIter {
        self.attempts.iter()
    }
}

#[inline]
fn fisher_yates<T, R: Rng + ?Sized>(items: &mut [T], rng: &mut R) {
    let n = items.len();
    if n < 2 {
        return;
    }
    for i in (1..n).rev() {
        // Unbiased: rand's integer range sampling rejects the biased zone.
        let j = if i < u32::MAX as usize {
            rng.random_range(0..=i as u32) as usize
        } else {
            rng.random_range(0..=i)
        };
        items.swap(i, j);
    }
}

/// Plans the connection attempts of one session. Pure: no I/O, no clock; all randomness comes
/// from `rng`, so the same seed gives the same plan.
///
/// - Preference levels in order; every address of preference p before any of q > p.
/// - Within a level, [`ShuffleMode`] decides the order; an [`MxSource::MxList`] is never
///   reordered.
/// - [`FamilyPolicy`] filters and orders families within each level.
/// - The limits cut the plan; with `every_level` each level still keeps its first address.
///
/// Hosts without addresses contribute nothing.
///
/// # Examples
///
/// ```
/// use kumo_dns::{plan, MailExchanger, MxHost, PlanPolicy};
/// use rand::{SeedableRng, rngs::SmallRng};
/// let mx = MailExchanger::from_hosts("example.test", vec![
///     MxHost::new("mx1.example.test", 10, vec!["192.0.2.1".parse()?])?,
///     MxHost::new("mx2.example.test", 10, vec!["192.0.2.2".parse()?])?,
///     MxHost::new("backup.example.test", 20, vec!["2001:db8::1".parse()?])?,
/// ])?;
/// let plan = plan(&mx, &PlanPolicy::default(), &mut SmallRng::seed_from_u64(7));
/// assert_eq!(plan.len(), 3);
/// assert_eq!(plan.attempts()[2].addr(), "[2001:db8::1]:25".parse()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan<R: Rng + ?Sized>(
    mx: &MailExchanger,
    policy: &PlanPolicy,
    rng: &mut R,
) -> ConnectionPlan {
    let hosts = mx.hosts();
    let total: usize = hosts.iter().map(|h| h.addresses().len()).sum();
    let mut out: Vec<Attempt> = Vec::with_capacity(total);
    let ordered = mx.source() == MxSource::MxList || policy.shuffle == ShuffleMode::None;
    let limited = policy.max_addresses.is_some() || policy.max_hosts.is_some();
    let mut limits = Limits {
        max_addresses: policy.max_addresses.unwrap_or(usize::MAX),
        max_hosts: policy.max_hosts.unwrap_or(usize::MAX),
        addresses: 0,
        hosts: 0,
        used: if policy.max_hosts.is_some() {
            smallvec::smallvec![false; hosts.len()]
        } else {
            SmallVec::new()
        },
    };
    for &(preference, start, end) in mx.level_ranges() {
        let level_start = out.len();
        let mut order: SmallVec<[u32; 16]> = (start..end).collect();
        if !ordered && policy.shuffle == ShuffleMode::Host {
            fisher_yates(&mut order, rng);
        }
        for &hi in &order {
            let h = &hosts[hi as usize];
            let port = h.port().or(mx.port()).unwrap_or(policy.default_port);
            let hs = out.len();
            for ip in h.addresses() {
                if policy.family.allows(ip) {
                    out.push(Attempt {
                        addr: SocketAddr::new(*ip, port),
                        preference,
                        host: hi,
                    });
                }
            }
            if !ordered && policy.shuffle == ShuffleMode::Host {
                fisher_yates(&mut out[hs..], rng);
            }
        }
        if !ordered && policy.shuffle == ShuffleMode::AddressWeighted {
            fisher_yates(&mut out[level_start..], rng);
        }
        order_families(&mut out[level_start..], policy.family);
        if limited {
            limits.apply(&mut out, level_start, policy.every_level);
        }
    }
    ConnectionPlan { attempts: out }
}

/// [`plan`] with a [`rand::rngs::SmallRng`] seeded from `seed`: reproducible plans for tests
/// and golden files.
pub fn plan_seeded(mx: &MailExchanger, policy: &PlanPolicy, seed: u64) -> ConnectionPlan {
    plan(mx, policy, &mut rand::rngs::SmallRng::seed_from_u64(seed))
}

fn order_families(level: &mut [Attempt], family: FamilyPolicy) {
    let v4_first = match family {
        FamilyPolicy::V4First => true,
        FamilyPolicy::V6First => false,
        FamilyPolicy::Interleaved => {
            if level.len() > 2 {
                interleave(level);
            }
            return;
        }
        _ => return,
    };
    if level.len() < 2 {
        return;
    }
    let tmp: SmallVec<[Attempt; 16]> = SmallVec::from_slice(level);
    let mut w = 0;
    for pass_first in [true, false] {
        for a in &tmp {
            if (a.addr.is_ipv4() == v4_first) == pass_first {
                level[w] = *a;
                w += 1;
            }
        }
    }
}

fn interleave(level: &mut [Attempt]) {
    let tmp: SmallVec<[Attempt; 16]> = SmallVec::from_slice(level);
    let first_v4 = tmp[0].addr.is_ipv4();
    let mut a = tmp.iter().filter(|x| x.addr.is_ipv4() == first_v4);
    let mut b = tmp.iter().filter(|x| x.addr.is_ipv4() != first_v4);
    let mut w = 0;
    let mut take_a = true;
    while w < level.len() {
        let next = if take_a {
            a.next().or_else(|| b.next())
        } else {
            b.next().or_else(|| a.next())
        };
        match next {
            Some(x) => {
                level[w] = *x;
                w += 1;
            }
            None => break,
        }
        take_a = !take_a;
    }
}

struct Limits {
    max_addresses: usize,
    max_hosts: usize,
    addresses: usize,
    hosts: usize,
    used: SmallVec<[bool; 32]>,
}

impl Limits {
    /// Keeps the attempts of `out[level_start..]` that fit the limits (in order), plus the
    /// level's first attempt when `every_level` and nothing else fits.
    fn apply(&mut self, out: &mut Vec<Attempt>, level_start: usize, every_level: bool) {
        let mut w = level_start;
        for r in level_start..out.len() {
            let a = out[r];
            let h = a.host as usize;
            let new_host = !self.used.get(h).copied().unwrap_or(true);
            let fits =
                self.addresses < self.max_addresses && (!new_host || self.hosts < self.max_hosts);
            if fits || (every_level && w == level_start) {
                if new_host {
                    self.used[h] = true;
                    self.hosts += 1;
                }
                self.addresses += 1;
                out[w] = a;
                w += 1;
            }
        }
        out.truncate(w);
    }
}
