//! The message body on the wire: CRLF normalisation and dot-stuffing (RFC 5321 §4.5.2).
//!
//! # Implementation
//!
//! [`BodyEncoder`] is a streaming state machine, so a body is encoded block by block without
//! a second copy of the whole message. Every line ending becomes CRLF: CRLF stays as it is, a
//! bare LF or a bare CR becomes CRLF (a bare CR or LF next to a dot is how SMTP smuggling
//! hides a second message, so none reaches the wire). A line that begins with `.` gets one
//! more. A body that already uses CRLF and ends with one is stored by the receiver exactly as
//! given.

/// Encodes a body for the wire, block by block.
#[derive(Debug)]
pub(crate) struct BodyEncoder {
    /// The next byte starts a line.
    line_start: bool,
    /// The last input byte was a CR whose line ending is not written yet.
    pending_cr: bool,
}

impl BodyEncoder {
    pub(crate) fn new() -> Self {
        Self {
            line_start: true,
            pending_cr: false,
        }
    }

    /// Appends the wire form of `input` (the next part of the body) to `out`.
    pub(crate) fn encode(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32 + 8);
        while !input.is_empty() {
            if self.pending_cr {
                self.pending_cr = false;
                out.extend_from_slice(b"\r\n");
                self.line_start = true;
                if input[0] == b'\n' {
                    input = &input[1..];
                    continue;
                }
            }
            if self.line_start && input[0] == b'.' {
                out.push(b'.');
            }
            match memchr::memchr2(b'\r', b'\n', input) {
                Some(i) => {
                    out.extend_from_slice(&input[..i]);
                    if input[i] == b'\r' {
                        self.pending_cr = true;
                        self.line_start = false;
                    } else {
                        out.extend_from_slice(b"\r\n");
                        self.line_start = true;
                    }
                    input = &input[i + 1..];
                }
                None => {
                    out.extend_from_slice(input);
                    self.line_start = false;
                    input = &[];
                }
            }
        }
    }

    /// Appends the end of the body: a CRLF if the body did not end with a line ending, then
    /// the final `.` CRLF.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if self.pending_cr || !self.line_start {
            out.extend_from_slice(b"\r\n");
        }
        self.pending_cr = false;
        self.line_start = true;
        out.extend_from_slice(b".\r\n");
    }
}

/// The body's size after CRLF normalisation (what `SIZE=` declares, RFC 1870: dot-stuffing
/// and the final dot not counted).
pub(crate) fn normalized_size(data: &[u8]) -> u64 {
    let mut size = data.len() as u64;
    for i in memchr::memchr2_iter(b'\r', b'\n', data) {
        let bare = match data[i] {
            b'\n' => i == 0 || data[i - 1] != b'\r',
            _ => data.get(i + 1) != Some(&b'\n'),
        };
        size += u64::from(bare);
    }
    if !data.is_empty() && !data.ends_with(b"\n") && !data.ends_with(b"\r") {
        size += 2;
    }
    size
}

/// `true` when the body has a byte above 127 (needs `BODY=8BITMIME`).
pub(crate) fn is_8bit(data: &[u8]) -> bool {
    !data.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn wire(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = BodyEncoder::new();
        e.encode(input, &mut out);
        e.finish(&mut out);
        out
    }

    /// What a receiver stores (RFC 5321 §4.5.2): lines up to `.` CRLF, one leading dot off.
    fn receive(wire: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = wire;
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n")? + 2;
            let line = &rest[..end];
            rest = &rest[end..];
            if line == b".\r\n" {
                return rest.is_empty().then_some(out);
            }
            out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        }
    }

    /// The simple oracle: normalise line endings, then stuff dots line by line.
    fn normalize(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < input.len() {
            match input[i] {
                b'\r' if input.get(i + 1) == Some(&b'\n') => {
                    out.extend_from_slice(b"\r\n");
                    i += 2;
                    continue;
                }
                b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
                b => out.push(b),
            }
            i += 1;
        }
        if !out.is_empty() && !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    #[test]
    fn examples() {
        assert_eq!(wire(b""), b".\r\n");
        assert_eq!(wire(b"a\r\n"), b"a\r\n.\r\n");
        assert_eq!(wire(b"a"), b"a\r\n.\r\n");
        assert_eq!(wire(b".\r\n..\r\n.a"), b"..\r\n...\r\n..a\r\n.\r\n");
        assert_eq!(wire(b"a\n.\nb\r"), b"a\r\n..\r\nb\r\n.\r\n");
        // The smuggling sequences never reach the wire as they are.
        assert_eq!(wire(b"x\n.\ny"), b"x\r\n..\r\ny\r\n.\r\n");
        assert_eq!(wire(b"x\r.\r\ny"), b"x\r\n..\r\ny\r\n.\r\n");
    }

    proptest! {
        #[test]
        fn any_split_round_trips(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'.'), Just(b'a'), any::<u8>()],
                0..200,
            ),
            split in 0usize..200,
        ) {
            let split = split.min(input.len());
            let mut out = Vec::new();
            let mut e = BodyEncoder::new();
            e.encode(&input[..split], &mut out);
            e.encode(&input[split..], &mut out);
            e.finish(&mut out);
            prop_assert_eq!(&out, &wire(&input));
            let expected = normalize(&input);
            prop_assert_eq!(receive(&out), Some(expected.clone()));
            prop_assert_eq!(normalized_size(&input), expected.len() as u64);
            if input.windows(2).all(|w| (w[0] == b'\r') == (w[1] == b'\n'))
                && input.first() != Some(&b'\n')
                && input.ends_with(b"\r\n")
            {
                prop_assert_eq!(expected, input);
            }
        }
    }
}
