//! MX resolution with RFC 5321/7505 semantics, a TTL cache with single-flight, and a seedable randomized connection planner.
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! # What it does
//!
//! kumo-dns answers "where do I connect to deliver mail for this domain, and in which order?"
//!
//! 1. [`MailExchanger::resolve`] looks up MX records, then A and AAAA for every host
//!    concurrently, and classifies the outcome exactly:
//!    - MX records → hosts grouped by preference ([`MxSource::Mx`]);
//!    - NODATA → an implicit MX on the domain itself ([`MxSource::ImplicitMx`]);
//!    - NXDOMAIN → [`MxError::NoSuchDomain`] (permanent);
//!    - SERVFAIL, REFUSED, timeout, DNSSEC-bogus → [`MxError::Temporary`], **never** an implicit MX;
//!    - a lone null MX (RFC 7505) → [`MxError::NullMx`] (permanent, 556 5.1.10); a null MX beside
//!      other records follows [`NullMxPolicy`] (default: dropped, the other hosts are used);
//!    - literals `[192.0.2.1]`, `[IPv6:2001:db8::1]` and a `:port` suffix ([`Destination`]);
//!    - a host whose addresses fail to resolve stays in the result with its [`HostStatus`].
//!
//!    Every stored and returned name is a lowercase A-label (`münchen.test` →
//!    `xn--mnchen-3ya.test`, MX targets too); Unicode is for display only.
//! 2. [`MxCache`] keeps results for their TTL, caches failures for a configurable negative TTL,
//!    coalesces concurrent misses into one upstream resolution, counts hits, misses, errors and
//!    coalesced callers, and holds a bounded number of entries.
//! 3. [`plan()`] turns a `MailExchanger` into a [`ConnectionPlan`] for one session, without I/O:
//!    every address of preference p before any of q > p; hosts shuffled uniformly within a level
//!    (Fisher-Yates over hosts, then over each host's addresses) or address-weighted like
//!    KumoMTA ([`ShuffleMode`]); an address-family policy ([`FamilyPolicy`]); limits on addresses
//!    and hosts that can keep one address per level; explicit MX lists kept in order. All
//!    randomness comes from the `Rng` you pass, so a seed reproduces a plan.
//!
//! The [`Resolver`] trait is the seam: [`HickoryResolver`] (hickory-resolver 0.26, any name
//! servers, including a loopback port) in production, [`ZoneResolver`] (zone text, fault
//! injection, query counters) in tests.
//!
//! # Example
//!
//! ```
//! use kumo_dns::{plan, MailExchanger, PlanPolicy, ZoneResolver};
//! use rand::{SeedableRng, rngs::SmallRng};
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! let zone = ZoneResolver::from_zone_text(
//!     "$ORIGIN example.test.\n\
//!      @      MX 10 mx1\n\
//!      @      MX 10 mx2\n\
//!      @      MX 20 backup\n\
//!      mx1    A 192.0.2.1\n\
//!      mx2    A 192.0.2.2\n\
//!      mx2    AAAA 2001:db8::2\n\
//!      backup A 192.0.2.9\n",
//! )?;
//! let mx = MailExchanger::resolve(&zone, "example.test").await?;
//! let plan = plan(&mx, &PlanPolicy::default(), &mut SmallRng::seed_from_u64(1));
//! assert_eq!(plan.len(), 4);
//! assert_eq!(plan.get(3).map(|a| a.addr()), Some("192.0.2.9:25".parse()?));
//! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! - `server`: [`server::LoopbackDnsServer`], an in-process authoritative DNS server
//!   (hickory-server) on `127.0.0.1` with an ephemeral port that serves zone text, injects
//!   SERVFAIL / REFUSED / no answer per name, and counts the queries it receives. For tests and
//!   demos of programs that resolve through this crate.
//! - `dnssec`: DNSSEC validation in [`HickoryResolver`] (`HickoryOptions::validate` with
//!   `TrustAnchors`, the public root keys or DNSKEY records you give), on hickory's
//!   `dnssec-ring`. An answer that fails validation is `LookupError::Bogus`, a temporary failure.
//!
//! # Should I use this crate?
//!
//! Use it when you deliver mail and want RFC-exact MX classification, a cache that does not
//! stampede your resolver, and connection orders you can reproduce and test. It is not a general
//! DNS library: for other record types use hickory-resolver directly.

mod cache;
mod clock;
#[cfg(feature = "dnssec")]
mod dnssec;
mod error;
mod hickory;
mod mx;
mod name;
mod plan;
mod resolver;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
mod ttl_map;
mod zone;
mod zone_text;

pub use cache::{CacheConfig, CacheStats, MxCache};
pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(feature = "dnssec")]
#[cfg_attr(docsrs, doc(cfg(feature = "dnssec")))]
pub use dnssec::{TrustAnchorError, TrustAnchors};
pub use error::{LookupError, MxError, NameError, ZoneError};
pub use hickory::{HickoryOptions, HickoryResolver};
pub use mx::{HostStatus, MailExchanger, MxHost, MxSource, NullMxPolicy, ResolveOptions};
pub use name::{Destination, display_name, normalize_host};
pub use plan::{
    Attempt, ConnectionPlan, FamilyPolicy, PlanPolicy, ShuffleMode, plan, plan_into, plan_seeded,
};
pub use resolver::{Answer, AnswerKind, LookupFuture, RecordData, RecordType, Resolver};
pub use zone::{Fault, ZoneResolver};

/// The hickory-resolver version [`HickoryResolver`] wraps.
pub use hickory_resolver;
/// The rand version [`plan()`] takes an `Rng` from.
pub use rand;
