//! Destination parsing: domain names (IDNA to lowercase A-labels), address literals and `:port`.

use crate::error::NameError;
use idna::AsciiDenyList;
use idna::uts46::{DnsLength, Hyphens, Uts46};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Printable ASCII that may not appear in a host name. Letters, digits, `-`, `.` and `_` pass
/// (underscores occur in real MX targets; the rest of STD3 is enforced).
const DENY: AsciiDenyList = AsciiDenyList::new(true, "!\"#$%&'()*+,/:;<=>?@[\\]^`{|}~");

/// Where mail for a destination goes: a domain name to resolve, or an address literal.
///
/// Parse one with [`Destination::parse`]; the name is stored as a lowercase A-label without the
/// trailing dot.
///
/// # Examples
///
/// ```
/// use kumo_dns::Destination;
/// let d = Destination::parse("München.test:2525")?;
/// assert_eq!(d.host(), Some("xn--mnchen-3ya.test"));
/// assert_eq!(d.port(), Some(2525));
/// let l = Destination::parse("[IPv6:2001:db8::1]")?;
/// assert_eq!(l.literal(), Some("2001:db8::1".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    kind: DestinationKind,
    port: Option<u16>,
}

/// A borrowed view of what a [`Destination`] points at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Name(&'a str),
    Literal(IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DestinationKind {
    Name(String),
    Literal(IpAddr),
}

impl Destination {
    /// Parses a domain (`example.test`, `münchen.test`, `example.test.`), an address literal
    /// (`[192.0.2.1]`, `[IPv6:2001:db8::1]`; a bare IP address is accepted too), each with an
    /// optional `:port` suffix.
    ///
    /// # Errors
    ///
    /// [`NameError`] when the name is not a valid host name after IDNA (UTS 46) processing, a
    /// literal is malformed (an IPv6 literal needs the `IPv6:` tag), or the port is not 1..=65535.
    pub fn parse(input: &str) -> Result<Destination, NameError> {
        let trimmed = input.trim();
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(close) = rest.find(']') else {
                return Err(NameError::InvalidLiteral {
                    literal: input.to_owned(),
                });
            };
            let inner = &rest[..close];
            let port = parse_port_suffix(&rest[close + 1..], input)?;
            let ip = parse_literal(inner).ok_or_else(|| NameError::InvalidLiteral {
                literal: input.to_owned(),
            })?;
            return Ok(Destination {
                kind: DestinationKind::Literal(ip),
                port,
            });
        }
        if let Ok(ip) = trimmed.parse::<IpAddr>() {
            return Ok(Destination {
                kind: DestinationKind::Literal(ip),
                port: None,
            });
        }
        let (name, port) = match trimmed.rfind(':') {
            Some(i) => (&trimmed[..i], parse_port_suffix(&trimmed[i..], input)?),
            None => (trimmed, None),
        };
        if let Ok(ip) = name.parse::<Ipv4Addr>() {
            return Ok(Destination {
                kind: DestinationKind::Literal(IpAddr::V4(ip)),
                port,
            });
        }
        Ok(Destination {
            kind: DestinationKind::Name(normalize_host(name)?),
            port,
        })
    }

    /// The name or the literal, borrowed.
    pub(crate) fn target(&self) -> Target<'_> {
        match &self.kind {
            DestinationKind::Name(n) => Target::Name(n),
            DestinationKind::Literal(ip) => Target::Literal(*ip),
        }
    }

    /// The domain name (lowercase A-label, no trailing dot), or `None` for a literal.
    pub fn host(&self) -> Option<&str> {
        match &self.kind {
            DestinationKind::Name(n) => Some(n),
            DestinationKind::Literal(_) => None,
        }
    }

    /// The address of a literal, or `None` for a domain name.
    pub fn literal(&self) -> Option<IpAddr> {
        match &self.kind {
            DestinationKind::Name(_) => None,
            DestinationKind::Literal(ip) => Some(*ip),
        }
    }

    /// The `:port` suffix, if one was given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl fmt::Display for Destination {
    /// The canonical form: `name`, `[192.0.2.1]` or `[IPv6:2001:db8::1]`, then `:port` if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DestinationKind::Name(n) => f.write_str(n)?,
            DestinationKind::Literal(IpAddr::V4(ip)) => write!(f, "[{ip}]")?,
            DestinationKind::Literal(IpAddr::V6(ip)) => write!(f, "[IPv6:{ip}]")?,
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

fn parse_port_suffix(rest: &str, input: &str) -> Result<Option<u16>, NameError> {
    if rest.is_empty() {
        return Ok(None);
    }
    let bad = || NameError::InvalidPort {
        input: input.to_owned(),
    };
    let digits = rest.strip_prefix(':').ok_or_else(bad)?;
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match digits.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(p) => Ok(Some(p)),
    }
}

