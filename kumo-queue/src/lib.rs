//! A compact, clock-free timer wheel and a shared scheduler for millions of delayed messages across millions of queues.
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! An MTA holds its deferred messages (retries, scheduled sends) until they are due, often
//! millions of them over more than a million destination queues. kumo-queue keeps them in one
//! hierarchical timer wheel that costs 8 bytes per entry (the id and its due word), with no task,
//! timer or set per queue.
//!
//! # What it guarantees
//!
//! - **Never early, at most one tick late.** Due times are rounded *up* to the tick (default
//!   1 s); a message is returned by the first advance at or after that, never before its due time.
//! - **Due now is handed back**: a due time at or before `now` returns the item to the caller
//!   (`Err`), so it goes straight to the ready queue instead of waiting a tick.
//! - **Exactly once**: every scheduled item is returned once unless cancelled or rescheduled;
//!   cancel and reschedule are O(1) and allocation-free; `len` is exact; `next_due` is never later
//!   than the true earliest due time.
//! - **Clock-free**: time is a [`Duration`](std::time::Duration) since an epoch the caller
//!   chooses, passed in. Only the optional tokio [`driver`] reads the clock.
//! - **No panics on bad input**: out-of-range ids and due times, stale keys and double cancels
//!   give typed errors or documented no-ops.
//!
//! # Primary types
//!
//! - [`TimerWheel`]: the wheel over caller-supplied `u32` ids (about 8.6 bytes per entry).
//! - [`Scheduler`]: messages across named queues on one [`Strategy`] (the
//!   [`SingletonTimerWheel`] by default); `advance(now)` returns a [`DueBatch`] grouped by queue.
//!   It costs about 20 bytes per message on top of the message itself, queue names included,
//!   and interns up to [`MAX_QUEUES`] (2^24) queues.
//! - [`QueueStrategy`]: choose `SingletonTimerWheel`, `TimerWheel` (per queue) or `SkipList` at
//!   run time; all three behave identically.
//! - [`Slab`]: storage for the caller's message records with generation-checked [`Key`]s.
//! - `driver::Driver` (feature `tokio`): ticks a scheduler on a tokio task and hands due
//!   batches to the host, with a tardiness hook.
//!
//! # Example
//!
//! ```
//! use kumo_queue::Scheduler;
//! use std::time::Duration;
//!
//! let mut scheduler = Scheduler::new(); // 1 s tick, one wheel for all queues
//! let queue = scheduler.queue("campaign-7:tenant-3@example.com")?;
//! scheduler.schedule(queue, "msg-1", Duration::from_secs(20 * 60)).map_err(|r| r.reason)?;
//!
//! // Due now: the message comes straight back for the ready queue.
//! let back = scheduler.schedule(queue, "msg-2", Duration::ZERO).unwrap_err();
//! assert!(back.is_due_now());
//!
//! assert!(scheduler.advance(Duration::from_secs(60)).is_empty());
//! let batch = scheduler.advance(Duration::from_secs(20 * 60));
//! for (queue, due) in batch.groups() {
//!     assert_eq!(scheduler.queue_name(queue), Some("campaign-7:tenant-3@example.com"));
//!     assert_eq!(due[0].message, "msg-1");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! - `tokio` (off by default): the [`driver`] module, a tokio task that ticks a [`Scheduler`],
//!   delivers due batches through a channel or a callback, reports each message's tardiness to
//!   a hook, and hands back what is still scheduled when it shuts down.
//!
//! # Should I use this crate?
//!
//! Use it when you hold many delayed items whose due times are seconds to days away and a
//! one-tick precision is fine: retry schedules, scheduled sends, expiries. For sub-millisecond
//! timers driving I/O, use tokio's own timers. If you need the exact due instant back rather than
//! the tick it was rounded to, keep it in your message.

pub mod batch;
mod core;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod driver;
pub mod error;
mod paged;
mod pool;
mod queues;
pub mod scheduler;
pub mod slab;
pub mod strategy;
mod time;
pub mod wheel;

pub use batch::{Due, DueBatch};
pub use error::{InsertError, KeyError, QueueError, Refused, Rejected, ScheduleError, TickError};
pub use queues::{MAX_QUEUES, QueueId};
pub use scheduler::Scheduler;
pub use slab::{Key, Slab, SlabFull};
pub use strategy::{QueueStrategy, SingletonTimerWheel, SkipList, Strategy, TimerWheelPerQueue};
pub use time::DEFAULT_TICK;
pub use wheel::{TimerWheel, WheelStats};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
