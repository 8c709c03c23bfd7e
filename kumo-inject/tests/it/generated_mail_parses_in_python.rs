//! Every message generated here parses with Python's `email` package (`policy.default`) with no
//! defects and decodes back to the input: names with commas, quotes and `@`, emoji subjects, long
//! words, attachments, inline parts, AMP, header overrides, RFC 5322 mode and the Handlebars dialect.

use crate::support;

use base64::Engine as _;
use kumo_inject::{Batch, BatchId, GenerateContext, GenerateOptions, InjectRequest};
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn html(s: &str) -> String {
    minijinja::HtmlEscape(s).to_string()
}

/// Handlebars' default HTML escape.
fn hb_html(s: &str) -> String {
    kumo_inject::handlebars::html_escape(s)
}

struct Case {
    request: Value,
    /// Expected values per recipient.
    expect: Vec<Value>,
}

fn names() -> Vec<&'static str> {
    vec![
        "Jöhn Smïth, Jr. \"JJ\" @home 👋",
        "Smith, John",
        "O'Brien \"Bob\" <bob>",
        "back\\slash",
        "Zoë",
        "plain name",
        "Ünïcödé ",
        "a@b.c",
    ]
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let binary: Vec<u8> = (0..10_240u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let long_word = "x".repeat(1500);
    let long_line = "word ".repeat(400);
    let long_subject_words = "Ünïcode subject that goes on — ".repeat(12);
    let rich_text = format!(
        "Hello {{{{ name }}}}!\nA long line: {long_line}\nA long word: {long_word}\n=_ and =?utf-8?q?x?= stay literal.\n"
    );

    // 1. Builder with every part: text, AMP, HTML, an inline image, two attachments.
    let names = names();
    let recipients: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"email": format!("user{i}@example.org"), "name": n, "substitutions": {"n": i}, "metadata": {"campaign": "spring", "n": i}}))
        .collect();
    let req = json!({
        "envelope_sender": "bounce@example.com",
        "recipients": recipients,
        "trace_headers": {"received_header": true, "include_meta_names": ["campaign"]},
        "content": {
            "from": {"email": "news@example.com", "name": "Ex, News \"Daily\" 📰"},
            "reply_to": {"email": "help@example.com", "name": "Help Desk"},
            "subject": "Hello {{ name }} 👋 — #{{ n }} " ,
            "text_body": rich_text,
            "html_body": "<p>Hi {{ name }}</p><img src=\"cid:logo@example.com\">\n",
            "amp_html_body": "<html ⚡4email><body>Hi {{ name }}</body></html>\n",
            "headers": {"X-Campaign": "spring — {{ n }} 🌸", "X-Long": long_line.trim_end()},
            "attachments": [
                {"data": B64.encode(&binary), "base64": true, "content_type": "application/octet-stream", "file_name": "data.bin"},
                {"data": "ünïcode text\nline 2\n", "content_type": "text/plain", "file_name": "résumé 📄 with a rather long file name that needs continuation lines.txt"},
                {"data": B64.encode(b"\x89PNG fake"), "base64": true, "content_type": "image/png", "content_id": "<logo@example.com>"}
            ]
        }
    });
    let expect = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({
                "subject": format!("Hello {n} 👋 — #{i} "),
                "from": [["Ex, News \"Daily\" 📰", "news@example.com"]],
                "reply-to": [["Help Desk", "help@example.com"]],
                "to": [[n, format!("user{i}@example.org")]],
                "headers": {"X-Campaign": format!("spring — {i} 🌸"), "X-Long": long_line.trim_end()},
                "alternatives": ["text/plain", "text/x-amp-html", "text/html"],
                "text": rich_text.replace("{{ name }}", n),
                "html": format!("<p>Hi {}</p><img src=\"cid:logo@example.com\">\n", html(n)),
                "amp": format!("<html ⚡4email><body>Hi {}</body></html>\n", html(n)),
                "attachments": [
                    {"data": B64.encode(b"\x89PNG fake"), "content_type": "image/png", "content_id": "logo@example.com"},
                    {"data": B64.encode(&binary), "content_type": "application/octet-stream", "file_name": "data.bin"},
                    {"data": B64.encode("ünïcode text\nline 2\n"), "content_type": "text/plain", "file_name": "résumé 📄 with a rather long file name that needs continuation lines.txt"}
                ]
            })
        })
        .collect();
    out.push(Case {
        request: req,
        expect,
    });

    // 2. Text only, a huge unbroken subject, a To override, no trailing newline.
    let req = json!({
        "envelope_sender": "",
        "recipients": [{"email": "a@example.org", "name": "Ignored"}],
        "content": {
            "from": {"email": "x@example.com"},
            "subject": long_word,
            "text_body": "no newline at the end é",
            "headers": {"To": "\"List, All\" <list@example.com>, Zoë <zoe@example.com>", "X-Words": long_subject_words}
        }
    });
    out.push(Case {
        request: req,
        expect: vec![json!({
            "subject": long_word,
            "to": [["List, All", "list@example.com"], ["Zoë", "zoe@example.com"]],
            "headers": {"X-Words": long_subject_words},
            "text": "no newline at the end é",
            "alternatives": ["text/plain"],
        })],
    });

    // 3. HTML only, static dialect (template syntax kept literally), empty attachment.
    let req = json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "b@example.org"}],
        "template_dialect": "Static",
        "content": {
            "from": {"email": "s@example.com", "name": "S"},
            "subject": "{{ not a template }}",
            "html_body": "<b>{{ name }}</b>",
            "attachments": [{"data": "", "content_type": "text/csv", "file_name": "empty.csv"}]
        }
    });
    out.push(Case {
        request: req,
        expect: vec![json!({
            "subject": "{{ not a template }}",
            "to": [["", "b@example.org"]],
            "html": "<b>{{ name }}</b>",
            "attachments": [{"data": "", "content_type": "text/csv", "file_name": "empty.csv"}]
        })],
    });

    // 4. RFC 5322 mode with bare LFs and an 8-bit body.
    let body = "Bödy for {{ name }}\nline two\n";
    let req = json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "c@example.org", "name": "Cé"}],
        "content": format!("From: s@example.com\nTo: c@example.org\nSubject: raw {{{{ name }}}}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}")
    });
    out.push(Case {
        request: req,
        expect: vec![json!({
            "subject": "raw Cé",
            "body_bytes": B64.encode(body.replace("{{ name }}", "Cé").replace('\n', "\r\n")),
        })],
    });

    // 5. Handlebars: HTML escaped with handlebars' default escape, text, subject and headers
    //    not escaped; the recipient's substitutions over the batch's.
    let name = "Tom & \"Jerry\" <TJ> O'Neil";
    let v = "<i>x</i> & 'y' = `z`";
    let req = json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "d@example.org", "name": name, "substitutions": {"v": v}}],
        "template_dialect": "Handlebars",
        "substitutions": {"v": "batch", "w": "batch & <w>"},
        "content": {
            "from": {"email": "s@example.com"},
            "subject": "Hi {{name}} {{v}}",
            "text_body": "Dear {{name}},\n{{v}} {{w}}\n",
            "html_body": "<p>{{name}}</p><p>{{v}} {{{v}}}</p>\n",
            "headers": {"X-W": "{{w}} {{v}}"}
        }
    });
    out.push(Case {
        request: req,
        expect: vec![json!({
            "subject": format!("Hi {name} {v}"),
            "to": [[name, "d@example.org"]],
            "headers": {"X-W": format!("batch & <w> {v}")},
            "alternatives": ["text/plain", "text/html"],
            "text": format!("Dear {name},\n{v} batch & <w>\n"),
            "html": format!("<p>{}</p><p>{} {v}</p>\n", hb_html(name), hb_html(v)),
        })],
    });
    out
}

