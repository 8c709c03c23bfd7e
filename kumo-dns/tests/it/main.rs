//! The integration tests of `kumo-dns`: one binary, one module per behaviour.
//!
//! Most resolve the `.test` zone of [`support`], through the socket-free `ZoneResolver` or
//! (feature `server`) a hickory resolver on `LoopbackDnsServer`, each test with its own server
//! on an ephemeral loopback port; `dnssec_bogus_is_temporary` needs `server` and `dnssec` too.
//! The `plan_*` modules test the connection planner: policies, properties against oracles
//! and shuffle statistics with fixed seeds.
//!
//! Proptest keeps its regression seeds in `tests/proptest-regressions/<module>.txt` (its
//! default place for sources below a `main.rs`).

mod support;

mod address_lookups_run_concurrently;
mod cache_ttl_negative_and_capacity;
mod dnssec_bogus_is_temporary;
mod domain_literals_and_port;
mod failed_host_is_reported;
mod fuzz_zone_text;
mod idn_names_are_a_labels;
mod invalid_names;
mod mx_records_grouped_by_preference;
mod nodata_gives_implicit_mx;
mod null_mx;
mod nxdomain_is_permanent;
mod plan_policies;
mod plan_properties;
mod plan_statistics;
mod single_flight_one_upstream_query;
mod transient_failures_are_temporary;
