//! Error types, one per failure domain: names, single lookups, and MX resolution.

use std::sync::Arc;

/// A domain, host name or address literal that cannot be used.
///
/// Always permanent: the same input fails the same way every time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The input is empty (or only a dot).
    #[error("empty domain name")]
    Empty,
    /// The name is not a valid host name after IDNA processing (bad characters, empty label,
    /// leading or trailing hyphen, label over 63 or name over 253 octets, bad punycode).
    #[error("invalid domain name {name:?}")]
    InvalidName {
        /// The input as given.
        name: String,
    },
    /// A `[...]` address literal that is not an IPv4 address or an `IPv6:` tagged IPv6 address.
    #[error("invalid address literal {literal:?}")]
    InvalidLiteral {
        /// The input as given.
        literal: String,
    },
    /// The `:port` suffix is not a number from 1 to 65535.
    #[error("invalid port in {input:?}")]
    InvalidPort {
        /// The input as given.
        input: String,
    },
}

/// Why a single DNS query (one name, one record type) failed.
///
/// Every variant is transient: the answer may be different on the next try. A definite "no such
/// name" or "no records of that type" is not an error but an [`AnswerKind`](crate::AnswerKind).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// The server answered SERVFAIL.
    #[error("server failure (SERVFAIL)")]
    ServFail,
    /// The server answered REFUSED.
    #[error("query refused (REFUSED)")]
    Refused,
    /// Another error response code (FORMERR, NOTIMP, ...); the number is the RCODE.
    #[error("error response code {0}")]
    ResponseCode(u16),
    /// No answer arrived in time.
    #[error("lookup timed out")]
    Timeout,
    /// DNSSEC validation failed: the answer cannot be trusted.
    #[error("dnssec validation failed (bogus)")]
    Bogus,
    /// The answer was malformed or carried an unusable record.
    #[error("malformed answer")]
    Malformed,
    /// Transport or resolver failure (no usable name server, I/O error, ...).
    #[error("resolver failure")]
    Transport(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

/// Why `MailExchanger` resolution failed for a destination.
///
/// Use [`is_permanent`](MxError::is_permanent) to decide between bouncing and deferring, and
/// [`smtp_status`](MxError::smtp_status) for the enhanced status to report.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MxError {
    /// The destination is not a usable name or literal. Permanent.
    #[error("invalid destination")]
    InvalidDomain(#[source] NameError),
    /// The domain does not exist (NXDOMAIN). Permanent.
    #[error("domain {domain} does not exist")]
    NoSuchDomain {
        /// The domain, as a lowercase A-label.
        domain: String,
    },
    /// The domain publishes a null MX (RFC 7505): it accepts no mail. Permanent, 556 5.1.10.
    #[error("domain {domain} publishes a null mx and accepts no mail")]
    NullMx {
        /// The domain, as a lowercase A-label.
        domain: String,
    },
    /// The MX lookup failed transiently (SERVFAIL, REFUSED, timeout, DNSSEC bogus, transport).
    /// Never turned into an implicit MX. Temporary.
    #[error("mx lookup for {domain} failed")]
    Temporary {
        /// The domain, as a lowercase A-label.
        domain: String,
        /// What went wrong.
        #[source]
        source: LookupError,
    },
}

impl MxError {
    /// `true` when retrying cannot help (invalid name, NXDOMAIN, null MX).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, MxError::Temporary { .. })
    }

    /// The SMTP reply code and enhanced status code that fit this failure, for example
    /// `(556, "5.1.10")` for a null MX.
    ///
    /// # Examples
    ///
    /// ```
    /// use kumo_dns::MxError;
    /// let e = MxError::NullMx { domain: "example.test".into() };
    /// assert_eq!(e.smtp_status(), (556, "5.1.10"));
    /// assert!(e.is_permanent());
    /// ```
    pub fn smtp_status(&self) -> (u16, &'static str) {
        match self {
            MxError::InvalidDomain(_) => (550, "5.1.2"),
            MxError::NoSuchDomain { .. } => (550, "5.1.2"),
            MxError::NullMx { .. } => (556, "5.1.10"),
            MxError::Temporary { .. } => (451, "4.4.3"),
        }
    }
}

/// Zone text that cannot be loaded (by [`ZoneResolver`](crate::ZoneResolver) or the loopback
/// server).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneError {
    /// The text is not valid master-file syntax.
    #[error("invalid zone text")]
    Parse(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// There is no SOA record and no `$ORIGIN` to put one at.
    #[error("zone text has neither an soa record nor an $ORIGIN")]
    NoOrigin,
    /// The text has a `$INCLUDE` directive: zone text is read from memory only, never from files
    /// it names (an absolute path would read any file, `/dev/zero` without end).
    #[error("zone text may not $INCLUDE files")]
    Include,
    /// A record lies outside every zone (SOA owner) of the text.
    #[error("record {name} is outside every zone of the text")]
    OutsideZone {
        /// The owner name of the record.
        name: String,
    },
}
