//! [`Envelope`]: the sender and recipients of one transaction.

/// The SMTP envelope of one message: `MAIL FROM` and the `RCPT TO`s.
///
/// Addresses are given without angle brackets. An address with a control character or an
/// angle bracket would change the command it is put in (command injection), so it is refused
/// locally, never sent.
///
/// # Examples
///
/// ```
/// use kumo_smtp::Envelope;
///
/// let bounce = Envelope::new("", ["postmaster@example.net"]);
/// assert!(bounce.sender.is_empty()); // the null sender, `MAIL FROM:<>`
/// assert!(Envelope::new("a@example.com", ["jörg@bücher.example"]).needs_smtputf8());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// The reverse path; `""` is the null sender (bounces, RFC 5321 §4.5.5).
    pub sender: String,
    /// The forward paths, in the order `RCPT TO` is sent.
    pub recipients: Vec<String>,
}

impl Envelope {
    /// An envelope from its parts.
    pub fn new<I, R>(sender: impl Into<String>, recipients: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        Self {
            sender: sender.into(),
            recipients: recipients.into_iter().map(Into::into).collect(),
        }
    }

    /// `true` when an address has a non-ASCII character, so the server must offer `SMTPUTF8`
    /// (RFC 6531) and `MAIL FROM` carries the `SMTPUTF8` parameter.
    pub fn needs_smtputf8(&self) -> bool {
        !self.sender.is_ascii() || self.recipients.iter().any(|r| !r.is_ascii())
    }
}

/// `true` when `address` can be put between angle brackets in a command as it is: no control
/// character (CR and LF would end the command), no `<` or `>`, and short enough for the
/// 512-octet command line.
pub(crate) fn is_safe_address(address: &str) -> bool {
    address.len() <= 256
        && !address
            .chars()
            .any(|c| c.is_control() || c == '<' || c == '>')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_addresses() {
        assert!(is_safe_address("a@b.example"));
        assert!(is_safe_address("\"john doe\"@b.example"));
        assert!(is_safe_address(""));
        assert!(!is_safe_address("a@b\r\nRCPT TO:<c@d>"));
        assert!(!is_safe_address("a>@b"));
        assert!(!is_safe_address(&"a".repeat(300)));
    }
}
