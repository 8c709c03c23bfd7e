//! [`MailExchanger`]: the resolved mail exchangers of one destination.

use crate::error::{LookupError, MxError, NameError};
use crate::name::{Destination, Target, normalize_host};
use crate::plan::PlanTable;
use crate::resolver::{Answer, AnswerKind, RecordData, RecordType, Resolver};
use futures_util::future::join_all;
use std::net::IpAddr;
use std::time::Duration;

/// Where the hosts of a [`MailExchanger`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MxSource {
    /// MX records.
    Mx,
    /// No MX records (NODATA): the domain itself is the only host, RFC 5321 section 5.1.
    ImplicitMx,
    /// A domain literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`).
    Literal,
    /// An explicit host list ([`MailExchanger::resolve_mx_list`]); planned in the given order.
    MxList,
}

/// What to do with a null MX (`.`) that appears beside other MX records, which RFC 7505
/// section 3 forbids ("MUST NOT advertise any other MX RR").
///
/// A null MX that is the only record is always [`MxError::NullMx`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum NullMxPolicy {
    /// Drop the `.` record and use the other hosts (Postfix and mox behave this way: the null MX
    /// only counts when it is the sole record). [`MailExchanger::ignored_null_mx`] reports it.
    #[default]
    IgnoreNullRecord,
    /// Treat the whole domain as null MX (KumoMTA's behaviour: a `.` at any preference).
    TreatAsNullMx,
}

/// Options for [`MailExchanger::resolve_with`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ResolveOptions {
    /// Null MX mixed with other records.
    pub null_mx: NullMxPolicy,
    /// An outer timeout for each query, on top of the resolver's own (`None`: the resolver's).
    pub query_timeout: Option<Duration>,
}

impl ResolveOptions {
    /// Sets the null MX policy.
    pub fn null_mx(mut self, policy: NullMxPolicy) -> Self {
        self.null_mx = policy;
        self
    }

    /// Sets the outer per-query timeout.
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = Some(timeout);
        self
    }
}

/// The outcome of a host's A/AAAA lookups. A host that fails is kept and reported, never
/// silently dropped.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum HostStatus {
    /// Every lookup answered; the host has addresses.
    Resolved,
    /// The host has addresses, but one family's lookup failed transiently.
    Partial(LookupError),
    /// Both families answered NODATA/NXDOMAIN: the host has no addresses (permanent for now).
    NoAddresses,
    /// No addresses, and at least one lookup failed transiently (retry later).
    Failed(LookupError),
    /// The MX target is not a valid host name; it was not looked up.
    InvalidName(NameError),
}

/// One mail exchanger host: its name (lowercase A-label), preference and addresses.
#[derive(Debug, Clone)]
pub struct MxHost {
    name: String,
    preference: u16,
    port: Option<u16>,
    addresses: Vec<IpAddr>,
    status: HostStatus,
}

impl MxHost {
    /// A resolved host, for building a [`MailExchanger`] by hand (tests, benchmarks, static
    /// routes). The name is normalized to a lowercase A-label.
    ///
    /// # Errors
    ///
    /// [`NameError`] when `name` is not a valid host name.
    pub fn new(name: &str, preference: u16, addresses: Vec<IpAddr>) -> Result<MxHost, NameError> {
        let status = if addresses.is_empty() {
            HostStatus::NoAddresses
        } else {
            HostStatus::Resolved
        };
        Ok(MxHost {
            name: normalize_host(name)?,
            preference,
            port: None,
            addresses,
            status,
        })
    }

    /// The host name as a lowercase A-label (or `[literal]`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The MX preference (lower is preferred).
    pub fn preference(&self) -> u16 {
        self.preference
    }

    /// The port to connect to, when the destination named one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The host's addresses, IPv4 first then IPv6, in the resolver's order.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addresses
    }

    /// How the host's lookups went.
    pub fn status(&self) -> &HostStatus {
        &self.status
    }

    /// `true` when the host has no addresses (for whatever reason).
    pub fn is_unusable(&self) -> bool {
        self.addresses.is_empty()
    }
}

