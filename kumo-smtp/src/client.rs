//! [`Client`]: walks a connection plan and opens ready sessions.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

use crate::attempt::{Attempt, AttemptResult, ConnectFailed, error_chain};
use crate::config::{ClientConfig, TlsPolicy};
use crate::connection::Connection;
use crate::error::{ConfigError, SessionError};
use crate::io::Io;
use crate::phase::Phase;
use crate::target::Target;
use crate::tls;

/// What every connection of a client shares: the configuration and the TLS connector built
/// from it once.
pub(crate) struct Shared {
    pub(crate) config: ClientConfig,
    pub(crate) tls: Option<TlsConnector>,
}

/// An SMTP client: a configuration and the TLS setup built from it. Cheap to clone (one
/// `Arc`); share one among all deliveries.
///
/// # Examples
///
/// A session against a server made of a script, on a stream already open
/// ([`handshake`](Self::handshake); [`connect`](Self::connect) opens the streams itself):
///
/// ```
/// use kumo_smtp::{Client, ClientConfig, Envelope, Io, Outcome, Target, TlsPolicy};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::new(ClientConfig::default().ehlo_name("mta.example.com").tls(TlsPolicy::Disabled))?;
/// let target = Target::new("mx.example.net", "192.0.2.1:25".parse()?);
///
/// let (ours, mut server) = tokio::io::duplex(4096);
/// tokio::spawn(async move {
///     let mut buf = vec![0u8; 4096];
///     server.write_all(b"220 mx.example.net ESMTP\r\n").await?;
///     for reply in [&b"250-mx.example.net\r\n250 PIPELINING\r\n"[..], b"250 ok\r\n250 ok\r\n354 go\r\n", b"250 queued\r\n"] {
///         server.read(&mut buf).await?;
///         server.write_all(reply).await?;
///     }
///     Ok::<_, std::io::Error>(())
/// });
///
/// let mut conn = client.handshake(&target, Io::new(ours)).await?;
/// assert!(conn.capabilities().pipelining);
/// let delivery = conn.send(&Envelope::new("a@example.com", ["b@example.net"]), b"Subject: hi\r\n\r\nhello\r\n").await;
/// assert_eq!(delivery.outcome, Outcome::Delivered);
/// assert_eq!(delivery.reply.to_string(), "250 queued");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Checks the configuration and builds its TLS setup (rustls on the `ring` provider).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an EHLO name that is empty or has a space or control character, a
    /// `max_reply_line` below 512 (RFC 5321's reply line), a `max_reply_lines` or
    /// `max_messages_per_connection` of 0, or a TLS setup rustls refuses.
    pub fn new(config: ClientConfig) -> Result<Client, ConfigError> {
        let name = &config.ehlo_name;
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::EhloName { name: name.clone() });
        }
        for (what, value, min) in [
            ("max_reply_line", config.max_reply_line, 512),
            ("max_reply_lines", config.max_reply_lines, 1),
            (
                "max_messages_per_connection",
                config.max_messages_per_connection,
                1,
            ),
        ] {
            if value < min {
                return Err(ConfigError::Limit { what, min });
            }
        }
        let tls = tls::connector(&config.tls)?;
        Ok(Client {
            shared: Arc::new(Shared { config, tls }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.shared.config
    }

    /// Walks `targets` in order until one gives a ready session.
    ///
    /// `open(&Target)` returns the stream: the host connects TCP with its own socket options
    /// and wraps it as it likes (for tracing); kumo-smtp applies the connect timeout around
    /// `open`, then reads the greeting, sends `EHLO` (`HELO` when `EHLO` gets a `5xx`),
    /// `STARTTLS` per the [`TlsPolicy`] (and `EHLO` again). A refused or timed-out connection,
    /// a `4xx` or `5xx` greeting (Postfix's `smtp_skip_5xx_greeting`), a refused `EHLO`, a
    /// failed required `STARTTLS`, or any other failure moves on to the next target. With
    /// [`TlsPolicy::Opportunistic`], a target whose TLS handshake fails is opened once more
    /// and used in plaintext.
    ///
    /// Returns the first ready connection with the record of every attempt (the last one
    /// [`AttemptResult::Ready`]).
    ///
    /// # Errors
    ///
    /// [`ConnectFailed`] with every attempt when no target gave a ready session (also for an
    /// empty `targets`).
    pub async fn connect<S, F, Fut>(
        &self,
        targets: &[Target],
        mut open: F,
    ) -> Result<(Connection<S>, Vec<Attempt>), ConnectFailed>
    where
        F: FnMut(&Target) -> Fut,
        Fut: Future<Output = io::Result<S>>,
        S: AsyncRead + AsyncWrite + Unpin + Send + AsMut<Io>,
    {
        let config = &self.shared.config;
        let mut attempts = Vec::with_capacity(targets.len());
        for target in targets {
            let mut allow_tls = true;
            loop {
                let start = Instant::now();
                let record = |result: AttemptResult| Attempt {
                    target: target.clone(),
                    result,
                    elapsed: start.elapsed(),
                };
                let stream = match tokio::time::timeout(config.timeouts.connect, open(target)).await
                {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(%target, error = %e, "connect failed");
                        attempts.push(record(AttemptResult::ConnectFailed(e.to_string())));
                        break;
                    }
                    Err(_) => {
                        tracing::debug!(%target, "connect timed out");
                        attempts.push(record(AttemptResult::Timeout(Phase::Connect)));
                        break;
                    }
                };
                match Connection::open(self.shared.clone(), target.clone(), stream, allow_tls).await
                {
                    Ok(conn) => {
                        tracing::debug!(%target, tls = conn.is_tls(), "session ready");
                        attempts.push(record(AttemptResult::Ready));
                        return Ok((conn, attempts));
                    }
                    Err(e) => {
                        tracing::debug!(%target, error = %error_chain(&e), "attempt failed");
                        let plaintext_retry = allow_tls
                            && matches!(e, SessionError::TlsHandshake { .. })
                            && matches!(config.tls, TlsPolicy::Opportunistic { .. });
                        attempts.push(record(attempt_result(e)));
                        if plaintext_retry {
                            allow_tls = false;
                            continue;
                        }
                        break;
                    }
                }
            }
        }
        Err(ConnectFailed { attempts })
    }

    /// The same as [`connect`](Self::connect) on one stream the host has already opened:
    /// greeting, `EHLO`, `STARTTLS` per the policy. No connect timeout and no walking.
    ///
    /// # Errors
    ///
    /// [`SessionError`] naming the phase that failed: a refused greeting or `EHLO`
    /// ([`SessionError::Rejected`]), TLS required and not possible, a timeout, the connection
    /// lost.
    pub async fn handshake<S>(
        &self,
        target: &Target,
        stream: S,
    ) -> Result<Connection<S>, SessionError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + AsMut<Io>,
    {
        Connection::open(self.shared.clone(), target.clone(), stream, true).await
    }
}

/// How a failed session start is recorded in the walk.
fn attempt_result(e: SessionError) -> AttemptResult {
    match e {
        SessionError::Timeout { phase, .. } => AttemptResult::Timeout(phase),
        SessionError::Rejected {
            phase: Phase::StartTls,
            ..
        }
        | SessionError::TlsNotOffered
        | SessionError::TlsHandshake { .. } => AttemptResult::TlsFailed(error_chain(&e)),
        SessionError::Rejected { reply, .. } => AttemptResult::Refused(reply),
        other => AttemptResult::Failed(other),
    }
}
