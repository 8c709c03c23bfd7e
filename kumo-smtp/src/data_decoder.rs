//! The server's `DATA` framing: finds the one end of a message (`CRLF . CRLF`), removes
//! dot-stuffing, and refuses what could let two parties disagree about where a message ends.
//!
//! # Implementation
//!
//! A byte-driven state machine over the current line: at a line start, after a leading dot,
//! after that dot's CR, inside a line, after a CR. Only CR LF ends a line, and only a line
//! that is exactly `.` ends the message. A bare LF or bare CR anywhere (SMTP smuggling's
//! `\n.\n`, `\n.\r\n`, `\r.\r\n`, `\r\n.\r`), a NUL, a line longer than the limit, or more
//! than the size limit is a [`DataFault`]: the decoder keeps framing to the real end but
//! stores nothing more, so memory stays below the size limit whatever arrives. Runs of
//! ordinary bytes are found with `memchr3` and copied at once.

use std::fmt;

/// Why a message is refused once its end is found. The first fault is the one reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataFault {
    /// A CR not followed by LF, or an LF not preceded by CR.
    BareLineEnding,
    /// A NUL byte.
    Nul,
    /// A line longer than the line limit (without its CRLF).
    LineTooLong,
    /// More than the size limit, after dot-unstuffing.
    TooLarge,
}

impl fmt::Display for DataFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataFault::BareLineEnding => "bare CR or LF",
            DataFault::Nul => "NUL byte",
            DataFault::LineTooLong => "line too long",
            DataFault::TooLarge => "message too large",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (after CRLF, or the first byte of the data).
    LineStart,
    /// A line that began with `.`: the dot is not content.
    Dot,
    /// `.` then CR at a line start: an LF now ends the message.
    DotCr,
    /// Inside a line.
    Mid,
    /// After a CR inside a line.
    Cr,
}

/// Decodes one message's `DATA` bytes.
#[derive(Debug)]
pub(crate) struct DataDecoder {
    state: State,
    line_len: usize,
    max_line: usize,
    max_size: usize,
    out: Vec<u8>,
    /// Bytes of content seen (stored or not), for the log.
    seen: u64,
    fault: Option<DataFault>,
}

impl DataDecoder {
    /// A decoder for one message: lines of at most `max_line` bytes without CRLF, at most
    /// `max_size` bytes in all.
    pub(crate) fn new(max_line: usize, max_size: usize) -> Self {
        Self {
            state: State::LineStart,
            line_len: 0,
            max_line,
            max_size,
            out: Vec::new(),
            seen: 0,
            fault: None,
        }
    }

