//! A message as the engine carries it, and what the spool keeps of it beyond the envelope.

use std::sync::Arc;

use bytes::Bytes;
use kumo_spool::SpoolId;

use crate::ledger::Seq;

/// A 128-bit key for a message id (two SipHash passes), so that the ids a resumed job must
/// recognise are held in 16 bytes each.
pub(crate) fn id_key(id: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let half = |salt: u8| {
        let mut h = std::hash::DefaultHasher::new();
        salt.hash(&mut h);
        id.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// One message in flight.
#[derive(Debug)]
pub(crate) struct Msg {
    pub(crate) seq: Seq,
    /// The `Message-ID` kumo-inject gave it.
    pub(crate) id: String,
    /// The queue: the recipient domain as an A-label.
    pub(crate) queue: Arc<str>,
    pub(crate) sender: String,
    pub(crate) recipient: String,
    /// The message; `None` while it is only in the spool (recovered at start).
    pub(crate) data: Option<Bytes>,
    /// Simulated milliseconds at injection (negative for a message injected before this
    /// process started).
    pub(crate) injected_ms: i64,
    /// Real time of injection, in milliseconds since the Unix epoch (kept in the spool).
    pub(crate) injected_unix_ms: u64,
    /// Temporary failures so far.
    pub(crate) failures: u32,
    /// The provider, once an MX resolution told it.
    pub(crate) provider: Option<Arc<str>>,
    /// Its spool entry; `None` for a `deferred_spool` message before its first temporary
    /// failure.
    pub(crate) spool_id: Option<SpoolId>,
}

/// A message the injection API generated, before the engine takes it.
#[derive(Debug)]
pub(crate) struct NewMsg {
    pub(crate) id: String,
    pub(crate) queue: Arc<str>,
    pub(crate) sender: String,
    pub(crate) recipient: String,
    pub(crate) data: Bytes,
    pub(crate) injected_unix_ms: u64,
    pub(crate) spool_id: Option<SpoolId>,
}

impl Msg {
    pub(crate) fn host_meta(&self) -> MessageMeta {
        MessageMeta {
            message_id: self.id.clone(),
            injected_unix_ms: self.injected_unix_ms,
        }
    }
}

/// What a spooled message's metadata says, beyond the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageMeta {
    /// kumo-inject's message id.
    pub(crate) message_id: String,
    /// When it was injected, in milliseconds since the Unix epoch.
    pub(crate) injected_unix_ms: u64,
}

impl MessageMeta {
    pub(crate) fn encode(&self) -> Bytes {
        Bytes::from(format!("M\t{}\t{}", self.injected_unix_ms, self.message_id))
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Self> {
        let s = std::str::from_utf8(b).ok()?;
        let mut p = s.splitn(3, '\t');
        if p.next()? != "M" {
            return None;
        }
        Some(Self {
            injected_unix_ms: p.next()?.parse().ok()?,
            message_id: p.next()?.to_owned(),
        })
    }
}
