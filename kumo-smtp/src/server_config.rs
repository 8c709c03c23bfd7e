//! [`ServerConfig`]: the limits and settings of the server side.

use std::sync::Arc;
use std::time::Duration;

use crate::error::ServerConfigError;

/// How [`serve_session`](crate::serve_session) receives mail. `Default` gives KumoMTA's
/// listener defaults where it has one, Postfix's where it does not.
///
/// Every limit has a clear SMTP answer; the [crate docs](crate#receiving-mail) have the table.
///
/// # Examples
///
/// ```
/// use kumo_smtp::ServerConfig;
/// use std::time::Duration;
///
/// let config = ServerConfig::new("mx1.example.com")
///     .max_message_size(10 << 20)
///     .idle_timeout(Duration::from_secs(30));
/// config.validate()?;
/// assert_eq!(config.max_recipients, 1024);
/// # Ok::<(), kumo_smtp::ServerConfigError>(())
/// ```
///
/// The fields are public and the struct is not `#[non_exhaustive]`, so
/// `ServerConfig { hostname: .., ..ServerConfig::default() }` works; new fields come with
/// defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// This host's name, in the greeting and the `EHLO` reply. Default `"localhost"`.
    pub hostname: String,
    /// The largest message accepted, in bytes after dot-unstuffing, advertised as `SIZE`.
    /// Default 20 MiB (KumoMTA `max_message_size`). Over it: `552 5.3.4`, at `MAIL` when the
    /// client declares a larger `SIZE=`, else after the final dot (the data is read to its
    /// end, not stored).
    pub max_message_size: usize,
    /// Recipients per message. Default 1024 (KumoMTA `max_recipients_per_message`). Each one
    /// more is answered `452 4.5.3` (RFC 5321 §4.5.3.1.10: transient, the client sends the
    /// rest in another transaction).
    pub max_recipients: usize,
    /// Transactions (`MAIL` commands) per connection. Default 10,000 (KumoMTA
    /// `max_messages_per_connection`). The `MAIL` after the last is answered `421 4.7.0` and
    /// the connection closed.
    pub max_messages_per_connection: usize,
    /// The longest command line, CRLF included. Default 2048 (Postfix `line_length_limit`;
    /// RFC 5321's 512 leaves no room for extension parameters and UTF-8 addresses). A longer
    /// line is dropped up to its LF, never stored, and answered `500 5.5.2`.
    pub max_command_line: usize,
    /// The longest message line, CRLF excluded. Default 998 (RFC 5322, KumoMTA
    /// `line_length_hard_limit`). A message with a longer line is answered `500 5.5.2` after
    /// its final dot.
    pub max_data_line: usize,
    /// Errors (refused commands and messages, lines too long) before the server answers
    /// `421 4.7.0` and closes. Default 20 (Postfix `smtpd_hard_error_limit`).
    pub max_errors: usize,
    /// How long the server waits for a complete command line, and for each read of message
    /// data. Bytes that trickle in do not extend it: a command must arrive whole within it.
    /// Default 60 s (KumoMTA `client_timeout`). Then `421 4.4.2` and close. Writes to the
    /// client are bounded by it too.
    pub idle_timeout: Duration,
    /// How long one connection may last, whatever it does. Default 30 min. Then
    /// `421 4.4.2` and close. The host's [`Handler`](crate::Handler) callbacks are not
    /// interrupted: a callback in progress finishes first.
    pub session_timeout: Duration,
    /// The TLS configuration for `STARTTLS`; `None` (the default) does not offer it.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            max_message_size: 20 << 20,
            max_recipients: 1024,
            max_messages_per_connection: 10_000,
            max_command_line: 2048,
            max_data_line: 998,
            max_errors: 20,
            idle_timeout: Duration::from_secs(60),
            session_timeout: Duration::from_secs(30 * 60),
            tls: None,
        }
    }
}

impl ServerConfig {
    /// The defaults, with [`hostname`](Self::hostname) set.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            ..Self::default()
        }
    }

    /// Sets [`max_message_size`](Self::max_message_size).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`max_recipients`](Self::max_recipients).
    pub fn max_recipients(mut self, n: usize) -> Self {
        self.max_recipients = n;
        self
    }

    /// Sets [`max_messages_per_connection`](Self::max_messages_per_connection).
    pub fn max_messages_per_connection(mut self, n: usize) -> Self {
        self.max_messages_per_connection = n;
        self
    }

    /// Sets [`max_command_line`](Self::max_command_line).
    pub fn max_command_line(mut self, bytes: usize) -> Self {
        self.max_command_line = bytes;
        self
    }

    /// Sets [`max_data_line`](Self::max_data_line).
    pub fn max_data_line(mut self, bytes: usize) -> Self {
        self.max_data_line = bytes;
        self
    }

    /// Sets [`max_errors`](Self::max_errors).
    pub fn max_errors(mut self, n: usize) -> Self {
        self.max_errors = n;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Sets [`session_timeout`](Self::session_timeout).
    pub fn session_timeout(mut self, d: Duration) -> Self {
        self.session_timeout = d;
        self
    }

    /// Sets [`tls`](Self::tls): `STARTTLS` is offered with this rustls configuration.
    pub fn tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Checks the settings: [`serve_session`](crate::serve_session) answers every session
    /// with `421` and closes when they are invalid.
    ///
    /// # Errors
    ///
    /// [`ServerConfigError::Hostname`] for an empty host name or one with a space or a
    /// control character; [`ServerConfigError::Limit`] for a command line limit below 512
    /// (RFC 5321's minimum), or a zero message size, recipient, message, data line or error
    /// limit.
    pub fn validate(&self) -> Result<(), ServerConfigError> {
        if self.hostname.is_empty()
            || self
                .hostname
                .bytes()
                .any(|b| b.is_ascii_control() || b == b' ')
        {
            return Err(ServerConfigError::Hostname {
                name: self.hostname.clone(),
            });
        }
        for (what, value, min) in [
            ("max_command_line", self.max_command_line, 512),
            ("max_message_size", self.max_message_size, 1),
            ("max_recipients", self.max_recipients, 1),
            (
                "max_messages_per_connection",
                self.max_messages_per_connection,
                1,
            ),
            ("max_data_line", self.max_data_line, 1),
            ("max_errors", self.max_errors, 1),
        ] {
            if value < min {
                return Err(ServerConfigError::Limit { what, min });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(ServerConfig::default().validate().is_ok());
        assert!(matches!(
            ServerConfig::new("a b").validate(),
            Err(ServerConfigError::Hostname { .. })
        ));
        assert!(matches!(
            ServerConfig::new("mx").max_command_line(100).validate(),
            Err(ServerConfigError::Limit {
                what: "max_command_line",
                min: 512
            })
        ));
        assert!(matches!(
            ServerConfig::new("mx").max_recipients(0).validate(),
            Err(ServerConfigError::Limit {
                what: "max_recipients",
                ..
            })
        ));
    }
}
