//! The integration tests of `kumo-spool`: one binary, one module per behaviour. Every behaviour
//! that touches storage runs on both backends ([`BackendKind::Database`] and
//! [`BackendKind::Files`]), on real files in temporary directories.
//!
//! [`BackendKind::Database`]: kumo_spool::BackendKind::Database
//! [`BackendKind::Files`]: kumo_spool::BackendKind::Files

mod support;

mod crash;
mod disk_full;
mod fuzz_metadata;
mod group_commit;
mod ids;
mod lock;
mod million;
mod quarantine;
mod round_trip;
mod untrusted_bytes;
