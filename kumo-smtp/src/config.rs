//! [`ClientConfig`], [`Timeouts`], [`TlsPolicy`], [`Verify`]: how a [`Client`](crate::Client)
//! behaves.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How a [`Client`](crate::Client) talks to servers. `Default` gives values fit for MX
/// delivery; the setters build on it.
///
/// # Examples
///
/// ```
/// use kumo_smtp::{ClientConfig, TlsPolicy, Verify};
/// use std::time::Duration;
///
/// let mut config = ClientConfig::default()
///     .ehlo_name("mta1.example.com")
///     .tls(TlsPolicy::Required { verify: Verify::WebPki })
///     .max_messages_per_connection(50);
/// config.timeouts.greeting = Duration::from_secs(30);
/// assert_eq!(config.timeouts.data_done, Duration::from_secs(600));
/// ```
///
/// The fields are public and the struct is not `#[non_exhaustive]`, so
/// `ClientConfig { ehlo_name: .., ..ClientConfig::default() }` works; new fields come with
/// defaults.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The name sent in `EHLO`/`HELO`: this host's fully qualified name. Default `"localhost"`;
    /// set it, as receivers check it.
    pub ehlo_name: String,
    /// Every timeout of a session.
    pub timeouts: Timeouts,
    /// Whether and how to use `STARTTLS`.
    pub tls: TlsPolicy,
    /// How many transactions one connection carries before
    /// [`Connection::can_send`](crate::Connection::can_send) turns false. Default 100.
    pub max_messages_per_connection: usize,
    /// Send `MAIL`, `RCPT`s and `DATA` in one write when the server offers `PIPELINING`
    /// (RFC 2920). Default `true`.
    pub pipelining: bool,
    /// The longest reply line accepted, without its CRLF. Default 4096 (RFC 5321 says 512;
    /// servers exceed it). A longer line ends the session with a typed error.
    pub max_reply_line: usize,
    /// The most lines one reply may have. Default 100.
    pub max_reply_lines: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            ehlo_name: "localhost".to_owned(),
            timeouts: Timeouts::default(),
            tls: TlsPolicy::default(),
            max_messages_per_connection: 100,
            pipelining: true,
            max_reply_line: 4096,
            max_reply_lines: 100,
        }
    }
}

impl ClientConfig {
    /// Sets [`ehlo_name`](Self::ehlo_name).
    pub fn ehlo_name(mut self, name: impl Into<String>) -> Self {
        self.ehlo_name = name.into();
        self
    }

    /// Sets [`timeouts`](Self::timeouts).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Sets [`tls`](Self::tls).
    pub fn tls(mut self, tls: TlsPolicy) -> Self {
        self.tls = tls;
        self
    }

    /// Sets [`max_messages_per_connection`](Self::max_messages_per_connection).
    pub fn max_messages_per_connection(mut self, n: usize) -> Self {
        self.max_messages_per_connection = n;
        self
    }

    /// Sets [`pipelining`](Self::pipelining).
    pub fn pipelining(mut self, on: bool) -> Self {
        self.pipelining = on;
        self
    }

    /// Sets [`max_reply_line`](Self::max_reply_line).
    pub fn max_reply_line(mut self, bytes: usize) -> Self {
        self.max_reply_line = bytes;
        self
    }

    /// Sets [`max_reply_lines`](Self::max_reply_lines).
    pub fn max_reply_lines(mut self, lines: usize) -> Self {
        self.max_reply_lines = lines;
        self
    }
}

