//! At scale (behind `KUMO_BIG_TESTS=1`): 1M series with three labels written as text and JSON,
//! read back by the streaming parser in 64 KiB chunks and by `parse_json`, every value checked.

use kumo_metrics::{Item, Parser, Registry, ScrapeOptions, parse_json};

kumo_metrics::label_set! { struct Q { queue, provider, pool } }

#[test]
fn a_million_series_round_trip() {
    if std::env::var_os("KUMO_BIG_TESTS").is_none() {
        return;
    }
    const N: usize = 1_000_000;
    let r = Registry::new();
    let f = r
        .family("queued_total", "queued")
        .counter::<Q<'static>>()
        .unwrap();
    for i in 0..N {
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
            let q = s.labels.get("queue").unwrap();
            let i: usize = q
                .rsplit_once("@domain-")
                .unwrap()
                .1
                .split('.')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(s.value, i as f64);
        }
    };
    let mut p = Parser::new();
    for chunk in r.scrape(&ScrapeOptions::text()) {
        for piece in chunk.chunks(64 * 1024) {
            p.push(piece, &mut sink).unwrap();
        }
    }
    p.finish(&mut sink).unwrap();
    assert_eq!(seen, N);
    assert_eq!(sum, (N * (N - 1) / 2) as f64);

    let json: Vec<u8> = r.scrape(&ScrapeOptions::json()).flatten().collect();
    let fams = parse_json(&json).unwrap();
    assert_eq!(fams[0].series.len(), N);
}
