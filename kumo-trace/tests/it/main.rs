//! The integration tests of `kumo-trace`: one binary, one module per behaviour.
//!
//! `support` holds the shared session builder; the formatter's golden files stay in
//! `tests/golden/` (found through `CARGO_MANIFEST_DIR`). The traced-stream tests need the
//! `tokio` feature and are compiled only with it. No module touches process-wide state
//! (environment, globals), so they share the process safely.

mod support;

mod cidr_contains_matches_bit_oracle;
mod client_side_filters_on_a_json_stream;
mod filters_combine;
mod formatter_golden;
mod fuzz_parsers;
mod json_lines_from_untrusted_bytes_never_panic;
mod json_lines_round_trip;
mod lagging_subscriber_is_told_what_it_missed;
mod late_joined_session_is_timed_from_its_first_record;
mod metadata_filter_applies_at_the_source;
mod only_new_excludes_sessions_already_open;
mod only_one_follows_the_first_session_until_it_closes;
mod publishing_without_subscribers_builds_nothing;
mod receiving_blocks_polls_and_ends;
mod stalled_subscriber_is_dropped_with_a_final_lag_notice;
mod stuck_subscribers_cost_bounded_memory_and_no_publishing;
mod subscribe_options_from_query_pairs;
mod subscriber_cap_refuses_with_a_typed_error;
mod terse_cuts_multiline_data_at_the_source;
mod traced_stream_over_a_real_socket;
