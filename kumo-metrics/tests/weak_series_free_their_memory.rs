//! Weak series give their memory back: dropping the handles of 20k series frees their keys, and
//! creating 20k others afterwards reuses the freed slots instead of growing the registry.
//!
//! A test binary of its own, outside `tests/it/`: its counting `#[global_allocator]` measures the
//! bytes live in the whole process, which tests running in other threads would disturb.

use kumo_metrics::Registry;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged and only counts bytes.
#[allow(unsafe_code, reason = "a counting GlobalAlloc is unsafe by definition")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

kumo_metrics::label_set! { struct Queue { queue } }

#[test]
fn dropped_weak_series_free_memory_and_slots_are_reused() {
    const N: usize = 20_000;
    let names_a: Vec<String> = (0..N)
        .map(|i| format!("first-{i:06}.example.com"))
        .collect();
    let names_b: Vec<String> = (0..N)
        .map(|i| format!("other-{i:06}.example.com"))
        .collect();
    let registry = Registry::new();
    let family = registry
        .family("ready", "")
        .weak()
        .gauge::<Queue<'static>>()
        .unwrap();

    let before = LIVE.load(Ordering::Relaxed);
    let handles: Vec<_> = names_a
        .iter()
        .map(|q| family.get_or_create(&Queue { queue: q }))
        .collect();
    let with_handles = LIVE.load(Ordering::Relaxed);
    drop(handles);
    let after_drop = LIVE.load(Ordering::Relaxed);
    assert_eq!(family.len(), 0);
    // Each key is 25 bytes (24 of text + a separator): all of them are freed, and the handles'
    // vector (24 bytes a handle) too; the free list of slots keeps up to 8 bytes a slot.
    let freed = with_handles - after_drop;
    assert!(
        freed >= (N * (25 + 24 - 8)) as isize,
        "freed only {freed} bytes"
    );

    let handles: Vec<_> = names_b
        .iter()
        .map(|q| family.get_or_create(&Queue { queue: q }))
        .collect();
    let again = LIVE.load(Ordering::Relaxed);
    // The second generation fits in the first one's slots: no more memory than the first time,
    // except the free list's capacity, which stays allocated.
    assert!(
        again - before <= with_handles - before + (N * 8) as isize,
        "grew from {} to {} bytes",
        with_handles - before,
        again - before
    );
    assert_eq!(family.len(), N);
    drop(handles);
}
