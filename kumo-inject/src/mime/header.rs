//! Header field writers: folding at 78 columns, RFC 2047 encoded words for anything that is not
//! plain printable ASCII, mailboxes with quoted or encoded display names. Every line they write
//! ends in CRLF and stays within 998 octets.

use base64::Engine as _;

/// Lines are folded to stay within this many characters where whitespace allows.
const FOLD: usize = 78;

/// Whether an unstructured value can be written as folded ASCII text (otherwise it is written as
/// encoded words, which carry any text exactly). `max_word` keeps the longest unbreakable word,
/// with the field name in front of it, within 998 octets.
fn plain_ascii(value: &str, max_word: usize) -> bool {
    let b = value.as_bytes();
    !b.is_empty()
        && b.iter().all(|&c| (0x20..=0x7e).contains(&c))
        && b[0] != b' '
        && b[b.len() - 1] != b' '
        && memchr::memmem::find(b, b"=?").is_none()
        && memchr::memmem::find(b, b"  ").is_none()
        && value.split(' ').all(|w| w.len() <= max_word)
}

/// Writes `Name: value` where `value` is unstructured text (RFC 5322 3.2.5). The caller has
/// already refused CR, LF and NUL in `value`.
pub(crate) fn write_unstructured(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    let col = name.len() + 2;
    if value.is_empty() {
        // Nothing to fold; the single space keeps the field well formed.
    } else if plain_ascii(value, 996usize.saturating_sub(col)) {
        fold_words(out, value, col);
    } else {
        encoded_words(out, value, col);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes ASCII text folded at spaces. Returns the column after the last character.
fn fold_words(out: &mut Vec<u8>, value: &str, start: usize) -> usize {
    let mut col = start;
    for (i, word) in value.split(' ').enumerate() {
        if i > 0 {
            if col + 1 + word.len() > FOLD && col > start {
                out.extend_from_slice(b"\r\n");
                col = 0;
            }
            out.push(b' ');
            col += 1;
        }
        out.extend_from_slice(word.as_bytes());
        col += word.len();
    }
    col
}

/// Writes `text` as one or more RFC 2047 `B` encoded words, folding between them; each word
/// holds whole UTF-8 characters. Returns the column after the last word.
pub(crate) fn encoded_words(out: &mut Vec<u8>, text: &str, start: usize) -> usize {
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut rest = text;
    let mut col = start;
    let mut first = true;
    while !rest.is_empty() {
        if !first {
            out.extend_from_slice(b"\r\n ");
            col = 1;
        }
        // `=?utf-8?b?` + payload + `?=` within 76 columns, and at least 12 bytes per word.
        let room = 76usize.saturating_sub(col + 12);
        let mut n = (room / 4 * 3).clamp(12, 45).min(rest.len());
        while !rest.is_char_boundary(n) {
            n -= 1;
        }
        let (chunk, tail) = rest.split_at(n);
        out.extend_from_slice(b"=?utf-8?b?");
        let at = out.len();
        let len = base64::encoded_len(chunk.len(), true).unwrap_or(0);
        out.resize(at + len, 0);
        let written = engine.encode_slice(chunk, &mut out[at..]).unwrap_or(0);
        out.truncate(at + written);
        out.extend_from_slice(b"?=");
        col += 12 + written;
        rest = tail;
        first = false;
    }
    col
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// Writes a display name and address (`Name <addr>`), choosing atoms, a quoted string or
/// encoded words for the name. Returns the column after the mailbox.
pub(crate) fn mailbox(out: &mut Vec<u8>, display: Option<&str>, addr: &str, start: usize) -> usize {
    let display = display.filter(|d| !d.is_empty());
    let Some(name) = display else {
        out.extend_from_slice(addr.as_bytes());
        return start + addr.len();
    };
    let b = name.as_bytes();
    let simple = b.len() <= 64
        && b[0] != b' '
        && b[b.len() - 1] != b' '
        && memchr::memmem::find(b, b"  ").is_none();
    let mut col = start;
    if simple && b.iter().all(|&c| is_atext(c) || c == b' ') {
        out.extend_from_slice(b);
        col += b.len();
    } else if simple && b.iter().all(|&c| (0x20..=0x7e).contains(&c)) && !name.contains("=?") {
        out.push(b'"');
        for &c in b {
            if c == b'"' || c == b'\\' {
                out.push(b'\\');
            }
            out.push(c);
        }
        out.push(b'"');
        col += b.len() + 2;
    } else {
        col = encoded_words(out, name, col);
    }
    if col + 3 + addr.len() > FOLD {
        out.extend_from_slice(b"\r\n");
        col = 0;
    }
    out.extend_from_slice(b" <");
    out.extend_from_slice(addr.as_bytes());
    out.push(b'>');
    col + 3 + addr.len()
}

/// Writes `Name: mailbox`.
pub(crate) fn write_mailbox(out: &mut Vec<u8>, name: &str, display: Option<&str>, addr: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    mailbox(out, display, addr, name.len() + 2);
    out.extend_from_slice(b"\r\n");
}

/// One mailbox of a header's address list: `(display name, address)`.
pub(crate) type Mailbox<'a> = (Option<String>, &'a str);

/// Splits a simple address list (`Name <a@b>, "Q, N" <c@d>, e@f`) into mailboxes. Returns `None`
/// when the text is not such a list (groups, comments and unbalanced quotes are not accepted).
pub(crate) fn parse_address_list(value: &str) -> Option<Vec<Mailbox<'_>>> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut angle = false;
    let mut escaped = false;
    let bytes = value.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            b'\\' if quoted => escaped = true,
            b'"' if !angle => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                items.push(&value[start..i]);
                start = i + 1;
            }
            b'(' | b')' | b';' if !quoted => return None,
            _ => {}
        }
    }
    if quoted || angle {
        return None;
    }
    items.push(&value[start..]);
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            return None;
        }
        if let Some(lt) = item.rfind('<') {
            let addr = item[lt + 1..].strip_suffix('>')?.trim();
            let name = item[..lt].trim();
            let name = match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
                Some(q) => {
                    let mut s = String::with_capacity(q.len());
                    let mut esc = false;
                    for ch in q.chars() {
                        if esc || ch != '\\' {
                            s.push(ch);
                            esc = false;
                        } else {
                            esc = true;
                        }
                    }
                    s
                }
                None => name.to_owned(),
            };
            out.push(((!name.is_empty()).then_some(name), addr));
        } else {
            out.push((None, item));
        }
    }
    Some(out)
}

