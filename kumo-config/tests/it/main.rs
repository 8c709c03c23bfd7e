//! The integration tests of `kumo-config`: one binary, one module per behaviour.
//!
//! - `epoch_*`: which file changes move a `ConfigEpoch` (atomic rename, edit in place, delete
//!   and add, a ConfigMap symlink swap) and which do not (touch), on real files in temporary
//!   directories;
//! - `watcher_*` and `subscriber_*`: the background watcher (polling, and `notify` with the
//!   feature of that name) and the subscribers it wakes;
//! - `cache_*`: `EpochCache` against a model, single flight, last good value on errors, bounds;
//! - `layered_*` and `live_config_*`: layered multi-file configuration, merge properties,
//!   error messages, and `LiveConfig` keeping the last good configuration.
//!
//! Proptest keeps its regression seeds in `tests/proptest-regressions/<module>.txt` (its
//! default place for sources below a `main.rs`).

mod support;

mod cache_idle_makes_no_loader_calls;
mod cache_matches_a_model;
mod cache_serves_last_good_on_error;
mod cache_single_flight;
mod cache_stale_load_is_not_current;
mod cache_stays_bounded_across_epochs;
mod epoch_bumps_on_atomic_rename;
mod epoch_bumps_on_delete_and_add;
mod epoch_bumps_on_edit_in_place;
mod epoch_bumps_on_symlink_swap;
mod epoch_ignores_touch;
mod fuzz_layered;
mod layered_absent_is_not_unreadable;
mod layered_dkim_example;
mod layered_errors_name_file_and_key;
mod layered_glob_picks_up_new_files;
mod layered_merge_properties;
mod layered_shaping_example;
mod live_config_keeps_last_good_on_invalid_file;
mod live_config_keeps_last_good_when_a_file_is_unreadable_or_deleted;
mod subscriber_waits_for_changes;
mod watcher_coalesces_a_burst;
mod watcher_notify_triggers_early_scan;