    /// Takes bytes from the wire. `Some(n)` when the message ended after the first `n`
    /// bytes of `input` (the rest belongs to the next command); `None` when all of `input`
    /// was taken and the message goes on.
    pub(crate) fn feed(&mut self, input: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Mid => {
                    let rest = &input[i..];
                    let run = memchr::memchr3(b'\r', b'\n', 0, rest).unwrap_or(rest.len());
                    self.content(&rest[..run]);
                    i += run;
                    let Some(&b) = input.get(i) else { break };
                    i += 1;
                    match b {
                        b'\r' => self.state = State::Cr,
                        b'\n' => self.bare_line_ending(),
                        _ => {
                            self.fail(DataFault::Nul);
                            self.content(&[b]);
                        }
                    }
                }
                State::LineStart => {
                    if input[i] == b'.' {
                        i += 1;
                        self.state = State::Dot;
                    } else {
                        self.state = State::Mid;
                    }
                }
                State::Dot => {
                    if input[i] == b'\r' {
                        i += 1;
                        self.state = State::DotCr;
                    } else {
                        // A stuffed dot: the byte after it is content (or a bare LF, a NUL:
                        // `Mid` judges it).
                        self.state = State::Mid;
                    }
                }
                State::DotCr => {
                    if input[i] == b'\n' {
                        self.state = State::LineStart;
                        return Some(i + 1);
                    }
                    // `.` CR then something else: a bare CR; the byte is judged in `Mid`.
                    self.fail(DataFault::BareLineEnding);
                    self.state = State::Mid;
                }
                State::Cr => {
                    if input[i] == b'\n' {
                        i += 1;
                        self.store(b"\r\n");
                        self.line_len = 0;
                        self.state = State::LineStart;
                    } else {
                        self.fail(DataFault::BareLineEnding);
                        self.state = State::Mid;
                    }
                }
            }
        }
        None
    }

    /// The message, once [`feed`](Self::feed) returned `Some`: its bytes after
    /// dot-unstuffing (every line ending in CRLF), or the first fault.
    pub(crate) fn finish(self) -> Result<Vec<u8>, DataFault> {
        match self.fault {
            None => Ok(self.out),
            Some(fault) => Err(fault),
        }
    }

    /// Content bytes seen so far (stored or not).
    pub(crate) fn seen(&self) -> u64 {
        self.seen
    }

    fn bare_line_ending(&mut self) {
        // Never a line start: only CRLF makes one, so `\n.\n` cannot end the message.
        self.fail(DataFault::BareLineEnding);
        self.line_len = 0;
        self.state = State::Mid;
    }

    /// Bytes inside a line.
    fn content(&mut self, bytes: &[u8]) {
        self.line_len = self.line_len.saturating_add(bytes.len());
        if self.line_len > self.max_line {
            self.fail(DataFault::LineTooLong);
        }
        self.store(bytes);
    }

    fn store(&mut self, bytes: &[u8]) {
        self.seen = self.seen.saturating_add(bytes.len() as u64);
        if self.fault.is_some() {
            return;
        }
        if self.out.len().saturating_add(bytes.len()) > self.max_size {
            self.fail(DataFault::TooLarge);
            return;
        }
        self.out.extend_from_slice(bytes);
    }

    fn fail(&mut self, fault: DataFault) {
        if self.fault.is_none() {
            self.fault = Some(fault);
            // Nothing of a refused message is kept.
            self.out = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `input` in chunks of `chunk` bytes; the decoder's verdict and the bytes left.
    fn decode(input: &[u8], chunk: usize) -> (Option<Result<Vec<u8>, DataFault>>, Vec<u8>) {
        let mut d = DataDecoder::new(998, 1000);
        let mut at = 0;
        while at < input.len() {
            let end = (at + chunk).min(input.len());
            if let Some(n) = d.feed(&input[at..end]) {
                return (Some(d.finish()), input[at + n..].to_vec());
            }
            at = end;
        }
        (None, Vec::new())
    }

    #[test]
    fn only_crlf_dot_crlf_ends_and_dots_are_unstuffed() {
        let (r, rest) = decode(b"a\r\n..b\r\n.c\r\n.\r\nQUIT\r\n", 1);
        assert_eq!(r, Some(Ok(b"a\r\n.b\r\nc\r\n".to_vec())));
        assert_eq!(rest, b"QUIT\r\n");
        assert_eq!(decode(b".\r\n", 3).0, Some(Ok(Vec::new())));
    }

    #[test]
    fn smuggling_sequences_never_end_the_message() {
        for smuggle in [
            &b"a\n.\nMAIL"[..],
            b"a\n.\r\nMAIL",
            b"a\r.\r\nMAIL",
            b"a\r\n.\rMAIL",
            b"a\r\n\x00.\r\nMAIL",
        ] {
            let mut input = smuggle.to_vec();
            input.extend_from_slice(b" FROM:<x@y>\r\n.\r\nNEXT");
            for chunk in [1, 2, 7, 1000] {
                let (r, rest) = decode(&input, chunk);
                assert!(
                    matches!(r, Some(Err(_))),
                    "{smuggle:?} in chunks of {chunk}"
                );
                assert_eq!(rest, b"NEXT", "{smuggle:?}");
            }
        }
        assert_eq!(
            decode(b"a\nb\r\n.\r\n", 4).0,
            Some(Err(DataFault::BareLineEnding))
        );
        assert_eq!(decode(b"a\x00b\r\n.\r\n", 4).0, Some(Err(DataFault::Nul)));
    }

    #[test]
    fn limits() {
        let long = [b"x".repeat(999), b"\r\n.\r\n".to_vec()].concat();
        assert_eq!(decode(&long, 64).0, Some(Err(DataFault::LineTooLong)));
        let big = [b"xx\r\n".repeat(300), b".\r\n".to_vec()].concat();
        assert_eq!(decode(&big, 64).0, Some(Err(DataFault::TooLarge)));
        let exact = [b"x".repeat(998), b"\r\n.\r\n".to_vec()].concat();
        assert_eq!(decode(&exact, 64).0.unwrap().unwrap().len(), 1000);
    }

    /// The oracle: dot-stuff a CRLF body, append the end; decoding gives the body back,
    /// whatever the chunking.
    fn stuff(body: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        for line in body.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                wire.push(b'.');
            }
            wire.extend_from_slice(line);
        }
        wire.extend_from_slice(b".\r\n");
        wire
    }

    proptest! {
        #[test]
        fn stuffed_bodies_round_trip(
            lines in proptest::collection::vec("[.a-z ]{0,20}", 0..20),
            chunk in 1usize..50,
        ) {
            let body: Vec<u8> = lines.iter().flat_map(|l| [l.as_bytes(), b"\r\n"].concat()).collect();
            let (r, rest) = decode(&stuff(&body), chunk);
            prop_assert_eq!(r, Some(Ok(body)));
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_stay_bounded(
            input in proptest::collection::vec(any::<u8>(), 0..3000),
            chunk in 1usize..100,
        ) {
            let mut d = DataDecoder::new(50, 200);
            for part in input.chunks(chunk) {
                if d.feed(part).is_some() {
                    break;
                }
                prop_assert!(d.out.len() <= 200);
            }
        }
    }
}
