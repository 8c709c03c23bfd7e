//! [`Reply`]: a server's reply (code, enhanced status code, text), parsed by `smtp-proto`.

use std::fmt;

use smtp_proto::response::parser::ResponseReceiver;

/// The most text one reply may carry, all lines together: `smtp-proto`'s limit
/// (`MAX_RESPONSE_LENGTH`). A longer reply is [`ReplyError::TextTooLong`].
pub const MAX_REPLY_TEXT: usize = smtp_proto::response::parser::MAX_RESPONSE_LENGTH;

/// One SMTP reply: a three-digit code, the RFC 3463 enhanced status code when the server sent
/// one, and the text of all its lines joined with `\n`.
///
/// `Display` shows it as a server would say it on one line: `451 4.3.0 try again later`.
///
/// # Examples
///
/// ```
/// use kumo_smtp::Reply;
///
/// let reply = Reply::parse(b"550-5.1.1 no such user\r\n550 5.1.1 see the docs\r\n")?;
/// assert_eq!(reply.code, 550);
/// assert_eq!(reply.enhanced, Some((5, 1, 1)));
/// assert_eq!(reply.text, "no such user\nsee the docs");
/// assert!(reply.is_permanent());
/// assert_eq!(Reply::new(451, Some((4, 3, 0)), "later").to_string(), "451 4.3.0 later");
/// # Ok::<(), kumo_smtp::ReplyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reply {
    /// The reply code, `200..=599`.
    pub code: u16,
    /// The enhanced status code (`class.subject.detail`), when the server sent one.
    pub enhanced: Option<(u8, u16, u16)>,
    /// The text after the code(s); the lines of a multi-line reply joined with `\n`.
    pub text: String,
}

impl Reply {
    /// A reply from its parts (for synthesized replies and tests).
    pub fn new(code: u16, enhanced: Option<(u8, u16, u16)>, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced,
            text: text.into(),
        }
    }

    /// Parses one complete reply (every line ending in LF; continuation lines have `-` after
    /// the code) with `smtp-proto`'s response parser.
    ///
    /// # Errors
    ///
    /// [`ReplyError`] when the bytes are not exactly one well-formed reply with a code in
    /// `200..=599`, or its text exceeds [`MAX_REPLY_TEXT`].
    pub fn parse(bytes: &[u8]) -> Result<Self, ReplyError> {
        let mut iter = bytes.iter();
        let mut receiver = ResponseReceiver::default();
        let response = match receiver.parse(&mut iter) {
            Ok(response) => response,
            Err(smtp_proto::Error::NeedsMoreData { .. }) => return Err(ReplyError::Incomplete),
            Err(smtp_proto::Error::ResponseTooLong) => return Err(ReplyError::TextTooLong),
            Err(smtp_proto::Error::SyntaxError { syntax }) => {
                return Err(ReplyError::Syntax { what: syntax });
            }
            Err(_) => {
                return Err(ReplyError::Syntax {
                    what: "malformed reply",
                });
            }
        };
        if iter.len() != 0 {
            return Err(ReplyError::Syntax {
                what: "reply ends before its last line",
            });
        }
        if !(200..=599).contains(&response.code) {
            return Err(ReplyError::InvalidCode {
                code: response.code,
            });
        }
        let [class, subject, detail] = response.esc;
        let enhanced = (class != 0).then_some((class, u16::from(subject), u16::from(detail)));
        Ok(Self {
            code: response.code,
            enhanced,
            text: response.message,
        })
    }

    /// `2xx`: the command succeeded.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// `3xx`: the server waits for more (`354` after `DATA`).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// `4xx`: a temporary failure; the same command may succeed later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// `5xx`: a permanent failure.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// `421`: the server is closing the connection.
    pub fn is_closing(&self) -> bool {
        self.code == 421
    }

    /// Appends the reply as a server writes it: one line per line of [`text`](Self::text)
    /// (`250-first` ... `250 last`), each ending in CRLF, the enhanced code repeated on each.
    ///
    /// A code outside `200..=599` is written as `451` (a host's mistake must not put the
    /// client out of step), and control characters in the text are written as spaces, so no
    /// reply can inject a line.
    pub(crate) fn write_wire(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        let code = if (200..=599).contains(&self.code) {
            self.code
        } else {
            451
        };
        let mut lines = self.text.split('\n').peekable();
        loop {
            let line = lines.next().unwrap_or_default();
            let last = lines.peek().is_none();
            let _ = write!(out, "{code}{}", if last { ' ' } else { '-' });
            if let Some((class, subject, detail)) = self.enhanced {
                let _ = write!(out, "{class}.{subject}.{detail} ");
            }
            out.extend(
                line.bytes()
                    .map(|b| if b.is_ascii_control() { b' ' } else { b }),
            );
            out.extend_from_slice(b"\r\n");
            if last {
                break;
            }
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some((class, subject, detail)) = self.enhanced {
            write!(f, " {class}.{subject}.{detail}")?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text)?;
        }
        Ok(())
    }
}

