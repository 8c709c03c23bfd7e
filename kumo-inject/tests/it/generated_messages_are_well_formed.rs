//! Property test: for any display name, subject and body, a generated message is CRLF-only with
//! lines within 998 octets and one each of From/To/Date/Message-ID, and its Subject and text
//! decode back to the input (a small RFC 2047 / quoted-printable decoder is the oracle). Names
//! and subjects with CR, LF or NUL fail that recipient instead.

use crate::support;

use base64::Engine as _;
use kumo_inject::{
    Batch, BatchId, GenerateContext, GenerateOptions, InjectRequest, RecipientError,
};
use proptest::prelude::*;
use serde_json::json;
use std::time::UNIX_EPOCH;

fn header(msg: &str, name: &str) -> Vec<String> {
    let head = msg.split("\r\n\r\n").next().unwrap();
    let mut fields: Vec<String> = Vec::new();
    for l in head.split("\r\n") {
        match fields.last_mut() {
            Some(last) if l.starts_with([' ', '\t']) => {
                last.push_str("\r\n");
                last.push_str(l);
            }
            _ => fields.push(l.to_owned()),
        }
    }
    fields
        .into_iter()
        .filter_map(|f| {
            let (n, v) = f.split_once(':')?;
            n.eq_ignore_ascii_case(name)
                .then(|| v.strip_prefix(' ').unwrap_or(v).to_owned())
        })
        .collect()
}

/// Unfolds and decodes an unstructured value written by kumo-inject.
fn decode_unstructured(v: &str) -> String {
    let unfolded = v.replace("\r\n", "");
    if !unfolded.starts_with("=?utf-8?b?") {
        return unfolded;
    }
    let mut bytes = Vec::new();
    for word in unfolded.split(' ').filter(|w| !w.is_empty()) {
        let b64 = word
            .strip_prefix("=?utf-8?b?")
            .unwrap()
            .strip_suffix("?=")
            .unwrap();
        bytes.extend(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        );
    }
    String::from_utf8(bytes).unwrap()
}

fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn messages_are_well_formed_and_decode_to_the_input(
        name in "\\PC{0,80}|[a-zA-Z ,\"@\\\\.]{1,40}",
        subject in "\\PC{0,300}|[\\x20-\\x7e]{0,200}|.{0,10}",
        body in "(?s).{0,500}",
    ) {
        let req = json!({
            "envelope_sender": "s@example.com",
            "recipients": [{"email": "r@example.org", "name": name}],
            "template_dialect": "Static",
            "content": {"from": {"email": "s@example.com"}, "subject": subject, "text_body": body}
        });
        let req = InjectRequest::from_json(&serde_json::to_vec(&req).unwrap()).unwrap();
        let batch = Batch::compile(&req, &GenerateOptions::default()).unwrap();
        let ctx = GenerateContext { batch_id: BatchId::new("p").unwrap(), now: UNIX_EPOCH, peer: None };
        let bad = |s: &str| s.contains(['\r', '\n', '\0']);
        match batch.generate(0, &ctx) {
            Err(RecipientError::HeaderInjection { .. }) => prop_assert!(bad(&name) || bad(&subject)),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
            Ok(m) => {
                prop_assert!(!bad(&name) && !bad(&subject));
                let msg = std::str::from_utf8(&m.data).unwrap();
                prop_assert!(msg.ends_with("\r\n"));
                for line in msg.split("\r\n") {
                    prop_assert!(line.len() <= 998);
                    prop_assert!(!line.contains(['\r', '\n']));
                }
                for h in ["From", "To", "Date", "Message-ID", "MIME-Version", "Subject"] {
                    prop_assert_eq!(header(msg, h).len(), 1, "{}", h);
                }
                // The head is ASCII; every header line fits in 78 columns except a lone long token.
                let head = msg.split("\r\n\r\n").next().unwrap();
                prop_assert!(head.is_ascii());
                let got = decode_unstructured(&header(msg, "Subject")[0]);
                prop_assert_eq!(got, subject.clone());
                let (_, body_part) = msg.split_once("\r\n\r\n").unwrap();
                let decoded = if msg.contains("Content-Transfer-Encoding: quoted-printable") {
                    support::qp::decode(body_part.as_bytes())
                } else {
                    body_part.as_bytes().to_vec()
                };
                prop_assert_eq!(String::from_utf8(decoded).unwrap(), crlf(&body));
            }
        }
    }
}
