//! DNSSEC trust anchors for [`HickoryResolver`](crate::HickoryResolver) (feature `dnssec`).

use hickory_resolver::proto::dnssec::TrustAnchors as HickoryAnchors;
use std::str::FromStr;
use std::sync::Arc;

/// The DNSKEY text could not be used as trust anchors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustAnchorError {
    /// The text is not DNSKEY records in master-file syntax, or a key is unusable.
    #[error("invalid trust anchor text")]
    Parse(#[source] hickory_resolver::proto::serialize::txt::ParseError),
    /// The text holds no DNSKEY record.
    #[error("no trust anchor in text")]
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Root,
    Text(Arc<str>),
}

/// Keys that DNSSEC validation starts from: the public root keys, or DNSKEY records you give
/// (for a private or test zone).
///
/// Pass them to [`HickoryOptions::validate`](crate::HickoryOptions::validate). With validation
/// on, an answer whose chain of trust does not check out (missing or wrong signatures, a zone
/// served unsigned below a signed anchor) fails as [`LookupError::Bogus`](crate::LookupError),
/// which [`MailExchanger::resolve`](crate::MailExchanger::resolve) reports as a temporary
/// failure, never as an implicit MX.
///
/// # Examples
///
/// ```
/// use kumo_dns::{HickoryOptions, TrustAnchors};
///
/// let anchors = TrustAnchors::from_dnskey_text(
///     "example.test. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
/// )?;
/// let options = HickoryOptions::default().validate(anchors);
/// assert!(options.dnssec.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TrustAnchors {
    source: Source,
    anchors: Arc<HickoryAnchors>,
}

impl TrustAnchors {
    /// The IANA root zone key-signing keys built into hickory (KSK-2017 and KSK-2024): validates
    /// names in the public DNS.
    pub fn root() -> TrustAnchors {
        let anchors = HickoryAnchors::default();
        TrustAnchors {
            source: Source::Root,
            anchors: Arc::new(anchors),
        }
    }

    /// DNSKEY records in master-file syntax, one per line, for example
    /// `example.test. 3600 IN DNSKEY 257 3 13 <base64 key>`. A key owned by `.` anchors the
    /// root; a key owned by another name anchors that zone.
    ///
    /// # Errors
    ///
    /// [`TrustAnchorError::Parse`] when the text is not DNSKEY records or a key cannot be
    /// decoded; [`TrustAnchorError::Empty`] when it holds none.
    pub fn from_dnskey_text(text: &str) -> Result<TrustAnchors, TrustAnchorError> {
        let anchors = HickoryAnchors::from_str(text).map_err(TrustAnchorError::Parse)?;
        let has_key = text.lines().any(|l| {
            let l = l.split(';').next().unwrap_or("");
            l.split_whitespace()
                .any(|w| w.eq_ignore_ascii_case("DNSKEY"))
        });
        if !has_key {
            return Err(TrustAnchorError::Empty);
        }
        Ok(TrustAnchors {
            source: Source::Text(Arc::from(text)),
            anchors: Arc::new(anchors),
        })
    }

    pub(crate) fn hickory(&self) -> Arc<HickoryAnchors> {
        self.anchors.clone()
    }
}

impl PartialEq for TrustAnchors {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for TrustAnchors {}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Root => "root",
            Source::Text(_) => "dnskey text",
        };
        f.debug_struct("TrustAnchors")
            .field("source", &source)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_the_builtin_keys() {
        assert!(TrustAnchors::root().anchors.len() >= 2);
        assert_eq!(TrustAnchors::root(), TrustAnchors::root());
    }

    #[test]
    fn bad_text_is_an_error() {
        assert!(matches!(
            TrustAnchors::from_dnskey_text("example.test. IN DNSKEY 257 3 15 !!!"),
            Err(TrustAnchorError::Parse(_))
        ));
        assert!(matches!(
            TrustAnchors::from_dnskey_text("; nothing here\n"),
            Err(TrustAnchorError::Empty)
        ));
    }
}
