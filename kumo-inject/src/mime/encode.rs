//! Body transfer encodings: 7bit passthrough, quoted-printable and base64, all with CRLF.

use base64::Engine as _;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The transfer encoding chosen for a text body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextEncoding {
    /// ASCII, lines within 998 octets, written as is (line ends normalised to CRLF).
    SevenBit,
    /// Anything else.
    QuotedPrintable,
}

impl TextEncoding {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TextEncoding::SevenBit => "7bit",
            TextEncoding::QuotedPrintable => "quoted-printable",
        }
    }
}

/// Chooses 7bit when the text is plain ASCII (no control characters but TAB and line ends),
/// every line fits in 998 octets, and it cannot contain a MIME boundary (`=_`); otherwise
/// quoted-printable.
pub(crate) fn choose(text: &str) -> TextEncoding {
    if !text.is_ascii() {
        return TextEncoding::QuotedPrintable;
    }
    let mut line = 0usize;
    let bytes = text.as_bytes();
    for &b in bytes {
        match b {
            b'\n' | b'\r' => line = 0,
            b'\t' | 0x20..=0x7e => {
                line += 1;
                if line > 998 {
                    return TextEncoding::QuotedPrintable;
                }
            }
            _ => return TextEncoding::QuotedPrintable,
        }
    }
    if memchr::memmem::find(bytes, b"=_").is_some() {
        return TextEncoding::QuotedPrintable;
    }
    TextEncoding::SevenBit
}

/// Calls `f` with each line of `text` (without its line end) and whether a line end followed it.
/// CRLF, a bare LF and a bare CR each count as one line end.
fn for_each_line(text: &[u8], mut f: impl FnMut(&[u8], bool)) {
    let mut rest = text;
    loop {
        match memchr::memchr2(b'\r', b'\n', rest) {
            Some(i) => {
                f(&rest[..i], true);
                let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[i + skip..];
            }
            None => {
                f(rest, false);
                return;
            }
        }
    }
}

/// Writes `text` with every line end as CRLF.
pub(crate) fn write_crlf(out: &mut Vec<u8>, text: &[u8]) {
    out.reserve(text.len() + text.len() / 32);
    for_each_line(text, |line, eol| {
        out.extend_from_slice(line);
        if eol {
            out.extend_from_slice(b"\r\n");
        }
    });
}

/// Bytes written as themselves in quoted-printable (space and tab too, except at a line end).
const QP_LITERAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x21;
    while b <= 0x7e {
        t[b] = b != b'=' as usize;
        b += 1;
    }
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t
};

/// Writes `text` as quoted-printable (RFC 2045 6.7): lines of at most 76 characters, line ends
/// as hard CRLF breaks, trailing whitespace encoded.
///
/// # Implementation
///
/// Runs of literal bytes are found with a table and copied in one piece, split only where a soft
/// line break is due; only the bytes that need `=XX` go one at a time.
pub(crate) fn write_qp(out: &mut Vec<u8>, text: &[u8]) {
    out.reserve(text.len() + text.len() / 8);
    for_each_line(text, |line, eol| {
        qp_line(out, line);
        if eol {
            out.extend_from_slice(b"\r\n");
        }
    });
}

/// Whether all eight bytes are in 0x20..=0x7e and none is `=` (SWAR, no branches per byte).
#[inline]
fn plain8(chunk: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut b = [0u8; 8];
    b.copy_from_slice(chunk);
    let x = u64::from_le_bytes(b);
    // A byte below 0x20, at or above 0x7f (incl. 0x80..), or equal to '=' makes its high bit set.
    let below = x.wrapping_sub(ONES * 0x20) & !x;
    // Adding 1 lifts 0x7f to 0x80; bytes at or above 0x80 already have the bit.
    let above = x.wrapping_add(ONES) | x;
    let eq = x ^ (ONES * u64::from(b'='));
    let is_eq = eq.wrapping_sub(ONES) & !eq;
    (below | above | is_eq) & HIGH == 0
}

