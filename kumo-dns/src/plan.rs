//! The pure connection planner: [`plan`] turns a [`MailExchanger`] into the ordered list of
//! addresses one SMTP session tries.

use crate::mx::{MailExchanger, MxHost, MxSource};
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
    ip: IpAddr,
    port: u16,
    preference: u16,
    host: u32,
}

impl Attempt {
    /// Address and port to connect to.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// The address to connect to.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port
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

/// Attempts a plan holds without allocating.
const INLINE: usize = 16;

/// One planned attempt, compact: indices into the shared [`PlanTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    addr: u16,
    host: u16,
    preference: u16,
    port: u16,
}

impl Entry {
    const ZERO: Entry = Entry {
        addr: 0,
        host: 0,
        preference: 0,
        port: 0,
    };
}

/// The ordered addresses one session tries: every address of preference p before any address of
/// preference q > p.
///
/// The plan borrows the [`MailExchanger`] it was made from; [`to_vec`](Self::to_vec) gives an
/// owned list of [`Attempt`]s to keep beyond that borrow.
///
/// # Implementation
///
/// Entries are 8 bytes of indices into the `MailExchanger`'s flat address table, stored inline
/// up to 16 attempts: planning allocates nothing, touches no atomic counter and copies no
/// address; [`Attempt`]s are built on access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPlan<'a> {
    table: &'a PlanTable,
    entries: SmallVec<[Entry; INLINE]>,
}

impl<'a> ConnectionPlan<'a> {
    /// An empty plan for `mx`, to fill with [`plan_into`].
    pub fn new(mx: &'a MailExchanger) -> ConnectionPlan<'a> {
        ConnectionPlan {
            table: mx.table(),
            entries: SmallVec::new(),
        }
    }

    /// Number of attempts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when there is nothing to try (no host had a usable address).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `i`-th attempt (0 is tried first).
    pub fn get(&self, i: usize) -> Option<Attempt> {
        self.entries.get(i).map(|e| self.table.attempt(e))
    }

    /// The first attempt.
    pub fn first(&self) -> Option<Attempt> {
        self.get(0)
    }

    /// Iterates over the attempts in order.
    pub fn iter(&self) -> PlanIter<'_> {
        PlanIter {
            table: self.table,
            entries: self.entries.iter(),
        }
    }

    /// The addresses in order.
    pub fn addrs(&self) -> impl ExactSizeIterator<Item = SocketAddr> + '_ {
        self.iter().map(|a| a.addr())
    }

    /// The attempts as an owned vector.
    pub fn to_vec(&self) -> Vec<Attempt> {
        self.iter().collect()
    }
}

/// Iterator over the attempts of a [`ConnectionPlan`].
#[derive(Debug, Clone)]
pub struct PlanIter<'a> {
    table: &'a PlanTable,
    entries: std::slice::Iter<'a, Entry>,
}

impl Iterator for PlanIter<'_> {
    type Item = Attempt;

    fn next(&mut self) -> Option<Attempt> {
        self.entries.next().map(|e| self.table.attempt(e))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for PlanIter<'_> {}

impl<'a> IntoIterator for &'a ConnectionPlan<'_> {
    type Item = Attempt;
    type IntoIter = PlanIter<'a>;
    fn into_iter(self) -> PlanIter<'a> {
        self.iter()
    }
}

/// Uniform bounded integers from an `Rng`, exactly unbiased (Lemire, "Fast random integer
/// generation in an interval", 2019: multiply, reject the short zone). Bounds up to 2^16 use
/// 16-bit lanes of one 64-bit draw, four per draw; larger bounds use 32-bit draws.
struct Draws<'r, R: ?Sized> {
    rng: &'r mut R,
    buf: u64,
    left: u32,
}

impl<'r, R: Rng + ?Sized> Draws<'r, R> {
    fn new(rng: &'r mut R) -> Self {
        Draws {
            rng,
            buf: 0,
            left: 0,
        }
    }

    #[inline]
    fn lane(&mut self) -> u32 {
        if self.left == 0 {
            self.buf = self.rng.next_u64();
            self.left = 4;
        }
        let v = (self.buf & 0xFFFF) as u32;
        self.buf >>= 16;
        self.left -= 1;
        v
    }

    /// A uniform integer in `0..n`, `n > 0`.
    #[inline]
    fn below(&mut self, n: u32) -> u32 {
        if n <= 0x1_0000 {
            let mut m = self.lane() * n;
            if (m & 0xFFFF) < n {
                let threshold = (0x1_0000 - n) % n;
                while (m & 0xFFFF) < threshold {
                    m = self.lane() * n;
                }
            }
            m >> 16
        } else {
            let mut m = u64::from(self.rng.next_u32()) * u64::from(n);
            if (m as u32) < n {
                let threshold = n.wrapping_neg() % n;
                while (m as u32) < threshold {
                    m = u64::from(self.rng.next_u32()) * u64::from(n);
                }
            }
            (m >> 32) as u32
        }
    }
}

