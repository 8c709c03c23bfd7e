//! A simple quoted-printable decoder, the oracle of the encoder's property tests (the crate's
//! unit tests include this file too).

/// Decodes quoted-printable `s`: `=XX` escapes and `=\r\n` soft line breaks.
///
/// # Panics
///
/// On input the encoder never writes (a truncated or non-hex escape).
pub(crate) fn decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'=' {
            if s[i + 1] == b'\r' {
                i += 3;
                continue;
            }
            let h = std::str::from_utf8(&s[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(h, 16).unwrap());
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}
