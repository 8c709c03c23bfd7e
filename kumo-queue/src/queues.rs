//! Interned queue names with per-queue counts: no task, timer or set per queue.

use crate::error::QueueError;
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
/// (segment << 16 | offset) and a `u16` length.
const SEG_BITS: u32 = 16;
const SEG: usize = 1 << SEG_BITS;
pub(crate) const MAX_NAME: usize = u16::MAX as usize;

/// The interner.
pub(crate) struct Queues {
    segments: Vec<String>,
    starts: Vec<u32>,
    lens: Vec<u16>,
    counts: Vec<u32>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl fmt::Debug for Queues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queues")
            .field("queues", &self.starts.len())
            .finish_non_exhaustive()
    }
}

impl Default for Queues {
    fn default() -> Self {
        Self {
            segments: Vec::new(),
            starts: Vec::new(),
            lens: Vec::new(),
            counts: Vec::new(),
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

fn name_of<'a>(segments: &'a [String], starts: &[u32], lens: &[u16], q: u32) -> &'a str {
    let start = starts[q as usize];
    let seg = &segments[(start >> SEG_BITS) as usize];
    let off = (start as usize) & (SEG - 1);
    &seg[off..off + lens[q as usize] as usize]
}

impl Queues {
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    pub(crate) fn contains(&self, q: u32) -> bool {
        (q as usize) < self.starts.len()
    }

    pub(crate) fn name(&self, q: u32) -> Option<&str> {
        self.contains(q)
            .then(|| name_of(&self.segments, &self.starts, &self.lens, q))
    }

    pub(crate) fn find(&self, name: &str) -> Option<u32> {
        let h = self.hasher.hash_one(name);
        self.table
            .find(h, |&q| {
                name_of(&self.segments, &self.starts, &self.lens, q) == name
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
            starts,
            lens,
            table,
            hasher,
            ..
        } = self;
        if let Some(&q) = table.find(h, |&q| name_of(segments, starts, lens, q) == name) {
            return Ok(q);
        }
        let q = u32::try_from(starts.len())
            .ok()
            .filter(|&q| q != u32::MAX)
            .ok_or(QueueError::TooManyQueues)?;
        let fits = segments.last().is_some_and(|s| SEG - s.len() >= name.len());
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
        starts.push(start);
        lens.push(name.len() as u16);
        table.insert_unique(h, q, |&q| {
            hasher.hash_one(name_of(segments, starts, lens, q))
        });
        self.counts.push(0);
        Ok(q)
    }

    #[inline]
    pub(crate) fn count(&self, q: u32) -> u32 {
        self.counts.get(q as usize).copied().unwrap_or(0)
    }

    #[inline]
    pub(crate) fn add(&mut self, q: u32) {
        self.counts[q as usize] += 1;
    }

    #[inline]
    pub(crate) fn sub(&mut self, q: u32) {
        self.counts[q as usize] -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
