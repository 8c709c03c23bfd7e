//! The demo's [`MessageSink`]: every message kumo-inject generates enters the engine's ready
//! queue and the self-test ledger.

use std::sync::Arc;

use std::sync::atomic::Ordering;

use kumo_inject::{GeneratedMessage, Injector, MessageSink, Refusal, RouterConfig, SinkError};

use super::engine::{Engine, Msg};

/// Hands generated messages to the engine.
#[derive(Debug, Clone)]
pub(crate) struct EngineSink(pub(crate) Arc<Engine>);

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
        let seq = self.0.ledger.injected();
        self.0.accept(Msg {
            seq,
            id: message.id,
            queue: Arc::from(queue),
            sender: message.envelope_sender,
            recipient: message.recipient,
            data: message.data,
            injected_ms: 0,
            failures: 0,
            provider: None,
        });
        Ok(())
    }
}

/// The `POST /api/inject/v1` router of kumo-inject, generating into the engine. New requests
/// are refused (503) once the demo is shutting down.
pub(crate) fn inject_routes(
    engine: &Arc<Engine>,
) -> Result<(axum::Router, Injector), kumo_inject::NoRuntime> {
    let stopping = engine.clone();
    let injector = Injector::builder(EngineSink(engine.clone()))
        .admission(move || {
            if stopping.stopping.load(Ordering::Relaxed) {
                Err(Refusal::ShuttingDown)
            } else {
                Ok(())
            }
        })
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
