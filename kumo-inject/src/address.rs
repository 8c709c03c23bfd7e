//! Address validation for the envelope and for header mailboxes.

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The address is empty.
    #[error("empty address")]
    Empty,
    /// There is no `@` between a local part and a domain.
    #[error("missing @")]
    MissingAt,
    /// The address is longer than the 254 octets SMTP allows.
    #[error("address longer than 254 octets")]
    TooLong,
    /// The local part is not a dot-atom or quoted string.
    #[error("invalid local part")]
    InvalidLocalPart,
    /// The domain is not a host name or address literal.
    #[error("invalid domain")]
    InvalidDomain,
    /// A control character (CR, LF, NUL, ...) appears in the address.
    #[error("control character in address")]
    ControlCharacter,
}

/// A validated address, with whether it needs SMTPUTF8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked {
    /// The address has non-ASCII characters (RFC 6531).
    pub(crate) utf8: bool,
}

/// Validates `local@domain`: a dot-atom or quoted local part (UTF-8 allowed, RFC 6531) and a
/// host name (UTF-8 labels allowed) or an address literal.
pub(crate) fn check_mailbox(addr: &str) -> Result<Checked, AddressError> {
    if addr.is_empty() {
        return Err(AddressError::Empty);
    }
    if addr.len() > 254 {
        return Err(AddressError::TooLong);
    }
    if addr.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(AddressError::ControlCharacter);
    }
    let at = addr.rfind('@').ok_or(AddressError::MissingAt)?;
    let (local, domain) = (&addr[..at], &addr[at + 1..]);
    check_local(local)?;
    check_domain(domain)?;
    Ok(Checked {
        utf8: !addr.is_ascii(),
    })
}

/// Validates an envelope sender: a mailbox, or the null sender (`""` or `"<>"`).
pub(crate) fn check_sender(addr: &str) -> Result<Checked, AddressError> {
    if addr.is_empty() || addr == "<>" {
        return Ok(Checked { utf8: false });
    }
    check_mailbox(addr)
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn check_local(local: &str) -> Result<(), AddressError> {
    if local.is_empty() || local.len() > 64 {
        return Err(AddressError::InvalidLocalPart);
    }
    if let Some(inner) = local.strip_prefix('"') {
        let Some(inner) = inner.strip_suffix('"') else {
            return Err(AddressError::InvalidLocalPart);
        };
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.next().is_none() => return Err(AddressError::InvalidLocalPart),
                '"' => return Err(AddressError::InvalidLocalPart),
                _ => {}
            }
        }
        return Ok(());
    }
    if local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
    {
        Ok(())
    } else {
        Err(AddressError::InvalidLocalPart)
    }
}

fn check_domain(domain: &str) -> Result<(), AddressError> {
    if let Some(lit) = domain.strip_prefix('[') {
        let lit = lit.strip_suffix(']').ok_or(AddressError::InvalidDomain)?;
        let ok = if let Some(v6) = lit.strip_prefix("IPv6:") {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            lit.parse::<std::net::Ipv4Addr>().is_ok()
        };
        return if ok {
            Ok(())
        } else {
            Err(AddressError::InvalidDomain)
        };
    }
    if domain.is_empty() || domain.len() > 253 {
        return Err(AddressError::InvalidDomain);
    }
    for label in domain.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| {
                c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
            });
        if !ok {
            return Err(AddressError::InvalidDomain);
        }
    }
    Ok(())
}

/// The domain of a mailbox (after the last `@`), if any.
pub(crate) fn domain_of(addr: &str) -> Option<&str> {
    addr.rfind('@')
        .map(|at| &addr[at + 1..])
        .filter(|d| !d.is_empty())
}

/// Validates a header field name: 1..=200 printable ASCII characters other than `:` (RFC 5322
/// ftext; the length cap keeps every header line within 998 octets).
pub(crate) fn check_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes() {
        for ok in [
            "a@example.com",
            "first.last+tag@sub.example.co.uk",
            "\"quoted local\"@example.com",
            "user@[192.0.2.1]",
            "user@[IPv6:2001:db8::1]",
            "jöhn@exämple.de",
        ] {
            assert!(check_mailbox(ok).is_ok(), "{ok}");
        }
        assert!(check_mailbox("jöhn@example.de").unwrap().utf8);
        for (bad, err) in [
            ("", AddressError::Empty),
            ("nobody", AddressError::MissingAt),
            ("a@b\r\nBcc: x@y", AddressError::ControlCharacter),
            ("a..b@example.com", AddressError::InvalidLocalPart),
            (".a@example.com", AddressError::InvalidLocalPart),
            ("a b@example.com", AddressError::InvalidLocalPart),
            ("a@example.com.", AddressError::InvalidDomain),
            ("a@-x.com", AddressError::InvalidDomain),
            ("a@", AddressError::InvalidDomain),
            ("a@[1.2.3]", AddressError::InvalidDomain),
            ("@example.com", AddressError::InvalidLocalPart),
        ] {
            assert_eq!(check_mailbox(bad), Err(err), "{bad:?}");
        }
        assert!(check_sender("").is_ok() && check_sender("<>").is_ok());
    }

    #[test]
    fn header_names() {
        assert!(check_header_name("X-Campaign"));
        assert!(!check_header_name("X Campaign"));
        assert!(!check_header_name("X:Campaign"));
        assert!(!check_header_name("X-Ünï"));
        assert!(!check_header_name(""));
    }
}
