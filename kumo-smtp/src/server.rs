//! [`serve_session`]: one ESMTP server session, from the greeting to the close.
//!
//! # Implementation
//!
//! A loop over complete command lines from the bounded input buffer ([`Inbound`]). Replies
//! are collected and written when the buffer holds no further complete line, so a pipelined
//! batch (RFC 2920) is answered in one write. `DATA` and `STARTTLS` must end a batch: bytes
//! already buffered behind either are an improper pipelining attempt, answered `554 5.5.0`,
//! and the connection is closed (they are never read as message data or as TLS records).
//! Message data goes through the [`DataDecoder`]; the host's `message` callback is awaited
//! before the reply to the final dot is written.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use smtp_proto::Request;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::data_decoder::{DataDecoder, DataFault};
use crate::handler::{Body, Handler, MailFrom, ReceivedEnvelope, SessionInfo};
use crate::inbound::{Inbound, Line};
use crate::io::Io;
use crate::reply::Reply;
use crate::server_config::ServerConfig;
use crate::summary::{SessionEnd, SessionSummary};

/// Pending replies are written once they reach this size, batch or not (10,000 pipelined
/// `RCPT`s must not collect 10,000 replies).
const FLUSH_AT: usize = 16 * 1024;

/// How long the last words (a `421`, the shutdown) may take on a session that ends.
const CLOSING_WRITE: Duration = Duration::from_secs(5);

/// Serves one SMTP session on an accepted connection, until `QUIT`, the client's close, or a
/// limit; the host awaits it in a task per connection.
///
/// `stream` is the connection, an [`Io`] or a host's layer around one (kumo-trace's
/// `TracedStream<Io>`): `STARTTLS` switches the `Io` to TLS in place through `as_mut()`, so
/// the layer above keeps seeing plaintext. `peer` and `local` are the connection's
/// addresses, passed on to the [`Handler`] in [`SessionInfo`].
///
/// What is refused, and each limit's answer, is in the [crate docs](crate#receiving-mail).
/// Never panics on the client's bytes; every read has a timeout; memory is bounded by the
/// configuration's limits.
///
/// # Examples
///
/// A session over an in-memory stream, with a client written as a script:
///
/// ```
/// use kumo_smtp::{serve_session, Handler, Io, MailFrom, ReceivedEnvelope, Reply, ServerConfig, SessionEnd, SessionInfo};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// struct Accept;
/// impl Handler for Accept {
///     async fn rcpt_to(&self, _: &SessionInfo, _: &MailFrom, _: &str) -> Reply {
///         Reply::new(250, Some((2, 1, 5)), "ok")
///     }
///     async fn message(&self, _: &SessionInfo, _: &ReceivedEnvelope, data: Vec<u8>) -> Reply {
///         assert_eq!(data, b"Subject: hi\r\n\r\n.hello\r\n");
///         Reply::new(250, Some((2, 0, 0)), "queued")
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (server_end, mut client) = tokio::io::duplex(64 * 1024);
/// let config = ServerConfig::new("mx.example.com");
/// let addr = "192.0.2.1:25".parse()?;
/// let session = tokio::spawn(async move {
///     serve_session(&config, &Accept, Io::new(server_end), addr, addr).await
/// });
/// client.write_all(b"EHLO client.example.net\r\n\
///     MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n").await?;
/// # let mut seen = Vec::new();
/// # let mut buf = [0u8; 4096];
/// # while !seen.ends_with(b"354 Start mail input; end with <CRLF>.<CRLF>\r\n") {
/// #     let n = client.read(&mut buf).await?;
/// #     seen.extend_from_slice(&buf[..n]);
/// # }
/// client.write_all(b"Subject: hi\r\n\r\n..hello\r\n.\r\nQUIT\r\n").await?;
/// let mut replies = String::new();
/// client.read_to_string(&mut replies).await?;
/// assert!(replies.starts_with("250 2.0.0 queued\r\n221 "));
/// let summary = session.await?;
/// assert_eq!((summary.messages_accepted, summary.end), (1, SessionEnd::Quit));
/// # Ok(())
/// # }
/// ```
pub async fn serve_session<S, H>(
    config: &ServerConfig,
    handler: &H,
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
) -> SessionSummary
where
    S: AsyncRead + AsyncWrite + Unpin + Send + AsMut<Io>,
    H: Handler,
{
    let started = Instant::now();
    let mut session = Session {
        config,
        handler,
        stream,
        inbound: Inbound::new(),
        out: Vec::new(),
        info: SessionInfo {
            peer,
            local,
            helo: None,
            esmtp: false,
            tls: None,
            messages_accepted: 0,
        },
        deadline: started + config.session_timeout,
        transaction: None,
        messages_started: 0,
        messages_refused: 0,
        errors: 0,
    };
    tracing::debug!(%peer, %local, "smtp session started");
    let end = match session.run().await {
        Ok(never) => match never {},
        Err(end) => end,
    };
    session.close().await;
    let summary = SessionSummary {
        peer,
        messages_accepted: session.info.messages_accepted,
        messages_refused: session.messages_refused,
        errors: session.errors,
        tls: session.info.tls.is_some(),
        duration: started.elapsed(),
        end,
    };
    tracing::debug!(
        %peer,
        accepted = summary.messages_accepted,
        refused = summary.messages_refused,
        errors = summary.errors,
        end = %summary.end,
        "smtp session ended"
    );
    handler.session_ended(&summary);
    summary
}

