//! Interned queue names with per-queue counts: no task, timer or set per queue.

use crate::error::QueueError;
use crate::paged::Paged;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::fmt;
use std::hash::BuildHasher;

/// The id of an interned queue name, issued by one [`Scheduler`](crate::Scheduler).
///
/// Ids are dense (0, 1, 2, ...) in the order the names were first seen, and stay valid for the
/// scheduler's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub(crate) u32);

impl QueueId {
    /// The id as an index (0-based, dense).
    pub fn index(self) -> u32 {
        self.0
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "q{}", self.0)
    }
}

/// Names live in 64 KiB segments that never move; a name is addressed by one `u32`
/// (segment << 16 | offset), and ends where the next name in its segment starts (or at the
/// segment's end).
const SEG_BITS: u32 = 16;
const SEG: usize = 1 << SEG_BITS;
pub(crate) const MAX_NAME: usize = u16::MAX as usize;

/// Queue ids fit in 24 bits, so that a message's record packs its queue id with part of its
/// key generation (5 bytes a message instead of 6).
pub(crate) const QUEUE_BITS: u32 = 24;

/// How many queues one scheduler can intern: 2^24 (16,777,216).
pub const MAX_QUEUES: u32 = 1 << QUEUE_BITS;

/// A queue's record: where its name starts and how many messages it holds.
#[derive(Debug, Clone, Copy, Default)]
struct QueueRec {
    start: u32,
    count: u32,
}

/// The interner. Records are paged (8 bytes a queue, grown a page at a time, never copied).
pub(crate) struct Queues {
    segments: Vec<String>,
    recs: Paged<QueueRec>,
    len: u32,
    /// At most this many queues ([`MAX_QUEUES`], lower in tests).
    limit: u32,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl fmt::Debug for Queues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queues")
            .field("queues", &self.len)
            .finish_non_exhaustive()
    }
}

impl Default for Queues {
    fn default() -> Self {
        Self {
            segments: Vec::new(),
            recs: Paged::default(),
            len: 0,
            limit: MAX_QUEUES,
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

/// The name of queue `q` (below `len`).
fn name_of<'a>(segments: &'a [String], recs: &Paged<QueueRec>, len: u32, q: u32) -> &'a str {
    let start = recs.get(q).map_or(0, |r| r.start);
    let seg_index = (start >> SEG_BITS) as usize;
    let Some(seg) = segments.get(seg_index) else {
        return "";
    };
    let off = (start as usize) & (SEG - 1);
    let after = q.wrapping_add(1);
    let end = match recs.get(after) {
        Some(next) if after < len && (next.start >> SEG_BITS) as usize == seg_index => {
            (next.start as usize) & (SEG - 1)
        }
        _ => seg.len(),
    };
    seg.get(off..end).unwrap_or("")
}

impl Queues {
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    pub(crate) fn contains(&self, q: u32) -> bool {
        q < self.len
    }

    pub(crate) fn name(&self, q: u32) -> Option<&str> {
        self.contains(q)
            .then(|| name_of(&self.segments, &self.recs, self.len, q))
    }

    pub(crate) fn find(&self, name: &str) -> Option<u32> {
        let h = self.hasher.hash_one(name);
        self.table
            .find(h, |&q| {
                name_of(&self.segments, &self.recs, self.len, q) == name
            })
            .copied()
    }

    /// The id of `name`, interning it if it is new.
    pub(crate) fn intern(&mut self, name: &str) -> Result<u32, QueueError> {
        if name.len() > MAX_NAME {
            return Err(QueueError::NameTooLong);
        }
        let h = self.hasher.hash_one(name);
        let Self {
            segments,
            recs,
            len,
            limit,
            table,
            hasher,
        } = self;
        if let Some(&q) = table.find(h, |&q| name_of(segments, recs, *len, q) == name) {
            return Ok(q);
        }
        let q = Some(*len)
            .filter(|&q| q < *limit)
            .ok_or(QueueError::TooManyQueues)?;
        // A name starts inside its segment (a full segment takes no more names, even empty ones).
        let fits = segments
            .last()
            .is_some_and(|s| s.len() < SEG && SEG - s.len() >= name.len());
        if !fits {
            segments.push(String::with_capacity(SEG));
        }
        let seg_index = segments.len() - 1;
        let Some(seg) = segments.last_mut() else {
            return Err(QueueError::TooManyQueues);
        };
        let start = u32::try_from((seg_index << SEG_BITS) | seg.len())
            .map_err(|_| QueueError::TooManyQueues)?;
        seg.push_str(name);
        *recs.slot(q) = QueueRec { start, count: 0 };
        *len += 1;
        let n = *len;
        table.insert_unique(h, q, |&q| hasher.hash_one(name_of(segments, recs, n, q)));
        Ok(q)
    }

    #[inline]
    pub(crate) fn count(&self, q: u32) -> u32 {
        self.recs.get(q).map_or(0, |r| r.count)
    }

    #[inline]
    pub(crate) fn add(&mut self, q: u32) {
        if let Some(r) = self.recs.get_mut(q) {
            r.count += 1;
        }
    }

    #[inline]
    pub(crate) fn sub(&mut self, q: u32) {
        if let Some(r) = self.recs.get_mut(q) {
            r.count -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_stops_at_the_queue_limit() {
        let mut q = Queues {
            limit: 3,
            ..Queues::default()
        };
        for name in ["a", "b", "c"] {
            q.intern(name).unwrap();
        }
        assert_eq!(q.intern("d"), Err(QueueError::TooManyQueues));
        // Known names still resolve, and nothing was half-added.
        assert_eq!(q.intern("b"), Ok(1));
        assert_eq!((q.len(), q.find("d")), (3, None));
        assert_eq!(Queues::default().limit, MAX_QUEUES);
    }

    #[test]
    fn interning_is_stable_and_names_round_trip() {
        let mut q = Queues::default();
        let a = q
            .intern("campaign-7:tenant-3@domain-1.example.com")
            .unwrap();
        let b = q.intern("b").unwrap();
        assert_eq!(q.intern("b").unwrap(), b);
        assert_eq!(q.find("campaign-7:tenant-3@domain-1.example.com"), Some(a));
        assert_eq!(q.name(b), Some("b"));
        assert_eq!(q.find("c"), None);
        assert_eq!(q.name(2), None);
        assert_eq!(
            q.intern(&"x".repeat(MAX_NAME + 1)),
            Err(QueueError::NameTooLong)
        );
        // A name of the maximum length starts a new segment and still round-trips.
        let long = "y".repeat(MAX_NAME);
        let c = q.intern(&long).unwrap();
        assert_eq!(q.name(c), Some(long.as_str()));
        assert_eq!(q.intern("").unwrap(), 3);
        assert_eq!(q.name(3), Some(""));
        // Fill the next segment exactly: an empty name after it goes to a new segment.
        let full = q.intern(&"z".repeat(MAX_NAME)).unwrap();
        let one = q.intern("w").unwrap();
        let empty = q.intern("").unwrap();
        assert_eq!(empty, 3, "the empty name was interned already");
        let tail = q.intern("after-a-full-segment").unwrap();
        assert_eq!(q.name(full).map(str::len), Some(MAX_NAME));
        assert_eq!(q.name(one), Some("w"));
        assert_eq!(q.name(tail), Some("after-a-full-segment"));
        assert_eq!(q.find("w"), Some(one));
        assert_eq!(q.name(c), Some(long.as_str()));
        assert_eq!(q.find("campaign-7:tenant-3@domain-1.example.com"), Some(a));
    }
}
