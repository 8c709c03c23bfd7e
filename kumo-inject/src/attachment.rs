//! Attachments decoded, validated and MIME-encoded once per batch; every message of the batch
//! splices the same encoded bytes.

use crate::error::AttachmentError;
use crate::mime::{encode, header};
use crate::model::Attachment;
use base64::Engine as _;

/// An attachment ready to splice: its part headers, a blank line and its base64 body.
#[derive(Debug, Clone)]
pub(crate) struct EncodedPart {
    pub(crate) bytes: Vec<u8>,
    pub(crate) inline: bool,
}

fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `type/subtype` followed by optional `; params` in printable ASCII.
fn valid_content_type(ct: &str) -> bool {
    let (essence, params) = ct.split_once(';').unwrap_or((ct, ""));
    let Some((t, s)) = essence.trim().split_once('/') else {
        return false;
    };
    valid_token(t)
        && valid_token(s)
        && ct.len() <= 500
        && params
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) || b == b'\t')
}

pub(crate) fn encode_part(a: &Attachment, max: usize) -> Result<EncodedPart, AttachmentError> {
    let ct = a.content_type.trim();
    if !valid_content_type(ct) {
        return Err(AttachmentError::ContentType);
    }
    let decoded;
    let data: &[u8] = if a.base64 {
        let compact: Vec<u8> = a
            .data
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        decoded = base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .map_err(|_| AttachmentError::Base64)?;
        &decoded
    } else {
        a.data.as_bytes()
    };
    if data.len() > max {
        return Err(AttachmentError::TooLarge { limit: max });
    }
    let cid = match &a.content_id {
        Some(id) => {
            let id = id.trim();
            let id = id
                .strip_prefix('<')
                .and_then(|i| i.strip_suffix('>'))
                .unwrap_or(id);
            if id.is_empty()
                || id.len() > 200
                || !id
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b'<' && b != b'>')
            {
                return Err(AttachmentError::ContentId);
            }
            Some(id)
        }
        None => None,
    };
    let lower = ct.to_ascii_lowercase();
    let mut out = Vec::with_capacity(data.len() * 4 / 3 + data.len() / 38 + 300);
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(ct.as_bytes());
    if !a.base64 && lower.starts_with("text/") && !lower.contains("charset=") {
        out.extend_from_slice(b";\r\n\tcharset=\"utf-8\"");
    }
    if let Some(name) = a.file_name.as_ref().filter(|_| !lower.contains("name=")) {
        header::write_param(&mut out, "name", name);
    }
    out.extend_from_slice(b"\r\nContent-Transfer-Encoding: base64\r\n");
    out.extend_from_slice(if cid.is_some() {
        b"Content-Disposition: inline" as &[u8]
    } else {
        b"Content-Disposition: attachment"
    });
    if let Some(name) = &a.file_name {
        header::write_param(&mut out, "filename", name);
    }
    out.extend_from_slice(b"\r\n");
    if let Some(id) = cid {
        out.extend_from_slice(b"Content-ID: <");
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b">\r\n");
    }
    out.extend_from_slice(b"\r\n");
    encode::write_base64(&mut out, data);
    Ok(EncodedPart {
        bytes: out,
        inline: cid.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn att(data: &str, b64: bool, ct: &str) -> Attachment {
        Attachment {
            data: data.into(),
            base64: b64,
            content_type: ct.into(),
            content_id: None,
            file_name: None,
        }
    }

    #[test]
    fn base64_with_line_breaks_is_accepted() {
        let p = encode_part(&att("aGVs\nbG8=", true, "application/octet-stream"), 100).unwrap();
        assert!(
            String::from_utf8(p.bytes)
                .unwrap()
                .ends_with("\r\n\r\naGVsbG8=\r\n")
        );
    }

    #[test]
    fn bad_inputs() {
        assert_eq!(
            encode_part(&att("!!", true, "text/plain"), 100).unwrap_err(),
            AttachmentError::Base64
        );
        assert_eq!(
            encode_part(&att("x", false, "text"), 100).unwrap_err(),
            AttachmentError::ContentType
        );
        assert_eq!(
            encode_part(&att("x", false, "text/plain\r\nBcc: a"), 100).unwrap_err(),
            AttachmentError::ContentType
        );
        let mut a = att("x", false, "image/png");
        a.content_id = Some("<a b>".into());
        assert_eq!(
            encode_part(&a, 100).unwrap_err(),
            AttachmentError::ContentId
        );
        assert_eq!(
            encode_part(&att("xx", false, "text/plain"), 1).unwrap_err(),
            AttachmentError::TooLarge { limit: 1 }
        );
    }

    #[test]
    fn empty_attachment_is_fine() {
        let p = encode_part(&att("", false, "text/plain"), 100).unwrap();
        assert!(String::from_utf8(p.bytes).unwrap().ends_with("\r\n\r\n"));
    }
}