/// Why bytes from the server are not a reply. The connection is out of step after one: the
/// session ends (a transient failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A reply line is longer than [`ClientConfig::max_reply_line`](crate::ClientConfig::max_reply_line).
    #[error("reply line longer than {limit} bytes")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A reply has more lines than [`ClientConfig::max_reply_lines`](crate::ClientConfig::max_reply_lines).
    #[error("reply of more than {limit} lines")]
    TooManyLines {
        /// The limit in force.
        limit: usize,
    },
    /// The text of all lines together exceeds [`MAX_REPLY_TEXT`].
    #[error("reply text longer than {MAX_REPLY_TEXT} bytes")]
    TextTooLong,
    /// The reply code is outside `200..=599`.
    #[error("invalid reply code {code}")]
    InvalidCode {
        /// The code the server sent.
        code: u16,
    },
    /// The bytes do not follow the reply grammar (RFC 5321 §4.2).
    #[error("malformed reply: {what}")]
    Syntax {
        /// What `smtp-proto` (or the line framing) found wrong.
        what: &'static str,
    },
    /// The bytes end before the reply's last line.
    #[error("incomplete reply")]
    Incomplete,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line() {
        let r = Reply::parse(b"250 ok\r\n").unwrap();
        assert_eq!((r.code, r.enhanced, r.text.as_str()), (250, None, "ok"));
        let r = Reply::parse(b"451-4.3.0 one\n451 4.3.0 two\n").unwrap();
        assert_eq!(r.enhanced, Some((4, 3, 0)));
        assert_eq!(r.text, "one\ntwo");
        assert_eq!(r.to_string(), "451 4.3.0 one\ntwo");
    }

    #[test]
    fn bad_replies_are_typed_errors() {
        assert_eq!(
            Reply::parse(b"199 x\r\n"),
            Err(ReplyError::InvalidCode { code: 199 })
        );
        assert!(matches!(
            Reply::parse(b"hello\r\n"),
            Err(ReplyError::Syntax { .. })
        ));
        assert_eq!(Reply::parse(b"250-ok\r\n"), Err(ReplyError::Incomplete));
        assert!(Reply::parse(b"250 a\r\n250 b\r\n").is_err());
        let long = format!("250 {}\r\n", "x".repeat(MAX_REPLY_TEXT + 10));
        assert_eq!(Reply::parse(long.as_bytes()), Err(ReplyError::TextTooLong));
    }

    #[test]
    fn wire_form_round_trips_and_cannot_inject_lines() {
        let reply = Reply::new(250, Some((2, 0, 0)), "first\nsecond\r\x00\n250 last");
        let mut out = Vec::new();
        reply.write_wire(&mut out);
        assert_eq!(
            out,
            b"250-2.0.0 first\r\n250-2.0.0 second  \r\n250 2.0.0 250 last\r\n"
        );
        assert_eq!(Reply::parse(&out).unwrap().code, 250);
        let mut out = Vec::new();
        Reply::new(99, None, "").write_wire(&mut out);
        assert_eq!(out, b"451 \r\n");
    }

    #[test]
    fn display_without_text_or_enhanced_code() {
        assert_eq!(Reply::new(250, None, "").to_string(), "250");
        assert_eq!(Reply::new(250, None, "ok").to_string(), "250 ok");
    }
}
