//! [`Resolver`] on hickory-resolver 0.26.

#[cfg(feature = "dnssec")]
use crate::dnssec::TrustAnchors;
use crate::error::LookupError;
use crate::resolver::{Answer, AnswerKind, LookupFuture, RecordData, RecordType, Resolver};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType as HRecordType};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options for [`HickoryResolver::new`]. The defaults are hickory's (5 s timeout, 2 attempts,
/// 8192 cached answers, no DNSSEC validation).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HickoryOptions {
    /// Timeout for one request to one server.
    pub timeout: Duration,
    /// How many times a request is tried.
    pub attempts: usize,
    /// Size of hickory's own response cache (0 disables it).
    pub cache_size: u64,
    /// Also connect over TCP (tried after UDP fails or is truncated).
    pub tcp: bool,
    /// Validate answers with DNSSEC from these trust anchors (feature `dnssec`); `None` (the
    /// default) does not validate. See [`HickoryOptions::validate`].
    #[cfg(feature = "dnssec")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dnssec")))]
    pub dnssec: Option<TrustAnchors>,
}

impl Default for HickoryOptions {
    fn default() -> Self {
        HickoryOptions {
            timeout: Duration::from_secs(5),
            attempts: 2,
            cache_size: 8192,
            tcp: true,
            #[cfg(feature = "dnssec")]
            dnssec: None,
        }
    }
}

impl HickoryOptions {
    /// Sets the per-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the number of attempts.
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts;
        self
    }

    /// Sets the size of hickory's response cache.
    pub fn cache_size(mut self, cache_size: u64) -> Self {
        self.cache_size = cache_size;
        self
    }

    /// Enables or disables TCP beside UDP.
    pub fn tcp(mut self, tcp: bool) -> Self {
        self.tcp = tcp;
        self
    }

    /// Validates every answer with DNSSEC, starting from `anchors` (feature `dnssec`).
    ///
    /// An answer that fails validation (bogus: missing or bad signatures, or a zone served
    /// unsigned where the chain of trust says it must be signed) becomes
    /// [`LookupError::Bogus`], which [`MailExchanger::resolve`](crate::MailExchanger::resolve)
    /// reports as a temporary failure, never as an implicit MX. Provably insecure (unsigned
    /// delegation) answers are accepted. Validation costs extra DS and DNSKEY queries.
    #[cfg(feature = "dnssec")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dnssec")))]
    pub fn validate(mut self, anchors: TrustAnchors) -> Self {
        self.dnssec = Some(anchors);
        self
    }
}

/// A [`Resolver`] backed by hickory-resolver, pointed at the name servers you give (any
/// address and port, including a loopback test server).
///
/// Must be used inside a tokio runtime. Lookups are fully qualified: no search domains apply.
///
/// DNSSEC: with validation on ([`HickoryOptions::validate`], feature `dnssec`) hickory's
/// `DnssecBogus` error maps to [`LookupError::Bogus`]. This adapter does not read hickory's
/// per-record proofs, so [`Answer::secure`] is always `false` here.
#[derive(Debug, Clone)]
pub struct HickoryResolver {
    inner: Arc<TokioResolver>,
}

impl HickoryResolver {
    /// A resolver that queries `name_servers` (UDP, and TCP if `options.tcp`).
    ///
    /// # Errors
    ///
    /// [`LookupError::Transport`] when hickory rejects the configuration.
    pub fn new(
        name_servers: &[SocketAddr],
        options: HickoryOptions,
    ) -> Result<HickoryResolver, LookupError> {
        let servers = name_servers
            .iter()
            .map(|sa| {
                let mut conns = Vec::with_capacity(2);
                let mut udp = ConnectionConfig::new(ProtocolConfig::Udp);
                udp.port = sa.port();
                conns.push(udp);
                if options.tcp {
                    let mut tcp = ConnectionConfig::new(ProtocolConfig::Tcp);
                    tcp.port = sa.port();
                    conns.push(tcp);
                }
                NameServerConfig::new(sa.ip(), true, conns)
            })
            .collect();
        let config = ResolverConfig::from_parts(None, vec![], servers);
        #[cfg_attr(not(feature = "dnssec"), allow(unused_mut))]
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        #[cfg(feature = "dnssec")]
        if let Some(anchors) = &options.dnssec {
            // Also sets `validate` in hickory's options.
            builder = builder.with_trust_anchor(anchors.hickory());
        }
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.timeout = options.timeout;
        opts.attempts = options.attempts;
        opts.cache_size = options.cache_size;
        opts.ndots = 0;
        opts.try_tcp_on_error = options.tcp;
        let inner = builder.build().map_err(|e| transport(e.to_string()))?;
        Ok(HickoryResolver {
            inner: Arc::new(inner),
        })
    }

