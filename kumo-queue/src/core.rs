//! The hierarchical wheel engine: 4 levels of 256 slots over absolute `u32` ticks.
//!
//! An entry for an id due at `due` lives at the level of the highest byte in which `due` differs
//! from the current tick, in the slot named by that byte of `due`. Every entry at level `l`
//! therefore shares the bytes above `l` with the current tick, so the whole `u32` tick range fits
//! in the four levels and nothing overflows. A slot at level `l > 0` is cascaded (its live
//! entries re-filed one level down or popped) when the current tick reaches the start of its
//! block.
//!
//! An entry is only the id (4 bytes): its due tick is the id's due word (shared with the caller
//! through [`Paged`]), which also makes cancel and reschedule O(1). An entry is live while its
//! id's due word is filed in the entry's slot; an id is scheduled while its word is after the
//! current tick, so popping needs no write. A cancelled or rescheduled id leaves its entry
//! behind, stale; stale entries are skipped when their slot is visited (every cascade of a slot
//! that holds stale entries drops them) and compacted in place when they are more than three
//! quarters of a slot of at least two chunks, which bounds such a slot to four times its live
//! entries. A stale entry whose id was rescheduled into the same slot looks live: it is a
//! duplicate, filed along with the live one, and dropped when they pop (the pop zeroes the word)
//! or when the slot is compacted.
//!
//! A slot that has never held a stale entry, nor received entries from a slot that did, is
//! *clean*: every entry in it is live and unique, so it is popped without looking at the due
//! words at all, and cascaded with one pass over the words of its ids (in the chunk's order).
//! Only dirty slots check liveness. A clean cascade moves a chunk whose entries all go to one
//! slot (a burst) as a whole, and stages the other entries in short runs per target slot (the
//! pool's staging buffers), so that the target chunks are appended to a run at a time rather
//! than an entry at a time.
//!
//! The engine does not own its chunk pool or the due words, so that the per-queue strategy can
//! run many engines over one pool and one set of due words.

use crate::paged::Paged;
use crate::pool::{CHUNK, ChunkPool, Entry, NIL, STAGE};

/// Access to the per-id due words (0 means "not scheduled").
pub(crate) trait DueWords {
    /// The word of `id`, or `None` when `id` has none (it is then not scheduled here).
    fn word(&mut self, id: u32) -> Option<&mut u32>;
    /// The word of `id`, creating it (as 0) if needed.
    fn word_or_insert(&mut self, id: u32) -> &mut u32;
    /// The words of `ids` into `out` (0 for an id that has none).
    #[inline]
    fn read_many(&mut self, ids: &[u32], out: &mut [u32]) {
        for (o, &id) in out.iter_mut().zip(ids) {
            *o = self.word(id).map_or(0, |w| *w);
        }
    }
}

impl DueWords for Paged<u32> {
    #[inline]
    fn read_many(&mut self, ids: &[u32], out: &mut [u32]) {
        self.copy_out(ids, out);
    }

    #[inline]
    fn word(&mut self, id: u32) -> Option<&mut u32> {
        self.get_mut(id)
    }

    #[inline]
    fn word_or_insert(&mut self, id: u32) -> &mut u32 {
        self.slot(id)
    }
}

/// Receives popped entries.
pub(crate) trait Sink {
    /// One popped entry.
    fn pop(&mut self, id: u32, due: u32);
    /// A run of popped ids (all live and unique), all due at `due`.
    #[inline]
    fn pop_run(&mut self, ids: &[Entry], due: u32) {
        for &id in ids {
            self.pop(id, due);
        }
    }
}

impl<F: FnMut(u32, u32)> Sink for F {
    #[inline]
    fn pop(&mut self, id: u32, due: u32) {
        self(id, due);
    }
}

/// A sink that collects ids only.
pub(crate) struct Ids<'a>(pub(crate) &'a mut Vec<u32>);

impl Sink for Ids<'_> {
    #[inline]
    fn pop(&mut self, id: u32, _due: u32) {
        self.0.push(id);
    }

    #[inline]
    fn pop_run(&mut self, ids: &[Entry], _due: u32) {
        self.0.extend_from_slice(ids);
    }
}

