//! [`ZoneResolver`]: a [`Resolver`] that answers from zone text, with fault injection.

use crate::error::{LookupError, ZoneError};
use crate::resolver::{Answer, AnswerKind, LookupFuture, RecordData, RecordType, Resolver};
use crate::zone_text;
use hashbrown::{HashMap, HashSet};
use hickory_proto::rr::RData;
use parking_lot::Mutex;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A failure [`ZoneResolver`] (and the loopback server) can inject for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// Answer SERVFAIL.
    ServFail,
    /// Answer REFUSED.
    Refused,
    /// Never answer (the resolver reports a timeout).
    Timeout,
    /// Fail DNSSEC validation (zone-text resolver only).
    Bogus,
}

#[derive(Debug, Default)]
struct NameData {
    mx: Vec<(u16, String, u32)>,
    a: Vec<(Ipv4Addr, u32)>,
    aaaa: Vec<(Ipv6Addr, u32)>,
    cname: Option<(String, u32)>,
}

#[derive(Debug, Default)]
struct Zones {
    names: HashMap<String, NameData>,
    /// Every owner name and its ancestors inside its zone (empty non-terminals exist).
    existing: HashSet<String>,
    /// (origin, negative TTL)
    origins: Vec<(String, u32)>,
}

/// A [`Resolver`] that answers from zone text, for tests: no sockets, deterministic.
///
/// Semantics follow an authoritative server: records of the type → records; the name (or a
/// name below it) exists → NODATA; a name inside a served zone → NXDOMAIN; outside every zone →
/// REFUSED. CNAMEs are followed (up to 8). Faults can be injected per name, and every query is
/// counted.
///
/// # Examples
///
/// ```
/// use kumo_dns::{ZoneResolver, Resolver, RecordType, AnswerKind};
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let zone = ZoneResolver::from_zone_text("$ORIGIN example.test.\n@ MX 10 mx\nmx A 192.0.2.1\n")?;
/// let answer = zone.lookup("example.test", RecordType::Mx).await?;
/// assert_eq!(answer.kind, AnswerKind::Records);
/// assert_eq!(zone.lookup("nope.example.test", RecordType::A).await?.kind, AnswerKind::NxDomain);
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct ZoneResolver {
    zones: Zones,
    faults: Mutex<HashMap<String, Fault>>,
    delay: Option<Duration>,
    total: AtomicU64,
    per_name: Mutex<HashMap<(String, RecordType), u64>>,
}

impl ZoneResolver {
    /// An empty resolver (every query is REFUSED) to which zones can be added.
    pub fn new() -> ZoneResolver {
        ZoneResolver::default()
    }

    /// Loads zone text (master-file syntax). Each SOA starts a zone; without an SOA, one is
    /// synthesized at `$ORIGIN` with a 30 s negative TTL. `$TTL` defaults to 300.
    ///
    /// # Errors
    ///
    /// [`ZoneError`] when the text does not parse or has no origin.
    pub fn from_zone_text(text: &str) -> Result<ZoneResolver, ZoneError> {
        ZoneResolver::new().with_zone_text(text)
    }

    /// Adds the zones of `text` (see [`from_zone_text`](Self::from_zone_text)).
    ///
    /// # Errors
    ///
    /// [`ZoneError`] when the text does not parse or has no origin.
    pub fn with_zone_text(mut self, text: &str) -> Result<ZoneResolver, ZoneError> {
        for zone in zone_text::parse(text, None)? {
            let origin = ascii(&zone.origin.to_ascii());
            let neg = zone.negative_ttl();
            for r in &zone.records {
                let owner = ascii(&r.name.to_ascii());
                // The owner and its ancestors down to the origin exist.
                let mut n = owner.as_str();
                loop {
                    self.zones.existing.insert(n.to_owned());
                    if n == origin {
                        break;
                    }
                    match n.split_once('.') {
                        Some((_, rest)) => n = rest,
                        None => break,
                    }
                }
                let data = self.zones.names.entry(owner).or_default();
                match &r.data {
                    RData::MX(mx) => {
                        data.mx.push((mx.preference, mx.exchange.to_ascii(), r.ttl));
                    }
                    RData::A(a) => data.a.push((a.0, r.ttl)),
                    RData::AAAA(a) => data.aaaa.push((a.0, r.ttl)),
                    RData::CNAME(c) => data.cname = Some((ascii(&c.0.to_ascii()), r.ttl)),
                    _ => {}
                }
            }
            self.zones.origins.push((origin, neg));
        }
        Ok(self)
    }

