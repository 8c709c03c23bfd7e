//! The storage of one metric family: a chunked slab of series with a hash index.
//!
//! # Implementation
//!
//! Series live in slots, grouped in chunks of [`CHUNK`] slots shared through an `Arc`. A slot
//! holds its label values as one boxed byte string (values joined by a separator byte) behind
//! its own small mutex, its value cells (atomics, so updates never lock), its reference count and
//! its birth sequence number. A `hashbrown::HashTable<u32>` maps the hash of the label values to
//! the slot; it, the chunk list and the free list sit under the family's `RwLock`. Every slot has
//! a reference count: each handle holds one, and a family that is not weak holds one more,
//! forever. When the count reaches zero (the last handle of a weak series is dropped) the slot is
//! freed under the write lock: its key is deallocated, its cells zeroed, the slot goes to a free
//! list. A scrape takes the family lock only to clone one chunk's `Arc` (a few nanoseconds per
//! 1024 slots) and reads each key under its slot mutex, so a writer creating a series never waits
//! for a scrape, even when the scraping thread is descheduled mid-batch.

use crate::labels::{LabelSet, encode_key, hash_key, hash_values, key_eq};
use hashbrown::{DefaultHashBuilder, HashTable};
use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Slots per chunk.
pub(crate) const CHUNK: usize = 1024;

/// How many times a writer retries a contended lock before blocking.
///
/// # Implementation
///
/// The locks here are held for nanoseconds (a scrape holds the family lock only to find the next
/// chunk of slots). Blocking at once would park the thread, and parking_lot's eventual fairness
/// then sometimes hands the lock straight to a parked thread that the scheduler has not run yet:
/// on a busy machine the lock stays held by a sleeping thread for milliseconds. Spinning first,
/// and never parking in a scrape, keeps a lock from ever being held by a thread that is not
/// running, except when the holder itself is preempted inside its nanosecond window.
const SPINS: u32 = 1 << 12;

fn spin_read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    for _ in 0..SPINS {
        if let Some(g) = lock.try_read() {
            return g;
        }
        std::hint::spin_loop();
    }
    lock.read()
}

/// The scrape's read lock: spins and yields, never parks, so it is never handed the lock
/// while asleep.
fn scrape_read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    loop {
        for _ in 0..64 {
            if let Some(g) = lock.try_read() {
                return g;
            }
            std::hint::spin_loop();
        }
        std::thread::yield_now();
    }
}

/// The scrape's slot lock, like [`scrape_read`].
fn scrape_lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    loop {
        for _ in 0..64 {
            if let Some(g) = lock.try_lock() {
                return g;
            }
            std::hint::spin_loop();
        }
        std::thread::yield_now();
    }
}

fn spin_write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    for _ in 0..SPINS {
        if let Some(g) = lock.try_write() {
            return g;
        }
        std::hint::spin_loop();
    }
    lock.write()
}

fn spin_lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    for _ in 0..SPINS {
        if let Some(g) = lock.try_lock() {
            return g;
        }
        std::hint::spin_loop();
    }
    lock.lock()
}

/// The type of a metric family, as written in `# TYPE` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum MetricType {
    /// A monotonically increasing count.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations counted in cumulative buckets, with their sum and count.
    Histogram,
    /// Precomputed quantiles with a sum and count (parsed, never registered).
    Summary,
    /// A sample without a declared type (`untyped`, or OpenMetrics `unknown`).
    #[default]
    Untyped,
}

impl MetricType {
    /// The name used in a `# TYPE` line of the text format.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
        }
    }
}

/// How a family's value cells are interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// One cell, a `u64`.
    U64,
    /// One cell, an `i64` in two's complement.
    I64,
    /// One cell, the bits of an `f64`.
    F64,
    /// `bounds + 1` non-cumulative bucket counts (the last is `+Inf`), then the bits of the sum.
    Histogram,
}

/// A slot's encoded label values (`None` when the slot is free), behind its own mutex.
type SlotKey = Mutex<Option<Box<[u8]>>>;

/// [`CHUNK`] slots: their keys, birth sequence numbers, value cells and reference counts.
///
/// Handles share the chunk through an `Arc`, so updating a value never takes a lock. A key sits
/// behind its own tiny mutex: a scrape reads keys slot by slot without holding the family lock,
/// so a writer creating a series never waits for a scrape (see [`FamilyCore::scan`]).
#[derive(Debug)]
pub(crate) struct SlotChunk {
    keys: Box<[SlotKey]>,
    born: Box<[AtomicU32]>,
    pub(crate) cells: Box<[AtomicU64]>,
    refs: Box<[AtomicU32]>,
}

