//! [`Connection`]: a ready session; sends messages one transaction at a time.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::attempt::error_chain;
use crate::capabilities::Capabilities;
use crate::client::Shared;
use crate::config::TlsPolicy;
use crate::data::{BodyEncoder, is_8bit, normalized_size};
use crate::envelope::{Envelope, is_safe_address};
use crate::error::{SessionError, Unsendable};
use crate::io::{Io, TlsInfo};
use crate::outcome::{Delivery, Outcome, RecipientResult};
use crate::phase::Phase;
use crate::reader::{RawReply, ReadError, ReplyReader};
use crate::reply::Reply;
use crate::target::Target;
use crate::tls;

/// How much of the body is encoded and written at a time (one `data_block` timeout each).
const BODY_BLOCK: usize = 64 * 1024;

/// A ready SMTP session: greeted, `EHLO` done, TLS per the policy. Made by
/// [`Client::connect`](crate::Client::connect) or [`Client::handshake`](crate::Client::handshake).
///
/// Send messages with [`send`](Self::send) while [`can_send`](Self::can_send) is true, then
/// [`quit`](Self::quit). Dropping it closes the stream without `QUIT`.
pub struct Connection<S> {
    stream: S,
    reader: ReplyReader,
    shared: Arc<Shared>,
    target: Target,
    greeting: Reply,
    caps: Capabilities,
    tls: Option<TlsInfo>,
    transactions: usize,
    usable: bool,
}

impl<S> fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("target", &self.target)
            .field("capabilities", &self.caps)
            .field("tls", &self.tls)
            .field("messages_sent", &self.transactions)
            .field("usable", &self.usable)
            .finish_non_exhaustive()
    }
}

impl<S> Connection<S> {
    /// The address this session is connected to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// What the server offered in its last `EHLO` reply (after `STARTTLS`, the second one).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The server's greeting.
    pub fn greeting(&self) -> &Reply {
        &self.greeting
    }

    /// `true` when the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The TLS protocol version and cipher suite, when over TLS.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// How many transactions this connection has started (`MAIL FROM` sent), whatever their
    /// outcome. [`ClientConfig::max_messages_per_connection`](crate::ClientConfig::max_messages_per_connection)
    /// limits this number.
    pub fn messages_sent(&self) -> usize {
        self.transactions
    }

    /// `true` while the connection is healthy (no I/O error, timeout, `421` or lost step) and
    /// has carried fewer than `max_messages_per_connection` transactions.
    pub fn can_send(&self) -> bool {
        self.usable && self.transactions < self.shared.config.max_messages_per_connection
    }

    /// `true` while no I/O error, timeout, `421` or protocol error has ended the session (the
    /// message limit aside).
    pub fn is_usable(&self) -> bool {
        self.usable
    }

    /// The stream below (a host's tracing layer, for example).
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream below, mutably. Bytes moved through it directly put the session out of
    /// step.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }
}

/// A transaction that ended without a decisive reply.
struct Failure {
    error: SessionError,
    possible_duplicate: bool,
}

impl From<SessionError> for Failure {
    fn from(error: SessionError) -> Self {
        Failure {
            error,
            possible_duplicate: false,
        }
    }
}

/// Where a recipient stands during a transaction.
#[derive(Clone)]
enum Rcpt {
    /// Not sent (yet).
    Pending,
    /// Refused locally (unsafe address), never sent.
    Local(Reply),
    /// The server's `RCPT` reply.
    Answered(Reply),
}

