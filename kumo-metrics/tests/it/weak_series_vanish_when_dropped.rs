//! Weakly owned series: they vanish from the output and free their slot when the last handle
//! is dropped; strong families keep their series; lookups find the existing series.

use kumo_metrics::{Registry, ScrapeOptions};

kumo_metrics::label_set! { struct Queue { queue } }

fn text(r: &Registry) -> String {
    String::from_utf8(r.scrape(&ScrapeOptions::text()).flatten().collect()).unwrap()
}

#[test]
fn weak_series_vanish_and_are_reused() {
    let r = Registry::new();
    let f = r
        .family("ready", "")
        .weak()
        .gauge::<Queue<'static>>()
        .unwrap();
    let a = f.get_or_create(&Queue { queue: "a" });
    let a2 = a.clone();
    let b = f.get_or_create(&Queue { queue: "b" });
    a.set(5);
    b.set(7);
    assert_eq!(f.len(), 2);
    assert!(text(&r).contains("ready{queue=\"a\"} 5\n"));
    drop(a);
    assert!(
        text(&r).contains("ready{queue=\"a\"} 5\n"),
        "a clone still holds it"
    );
    drop(a2);
    assert_eq!(f.len(), 1);
    let t = text(&r);
    assert!(!t.contains("queue=\"a\""), "{t}");
    assert!(t.contains("ready{queue=\"b\"} 7\n"));
    // The freed slot is reused and starts from zero.
    let c = f.get_or_create(&Queue { queue: "c" });
    assert_eq!(c.get(), 0);
    assert_eq!(f.len(), 2);
    // Looking a live series up again gives the same cells.
    assert_eq!(f.get_or_create(&Queue { queue: "b" }).get(), 7);
}

#[test]
fn strong_series_outlive_their_handles() {
    let r = Registry::new();
    let f = r
        .family("sent_total", "")
        .counter::<Queue<'static>>()
        .unwrap();
    f.get_or_create(&Queue { queue: "a" }).inc_by(3);
    assert_eq!(f.len(), 1);
    assert!(text(&r).contains("sent_total{queue=\"a\"} 3\n"));
}

#[test]
fn series_added_and_dropped_during_a_scrape_never_appear_twice() {
    let r = Registry::new();
    let f = r.family("g", "").weak().gauge::<Queue<'static>>().unwrap();
    let names: Vec<String> = (0..3000).map(|i| format!("q{i}")).collect();
    let mut held: Vec<_> = names
        .iter()
        .map(|n| f.get_or_create(&Queue { queue: n }))
        .collect();
    let mut scrape = r.scrape(&ScrapeOptions::text().chunk_size(256));
    let mut out = Vec::new();
    out.extend_from_slice(&scrape.next().unwrap());
    // Drop an early series and re-add it (it may land in a later slot), add new ones.
    held.remove(0);
    held.push(f.get_or_create(&Queue { queue: "q0" }));
    held.push(f.get_or_create(&Queue { queue: "new" }));
    for c in scrape {
        out.extend_from_slice(&c);
    }
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("g{queue=\"q0\"}").count(), 1);
    assert_eq!(text.matches("g{queue=\"q2999\"}").count(), 1);
    kumo_metrics::parse_text(text.as_bytes()).unwrap();
}