    /// Wraps a hickory resolver you configured yourself (system configuration, DNSSEC, TLS...).
    pub fn from_resolver(resolver: TokioResolver) -> HickoryResolver {
        HickoryResolver {
            inner: Arc::new(resolver),
        }
    }

    /// The wrapped hickory resolver.
    pub fn inner(&self) -> &TokioResolver {
        &self.inner
    }

    async fn query(&self, name: &str, rtype: RecordType) -> Result<Answer, LookupError> {
        let mut fqdn = String::with_capacity(name.len() + 1);
        fqdn.push_str(name);
        if !fqdn.ends_with('.') {
            fqdn.push('.');
        }
        let htype = match rtype {
            RecordType::Mx => HRecordType::MX,
            RecordType::A => HRecordType::A,
            RecordType::Aaaa => HRecordType::AAAA,
        };
        match self.inner.lookup(fqdn.as_str(), htype).await {
            Ok(lookup) => {
                let ttl = lookup
                    .valid_until()
                    .saturating_duration_since(Instant::now());
                let mut records = Vec::with_capacity(lookup.answers().len());
                let mut min_ttl = u32::MAX;
                for r in lookup.answers() {
                    let data = match (&r.data, rtype) {
                        (RData::MX(mx), RecordType::Mx) => RecordData::Mx {
                            preference: mx.preference,
                            exchange: mx.exchange.to_ascii(),
                        },
                        (RData::A(a), RecordType::A) => RecordData::A(a.0),
                        (RData::AAAA(a), RecordType::Aaaa) => RecordData::Aaaa(a.0),
                        // CNAMEs and other records of the chain.
                        _ => continue,
                    };
                    min_ttl = min_ttl.min(r.ttl);
                    records.push(data);
                }
                if records.is_empty() {
                    return Ok(Answer::negative(AnswerKind::NoData, Some(ttl)));
                }
                let ttl = ttl.min(Duration::from_secs(u64::from(min_ttl)));
                Ok(Answer::records(records, ttl))
            }
            Err(e) => map_error(e),
        }
    }
}

impl Resolver for HickoryResolver {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        Box::pin(self.query(name, rtype))
    }
}

fn map_error(e: NetError) -> Result<Answer, LookupError> {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(no)) => {
            let ttl = no.negative_ttl.map(|s| Duration::from_secs(u64::from(s)));
            match no.response_code {
                ResponseCode::NXDomain => Ok(Answer::negative(AnswerKind::NxDomain, ttl)),
                ResponseCode::NoError => Ok(Answer::negative(AnswerKind::NoData, ttl)),
                other => Err(rcode_error(other)),
            }
        }
        NetError::Dns(DnsError::ResponseCode(rc)) => Err(rcode_error(rc)),
        NetError::Dns(DnsError::DnssecBogus) => Err(LookupError::Bogus),
        NetError::Timeout => Err(LookupError::Timeout),
        NetError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Err(LookupError::Timeout),
        other => Err(LookupError::Transport(Arc::new(other))),
    }
}

fn rcode_error(rc: ResponseCode) -> LookupError {
    match rc {
        ResponseCode::ServFail => LookupError::ServFail,
        ResponseCode::Refused => LookupError::Refused,
        other => LookupError::ResponseCode(u16::from(other)),
    }
}

fn transport(msg: String) -> LookupError {
    LookupError::Transport(Arc::new(std::io::Error::other(msg)))
}
