//! [`Cidr`]: an IP network such as `10.0.0.0/8`, for filtering on peer and local addresses.

use std::fmt;
use std::net::{AddrParseError, IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IPv4 or IPv6 network: an address and a prefix length. Host bits are cleared on parse.
///
/// [`Cidr::contains`] treats an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a dual-stack
/// listener reports IPv4 peers) as the IPv4 address it maps.
///
/// # Examples
///
/// ```
/// use kumo_trace::Cidr;
///
/// let net: Cidr = "192.0.2.77/24".parse()?;
/// assert_eq!(net.to_string(), "192.0.2.0/24");
/// assert!(net.contains("192.0.2.1".parse().unwrap()));
/// assert!(net.contains("::ffff:192.0.2.1".parse().unwrap()));
/// assert!(!net.contains("198.51.100.1".parse().unwrap()));
/// # Ok::<(), kumo_trace::ParseCidrError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// The error of parsing a [`Cidr`] (permanent: the text is wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseCidrError {
    /// The address part is not an IP address.
    #[error("invalid network address")]
    Address(#[source] AddrParseError),
    /// The prefix length is not a number or too long for the address family.
    #[error("invalid prefix length")]
    Prefix,
}

impl Cidr {
    /// The network of `addr` with `prefix` bits; `None` when `prefix` exceeds 32 (IPv4) or
    /// 128 (IPv6). An IPv4-mapped IPv6 network with a prefix of 96 or more becomes the IPv4
    /// network it maps (`::ffff:192.0.2.0/120` is `192.0.2.0/24`).
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let addr = match addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32u32.checked_sub(u32::from(prefix))?);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask.unwrap_or(0)))
            }
            IpAddr::V6(a) => {
                // An IPv4-mapped network (`::ffff:192.0.2.0/120`) is the IPv4 network it maps:
                // `contains` judges mapped addresses as IPv4, so as IPv6 it would match nothing.
                if let (Some(v4), Some(p4)) = (a.to_ipv4_mapped(), prefix.checked_sub(96)) {
                    return Cidr::new(IpAddr::V4(v4), p4);
                }
                let mask = u128::MAX.checked_shl(128u32.checked_sub(u32::from(prefix))?);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask.unwrap_or(0)))
            }
        };
        Some(Self { addr, prefix })
    }

    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside this network. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
    /// an IPv4 peer seen through an IPv6 socket) is taken as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        // `Cidr::new` with the same prefix clears the same host bits.
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                Cidr::new(ip, self.prefix).is_some_and(|c| c.addr == self.addr)
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = ParseCidrError;

    /// Parses `addr/prefix`, or a bare address as a single host.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(ParseCidrError::Address)?;
        let prefix = match p {
            None => match addr {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            },
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| ParseCidrError::Prefix)?
            }
            Some(_) => return Err(ParseCidrError::Prefix),
        };
        Cidr::new(addr, prefix).ok_or(ParseCidrError::Prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Cidr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IP network such as 10.0.0.0/8")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cidr, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges() {
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("255.1.2.3".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let host: Cidr = "2001:db8::1".parse().unwrap();
        assert_eq!(host.prefix(), 128);
        assert!(host.contains("2001:db8::1".parse().unwrap()));
        assert!(!host.contains("2001:db8::2".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+1",
            "x/8",
            "10.0.0/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