impl<S> Connection<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + AsMut<Io>,
{
    /// Greeting, EHLO and STARTTLS on a freshly opened stream (`allow_tls` false: plaintext
    /// whatever the policy says, for the opportunistic retry).
    pub(crate) async fn open(
        shared: Arc<Shared>,
        target: Target,
        stream: S,
        allow_tls: bool,
    ) -> Result<Self, SessionError> {
        let config = &shared.config;
        let reader = ReplyReader::new(config.max_reply_line, config.max_reply_lines);
        let greeting_timeout = config.timeouts.greeting;
        let mut conn = Connection {
            stream,
            reader,
            shared,
            target,
            greeting: Reply::new(220, None, ""),
            caps: Capabilities::default(),
            tls: None,
            transactions: 0,
            usable: true,
        };
        let greeting = conn.read(Phase::Greeting, greeting_timeout).await?.reply;
        if !greeting.is_positive() {
            return Err(SessionError::Rejected {
                phase: Phase::Greeting,
                reply: greeting,
            });
        }
        conn.greeting = greeting;
        conn.ehlo().await?;

        let already_tls = conn.stream.as_mut().is_tls();
        if already_tls {
            conn.tls = conn.stream.as_mut().tls_info();
            return Ok(conn);
        }
        match (&conn.shared.config.tls, allow_tls) {
            (TlsPolicy::Disabled, _) | (TlsPolicy::Opportunistic { .. }, false) => {}
            (TlsPolicy::Opportunistic { .. }, true) => {
                if conn.caps.starttls {
                    conn.starttls(false).await?;
                }
            }
            (TlsPolicy::Required { .. }, _) => {
                if !conn.caps.starttls {
                    return Err(SessionError::TlsNotOffered);
                }
                conn.starttls(true).await?;
            }
        }
        Ok(conn)
    }

    /// `EHLO`, with the `HELO` fallback on a `5xx`.
    async fn ehlo(&mut self) -> Result<(), SessionError> {
        let timeout = self.shared.config.timeouts.ehlo;
        let line = format!("EHLO {}\r\n", self.shared.config.ehlo_name);
        let raw = self.command(line.as_bytes(), Phase::Ehlo, timeout).await?;
        if raw.reply.is_positive() {
            self.caps = Capabilities::parse_ehlo(&raw.bytes);
            return Ok(());
        }
        if !raw.reply.is_permanent() {
            return Err(SessionError::Rejected {
                phase: Phase::Ehlo,
                reply: raw.reply,
            });
        }
        tracing::debug!(target = %self.target, reply = %raw.reply, "EHLO refused; trying HELO");
        let line = format!("HELO {}\r\n", self.shared.config.ehlo_name);
        let helo = self.command(line.as_bytes(), Phase::Ehlo, timeout).await?;
        if !helo.reply.is_positive() {
            return Err(SessionError::Rejected {
                phase: Phase::Ehlo,
                reply: helo.reply,
            });
        }
        self.caps = Capabilities {
            extended: false,
            hostname: helo
                .reply
                .text
                .split_ascii_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned(),
            ..Capabilities::default()
        };
        Ok(())
    }

