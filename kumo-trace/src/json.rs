//! JSON lines: one [`TraceEvent`] per line, for files, HTTP streams and websockets.

use std::io::{self, BufRead};
use std::sync::Arc;

use crate::TraceEvent;

/// The default longest line [`JsonLinesReader`] accepts: 16 MiB.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024 * 1024;

/// The error of decoding one JSON line into a [`TraceEvent`] (permanent: the line is wrong).
#[derive(Debug, thiserror::Error)]
#[error("invalid trace event at column {}", .0.column())]
pub struct DecodeError(#[source] serde_json::Error);

impl DecodeError {
    /// The 1-based column in the line where decoding failed.
    pub fn column(&self) -> usize {
        self.0.column()
    }
}

/// The error of reading a JSON-lines stream with [`JsonLinesReader`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The underlying reader failed (transient or not, as the reader says).
    #[error("cannot read trace stream")]
    Io(#[source] io::Error),
    /// A line is not a valid event; the reader goes on with the next line.
    #[error("invalid trace event on line {line}")]
    Decode {
        /// The 1-based line number.
        line: u64,
        /// What is wrong with it.
        #[source]
        source: DecodeError,
    },
    /// A line is longer than the limit; it was skipped and the reader goes on after it.
    #[error("line {line} is longer than {max} bytes")]
    LineTooLong {
        /// The 1-based line number.
        line: u64,
        /// The limit.
        max: usize,
    },
}

/// One event's JSON line (with its `\n`), cheap to clone: clones share the bytes.
///
/// Made by [`Received::json_line`](crate::Received::json_line), which encodes an event once
/// for every subscriber that shares it. `AsRef<[u8]>` lets a host hand it to an I/O buffer
/// type without a copy (for example `bytes::Bytes::from_owner`).
#[derive(Clone, PartialEq, Eq)]
pub struct JsonLine(Arc<str>);

impl JsonLine {
    pub(crate) fn encode(event: &TraceEvent) -> Self {
        Self(Arc::from(to_json_line(event)))
    }

    /// The line as text, `\n` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `self` and `other` are the same bytes in memory (one encoding shared), not
    /// merely equal text.
    pub fn same_bytes(&self, other: &JsonLine) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl AsRef<[u8]> for JsonLine {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl AsRef<str> for JsonLine {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for JsonLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

/// `event` as one line of JSON, terminated by `\n`.
///
/// # Examples
///
/// ```
/// use kumo_trace::{from_json_line, to_json_line, Payload, SessionKey, Side, Timestamp, TraceEvent};
///
/// let ev = TraceEvent::new(Side::Client, SessionKey::new("c7"), Timestamp::UNIX_EPOCH, Payload::BeginSession);
/// let line = to_json_line(&ev);
/// assert_eq!(
///     line,
///     "{\"side\":\"client\",\"session\":\"c7\",\"when\":\"1970-01-01T00:00:00Z\",\"payload\":{\"type\":\"begin_session\"}}\n"
/// );
/// assert_eq!(from_json_line(line.as_bytes())?, ev);
/// # Ok::<(), kumo_trace::DecodeError>(())
/// ```
pub fn to_json_line(event: &TraceEvent) -> String {
    let mut out = Vec::with_capacity(128);
    // Serializing this data model cannot fail: every map key is a string and every value has
    // a JSON form; the buffer is a Vec.
    if write_json_line(&mut out, event).is_err() {
        return String::new();
    }
    // serde_json writes valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Writes `event` as one line of JSON, terminated by `\n`, to `w`.
///
/// # Errors
///
/// The writer's error.
pub fn write_json_line<W: io::Write>(mut w: W, event: &TraceEvent) -> io::Result<()> {
    serde_json::to_writer(&mut w, event).map_err(io::Error::other)?;
    w.write_all(b"\n")
}

/// Decodes one line (a trailing `\n` or `\r\n` is allowed) from untrusted bytes.
///
/// # Errors
///
/// [`DecodeError`] when the bytes are not one JSON event; it never panics.
pub fn from_json_line(line: &[u8]) -> Result<TraceEvent, DecodeError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    serde_json::from_slice(line).map_err(DecodeError)
}

/// Reads events from a JSON-lines stream, one per line; blank lines are skipped.
///
/// Memory is bounded by the longest accepted line ([`DEFAULT_MAX_LINE`], see
/// [`JsonLinesReader::with_max_line`]). A bad or over-long line yields an error and the reader
/// carries on with the next line, so a caller may log and continue; after an I/O error the
/// next call reads on from wherever the reader is.
///
/// # Examples
///
/// ```
/// use kumo_trace::{JsonLinesReader, Payload};
///
/// let text = "{\"side\":\"server\",\"session\":\"s\",\"when\":\"2024-09-03T10:00:00Z\",\"payload\":{\"type\":\"connected\"}}\n\nnot json\n";
/// let mut r = JsonLinesReader::new(text.as_bytes());
/// assert_eq!(r.next().unwrap()?.payload, Payload::Connected);
/// assert!(matches!(r.next(), Some(Err(kumo_trace::ReadError::Decode { line: 3, .. }))));
/// assert!(r.next().is_none());
/// # Ok::<(), kumo_trace::ReadError>(())
/// ```
#[derive(Debug)]
pub struct JsonLinesReader<R> {
    reader: R,
    line: Vec<u8>,
    line_no: u64,
    max_line: usize,
}

impl<R: BufRead> JsonLinesReader<R> {
    /// A reader over `reader` with the default line limit.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            line: Vec::new(),
            line_no: 0,
            max_line: DEFAULT_MAX_LINE,
        }
    }

    /// Sets the longest accepted line in bytes (without its line break).
    pub fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.reader
    }

    /// Reads the next line into `self.line`; `Some(too_long)`, or `None` at the end.
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.line.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(any.then_some(too_long));
            }
            any = true;
            let nl = buf.iter().position(|&b| b == b'\n');
            let chunk = &buf[..nl.unwrap_or(buf.len())];
            if !too_long {
                if self.line.len() + chunk.len() > self.max_line {
                    too_long = true;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            let used = nl.map_or(buf.len(), |p| p + 1);
            self.reader.consume(used);
            if nl.is_some() {
                return Ok(Some(too_long));
            }
        }
    }
}

impl<R: BufRead> Iterator for JsonLinesReader<R> {
    type Item = Result<TraceEvent, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let too_long = match self.read_line() {
                Ok(None) => return None,
                Ok(Some(t)) => t,
                Err(e) => return Some(Err(ReadError::Io(e))),
            };
            self.line_no += 1;
            if too_long {
                return Some(Err(ReadError::LineTooLong {
                    line: self.line_no,
                    max: self.max_line,
                }));
            }
            if self.line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(
                from_json_line(&self.line).map_err(|source| ReadError::Decode {
                    line: self.line_no,
                    source,
                }),
            );
        }
    }
}
