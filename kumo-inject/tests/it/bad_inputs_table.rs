//! The bad inputs listed in the research notes, each with its expected result: a parse error
//! (400 / 422), a request error (422), a failure of one recipient, or a message.

use kumo_inject::{
    Batch, BatchId, GenerateContext, GenerateOptions, GeneratedMessage, InjectRequest,
};
use serde_json::{Value, json};
use std::time::UNIX_EPOCH;

#[derive(Debug)]
enum Expect {
    /// Not JSON: 400.
    Syntax,
    /// JSON of the wrong shape: 422.
    Schema,
    /// The request is refused (422) with this text in the error chain.
    Request(&'static str),
    /// Recipient `index` fails with this text; the others get a message.
    Recipient(usize, &'static str),
    /// Every recipient gets a message, which passes the check.
    Ok(fn(&[GeneratedMessage])),
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut c = e.source();
    while let Some(e) = c {
        s = format!("{s}: {e}");
        c = e.source();
    }
    s
}

fn builder(content: Value) -> Value {
    json!({"envelope_sender": "s@example.com", "recipients": [{"email": "a@example.org"}], "content": content})
}

fn with_recipients(rcpts: Value, content: Value) -> Value {
    json!({"envelope_sender": "s@example.com", "recipients": rcpts, "content": content})
}

/// A one-recipient `Handlebars` request.
fn hb(rcpt: Value, content: Value) -> Value {
    json!({"envelope_sender": "s@example.com", "recipients": [rcpt], "content": content, "template_dialect": "Handlebars"})
}

fn text() -> Value {
    json!({"text_body": "hi\n"})
}

fn any(_: &[GeneratedMessage]) {}

fn data(m: &GeneratedMessage) -> &str {
    std::str::from_utf8(&m.data).unwrap()
}

fn table() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let j = |v: Value| serde_json::to_vec(&v).unwrap();
    vec![
        // JSON
        (
            "malformed json",
            b"{\"envelope_sender\": \"s@example.com\",".to_vec(),
            Expect::Syntax,
        ),
        (
            "unknown field",
            j(
                json!({"envelope_sender": "s@example.com", "recipients": [], "content": "x", "extra": 1}),
            ),
            Expect::Schema,
        ),
        (
            "unknown builder field",
            j(builder(json!({"text_body": "x", "bogus": 1}))),
            Expect::Schema,
        ),
        (
            "missing recipients",
            j(json!({"envelope_sender": "s@example.com", "content": "x"})),
            Expect::Schema,
        ),
        (
            "content of the wrong type",
            j(json!({"envelope_sender": "s@example.com", "recipients": [], "content": 5})),
            Expect::Schema,
        ),
        (
            "unknown dialect",
            j(
                json!({"envelope_sender": "s@example.com", "recipients": [], "content": "x", "template_dialect": "Mustache"}),
            ),
            Expect::Schema,
        ),
        // Envelope
        (
            "invalid envelope_sender",
            j(
                json!({"envelope_sender": "not an address", "recipients": [{"email": "a@example.org"}], "content": text()}),
            ),
            Expect::Request("invalid envelope_sender"),
        ),
        (
            "null sender <>",
            j(
                json!({"envelope_sender": "<>", "recipients": [{"email": "a@example.org"}], "content": text()}),
            ),
            Expect::Ok(|m| assert_eq!(m[0].envelope_sender, "")),
        ),
        (
            "empty sender",
            j(
                json!({"envelope_sender": "", "recipients": [{"email": "a@example.org"}], "content": text()}),
            ),
            Expect::Ok(any),
        ),
        (
            "no recipients",
            j(with_recipients(json!([]), text())),
            Expect::Request("no recipients"),
        ),
        (
            "duplicate recipients each get a message",
            j(with_recipients(
                json!([{"email": "a@example.org"}, {"email": "a@example.org"}]),
                text(),
            )),
            Expect::Ok(|m| assert_ne!(m[0].id, m[1].id)),
        ),
        // Addresses
        (
            "missing @",
            j(with_recipients(
                json!([{"email": "a@example.org"}, {"email": "nobody"}]),
                text(),
            )),
            Expect::Recipient(1, "missing @"),
        ),
        (
            "CR LF in an address",
            j(with_recipients(
                json!([{"email": "a@example.org\r\nBcc: x@y.z"}]),
                text(),
            )),
            Expect::Recipient(0, "control character"),
        ),
        (
            "quoted local part",
            j(with_recipients(
                json!([{"email": "\"john smith\"@example.org"}]),
                text(),
            )),
            Expect::Ok(|m| assert!(data(&m[0]).contains("To: \"john smith\"@example.org"))),
        ),
        (
            "UTF-8 local part needs SMTPUTF8",
            j(with_recipients(
                json!([{"email": "jöhn@exämple.org"}]),
                text(),
            )),
            Expect::Ok(|m| assert!(m[0].smtputf8)),
        ),
        (
            "trailing dot",
            j(with_recipients(
                json!([{"email": "a@example.org."}]),
                text(),
            )),
            Expect::Recipient(0, "invalid domain"),
        ),
        (
            "bad static From",
            j(builder(
                json!({"text_body": "x", "from": {"email": "nope"}}),
            )),
            Expect::Request("invalid address in content.from.email"),
        ),
        (
            "bad templated From fails the recipient",
            j(builder(
                json!({"text_body": "x", "from": {"email": "{{ name }}"}}),
            )),
            Expect::Recipient(0, "content.from.email"),
        ),
        // Names
        (
            "line break in a name",
            j(with_recipients(
                json!([{"email": "a@example.org", "name": "A\n\tB"}]),
                text(),
            )),
            Expect::Recipient(0, "line break or NUL in header name"),
        ),
        (
            "a 250-character name folds",
            j(with_recipients(
                json!([{"email": "a@example.org", "name": "Ünïcode name ".repeat(20)}]),
                text(),
            )),
            Expect::Ok(|m| assert!(data(&m[0]).split("\r\n").all(|l| l.len() <= 78))),
        ),
        // Headers
        (
            "header name with a space",
            j(builder(
                json!({"text_body": "x", "headers": {"X Bad": "v"}}),
            )),
            Expect::Request("invalid header name"),
        ),
        (
            "header name with a colon",
            j(builder(
                json!({"text_body": "x", "headers": {"X:Bad": "v"}}),
            )),
            Expect::Request("invalid header name"),
        ),
        (
            "non-ASCII header name",
            j(builder(
                json!({"text_body": "x", "headers": {"X-Ünï": "v"}}),
            )),
            Expect::Request("invalid header name"),
        ),
        (
            "reserved Content-Type",
            j(builder(
                json!({"text_body": "x", "headers": {"content-type": "text/html"}}),
            )),
            Expect::Request("written by the builder"),
        ),
        (
            "substitution injecting a header fails one recipient",
            j(with_recipients(
                json!([{"email": "a@example.org", "substitutions": {"v": "fine"}}, {"email": "b@example.org", "substitutions": {"v": "x\r\nBcc: evil@example.net"}}]),
                json!({"text_body": "x", "subject": "s {{ v }}"}),
            )),
            Expect::Recipient(1, "line break or NUL in header content.subject"),
        ),
        (
            "injection through a custom header",
            j(with_recipients(
                json!([{"email": "a@example.org", "substitutions": {"v": "x\nBcc: evil@example.net"}}]),
                json!({"text_body": "x", "headers": {"X-V": "{{ v }}"}}),
            )),
            Expect::Recipient(0, "line break or NUL in header content.headers.X-V"),
        ),
        (
            "user To, lower case: one To",
            j(builder(
                json!({"text_body": "x", "headers": {"to": "list@example.com"}}),
            )),
            Expect::Ok(|m| {
                assert_eq!(
                    data(&m[0]).matches("\r\nTo: ").count()
                        + data(&m[0]).matches("\r\nto: ").count(),
                    1
                )
            }),
        ),
        (
            "header value over 998 characters",
            j(builder(
                json!({"text_body": "x", "headers": {"X-Long": "y".repeat(3000)}}),
            )),
            Expect::Ok(|m| assert!(data(&m[0]).split("\r\n").all(|l| l.len() <= 998))),
        ),
        // Templates
        (
            "template syntax error names the field",
            j(builder(json!({"text_body": "x", "subject": "{{ a b }}"}))),
            Expect::Request("failed parsing field 'content.subject' as template"),
        ),
        (
            "unknown filter fails the recipient",
            j(builder(json!({"text_body": "{{ email | nosuchfilter }}"}))),
            Expect::Recipient(0, "unknown filter"),
        ),
        (
            "runtime error fails the recipient",
            j(builder(json!({"text_body": "{{ email.missing.deeper }}"}))),
            Expect::Recipient(0, "failed rendering field 'content.text_body'"),
        ),
        (
            "undefined variable is empty (lenient)",
            j(builder(json!({"text_body": "[{{ nothing }}]\n"}))),
            Expect::Ok(|m| assert!(data(&m[0]).contains("\r\n\r\n[]\r\n"))),
        ),
        (
            "loop bomb runs out of fuel",
            j(builder(
                json!({"text_body": "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}"}),
            )),
            Expect::Recipient(0, "fuel"),
        ),
        (
            "recursion bomb hits the recursion limit",
            j(builder(
                json!({"text_body": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"}),
            )),
            Expect::Recipient(0, "recursion limit exceeded"),
        ),
        (
            "string bomb is cut at the size limit",
            j(builder(
                json!({"text_body": "{% for a in range(1000) %}{{ 'x' * 90000000 }}{% endfor %}"}),
            )),
            Expect::Recipient(0, "failed rendering"),
        ),
        // Handlebars
        (
            "Handlebars renders, escaping HTML only",
            j(hb(
                json!({"email": "a@example.org", "name": "A&B", "substitutions": {"v": "<b>"}}),
                json!({"subject": "s {{v}} {{name}}", "text_body": "t {{v}} {{name}} {{email}}\n", "html_body": "<p>{{v}} {{name}}</p>", "headers": {"X-V": "{{v}}"}}),
            )),
            Expect::Ok(|m| {
                let d = data(&m[0]);
                assert!(d.contains("Subject: s <b> A&B\r\n"), "{d}");
                assert!(d.contains("X-V: <b>\r\n"), "{d}");
                assert!(d.contains("t <b> A&B a@example.org\r\n"), "{d}");
                assert!(d.contains("<p>&lt;b&gt; A&amp;B</p>"), "{d}");
            }),
        ),
        (
            "Handlebars: recipient substitutions override the batch's",
            j(
                json!({"envelope_sender": "s@example.com", "template_dialect": "Handlebars", "substitutions": {"v": "batch", "w": "kept"},
                    "recipients": [{"email": "a@example.org", "substitutions": {"v": "mine"}}, {"email": "b@example.org"}],
                    "content": {"text_body": "[{{v}} {{w}} {{missing}}]\n"}}),
            ),
            Expect::Ok(|m| {
                assert!(data(&m[0]).contains("\r\n\r\n[mine kept ]\r\n"));
                assert!(data(&m[1]).contains("\r\n\r\n[batch kept ]\r\n"));
            }),
        ),
        (
            "Handlebars syntax error is a request error",
            j(hb(
                json!({"email": "a@example.org"}),
                json!({"text_body": "x", "subject": "{{#if a}}open"}),
            )),
            Expect::Request("failed parsing field 'content.subject' as template"),
        ),
        (
            "Handlebars partials are refused",
            j(hb(
                json!({"email": "a@example.org"}),
                json!({"text_body": "{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}"}),
            )),
            Expect::Request("partials and decorators are not supported"),
        ),
        (
            "Handlebars partial inside a block is refused",
            j(hb(
                json!({"email": "a@example.org"}),
                json!({"text_body": "{{#if email}}{{> content.text_body}}{{/if}}"}),
            )),
            Expect::Request("partials and decorators are not supported"),
        ),
        (
            "Handlebars runtime error fails the recipient",
            j(hb(
                json!({"email": "a@example.org"}),
                json!({"text_body": "{{nosuchhelper email}}"}),
            )),
            Expect::Recipient(0, "failed rendering field 'content.text_body'"),
        ),
        (
            "Handlebars header injection fails the recipient",
            j(hb(
                json!({"email": "a@example.org", "substitutions": {"v": "x\r\nBcc: evil@example.net"}}),
                json!({"text_body": "x", "subject": "{{v}}"}),
            )),
            Expect::Recipient(0, "line break or NUL in header content.subject"),
        ),
        (
            "Handlebars output bomb is cut at the size limit",
            j(hb(
                json!({"email": "a@example.org", "substitutions": {"a": vec![0; 2000], "s": "y".repeat(2000)}}),
                json!({"text_body": "{{#each a}}{{#each @root.a}}{{@root.s}}{{/each}}{{/each}}"}),
            )),
            Expect::Recipient(0, "size limit"),
        ),
        // Attachments
        (
            "invalid base64",
            j(builder(
                json!({"text_body": "x", "attachments": [{"data": "!!!", "base64": true, "content_type": "image/png"}]}),
            )),
            Expect::Request("data is not valid base64"),
        ),
        (
            "base64 with line breaks",
            j(builder(
                json!({"text_body": "x", "attachments": [{"data": "aGVs\r\nbG8=\n", "base64": true, "content_type": "application/octet-stream"}]}),
            )),
            Expect::Ok(|m| assert!(data(&m[0]).contains("\r\naGVsbG8=\r\n"))),
        ),
        (
            "empty attachment",
            j(builder(
                json!({"text_body": "x", "attachments": [{"data": "", "content_type": "text/plain"}]}),
            )),
            Expect::Ok(any),
        ),
        (
            "bad content_type",
            j(builder(
                json!({"text_body": "x", "attachments": [{"data": "x", "content_type": "nonsense"}]}),
            )),
            Expect::Request("invalid content_type"),
        ),
        (
            "content_id without brackets",
            j(builder(
                json!({"html_body": "<img src=cid:a@b>", "attachments": [{"data": "x", "content_type": "image/png", "content_id": "a@b"}]}),
            )),
            Expect::Ok(|m| assert!(data(&m[0]).contains("Content-ID: <a@b>"))),
        ),
        (
            "content_id with a space",
            j(builder(
                json!({"html_body": "x", "attachments": [{"data": "x", "content_type": "image/png", "content_id": "<a b>"}]}),
            )),
            Expect::Request("invalid content_id"),
        ),
        (
            "inline part with no html",
            j(builder(
                json!({"text_body": "x", "attachments": [{"data": "x", "content_type": "image/png", "content_id": "a@b"}]}),
            )),
            Expect::Ok(|m| assert!(data(&m[0]).contains("multipart/related"))),
        ),
        // Content
        (
            "neither text nor html",
            j(builder(json!({"subject": "x"}))),
            Expect::Request("text_body or an html_body"),
        ),
        (
            "AMP only",
            j(builder(json!({"amp_html_body": "<html ⚡4email></html>"}))),
            Expect::Request("text_body or an html_body"),
        ),
        (
            "RFC 5322 with bare LF",
            j(builder(json!("Subject: x\n\nline\n"))),
            Expect::Ok(|m| assert!(data(&m[0]).ends_with("Subject: x\r\n\r\nline\r\n"))),
        ),
        (
            "RFC 5322 with an 8-bit body",
            j(builder(json!("Subject: x\n\nbödy\n"))),
            Expect::Ok(|m| assert!(m[0].eight_bit)),
        ),
        (
            "RFC 5322 without a header section",
            j(builder(json!("just some text\n"))),
            Expect::Recipient(0, "line 1 is not a header field"),
        ),
        (
            "RFC 5322 with a NUL",
            j(builder(json!("Subject: x\n\na\u{0}b"))),
            Expect::Recipient(0, "NUL byte"),
        ),
        (
            "RFC 5322 with a 1000-octet line",
            j(builder(json!(format!(
                "Subject: x\n\n{}\n",
                "z".repeat(1000)
            )))),
            Expect::Recipient(0, "longer than 998"),
        ),
    ]
}

#[test]
fn every_bad_input_has_its_expected_result() {
    let opts = GenerateOptions {
        template_fuel: 100_000,
        max_message_bytes: 4 << 20,
        ..GenerateOptions::default()
    };
    let ctx = GenerateContext {
        batch_id: BatchId::new("t").unwrap(),
        now: UNIX_EPOCH,
        peer: None,
    };
    let mut problems = Vec::new();
    for (name, body, expect) in table() {
        let parsed = InjectRequest::from_json(&body);
        let outcome: Result<(), String> = (|| {
            let req = match (parsed, &expect) {
                (Err(e), Expect::Syntax) if e.is_syntax() => return Ok(()),
                (Err(e), Expect::Schema) if !e.is_syntax() => return Ok(()),
                (Err(e), _) => return Err(format!("parse error: {}", chain(&e))),
                (Ok(_), Expect::Syntax | Expect::Schema) => return Err("parsed".into()),
                (Ok(r), _) => r,
            };
            let batch = match (Batch::compile(&req, &opts), &expect) {
                (Err(e), Expect::Request(want)) if chain(&e).contains(want) => return Ok(()),
                (Err(e), _) => return Err(format!("request error: {}", chain(&e))),
                (Ok(_), Expect::Request(_)) => return Err("compiled".into()),
                (Ok(b), _) => b,
            };
            let mut msgs = Vec::new();
            for i in 0..batch.len() {
                match (batch.generate(i, &ctx), &expect) {
                    (Err(e), Expect::Recipient(at, want))
                        if *at == i && chain(&e).contains(want) => {}
                    (Err(e), _) => return Err(format!("recipient {i}: {}", chain(&e))),
                    (Ok(_), Expect::Recipient(at, _)) if *at == i => {
                        return Err(format!("recipient {i} got a message"));
                    }
                    (Ok(m), _) => {
                        let d = &m.data;
                        if d.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r')
                            || d.split(|&b| b == b'\n').any(|l| l.len() > 999)
                        {
                            return Err("bare LF or long line".into());
                        }
                        msgs.push(m);
                    }
                }
            }
            if let Expect::Ok(check) = expect {
                check(&msgs);
            }
            Ok(())
        })();
        if let Err(e) = outcome {
            problems.push(format!("{name}: {e}"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
