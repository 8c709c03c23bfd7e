//! Config epochs that detect changed files, caches that recompute only when they change, and layered multi-file configuration.
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! An MTA derives per-queue and per-egress-path settings from policy files. Refreshing them on a
//! timer costs one recomputation per queue per period even when nothing changed; with a million
//! queues that is a million loader calls a minute. This crate refreshes only when the files
//! really changed, and does it the same way everywhere:
//!
//! * [`ConfigEpoch`] watches glob patterns. A scan `stat`s the files and hashes only those whose
//!   metadata changed; a real content change, a new, removed or renamed file moves the epoch, a
//!   `touch` does not. Editors' atomic saves and Kubernetes-style symlink swaps are seen. A
//!   background [`EpochWatcher`] polls at an interval, coalesces bursts into one bump and, with
//!   feature `notify`, scans early on filesystem events in the parent directories (the scan stays
//!   the source of truth). [`EpochHandle::bump`] moves the epoch by hand; an
//!   [`EpochSubscriber`] waits for changes (async or blocking).
//! * [`EpochCache`] holds derived values. A hit is one atomic load and one map lookup, without
//!   the clock. When the epoch moved, a value is recomputed on demand by one loader call per key
//!   and epoch (single-flight); a value computed while the epoch moved is never stored as
//!   current; a failed reload keeps serving the last good value and reports the error; capacity
//!   is bounded and old-epoch entries go first. [`RefreshStrategy::Ttl`] exists beside
//!   [`RefreshStrategy::Epoch`], per cache.
//! * [`Layered`] loads several TOML or JSON files in order into one typed value: every section
//!   is optional in each file, each key declares its [`Merge`] policy (replace, deep merge,
//!   shallow merge, append) and whether it honours `replace_base = true`; cross-file rules are
//!   validated once after the merge; errors ([`LayerError`]) name the file and the key path.
//!   Each file or glob is a [`Layer`], required or optional: whether a deleted file may drop out
//!   of the merge is the caller's policy, while a file that exists but cannot be read is always
//!   an error, never "absent". [`LiveConfig`] puts it behind an epoch cache, so that a broken,
//!   unreadable or missing required file keeps the previous configuration in place (reported
//!   by [`LiveConfig::last_error`], counted in [`CacheStats::load_errors`], and logged as a
//!   `tracing` warning; the crate never prints).
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use kumo_config::{ConfigEpoch, EpochCache, Layered, LiveConfig, Merge, MergePolicy, RefreshStrategy};
//! use serde::Deserialize;
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//!
//! #[derive(Debug, Deserialize)]
//! struct Shaping {
//!     #[serde(default)]
//!     default: Params,
//!     #[serde(default)]
//!     domain: BTreeMap<String, Params>,
//! }
//! #[derive(Debug, Default, Clone, Deserialize)]
//! struct Params {
//!     connection_limit: Option<u32>,
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let base = dir.path().join("00-base.toml");
//! let site = dir.path().join("10-site.json");
//! std::fs::write(&base, "[default]\nconnection_limit = 10")?;
//! std::fs::write(&site, r#"{"domain": {"gmail.com": {"connection_limit": 3}}}"#)?;
//!
//! let epoch = ConfigEpoch::builder()
//!     .glob(format!("{}/*", dir.path().display()))
//!     .build()?;
//! let live = Arc::new(LiveConfig::new(
//!     Layered::<Shaping>::new([&base, &site]).policy(MergePolicy::new().replace_base("domain.*")),
//!     epoch.handle(),
//! ));
//! // Per-domain settings, derived from the live configuration and cached per epoch.
//! let per_domain: EpochCache<String, Params, kumo_config::CacheError<kumo_config::LayerError>> =
//!     EpochCache::new(epoch.handle(), RefreshStrategy::Epoch, 1_000_000);
//! let lookup = |d: &str| {
//!     per_domain.get_with(d, |d| {
//!         let cfg = live.get()?;
//!         Ok(cfg.value.domain.get(d).cloned().unwrap_or_else(|| cfg.value.default.clone()))
//!     })
//! };
//! assert_eq!(lookup("gmail.com")?.connection_limit, Some(3));
//! assert_eq!(lookup("example.com")?.connection_limit, Some(10));
//!
//! std::fs::write(&base, "[default]\nconnection_limit = 20")?;
//! epoch.scan(); // or epoch.spawn_watcher(..) in the background
//! assert_eq!(lookup("example.com")?.connection_limit, Some(20));
//! # Ok(()) }
//! ```
//!
//! # Crate features
//!
//! * `notify` (off by default): the [`EpochWatcher`] also watches the parent directories of the
//!   globs and of the matched files with the `notify` crate and scans as soon as something
//!   happens there, so a change is visible within milliseconds instead of one scan interval.
//!   Events only trigger scans; the scan decides.
//!
//! # Should I use this crate?
//!
//! Use it when many derived objects (queues, egress paths, per-domain policies) depend on a few
//! configuration files and should follow them without a per-object timer, and when a broken edit
//! must never take down what was working. If you only need a general-purpose cache with
//! size-based eviction and time-based expiry, `moka` is the richer choice; if you reload one file
//! on SIGHUP, `arc-swap` and a parser are enough.

mod cache;
mod config_epoch;
mod epoch;
mod flight;
mod key_path;
mod layer;
mod layer_error;
mod layered;
mod live;
mod merge;
mod scan;
mod value_de;
mod watcher;

pub use cache::{CacheError, CacheStats, EpochCache, LastError, RefreshStrategy};
pub use config_epoch::{ConfigEpoch, ConfigEpochBuilder, EpochError};
pub use epoch::{EpochHandle, EpochSubscriber};
pub use key_path::{KeyPath, Segment};
pub use layer::Layer;
pub use layer_error::{Invalid, LayerError};
pub use layered::{Format, Layered, Loaded, Source};
pub use live::LiveConfig;
pub use merge::{Merge, MergePolicy, Provenance};
pub use scan::ScanReport;
pub use watcher::{EpochWatcher, WatchOptions};

/// The JSON tree type of [`Loaded::merged`].
pub use serde_json;

// The README's example is compiled and run with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