impl SlotChunk {
    fn new(stride: usize) -> Self {
        Self {
            keys: (0..CHUNK).map(|_| Mutex::new(None)).collect(),
            born: (0..CHUNK).map(|_| AtomicU32::new(0)).collect(),
            cells: (0..CHUNK * stride).map(|_| AtomicU64::new(0)).collect(),
            refs: (0..CHUNK).map(|_| AtomicU32::new(0)).collect(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    index: HashTable<u32>,
    chunks: Vec<Arc<SlotChunk>>,
    /// Slots ever used (free ones included).
    len: usize,
    free: Vec<u32>,
    live: usize,
    seq: u32,
}

/// One registered family: its description and its series.
#[derive(Debug)]
pub(crate) struct FamilyCore {
    pub(crate) name: Box<str>,
    pub(crate) help: Box<str>,
    pub(crate) metric_type: MetricType,
    pub(crate) value_kind: ValueKind,
    pub(crate) label_names: &'static [&'static str],
    /// Finite, strictly increasing bucket upper bounds (histograms only).
    pub(crate) bounds: Box<[f64]>,
    pub(crate) stride: usize,
    pub(crate) weak: bool,
    hasher: DefaultHashBuilder,
    state: RwLock<State>,
}

/// Where a scrape of one family has got to.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScanCursor {
    next_slot: usize,
    /// The number of slots when the scrape of this family began.
    end_slot: usize,
    /// The insertion sequence number when the scrape of this family began: series born later are
    /// left out, so a series that is dropped and re-added during a scrape is never written twice.
    start_seq: Option<u32>,
}

/// A counted reference to one series' cells; the common part of every handle.
#[derive(Debug)]
pub(crate) struct SeriesRef {
    core: Arc<FamilyCore>,
    chunk: Arc<SlotChunk>,
    slot: u32,
}

impl SeriesRef {
    #[inline]
    pub(crate) fn cells(&self) -> &[AtomicU64] {
        let off = (self.slot as usize % CHUNK) * self.core.stride;
        &self.chunk.cells[off..off + self.core.stride]
    }

    pub(crate) fn core(&self) -> &FamilyCore {
        &self.core
    }

