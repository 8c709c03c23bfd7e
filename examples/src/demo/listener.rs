//! The ESMTP listener (`--smtp-listen`): kumo-smtp's server session on every accepted
//! connection, traced as a server-side session, with relay control from `[listener]` and the
//! received messages entering the same path as injected ones.
//!
//! A message is split per recipient (the engine carries one recipient per message), each copy
//! gets the same `Received:` header in front of the bytes the client sent, and all copies are
//! written to the spool in one group commit before the final `250`: an SMTP client that heard
//! `250` has its message on disk, as an HTTP client that heard `200`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use bytes::Bytes;
use kumo_smtp::{
    ConnectionLimiter, Handler, Io, MailFrom, ReceivedEnvelope, Reply, ServerConfig, SessionEnd,
    SessionInfo, SessionSummary, rustls,
};
use kumo_trace::{ConnMeta, SessionKey, Side, TracedStream, Tracer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use super::engine::Engine;
use super::message::NewMsg;
use super::sink::queue_of;
use super::spool::unix_ms;

/// Connections at once from all peers (KumoMTA's `max_connections` default).
const MAX_CONNECTIONS: usize = 32_768;
/// Connections at once from one peer address (Postfix's `smtpd_client_connection_count_limit`).
const MAX_PER_PEER: usize = 50;

/// The host side of the demo's SMTP sessions.
pub(crate) struct DemoHandler {
    engine: Arc<Engine>,
    hostname: String,
    /// The listener's address, the label of its metrics.
    listener: String,
}

impl std::fmt::Debug for DemoHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoHandler")
            .field("hostname", &self.hostname)
            .finish_non_exhaustive()
    }
}

impl DemoHandler {
    fn reply(code: u16, enhanced: (u8, u16, u16), text: &str) -> Reply {
        Reply::new(code, Some(enhanced), text)
    }

    /// `452 4.3.1` (RFC 3463: mail system full) while an `[admission]` limit is reached,
    /// counted under `total_smtp_refusals{reason="backpressure"}`.
    fn backpressure(&self) -> Option<Reply> {
        let cfg = self.engine.config.current();
        let limit = self.engine.held.reached(&cfg.admission)?;
        self.engine.metrics.smtp_refusal("backpressure");
        let what = match limit {
            super::admission::Limit::Messages => "too many messages",
            super::admission::Limit::Bytes => "too many bytes",
        };
        Some(Self::reply(
            452,
            (4, 3, 1),
            &format!("{what} pending, try again later"),
        ))
    }

    /// The `Received:` trace header (RFC 5321 §4.4) of a message from `session`.
    fn received_header(&self, session: &SessionInfo, id: &str, now: OffsetDateTime) -> String {
        let helo = session.helo.as_deref().unwrap_or("unknown");
        let protocol = match (session.esmtp, session.tls.is_some()) {
            (true, true) => "ESMTPS",
            (true, false) => "ESMTP",
            (false, true) => "SMTPS",
            (false, false) => "SMTP",
        };
        let date = now
            .format(&Rfc2822)
            .unwrap_or_else(|_| "Thu, 1 Jan 1970 00:00:00 +0000".to_owned());
        format!(
            "Received: from {helo} ({ip})\r\n\tby {host} (kumo demo) with {protocol} id {id};\r\n\t{date}\r\n",
            ip = session.peer.ip(),
            host = self.hostname,
        )
    }
}

impl Handler for DemoHandler {
    /// Refuses the transaction (`452 4.3.1`) while an `[admission]` limit is reached.
    async fn mail_from(&self, _session: &SessionInfo, _mail: &MailFrom) -> Reply {
        if let Some(refused) = self.backpressure() {
            return refused;
        }
        Self::reply(250, (2, 1, 0), "sender ok")
    }

    async fn rcpt_to(&self, session: &SessionInfo, _mail: &MailFrom, recipient: &str) -> Reply {
        if self.engine.stopping.load(Ordering::Relaxed) {
            return Self::reply(421, (4, 3, 2), "shutting down, try again later");
        }
        // A transaction that began below the limits takes no more recipients once one is
        // reached (RFC 5321 §4.5.3.1.10: 452, the client retries them later).
        if let Some(refused) = self.backpressure() {
            return refused;
        }
        let Some(domain) = queue_of(recipient) else {
            self.engine.metrics.smtp_refusal("bad_recipient");
            return Self::reply(501, (5, 1, 3), "bad recipient address");
        };
        if self
            .engine
            .config
            .current()
            .listener
            .may_relay(session.peer.ip(), &domain)
        {
            Self::reply(250, (2, 1, 5), "recipient ok")
        } else {
            self.engine.metrics.smtp_refusal("relay_denied");
            Self::reply(550, (5, 7, 1), "relaying denied")
        }
    }