#[test]
fn generated_messages_parse_cleanly_and_decode_to_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Vec::new();
    for (c, case) in cases().into_iter().enumerate() {
        let body = serde_json::to_vec(&case.request).unwrap();
        let req = InjectRequest::from_json(&body).unwrap();
        let batch = Batch::compile(&req, &GenerateOptions::default()).unwrap();
        let ctx = GenerateContext {
            batch_id: BatchId::new(format!("case{c}")).unwrap(),
            now: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            peer: Some([192, 0, 2, 1].into()),
        };
        for (i, expect) in case.expect.into_iter().enumerate() {
            let msg = batch.generate(i, &ctx).unwrap();
            assert_eq!(
                msg.id,
                format!(
                    "case{c}.{i}@{}",
                    if c == 1 { "localhost" } else { "example.com" }
                )
            );
            let path = dir.path().join(format!("case{c}-{i}.eml"));
            std::fs::write(&path, &msg.data).unwrap();
            let mut expect = expect;
            if c == 1 {
                expect["to_single"] = json!(true);
            }
            manifest.push(json!({"file": path, "expect": expect}));
        }
    }
    let manifest_path = dir.path().join("manifest.json");
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let Some(python) = support::python() else {
        return;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/check_mail.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&manifest_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("checked {} messages, 0 problems", manifest.len())),
        "{stdout}"
    );
}
