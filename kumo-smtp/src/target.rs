//! [`Target`]: one address to deliver to, with the host name it belongs to.

use std::fmt;
use std::net::SocketAddr;

/// One address of a connection plan: the MX host name and one of its addresses.
///
/// The host name is used for TLS (SNI and the certificate check); the address is what the
/// host's `open` callback connects to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The MX host name (`mx1.example.net`), or an address literal for a domain literal.
    pub host: String,
    /// The address and port to connect to.
    pub addr: SocketAddr,
}

impl Target {
    /// A target from its parts.
    pub fn new(host: impl Into<String>, addr: SocketAddr) -> Self {
        Self {
            host: host.into(),
            addr,
        }
    }
}

impl fmt::Display for Target {
    /// `mx1.example.net [192.0.2.1]:25`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            SocketAddr::V4(a) => write!(f, "{} [{}]:{}", self.host, a.ip(), a.port()),
            SocketAddr::V6(a) => write!(f, "{} [{}]:{}", self.host, a.ip(), a.port()),
        }
    }
}
