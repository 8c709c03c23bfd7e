//! At scale: series with three labels written as text and JSON, read back by the streaming
//! parser in 64 KiB chunks and by `parse_json`, every value checked. 200k series by default (a
//! second or two in the dev profile, so it runs in every `cargo test`), the full 1M with
//! `KUMO_BIG_TESTS=1`.
#![allow(
    clippy::print_stderr,
    reason = "the test says on stderr which size it runs"
)]

use kumo_metrics::{Item, ParsedSeries, Parser, Registry, ScrapeOptions, parse_json};

kumo_metrics::label_set! { struct Q { queue, provider, pool } }

/// The series number `i` in a queue name `...@domain-{i}.example.com`.
fn index_of(queue: &str) -> usize {
    queue
        .rsplit_once("@domain-")
        .unwrap()
        .1
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_million_series_round_trip() {
    let n: usize = if std::env::var_os("KUMO_BIG_TESTS").is_some() {
        1_000_000
    } else {
        eprintln!("million_series_round_trip: 200k series; set KUMO_BIG_TESTS=1 for the full 1M");
        200_000
    };
    let r = Registry::new();
    let f = r
        .family("queued_total", "queued")
        .counter::<Q<'static>>()
        .unwrap();
    for i in 0..n {
        let q = format!("t{}:campaign-{}@domain-{i}.example.com", i % 1000, i % 7919);
        f.get_or_create(&Q {
            queue: &q,
            provider: &format!("p-{}", i % 97),
            pool: "pool",
        })
        .inc_by(i as u64);
    }
    let mut seen = 0usize;
    let mut sum = 0f64;
    let mut sink = |item: Item<'_>| {
        if let Item::Sample(s) = item {
            seen += 1;
            sum += s.value;
            assert_eq!(s.value, index_of(s.labels.get("queue").unwrap()) as f64);
        }
    };
    let mut p = Parser::new();
    for chunk in r.scrape(&ScrapeOptions::text()) {
        for piece in chunk.chunks(64 * 1024) {
            p.push(piece, &mut sink).unwrap();
        }
    }
    p.finish(&mut sink).unwrap();
    assert_eq!(seen, n);
    assert_eq!(sum, (n * (n - 1) / 2) as f64);

    let json: Vec<u8> = r.scrape(&ScrapeOptions::json()).flatten().collect();
    let fams = parse_json(&json).unwrap();
    assert_eq!(fams[0].series.len(), n);
    let mut json_sum = 0f64;
    for s in &fams[0].series {
        let ParsedSeries::Sample { labels, value, .. } = s else {
            panic!("a counter series is a sample: {s:?}");
        };
        let (_, q) = labels.iter().find(|(k, _)| k == "queue").unwrap();
        assert_eq!(*value, index_of(q) as f64);
        json_sum += value;
    }
    assert_eq!(json_sum, (n * (n - 1) / 2) as f64);
}
