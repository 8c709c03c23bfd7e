//! A scrape yields chunks of at least the requested size (except the last) and at most that plus
//! one series, and their concatenation does not depend on the chunk size.

use kumo_metrics::{Format, Registry, ScrapeOptions};

kumo_metrics::label_set! { struct Queue { queue } }

#[test]
fn chunk_sizes_are_bounded_and_output_is_the_same() {
    let r = Registry::new();
    let f = r
        .family("depth", "queue depth")
        .gauge::<Queue<'static>>()
        .unwrap();
    for i in 0..5000 {
        f.get_or_create(&Queue {
            queue: &format!("q{i}.example.com"),
        })
        .set(i);
    }
    for format in [Format::Text, Format::OpenMetrics, Format::Json] {
        let whole: Vec<u8> = r
            .scrape(&ScrapeOptions::new(format).chunk_size(1 << 30))
            .flatten()
            .collect();
        for size in [1, 100, 4096, 65536] {
            let chunks: Vec<_> = r
                .scrape(&ScrapeOptions::new(format).chunk_size(size))
                .collect();
            let (last, rest) = chunks.split_last().unwrap();
            assert!(!last.is_empty());
            for c in rest {
                assert!(c.len() >= size, "{format:?}: chunk of {} < {size}", c.len());
                assert!(
                    c.len() < size + 200,
                    "{format:?}: chunk of {} for {size}",
                    c.len()
                );
            }
            assert_eq!(chunks.concat(), whole, "{format:?} with {size}");
        }
    }
}
