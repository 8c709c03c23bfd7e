//! The integration tests of `kumo-inject`: one binary, one module per behaviour.
//!
//! - message generation: the bad-inputs table, well-formedness properties, and Python's
//!   `email` package as an independent parser (`tests/conformance/check_mail.py`, needs
//!   `KUMO_TEST_PYTHON` under CI);
//! - the `Injector` and deferred generation (feature `tokio`): flush before completion,
//!   durability, resuming without duplicates;
//! - the HTTP API over a real loopback socket (feature `axum`): status codes, flush before the
//!   acknowledgement;
//! - rate limits: the GCRA core, the local limiter, and (feature `redis`) the Redis backend
//!   against the throwaway server of `scripts/test` (`KUMO_TEST_REDIS_URL`) or a private
//!   `redis-server` per test (`KUMO_TEST_REDIS_SERVER`).
//!
//! Modules that need a feature are compiled only with it, so `cargo test -p kumo-inject` runs
//! the rest and `--all-features` runs everything.

// `src/mime/encode.rs` includes `support/qp.rs` too, as the unit tests' decoding oracle.
mod support;

#[cfg(feature = "redis")]
mod ratelimit_support;

mod bad_inputs_table;
#[cfg(feature = "tokio")]
mod batch_time_limit_stops_a_batch;
#[cfg(feature = "axum")]
mod client_disconnect_stops_generation;
#[cfg(feature = "tokio")]
mod deferred_batch_resumes_without_duplicates;
#[cfg(feature = "tokio")]
mod deferred_job_waits_for_flush;
#[cfg(feature = "tokio")]
mod durability_follows_deferred_spool;
#[cfg(feature = "axum")]
mod flush_precedes_acknowledgement;
mod fuzz_inject;
mod generated_mail_parses_in_python;
mod generated_messages_are_well_formed;
mod handlebars_each_semantics_unchanged;
#[cfg(feature = "axum")]
mod handlebars_fuel_stops_nested_each;
#[cfg(feature = "axum")]
mod http_status_codes;
mod ratelimit_gcra_bound;
mod ratelimit_local_modes;
mod ratelimit_redis_batch_too_large;
mod ratelimit_redis_cluster;
mod ratelimit_redis_outage;
mod ratelimit_redis_unreachable_at_start;