    /// Injects `fault` for every query of `name` (any record type).
    pub fn with_fault(self, name: &str, fault: Fault) -> ZoneResolver {
        self.set_fault(name, Some(fault));
        self
    }

    /// Sets or clears the fault for `name`.
    pub fn set_fault(&self, name: &str, fault: Option<Fault>) {
        let key = ascii(name);
        let mut f = self.faults.lock();
        match fault {
            Some(fault) => {
                f.insert(key, fault);
            }
            None => {
                f.remove(&key);
            }
        }
    }

    /// Delays every answer by `delay` (needs the tokio time driver), e.g. to hold lookups in
    /// flight while testing single-flight.
    pub fn with_delay(mut self, delay: Duration) -> ZoneResolver {
        self.delay = Some(delay);
        self
    }

    /// Queries received so far (all names and types).
    pub fn queries(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Queries received so far for `name` and `rtype`.
    pub fn queries_for(&self, name: &str, rtype: RecordType) -> u64 {
        self.per_name
            .lock()
            .get(&(ascii(name), rtype))
            .copied()
            .unwrap_or(0)
    }

    fn answer(&self, name: &str, rtype: RecordType) -> Result<Answer, LookupError> {
        let mut name = ascii(name);
        let mut chain_ttl = u32::MAX;
        for _ in 0..8 {
            if let Some(f) = self.faults.lock().get(&name) {
                return Err(match f {
                    Fault::ServFail => LookupError::ServFail,
                    Fault::Refused => LookupError::Refused,
                    Fault::Timeout => LookupError::Timeout,
                    Fault::Bogus => LookupError::Bogus,
                });
            }
            let Some(zone_neg) = self
                .zones
                .origins
                .iter()
                .filter(|(o, _)| in_zone(&name, o))
                .max_by_key(|(o, _)| o.len())
                .map(|(_, neg)| *neg)
            else {
                return Err(LookupError::Refused);
            };
            let neg = Some(secs(zone_neg));
            let Some(data) = self.zones.names.get(&name) else {
                let kind = if self.zones.existing.contains(&name) {
                    AnswerKind::NoData
                } else {
                    AnswerKind::NxDomain
                };
                return Ok(Answer::negative(kind, neg));
            };
            let mut ttl = chain_ttl;
            let records: Vec<RecordData> = match rtype {
                RecordType::Mx => data
                    .mx
                    .iter()
                    .map(|(p, e, t)| {
                        ttl = ttl.min(*t);
                        RecordData::Mx {
                            preference: *p,
                            exchange: e.clone(),
                        }
                    })
                    .collect(),
                RecordType::A => data
                    .a
                    .iter()
                    .map(|(a, t)| {
                        ttl = ttl.min(*t);
                        RecordData::A(*a)
                    })
                    .collect(),
                RecordType::Aaaa => data
                    .aaaa
                    .iter()
                    .map(|(a, t)| {
                        ttl = ttl.min(*t);
                        RecordData::Aaaa(*a)
                    })
                    .collect(),
            };
            if !records.is_empty() {
                return Ok(Answer::records(records, secs(ttl)));
            }
            match &data.cname {
                Some((target, t)) => {
                    chain_ttl = chain_ttl.min(*t);
                    name = target.clone();
                }
                None => return Ok(Answer::negative(AnswerKind::NoData, neg)),
            }
        }
        Err(LookupError::Malformed)
    }
}

impl Resolver for ZoneResolver {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        self.total.fetch_add(1, Ordering::Relaxed);
        *self
            .per_name
            .lock()
            .entry((ascii(name), rtype))
            .or_insert(0) += 1;
        Box::pin(async move {
            if let Some(d) = self.delay {
                tokio::time::sleep(d).await;
            }
            self.answer(name, rtype)
        })
    }
}

fn ascii(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

fn in_zone(name: &str, origin: &str) -> bool {
    name == origin
        || (name.len() > origin.len()
            && name.ends_with(origin)
            && name.as_bytes()[name.len() - origin.len() - 1] == b'.')
}