/// The current transaction: from an accepted `MAIL` to the end of its message or `RSET`.
struct Transaction {
    mail: MailFrom,
    recipients: Vec<String>,
}

struct Session<'a, S, H> {
    config: &'a ServerConfig,
    handler: &'a H,
    stream: S,
    inbound: Inbound,
    /// Replies not yet written.
    out: Vec<u8>,
    info: SessionInfo,
    deadline: Instant,
    transaction: Option<Transaction>,
    messages_started: usize,
    messages_refused: usize,
    errors: usize,
}

fn reply(code: u16, enhanced: (u8, u16, u16), text: &str) -> Reply {
    Reply::new(code, Some(enhanced), text)
}

impl<S, H> Session<'_, S, H>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + AsMut<Io>,
    H: Handler,
{
    async fn run(&mut self) -> Result<Infallible, SessionEnd> {
        if let Err(e) = self.config.validate() {
            tracing::warn!(error = %e, "smtp server configuration is invalid");
            self.push(&reply(421, (4, 3, 5), "service not available"));
            return Err(SessionEnd::InvalidConfig);
        }
        let greeting = format!("{} ESMTP", self.config.hostname);
        self.push(&Reply::new(220, None, greeting));
        // When the wait for the current command line began (trickled bytes don't move it).
        let mut line_deadline: Option<Instant> = None;
        loop {
            match self.inbound.next_line(self.config.max_command_line) {
                Line::Complete(len) => {
                    line_deadline = None;
                    let line = self.inbound.take_line(len);
                    self.command(&line).await?;
                    if self.out.len() >= FLUSH_AT {
                        self.flush().await?;
                    }
                }
                Line::TooLong => {
                    line_deadline = None;
                    let limit = self.config.max_command_line;
                    self.refuse(&reply(
                        500,
                        (5, 5, 2),
                        &format!("line too long (limit {limit} bytes)"),
                    ))?;
                }
                Line::Incomplete => {
                    self.flush().await?;
                    let deadline = *line_deadline
                        .get_or_insert_with(|| Instant::now() + self.config.idle_timeout);
                    self.read_more(deadline).await?;
                }
            }
        }
    }

    /// Handles one complete command line.
    async fn command(&mut self, line: &[u8]) -> Result<(), SessionEnd> {
        if std::str::from_utf8(line).is_err() {
            return self.refuse(&reply(500, (5, 5, 2), "invalid UTF-8 in command"));
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request.into_owned(),
            Err(e) => return self.refuse(&parse_error_reply(&e)),
        };
        tracing::trace!(peer = %self.info.peer, command = request.name(), "smtp command");
        match request {
            Request::Ehlo { host } => {
                self.greeted(host, true);
                let reply = self.ehlo_reply();
                self.push(&reply);
                Ok(())
            }
            Request::Helo { host } => {
                self.greeted(host, false);
                let reply = Reply::new(250, None, self.config.hostname.clone());
                self.push(&reply);
                Ok(())
            }
            Request::Mail { from } => self.mail(from).await,
            Request::Rcpt { to } => self.rcpt(to.address).await,
            Request::Data => self.data().await,
            Request::Rset => {
                self.transaction = None;
                self.push(&reply(250, (2, 0, 0), "ok"));
                Ok(())
            }
            Request::Noop { .. } => {
                self.push(&reply(250, (2, 0, 0), "ok"));
                Ok(())
            }
            Request::Quit => {
                self.push(&reply(221, (2, 0, 0), "bye"));
                Err(SessionEnd::Quit)
            }
            Request::StartTls => self.starttls().await,
            _ => self.refuse(&reply(502, (5, 5, 1), "command not implemented")),
        }
    }

    fn greeted(&mut self, host: String, esmtp: bool) {
        self.transaction = None;
        self.info.helo = Some(host);
        self.info.esmtp = esmtp;
    }

    fn tls_offered(&mut self) -> Option<TlsAcceptor> {
        let tls = self.config.tls.as_ref()?;
        (!self.stream.as_mut().is_tls()).then(|| TlsAcceptor::from(tls.clone()))
    }

    fn ehlo_reply(&mut self) -> Reply {
        let mut text = format!(
            "{}\nPIPELINING\nSIZE {}\n8BITMIME\nSMTPUTF8\nENHANCEDSTATUSCODES",
            self.config.hostname, self.config.max_message_size
        );
        if self.tls_offered().is_some() {
            text.push_str("\nSTARTTLS");
        }
        Reply::new(250, None, text)
    }

    /// `503` unless `EHLO`/`HELO` came first.
    fn need_greeting(&mut self) -> Result<bool, SessionEnd> {
        if self.info.helo.is_some() {
            return Ok(true);
        }
        self.refuse(&reply(503, (5, 5, 1), "send EHLO or HELO first"))?;
        Ok(false)
    }

    async fn mail(&mut self, from: smtp_proto::MailFrom<String>) -> Result<(), SessionEnd> {
        if !self.need_greeting()? {
            return Ok(());
        }
        if self.transaction.is_some() {
            return self.refuse(&reply(503, (5, 5, 1), "nested MAIL command"));
        }
        if self.messages_started >= self.config.max_messages_per_connection {
            self.push(&reply(
                421,
                (4, 7, 0),
                "too many messages on this connection",
            ));
            return Err(SessionEnd::TooManyMessages);
        }
        if from.flags & smtp_proto::MAIL_BODY_BINARYMIME != 0 {
            return self.refuse(&reply(555, (5, 5, 4), "BODY=BINARYMIME not supported"));
        }
        let mail = MailFrom {
            address: from.address,
            size: (from.size > 0).then_some(from.size),
            body: if from.flags & smtp_proto::MAIL_BODY_8BITMIME != 0 {
                Body::EightBitMime
            } else {
                Body::SevenBit
            },
            smtputf8: from.flags & smtp_proto::MAIL_SMTPUTF8 != 0,
        };
        if mail.size.is_some_and(|s| s > self.config.max_message_size) {
            return self.refuse(&reply(
                552,
                (5, 3, 4),
                "message size exceeds fixed maximum message size",
            ));
        }
        if !mail.smtputf8 && !mail.address.is_ascii() {
            return self.refuse(&reply(553, (5, 6, 7), "UTF-8 address needs SMTPUTF8"));
        }
        let answer = self.handler.mail_from(&self.info, &mail).await;
        if answer.is_positive() {
            self.messages_started += 1;
            self.transaction = Some(Transaction {
                mail,
                recipients: Vec::new(),
            });
            self.push(&answer);
            Ok(())
        } else {
            self.refuse(&answer)
        }
    }

    async fn rcpt(&mut self, address: String) -> Result<(), SessionEnd> {
        if !self.need_greeting()? {
            return Ok(());
        }
        let Some(tx) = &self.transaction else {
            return self.refuse(&reply(503, (5, 5, 1), "need MAIL before RCPT"));
        };
        if tx.recipients.len() >= self.config.max_recipients {
            // RFC 5321 §4.5.3.1.10: transient, and not the client's error.
            self.push(&reply(452, (4, 5, 3), "too many recipients"));
            return Ok(());
        }
        if !tx.mail.smtputf8 && !address.is_ascii() {
            return self.refuse(&reply(553, (5, 6, 7), "UTF-8 address needs SMTPUTF8"));
        }
        let answer = self.handler.rcpt_to(&self.info, &tx.mail, &address).await;
        if !answer.is_positive() {
            return self.refuse(&answer);
        }
        if let Some(tx) = &mut self.transaction {
            tx.recipients.push(address);
        }
        self.push(&answer);
        Ok(())
    }

    async fn data(&mut self) -> Result<(), SessionEnd> {
        if !self.need_greeting()? {
            return Ok(());
        }
        match &self.transaction {
            None => return self.refuse(&reply(503, (5, 5, 1), "need MAIL before DATA")),
            Some(tx) if tx.recipients.is_empty() => {
                return self.refuse(&reply(554, (5, 5, 1), "no valid recipients"));
            }
            Some(_) => {}
        }
        if self.inbound.len() > 0 {
            self.push(&reply(554, (5, 5, 0), "improper pipelining after DATA"));
            return Err(SessionEnd::ImproperPipelining);
        }
        self.push(&Reply::new(
            354,
            None,
            "Start mail input; end with <CRLF>.<CRLF>",
        ));
        self.flush().await?;
        let mut decoder = DataDecoder::new(self.config.max_data_line, self.config.max_message_size);
        loop {
            let mut ended = false;
            self.inbound.consume(|bytes| match decoder.feed(bytes) {
                Some(n) => {
                    ended = true;
                    n
                }
                None => bytes.len(),
            });
            if ended {
                break;
            }
            let deadline = Instant::now() + self.config.idle_timeout;
            self.read_more(deadline).await?;
        }
        let seen = decoder.seen();
        let Some(tx) = self.transaction.take() else {
            return Ok(());
        };
        let data = match decoder.finish() {
            Ok(data) => data,
            Err(fault) => {
                tracing::debug!(peer = %self.info.peer, %fault, bytes = seen, "smtp message refused");
                self.messages_refused += 1;
                return self.refuse(&fault_reply(fault, self.config));
            }
        };
        let envelope = ReceivedEnvelope {
            mail_from: tx.mail,
            recipients: tx.recipients,
        };
        let answer = self.handler.message(&self.info, &envelope, data).await;
        if answer.is_positive() {
            self.info.messages_accepted += 1;
            self.push(&answer);
            Ok(())
        } else {
            self.messages_refused += 1;
            self.refuse(&answer)
        }
    }

    async fn starttls(&mut self) -> Result<(), SessionEnd> {
        if !self.need_greeting()? {
            return Ok(());
        }
        if self.stream.as_mut().is_tls() {
            return self.refuse(&reply(503, (5, 5, 1), "TLS already active"));
        }
        let Some(acceptor) = self.tls_offered() else {
            return self.refuse(&reply(502, (5, 5, 1), "STARTTLS not offered"));
        };
        if self.inbound.len() > 0 {
            // Bytes sent before the handshake must never be read as if they came over TLS
            // (CVE-2011-0411, command injection).
            self.push(&reply(554, (5, 5, 0), "improper pipelining after STARTTLS"));
            return Err(SessionEnd::ImproperPipelining);
        }
        self.push(&reply(220, (2, 0, 0), "ready to start TLS"));
        self.flush().await?;
        let handshake = self.stream.as_mut().accept_tls(&acceptor);
        match tokio::time::timeout(self.config.idle_timeout, handshake).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(SessionEnd::TlsHandshake { kind: e.kind() }),
            Err(_) => {
                return Err(SessionEnd::TlsHandshake {
                    kind: std::io::ErrorKind::TimedOut,
                });
            }
        }
        // RFC 3207 §4.2: forget everything learned before; the client greets again.
        self.info.tls = self.stream.as_mut().tls_info();
        self.info.helo = None;
        self.info.esmtp = false;
        self.transaction = None;
        self.inbound.clear();
        Ok(())
    }

    fn push(&mut self, reply: &Reply) {
        reply.write_wire(&mut self.out);
    }

    /// Answers with an error; at the error limit, also `421` and the end.
    fn refuse(&mut self, answer: &Reply) -> Result<(), SessionEnd> {
        self.push(answer);
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            self.push(&reply(421, (4, 7, 0), "too many errors, closing"));
            return Err(SessionEnd::TooManyErrors);
        }
        Ok(())
    }

    /// Reads more bytes by `deadline` (and the session's).
    async fn read_more(&mut self, deadline: Instant) -> Result<(), SessionEnd> {
        let session_first = self.deadline <= deadline;
        let until = if session_first {
            self.deadline
        } else {
            deadline
        };
        match tokio::time::timeout_at(until, self.inbound.read_from(&mut self.stream)).await {
            Ok(Ok(0)) => Err(SessionEnd::ClientClosed),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(SessionEnd::Io { kind: e.kind() }),
            Err(_) if session_first => {
                self.push(&reply(
                    421,
                    (4, 4, 2),
                    "session time limit exceeded, closing",
                ));
                Err(SessionEnd::SessionTimeout)
            }
            Err(_) => {
                self.push(&reply(421, (4, 4, 2), "idle timeout, closing"));
                Err(SessionEnd::IdleTimeout)
            }
        }
    }

    /// Writes the pending replies.
    async fn flush(&mut self) -> Result<(), SessionEnd> {
        if self.out.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.config.idle_timeout, write).await {
            Ok(Ok(())) => {
                self.out.clear();
                Ok(())
            }
            Ok(Err(e)) => Err(SessionEnd::Io { kind: e.kind() }),
            Err(_) => Err(SessionEnd::Io {
                kind: std::io::ErrorKind::TimedOut,
            }),
        }
    }

    /// The last words and the shutdown, best effort.
    async fn close(&mut self) {
        let last = async {
            if !self.out.is_empty() {
                self.stream.write_all(&self.out).await?;
            }
            self.stream.shutdown().await
        };
        let _ = tokio::time::timeout(CLOSING_WRITE.min(self.config.idle_timeout), last).await;
        self.out.clear();
    }
}

