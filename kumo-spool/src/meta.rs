//! [`Metadata`]: the updatable part of a spooled message, and its checksummed encoding.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// What a spool keeps beside a message's data, and can rewrite without touching the data:
/// the envelope, the queue, the attempts so far, when it is due, and the host's own bytes.
///
/// # Examples
///
/// ```
/// use kumo_spool::Metadata;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let meta = Metadata {
///     sender: "news@example.com".into(),
///     recipients: vec!["alice@example.net".into()],
///     queue: "example.net".into(),
///     attempts: 1,
///     due: Some(UNIX_EPOCH + Duration::from_secs(1_733_000_000)),
///     host: "campaign=7".into(),
/// };
/// let bytes = meta.encode();
/// assert_eq!(Metadata::decode(&bytes)?, meta);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// The envelope sender (`MAIL FROM`), empty for the null sender.
    pub sender: String,
    /// The envelope recipients (`RCPT TO`).
    pub recipients: Vec<String>,
    /// The queue the message belongs to (for example its recipient domain).
    pub queue: String,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due (`None`: ready now). Kept to the millisecond.
    pub due: Option<SystemTime>,
    /// The host's own bytes, stored and returned as they are.
    pub host: Bytes,
}

/// Format version of the encoding.
const VERSION: u8 = 1;

/// Bytes an encoding carries beyond its fields' contents: version, attempts, due, four
/// lengths and the checksum.
pub(crate) const ENCODING_OVERHEAD: usize = 1 + 4 + 8 + 4 * 4 + 4;

/// Metadata bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes end before the field that starts at `offset`.
    #[error("metadata truncated at byte {offset} (need {needed} more)")]
    Truncated {
        /// Where the missing field starts.
        offset: usize,
        /// How many more bytes it needs.
        needed: usize,
    },
    /// The trailing CRC-32 does not match the contents.
    #[error("metadata checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// The checksum in the bytes.
        stored: u32,
        /// The checksum of the contents.
        computed: u32,
    },
    /// An unknown format version.
    #[error("unknown metadata version {0}")]
    Version(u8),
    /// A text field is not UTF-8.
    #[error("metadata field {field} at byte {offset} is not UTF-8")]
    Utf8 {
        /// `sender`, `queue` or `recipient`.
        field: &'static str,
        /// Where the field starts.
        offset: usize,
    },
    /// Bytes left after the last field.
    #[error("{0} unexpected bytes after the metadata")]
    Trailing(usize),
}

impl Metadata {
    /// The encoding: version, attempts, due, length-prefixed fields, then a CRC-32 of all that.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// The length of [`encode`](Self::encode)'s output.
    pub fn encoded_len(&self) -> usize {
        ENCODING_OVERHEAD
            + self.sender.len()
            + self.queue.len()
            + self.host.len()
            + self.recipients.iter().map(|r| 4 + r.len()).sum::<usize>()
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(VERSION);
        out.extend_from_slice(&self.attempts.to_be_bytes());
        let due = self.due.map_or(u64::MAX, |t| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX - 1))
                .min(u64::MAX - 1)
        });
        out.extend_from_slice(&due.to_be_bytes());
        put(out, self.sender.as_bytes());
        put(out, self.queue.as_bytes());
        out.extend_from_slice(&len32(self.recipients.len()).to_be_bytes());
        for r in &self.recipients {
            put(out, r.as_bytes());
        }
        put(out, &self.host);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }

    /// Decodes bytes that [`encode`](Self::encode) made, checking the checksum first.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] for truncated, corrupt or unknown bytes; never a panic, whatever the
    /// bytes.
    pub fn decode(bytes: &[u8]) -> Result<Metadata, DecodeError> {
        // `ok_or_else`: the error (and its `4 - len`) only exists when there are fewer than 4
        // bytes; built eagerly, the subtraction overflowed for every longer input.
        let body_len = bytes
            .len()
            .checked_sub(4)
            .ok_or_else(|| DecodeError::Truncated {
                offset: 0,
                needed: 4 - bytes.len(),
            })?;
        let (body, crc) = bytes.split_at(body_len);
        let stored = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = crc32fast::hash(body);
        if stored != computed {
            return Err(DecodeError::Checksum { stored, computed });
        }
        let mut r = Reader { bytes: body, at: 0 };
        let version = r.take(1)?[0];
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let attempts = r.u32()?;
        let due = r.u64()?;
        let sender = r.text("sender")?;
        let queue = r.text("queue")?;
        let n = r.u32()? as usize;
        // Each recipient needs at least its 4-byte length: a count beyond that is truncation,
        // found before any allocation.
        let room = (body.len() - r.at) / 4;
        if n > room {
            return Err(DecodeError::Truncated {
                offset: r.at,
                needed: (n - room) * 4,
            });
        }
        let mut recipients = Vec::with_capacity(n);
        for _ in 0..n {
            recipients.push(r.text("recipient")?);
        }
        let host = Bytes::copy_from_slice(r.field()?);
        if r.at != body.len() {
            return Err(DecodeError::Trailing(body.len() - r.at));
        }
        Ok(Metadata {
            sender,
            recipients,
            queue,
            attempts,
            due: (due != u64::MAX).then(|| UNIX_EPOCH + Duration::from_millis(due)),
            host,
        })
    }
}

fn len32(n: usize) -> u32 {
    // Fields longer than 4 GiB cannot be stored; the spool refuses metadata that large before
    // encoding it (see `Spool::store`).
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn put(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&len32(field.len()).to_be_bytes());
    out.extend_from_slice(field);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(DecodeError::Truncated {
                offset: self.at,
                needed: n - left,
            });
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }

    fn field(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn text(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let offset = self.at;
        let b = self.field()?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Utf8 { field, offset })
    }
}