/// Writes `Name: a, b, c` from parsed mailboxes, folding between them.
pub(crate) fn write_address_list(out: &mut Vec<u8>, name: &str, list: &[Mailbox<'_>]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    let mut col = name.len() + 2;
    for (i, (display, addr)) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
            out.extend_from_slice(b"\r\n ");
            col = 1;
        }
        col = mailbox(out, display.as_deref(), addr, col);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes a MIME parameter (`; name="value"`), using RFC 2231 (`name*=utf-8''...`, continued
/// over several lines when long) for values that are not short printable ASCII.
pub(crate) fn write_param(out: &mut Vec<u8>, name: &str, value: &str) {
    let plain = value.len() <= 60
        && value
            .bytes()
            .all(|c| (0x20..=0x7e).contains(&c) && c != b'"' && c != b'\\');
    if plain {
        out.extend_from_slice(b";\r\n\t");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
        return;
    }
    let mut enc = String::with_capacity(value.len() * 3);
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push('%');
            enc.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            enc.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        }
    }
    // Pieces of at most 48 characters, never splitting a %XX escape.
    let mut pieces = Vec::new();
    let mut rest = enc.as_str();
    while !rest.is_empty() {
        let mut n = rest.len().min(48);
        if let Some(p) = rest[..n]
            .rfind('%')
            .filter(|&p| n < rest.len() && p + 3 > n)
        {
            n = p;
        }
        pieces.push(&rest[..n]);
        rest = &rest[n..];
    }
    if pieces.len() <= 1 {
        out.extend_from_slice(b";\r\n\t");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"*=utf-8''");
        out.extend_from_slice(enc.as_bytes());
        return;
    }
    for (i, piece) in pieces.iter().enumerate() {
        out.extend_from_slice(b";\r\n\t");
        out.extend_from_slice(name.as_bytes());
        out.push(b'*');
        let mut buf = itoa::Buffer::new();
        out.extend_from_slice(buf.format(i).as_bytes());
        out.extend_from_slice(b"*=");
        if i == 0 {
            out.extend_from_slice(b"utf-8''");
        }
        out.extend_from_slice(piece.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn no_line_over_998_even_with_a_long_name_and_word() {
        let name = "X-".to_owned() + &"n".repeat(198);
        for len in [790, 796, 797, 900, 2000] {
            let mut v = Vec::new();
            write_unstructured(&mut v, &name, &"w".repeat(len));
            assert!(s(v).split("\r\n").all(|l| l.len() <= 998), "{len}");
        }
    }

    #[test]
    fn short_ascii_subject_is_plain() {
        let mut v = Vec::new();
        write_unstructured(&mut v, "Subject", "Hello world");
        assert_eq!(s(v), "Subject: Hello world\r\n");
    }

    #[test]
    fn long_ascii_subject_folds_at_spaces() {
        let mut v = Vec::new();
        let text = "word ".repeat(40);
        let text = text.trim_end();
        write_unstructured(&mut v, "Subject", text);
        let out = s(v);
        assert!(out.split("\r\n").all(|l| l.len() <= 78), "{out}");
        assert_eq!(
            out.replace("\r\n", "").trim_end(),
            format!("Subject: {text}")
        );
    }

    #[test]
    fn utf8_subject_uses_encoded_words_on_char_boundaries() {
        let mut v = Vec::new();
        write_unstructured(&mut v, "Subject", &"👋 héllo — ".repeat(20));
        let out = s(v);
        assert!(out.split("\r\n").all(|l| l.len() <= 78), "{out}");
        assert!(out.starts_with("Subject: =?utf-8?b?"));
    }

    #[test]
    fn display_names() {
        let mut v = Vec::new();
        mailbox(&mut v, Some("John Smith"), "j@x.org", 4);
        assert_eq!(s(v), "John Smith <j@x.org>");
        let mut v = Vec::new();
        mailbox(&mut v, Some("Smith, John \"JJ\" @ work"), "j@x.org", 4);
        assert_eq!(s(v), "\"Smith, John \\\"JJ\\\" @ work\" <j@x.org>");
        let mut v = Vec::new();
        mailbox(&mut v, Some("Jöhn"), "j@x.org", 4);
        assert!(s(v).starts_with("=?utf-8?b?"));
    }

    #[test]
    fn address_lists() {
        let l = parse_address_list("\"Smith, J\" <a@b.c>, d@e.f, Zoë <g@h.i>").unwrap();
        assert_eq!(l[0], (Some("Smith, J".to_owned()), "a@b.c"));
        assert_eq!(l[1], (None, "d@e.f"));
        assert_eq!(l[2], (Some("Zoë".to_owned()), "g@h.i"));
        assert!(parse_address_list("a (comment) <b@c>").is_none());
        assert!(parse_address_list("\"open <a@b>").is_none());
    }

    #[test]
    fn rfc2231_params() {
        let mut v = Vec::new();
        write_param(&mut v, "filename", "résumé.pdf");
        assert_eq!(s(v), ";\r\n\tfilename*=utf-8''r%C3%A9sum%C3%A9.pdf");
        let mut v = Vec::new();
        write_param(&mut v, "filename", &"é".repeat(40));
        let out = s(v);
        assert!(out.contains("filename*0*=utf-8''") && out.contains("filename*1*="));
        assert!(out.split("\r\n").all(|l| l.len() <= 78));
    }
}