    /// `STARTTLS`, the handshake, and `EHLO` again. A refusal is an error when `required`,
    /// else the session goes on in plaintext (except after a `421`).
    async fn starttls(&mut self, required: bool) -> Result<(), SessionError> {
        let timeout = self.shared.config.timeouts.starttls;
        let raw = self
            .command(b"STARTTLS\r\n", Phase::StartTls, timeout)
            .await?;
        if !raw.reply.is_positive() {
            if required || raw.reply.is_closing() {
                return Err(SessionError::Rejected {
                    phase: Phase::StartTls,
                    reply: raw.reply,
                });
            }
            tracing::debug!(target = %self.target, reply = %raw.reply, "STARTTLS refused; going on in plaintext");
            return Ok(());
        }
        if self.reader.buffered() > 0 {
            // Bytes sent before the handshake must not be taken as sent over TLS
            // (the STARTTLS command injection of CVE-2011-0411, client side).
            tracing::warn!(
                target = %self.target,
                bytes = self.reader.buffered(),
                "plaintext bytes after the STARTTLS reply discarded"
            );
            self.reader.clear();
        }
        let Some(connector) = self.shared.tls.clone() else {
            return Err(SessionError::TlsNotOffered);
        };
        let name = tls::server_name(&self.target);
        match tokio::time::timeout(timeout, self.stream.as_mut().start_tls(&connector, name)).await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(SessionError::TlsHandshake {
                    source: Arc::new(e),
                });
            }
            Err(_) => {
                return Err(SessionError::Timeout {
                    phase: Phase::StartTls,
                    after: timeout,
                });
            }
        }
        self.tls = self.stream.as_mut().tls_info();
        tracing::debug!(target = %self.target, tls = ?self.tls, "TLS started");
        self.ehlo().await
    }

    /// Sends one message. Never fails as a `Result`: every ending is a [`Delivery`].
    ///
    /// The transaction: `RSET` first unless this is the connection's first transaction,
    /// `MAIL FROM` (with `SIZE=` when the server offers `SIZE`, `BODY=8BITMIME` when the data
    /// has 8-bit bytes, `SMTPUTF8` when the envelope needs it), `RCPT TO` per recipient,
    /// `DATA`, the body with CRLF line endings (a bare LF or CR becomes CRLF; a body that
    /// already uses CRLF is stored by the receiver exactly as given, plus a final CRLF if it
    /// lacks one) and dot-stuffed, and the final dot. With `PIPELINING` (offered and
    /// [`ClientConfig::pipelining`](crate::ClientConfig::pipelining)) `RSET`, `MAIL`, the
    /// `RCPT`s and `DATA` go in one write and their replies are read in order.
    ///
    /// Refused locally, with a [`Permanent`](Outcome::Permanent) outcome and no byte sent:
    /// no recipient; an address with a control character or angle bracket (just that
    /// recipient, when others are fine); a UTF-8 address and no `SMTPUTF8`; 8-bit data and no
    /// `8BITMIME` (RFC 6152; kumo-smtp does not down-convert, the local reply is
    /// `554 5.6.3`); a message larger than an advertised `SIZE`. A connection that is no
    /// longer usable, or at its message limit, refuses with a
    /// [`Transient`](Outcome::Transient) outcome. [`Delivery`] lists the outcome rules.
    pub async fn send(&mut self, envelope: &Envelope, data: &[u8]) -> Delivery {
        let mut rcpts: Vec<Rcpt> = envelope
            .recipients
            .iter()
            .map(|r| {
                if is_safe_address(r) {
                    Rcpt::Pending
                } else {
                    Rcpt::Local(local_reply(&Unsendable::UnsafeAddress {
                        address: r.clone(),
                    }))
                }
            })
            .collect();
        let utf8 = envelope.needs_smtputf8();
        let eight_bit = is_8bit(data);
        let size = normalized_size(data);
        let refusal = if !self.usable {
            Some(Unsendable::ConnectionUnusable)
        } else if self.transactions >= self.shared.config.max_messages_per_connection {
            Some(Unsendable::LimitReached)
        } else if envelope.recipients.is_empty() {
            Some(Unsendable::NoRecipients)
        } else if !is_safe_address(&envelope.sender) {
            Some(Unsendable::UnsafeAddress {
                address: envelope.sender.clone(),
            })
        } else if !rcpts.iter().any(|r| matches!(r, Rcpt::Pending)) {
            Some(Unsendable::UnsafeAddress {
                address: envelope.recipients[0].clone(),
            })
        } else if utf8 && !self.caps.smtputf8 {
            Some(Unsendable::Utf8Unsupported)
        } else if eight_bit && !self.caps.eight_bit_mime {
            Some(Unsendable::EightBitUnsupported)
        } else {
            match self.caps.size {
                Some(limit) if limit > 0 && size > limit => {
                    Some(Unsendable::TooLarge { size, limit })
                }
                _ => None,
            }
        };
        if let Some(why) = refusal {
            tracing::debug!(target = %self.target, reason = %why, "message not sent");
            return local_delivery(envelope, why);
        }

        let rset = self.transactions > 0;
        self.transactions += 1;
        let mut mail = format!("MAIL FROM:<{}>", envelope.sender);
        if self.caps.size.is_some() {
            mail.push_str(&format!(" SIZE={size}"));
        }
        if eight_bit {
            mail.push_str(" BODY=8BITMIME");
        }
        if utf8 {
            mail.push_str(" SMTPUTF8");
        }
        mail.push_str("\r\n");

        let result = self
            .transaction(envelope, data, rset, mail.as_bytes(), &mut rcpts)
            .await;
        match result {
            Ok(delivery) => delivery,
            Err(failure) => {
                self.usable = false;
                tracing::debug!(
                    target = %self.target,
                    error = %error_chain(&failure.error),
                    possible_duplicate = failure.possible_duplicate,
                    "transaction failed; connection unusable"
                );
                let reply = failure_reply(&failure.error);
                Delivery {
                    outcome: Outcome::Transient,
                    recipients: finish_recipients(envelope, &rcpts, |_| {
                        (Outcome::Transient, reply.clone())
                    }),
                    reply,
                    possible_duplicate: failure.possible_duplicate,
                    error: Some(failure.error),
                }
            }
        }
    }

    /// The transaction on the wire. `Err` for everything that makes the connection unusable.
    async fn transaction(
        &mut self,
        envelope: &Envelope,
        data: &[u8],
        rset: bool,
        mail: &[u8],
        rcpts: &mut [Rcpt],
    ) -> Result<Delivery, Failure> {
        let t = self.shared.config.timeouts;
        let pipelined = self.shared.config.pipelining && self.caps.pipelining;
        let to_send: Vec<usize> = (0..rcpts.len())
            .filter(|&i| matches!(rcpts[i], Rcpt::Pending))
            .collect();
        let rcpt_line = |i: usize| format!("RCPT TO:<{}>\r\n", envelope.recipients[i]);

        let data_reply = if pipelined {
            let mut batch = Vec::with_capacity(256);
            if rset {
                batch.extend_from_slice(b"RSET\r\n");
            }
            batch.extend_from_slice(mail);
            for &i in &to_send {
                batch.extend_from_slice(rcpt_line(i).as_bytes());
            }
            batch.extend_from_slice(b"DATA\r\n");
            self.write(&batch, Phase::MailFrom, t.mail_from).await?;
            if rset {
                let reply = self.read(Phase::Rset, t.rset).await?.reply;
                check_rset(reply)?;
            }
            let mail_reply = self.read(Phase::MailFrom, t.mail_from).await?.reply;
            let mail_ok = check_mail(&mail_reply)?;
            for &i in &to_send {
                let reply = self.read(Phase::RcptTo, t.rcpt_to).await?.reply;
                if mail_ok {
                    check_rcpt(&reply)?;
                    rcpts[i] = Rcpt::Answered(reply);
                }
            }
            let data_reply = self.read(Phase::Data, t.data).await?.reply;
            let accepted = count_accepted(rcpts);
            if !mail_ok || accepted == 0 {
                if data_reply.is_intermediate() {
                    // A server that says 354 with nobody to deliver to: end the empty
                    // message so the session stays in step.
                    self.write(b".\r\n", Phase::DataBlock, t.data_block).await?;
                    let _ = self.read(Phase::DataDone, t.data_done).await?;
                }
                if !mail_ok {
                    return Ok(self.mail_refused(envelope, rcpts, mail_reply));
                }
                return Ok(self.no_recipient(envelope, rcpts));
            }
            data_reply
        } else {
            if rset {
                let reply = self.command(b"RSET\r\n", Phase::Rset, t.rset).await?.reply;
                check_rset(reply)?;
            }
            let mail_reply = self
                .command(mail, Phase::MailFrom, t.mail_from)
                .await?
                .reply;
            if !check_mail(&mail_reply)? {
                return Ok(self.mail_refused(envelope, rcpts, mail_reply));
            }
            for &i in &to_send {
                let line = rcpt_line(i);
                let reply = self
                    .command(line.as_bytes(), Phase::RcptTo, t.rcpt_to)
                    .await?
                    .reply;
                check_rcpt(&reply)?;
                rcpts[i] = Rcpt::Answered(reply);
            }
            if count_accepted(rcpts) == 0 {
                return Ok(self.no_recipient(envelope, rcpts));
            }
            self.command(b"DATA\r\n", Phase::Data, t.data).await?.reply
        };

        if !data_reply.is_intermediate() {
            if data_reply.is_closing() {
                self.usable = false;
            } else if data_reply.is_positive() {
                return Err(unexpected(Phase::Data, data_reply).into());
            }
            // 4xx/5xx to DATA: the accepted recipients share its outcome.
            return Ok(self.decided(envelope, rcpts, data_reply));
        }
        if data_reply.code != 354 {
            return Err(unexpected(Phase::Data, data_reply).into());
        }

        // The body, block by block; the final dot goes with the last block.
        let mut encoder = BodyEncoder::new();
        // Sized for the block (small messages stay small); `encode` grows it for stuffing.
        let mut out = Vec::with_capacity(data.len().min(BODY_BLOCK) + 64);
        let mut blocks = data.chunks(BODY_BLOCK).peekable();
        if data.is_empty() {
            encoder.finish(&mut out);
            self.write(&out, Phase::DataBlock, t.data_block).await?;
        }
        while let Some(block) = blocks.next() {
            out.clear();
            encoder.encode(block, &mut out);
            if blocks.peek().is_none() {
                encoder.finish(&mut out);
            }
            self.write(&out, Phase::DataBlock, t.data_block).await?;
        }
        // From here on the server may have the whole message.
        let reply = match self.read(Phase::DataDone, t.data_done).await {
            Ok(raw) => raw.reply,
            Err(error) => {
                return Err(Failure {
                    error,
                    possible_duplicate: true,
                });
            }
        };
        if reply.is_intermediate() {
            return Err(unexpected(Phase::DataDone, reply).into());
        }
        if reply.is_closing() {
            self.usable = false;
        }
        Ok(self.decided(envelope, rcpts, reply))
    }

    /// The outcome once the final reply (or a refused `DATA`) is known: accepted recipients
    /// take `reply`'s outcome, refused ones keep their own.
    fn decided(&self, envelope: &Envelope, rcpts: &[Rcpt], reply: Reply) -> Delivery {
        answered(envelope, rcpts, Outcome::of_code(reply.code), reply)
    }

    /// `MAIL FROM` refused: every recipient shares its outcome.
    fn mail_refused(&mut self, envelope: &Envelope, rcpts: &[Rcpt], reply: Reply) -> Delivery {
        if reply.is_closing() {
            self.usable = false;
        }
        let outcome = Outcome::of_code(reply.code);
        let recipients = envelope
            .recipients
            .iter()
            .zip(rcpts)
            .map(|(r, state)| match state {
                Rcpt::Local(local) => RecipientResult {
                    recipient: r.clone(),
                    outcome: Outcome::Permanent,
                    reply: local.clone(),
                },
                _ => RecipientResult {
                    recipient: r.clone(),
                    outcome,
                    reply: reply.clone(),
                },
            })
            .collect();
        Delivery {
            outcome,
            reply,
            recipients,
            possible_duplicate: false,
            error: None,
        }
    }

    /// No recipient accepted: all `5xx` is permanent, anything else transient.
    fn no_recipient(&mut self, envelope: &Envelope, rcpts: &[Rcpt]) -> Delivery {
        let replies = rcpts.iter().filter_map(|r| match r {
            Rcpt::Answered(reply) => Some(reply),
            _ => None,
        });
        let mut first_transient = None;
        let mut first_permanent = None;
        for reply in replies {
            if reply.is_closing() {
                self.usable = false;
            }
            if reply.is_permanent() {
                first_permanent.get_or_insert(reply);
            } else {
                first_transient.get_or_insert(reply);
            }
        }
        let (outcome, reply) = match (first_transient, first_permanent) {
            (Some(t), _) => (Outcome::Transient, t.clone()),
            (None, Some(p)) => (Outcome::Permanent, p.clone()),
            // Unreachable in practice (a safe recipient was sent); keep a sane answer.
            (None, None) => (Outcome::Permanent, local_reply(&Unsendable::NoRecipients)),
        };
        answered(envelope, rcpts, outcome, reply)
    }

    /// `QUIT`, its reply, and the stream shut down, each within the quit timeout. Errors are
    /// logged (`tracing`, debug) and otherwise ignored: the session is over either way.
    pub async fn quit(mut self) {
        let timeout = self.shared.config.timeouts.quit;
        if self.usable {
            match self.command(b"QUIT\r\n", Phase::Quit, timeout).await {
                Ok(raw) => tracing::debug!(target = %self.target, reply = %raw.reply, "QUIT"),
                Err(e) => {
                    tracing::debug!(target = %self.target, error = %error_chain(&e), "QUIT failed")
                }
            }
        }
        match tokio::time::timeout(timeout, self.stream.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(target = %self.target, error = %e, "shutdown failed"),
            Err(_) => tracing::debug!(target = %self.target, "shutdown timed out"),
        }
    }

    /// Writes one command and reads its reply.
    async fn command(
        &mut self,
        line: &[u8],
        phase: Phase,
        timeout: Duration,
    ) -> Result<RawReply, SessionError> {
        self.write(line, phase, timeout).await?;
        self.read(phase, timeout).await
    }

    /// Writes and flushes `bytes` within `timeout`. Any failure makes the connection unusable.
    async fn write(
        &mut self,
        bytes: &[u8],
        phase: Phase,
        timeout: Duration,
    ) -> Result<(), SessionError> {
        let stream = &mut self.stream;
        let result = tokio::time::timeout(timeout, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await;
        let outcome = match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SessionError::io(phase, e)),
            Err(_) => Err(SessionError::Timeout {
                phase,
                after: timeout,
            }),
        };
        if outcome.is_err() {
            self.usable = false;
        }
        outcome
    }

    /// Reads one reply within `timeout`. A failure, or a `421`, makes the connection unusable.
    async fn read(&mut self, phase: Phase, timeout: Duration) -> Result<RawReply, SessionError> {
        let result = tokio::time::timeout(timeout, self.reader.read(&mut self.stream)).await;
        let outcome = match result {
            Ok(Ok(raw)) => Ok(raw),
            Ok(Err(ReadError::Io(e))) => Err(SessionError::io(phase, e)),
            Ok(Err(ReadError::Closed)) => Err(SessionError::Closed { phase }),
            Ok(Err(ReadError::Reply(source))) => Err(SessionError::BadReply { phase, source }),
            Err(_) => Err(SessionError::Timeout {
                phase,
                after: timeout,
            }),
        };
        match &outcome {
            Ok(raw) if raw.reply.is_closing() => self.usable = false,
            Ok(_) => {}
            Err(_) => self.usable = false,
        }
        outcome
    }
}

