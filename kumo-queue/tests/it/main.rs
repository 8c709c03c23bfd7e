//! The integration tests of `kumo-queue`: one binary, one module per behaviour.
//!
//! The timer wheel and the scheduler on all three strategies: edge cases (due now, the end of
//! the range, stale keys, draining), property tests against a `BTreeMap` oracle, a million
//! queues, and the tokio driver (feature `tokio`). `big_wheel` runs 2M entries by default and
//! its full 10M with `KUMO_BIG_TESTS=1`.
//!
//! Proptest keeps its regression seeds in `tests/proptest-regressions/<module>.txt` (its
//! default place for sources below a `main.rs`).

mod big_wheel;
mod cancel_twice_and_stale_keys;
mod drain_one_queue_keeps_the_others;
mod driver_delivers_and_hands_back;
mod due_now_and_past_are_handed_back;
mod million_queues;
mod range_and_u32_tick_boundary;
mod strategies_match_oracle;
mod wheel_matches_oracle;