fn qp_line(out: &mut Vec<u8>, line: &[u8]) {
    let n = line.len();
    let mut col = 0usize;
    let mut i = 0;
    while i < n {
        let mut j = i;
        // Eight bytes at a time while they are all plain (0x20..=0x7e, no '='), then bytewise.
        while j + 8 <= n && plain8(&line[j..j + 8]) {
            j += 8;
        }
        while j < n && QP_LITERAL[line[j] as usize] {
            j += 1;
        }
        if j == n && j > i && matches!(line[j - 1], b' ' | b'\t') {
            j -= 1;
        }
        while i < j {
            let rest = j - i;
            // Keep a column for the soft break `=`, unless this piece ends the line.
            let room = 75 - col;
            if rest <= room || (j == n && rest == room + 1) {
                out.extend_from_slice(&line[i..j]);
                col += rest;
                i = j;
            } else {
                out.extend_from_slice(&line[i..i + room]);
                out.extend_from_slice(b"=\r\n");
                col = 0;
                i += room;
            }
        }
        if i < n {
            let b = line[i];
            let limit = if i + 1 == n { 76 } else { 75 };
            if col + 3 > limit {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            out.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            col += 3;
            i += 1;
        }
    }
}

/// Writes `data` as base64 in lines of 76 characters, each ending in CRLF.
pub(crate) fn write_base64(out: &mut Vec<u8>, data: &[u8]) {
    let engine = &base64::engine::general_purpose::STANDARD;
    let lines = data.len().div_ceil(57);
    let start = out.len();
    out.resize(start + lines * 78, 0);
    let mut at = start;
    for chunk in data.chunks(57) {
        let n = engine
            .encode_slice(chunk, &mut out[at..at + 76])
            .unwrap_or(0);
        at += n;
        out[at] = b'\r';
        out[at + 1] = b'\n';
        at += 2;
    }
    out.truncate(at);
}

#[cfg(test)]
#[path = "../../tests/it/support/qp.rs"]
mod qp_oracle;

#[cfg(test)]
mod tests {
    use super::qp_oracle::decode as qp_decode;
    use super::*;

    fn qp(s: &str) -> String {
        let mut v = Vec::new();
        write_qp(&mut v, s.as_bytes());
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn qp_examples() {
        assert_eq!(qp("a=b"), "a=3Db");
        assert_eq!(qp("end \nnext\t"), "end=20\r\nnext=09");
        assert_eq!(qp("é"), "=C3=A9");
        let long = "x".repeat(200);
        let enc = qp(&long);
        assert!(enc.split("\r\n").all(|l| l.len() <= 76));
        assert_eq!(qp_decode(enc.as_bytes()), long.as_bytes());
    }

    #[test]
    fn plain8_matches_the_table() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut chunk = *b"abcdefgh";
                chunk[pos] = b;
                let want = (0x20..=0x7e).contains(&b) && b != b'=';
                assert_eq!(plain8(&chunk), want, "byte {b:#x} at {pos}");
            }
        }
    }

    #[test]
    fn choose_encoding() {
        assert_eq!(choose("hello\nworld"), TextEncoding::SevenBit);
        assert_eq!(choose("héllo"), TextEncoding::QuotedPrintable);
        assert_eq!(choose("a=_b"), TextEncoding::QuotedPrintable);
        assert_eq!(choose(&"x".repeat(999)), TextEncoding::QuotedPrintable);
    }

    #[test]
    fn base64_lines() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut v = Vec::new();
        write_base64(&mut v, &data);
        let s = String::from_utf8(v).unwrap();
        assert!(s.ends_with("\r\n"));
        let joined: String = s.split("\r\n").collect();
        assert!(s.split("\r\n").all(|l| l.len() <= 76));
        let back = base64::engine::general_purpose::STANDARD
            .decode(joined)
            .unwrap();
        assert_eq!(back, data);
    }

    proptest::proptest! {
        #[test]
        fn qp_round_trips(s in "(?s).{0,400}") {
            let enc = qp(&s);
            for line in enc.split("\r\n") {
                proptest::prop_assert!(line.len() <= 76);
                proptest::prop_assert!(!line.ends_with(' ') && !line.ends_with('\t'));
            }
            // Line ends come back as CRLF.
            let mut want = Vec::new();
            write_crlf(&mut want, s.as_bytes());
            proptest::prop_assert_eq!(qp_decode(enc.as_bytes()), want);
        }
    }
}
