//! 1M queues with one message each: interning, counts, per-queue drain and one advance.

use kumo_queue::Scheduler;
use std::time::Duration;

#[test]
fn one_million_queues_with_one_message_each() {
    let n: u32 = 1_000_000;
    let mut s: Scheduler<u32> = Scheduler::new();
    for i in 0..n {
        let q = s
            .queue(&format!(
                "campaign-{}:tenant-{}@domain-{i}.example.com",
                i % 10,
                i % 7
            ))
            .unwrap();
        s.schedule(q, i, Duration::from_secs(60 + u64::from(i % 3600)))
            .unwrap();
    }
    assert_eq!(s.queue_count(), n as usize);
    assert_eq!(s.len(), n as usize);
    let q = s
        .find_queue("campaign-5:tenant-4@domain-12345.example.com")
        .unwrap();
    assert_eq!(s.queue_len(q), 1);
    let drained = s.drain_queue(q).unwrap();
    assert_eq!(drained.len(), 1);
    assert_eq!(drained[0].message, 12_345);
    assert_eq!(s.len(), n as usize - 1);
    // Everything else comes out once, grouped one message per queue.
    let batch = s.advance(Duration::from_secs(3660));
    assert_eq!(batch.len(), n as usize - 1);
    assert_eq!(batch.groups().count(), n as usize - 1);
    assert!(s.is_empty());
    assert!(s.queues().all(|(_, _, len)| len == 0));
}
