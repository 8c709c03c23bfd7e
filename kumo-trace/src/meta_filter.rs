//! [`MetaFilter`]: which events a subscriber wants, judged on side and connection metadata.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Cidr, ConnMeta, Side, TraceEvent};

/// A subscriber's filter on an event's side and [`ConnMeta`], applied by the hub at the source.
///
/// Every criterion that is set must match (AND); within one criterion any listed value may
/// match (OR). An empty filter admits everything. Global events (empty session key, no
/// metadata) pass every metadata criterion, as they concern all sessions; `side` still applies.
///
/// The filter is evaluated per event on that event's metadata: a session whose labels are
/// filled in as it goes (EHLO name, queue) passes from the event that carries a matching label.
/// Label values compare ASCII case-insensitively (domains and queue names are case-insensitive
/// in practice).
///
/// It deserializes from JSON, so a host can take it straight from a request:
/// `{"peer":["10.0.0.0/8"],"labels":{"domain":["example.com"]}}`.
///
/// # Examples
///
/// ```
/// use kumo_trace::{Cidr, MetaFilter};
///
/// let f = MetaFilter::new()
///     .with_peer("10.0.0.0/8".parse::<Cidr>()?)
///     .with_label("domain", "example.com");
/// assert!(!f.is_empty());
/// # Ok::<(), kumo_trace::ParseCidrError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetaFilter {
    /// Only events of this side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    /// The peer address must be inside one of these networks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peer: Vec<Cidr>,
    /// The local address must be inside one of these networks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub local: Vec<Cidr>,
    /// For each label name, the label must equal one of the values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Vec<String>>,
}

impl MetaFilter {
    /// The filter that admits everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events of `side`.
    pub fn with_side(mut self, side: Side) -> Self {
        self.side = Some(side);
        self
    }

    /// Adds a network the peer address may be in.
    pub fn with_peer(mut self, net: Cidr) -> Self {
        self.peer.push(net);
        self
    }

    /// Adds a network the local address may be in.
    pub fn with_local(mut self, net: Cidr) -> Self {
        self.local.push(net);
        self
    }

    /// Adds a value the label `name` may have.
    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels
            .entry(name.into())
            .or_default()
            .push(value.into());
        self
    }

    /// Whether the filter admits everything.
    pub fn is_empty(&self) -> bool {
        self.side.is_none()
            && self.peer.is_empty()
            && self.local.is_empty()
            && self.labels.is_empty()
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &TraceEvent) -> bool {
        if self.side.is_some_and(|s| s != event.side) {
            return false;
        }
        let meta = match &event.meta {
            Some(m) => &**m,
            None if event.session.is_global() => return true,
            None => {
                return self.peer.is_empty() && self.local.is_empty() && self.labels.is_empty();
            }
        };
        self.matches_meta(meta)
    }

    /// Whether `meta` passes the metadata criteria (everything but `side`).
    pub fn matches_meta(&self, meta: &ConnMeta) -> bool {
        let addr_ok = |nets: &[Cidr], addr: Option<std::net::SocketAddr>| {
            nets.is_empty() || addr.is_some_and(|a| nets.iter().any(|n| n.contains(a.ip())))
        };
        addr_ok(&self.peer, meta.peer())
            && addr_ok(&self.local, meta.local())
            && self.labels.iter().all(|(name, values)| {
                meta.label(name)
                    .is_some_and(|v| values.iter().any(|w| w.eq_ignore_ascii_case(v)))
            })
    }
}
