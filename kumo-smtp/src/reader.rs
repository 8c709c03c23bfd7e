//! The reply framing: reads bytes from the server into a bounded buffer and cuts them into
//! complete replies, which `smtp-proto` then parses.
//!
//! # Implementation
//!
//! The framing only finds where a reply ends (the first line whose fourth byte is not `-`)
//! and enforces the limits as bytes arrive: no line longer than `max_line`, no reply of more
//! than `max_lines` lines. So the buffer never holds more than one line's limit beyond the
//! lines already counted, whatever the server sends. Bytes after a reply stay buffered for
//! the next one (pipelined replies often arrive in one read).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::reply::{Reply, ReplyError};

/// How much is asked of the stream per read.
const READ_CHUNK: usize = 4096;

/// Why no reply could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The stream failed.
    Io(io::Error),
    /// The server closed the connection before a complete reply.
    Closed,
    /// The bytes are not a reply within the limits.
    Reply(ReplyError),
}

/// One complete reply: the parsed form and the raw lines (EHLO capabilities are parsed from
/// the raw lines).
#[derive(Debug)]
pub(crate) struct RawReply {
    pub(crate) reply: Reply,
    pub(crate) bytes: Vec<u8>,
}

/// The bounded reply buffer of one connection.
#[derive(Debug)]
pub(crate) struct ReplyReader {
    buf: Vec<u8>,
    max_line: usize,
    max_lines: usize,
}

impl ReplyReader {
    pub(crate) fn new(max_line: usize, max_lines: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_line,
            max_lines,
        }
    }

    /// Bytes received and not yet taken as part of a reply.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Forgets buffered bytes (after `220` to `STARTTLS`: anything sent before the handshake
    /// must not be read as if it came over TLS).
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
    }

    /// Reads the next complete reply.
    pub(crate) async fn read<S: AsyncRead + Unpin + ?Sized>(
        &mut self,
        stream: &mut S,
    ) -> Result<RawReply, ReadError> {
        // Where the scan goes on after a read: the start of the first unfinished line.
        let mut line_start = 0;
        let mut lines = 0;
        loop {
            while let Some(lf) = memchr::memchr(b'\n', &self.buf[line_start..]) {
                let end = line_start + lf + 1;
                let line = &self.buf[line_start..end];
                if content_len(line) > self.max_line {
                    return Err(ReadError::Reply(ReplyError::LineTooLong {
                        limit: self.max_line,
                    }));
                }
                lines += 1;
                if lines > self.max_lines {
                    return Err(ReadError::Reply(ReplyError::TooManyLines {
                        limit: self.max_lines,
                    }));
                }
                let last = line.get(3) != Some(&b'-');
                line_start = end;
                if last {
                    let bytes: Vec<u8> = self.buf.drain(..end).collect();
                    return match Reply::parse(&bytes) {
                        Ok(reply) => Ok(RawReply { reply, bytes }),
                        Err(e) => Err(ReadError::Reply(e)),
                    };
                }
            }
            // No LF in the unfinished line yet: it may not grow past the limit (+ CRLF).
            if self.buf.len() - line_start > self.max_line.saturating_add(2) {
                return Err(ReadError::Reply(ReplyError::LineTooLong {
                    limit: self.max_line,
                }));
            }
            self.buf.reserve(READ_CHUNK);
            let n = stream
                .take(READ_CHUNK as u64)
                .read_buf(&mut self.buf)
                .await
                .map_err(ReadError::Io)?;
            if n == 0 {
                return Err(ReadError::Closed);
            }
        }
    }
}

/// A line's length without its CRLF (or LF).
fn content_len(line: &[u8]) -> usize {
    let mut n = line.len();
    if line.ends_with(b"\n") {
        n -= 1;
        if line[..n].ends_with(b"\r") {
            n -= 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn replies_split_across_reads_and_pipelined_in_one() {
        block_on(async {
            let (mut server, mut client) = tokio::io::duplex(64);
            let mut reader = ReplyReader::new(100, 10);
            let writer = tokio::spawn(async move {
                server.write_all(b"250-a\r\n25").await.unwrap();
                server.write_all(b"0 b\r\n354 go\r\n").await.unwrap();
            });
            let one = reader.read(&mut client).await.unwrap();
            assert_eq!(one.reply.text, "a\nb");
            assert_eq!(one.bytes, b"250-a\r\n250 b\r\n");
            writer.await.unwrap();
            let two = reader.read(&mut client).await.unwrap();
            assert_eq!(two.reply.code, 354);
            assert_eq!(reader.buffered(), 0);
            assert!(matches!(
                reader.read(&mut client).await,
                Err(ReadError::Closed)
            ));
        });
    }

    #[test]
    fn limits_hold_before_the_line_ends() {
        block_on(async {
            let (mut server, mut client) = tokio::io::duplex(1 << 16);
            server.write_all(&[b'x'; 5000]).await.unwrap();
            let mut reader = ReplyReader::new(100, 10);
            assert!(matches!(
                reader.read(&mut client).await,
                Err(ReadError::Reply(ReplyError::LineTooLong { limit: 100 }))
            ));
            assert!(reader.buffered() <= 100 + 2 + READ_CHUNK);

            let (mut server, mut client) = tokio::io::duplex(1 << 16);
            server.write_all(&b"250-x\r\n".repeat(20)).await.unwrap();
            let mut reader = ReplyReader::new(100, 10);
            assert!(matches!(
                reader.read(&mut client).await,
                Err(ReadError::Reply(ReplyError::TooManyLines { limit: 10 }))
            ));
        });
    }
}