    async fn message(
        &self,
        session: &SessionInfo,
        envelope: &ReceivedEnvelope,
        data: Vec<u8>,
    ) -> Reply {
        let engine = &self.engine;
        let now = SystemTime::now();
        let first = engine.spool.spool.new_id(now);
        let header = self.received_header(session, &first.to_string(), OffsetDateTime::now_utc());
        let mut bytes = Vec::with_capacity(header.len() + data.len());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&data);
        drop(data);
        let bytes = Bytes::from(bytes);
        let mut msgs = Vec::with_capacity(envelope.recipients.len());
        for (i, rcpt) in envelope.recipients.iter().enumerate() {
            // Recipients were checked at RCPT: each has a queue.
            let Some(queue) = queue_of(rcpt) else {
                continue;
            };
            let spool_id = if i == 0 {
                first
            } else {
                engine.spool.spool.new_id(now)
            };
            msgs.push(NewMsg {
                id: format!("{spool_id}@{}", self.hostname),
                queue: Arc::from(queue),
                sender: envelope.mail_from.address.clone(),
                recipient: rcpt.clone(),
                data: bytes.clone(),
                injected_unix_ms: unix_ms(now),
                spool_id: Some(spool_id),
            });
        }
        let spool = engine.spool.clone();
        let stored = tokio::task::spawn_blocking(move || spool.store_batch(&msgs).map(|()| msgs))
            .await
            .map_err(|_| kumo_spool::SpoolError::Interrupted)
            .and_then(|r| r);
        match stored {
            Ok(msgs) => {
                for m in msgs {
                    engine.accept(m);
                }
                engine.metrics.smtp_received(&self.listener);
                Self::reply(250, (2, 0, 0), &format!("OK queued as {first}"))
            }
            Err(_) => {
                engine.metrics.spool_errors.inc();
                engine.metrics.smtp_refusal("spool_error");
                Self::reply(
                    451,
                    (4, 3, 0),
                    "cannot queue the message now, try again later",
                )
            }
        }
    }

    fn session_ended(&self, summary: &SessionSummary) {
        let m = &self.engine.metrics;
        m.smtp_session(&self.listener);
        let reason = match summary.end {
            SessionEnd::IdleTimeout => "idle_timeout",
            SessionEnd::SessionTimeout => "session_timeout",
            SessionEnd::TooManyErrors => "too_many_errors",
            SessionEnd::TooManyMessages => "too_many_messages",
            SessionEnd::ImproperPipelining => "improper_pipelining",
            _ => return,
        };
        m.smtp_refusal(reason);
    }
}

/// A running listener: its address and its task (serving, and counting refused connections).
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) addr: SocketAddr,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

/// A rustls server configuration with a self-signed certificate for `hostname`, made at start
/// (as a "snakeoil" certificate: STARTTLS encrypts; MX-to-MX senders do not check it).
pub(crate) fn self_signed_tls(hostname: &str) -> std::io::Result<Arc<rustls::ServerConfig>> {
    let made = rcgen::generate_simple_self_signed(vec![hostname.to_owned()])
        .map_err(std::io::Error::other)?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![made.cert.der().clone()], key)
        .map_err(std::io::Error::other)?;
    Ok(Arc::new(config))
}

/// Binds `addr` and serves SMTP into `engine`, each connection a traced server-side session,
/// offering STARTTLS with a certificate made at start.
pub(crate) async fn start(
    engine: &Arc<Engine>,
    addr: SocketAddr,
    hostname: &str,
) -> std::io::Result<Listener> {
    let socket = tokio::net::TcpListener::bind(addr).await?;
    let addr = socket.local_addr()?;
    let config = Arc::new(ServerConfig::new(hostname).tls(self_signed_tls(hostname)?));
    let handler = Arc::new(DemoHandler {
        engine: engine.clone(),
        hostname: hostname.to_owned(),
        listener: addr.to_string(),
    });
    let limiter = ConnectionLimiter::new(MAX_CONNECTIONS, MAX_PER_PEER);
    let hub = engine.trace.clone();
    let wrap = move |io: Io, peer: SocketAddr, local: SocketAddr| {
        let meta = Arc::new(
            ConnMeta::new()
                .with_peer(peer)
                .with_local(local)
                .with_label("listener", local.to_string()),
        );
        let tracer =
            Tracer::new(hub.clone(), Side::Server, SessionKey::server(peer, local)).with_meta(meta);
        TracedStream::new(io, tracer)
    };
    let serving = limiter.clone();
    let metrics = engine.metrics.clone();
    let task = tokio::spawn(async move {
        // Connections refused by the limiter (answered `421 4.3.2` by kumo-smtp) are counted
        // as refusals once a second.
        let counting = async {
            let mut counted = 0;
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let denied = serving.denied();
                if denied > counted {
                    metrics.smtp_refusals_by("too_many_connections", denied - counted);
                    counted = denied;
                }
            }
        };
        let serving = kumo_smtp::serve(socket, config, handler, serving.clone(), wrap);
        tokio::join!(serving, counting);
    });
    Ok(Listener { addr, task })
}