/// `RSET` must succeed for the transaction to start.
fn check_rset(reply: Reply) -> Result<(), SessionError> {
    if reply.is_positive() {
        Ok(())
    } else if reply.is_intermediate() {
        Err(unexpected(Phase::Rset, reply))
    } else {
        Err(SessionError::Rejected {
            phase: Phase::Rset,
            reply,
        })
    }
}

/// `Ok(true)` when `MAIL` was accepted, `Ok(false)` when refused (4xx/5xx), `Err` when the
/// reply makes no sense or is a `421` (the server is closing).
fn check_mail(reply: &Reply) -> Result<bool, SessionError> {
    check_step(Phase::MailFrom, reply)?;
    Ok(reply.is_positive())
}

/// `Err` for a `RCPT` reply that ends the session (`421`, a `3xx`).
fn check_rcpt(reply: &Reply) -> Result<(), SessionError> {
    check_step(Phase::RcptTo, reply)
}

fn check_step(phase: Phase, reply: &Reply) -> Result<(), SessionError> {
    if reply.is_intermediate() {
        return Err(unexpected(phase, reply.clone()));
    }
    if reply.is_closing() {
        return Err(SessionError::Rejected {
            phase,
            reply: reply.clone(),
        });
    }
    Ok(())
}

fn unexpected(phase: Phase, reply: Reply) -> SessionError {
    SessionError::Unexpected { phase, reply }
}