fn parse_literal(inner: &str) -> Option<IpAddr> {
    if let Some(v6) = inner
        .get(..5)
        .filter(|t| t.eq_ignore_ascii_case("ipv6:"))
        .map(|_| &inner[5..])
    {
        return v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    inner.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// `true` when `name` is already canonical: lowercase LDH(+`_`) labels of 1..=63 octets, no
/// leading/trailing hyphen, no `xn--` label (those need a punycode check), at most 253 octets.
pub(crate) fn is_canonical_ascii(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 253 {
        return false;
    }
    for label in b.split(|&c| c == b'.') {
        if label.is_empty()
            || label.len() > 63
            || label[0] == b'-'
            || label[label.len() - 1] == b'-'
            || (label.len() >= 4 && label[2] == b'-' && label[3] == b'-')
        {
            return false;
        }
        if !label
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
        {
            return false;
        }
    }
    true
}

/// Normalizes a host name to a lowercase A-label without the trailing dot.
///
/// # Errors
///
/// [`NameError::Empty`] or [`NameError::InvalidName`].
///
/// # Examples
///
/// ```
/// assert_eq!(kumo_dns::normalize_host("MX.Öbb.test.")?, "mx.xn--bb-eka.test");
/// assert!(kumo_dns::normalize_host("bad..name").is_err());
/// # Ok::<(), kumo_dns::NameError>(())
/// ```
pub fn normalize_host(name: &str) -> Result<String, NameError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if is_canonical_ascii(name) {
        return Ok(name.to_owned());
    }
    let invalid = || NameError::InvalidName {
        name: name.to_owned(),
    };
    let ascii = Uts46::new()
        .to_ascii(
            name.as_bytes(),
            DENY,
            Hyphens::CheckFirstLast,
            DnsLength::Verify,
        )
        .map_err(|_| invalid())?;
    // UTS 46 maps some code points (e.g. U+3002 ideographic full stop) to `.`; re-check the
    // structural rules on the final form.
    if ascii.is_empty() || ascii.len() > 253 || ascii.split('.').any(|l| l.is_empty()) {
        return Err(invalid());
    }
    Ok(ascii.into_owned())
}

/// The Unicode form of a name, for display only (logs, user interfaces). Labels that are not
/// valid punycode are shown as given. Never use the result on the wire: kumo-dns stores and
/// returns A-labels.
///
/// # Examples
///
/// ```
/// assert_eq!(kumo_dns::display_name("mx.xn--bb-eka.test"), "mx.öbb.test");
/// ```
pub fn display_name(a_label: &str) -> String {
    let (unicode, result) = idna::domain_to_unicode(a_label);
    match result {
        Ok(()) => unicode,
        Err(_) => a_label.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_fast_path_agrees_with_idna() {
        for n in ["a.test", "mx-1.example.test", "x_y.test", "123.test"] {
            assert!(is_canonical_ascii(n), "{n}");
            assert_eq!(normalize_host(n).unwrap(), n);
        }
        for n in [
            "A.test",
            "-a.test",
            "a-.test",
            "a..test",
            "xn--bb-eka.test",
            "",
        ] {
            assert!(!is_canonical_ascii(n), "{n}");
        }
    }

    #[test]
    fn idna_forms() {
        assert_eq!(
            normalize_host("münchen.test").unwrap(),
            "xn--mnchen-3ya.test"
        );
        assert_eq!(
            normalize_host("XN--BB-EKA.test").unwrap(),
            "xn--bb-eka.test"
        );
        assert!(normalize_host("xn--zz.test").is_err(), "bad punycode");
        assert!(normalize_host(&"a".repeat(64)).is_err());
        assert!(normalize_host("a b.test").is_err());
        assert!(normalize_host(".").is_err());
    }

    #[test]
    fn ports_and_literals() {
        let d = Destination::parse("[192.0.2.1]:2525").unwrap();
        assert_eq!(d.literal(), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(d.port(), Some(2525));
        assert_eq!(d.to_string(), "[192.0.2.1]:2525");
        assert!(Destination::parse("[2001:db8::1]").is_err());
        assert!(Destination::parse("[ipv6:2001:db8::1]").is_ok());
        assert!(Destination::parse("[192.0.2.1").is_err());
        assert!(Destination::parse("a.test:0").is_err());
        assert!(Destination::parse("a.test:99999").is_err());
        assert!(Destination::parse("a.test:").is_err());
        assert!(Destination::parse("[192.0.2.1]x").is_err());
        assert_eq!(
            Destination::parse("2001:db8::1").unwrap().literal(),
            Some("2001:db8::1".parse().unwrap())
        );
    }
}