    fn refs(&self) -> &AtomicU32 {
        &self.chunk.refs[self.slot as usize % CHUNK]
    }
}

impl Clone for SeriesRef {
    fn clone(&self) -> Self {
        self.refs().fetch_add(1, Ordering::Relaxed);
        Self {
            core: self.core.clone(),
            chunk: self.chunk.clone(),
            slot: self.slot,
        }
    }
}

impl Drop for SeriesRef {
    fn drop(&mut self) {
        if self.refs().fetch_sub(1, Ordering::AcqRel) == 1 {
            self.core.release(self.slot);
        }
    }
}

impl FamilyCore {
    #[allow(
        clippy::too_many_arguments,
        reason = "a private constructor of plain fields"
    )]
    pub(crate) fn new(
        name: String,
        help: String,
        metric_type: MetricType,
        value_kind: ValueKind,
        label_names: &'static [&'static str],
        bounds: Box<[f64]>,
        weak: bool,
    ) -> Self {
        let stride = match value_kind {
            ValueKind::Histogram => bounds.len() + 2,
            _ => 1,
        };
        Self {
            name: name.into_boxed_str(),
            help: help.into_boxed_str(),
            metric_type,
            value_kind,
            label_names,
            bounds,
            stride,
            weak,
            hasher: DefaultHashBuilder::default(),
            state: RwLock::new(State::default()),
        }
    }

    /// The series with these label values, created if missing. Takes the read lock only when
    /// the series exists; allocates only when it creates one.
    pub(crate) fn get_or_create<L: LabelSet>(
        self: &Arc<Self>,
        values: &L::Values<'_>,
    ) -> SeriesRef {
        let hash = hash_values::<L>(&self.hasher, values);
        {
            let st = spin_read(&self.state);
            if let Some(r) = self.find::<L>(&st, hash, values) {
                return r;
            }
        }
        let mut st = spin_write(&self.state);
        if let Some(r) = self.find::<L>(&st, hash, values) {
            return r;
        }
        let key = encode_key::<L>(values);
        let slot = match st.free.pop() {
            Some(s) => s as usize,
            None => {
                let s = st.len;
                if s.is_multiple_of(CHUNK) {
                    st.chunks.push(Arc::new(SlotChunk::new(self.stride)));
                }
                st.len += 1;
                s
            }
        };
        let seq = st.seq;
        st.seq = st.seq.wrapping_add(1);
        st.live += 1;
        let chunk = st.chunks[slot / CHUNK].clone();
        let i = slot % CHUNK;
        chunk.born[i].store(seq, Ordering::Relaxed);
        // The handle's reference, plus the family's own for series that are not weak.
        chunk.refs[i].store(1 + u32::from(!self.weak), Ordering::Release);
        // Publishing the key (mutex release) makes `born` and `refs` visible to a scrape.
        *spin_lock(&chunk.keys[i]) = Some(key);
        let State { index, chunks, .. } = &mut *st;
        index.insert_unique(hash, slot as u32, |&s| {
            let s = s as usize;
            hash_key(
                &self.hasher,
                spin_lock(&chunks[s / CHUNK].keys[s % CHUNK])
                    .as_deref()
                    .unwrap_or_default(),
            )
        });
        SeriesRef {
            core: self.clone(),
            chunk,
            slot: slot as u32,
        }
    }

    fn find<L: LabelSet>(
        self: &Arc<Self>,
        st: &State,
        hash: u64,
        values: &L::Values<'_>,
    ) -> Option<SeriesRef> {
        let &slot = st.index.find(hash, |&s| {
            let s = s as usize;
            spin_lock(&st.chunks[s / CHUNK].keys[s % CHUNK])
                .as_deref()
                .is_some_and(|k| key_eq::<L>(k, values))
        })?;
        let chunk = st.chunks[slot as usize / CHUNK].clone();
        chunk.refs[slot as usize % CHUNK].fetch_add(1, Ordering::AcqRel);
        Some(SeriesRef {
            core: self.clone(),
            chunk,
            slot,
        })
    }

    /// Frees a slot whose reference count reached zero, unless a lookup revived it meanwhile.
    fn release(&self, slot: u32) {
        let mut st = spin_write(&self.state);
        let s = slot as usize;
        let chunk = st.chunks[s / CHUNK].clone();
        let i = s % CHUNK;
        if chunk.refs[i].load(Ordering::Acquire) != 0 {
            return;
        }
        let Some(key): Option<Box<[u8]>> = spin_lock(&chunk.keys[i]).take() else {
            return;
        };
        let hash = hash_key(&self.hasher, &key);
        if let Ok(entry) = st.index.find_entry(hash, |&x| x == slot) {
            entry.remove();
        }
        let off = i * self.stride;
        for c in &chunk.cells[off..off + self.stride] {
            c.store(0, Ordering::Relaxed);
        }
        st.free.push(slot);
        st.live -= 1;
    }

    /// The number of live series.
    pub(crate) fn live(&self) -> usize {
        self.state.read().live
    }

    /// Calls `emit(key, cells)` for live series from the cursor on, until `emit` returns
    /// `false` or the end of a chunk of slots. Returns `true` when the family is finished.
    ///
    /// The family lock is held only to clone the chunk's `Arc` (nanoseconds); each key is read
    /// under its own slot mutex, so writers creating series never wait for a scrape, whatever
    /// the scheduler does to the scraping thread.
    pub(crate) fn scan(
        &self,
        cursor: &mut ScanCursor,
        mut emit: impl FnMut(&[u8], &[AtomicU64]) -> bool,
    ) -> bool {
        let (chunk, start) = {
            let st = scrape_read(&self.state);
            if cursor.start_seq.is_none() {
                cursor.start_seq = Some(st.seq);
                cursor.end_slot = st.len;
            }
            if cursor.next_slot >= cursor.end_slot {
                return true;
            }
            (
                st.chunks[cursor.next_slot / CHUNK].clone(),
                cursor.start_seq.unwrap_or_default(),
            )
        };
        let base = cursor.next_slot - cursor.next_slot % CHUNK;
        let end = (cursor.end_slot - base).min(CHUNK);
        let mut i = cursor.next_slot - base;
        while i < end {
            let s = i;
            i += 1;
            if chunk.refs[s].load(Ordering::Relaxed) == 0 {
                continue;
            }
            let key = scrape_lock(&chunk.keys[s]);
            let Some(key) = key.as_deref() else {
                continue;
            };
            if start.wrapping_sub(chunk.born[s].load(Ordering::Relaxed)) as i32 <= 0 {
                continue;
            }
            let off = s * self.stride;
            if !emit(key, &chunk.cells[off..off + self.stride]) {
                break;
            }
        }
        cursor.next_slot = base + i;
        cursor.next_slot >= cursor.end_slot
    }
}