/// Fisher-Yates: every permutation of `items` equally likely.
#[inline]
fn fisher_yates<T, R: Rng + ?Sized>(items: &mut [T], draws: &mut Draws<'_, R>) {
    let n = items.len();
    if n < 2 {
        return;
    }
    // A level never holds anywhere near 2^32 entries; saturate rather than truncate.
    for i in (1..n).rev() {
        let bound = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let j = draws.below(bound) as usize;
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
/// Hosts without addresses contribute nothing. The planner considers at most 65,535 hosts and
/// 65,535 addresses of a `MailExchanger`.
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
/// assert_eq!(plan.get(2).map(|a| a.addr()), Some("[2001:db8::1]:25".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan<'a, R: Rng + ?Sized>(
    mx: &'a MailExchanger,
    policy: &PlanPolicy,
    rng: &mut R,
) -> ConnectionPlan<'a> {
    let mut out = ConnectionPlan::new(mx);
    plan_into(mx, policy, rng, &mut out);
    out
}

/// [`plan`] into an existing plan, reusing its allocation (the previous attempts are
/// replaced).
pub fn plan_into<'a, R: Rng + ?Sized>(
    mx: &'a MailExchanger,
    policy: &PlanPolicy,
    rng: &mut R,
    into: &mut ConnectionPlan<'a>,
) {
    let table: &'a PlanTable = mx.table();
    into.table = table;
    // Work on a slice of the final size: plain indexed writes, no push bookkeeping.
    let total = table.addrs.len();
    if total <= INLINE {
        into.entries = SmallVec::from_buf_and_len([Entry::ZERO; INLINE], total);
    } else {
        into.entries.clear();
        into.entries.resize(total, Entry::ZERO);
    }
    let out: &mut [Entry] = &mut into.entries;
    let mut w = 0usize;
    let ordered = mx.source() == MxSource::MxList || policy.shuffle == ShuffleMode::None;
    let host_shuffle = !ordered && policy.shuffle == ShuffleMode::Host;
    let address_shuffle = !ordered && policy.shuffle == ShuffleMode::AddressWeighted;
    let limited = policy.max_addresses.is_some() || policy.max_hosts.is_some();
    let filter = match policy.family {
        FamilyPolicy::V4Only => Some(true),
        FamilyPolicy::V6Only => Some(false),
        _ => None,
    };
    let reorder = !matches!(
        policy.family,
        FamilyPolicy::Both | FamilyPolicy::V4Only | FamilyPolicy::V6Only
    );
    let mut limits = Limits {
        max_addresses: policy.max_addresses.unwrap_or(usize::MAX),
        max_hosts: policy.max_hosts.unwrap_or(usize::MAX),
        addresses: 0,
        hosts: 0,
        used: if policy.max_hosts.is_some() {
            smallvec::smallvec![false; table.spans.len()]
        } else {
            SmallVec::new()
        },
    };
    let mut draws = Draws::new(rng);
    let mut stack_order = [0u16; 64];
    let mut heap_order: Vec<u16> = Vec::new();
    for &(preference, start, end) in &table.levels {
        let level_start = w;
        let k = usize::from(end - start);
        let order: &mut [u16] = if k <= stack_order.len() {
            &mut stack_order[..k]
        } else {
            heap_order.resize(k, 0);
            &mut heap_order[..]
        };
        for (slot, hi) in order.iter_mut().zip(start..end) {
            *slot = hi;
        }
        if host_shuffle {
            fisher_yates(order, &mut draws);
        }
        for &hi in order.iter() {
            let span = table.spans[usize::from(hi)];
            let port = if span.port != 0 {
                span.port
            } else {
                policy.default_port
            };
            let hs = w;
            for addr in span.start..span.end {
                if filter.is_some_and(|v4| table.addrs[usize::from(addr)].is_ipv4() != v4) {
                    continue;
                }
                out[w] = Entry {
                    addr,
                    host: hi,
                    preference,
                    port,
                };
                w += 1;
            }
            if host_shuffle && w - hs > 1 {
                fisher_yates(&mut out[hs..w], &mut draws);
            }
        }
        if address_shuffle {
            fisher_yates(&mut out[level_start..w], &mut draws);
        }
        if reorder {
            order_families(&mut out[level_start..w], policy.family, &table.addrs);
        }
        if limited {
            w = limits.apply(out, level_start, w, policy.every_level);
        }
    }
    into.entries.truncate(w);
}

/// [`plan`] with a [`rand::rngs::SmallRng`] seeded from `seed`: reproducible plans for tests
/// and golden files.
pub fn plan_seeded<'a>(
    mx: &'a MailExchanger,
    policy: &PlanPolicy,
    seed: u64,
) -> ConnectionPlan<'a> {
    plan(mx, policy, &mut rand::rngs::SmallRng::seed_from_u64(seed))
}