pub(crate) const LEVELS: usize = 4;
pub(crate) const SLOTS: usize = 256;

/// A slot's list of chunks and its counters.
#[derive(Debug, Clone, Copy)]
struct Slot {
    head: u32,
    /// Entries in the slot's chunks, stale ones included.
    len: u32,
    /// Entries known to be stale (cancelled or rescheduled since they were filed).
    stale: u32,
    /// Entries in the head chunk. This is the head chunk's count: appending an entry writes
    /// only here, not the chunk's header, whose `len` is brought up to date (`sync_head`)
    /// before anything reads the chunk's `len` or the chunk stops being the head.
    fill: u32,
}

const EMPTY_SLOT: Slot = Slot {
    head: NIL,
    len: 0,
    stale: 0,
    fill: 0,
};

/// The wheel engine.
pub(crate) struct WheelCore {
    cur: u32,
    slots: Box<[Slot; LEVELS * SLOTS]>,
    occupied: [[u64; 4]; LEVELS],
    /// Live ids.
    len: usize,
    /// A tick before which no slot is due for processing (a lower bound of the next event, found
    /// by the last advance; 0 once an entry is scheduled, until the next advance looks again), so
    /// that an advance with nothing due skips the bitmap scans.
    quiet_until: u32,
}

#[inline]
fn level_of(due: u32, cur: u32) -> usize {
    let x = due ^ cur;
    debug_assert!(x != 0);
    ((31 - x.leading_zeros()) / 8) as usize
}

/// The slot index (level * 256 + slot) where an entry due at `due` lives when the current tick
/// is `cur` (`due` after `cur`).
#[inline]
fn locate_at(due: u32, cur: u32) -> usize {
    let l = level_of(due, cur);
    l * SLOTS + ((due >> (8 * l)) & 0xff) as usize
}

/// The first set bit strictly after `b` in a 256-bit map.
#[inline]
fn next_set_after(bits: &[u64; 4], b: u32) -> Option<u32> {
    let start = b + 1;
    if start >= 256 {
        return None;
    }
    let mut w = (start / 64) as usize;
    let mut word = bits[w] & (u64::MAX << (start % 64));
    loop {
        if word != 0 {
            return Some(w as u32 * 64 + word.trailing_zeros());
        }
        w += 1;
        if w == 4 {
            return None;
        }
        word = bits[w];
    }
}

impl std::fmt::Debug for WheelCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WheelCore")
            .field("cur", &self.cur)
            .field("len", &self.len)
            .field("entries", &self.entries())
            .finish_non_exhaustive()
    }
}

/// Writes the head chunk's count (kept in the slot while it is the head) into its header.
#[inline]
fn sync_head(pool: &mut ChunkPool, slot: &Slot) {
    if slot.head != NIL {
        pool.get_mut(slot.head).len = slot.fill;
    }
}

