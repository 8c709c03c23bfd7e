//! [`ConnMeta`]: what is known about a session's connection (addresses and labels).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Connection metadata of a session: the peer and local socket addresses and string labels
/// such as the domain, queue, tenant or MX host.
///
/// Events share it through an `Arc`, so a publisher builds it once per session (or once per
/// change) and each event costs one reference count. Subscribers filter on it
/// ([`MetaFilter`](crate::MetaFilter)); the [`Formatter`](crate::Formatter) shows it once per
/// session and then only when it changes.
///
/// Label names are free-form; the associated constants ([`ConnMeta::DOMAIN`], ...) name the
/// usual ones so that publishers and filters agree.
///
/// # Examples
///
/// ```
/// use kumo_trace::ConnMeta;
///
/// let meta = ConnMeta::new()
///     .with_peer("192.0.2.1:40000".parse()?)
///     .with_label(ConnMeta::DOMAIN, "example.com")
///     .with_label(ConnMeta::QUEUE, "example.com");
/// assert_eq!(meta.label("domain"), Some("example.com"));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    peer: Option<SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    local: Option<SocketAddr>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
}

impl ConnMeta {
    /// Label: the destination domain (client) or the domain the peer announced (server).
    pub const DOMAIN: &'static str = "domain";
    /// Label: the scheduled queue name.
    pub const QUEUE: &'static str = "queue";
    /// Label: the tenant.
    pub const TENANT: &'static str = "tenant";
    /// Label: the campaign.
    pub const CAMPAIGN: &'static str = "campaign";
    /// Label: the egress pool.
    pub const POOL: &'static str = "pool";
    /// Label: the egress source.
    pub const SOURCE: &'static str = "source";
    /// Label: the MX host name a client session connected to.
    pub const MX_HOST: &'static str = "mx_host";
    /// Label: the EHLO/HELO name.
    pub const EHLO: &'static str = "ehlo";
    /// Label: the envelope sender of the current message.
    pub const MAIL_FROM: &'static str = "mail_from";

    /// Empty metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the peer address.
    pub fn with_peer(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    /// Sets the local address.
    pub fn with_local(mut self, local: SocketAddr) -> Self {
        self.local = Some(local);
        self
    }

    /// Sets a label.
    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_label(name, value);
        self
    }

    /// Sets a label, replacing an older value; returns the older value.
    pub fn set_label(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Option<String> {
        self.labels.insert(name.into(), value.into())
    }

    /// Removes a label; returns its value.
    pub fn remove_label(&mut self, name: &str) -> Option<String> {
        self.labels.remove(name)
    }

    /// The peer address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The local address.
    pub fn local(&self) -> Option<SocketAddr> {
        self.local
    }

    /// A label's value.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// All labels, sorted by name.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The [`ConnMeta::DOMAIN`] label.
    pub fn domain(&self) -> Option<&str> {
        self.label(Self::DOMAIN)
    }

    /// The [`ConnMeta::QUEUE`] label.
    pub fn queue(&self) -> Option<&str> {
        self.label(Self::QUEUE)
    }

    /// All fields as `(name, value)` text pairs in display order: `peer`, `local`, then labels
    /// sorted by name.
    pub fn fields(&self) -> Vec<(&str, String)> {
        let mut out = Vec::with_capacity(2 + self.labels.len());
        if let Some(p) = self.peer {
            out.push(("peer", p.to_string()));
        }
        if let Some(l) = self.local {
            out.push(("local", l.to_string()));
        }
        out.extend(self.labels.iter().map(|(k, v)| (k.as_str(), v.clone())));
        out
    }
}
