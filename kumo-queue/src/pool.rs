//! Fixed-size chunks of packed `u32` ids, handed out from a free list.
//!
//! Chunks live in segments that are allocated once and never moved, so the pool grows without
//! doubling or copying, and a freed chunk is reused by the next insert without touching the
//! allocator.

/// "No chunk".
pub(crate) const NIL: u32 = u32::MAX;

/// Entries per chunk: 510 ids of 4 bytes plus an 8-byte header make a 2 KiB chunk. Long
/// chunks keep a walk through a slot mostly sequential (one pointer chase per 510 entries), at
/// the cost of at most one partly filled chunk per occupied slot.
pub(crate) const CHUNK: usize = 510;

/// One scheduled entry: the caller's id. Its due tick is not stored with it: it is the id's due
/// word, which the wheel reads when it needs it (see `core`).
pub(crate) type Entry = u32;

/// A chunk of entries, linked into a slot's list or into the free list through `next`.
///
/// The header comes first so that reading it brings in the first entries too, and a walk
/// through the chunk runs forward through memory.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct Chunk {
    pub(crate) len: u32,
    pub(crate) next: u32,
    pub(crate) entries: [Entry; CHUNK],
}

impl Chunk {
    const EMPTY: Chunk = Chunk {
        len: 0,
        next: NIL,
        entries: [0; CHUNK],
    };
}

/// log2 of chunks per segment: 16 chunks of 2 KiB make a 32 KiB segment.
const SHIFT: u32 = 4;
const PER_SEGMENT: usize = 1 << SHIFT;

/// Entries staged per target slot while a large slot is cascaded.
pub(crate) const STAGE: usize = 32;

/// Staging buffers for cascades: a small run of entries per target slot of one level, so that
/// a cascade appends to the target slots' chunks a run at a time (36 KiB with the copy of one
/// chunk, allocated on the first cascade and kept by the pool).
pub(crate) struct Staging {
    pub(crate) counts: [u8; 256],
    pub(crate) runs: Box<[[Entry; STAGE]; 256]>,
    /// The ids of the chunk being cascaded, copied out (it cannot be borrowed while other
    /// chunks are written), and their due words.
    pub(crate) ids: [Entry; CHUNK],
    pub(crate) dues: [u32; CHUNK],
}

impl Staging {
    fn new() -> Box<Self> {
        let runs = vec![[0; STAGE]; 256].into_boxed_slice();
        let runs = <Box<[[Entry; STAGE]; 256]>>::try_from(runs)
            .unwrap_or_else(|_| Box::new([[0; STAGE]; 256]));
        Box::new(Self {
            counts: [0; 256],
            runs,
            ids: [0; CHUNK],
            dues: [0; CHUNK],
        })
    }
}

/// The pool of chunks.
pub(crate) struct ChunkPool {
    segments: Vec<Box<[Chunk; PER_SEGMENT]>>,
    staging: Option<Box<Staging>>,
    free: u32,
    /// Chunks carved out of segments so far.
    carved: u32,
    /// Chunks currently in use.
    in_use: u32,
}

impl std::fmt::Debug for ChunkPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkPool")
            .field("in_use", &self.in_use)
            .field("carved", &self.carved)
            .finish_non_exhaustive()
    }
}

impl ChunkPool {
    /// An empty pool.
    pub(crate) fn new() -> Self {
        Self {
            segments: Vec::new(),
            staging: None,
            free: NIL,
            carved: 0,
            in_use: 0,
        }
    }

    #[inline]
    pub(crate) fn get(&self, c: u32) -> &Chunk {
        &self.segments[(c >> SHIFT) as usize][(c as usize) % PER_SEGMENT]
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, c: u32) -> &mut Chunk {
        &mut self.segments[(c >> SHIFT) as usize][(c as usize) % PER_SEGMENT]
    }

    /// An empty chunk whose `next` is `next`.
    #[inline]
    pub(crate) fn alloc(&mut self, next: u32) -> u32 {
        let c = if self.free != NIL {
            let c = self.free;
            self.free = self.get(c).next;
            c
        } else {
            let c = self.carved;
            if (c >> SHIFT) as usize >= self.segments.len() {
                let seg: Vec<Chunk> = vec![Chunk::EMPTY; PER_SEGMENT];
                // A vector of PER_SEGMENT chunks always converts.
                if let Ok(seg) = <Box<[Chunk; PER_SEGMENT]>>::try_from(seg.into_boxed_slice()) {
                    self.segments.push(seg);
                }
            }
            self.carved += 1;
            c
        };
        self.in_use += 1;
        let ch = self.get_mut(c);
        ch.len = 0;
        ch.next = next;
        c
    }

    /// Returns one chunk to the free list.
    #[inline]
    pub(crate) fn free(&mut self, c: u32) {
        let head = self.free;
        self.get_mut(c).next = head;
        self.free = c;
        self.in_use -= 1;
    }

    /// Takes the staging buffers (all runs empty), allocating them on first use; give them
    /// back with [`put_staging`](Self::put_staging).
    pub(crate) fn take_staging(&mut self) -> Box<Staging> {
        self.staging.take().unwrap_or_else(Staging::new)
    }

    /// Returns the staging buffers (all runs empty).
    pub(crate) fn put_staging(&mut self, staging: Box<Staging>) {
        self.staging = Some(staging);
    }

    /// Chunks in use.
    pub(crate) fn in_use(&self) -> u32 {
        self.in_use
    }

    /// Chunks allocated from the system (in use or free).
    pub(crate) fn capacity(&self) -> u32 {
        u32::try_from(self.segments.len() << SHIFT).unwrap_or(u32::MAX)
    }

    /// Releases every chunk and segment.
    pub(crate) fn clear(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_chunks_are_reused_before_new_ones() {
        let mut p = ChunkPool::new();
        let a = p.alloc(NIL);
        let b = p.alloc(a);
        assert_eq!(p.get(b).next, a);
        assert_eq!(p.capacity(), PER_SEGMENT as u32);
        p.free(a);
        let c = p.alloc(NIL);
        assert_eq!(c, a);
        for _ in 0..PER_SEGMENT - 1 {
            p.alloc(NIL);
        }
        assert_eq!(p.capacity(), 2 * PER_SEGMENT as u32);
        assert_eq!(p.in_use(), PER_SEGMENT as u32 + 1);
        assert_eq!(std::mem::size_of::<Chunk>(), 2048);
    }
}
