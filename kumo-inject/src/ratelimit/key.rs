//! The key a request is counted under, borrowed for lookups and owned in the map.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use super::config::{KeyBy, RateKeyContext};

/// A borrowed key: what a request is counted under. Looking it up allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyRef<'a> {
    Global,
    Tenant(Option<&'a str>),
    Peer(Option<IpAddr>),
}

impl<'a> KeyRef<'a> {
    /// The key for `ctx` under `key_by`.
    pub(crate) fn new(key_by: KeyBy, ctx: &RateKeyContext<'a>) -> Self {
        match key_by {
            KeyBy::Global => KeyRef::Global,
            KeyBy::Tenant => KeyRef::Tenant(ctx.tenant),
            KeyBy::Peer => KeyRef::Peer(ctx.peer),
        }
    }

    pub(crate) fn to_owned_key(self) -> OwnedKey {
        match self {
            KeyRef::Global => OwnedKey::Global,
            KeyRef::Tenant(t) => OwnedKey::Tenant(t.map(Box::from)),
            KeyRef::Peer(p) => OwnedKey::Peer(p),
        }
    }

    #[cfg(feature = "redis")]
    /// The key's scope as text, for a shared backend: `global`, `t`, `t:NAME`, `p`, `p:ADDR`.
    /// Requests without a tenant (peer) get `t` (`p`), which no named key can produce.
    pub(crate) fn scope(&self) -> String {
        match self {
            KeyRef::Global => "global".to_owned(),
            KeyRef::Tenant(None) => "t".to_owned(),
            KeyRef::Tenant(Some(t)) => format!("t:{t}"),
            KeyRef::Peer(None) => "p".to_owned(),
            KeyRef::Peer(Some(ip)) => format!("p:{ip}"),
        }
    }
}

/// An owned key, stored in the local limiter's map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnedKey {
    Global,
    Tenant(Option<Box<str>>),
    Peer(Option<IpAddr>),
}

// Both hash the same way by hand, so that a `KeyRef` finds its `OwnedKey`.
fn hash_parts<H: Hasher>(tag: u8, tenant: Option<&str>, peer: Option<IpAddr>, state: &mut H) {
    state.write_u8(tag);
    tenant.hash(state);
    peer.hash(state);
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match *self {
            KeyRef::Global => hash_parts(0, None, None, state),
            KeyRef::Tenant(t) => hash_parts(1, t, None, state),
            KeyRef::Peer(p) => hash_parts(2, None, p, state),
        }
    }
}

impl Hash for OwnedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            OwnedKey::Global => hash_parts(0, None, None, state),
            OwnedKey::Tenant(t) => hash_parts(1, t.as_deref(), None, state),
            OwnedKey::Peer(p) => hash_parts(2, None, *p, state),
        }
    }
}

impl hashbrown::Equivalent<OwnedKey> for KeyRef<'_> {
    fn equivalent(&self, key: &OwnedKey) -> bool {
        match (self, key) {
            (KeyRef::Global, OwnedKey::Global) => true,
            (KeyRef::Tenant(a), OwnedKey::Tenant(b)) => *a == b.as_deref(),
            (KeyRef::Peer(a), OwnedKey::Peer(b)) => a == b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn borrowed_and_owned_keys_hash_alike() {
        let s = hashbrown::DefaultHashBuilder::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for k in [
            KeyRef::Global,
            KeyRef::Tenant(None),
            KeyRef::Tenant(Some("acme")),
            KeyRef::Peer(None),
            KeyRef::Peer(Some(ip)),
        ] {
            assert_eq!(s.hash_one(k), s.hash_one(k.to_owned_key()));
            assert!(hashbrown::Equivalent::equivalent(&k, &k.to_owned_key()));
        }
        assert!(!hashbrown::Equivalent::equivalent(
            &KeyRef::Tenant(None),
            &OwnedKey::Peer(None)
        ));
    }

    #[test]
    #[cfg(feature = "redis")]
    fn scopes_do_not_collide() {
        assert_eq!(KeyRef::Tenant(Some("a")).scope(), "t:a");
        assert_eq!(KeyRef::Tenant(None).scope(), "t");
        assert_eq!(KeyRef::Peer(Some("::1".parse().unwrap())).scope(), "p:::1");
    }
}
