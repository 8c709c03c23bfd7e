//! The server's input buffer: bytes read from the client, cut into bounded command lines, or
//! handed to the `DATA` decoder.
//!
//! # Implementation
//!
//! Bytes are read in chunks of [`READ_CHUNK`] only when no complete line is buffered, so the
//! buffer holds at most one line's limit plus one chunk. A line over the limit is dropped as
//! it arrives (the bytes up to its LF are discarded, never stored), and reported once.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// How much is asked of the stream per read.
pub(crate) const READ_CHUNK: usize = 8192;

/// What the buffer holds next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A complete line, LF included (its bytes: [`Inbound::take_line`]).
    Complete(usize),
    /// A line over the limit: its bytes so far are dropped, and so will be the rest of it.
    TooLong,
    /// No complete line: read more.
    Incomplete,
}

/// The bytes received and not yet used.
#[derive(Debug)]
pub(crate) struct Inbound {
    buf: Vec<u8>,
    /// Dropping the rest of an over-long line, up to its LF.
    skipping: bool,
}

impl Inbound {
    pub(crate) fn new() -> Self {
        Self {
            buf: Vec::with_capacity(READ_CHUNK),
            skipping: false,
        }
    }

    /// Bytes buffered.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Forgets everything buffered.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.skipping = false;
    }

    /// The next line of at most `max` bytes (CRLF included).
    pub(crate) fn next_line(&mut self, max: usize) -> Line {
        if self.skipping {
            match memchr::memchr(b'\n', &self.buf) {
                Some(lf) => {
                    self.buf.drain(..=lf);
                    self.skipping = false;
                }
                None => {
                    self.buf.clear();
                    return Line::Incomplete;
                }
            }
        }
        let window = &self.buf[..self.buf.len().min(max)];
        match memchr::memchr(b'\n', window) {
            Some(lf) => Line::Complete(lf + 1),
            None if self.buf.len() >= max => {
                // No LF in the first `max` bytes: drop them; the rest of the line goes on
                // the next call, up to its LF.
                self.buf.drain(..max);
                self.skipping = true;
                Line::TooLong
            }
            None => Line::Incomplete,
        }
    }

    /// Removes and returns the first `len` bytes (a [`Line::Complete`]).
    pub(crate) fn take_line(&mut self, len: usize) -> Vec<u8> {
        self.buf.drain(..len).collect()
    }

    /// Runs `f` on the buffered bytes; it returns how many it used, which are removed.
    pub(crate) fn consume(&mut self, f: impl FnOnce(&[u8]) -> usize) {
        let n = f(&self.buf).min(self.buf.len());
        self.buf.drain(..n);
    }

    /// Reads one chunk from the stream; the number of bytes read (0 at end of stream).
    pub(crate) async fn read_from<S: AsyncRead + Unpin + ?Sized>(
        &mut self,
        stream: &mut S,
    ) -> io::Result<usize> {
        self.buf.reserve(READ_CHUNK);
        stream.take(READ_CHUNK as u64).read_buf(&mut self.buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_dropped_to_their_end() {
        let mut inbound = Inbound::new();
        inbound.buf.extend_from_slice(&[b'x'; 100]);
        assert_eq!(inbound.next_line(10), Line::TooLong);
        assert_eq!(inbound.next_line(10), Line::Incomplete);
        assert_eq!(inbound.len(), 0);
        inbound.buf.extend_from_slice(b"xxxx\r\nNOOP\r\n");
        assert_eq!(inbound.next_line(10), Line::Complete(6));
        assert_eq!(inbound.take_line(6), b"NOOP\r\n");
        assert_eq!(inbound.next_line(10), Line::Incomplete);
        // A line of exactly the limit is complete; one byte more is not.
        inbound.buf.extend_from_slice(b"12345678\r\n");
        assert_eq!(inbound.next_line(10), Line::Complete(10));
        inbound.clear();
        inbound.buf.extend_from_slice(b"123456789\r\nNOOP\r\n");
        assert_eq!(inbound.next_line(10), Line::TooLong);
        assert_eq!(inbound.next_line(10), Line::Complete(6));
    }
}
