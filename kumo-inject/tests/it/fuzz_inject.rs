//! Fuzzing everything an injection request brings in: the request body (arbitrary bytes and
//! mutations of `tests/corpus/inject_request/`), templates in both dialects
//! (`tests/corpus/template_jinja/`, `tests/corpus/template_handlebars/`), addresses
//! (`tests/corpus/address/`) and RFC 5322 content (`tests/corpus/rfc822/`), each mutated and
//! put into an otherwise valid request. Parsing, compiling and generating end in messages or
//! typed errors, never a panic; every message is within `max_message_bytes`, has CRLF line
//! ends only and lines of at most 998 octets.

use std::time::UNIX_EPOCH;

use kumo_fuzzkit::{accepted, arbitrary_bytes, corpus, mutated};
use kumo_inject::{Batch, BatchId, GenerateContext, GenerateOptions, InjectRequest};
use proptest::prelude::*;
use serde_json::{Value, json};

const MAX_MESSAGE: usize = 1 << 18;

fn options() -> GenerateOptions {
    GenerateOptions {
        max_message_bytes: MAX_MESSAGE,
        template_fuel: 50_000,
        ..GenerateOptions::default()
    }
}

/// What became of a request.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// The body did not parse.
    Unparsed,
    /// It parsed, and did not compile.
    Uncompiled,
    /// It compiled; this many of (at most) its first three recipients got a message.
    Generated(usize),
}

fn inject(body: &[u8]) -> Result<Outcome, TestCaseError> {
    let Ok(req) = InjectRequest::from_json(body) else {
        return Ok(Outcome::Unparsed);
    };
    let opts = options();
    let Ok(batch) = Batch::compile(&req, &opts) else {
        return Ok(Outcome::Uncompiled);
    };
    let ctx = GenerateContext {
        batch_id: BatchId::new("fuzz").unwrap(),
        now: UNIX_EPOCH,
        peer: None,
    };
    let mut generated = 0;
    for index in 0..req.recipients.len().min(3) {
        let Ok(msg) = batch.generate(index, &ctx) else {
            continue;
        };
        generated += 1;
        let data = &msg.data[..];
        prop_assert!(data.len() <= MAX_MESSAGE, "a {}-byte message", data.len());
        let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
        let (last, ended) = lines.split_last().expect("split gives at least one piece");
        for (i, line) in ended.iter().enumerate() {
            let Some(text) = line.strip_suffix(b"\r") else {
                return Err(TestCaseError::fail(format!(
                    "line {i} does not end in CRLF"
                )));
            };
            prop_assert!(!text.contains(&b'\r'), "a bare CR on line {}", i);
            prop_assert!(text.len() <= 998, "line {} has {} octets", i, text.len());
        }
        prop_assert!(
            !last.contains(&b'\r') && last.len() <= 998,
            "the last line: {:?}",
            last
        );
    }
    Ok(Outcome::Generated(generated))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn substitutions() -> Value {
    json!({"items": ["a", "b<c>", 3], "vip": true, "nested": {"inner": "in"}, "plan": "gold"})
}

/// A valid request with `template` in the subject, both bodies and a header.
fn template_request(dialect: &str, template: &[u8]) -> Vec<u8> {
    let t = text(template);
    serde_json::to_vec(&json!({
        "envelope_sender": "t@example.com",
        "template_dialect": dialect,
        "recipients": [{"email": "r@example.org", "name": "R"}],
        "substitutions": substitutions(),
        "content": {
            "from": {"email": "t@example.com"},
            "subject": t,
            "text_body": t,
            "html_body": t,
            "headers": {"X-Fuzz": t},
        },
    }))
    .unwrap()
}

/// A valid request with `address` as the envelope sender, a recipient and the From.
fn address_request(address: &[u8], name: &[u8]) -> Vec<u8> {
    let a = text(address);
    serde_json::to_vec(&json!({
        "envelope_sender": a,
        "recipients": [{"email": a, "name": text(name)}, {"email": "ok@example.org"}],
        "content": {"from": {"email": a, "name": text(name)}, "reply_to": {"email": a}, "subject": "s", "text_body": "b"},
    }))
    .unwrap()
}

/// A valid request with `content` as the whole RFC 5322 message, in `dialect`.
fn rfc822_request(dialect: &str, content: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "envelope_sender": "c@example.com",
        "template_dialect": dialect,
        "recipients": [{"email": "r@example.org", "name": "R"}],
        "content": text(content),
    }))
    .unwrap()
}