impl WheelCore {
    pub(crate) fn new(cur: u32) -> Self {
        Self {
            cur,
            slots: Box::new([EMPTY_SLOT; LEVELS * SLOTS]),
            occupied: [[0; 4]; LEVELS],
            len: 0,
            quiet_until: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The due tick of `id` if it is scheduled (its word is after the current tick).
    #[inline]
    pub(crate) fn scheduled(&self, word: Option<u32>) -> Option<u32> {
        word.filter(|&d| d > self.cur)
    }

    /// Entries stored, stale ones included (a sum over the slots: for statistics, off the
    /// hot paths).
    pub(crate) fn entries(&self) -> usize {
        self.slots.iter().map(|s| s.len as usize).sum()
    }

    /// The slot index (level * 256 + slot) where an entry due at `due` lives now.
    #[inline]
    fn locate(&self, due: u32) -> usize {
        locate_at(due, self.cur)
    }

    /// Files an entry that comes from a dirty slot: its new slot becomes dirty too.
    #[inline]
    fn file_dirty(&mut self, pool: &mut ChunkPool, id: Entry, due: u32) {
        let s = self.locate(due);
        let slot = &mut self.slots[s];
        slot.stale = slot.stale.max(1);
        self.file_at(pool, s, id);
    }

    /// Files a run of entries into slot `s`, a chunk's worth at a time.
    fn file_run(&mut self, pool: &mut ChunkPool, s: usize, mut run: &[Entry]) {
        let slot = &mut self.slots[s];
        sync_head(pool, slot);
        slot.len += run.len() as u32;
        if slot.head == NIL {
            self.occupied[s / SLOTS][(s % SLOTS) / 64] |= 1 << (s % 64);
        }
        while !run.is_empty() {
            let head = slot.head;
            if head != NIL {
                let ch = pool.get_mut(head);
                let used = ch.len as usize;
                let k = (CHUNK - used).min(run.len());
                if k > 0 {
                    ch.entries[used..used + k].copy_from_slice(&run[..k]);
                    ch.len += k as u32;
                    run = &run[k..];
                    continue;
                }
            }
            slot.head = pool.alloc(head);
        }
        slot.fill = pool.get(slot.head).len;
    }

    /// Links chunk `c` (holding `n` clean entries, all bound for slot `s`) into slot `s`:
    /// as its head when the slot is empty, otherwise right after the head, so that the head
    /// stays the chunk that single entries are appended to.
    fn splice(&mut self, pool: &mut ChunkPool, s: usize, c: u32, n: usize) {
        let slot = &mut self.slots[s];
        slot.len += n as u32;
        let head = slot.head;
        if head == NIL {
            self.occupied[s / SLOTS][(s % SLOTS) / 64] |= 1 << (s % 64);
            pool.get_mut(c).next = NIL;
            slot.head = c;
            slot.fill = n as u32;
        } else {
            let after = std::mem::replace(&mut pool.get_mut(head).next, c);
            pool.get_mut(c).next = after;
        }
    }

    #[inline]
    fn file_at(&mut self, pool: &mut ChunkPool, s: usize, e: Entry) {
        let slot = &mut self.slots[s];
        slot.len += 1;
        let head = slot.head;
        if head != NIL {
            let n = slot.fill as usize;
            if n < CHUNK {
                let ch = pool.get_mut(head);
                ch.entries[n] = e;
                slot.fill = n as u32 + 1;
                return;
            }
        }
        self.file_new_chunk(pool, s, e);
    }

    /// Files `e` into a new head chunk of slot `s` (the slot is empty or its head is full).
    #[cold]
    #[inline(never)]
    fn file_new_chunk(&mut self, pool: &mut ChunkPool, s: usize, e: Entry) {
        let slot = &mut self.slots[s];
        // The old head stops being the head: its header gets its count.
        sync_head(pool, slot);
        let head = slot.head;
        if head == NIL {
            self.occupied[s / SLOTS][(s % SLOTS) / 64] |= 1 << (s % 64);
        }
        let head = pool.alloc(head);
        slot.head = head;
        slot.fill = 1;
        let ch = pool.get_mut(head);
        ch.entries[0] = e;
        ch.len = 1;
    }

    /// Schedules `id` at `due` (which must be after the current tick), replacing any earlier due
    /// time. Returns `false` when the id was already scheduled at exactly `due` (nothing changes).
    #[inline(always)]
    pub(crate) fn schedule(
        &mut self,
        pool: &mut ChunkPool,
        dues: &mut impl DueWords,
        id: u32,
        due: u32,
    ) -> bool {
        debug_assert!(due > self.cur);
        // The new entry may make an earlier event.
        self.quiet_until = 0;
        let old = std::mem::replace(dues.word_or_insert(id), due);
        if old > self.cur && old == due {
            // Already scheduled at `due` (which is after the current tick): nothing changes.
            return false;
        }
        // The new entry is filed before the old one is marked stale: marking may compact the
        // old entry's slot, which may be the new entry's too, and a compaction keeps one entry
        // per live id and leaves the slot clean, so the new entry must already be there.
        let s = self.locate(due);
        self.file_at(pool, s, id);
        if old > self.cur {
            // A reschedule.
            self.mark_stale(pool, dues, old);
        } else {
            self.len += 1;
        }
        true
    }

    /// Cancels `id`; returns its due tick, or `None` when it was not scheduled.
    #[inline]
    pub(crate) fn cancel(
        &mut self,
        pool: &mut ChunkPool,
        dues: &mut impl DueWords,
        id: u32,
    ) -> Option<u32> {
        let w = dues.word(id)?;
        let old = *w;
        if old <= self.cur {
            return None;
        }
        *w = 0;
        self.len -= 1;
        self.mark_stale(pool, dues, old);
        Some(old)
    }

    #[inline]
    fn mark_stale(&mut self, pool: &mut ChunkPool, dues: &mut impl DueWords, old_due: u32) {
        let s = self.locate(old_due);
        let slot = &mut self.slots[s];
        slot.stale += 1;
        if slot.len >= 2 * CHUNK as u32 && slot.stale > slot.len / 4 * 3 {
            self.compact(pool, dues, s);
        }
    }

    /// Rewrites slot `s` with only its live entries (each at most once) and frees the chunks
    /// that become empty.
    ///
    /// An entry is live when its id's due word is filed in this slot. While compacting, the
    /// word of each kept id is flipped in its byte of this slot's level (which files it
    /// elsewhere), so that a duplicate of the id in this slot is dropped; the words are
    /// flipped back at the end.
    #[cold]
    #[inline(never)]
    fn compact(&mut self, pool: &mut ChunkPool, dues: &mut impl DueWords, s: usize) {
        sync_head(pool, &self.slots[s]);
        let cur = self.cur;
        let mark = 0xffu32 << (8 * (s / SLOTS));
        let head = self.slots[s].head;
        let (mut rc, mut wc, mut prev_wc) = (head, head, NIL);
        let mut wi = 0usize;
        let mut kept = 0u32;
        while rc != NIL {
            let n = pool.get(rc).len as usize;
            for i in 0..n {
                let id = pool.get(rc).entries[i];
                let Some(w) = dues.word(id) else { continue };
                if *w <= cur || locate_at(*w, cur) != s {
                    continue;
                }
                *w ^= mark;
                let wch = pool.get_mut(wc);
                wch.entries[wi] = id;
                wi += 1;
                kept += 1;
                if wi == CHUNK {
                    wch.len = CHUNK as u32;
                    prev_wc = wc;
                    wc = wch.next;
                    wi = 0;
                }
            }
            rc = pool.get(rc).next;
        }
        // Cut the list after the last written entry and free the rest.
        let mut rest = if wi == 0 {
            if prev_wc == NIL {
                self.slots[s].head = NIL;
            } else {
                pool.get_mut(prev_wc).next = NIL;
            }
            wc
        } else {
            let ch = pool.get_mut(wc);
            ch.len = wi as u32;
            std::mem::replace(&mut ch.next, NIL)
        };
        while rest != NIL {
            let next = pool.get(rest).next;
            pool.free(rest);
            rest = next;
        }
        // Flip the due words of the kept entries back.
        let mut c = self.slots[s].head;
        while c != NIL {
            let ch = pool.get(c);
            for &id in &ch.entries[..ch.len as usize] {
                if let Some(w) = dues.word(id) {
                    *w ^= mark;
                }
            }
            c = ch.next;
        }
        let slot = &mut self.slots[s];
        slot.len = kept;
        slot.stale = 0;
        slot.fill = if slot.head == NIL {
            0
        } else {
            pool.get(slot.head).len
        };
        if kept == 0 {
            self.occupied[s / SLOTS][(s % SLOTS) / 64] &= !(1 << (s % 64));
        }
    }

    /// The next slot to process: (level, slot, the tick at which it is processed).
    #[inline]
    fn next_event(&self) -> Option<(usize, u32, u32)> {
        for l in 0..LEVELS {
            let b = (self.cur >> (8 * l)) & 0xff;
            if let Some(j) = next_set_after(&self.occupied[l], b) {
                let shift = 8 * (l as u32 + 1);
                let high = if shift >= 32 {
                    0
                } else {
                    (self.cur >> shift) << shift
                };
                return Some((l, j, high | (j << (8 * l))));
            }
        }
        None
    }

    /// A lower bound of the earliest live due tick, or `None` when nothing is scheduled.
    pub(crate) fn next_due(&self) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        self.next_event().map(|(_, _, t)| t)
    }

    /// Moves the current tick to `target`, calling `f(id, due)` for every live entry due at or
    /// before it, exactly once each.
    #[inline]
    pub(crate) fn advance(
        &mut self,
        pool: &mut ChunkPool,
        dues: &mut impl DueWords,
        target: u32,
        f: &mut impl Sink,
    ) {
        if target <= self.cur {
            return;
        }
        // The event ticks of the occupied slots are absolute (the start of their blocks), so a
        // bound found by an earlier advance holds until an entry is scheduled.
        if target < self.quiet_until {
            self.cur = target;
            return;
        }
        loop {
            match self.next_event() {
                Some((l, j, t)) if t <= target => {
                    self.cur = t;
                    self.process(pool, dues, l, j, f);
                }
                next => {
                    self.quiet_until = next.map_or(u32::MAX, |(_, _, t)| t);
                    self.cur = target;
                    return;
                }
            }
        }
    }

    /// Empties slot `j` of level `l`: pops its live entries that are due now and re-files the
    /// others one level down. The current tick is the start of the slot's block.
    fn process(
        &mut self,
        pool: &mut ChunkPool,
        dues: &mut impl DueWords,
        l: usize,
        j: u32,
        f: &mut impl Sink,
    ) {
        let s = l * SLOTS + j as usize;
        let slot = std::mem::replace(&mut self.slots[s], EMPTY_SLOT);
        sync_head(pool, &slot);
        self.occupied[l][(j / 64) as usize] &= !(1 << (j % 64));
        let dirty = slot.stale > 0;
        let cur = self.cur;
        // A clean cascade stages its entries per target slot of level l - 1 (below it only
        // the entries whose byte l - 1 is zero go further down; they are filed directly).
        let mut stage = (!dirty && l > 0).then(|| pool.take_staging());
        let base = l.saturating_sub(1) * SLOTS;
        let mut c = slot.head;
        while c != NIL {
            let (n, next) = {
                let ch = pool.get(c);
                (ch.len as usize, ch.next)
            };
            if !dirty && l == 0 {
                // Clean and due: every entry is live and unique, and due now.
                f.pop_run(&pool.get(c).entries[..n], cur);
                self.len -= n;
                pool.free(c);
                c = next;
                continue;
            }
            if let Some(stage) = stage.as_mut() {
                // Clean: every entry is live and unique; read the due words (one pass, in
                // the chunk's order).
                dues.read_many(&pool.get(c).entries[..n], &mut stage.dues[..n]);
                let dv = &stage.dues[..n];
                // A chunk whose entries all go to one slot one level down (a burst) moves as
                // a whole: it is popped in one run or linked into that slot, without copying.
                // They do when they share the byte of level l - 1 (the bytes above it are the
                // current tick's); the current tick's bytes below l are zero, so a nonzero byte
                // names the slot at level l - 1, and a zero byte at level 1 means due now.
                let shift = 8 * (l as u32 - 1);
                let key = dv[0] >> shift;
                if dv.iter().fold(0, |acc, &d| acc | ((d >> shift) ^ key)) == 0 {
                    let byte = (key & 0xff) as usize;
                    if byte == 0 && l == 1 {
                        f.pop_run(&pool.get(c).entries[..n], cur);
                        self.len -= n;
                        pool.free(c);
                        c = next;
                        continue;
                    }
                    let t = (l - 1) * SLOTS + byte;
                    // A partly filled chunk is only linked into an empty slot, so that a slot
                    // holds at most one partly filled chunk per cascade that fed it.
                    if byte != 0 && (n == CHUNK || self.slots[t].head == NIL) {
                        self.splice(pool, t, c, n);
                        c = next;
                        continue;
                    }
                }
                // Pop each entry or stage it in the run of its target slot one level down;
                // a full run is appended to its slot at once.
                stage.ids[..n].copy_from_slice(&pool.get(c).entries[..n]);
                let ids = &stage.ids[..n];
                if l == 1 {
                    // Below level 1 the target is the low byte; the current tick's is zero,
                    // so a zero byte means due now.
                    for (&id, &d) in ids.iter().zip(dv) {
                        let b = (d & 0xff) as usize;
                        if b == 0 {
                            self.len -= 1;
                            f.pop(id, d);
                            continue;
                        }
                        let k = usize::from(stage.counts[b]);
                        stage.runs[b][k] = id;
                        if k + 1 == STAGE {
                            self.file_run(pool, b, &stage.runs[b]);
                            stage.counts[b] = 0;
                        } else {
                            stage.counts[b] = (k + 1) as u8;
                        }
                    }
                } else {
                    for (&id, &d) in ids.iter().zip(dv) {
                        if d == cur {
                            self.len -= 1;
                            f.pop(id, d);
                            continue;
                        }
                        let t = self.locate(d);
                        match t.checked_sub(base) {
                            Some(b) if b < SLOTS => {
                                let k = usize::from(stage.counts[b]);
                                stage.runs[b][k] = id;
                                if k + 1 == STAGE {
                                    self.file_run(pool, t, &stage.runs[b]);
                                    stage.counts[b] = 0;
                                } else {
                                    stage.counts[b] = (k + 1) as u8;
                                }
                            }
                            _ => self.file_at(pool, t, id),
                        }
                    }
                }
            } else {
                // Dirty: an entry is live when its id's due word lies in this slot's block
                // (the block starts at the current tick, whose bytes below l are zero).
                // Duplicates of a live id are filed into the same (dirty) slot and dropped
                // when it pops: the pop zeroes the word.
                let shift = 8 * l as u32;
                for i in 0..n {
                    let id = pool.get(c).entries[i];
                    let Some(w) = dues.word(id) else { continue };
                    let d = *w;
                    if d < cur || (d ^ cur) >> shift != 0 {
                        continue;
                    }
                    if d == cur {
                        // Zero the word so that a duplicate of this entry is skipped.
                        *w = 0;
                        self.len -= 1;
                        f.pop(id, d);
                    } else {
                        self.file_dirty(pool, id, d);
                    }
                }
            }
            pool.free(c);
            c = next;
        }
        if let Some(mut stage) = stage {
            for b in 0..SLOTS {
                let k = usize::from(std::mem::take(&mut stage.counts[b]));
                if k > 0 {
                    self.file_run(pool, base + b, &stage.runs[b][..k]);
                }
            }
            pool.put_staging(stage);
        }
    }

    /// Removes every live entry, calling `f(id, due)` once for each.
    pub(crate) fn drain(
        &mut self,
        pool: &mut ChunkPool,
        dues: &mut impl DueWords,
        f: &mut impl FnMut(u32, u32),
    ) {
        let cur = self.cur;
        for s in 0..LEVELS * SLOTS {
            let slot = std::mem::replace(&mut self.slots[s], EMPTY_SLOT);
            sync_head(pool, &slot);
            let mut c = slot.head;
            while c != NIL {
                let (n, next) = {
                    let ch = pool.get(c);
                    (ch.len as usize, ch.next)
                };
                for i in 0..n {
                    let id = pool.get(c).entries[i];
                    if let Some(w) = dues.word(id)
                        && *w > cur
                        && locate_at(*w, cur) == s
                    {
                        let d = std::mem::replace(w, 0);
                        f(id, d);
                    }
                }
                pool.free(c);
                c = next;
            }
        }
        self.occupied = [[0; 4]; LEVELS];
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_scan_finds_the_next_slot() {
        let mut b = [0u64; 4];
        b[0] |= 1 << 5;
        b[3] |= 1 << 63;
        assert_eq!(next_set_after(&b, 0), Some(5));
        assert_eq!(next_set_after(&b, 5), Some(255));
        assert_eq!(next_set_after(&b, 255), None);
    }

    #[test]
    fn levels_follow_the_highest_differing_byte() {
        assert_eq!(level_of(1, 0), 0);
        assert_eq!(level_of(256, 255), 1);
        assert_eq!(level_of(0x0100_0000, 0), 3);
        assert_eq!(level_of(u32::MAX, u32::MAX - 1), 0);
    }

    #[test]
    fn bursts_move_as_whole_chunks() {
        let mut pool = ChunkPool::new();
        let mut dues = Paged::default();
        let mut w = WheelCore::new(0);
        let mut want = Vec::new();
        let mut id = 0;
        // Bursts due in one tick at levels 1 and 2, more than two chunks each: a whole chunk
        // due at its block start (popped by the cascade), whole chunks linked after the
        // partly filled head that the mixed chunks (processed first) left in the target slot.
        for (due, count) in [
            (256u32, 300),
            (300, 600),
            (70_000, 700),
            (69_888, 10),
            (300, 1),
        ] {
            for _ in 0..count {
                w.schedule(&mut pool, &mut dues, id, due);
                want.push((due, id));
                id += 1;
            }
        }
        let mut got = Vec::new();
        w.advance(&mut pool, &mut dues, 256, &mut |id, due| {
            got.push((due, id))
        });
        assert_eq!(got.len(), 300);
        w.advance(&mut pool, &mut dues, 69_887, &mut |id, due| {
            got.push((due, id))
        });
        assert_eq!(got.len(), 901);
        w.advance(&mut pool, &mut dues, 80_000, &mut |id, due| {
            got.push((due, id))
        });
        // Level-2 chunks whose dues differ but share the level-1 byte (moved whole), and whose
        // level-1 byte is zero (spread over level 0 and popped at the block start).
        for base in [0x3_4500u32, 0x3_0000] {
            for k in 0..600u32 {
                w.schedule(&mut pool, &mut dues, id, base + k % 200);
                want.push((base + k % 200, id));
                id += 1;
            }
        }
        for k in 0..600u32 {
            w.schedule(&mut pool, &mut dues, id, 0x4_2200 + k % 3);
            want.push((0x4_2200 + k % 3, id));
            id += 1;
        }
        w.advance(&mut pool, &mut dues, 0x5_0000, &mut |id, due| {
            got.push((due, id))
        });
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(w.len(), 0);
        assert_eq!(w.entries(), 0);
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn staged_cascades_pop_every_entry_at_its_tick() {
        let mut pool = ChunkPool::new();
        let mut dues = Paged::default();
        let mut w = WheelCore::new(0);
        // Many entries over a few hundred due ticks at levels 1 to 3, including block starts
        // (popped by a cascade) and ticks whose lower bytes are zero (filed two levels down).
        let mut x = 0x2545_f491_u32;
        let mut want: Vec<(u32, u32)> = Vec::new();
        for id in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let due = match id % 5 {
                0 => 256 + x % 512,
                1 => 65_536 + (x % 300) * 7,
                2 => (1 << 24) + (x % 3) * 256 + x % 2,
                3 => 70_000 + (x % 40) * 256,
                _ => 300 + x % 40,
            };
            w.schedule(&mut pool, &mut dues, id, due);
            want.push((due, id));
        }
        want.sort_unstable();
        let mut ticks: Vec<u32> = want.iter().map(|&(d, _)| d).collect();
        ticks.dedup();
        let mut got = Vec::new();
        for d in ticks {
            w.advance(&mut pool, &mut dues, d - 1, &mut |id, due| {
                got.push((due, id))
            });
            assert!(got.is_empty(), "early before {d}: {got:?}");
            w.advance(&mut pool, &mut dues, d, &mut |id, due| got.push((due, id)));
            got.sort_unstable();
            let n = want.partition_point(|&(due, _)| due <= d);
            assert_eq!(got, want[..n], "at {d}");
            want.drain(..n);
            got.clear();
        }
        assert!(want.is_empty());
        assert_eq!((w.len(), w.entries(), pool.in_use()), (0, 0, 0));
    }

    #[test]
    fn compaction_keeps_live_entries_once() {
        let mut pool = ChunkPool::new();
        let mut dues = Paged::default();
        let mut w = WheelCore::new(0);
        // 1200 ids in one level-1 slot, then cancel most of them.
        for id in 0..1200 {
            w.schedule(&mut pool, &mut dues, id, 300);
        }
        // Reschedule id 0 away and back: two matching copies in the slot.
        w.schedule(&mut pool, &mut dues, 0, 400);
        w.schedule(&mut pool, &mut dues, 0, 300);
        for id in 1..1000 {
            w.cancel(&mut pool, &mut dues, id);
        }
        assert!(w.entries() < 450, "compacted: {}", w.entries());
        let mut got = Vec::new();
        w.advance(&mut pool, &mut dues, 1000, &mut |id, _| got.push(id));
        got.sort_unstable();
        let mut want: Vec<u32> = std::iter::once(0).chain(1000..1200).collect();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(w.len(), 0);
        assert_eq!(pool.in_use(), 0);
    }
}