/// The mail exchangers of one destination, grouped by preference.
///
/// Produced by [`MailExchanger::resolve`] (MX, implicit MX or literal) or
/// [`MailExchanger::resolve_mx_list`]. Plan connections with [`plan`](crate::plan()).
///
/// # Examples
///
/// ```
/// use kumo_dns::{MailExchanger, ZoneResolver, MxSource};
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let zone = ZoneResolver::from_zone_text(
///     "$ORIGIN example.test.\n@ MX 10 mx1\n@ MX 10 mx2\n@ MX 20 backup\n\
///      mx1 A 192.0.2.1\nmx2 A 192.0.2.2\nbackup AAAA 2001:db8::9\n",
/// )?;
/// let mx = MailExchanger::resolve(&zone, "Example.test").await?;
/// assert_eq!(mx.source(), MxSource::Mx);
/// let levels: Vec<(u16, usize)> = mx.levels().map(|(p, hosts)| (p, hosts.len())).collect();
/// assert_eq!(levels, [(10, 2), (20, 1)]);
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct MailExchanger {
    domain: String,
    port: Option<u16>,
    source: MxSource,
    /// Sorted by preference (then name, for MX); in the given order for `MxList`.
    hosts: Vec<MxHost>,
    /// (preference, start, end) ranges of `hosts`.
    levels: Vec<(u16, u32, u32)>,
    /// Flat addresses and per-host spans for the planner.
    table: PlanTable,
    ttl: Option<Duration>,
    secure: bool,
    ignored_null_mx: bool,
}

impl MailExchanger {
    /// Resolves `domain` with the default [`ResolveOptions`].
    ///
    /// `domain` may be a domain (any case, Unicode or A-labels, optional trailing dot), a literal
    /// `[192.0.2.1]` / `[IPv6:2001:db8::1]`, each with an optional `:port`. MX lookup first; then
    /// A and AAAA for every host, all concurrently.
    ///
    /// # Errors
    ///
    /// [`MxError`]: invalid name, NXDOMAIN and null MX are permanent; SERVFAIL, REFUSED,
    /// timeouts, DNSSEC-bogus answers and transport errors are temporary and never become an
    /// implicit MX. A host whose address lookups fail is reported in [`MxHost::status`], not as
    /// an error.
    pub async fn resolve<R: Resolver + ?Sized>(
        resolver: &R,
        domain: &str,
    ) -> Result<MailExchanger, MxError> {
        Self::resolve_with(resolver, domain, &ResolveOptions::default()).await
    }

    /// Resolves `domain` with `options` (see [`resolve`](Self::resolve)).
    ///
    /// # Errors
    ///
    /// As [`resolve`](Self::resolve).
    pub async fn resolve_with<R: Resolver + ?Sized>(
        resolver: &R,
        domain: &str,
        options: &ResolveOptions,
    ) -> Result<MailExchanger, MxError> {
        let dest = Destination::parse(domain).map_err(MxError::InvalidDomain)?;
        Self::resolve_destination(resolver, &dest, options).await
    }

    /// Resolves an already parsed [`Destination`] (see [`resolve`](Self::resolve)).
    ///
    /// # Errors
    ///
    /// As [`resolve`](Self::resolve).
    pub async fn resolve_destination<R: Resolver + ?Sized>(
        resolver: &R,
        dest: &Destination,
        options: &ResolveOptions,
    ) -> Result<MailExchanger, MxError> {
        let port = dest.port();
        let domain = match dest.target() {
            Target::Name(n) => n,
            Target::Literal(ip) => return Ok(Self::literal(dest, ip)),
        };
        let answer = query(resolver, domain, RecordType::Mx, options)
            .await
            .map_err(|source| MxError::Temporary {
                domain: domain.to_owned(),
                source,
            })?;
        let mut ignored_null_mx = false;
        let (source, wanted) = match answer.kind {
            AnswerKind::NxDomain => {
                return Err(MxError::NoSuchDomain {
                    domain: domain.to_owned(),
                });
            }
            AnswerKind::NoData => (MxSource::ImplicitMx, vec![(0u16, Ok(domain.to_owned()))]),
            AnswerKind::Records => {
                let mut wanted = Vec::with_capacity(answer.records.len());
                let mut nulls = 0usize;
                for r in &answer.records {
                    if let RecordData::Mx {
                        preference,
                        exchange,
                    } = r
                    {
                        let ex = exchange.trim();
                        if ex.is_empty() || ex == "." {
                            nulls += 1;
                        } else {
                            let name = normalize_host(ex).map_err(|e| (ex.to_owned(), e));
                            wanted.push((*preference, name));
                        }
                    }
                }
                if nulls > 0 {
                    if wanted.is_empty() || options.null_mx == NullMxPolicy::TreatAsNullMx {
                        return Err(MxError::NullMx {
                            domain: domain.to_owned(),
                        });
                    }
                    ignored_null_mx = true;
                }
                if wanted.is_empty() {
                    // A records answer without MX data: treat like a malformed answer.
                    return Err(MxError::Temporary {
                        domain: domain.to_owned(),
                        source: LookupError::Malformed,
                    });
                }
                (MxSource::Mx, wanted)
            }
        };
        let mut wanted = dedupe(wanted);
        // Sort by preference, then name: a stable base order (the planner shuffles).
        wanted.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| key(&a.1).cmp(key(&b.1))));
        let mut hosts = resolve_hosts(resolver, wanted, port, options).await;
        let mut ttl = answer.ttl;
        for (_, t) in &hosts {
            ttl = min_ttl(ttl, *t);
        }
        let hosts: Vec<MxHost> = hosts.drain(..).map(|(h, _)| h).collect();
        Ok(MailExchanger::assemble(
            domain.to_owned(),
            port,
            source,
            hosts,
            ttl,
            answer.secure,
            ignored_null_mx,
        ))
    }

    /// Resolves an explicit host list (smarthosts, per-queue routing), kept in the given order:
    /// each entry becomes its own preference level (0, 1, 2, ...) and the planner never
    /// reorders it. Entries are host names or literals, each with an optional `:port`; no MX
    /// lookup is done.
    ///
    /// # Errors
    ///
    /// [`MxError::InvalidDomain`] when an entry is not a valid name or literal.
    pub async fn resolve_mx_list<R: Resolver + ?Sized, S: AsRef<str>>(
        resolver: &R,
        entries: &[S],
        options: &ResolveOptions,
    ) -> Result<MailExchanger, MxError> {
        let dests = entries
            .iter()
            .map(|e| Destination::parse(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(MxError::InvalidDomain)?;
        let futs = dests.iter().enumerate().map(|(i, d)| async move {
            let pref = u16::try_from(i).unwrap_or(u16::MAX);
            match d.target() {
                Target::Literal(ip) => (literal_host(d, ip, pref), None),
                Target::Name(name) => {
                    let (addresses, status, ttl) = resolve_addresses(resolver, name, options).await;
                    let host = MxHost {
                        name: name.to_owned(),
                        preference: pref,
                        port: d.port(),
                        addresses,
                        status,
                    };
                    (host, ttl)
                }
            }
        });
        let resolved = join_all(futs).await;
        let mut ttl = None;
        let mut hosts = Vec::with_capacity(resolved.len());
        for (h, t) in resolved {
            ttl = min_ttl(ttl, t);
            hosts.push(h);
        }
        let domain = dests
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",");
        Ok(MailExchanger::assemble(
            domain,
            None,
            MxSource::MxList,
            hosts,
            ttl,
            false,
            false,
        ))
    }

    /// Builds a `MailExchanger` from hosts you resolved yourself (tests, benchmarks, static
    /// routes). Hosts are grouped by preference (stable within a level).
    ///
    /// # Errors
    ///
    /// [`NameError`] when `domain` is not a valid name.
    pub fn from_hosts(domain: &str, mut hosts: Vec<MxHost>) -> Result<MailExchanger, NameError> {
        let domain = normalize_host(domain)?;
        hosts.sort_by_key(|h| h.preference);
        Ok(MailExchanger::assemble(
            domain,
            None,
            MxSource::Mx,
            hosts,
            None,
            false,
            false,
        ))
    }

    fn literal(dest: &Destination, ip: IpAddr) -> MailExchanger {
        let host = literal_host(dest, ip, 0);
        MailExchanger::assemble(
            host.name.clone(),
            dest.port(),
            MxSource::Literal,
            vec![host],
            None,
            false,
            false,
        )
    }

    fn assemble(
        domain: String,
        port: Option<u16>,
        source: MxSource,
        hosts: Vec<MxHost>,
        ttl: Option<Duration>,
        secure: bool,
        ignored_null_mx: bool,
    ) -> MailExchanger {
        let mut levels: Vec<(u16, u32, u32)> = Vec::new();
        for (i, h) in hosts.iter().enumerate() {
            let i = i as u32;
            match levels.last_mut() {
                Some(l) if l.0 == h.preference => l.2 = i + 1,
                _ => levels.push((h.preference, i, i + 1)),
            }
        }
        let table = PlanTable::build(&hosts, port);
        MailExchanger {
            domain,
            port,
            source,
            hosts,
            levels,
            table,
            ttl,
            secure,
            ignored_null_mx,
        }
    }

    /// The destination: a lowercase A-label domain, a `[literal]`, or for an MX list the
    /// entries joined by `,`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The `:port` the destination named, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Where the hosts came from.
    pub fn source(&self) -> MxSource {
        self.source
    }

    /// Every host, ordered by preference.
    pub fn hosts(&self) -> &[MxHost] {
        &self.hosts
    }

    /// The preference levels in order, each with its hosts.
    pub fn levels(&self) -> impl ExactSizeIterator<Item = (u16, &[MxHost])> + '_ {
        self.levels
            .iter()
            .map(|&(p, s, e)| (p, &self.hosts[s as usize..e as usize]))
    }

    pub(crate) fn table(&self) -> &PlanTable {
        &self.table
    }

    /// Hosts that have no addresses (with the reason in [`MxHost::status`]).
    pub fn unusable_hosts(&self) -> impl Iterator<Item = &MxHost> + '_ {
        self.hosts.iter().filter(|h| h.is_unusable())
    }

    /// Number of addresses over all hosts.
    pub fn address_count(&self) -> usize {
        self.hosts.iter().map(|h| h.addresses.len()).sum()
    }

    /// How long this result may be used: the smallest TTL of the MX answer and every address
    /// answer. `None` when nothing expires (literals, hand-built values).
    pub fn ttl(&self) -> Option<Duration> {
        self.ttl
    }

    /// The MX (or NODATA) answer was DNSSEC-validated.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// A null MX record beside other MX records was dropped ([`NullMxPolicy::IgnoreNullRecord`]).
    pub fn ignored_null_mx(&self) -> bool {
        self.ignored_null_mx
    }

    /// `true` when a host lookup failed transiently (the result is worth re-resolving soon).
    pub fn has_temporary_failures(&self) -> bool {
        self.hosts
            .iter()
            .any(|h| matches!(h.status, HostStatus::Failed(_) | HostStatus::Partial(_)))
    }
}

