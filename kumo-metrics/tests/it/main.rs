//! The integration tests of `kumo-metrics`: one binary, one module per behaviour.
//!
//! The writers (text, OpenMetrics, JSON, chunked scrapes), the streaming parser (formats,
//! arbitrary bytes, round trips), registration, weak series, concurrency, the axum router over
//! a real loopback socket (feature `axum`), and an independent check of our output by Python's
//! `prometheus_client` (`tests/conformance/check.py`, needs `KUMO_TEST_PYTHON` under CI).
//! `million_series_round_trip` runs 200k series by default and 1M with `KUMO_BIG_TESTS=1`.
//!
//! `tests/weak_series_free_their_memory.rs` stays a binary of its own: it installs a counting
//! `#[global_allocator]` and measures the bytes live in the whole process, which other tests
//! running in parallel threads would disturb.
//!
//! Proptest keeps its regression seeds in `tests/proptest-regressions/<module>.txt` (its
//! default place for sources below a `main.rs`).

mod axum_serves_over_a_socket;
mod concurrent_handles_and_scrapes;
mod conformance_with_prometheus_client;
mod fuzz_parsers;
mod json_has_the_kumomta_shape;
mod million_series_round_trip;
mod parser_never_panics;
mod parser_reads_the_formats;
mod registration_rejects_bad_names;
mod round_trip_chunked;
mod scrape_chunks_have_the_requested_size;
mod weak_series_vanish_when_dropped;
