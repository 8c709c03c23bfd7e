//! A durable mail spool: time-ordered ids, data and metadata per message, group commit,
//! streaming enumeration at startup, quarantine of torn entries.
#![forbid(unsafe_code)] // nothing here needs it: the file system and redb do the unsafe work
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! An MTA's first promise is that a message it has acknowledged is never lost. This crate is
//! where the message lives between the acknowledgement and its end (delivered, bounced,
//! expired): the host stores it before it answers `250` or `200`, updates its metadata after
//! each attempt, removes it at the end, and after a crash or a restart enumerates the spool to
//! put every message back in its queues.
//!
//! # What it guarantees
//!
//! * **Durable means durable.** A [`Spool::store`] with [`Durability::Sync`] (the default)
//!   returns only once data and metadata are on stable storage (a sync of the file system or
//!   the database, and of the directories the files were renamed into). A store that returns
//!   an error stored nothing that will come back.
//! * **Group commit.** Concurrent stores share one sync: the first writer to find no commit
//!   running commits everything waiting, the others gather behind it. Throughput grows with
//!   the number of writers instead of being capped at one sync per message.
//! * **Metadata without the data.** [`Spool::update_meta`] rewrites the envelope, queue,
//!   attempts and due time, and the host's own bytes, never the (large, written-once) data.
//! * **Startup streams.** [`Spool::enumerate`] hands every live entry's metadata to a callback
//!   as it reads it, so a restart with millions of messages holds one entry at a time.
//! * **Damage is contained.** A torn or corrupt entry (truncated file, bad checksum, stray
//!   file) is moved to quarantine and counted, never a panic, and never stops the other
//!   entries from loading. Every decoder takes untrusted bytes.
//! * **One owner.** A spool directory is locked by the process that opened it; a second
//!   [`Spool::open`] gets [`SpoolError::Locked`].
//!
//! # Primary types
//!
//! * [`Spool`]: open, store, update, load, remove, enumerate; [`BackendKind`] picks where
//!   entries live.
//! * [`SpoolId`] / [`SpoolIdGenerator`]: 128-bit ids ordered by creation time.
//! * [`Metadata`]: the updatable part of an entry, with its checksummed encoding.
//! * [`Durability`]: `Sync` (on stable storage before returning) or `Buffered`.
//! * [`SpoolError`], [`CorruptEntry`], [`DecodeError`], [`ParseIdError`]: what went wrong.
//! * [`SpoolStats`], [`EnumerateReport`]: counts for metrics.
//!
//! # Backends
//!
//! | [`BackendKind`] | layout | a group commit is |
//! |---|---|---|
//! | `Database` (default) | one redb file, `spool.redb` | one write transaction |
//! | `Files` | `data/<id>`, `meta/<id>`, like KumoMTA's local-disk spool | temp files, one `syncfs`, renames, two directory syncs |
//!
//! The crate's README has the measurements behind the default.
//!
//! # Example
//!
//! ```
//! use kumo_spool::{Durability, Metadata, Spool};
//! use std::ops::ControlFlow;
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//!
//! let dir = tempfile::tempdir()?;
//! let spool = Arc::new(Spool::open(dir.path())?);
//!
//! // Many writers at once share syncs.
//! let writers: Vec<_> = (0..8).map(|i| {
//!     let spool = spool.clone();
//!     std::thread::spawn(move || {
//!         let id = spool.new_id(SystemTime::now());
//!         let meta = Metadata {
//!             sender: "news@example.com".into(),
//!             recipients: vec![format!("user{i}@example.net")],
//!             queue: "example.net".into(),
//!             ..Metadata::default()
//!         };
//!         spool.store(id, format!("Subject: {i}\r\n\r\nhello\r\n"), &meta, Durability::Sync)
//!             .map(|()| id)
//!     })
//! }).collect();
//! let mut ids = Vec::new();
//! for w in writers {
//!     ids.push(w.join().expect("writer")?);
//! }
//!
//! // A temporary failure: one more attempt, due in ten minutes. The data is not rewritten.
//! let mut meta = spool.load_meta(ids[0])?;
//! meta.attempts += 1;
//! meta.due = Some(SystemTime::now() + Duration::from_secs(600));
//! spool.update_meta(ids[0], &meta, Durability::Sync)?;
//!
//! // Restart: a second open of the same directory is refused while the first is open.
//! assert!(kumo_spool::Spool::open(dir.path()).is_err());
//! drop(spool);
//! let spool = Spool::open(dir.path())?;
//! let mut retried = 0;
//! let report = spool.enumerate(|_id, meta| {
//!     retried += u32::from(meta.attempts > 0);
//!     ControlFlow::Continue(())
//! })?;
//! assert_eq!((report.entries, report.quarantined, retried), (8, 0, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! None: both backends are always built, so switching is a setting, not a rebuild.
//!
//! # Should I use this crate?
//!
//! Use it when your MTA (or any store-and-forward service) must not lose what it
//! acknowledged and must come back quickly after a restart with many queued messages. It
//! stores bytes and an envelope; queues, retries and delivery are yours (kumo-queue and
//! kumo-smtp are separate crates). KumoMTA's `deferred_spool` is a choice of the host: do not
//! call [`Spool::store`] until the first transient failure.

mod backend;
mod db;
mod durability;
mod error;
mod file;
mod group;
mod id;
mod lock;
mod meta;
mod spool;
mod stats;

pub use durability::Durability;
pub use error::{CorruptEntry, SpoolError};
pub use id::{ParseIdError, SpoolId, SpoolIdGenerator};
pub use meta::{DecodeError, Metadata};
pub use spool::{BackendKind, EnumerateReport, Spool};
pub use stats::SpoolStats;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