fn count_accepted(rcpts: &[Rcpt]) -> usize {
    rcpts
        .iter()
        .filter(|r| matches!(r, Rcpt::Answered(reply) if reply.is_positive()))
        .count()
}

/// A transaction the server answered: the recipients still pending take `outcome` and
/// `reply`, refused ones keep their own.
fn answered(envelope: &Envelope, rcpts: &[Rcpt], outcome: Outcome, reply: Reply) -> Delivery {
    Delivery {
        outcome,
        recipients: finish_recipients(envelope, rcpts, |_| (outcome, reply.clone())),
        reply,
        possible_duplicate: false,
        error: None,
    }
}

/// Per-recipient results: a refused recipient keeps its own reply, a local refusal its local
/// reply, and the others (accepted, or never answered) get `rest`.
fn finish_recipients(
    envelope: &Envelope,
    rcpts: &[Rcpt],
    rest: impl Fn(&str) -> (Outcome, Reply),
) -> Vec<RecipientResult> {
    envelope
        .recipients
        .iter()
        .zip(rcpts)
        .map(|(recipient, state)| {
            let (outcome, reply) = match state {
                Rcpt::Local(reply) => (Outcome::Permanent, reply.clone()),
                Rcpt::Answered(reply) if !reply.is_positive() => {
                    (Outcome::of_code(reply.code), reply.clone())
                }
                Rcpt::Answered(_) | Rcpt::Pending => rest(recipient),
            };
            RecipientResult {
                recipient: recipient.clone(),
                outcome,
                reply,
            }
        })
        .collect()
}

