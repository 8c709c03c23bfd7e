//! Draining one queue (bounce, rebind) returns its messages; the other queues keep theirs.

use kumo_queue::{QueueStrategy, Scheduler};
use std::time::Duration;

#[test]
fn drain_one_queue_keeps_the_others() {
    for strategy in [
        QueueStrategy::singleton_timer_wheel(),
        QueueStrategy::timer_wheel(),
        QueueStrategy::skip_list(),
    ] {
        let name = strategy.name();
        let mut s: Scheduler<u32, QueueStrategy> =
            Scheduler::with_strategy(strategy, Duration::from_secs(1)).unwrap();
        let a = s.queue("a.example").unwrap();
        let b = s.queue("b.example").unwrap();
        for i in 0..100u32 {
            let q = if i % 2 == 0 { a } else { b };
            s.schedule(q, i, Duration::from_secs(10 + u64::from(i)))
                .unwrap();
        }
        let drained = s.drain_queue(a).unwrap();
        let got: Vec<u32> = drained.iter().map(|d| d.message).collect();
        assert_eq!(got, (0..100).step_by(2).collect::<Vec<_>>(), "{name}");
        assert!(drained.iter().all(|d| d.queue == a));
        assert_eq!(s.queue_len(a), 0, "{name}");
        assert_eq!(s.queue_len(b), 50, "{name}");
        assert!(s.drain_queue(a).unwrap().is_empty());
        // b's messages still come out, on time.
        let batch = s.advance(Duration::from_secs(200));
        let got: Vec<u32> = batch.items().iter().map(|d| d.message).collect();
        assert_eq!(got, (1..100).step_by(2).collect::<Vec<_>>(), "{name}");
        assert_eq!(batch.groups().count(), 1);
        assert!(s.is_empty());
    }
}
