//! The [`Resolver`] seam: one query for one name and one record type.

use crate::error::LookupError;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::time::Duration;

/// A boxed future returned by [`Resolver::lookup`] (keeps the trait usable as `dyn Resolver`).
pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = Result<Answer, LookupError>> + Send + 'a>>;

/// The record types kumo-dns asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordType {
    /// MX records.
    Mx,
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
}

/// One record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordData {
    /// An MX record. `exchange` is the target as the resolver rendered it (an A-label, possibly
    /// with upper case and a trailing dot; `"."` or `""` for the root, i.e. a null MX).
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// The target host name.
        exchange: String,
    },
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
}

/// Whether the name exists and has records of the asked type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnswerKind {
    /// Records of the asked type (in [`Answer::records`]).
    Records,
    /// The name exists but has no records of this type (NOERROR with an empty answer).
    NoData,
    /// The name does not exist (NXDOMAIN).
    NxDomain,
}

/// A successful DNS answer: records, or a definite negative (NODATA / NXDOMAIN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Records, NODATA or NXDOMAIN.
    pub kind: AnswerKind,
    /// The records (empty unless `kind` is [`AnswerKind::Records`]).
    pub records: Vec<RecordData>,
    /// How long the answer may be cached: the smallest record TTL, or the negative TTL (SOA
    /// minimum) for NODATA/NXDOMAIN when the server sent one.
    pub ttl: Option<Duration>,
    /// DNSSEC validated (the "authentic data" of the answer). `false` when not validated.
    pub secure: bool,
}

impl Answer {
    /// An answer with records.
    pub fn records(records: Vec<RecordData>, ttl: Duration) -> Answer {
        Answer {
            kind: AnswerKind::Records,
            records,
            ttl: Some(ttl),
            secure: false,
        }
    }

    /// A negative answer (NODATA or NXDOMAIN) with an optional negative TTL.
    pub fn negative(kind: AnswerKind, ttl: Option<Duration>) -> Answer {
        Answer {
            kind,
            records: Vec::new(),
            ttl,
            secure: false,
        }
    }
}

/// Something that answers DNS queries: hickory-resolver in production
/// ([`HickoryResolver`](crate::HickoryResolver)), zone text in tests
/// ([`ZoneResolver`](crate::ZoneResolver)), or your own.
///
/// `name` is a lowercase A-label without the trailing dot; implementations treat it as fully
/// qualified (no search domains).
///
/// # Errors
///
/// A [`LookupError`] for every transient failure: SERVFAIL, REFUSED, timeouts, DNSSEC-bogus
/// answers, transport errors. NODATA and NXDOMAIN are answers, not errors.
pub trait Resolver: Send + Sync {
    /// Queries `name` for `rtype`.
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a>;
}

impl<R: Resolver + ?Sized> Resolver for std::sync::Arc<R> {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        (**self).lookup(name, rtype)
    }
}

impl<R: Resolver + ?Sized> Resolver for &R {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        (**self).lookup(name, rtype)
    }
}
