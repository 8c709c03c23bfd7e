//! Shared support for kumo's side-by-side benchmarks.
//!
//! The `compare` binary (`cargo run --release -p kumo-benches --bin compare -- AREA [--n N]`) runs
//! each area's workloads once for kumo and for the peer crates, in one process, and prints one JSON
//! object per line (see [`Report`]). Memory figures come from [`CountingAlloc`], a global allocator
//! that the binary installs and that counts live and peak bytes.
//!
//! Each area lives in its own module and exposes `run(&Options, &mut Reporter)`.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod alloc;
#[cfg(feature = "config")]
pub mod config;
#[cfg(feature = "dns")]
pub mod dns;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "inject")]
pub mod inject;
#[cfg(feature = "inject")]
pub mod inject_ratelimit;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "queue")]
pub mod queue;
pub mod report;
#[cfg(feature = "smtp")]
pub mod smtp;
#[cfg(feature = "smtp")]
pub mod smtp_receive;
#[cfg(feature = "smtp")]
pub mod smtp_sink;
#[cfg(feature = "spool")]
pub mod spool;
#[cfg(feature = "tools")]
pub mod tools;
#[cfg(feature = "trace")]
pub mod trace;

pub use alloc::{AllocSnapshot, CountingAlloc};
pub use report::{Better, Options, Report, Reporter, best_of, best_of2};
