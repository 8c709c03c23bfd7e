//! The demo's [`MessageSink`]: every message kumo-inject generates is spooled (unless the request
//! set `deferred_spool`) and then enters the engine's ready queue.
//!
//! A batch's messages are held as they are generated; [`MessageSink::flush`], called before the
//! client is answered, writes them all to the spool in one group commit (one transaction, one
//! sync) and only then hands them to the engine. So the `200` follows durability, and a batch
//! of 1,000 recipients costs one sync, not 1,000.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use kumo_inject::{
    BatchId, Durability, GeneratedMessage, Injector, MessageSink, RouterConfig, SinkError,
};
use parking_lot::Mutex;

use super::admission::DemoAdmission;
use super::engine::Engine;
use super::jobs::SpoolJobStore;
use super::message::NewMsg;
use super::spool::unix_ms;

/// Hands generated messages to the spool and the engine.
#[derive(Debug)]
pub(crate) struct EngineSink {
    engine: Arc<Engine>,
    /// Messages of batches not yet flushed.
    held: Mutex<HashMap<BatchId, Vec<NewMsg>>>,
}

impl EngineSink {
    pub(crate) fn new(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            held: Mutex::new(HashMap::new()),
        }
    }
}

/// A recipient whose domain cannot be queued.
#[derive(Debug, thiserror::Error)]
#[error("recipient {0:?} has no usable domain")]
struct BadRecipientDomain(String);

/// The queue of a recipient: its domain as a lowercase A-label.
pub(crate) fn queue_of(recipient: &str) -> Option<String> {
    let (_, domain) = recipient.rsplit_once('@')?;
    kumo_dns::normalize_host(domain).ok()
}

impl MessageSink for EngineSink {
    fn accept(&self, message: GeneratedMessage) -> Result<(), SinkError> {
        let Some(queue) = queue_of(&message.recipient) else {
            return Err(SinkError::new(BadRecipientDomain(message.recipient)));
        };
        // A resumed deferred job offers again the one recipient whose record was lost: the
        // same message id, which the spool (or the journal) already holds.
        {
            let known = self.engine.known_ids.lock();
            if !known.is_empty() && known.contains(&super::message::id_key(&message.id)) {
                return Ok(());
            }
        }
        let mut new = NewMsg {
            id: message.id,
            queue: Arc::from(queue),
            sender: message.envelope_sender,
            recipient: message.recipient,
            data: message.data,
            injected_unix_ms: unix_ms(SystemTime::now()),
            spool_id: None,
        };
        if message.durability == Durability::Deferred {
            // `deferred_spool`: nothing is written until the first temporary failure.
            self.engine.accept(new);
            return Ok(());
        }
        new.spool_id = Some(self.engine.spool.spool.new_id(SystemTime::now()));
        self.held
            .lock()
            .entry(message.batch_id)
            .or_default()
            .push(new);
        Ok(())
    }

    fn flush(&self, batch_id: &BatchId) -> Result<(), SinkError> {
        let Some(held) = self.held.lock().remove(batch_id) else {
            return Ok(());
        };
        match self.engine.spool.store_batch(&held) {
            Ok(()) => {
                for m in held {
                    self.engine.accept(m);
                }
                Ok(())
            }
            Err(e) => {
                // Nothing of the batch was stored, so nothing is accepted: the client is told
                // 503 and the messages are dropped.
                self.engine.metrics.spool_errors.inc();
                Err(SinkError::new(e))
            }
        }
    }
}

/// The `POST /api/inject/v1` router of kumo-inject, generating into the engine, with
/// `deferred_generation` jobs kept in the spool (made once the spool has been recovered). New
/// requests are refused (503) once the demo is shutting down, and (503 with `Retry-After`)
/// while an `[admission]` limit is reached; accepted jobs wait for room ([`DemoAdmission`]).
pub(crate) fn inject_routes(
    engine: &Arc<Engine>,
    jobs: Arc<SpoolJobStore>,
) -> Result<(axum::Router, Injector), kumo_inject::NoRuntime> {
    let injector = Injector::builder(EngineSink::new(engine.clone()))
        .job_store(jobs)
        .admission(DemoAdmission::new(engine.clone()))
        .build()?;
    Ok((
        kumo_inject::router(injector.clone(), RouterConfig::default()),
        injector,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_a_labels() {
        assert_eq!(queue_of("a@Example.TEST").as_deref(), Some("example.test"));
        assert_eq!(
            queue_of("a@bücher.test").as_deref(),
            Some("xn--bcher-kva.test")
        );
        assert_eq!(queue_of("no-domain"), None);
        assert_eq!(queue_of("a@"), None);
    }
}
