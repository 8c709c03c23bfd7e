//! Admission control: what the engine holds in memory, and the answers that refuse new mail
//! beyond the `[admission]` limits (HTTP `503` with `Retry-After` through kumo-inject's
//! [`Admission`], SMTP `452 4.3.1` at `MAIL` and `RCPT`), while an accepted
//! `deferred_generation` job waits for room instead.
//!
//! # What "pending" counts
//!
//! One source of truth, [`Held`], kept by the engine at the two places every message passes:
//! [`Engine::accept`](super::engine::Engine) and the spool recovery take a message (the same
//! places the ledger counts it injected), and the engine's `finish` releases it (where the
//! ledger counts it delivered or bounced). In between a message is somewhere in memory: the
//! ready queue, a session task, or the scheduler waiting for its retry (a scheduled message
//! keeps its data in memory, so its bytes stay counted). Its bytes are the length of the data
//! it holds; a message recovered from the spool holds none (its attempt loads the data and
//! drops it again). The copies of a multi-recipient SMTP message share one buffer and each
//! counts it: the count errs on the high side.
//!
//! Messages of a request being generated are not counted until the request's flush hands them
//! to the engine, so the limits are soft: a request admitted just below a limit may take the
//! demo past it by its own size (at most the 2 MiB request body's recipients), as may every
//! request or SMTP transaction admitted at the same moment.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kumo_inject::{Admission, Refusal};

use super::engine::Engine;
use crate::settings::AdmissionConfig;

/// How often a waiting `deferred_generation` job looks for room.
const WAIT_POLL: Duration = Duration::from_millis(20);

/// The messages the engine holds and the bytes of their data.
#[derive(Debug, Default)]
pub(crate) struct Held {
    messages: AtomicU64,
    bytes: AtomicU64,
}

/// The limit that is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// `max_pending_messages`.
    Messages,
    /// `max_pending_bytes`.
    Bytes,
}

/// Which limit `messages` and `bytes` reach, if any.
pub(crate) fn reached(messages: u64, bytes: u64, limits: &AdmissionConfig) -> Option<Limit> {
    if messages >= limits.max_pending_messages {
        Some(Limit::Messages)
    } else if bytes >= limits.max_pending_bytes {
        Some(Limit::Bytes)
    } else {
        None
    }
}

impl Held {
    /// The engine took a message holding `bytes` of data in memory.
    pub(crate) fn take(&self, bytes: usize) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A message the engine took ended (delivered or bounced), with the `bytes` it held.
    pub(crate) fn release(&self, bytes: usize) {
        // Every release follows its take; saturating keeps a bug from wrapping into "full".
        let sub = |n: u64| move |v: u64| Some(v.saturating_sub(n));
        let _ = self
            .messages
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, sub(1));
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, sub(bytes as u64));
    }

    /// Messages held now.
    pub(crate) fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Bytes of message data held now.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The limit reached now, if any.
    pub(crate) fn reached(&self, limits: &AdmissionConfig) -> Option<Limit> {
        reached(self.messages(), self.bytes(), limits)
    }
}

/// kumo-inject's [`Admission`] for the demo: refuses new requests while the demo is stopping
/// or a limit is reached, and makes accepted `deferred_generation` jobs wait for room.
#[derive(Debug)]
pub(crate) struct DemoAdmission {
    engine: Arc<Engine>,
}

impl DemoAdmission {
    pub(crate) fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }
}

impl Admission for DemoAdmission {
    fn check(&self) -> Result<(), Refusal> {
        if self.engine.stopping.load(Ordering::Relaxed) {
            return Err(Refusal::ShuttingDown);
        }
        let cfg = self.engine.config.current();
        match self.engine.held.reached(&cfg.admission) {
            None => Ok(()),
            Some(_) => Err(Refusal::Busy {
                retry_after: Some(Duration::from_secs(cfg.admission.retry_after_secs)),
            }),
        }
    }

    /// Waits (on the job's blocking thread) until both limits leave room; stops the job when
    /// the demo is stopping (the job stays in the spool and resumes at the next start).
    fn wait_for_room(&self) -> bool {
        loop {
            if self.engine.stopping.load(Ordering::Relaxed) {
                return false;
            }
            let cfg = self.engine.config.current();
            if self.engine.held.reached(&cfg.admission).is_none() {
                return true;
            }
            std::thread::sleep(WAIT_POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(messages: u64, bytes: u64) -> AdmissionConfig {
        AdmissionConfig {
            max_pending_messages: messages,
            max_pending_bytes: bytes,
            retry_after_secs: 1,
        }
    }

    #[test]
    fn a_limit_is_reached_at_its_value() {
        let l = limits(3, 100);
        assert_eq!(reached(2, 99, &l), None);
        assert_eq!(reached(3, 0, &l), Some(Limit::Messages));
        assert_eq!(reached(0, 100, &l), Some(Limit::Bytes));
        assert_eq!(reached(5, 500, &l), Some(Limit::Messages));
    }

    #[test]
    fn held_counts_take_and_release_and_never_wraps() {
        let h = Held::default();
        let l = limits(2, 1_000);
        h.take(400);
        assert_eq!((h.messages(), h.bytes()), (1, 400));
        assert_eq!(h.reached(&l), None);
        h.take(700);
        assert_eq!(h.reached(&l), Some(Limit::Messages));
        h.release(700);
        assert_eq!((h.messages(), h.bytes()), (1, 400));
        assert_eq!(h.reached(&limits(10, 400)), Some(Limit::Bytes));
        h.release(400);
        h.release(5);
        assert_eq!((h.messages(), h.bytes()), (0, 0));
    }
}