/// The answer to a command `smtp-proto` could not parse.
fn parse_error_reply(e: &smtp_proto::Error) -> Reply {
    match e {
        smtp_proto::Error::UnknownCommand => reply(500, (5, 5, 1), "command unrecognized"),
        smtp_proto::Error::InvalidSenderAddress => {
            reply(501, (5, 1, 7), "bad sender address syntax")
        }
        smtp_proto::Error::InvalidRecipientAddress => {
            reply(501, (5, 1, 3), "bad recipient address syntax")
        }
        smtp_proto::Error::SyntaxError { syntax } => {
            reply(501, (5, 5, 4), &format!("syntax: {syntax}"))
        }
        smtp_proto::Error::InvalidParameter { param } => {
            reply(501, (5, 5, 4), &format!("invalid parameter {param}"))
        }
        smtp_proto::Error::UnsupportedParameter { .. } => {
            reply(555, (5, 5, 4), "unsupported parameter")
        }
        _ => reply(500, (5, 5, 2), "syntax error"),
    }
}

/// The answer to a message the data decoder refused.
fn fault_reply(fault: DataFault, config: &ServerConfig) -> Reply {
    match fault {
        DataFault::BareLineEnding => reply(
            550,
            (5, 5, 2),
            "bare CR or LF in message data refused (only CRLF ends a line)",
        ),
        DataFault::Nul => reply(550, (5, 6, 0), "NUL byte in message data refused"),
        DataFault::LineTooLong => reply(
            500,
            (5, 5, 2),
            &format!("message line longer than {} bytes", config.max_data_line),
        ),
        DataFault::TooLarge => reply(
            552,
            (5, 3, 4),
            "message size exceeds fixed maximum message size",
        ),
    }
}