/// The reply made up for a message refused before a byte was sent.
fn local_reply(why: &Unsendable) -> Reply {
    let (code, enhanced) = match why {
        Unsendable::NoRecipients => (554, (5, 5, 1)),
        Unsendable::UnsafeAddress { .. } => (553, (5, 1, 3)),
        Unsendable::TooLarge { .. } => (552, (5, 3, 4)),
        Unsendable::EightBitUnsupported => (554, (5, 6, 3)),
        Unsendable::Utf8Unsupported => (553, (5, 6, 7)),
        Unsendable::LimitReached => (451, (4, 4, 2)),
        Unsendable::ConnectionUnusable => (451, (4, 4, 2)),
    };
    Reply::new(code, Some(enhanced), why.to_string())
}

fn local_delivery(envelope: &Envelope, why: Unsendable) -> Delivery {
    let reply = local_reply(&why);
    let outcome = Outcome::of_code(reply.code);
    Delivery {
        outcome,
        recipients: envelope
            .recipients
            .iter()
            .map(|r| RecipientResult {
                recipient: r.clone(),
                outcome,
                reply: reply.clone(),
            })
            .collect(),
        reply,
        possible_duplicate: false,
        error: Some(SessionError::Unsendable(why)),
    }
}

/// The reply made up for a transaction that ended without a decisive reply.
fn failure_reply(error: &SessionError) -> Reply {
    match error {
        // A real reply ended it (a refused RSET, a 421): quote it.
        SessionError::Rejected { reply, .. } => reply.clone(),
        SessionError::BadReply { .. } | SessionError::Unexpected { .. } => {
            Reply::new(451, Some((4, 5, 0)), error_chain(error))
        }
        _ => Reply::new(451, Some((4, 4, 2)), error_chain(error)),
    }
}
