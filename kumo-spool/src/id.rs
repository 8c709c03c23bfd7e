//! [`SpoolId`]: 128-bit, time-ordered message ids made without coordination.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// The id of a spooled message: 128 bits, ordered by creation time, unique without coordination.
///
/// Layout (big-endian, so byte order is time order): 48 bits of milliseconds since the Unix
/// epoch, a 32-bit sequence that orders ids made in the same millisecond by one
/// [`SpoolIdGenerator`], and a 48-bit random node number chosen when the generator is made.
/// Two generators (two processes, two hosts) collide only if they draw the same node number
/// *and* make an id in the same millisecond with the same sequence.
///
/// Printed as 32 lowercase hex digits; [`FromStr`] takes either case.
///
/// # Examples
///
/// ```
/// use kumo_spool::{SpoolId, SpoolIdGenerator};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let ids = SpoolIdGenerator::new();
/// let now = UNIX_EPOCH + Duration::from_millis(1_733_000_000_123);
/// let a = ids.next(now);
/// let b = ids.next(now);
/// assert!(a < b, "ids of one generator are strictly increasing");
/// assert_eq!(a.created_at(), now);
/// let text = a.to_string();
/// assert_eq!(text.len(), 32);
/// assert_eq!(text.parse::<SpoolId>()?, a);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpoolId([u8; 16]);

impl SpoolId {
    /// The id's 16 bytes (big-endian; byte order is time order).
    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// The id with these 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The id as one integer (same order as the bytes).
    pub fn as_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// When the id was made, to the millisecond.
    pub fn created_at(self) -> SystemTime {
        let mut ms = [0u8; 8];
        ms[2..].copy_from_slice(&self.0[..6]);
        UNIX_EPOCH + Duration::from_millis(u64::from_be_bytes(ms))
    }

    /// Writes the 32 lowercase hex digits into `out`.
    pub(crate) fn write_hex(self, out: &mut [u8; 32]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
    }

    /// The 32 lowercase hex digits.
    pub fn to_hex(self) -> String {
        let mut out = [0u8; 32];
        self.write_hex(&mut out);
        out.iter().map(|&b| char::from(b)).collect()
    }
}

impl fmt::Display for SpoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; 32];
        self.write_hex(&mut out);
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for SpoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpoolId({self})")
    }
}

/// A string is not a [`SpoolId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseIdError {
    /// Not 32 characters long.
    #[error("a spool id has 32 hex digits, not {0} bytes")]
    Length(usize),
    /// A character that is not a hex digit.
    #[error("byte {byte:#04x} at position {position} is not a hex digit")]
    Digit {
        /// Where, in bytes from the start.
        position: usize,
        /// The byte found.
        byte: u8,
    },
}

impl SpoolId {
    /// Parses 32 hex digits (either case) from bytes, such as a file name.
    ///
    /// # Errors
    ///
    /// [`ParseIdError`] naming the length or the first bad byte.
    pub fn parse_ascii(s: &[u8]) -> Result<Self, ParseIdError> {
        if s.len() != 32 {
            return Err(ParseIdError::Length(s.len()));
        }
        let digit = |position: usize| -> Result<u8, ParseIdError> {
            let byte = s[position];
            match byte {
                b'0'..=b'9' => Ok(byte - b'0'),
                b'a'..=b'f' => Ok(byte - b'a' + 10),
                b'A'..=b'F' => Ok(byte - b'A' + 10),
                _ => Err(ParseIdError::Digit { position, byte }),
            }
        };
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = (digit(2 * i)? << 4) | digit(2 * i + 1)?;
        }
        Ok(Self(out))
    }
}

impl FromStr for SpoolId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_ascii(s.as_bytes())
    }
}

/// Makes [`SpoolId`]s: strictly increasing within one generator, even when the clock steps
/// back (the last millisecond is kept and the sequence goes on).
///
/// Time is passed in; [`SpoolIdGenerator::next_now`] is the one convenience that reads
/// `SystemTime::now()`.
#[derive(Debug)]
pub struct SpoolIdGenerator {
    node: [u8; 6],
    state: Mutex<(u64, u32)>,
}

impl Default for SpoolIdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl SpoolIdGenerator {
    /// A generator with a random node number from the operating system's generator.
    pub fn new() -> Self {
        use rand::TryRngCore;
        let mut node = [0u8; 6];
        // The OS generator failing is not worth a panic: fall back to the clock and the
        // process id, which still differ between processes.
        if rand::rngs::OsRng.try_fill_bytes(&mut node).is_err() {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let mix = (u64::from(std::process::id()) << 32) | u64::from(nanos);
            node.copy_from_slice(&mix.to_be_bytes()[2..]);
        }
        Self::with_node(node)
    }

    /// A generator with a fixed node number (tests, or hosts that assign node numbers).
    pub fn with_node(node: [u8; 6]) -> Self {
        Self {
            node,
            state: Mutex::new((0, 0)),
        }
    }

    /// The next id, made at `now`.
    pub fn next(&self, now: SystemTime) -> SpoolId {
        let ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .min((1 << 48) - 1);
        let (ms, seq) = {
            let mut g = self.state.lock();
            let (last, seq) = *g;
            *g = if ms > last {
                (ms, 0)
            } else if seq == u32::MAX {
                (last + 1, 0)
            } else {
                (last, seq + 1)
            };
            *g
        };
        let mut b = [0u8; 16];
        b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        b[6..10].copy_from_slice(&seq.to_be_bytes());
        b[10..].copy_from_slice(&self.node);
        SpoolId(b)
    }

    /// The next id, made now (reads `SystemTime::now()`).
    pub fn next_now(&self) -> SpoolId {
        self.next(SystemTime::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_steps_back_ids_still_increase() {
        let g = SpoolIdGenerator::with_node([1; 6]);
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let a = g.next(t);
        let b = g.next(t - Duration::from_secs(5));
        assert!(b > a);
        assert_eq!(b.created_at(), t);
    }

    #[test]
    fn bad_text_is_named() {
        assert_eq!(SpoolId::from_str("ab"), Err(ParseIdError::Length(2)));
        let mut s = "0".repeat(32);
        s.replace_range(5..6, "g");
        assert_eq!(
            SpoolId::from_str(&s),
            Err(ParseIdError::Digit {
                position: 5,
                byte: b'g'
            })
        );
    }
}
