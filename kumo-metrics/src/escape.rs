//! Escaping and number formatting shared by the writers.

use bytes::{BufMut, BytesMut};

/// Appends a label value escaped for the text formats: `\` → `\\`, `"` → `\"`, LF → `\n`.
#[inline]
pub(crate) fn label_value(buf: &mut BytesMut, v: &str) {
    let b = v.as_bytes();
    if memchr::memchr3(b'\\', b'"', b'\n', b).is_none() {
        buf.put_slice(b);
        return;
    }
    escape_with(buf, b, |c| match c {
        b'\\' => Some(b"\\\\"),
        b'"' => Some(b"\\\""),
        b'\n' => Some(b"\\n"),
        _ => None,
    });
}

/// Appends HELP text escaped: `\` and LF always, `"` too for OpenMetrics.
pub(crate) fn help(buf: &mut BytesMut, v: &str, quote: bool) {
    escape_with(buf, v.as_bytes(), |c| match c {
        b'\\' => Some(b"\\\\"),
        b'"' if quote => Some(b"\\\""),
        b'\n' => Some(b"\\n"),
        _ => None,
    });
}

/// Appends a JSON string literal, quotes included.
#[inline]
pub(crate) fn json_string(buf: &mut BytesMut, v: &str) {
    buf.put_u8(b'"');
    let b = v.as_bytes();
    if b.iter().all(|&c| c >= 0x20 && c != b'"' && c != b'\\') {
        buf.put_slice(b);
    } else {
        let mut start = 0;
        for (i, &c) in b.iter().enumerate() {
            let esc: &[u8] = match c {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..0x20 => {
                    buf.put_slice(&b[start..i]);
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    buf.put_slice(b"\\u00");
                    buf.put_u8(HEX[usize::from(c >> 4)]);
                    buf.put_u8(HEX[usize::from(c & 15)]);
                    start = i + 1;
                    continue;
                }
                _ => continue,
            };
            buf.put_slice(&b[start..i]);
            buf.put_slice(esc);
            start = i + 1;
        }
        buf.put_slice(&b[start..]);
    }
    buf.put_u8(b'"');
}

fn escape_with(buf: &mut BytesMut, b: &[u8], f: impl Fn(u8) -> Option<&'static [u8]>) {
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if let Some(e) = f(c) {
            buf.put_slice(&b[start..i]);
            buf.put_slice(e);
            start = i + 1;
        }
    }
    buf.put_slice(&b[start..]);
}

#[inline]
pub(crate) fn u64(buf: &mut BytesMut, v: u64) {
    buf.put_slice(itoa::Buffer::new().format(v).as_bytes());
}

#[inline]
pub(crate) fn i64(buf: &mut BytesMut, v: i64) {
    buf.put_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a float as Prometheus spells it: `NaN`, `+Inf`, `-Inf`, integers without a fraction,
/// others in the shortest form that reads back to the same `f64`.
pub(crate) fn f64(buf: &mut BytesMut, v: f64) {
    if v.is_nan() {
        buf.put_slice(b"NaN");
    } else if v.is_infinite() {
        buf.put_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        finite_f64(buf, v);
    }
}

/// Appends a float as JSON: `null` when it is not finite.
pub(crate) fn json_f64(buf: &mut BytesMut, v: f64) {
    if v.is_finite() {
        finite_f64(buf, v);
    } else {
        buf.put_slice(b"null");
    }
}

fn finite_f64(buf: &mut BytesMut, v: f64) {
    // -0.0 takes the ryu path ("-0.0") so that its sign survives a round trip.
    if v == v.trunc() && v.abs() < 1e15 && !(v == 0.0 && v.is_sign_negative()) {
        i64(buf, v as i64);
    } else {
        buf.put_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut BytesMut)) -> String {
        let mut b = BytesMut::new();
        f(&mut b);
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn escapes() {
        assert_eq!(s(|b| label_value(b, "a\"b\\c\nd")), r#"a\"b\\c\nd"#);
        assert_eq!(s(|b| help(b, "a\"b\\\n", false)), "a\"b\\\\\\n");
        assert_eq!(s(|b| help(b, "a\"", true)), "a\\\"");
        assert_eq!(
            s(|b| json_string(b, "q\"\\\n\u{1}é")),
            "\"q\\\"\\\\\\n\\u0001é\""
        );
    }

    #[test]
    fn floats() {
        assert_eq!(s(|b| f64(b, f64::NAN)), "NaN");
        assert_eq!(s(|b| f64(b, f64::INFINITY)), "+Inf");
        assert_eq!(s(|b| f64(b, f64::NEG_INFINITY)), "-Inf");
        assert_eq!(s(|b| f64(b, -1.0)), "-1");
        assert_eq!(s(|b| f64(b, 0.25)), "0.25");
        assert_eq!(s(|b| f64(b, 1e300)), "1e300");
        assert_eq!(s(|b| json_f64(b, f64::NAN)), "null");
        assert_eq!(s(|b| f64(b, -0.0)), "-0.0");
    }
}
