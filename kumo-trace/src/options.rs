//! [`SubscribeOptions`]: what a subscriber asks for, from code, JSON or URL query pairs.

use serde::{Deserialize, Serialize};

use crate::{Cidr, MetaFilter, ParseCidrError, Side};

/// The default per-subscriber queue capacity of [`SubscribeOptions`], in events.
pub const DEFAULT_CAPACITY: usize = 16 * 1024;

/// The default per-subscriber queue bound of [`SubscribeOptions`], in bytes (256 KiB).
///
/// It is what bounds a subscriber's memory in practice: an event takes a 112-byte queue slot
/// on a 64-bit target plus the text it owns, so 16,384 small events alone held 1.8 MB.
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024;

/// What a subscriber asks of a [`TraceHub`](crate::TraceHub).
///
/// It deserializes from JSON (all fields optional), so a host can take it from the first
/// message of a websocket or from a request body:
/// `{"terse":true,"only_new":true,"filter":{"peer":["10.0.0.0/8"]}}`; or from the decoded
/// pairs of a URL query with [`SubscribeOptions::from_query_pairs`].
///
/// # Examples
///
/// ```
/// use kumo_trace::SubscribeOptions;
///
/// let opts = SubscribeOptions { terse: true, only_one: true, ..SubscribeOptions::default() };
/// let from_json: SubscribeOptions = serde_json::from_str(r#"{"terse":true,"only_one":true}"#)?;
/// assert_eq!(opts, from_json);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscribeOptions {
    /// How many events may wait in the subscriber's queue; when it is full the oldest event
    /// is dropped and counted, and the subscriber is told how many it missed. At least 1;
    /// default [`DEFAULT_CAPACITY`].
    pub capacity: usize,
    /// How many bytes the waiting events may hold (approximately: each event's queue slot
    /// plus the text it owns, see [`Subscription::queued_bytes`](crate::Subscription::queued_bytes));
    /// beyond it the oldest events are dropped as for `capacity`. At least 1; default
    /// [`DEFAULT_MAX_BYTES`].
    pub max_bytes: usize,
    /// Cut multi-line message data at the source ([`terse`](crate::terse)).
    pub terse: bool,
    /// Only sessions whose opening this subscriber saw ([`StreamFilter`](crate::StreamFilter)).
    pub only_new: bool,
    /// Follow the first admitted session and end when it closes ([`StreamFilter`](crate::StreamFilter)).
    pub only_one: bool,
    /// Which events to receive, judged on side and connection metadata, at the source.
    pub filter: MetaFilter,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            max_bytes: DEFAULT_MAX_BYTES,
            terse: false,
            only_new: false,
            only_one: false,
            filter: MetaFilter::default(),
        }
    }
}

/// The error of [`SubscribeOptions::from_query_pairs`] (permanent: the request is wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// The key is not a known option or label.
    #[error("unknown trace option {0:?}")]
    UnknownKey(String),
    /// The value does not fit the option (a flag that is not a boolean, a zero capacity, ...).
    #[error("invalid value for trace option {key:?}")]
    InvalidValue {
        /// The option.
        key: String,
    },
    /// A `peer`/`local` value is not an IP network.
    #[error("invalid network for trace option {key:?}")]
    InvalidNetwork {
        /// The option.
        key: String,
        /// Why.
        #[source]
        source: ParseCidrError,
    },
}

/// The label names accepted as bare query keys (any other label: `label.NAME`).
const QUERY_LABELS: &[&str] = &[
    crate::ConnMeta::DOMAIN,
    crate::ConnMeta::QUEUE,
    crate::ConnMeta::TENANT,
    crate::ConnMeta::CAMPAIGN,
    crate::ConnMeta::POOL,
    crate::ConnMeta::SOURCE,
    crate::ConnMeta::MX_HOST,
    crate::ConnMeta::EHLO,
    crate::ConnMeta::MAIL_FROM,
];

impl SubscribeOptions {
    /// Options from decoded URL query pairs, for an HTTP trace endpoint
    /// (`/trace?terse&only_new=1&peer=10.0.0.0/8&domain=example.com`).
    ///
    /// Keys: `terse`, `only_new`, `only_one` (flags: empty, `1`/`true`/`yes` or
    /// `0`/`false`/`no`), `capacity` and `max_bytes` (at least 1), `side` (`server`/`client`), `peer` and `local`
    /// (an IP network or address; repeat the key for more), the label names `domain`, `queue`,
    /// `tenant`, `campaign`, `pool`, `source`, `mx_host`, `ehlo`, `mail_from`, and `label.NAME`
    /// for any other label. Repeating a label key allows more values. Unknown keys are errors, so
    /// a typo does not silently widen the trace.
    ///
    /// # Errors
    ///
    /// [`OptionsError`] naming the offending key.
    ///
    /// # Examples
    ///
    /// ```
    /// use kumo_trace::SubscribeOptions;
    ///
    /// let o = SubscribeOptions::from_query_pairs([
    ///     ("terse", ""),
    ///     ("only_one", "1"),
    ///     ("peer", "10.0.0.0/8"),
    ///     ("domain", "example.com"),
    ///     ("label.tenant_group", "gold"),
    /// ])?;
    /// assert!(o.terse && o.only_one && !o.only_new);
    /// assert_eq!(o.filter.labels["tenant_group"], ["gold"]);
    /// assert!(SubscribeOptions::from_query_pairs([("tersee", "1")]).is_err());
    /// # Ok::<(), kumo_trace::OptionsError>(())
    /// ```
    pub fn from_query_pairs<I, K, V>(pairs: I) -> Result<Self, OptionsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut o = Self::default();
        for (k, v) in pairs {
            let (key, value) = (k.as_ref(), v.as_ref());
            let invalid = || OptionsError::InvalidValue {
                key: key.to_owned(),
            };
            let flag = || match value {
                "" | "1" | "true" | "yes" => Ok(true),
                "0" | "false" | "no" => Ok(false),
                _ => Err(invalid()),
            };
            let net = || {
                value
                    .parse::<Cidr>()
                    .map_err(|source| OptionsError::InvalidNetwork {
                        key: key.to_owned(),
                        source,
                    })
            };
            match key {
                "terse" => o.terse = flag()?,
                "only_new" => o.only_new = flag()?,
                "only_one" => o.only_one = flag()?,
                "capacity" => {
                    o.capacity = value
                        .parse()
                        .ok()
                        .filter(|&c: &usize| c > 0)
                        .ok_or_else(invalid)?;
                }
                "max_bytes" => {
                    o.max_bytes = value
                        .parse()
                        .ok()
                        .filter(|&c: &usize| c > 0)
                        .ok_or_else(invalid)?;
                }
                "side" => {
                    o.filter.side = Some(match value {
                        "server" => Side::Server,
                        "client" => Side::Client,
                        _ => return Err(invalid()),
                    });
                }
                "peer" => o.filter.peer.push(net()?),
                "local" => o.filter.local.push(net()?),
                _ => {
                    let label = match key.strip_prefix("label.") {
                        Some(name) if !name.is_empty() => name,
                        Some(_) => return Err(OptionsError::UnknownKey(key.to_owned())),
                        None if QUERY_LABELS.contains(&key) => key,
                        None => return Err(OptionsError::UnknownKey(key.to_owned())),
                    };
                    o.filter = std::mem::take(&mut o.filter).with_label(label, value);
                }
            }
        }
        Ok(o)
    }
}