fn dialect() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("Jinja"), Just("Static")]
}

#[test]
fn every_seed_is_valid() {
    let ok = |body: &[u8]| inject(body).unwrap();
    for seed in corpus!("inject_request") {
        let n = serde_json::from_slice::<Value>(&seed).unwrap()["recipients"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(ok(&seed), Outcome::Generated(n.min(3)), "{}", text(&seed));
    }
    for seed in corpus!("template_jinja") {
        assert_eq!(
            ok(&template_request("Jinja", &seed)),
            Outcome::Generated(1),
            "{}",
            text(&seed)
        );
    }
    for seed in corpus!("template_handlebars") {
        let body = template_request("Handlebars", &seed);
        assert_eq!(ok(&body), Outcome::Generated(1), "{}", text(&seed));
    }
    for seed in corpus!("address") {
        assert_eq!(
            ok(&address_request(&seed, b"N")),
            Outcome::Generated(2),
            "{}",
            text(&seed)
        );
    }
    for seed in corpus!("rfc822") {
        for d in ["Jinja", "Static"] {
            assert_eq!(
                ok(&rfc822_request(d, &seed)),
                Outcome::Generated(1),
                "{}",
                text(&seed)
            );
        }
    }
}

/// Many mutated seeds still make messages: the cases reach generation.
#[test]
#[allow(
    clippy::print_stderr,
    reason = "the shares are worth seeing in the log"
)]
fn many_mutated_seeds_still_generate() {
    let generated = |body: Vec<u8>| matches!(inject(&body), Ok(Outcome::Generated(n)) if n > 0);
    let shares = [
        (
            "inject_request",
            accepted(corpus!("inject_request"), 6, 200, |b| generated(b.to_vec())),
        ),
        (
            "template_jinja",
            accepted(corpus!("template_jinja"), 4, 200, |b| {
                generated(template_request("Jinja", b))
            }),
        ),
        (
            "template_handlebars",
            accepted(corpus!("template_handlebars"), 4, 200, |b| {
                generated(template_request("Handlebars", b))
            }),
        ),
        (
            "address",
            accepted(corpus!("address"), 3, 200, |b| {
                generated(address_request(b, b"N"))
            }),
        ),
        (
            "rfc822",
            accepted(corpus!("rfc822"), 6, 200, |b| {
                generated(rfc822_request("Static", b))
            }),
        ),
    ];
    eprintln!("mutated seeds generating a message (of 200): {shares:?}");
    for (target, n) in shares {
        assert!(
            n >= 20,
            "only {n} of 200 mutated {target} seeds generate a message"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn request_from_arbitrary_bytes(bytes in arbitrary_bytes(1024)) {
        inject(&bytes)?;
    }

    #[test]
    fn request_from_mutated_seeds(bytes in mutated(corpus!("inject_request"), 8)) {
        inject(&bytes)?;
    }

    #[test]
    fn jinja_template_from_mutated_seeds(t in mutated(corpus!("template_jinja"), 6)) {
        inject(&template_request("Jinja", &t))?;
    }

    #[test]
    fn handlebars_template_from_mutated_seeds(t in mutated(corpus!("template_handlebars"), 6)) {
        inject(&template_request("Handlebars", &t))?;
    }

    #[test]
    fn template_from_arbitrary_bytes(t in arbitrary_bytes(200), handlebars in any::<bool>()) {
        inject(&template_request(if handlebars { "Handlebars" } else { "Jinja" }, &t))?;
    }

    #[test]
    fn address_from_mutated_seeds(a in mutated(corpus!("address"), 4), name in mutated(corpus!("address"), 4)) {
        inject(&address_request(&a, &name))?;
    }

    #[test]
    fn address_from_arbitrary_bytes(a in arbitrary_bytes(80), name in arbitrary_bytes(40)) {
        inject(&address_request(&a, &name))?;
    }

    #[test]
    fn rfc822_from_mutated_seeds(c in mutated(corpus!("rfc822"), 8), d in dialect()) {
        inject(&rfc822_request(d, &c))?;
    }

    #[test]
    fn rfc822_from_arbitrary_bytes(c in arbitrary_bytes(512), d in dialect()) {
        inject(&rfc822_request(d, &c))?;
    }
}
