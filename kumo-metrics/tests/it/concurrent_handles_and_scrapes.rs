//! Threads creating, updating and dropping weak series while others scrape: every scrape parses,
//! never lists a series twice, and when every handle is gone the family is empty.

use kumo_metrics::{Item, Parser, Registry, ScrapeOptions};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

kumo_metrics::label_set! { struct Queue { queue } }

#[test]
fn weak_series_churn_during_scrapes() {
    let registry = Registry::new();
    let family = registry
        .family("depth", "")
        .weak()
        .gauge::<Queue<'static>>()
        .unwrap();
    let hist = registry
        .family("lat", "")
        .weak()
        .histogram::<Queue<'static>>(&[1.0, 2.0])
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let (family, hist, stop) = (family.clone(), hist.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut held = Vec::new();
                let mut x: u64 = t + 1;
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) || rounds < 2000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let q = format!("q{}\"{}", x % 300, t % 2);
                    let g = family.get_or_create(&Queue { queue: &q });
                    g.inc();
                    hist.get_or_create(&Queue { queue: &q })
                        .observe((x % 4) as f64);
                    if x.is_multiple_of(3) {
                        held.push(g);
                    }
                    if held.len() > 50 {
                        held.drain(..25);
                    }
                    rounds += 1;
                }
            })
        })
        .collect();
    for _ in 0..30 {
        let text: Vec<u8> = registry
            .scrape(&ScrapeOptions::text().chunk_size(512))
            .flatten()
            .collect();
        let mut seen = HashSet::new();
        let mut sink = |item: Item<'_>| {
            if let Item::Sample(s) = item {
                let key = s.labels.get("queue").unwrap().to_owned();
                assert!(seen.insert(key), "a series written twice in one scrape");
            }
            if let Item::Histogram(h) = item {
                let inf = h.buckets.last().unwrap();
                assert_eq!(Some(inf.1), h.count, "+Inf bucket equals _count");
            }
        };
        let mut p = Parser::new();
        p.push(&text, &mut sink).unwrap();
        p.finish(&mut sink).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(
        family.len(),
        0,
        "every handle dropped: every weak series freed"
    );
    assert_eq!(hist.len(), 0);
    let text: Vec<u8> = registry.scrape(&ScrapeOptions::text()).flatten().collect();
    assert_eq!(text, b"# TYPE depth gauge\n# TYPE lat histogram\n");
}
