//! [`Capabilities`]: what the server offered in its EHLO reply, parsed by `smtp-proto`.

use smtp_proto::EhloResponse;

/// The ESMTP extensions the server advertised in its `EHLO` reply (all `false` after a `HELO`
/// fallback).
///
/// # Examples
///
/// ```
/// use kumo_smtp::Capabilities;
///
/// let caps = Capabilities::parse_ehlo(
///     b"250-mx.example.net hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n",
/// );
/// assert_eq!(caps.hostname, "mx.example.net");
/// assert!(caps.pipelining && caps.eight_bit_mime && !caps.starttls);
/// assert_eq!(caps.size, Some(10_240_000));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `true` when the session was opened with `EHLO` (extensions may be present), `false`
    /// after a `HELO` fallback.
    pub extended: bool,
    /// The first word of the `EHLO` reply: the name the server gives itself.
    pub hostname: String,
    /// `PIPELINING` (RFC 2920).
    pub pipelining: bool,
    /// `8BITMIME` (RFC 6152).
    pub eight_bit_mime: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `STARTTLS` (RFC 3207).
    pub starttls: bool,
    /// `SIZE` (RFC 1870): `Some(limit)` when advertised, `Some(0)` when advertised without a
    /// fixed limit.
    pub size: Option<u64>,
    /// `CHUNKING` (RFC 3030; kumo-smtp sends with `DATA`).
    pub chunking: bool,
    /// `BINARYMIME` (RFC 3030).
    pub binary_mime: bool,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    pub enhanced_status_codes: bool,
    /// `DSN` (RFC 3461).
    pub dsn: bool,
    /// `REQUIRETLS` (RFC 8689).
    pub requiretls: bool,
}

impl Capabilities {
    /// The capabilities in a complete `250` EHLO reply (every line with its line ending).
    ///
    /// Lenient, as a client must be with the servers it meets: a reply `smtp-proto` cannot
    /// parse (a line with another code, a malformed `SIZE`) gives the capabilities of a server
    /// that offered no extension, with the hostname when it could be read.
    pub fn parse_ehlo(reply: &[u8]) -> Self {
        match EhloResponse::<String>::parse(&mut reply.iter()) {
            Ok(ehlo) => Self::from_ehlo(&ehlo),
            Err(error) => {
                tracing::debug!(%error, "EHLO reply not understood; no extensions assumed");
                Self {
                    extended: true,
                    hostname: first_word(reply),
                    ..Self::default()
                }
            }
        }
    }

    fn from_ehlo(ehlo: &EhloResponse<String>) -> Self {
        use smtp_proto::*;
        let has = |ext: u32| ehlo.has_capability(ext);
        Self {
            extended: true,
            hostname: ehlo
                .hostname
                .split_ascii_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned(),
            pipelining: has(EXT_PIPELINING),
            eight_bit_mime: has(EXT_8BIT_MIME),
            smtputf8: has(EXT_SMTP_UTF8),
            starttls: has(EXT_START_TLS),
            size: has(EXT_SIZE).then_some(ehlo.size as u64),
            chunking: has(EXT_CHUNKING),
            binary_mime: has(EXT_BINARY_MIME),
            enhanced_status_codes: has(EXT_ENHANCED_STATUS_CODES),
            dsn: has(EXT_DSN),
            requiretls: has(EXT_REQUIRE_TLS),
        }
    }
}

/// The first word after the code of a reply's first line, lossily as text.
fn first_word(reply: &[u8]) -> String {
    let line = reply.split(|&b| b == b'\n').next().unwrap_or_default();
    let rest = line.get(4..).unwrap_or_default();
    let word = rest
        .split(|b| b.is_ascii_whitespace())
        .next()
        .unwrap_or_default();
    String::from_utf8_lossy(word).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_we_use() {
        let caps = Capabilities::parse_ehlo(
            b"250-mx hi\r\n250-STARTTLS\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-SIZE\r\n250 ENHANCEDSTATUSCODES\r\n",
        );
        assert!(caps.starttls && caps.smtputf8 && caps.chunking && caps.enhanced_status_codes);
        assert!(!caps.pipelining);
        assert_eq!(caps.size, Some(0));
        assert_eq!(caps.hostname, "mx");
    }

    #[test]
    fn unparsable_means_no_extensions() {
        let caps = Capabilities::parse_ehlo(b"250-mx.example hi\r\n251 PIPELINING\r\n");
        assert!(caps.extended && !caps.pipelining);
        assert_eq!(caps.hostname, "mx.example");
    }
}