type Wanted = (u16, Result<String, (String, NameError)>);

fn key(r: &Result<String, (String, NameError)>) -> &str {
    match r {
        Ok(n) => n,
        Err((n, _)) => n,
    }
}

/// Keeps the first (lowest preference after sorting) occurrence of each host name.
fn dedupe(mut wanted: Vec<Wanted>) -> Vec<Wanted> {
    wanted.sort_by(|a, b| key(&a.1).cmp(key(&b.1)).then(a.0.cmp(&b.0)));
    wanted.dedup_by(|b, a| key(&a.1) == key(&b.1));
    wanted
}

fn literal_host(dest: &Destination, ip: IpAddr, preference: u16) -> MxHost {
    let name = match ip {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    };
    MxHost {
        name,
        preference,
        port: dest.port(),
        addresses: vec![ip],
        status: HostStatus::Resolved,
    }
}

fn min_ttl(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

async fn query<R: Resolver + ?Sized>(
    resolver: &R,
    name: &str,
    rtype: RecordType,
    options: &ResolveOptions,
) -> Result<Answer, LookupError> {
    match options.query_timeout {
        Some(t) => match tokio::time::timeout(t, resolver.lookup(name, rtype)).await {
            Ok(r) => r,
            Err(_) => Err(LookupError::Timeout),
        },
        None => resolver.lookup(name, rtype).await,
    }
}

async fn resolve_hosts<R: Resolver + ?Sized>(
    resolver: &R,
    wanted: Vec<Wanted>,
    port: Option<u16>,
    options: &ResolveOptions,
) -> Vec<(MxHost, Option<Duration>)> {
    let futs = wanted.into_iter().map(|(preference, name)| async move {
        match name {
            Ok(name) => {
                let (addresses, status, ttl) = resolve_addresses(resolver, &name, options).await;
                (
                    MxHost {
                        name,
                        preference,
                        port,
                        addresses,
                        status,
                    },
                    ttl,
                )
            }
            Err((raw, e)) => (
                MxHost {
                    name: raw,
                    preference,
                    port,
                    addresses: Vec::new(),
                    status: HostStatus::InvalidName(e),
                },
                None,
            ),
        }
    });
    join_all(futs).await
}

/// A and AAAA for one host, concurrently.
async fn resolve_addresses<R: Resolver + ?Sized>(
    resolver: &R,
    name: &str,
    options: &ResolveOptions,
) -> (Vec<IpAddr>, HostStatus, Option<Duration>) {
    let (a, aaaa) = futures_util::future::join(
        query(resolver, name, RecordType::A, options),
        query(resolver, name, RecordType::Aaaa, options),
    )
    .await;
    let mut addresses = Vec::new();
    let mut failure = None;
    let mut ttl = None;
    for r in [a, aaaa] {
        match r {
            Ok(ans) => {
                ttl = min_ttl(ttl, ans.ttl);
                for rec in ans.records {
                    match rec {
                        RecordData::A(v4) => addresses.push(IpAddr::V4(v4)),
                        RecordData::Aaaa(v6) => addresses.push(IpAddr::V6(v6)),
                        RecordData::Mx { .. } => {}
                    }
                }
            }
            Err(e) => {
                if failure.is_none() {
                    failure = Some(e);
                }
            }
        }
    }
    let status = match (addresses.is_empty(), failure) {
        (false, None) => HostStatus::Resolved,
        (false, Some(e)) => HostStatus::Partial(e),
        (true, None) => HostStatus::NoAddresses,
        (true, Some(e)) => HostStatus::Failed(e),
    };
    (addresses, status, ttl)
}
