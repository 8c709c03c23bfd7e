//! A message as the engine carries it, and what the spool keeps of it beyond the envelope.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use kumo_spool::{Metadata, SpoolId};

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
    /// What the spool keeps of it after a temporary failure: attempts so far, next due time.
    pub(crate) fn spool_metadata(&self, due: SystemTime) -> Metadata {
        spool_metadata(
            &self.sender,
            &self.recipient,
            &self.queue,
            &self.id,
            self.injected_unix_ms,
            self.failures,
            Some(due),
        )
    }
}

impl NewMsg {
    /// What the spool keeps of it when it is taken: no attempt yet, due now.
    pub(crate) fn spool_metadata(&self) -> Metadata {
        spool_metadata(
            &self.sender,
            &self.recipient,
            &self.queue,
            &self.id,
            self.injected_unix_ms,
            0,
            None,
        )
    }
}

/// The spool metadata of a message: its envelope, and its id and injection time as the host's
/// bytes ([`MessageMeta`]).
fn spool_metadata(
    sender: &str,
    recipient: &str,
    queue: &str,
    message_id: &str,
    injected_unix_ms: u64,
    attempts: u32,
    due: Option<SystemTime>,
) -> Metadata {
    Metadata {
        sender: sender.to_owned(),
        recipients: vec![recipient.to_owned()],
        queue: queue.to_owned(),
        attempts,
        due,
        host: MessageMeta {
            message_id: message_id.to_owned(),
            injected_unix_ms,
        }
        .encode(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The spool's host bytes are read back at start: any bytes decode or are refused,
        /// never a panic, and what was encoded comes back.
        #[test]
        fn host_bytes_decode_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = MessageMeta::decode(&bytes);
        }

        #[test]
        fn host_bytes_round_trip(id in "[^\t]{0,40}", ms in any::<u64>()) {
            let m = MessageMeta { message_id: id, injected_unix_ms: ms };
            prop_assert_eq!(MessageMeta::decode(&m.encode()), Some(m));
        }
    }
}