/// The timeout of every phase of a session. Defaults follow RFC 5321 §4.5.3.2 where it
/// suggests one, and Postfix where it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Around the host's `open` callback. Default 30 s (Postfix `smtp_connect_timeout`).
    pub connect: Duration,
    /// For the `220` greeting. Default 5 min (RFC 5321).
    pub greeting: Duration,
    /// For each `EHLO`/`HELO` reply. Default 5 min (Postfix `smtp_helo_timeout`).
    pub ehlo: Duration,
    /// For the `STARTTLS` reply and, again, for the TLS handshake. Default 5 min (Postfix
    /// `smtp_starttls_timeout`).
    pub starttls: Duration,
    /// For the `MAIL FROM` reply. Default 5 min (RFC 5321).
    pub mail_from: Duration,
    /// For each `RCPT TO` reply. Default 5 min (RFC 5321).
    pub rcpt_to: Duration,
    /// For the `354` reply to `DATA`. Default 2 min (RFC 5321).
    pub data: Duration,
    /// For each block of the body to be written. Default 3 min (RFC 5321).
    pub data_block: Duration,
    /// For the reply to the final dot. Default 10 min (RFC 5321).
    pub data_done: Duration,
    /// For the `RSET` reply. Default 20 s (Postfix `smtp_rset_timeout`).
    pub rset: Duration,
    /// For the `QUIT` reply. Default 10 s: nothing depends on it, so it is short (Postfix
    /// waits 300 s).
    pub quit: Duration,
    /// How long a connection may wait between messages before the host should close it.
    /// Default 5 s. kumo-smtp does not read it: the host that pools connections does.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        const MIN: u64 = 60;
        Self {
            connect: Duration::from_secs(30),
            greeting: Duration::from_secs(5 * MIN),
            ehlo: Duration::from_secs(5 * MIN),
            starttls: Duration::from_secs(5 * MIN),
            mail_from: Duration::from_secs(5 * MIN),
            rcpt_to: Duration::from_secs(5 * MIN),
            data: Duration::from_secs(2 * MIN),
            data_block: Duration::from_secs(3 * MIN),
            data_done: Duration::from_secs(10 * MIN),
            rset: Duration::from_secs(20),
            quit: Duration::from_secs(10),
            idle: Duration::from_secs(5),
        }
    }
}

impl Timeouts {
    /// Every timeout (except `idle`) set to `d`: for tests and for hosts that want one number.
    pub fn all(d: Duration) -> Self {
        Self {
            connect: d,
            greeting: d,
            ehlo: d,
            starttls: d,
            mail_from: d,
            rcpt_to: d,
            data: d,
            data_block: d,
            data_done: d,
            rset: d,
            quit: d,
            ..Self::default()
        }
    }
}

/// Whether and how a session uses `STARTTLS` (RFC 3207).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TlsPolicy {
    /// Never; plaintext even when the server offers `STARTTLS`.
    Disabled,
    /// When the server offers it (Postfix `smtp_tls_security_level = may`). A server that does
    /// not offer it, or answers `STARTTLS` with an error, gets the message in plaintext; one
    /// whose TLS handshake fails is tried once more in plaintext by
    /// [`Client::connect`](crate::Client::connect).
    Opportunistic {
        /// What to check of the server's certificate.
        verify: Verify,
    },
    /// Always: a server that does not offer `STARTTLS`, refuses it, or fails the handshake
    /// (including the certificate check) is skipped (Postfix `encrypt` / `verify`).
    Required {
        /// What to check of the server's certificate.
        verify: Verify,
    },
}

impl Default for TlsPolicy {
    /// `Opportunistic { verify: Verify::None }`: encrypt when offered, like most MX delivery.
    fn default() -> Self {
        TlsPolicy::Opportunistic {
            verify: Verify::None,
        }
    }
}

/// What a TLS session checks of the server's certificate.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Verify {
    /// Nothing: encrypt, don't check the certificate (the handshake's signatures are still
    /// checked). Protects against passive eavesdropping only.
    #[default]
    None,
    /// The chain up to the Mozilla roots of `webpki-roots`, and the [`Target`](crate::Target)'s
    /// host name.
    WebPki,
    /// The chain up to these roots, and the [`Target`](crate::Target)'s host name.
    Roots(Arc<rustls::RootCertStore>),
}

impl fmt::Debug for Verify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verify::None => f.write_str("None"),
            Verify::WebPki => f.write_str("WebPki"),
            Verify::Roots(roots) => write!(f, "Roots({} roots)", roots.len()),
        }
    }
}
