//! A counting global allocator for memory figures.
//!
//! Install it in a binary with
//! `#[global_allocator] static A: CountingAlloc = CountingAlloc::new();` and read
//! [`CountingAlloc::snapshot`] before and after building a structure. It counts live bytes (what
//! was requested, not what the system allocator rounds up to) and the peak of live bytes since the
//! last [`CountingAlloc::reset_peak`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A global allocator that forwards to [`System`] and counts live and peak bytes.
#[derive(Debug)]
pub struct CountingAlloc {
    live: AtomicI64,
    peak: AtomicI64,
    allocations: AtomicU64,
}

/// The counters of a [`CountingAlloc`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocSnapshot {
    /// Bytes currently allocated.
    pub live: i64,
    /// The largest value of `live` since the last [`CountingAlloc::reset_peak`].
    pub peak: i64,
    /// How many allocations (including reallocations) were made since start.
    pub allocations: u64,
}

impl CountingAlloc {
    /// A new allocator with all counters at zero.
    pub const fn new() -> Self {
        Self {
            live: AtomicI64::new(0),
            peak: AtomicI64::new(0),
            allocations: AtomicU64::new(0),
        }
    }

    /// The current counters.
    pub fn snapshot(&self) -> AllocSnapshot {
        AllocSnapshot {
            live: self.live.load(Ordering::Relaxed),
            peak: self.peak.load(Ordering::Relaxed),
            allocations: self.allocations.load(Ordering::Relaxed),
        }
    }

    /// Sets the peak to the current live bytes, so that a later snapshot's `peak - live_before`
    /// is the extra memory a phase needed at its worst.
    pub fn reset_peak(&self) {
        self.peak
            .store(self.live.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    fn add(&self, bytes: usize) {
        self.allocations.fetch_add(1, Ordering::Relaxed);
        let now = self.live.fetch_add(bytes as i64, Ordering::Relaxed) + bytes as i64;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn sub(&self, bytes: usize) {
        self.live.fetch_sub(bytes as i64, Ordering::Relaxed);
    }
}

impl Default for CountingAlloc {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, and only
// updates atomic counters besides; the allocation contract is `System`'s.
#[allow(
    unsafe_code,
    reason = "a GlobalAlloc implementation is unsafe by definition"
)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            self.add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            self.add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        self.sub(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.sub(layout.size());
            self.add(new_size);
        }
        p
    }
}