/// The planner's view of a [`MailExchanger`]: every address in one flat array, host by host,
/// and the preference levels as host ranges. Shared by the plans made from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PlanTable {
    addrs: Vec<IpAddr>,
    spans: Vec<Span>,
    /// (preference, first host, end host)
    levels: Vec<(u16, u16, u16)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u16,
    end: u16,
    /// The host's or destination's port; 0 = the policy's default.
    port: u16,
}

impl PlanTable {
    /// Builds the table of `hosts` (sorted by preference); beyond 65,535 hosts or addresses
    /// the rest is left out.
    pub(crate) fn build(hosts: &[MxHost], port: Option<u16>) -> PlanTable {
        const MAX: usize = u16::MAX as usize;
        let hosts = &hosts[..hosts.len().min(MAX)];
        let mut addrs: Vec<IpAddr> = Vec::with_capacity(
            hosts
                .iter()
                .map(|h| h.addresses().len())
                .sum::<usize>()
                .min(MAX),
        );
        let mut spans = Vec::with_capacity(hosts.len());
        let mut levels: Vec<(u16, u16, u16)> = Vec::new();
        for (i, h) in hosts.iter().enumerate() {
            let room = MAX - addrs.len();
            let take = &h.addresses()[..h.addresses().len().min(room)];
            let start = addrs.len() as u16;
            addrs.extend_from_slice(take);
            spans.push(Span {
                start,
                end: addrs.len() as u16,
                port: h.port().or(port).unwrap_or(0),
            });
            let i = i as u16;
            match levels.last_mut() {
                Some(l) if l.0 == h.preference() => l.2 = i + 1,
                _ => levels.push((h.preference(), i, i + 1)),
            }
        }
        PlanTable {
            addrs,
            spans,
            levels,
        }
    }

    fn attempt(&self, e: &Entry) -> Attempt {
        Attempt {
            ip: self.addrs[usize::from(e.addr)],
            port: e.port,
            preference: e.preference,
            host: u32::from(e.host),
        }
    }
}

fn order_families(level: &mut [Entry], family: FamilyPolicy, addrs: &[IpAddr]) {
    if level.len() < 2 {
        return;
    }
    let is_v4 = |e: &Entry| addrs[usize::from(e.addr)].is_ipv4();
    let tmp: SmallVec<[Entry; 32]> = SmallVec::from_slice(level);
    let mut w = 0;
    match family {
        FamilyPolicy::V4First | FamilyPolicy::V6First => {
            let v4_first = family == FamilyPolicy::V4First;
            for pass_first in [true, false] {
                for e in &tmp {
                    if (is_v4(e) == v4_first) == pass_first {
                        level[w] = *e;
                        w += 1;
                    }
                }
            }
        }
        FamilyPolicy::Interleaved => {
            let first_v4 = is_v4(&tmp[0]);
            let mut a = tmp.iter().filter(|e| is_v4(e) == first_v4);
            let mut b = tmp.iter().filter(|e| is_v4(e) != first_v4);
            let mut take_a = true;
            while w < level.len() {
                let next = if take_a {
                    a.next().or_else(|| b.next())
                } else {
                    b.next().or_else(|| a.next())
                };
                match next {
                    Some(e) => {
                        level[w] = *e;
                        w += 1;
                    }
                    None => break,
                }
                take_a = !take_a;
            }
        }
        _ => {}
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
    /// Returns the new end of the plan.
    fn apply(
        &mut self,
        out: &mut [Entry],
        level_start: usize,
        end: usize,
        every_level: bool,
    ) -> usize {
        let mut w = level_start;
        for r in level_start..end {
            let e = out[r];
            let h = usize::from(e.host);
            let new_host = !self.used.get(h).copied().unwrap_or(true);
            let fits =
                self.addresses < self.max_addresses && (!new_host || self.hosts < self.max_hosts);
            if fits || (every_level && w == level_start) {
                if new_host {
                    self.used[h] = true;
                    self.hosts += 1;
                }
                self.addresses += 1;
                out[w] = e;
                w += 1;
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;

    #[test]
    fn draws_are_uniform_for_awkward_bounds() {
        // Bounds that do not divide 2^16 (a plain modulo would be biased): chi-square with
        // df = n - 1 against a bound far above the 1e-6 critical value, fixed seed.
        let mut rng = SmallRng::seed_from_u64(3);
        let mut d = Draws::new(&mut rng);
        for n in [2u32, 3, 7, 11, 60] {
            let draws = u64::from(n) * 20_000;
            let mut counts = vec![0u64; n as usize];
            for _ in 0..draws {
                counts[d.below(n) as usize] += 1;
            }
            let e = draws as f64 / f64::from(n);
            let chi: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
            assert!(chi < f64::from(n) * 3.0 + 30.0, "n={n} chi2={chi}");
        }
        // Large bounds: both the 16-bit-lane and the 32-bit path stay in range.
        for n in [40_000u32, 65_536, 70_000, u32::MAX] {
            for _ in 0..10_000 {
                assert!(d.below(n) < n);
            }
        }
    }
}
