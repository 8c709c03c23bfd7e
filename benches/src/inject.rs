//! kumo-inject, measured for `compare inject`:
//!
//! - `generate_msgs_per_s`: a 1,000-recipient builder batch (templated subject, text and HTML
//!   bodies, a 10 KB attachment, about 21 KB per message) generated on one core: kumo compiles
//!   the request once and generates every recipient's message with the attachment encoded once;
//!   the peer builds the same messages one by one with lettre's `MessageBuilder`, rendering the
//!   same templates with minijinja (compiled once too).
//! - `msg_bytes`: the average size of kumo's messages in that batch (to show the workload).
//! - `deferred_accept_ms`: the median time from the request bytes entering the axum router to
//!   its response, for a 1,000-recipient `deferred_generation` request with the in-memory job
//!   store (generation runs afterwards and is not timed).
//!
//! Then the rate-limit workloads of [`crate::inject_ratelimit`].

use base64::Engine as _;
use kumo_inject::{
    Batch, BatchId, GenerateContext, GenerateOptions, GeneratedMessage, InjectRequest, Injector,
    MessageSink, RouterConfig, SinkError,
};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Message, MultiPart};
use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use crate::{Better, CountingAlloc, Options, Reporter};

const SUBJECT: &str = "Your {{ month }} statement, {{ name }} 📬";

fn text_template() -> String {
    let para = "We are writing to let you know that your monthly statement is ready. It lists every \
                transaction on account {{ account }} for {{ month }}, with the totals carried over.\n\n";
    format!(
        "Hello {{{{ name }}}},\n\n{}Items:\n{{% for item in items %}}- {{{{ item }}}}\n{{% endfor %}}\nRegards,\nThe team\n",
        para.repeat(14)
    )
}

fn html_template() -> String {
    let para = "<p>We are writing to let you know that your monthly statement is ready. It lists every \
                transaction on account <b>{{ account }}</b> for {{ month }}.</p>\n";
    format!(
        "<html><body><h1>Hello {{{{ name }}}}</h1>\n{}<ul>{{% for item in items %}}<li>{{{{ item }}}}</li>{{% endfor %}}</ul></body></html>\n",
        para.repeat(20)
    )
}

fn attachment() -> Vec<u8> {
    (0..10_240u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn name(i: usize) -> String {
    if i.is_multiple_of(3) {
        format!("Jöhn Smïth, Jr. {i}")
    } else {
        format!("Recipient {i}")
    }
}

/// The request body of the workload: `n` recipients.
pub fn request_json(n: usize, deferred: bool) -> Vec<u8> {
    let recipients: Vec<_> = (0..n)
        .map(|i| {
            json!({"email": format!("r{i}@example.org"), "name": name(i),
                   "substitutions": {"account": format!("ACC-{i:06}")}})
        })
        .collect();
    serde_json::to_vec(&json!({
        "envelope_sender": "bounce@example.com",
        "recipients": recipients,
        "substitutions": {"month": "November", "items": ["Savings — 12.00", "Fees — 1.50", "Interest — 0.33"]},
        "deferred_generation": deferred,
        "trace_headers": {"supplemental_header": false},
        "content": {
            "from": {"email": "statements@example.com", "name": "Example Bank"},
            "subject": SUBJECT,
            "text_body": text_template(),
            "html_body": html_template(),
            "attachments": [{"data": base64::engine::general_purpose::STANDARD.encode(attachment()),
                             "base64": true, "content_type": "application/pdf", "file_name": "statement.pdf"}]
        }
    }))
    .expect("json")
}

/// A sink that drops messages after counting their bytes.
#[derive(Debug, Default)]
pub struct NullSink(std::sync::atomic::AtomicUsize);

impl MessageSink for NullSink {
    fn accept(&self, m: GeneratedMessage) -> Result<(), SinkError> {
        self.0
            .fetch_add(m.data.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// kumo: compile once, generate every message. Returns the total bytes.
pub fn kumo_generate(req: &InjectRequest) -> usize {
    let batch = Batch::compile(req, &GenerateOptions::default()).expect("compiles");
    let ctx = GenerateContext {
        batch_id: BatchId::new("bench").expect("id"),
        now: SystemTime::now(),
        peer: None,
    };
    let mut bytes = 0;
    for i in 0..batch.len() {
        let m = batch.generate(i, &ctx).expect("generates");
        bytes += m.data.len();
        black_box(&m);
    }
    bytes
}

/// The peer: the same templates with minijinja, each message built with lettre.
pub fn lettre_generate(req: &InjectRequest) -> usize {
    let mut env = minijinja::Environment::new();
    env.set_keep_trailing_newline(true);
    env.add_template("subject", SUBJECT).expect("subject");
    let text = text_template();
    let html = html_template();
    env.add_template("text", &text).expect("text");
    env.add_template("body.html", &html).expect("html");
    let from: Mailbox = "Example Bank <statements@example.com>"
        .parse()
        .expect("from");
    let data = attachment();
    let pdf = ContentType::parse("application/pdf").expect("ct");
    let globals = &req.substitutions;
    let mut bytes = 0;
    for (i, r) in req.recipients.iter().enumerate() {
        let mut ctx = globals.clone();
        ctx.insert("email".into(), r.email.clone().into());
        if let Some(n) = &r.name {
            ctx.insert("name".into(), n.clone().into());
        }
        for (k, v) in &r.substitutions {
            ctx.insert(k.clone(), v.clone());
        }
        let ctx = minijinja::Value::from_serialize(&ctx);
        let render = |name: &str| {
            env.get_template(name)
                .and_then(|t| t.render(&ctx))
                .expect("renders")
        };
        let to = Mailbox::new(r.name.clone(), r.email.parse().expect("address"));
        let m = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(render("subject"))
            .message_id(Some(format!("<bench.{i}@example.com>")))
            .multipart(
                MultiPart::mixed()
                    .multipart(MultiPart::alternative_plain_html(
                        render("text"),
                        render("body.html"),
                    ))
                    .singlepart(
                        Attachment::new("statement.pdf".into()).body(data.clone(), pdf.clone()),
                    ),
            )
            .expect("builds");
        let out = m.formatted();
        bytes += out.len();
        black_box(&out);
    }
    bytes
}

/// The best rate of each of two workloads over `runs` alternating runs (alternating so that both
/// see the same background load), after one warm-up run each. Returns the rates and the first
/// workload's bytes per run.
fn best_rates(
    runs: usize,
    n: usize,
    mut a: impl FnMut() -> usize,
    mut b: impl FnMut() -> usize,
) -> (f64, f64, usize) {
    let bytes = a();
    b();
    let (mut best_a, mut best_b) = (f64::MAX, f64::MAX);
    for _ in 0..runs {
        let t = Instant::now();
        black_box(a());
        best_a = best_a.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        black_box(b());
        best_b = best_b.min(t.elapsed().as_secs_f64());
    }
    (n as f64 / best_a, n as f64 / best_b, bytes)
}

/// The median accept latency of `iterations` deferred requests through the router.
pub fn deferred_accept(body: &[u8], iterations: usize) -> Duration {
    use tower::ServiceExt as _;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let injector = Injector::builder(NullSink::default())
            .build()
            .expect("injector");
        let app: axum::Router = kumo_inject::router(
            injector.clone(),
            RouterConfig {
                body_limit: 16 << 20,
                ..RouterConfig::default()
            },
        );
        let body = bytes_of(body);
        let mut times = Vec::with_capacity(iterations);
        for _ in 0..iterations + 3 {
            let req = axum::http::Request::post(kumo_inject::INJECT_PATH)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.clone()))
                .expect("request");
            let t = Instant::now();
            let resp = app.clone().oneshot(req).await.expect("infallible");
            let took = t.elapsed();
            assert_eq!(resp.status(), 200);
            times.push(took);
            injector.idle().await;
        }
        times.drain(..3);
        times.sort();
        times[times.len() / 2]
    })
}

fn bytes_of(b: &[u8]) -> axum::body::Bytes {
    axum::body::Bytes::copy_from_slice(b)
}

/// Runs the inject workloads, then the rate-limit ones.
pub fn run(opts: &Options, alloc: &CountingAlloc, r: &mut Reporter) {
    let n = opts.n.map_or(1000, |n| n as usize).clamp(1, 100_000);
    let body = request_json(n, false);
    let req = InjectRequest::from_json(&body).expect("request");
    let (kumo, peer, bytes) = best_rates(10, n, || kumo_generate(&req), || lettre_generate(&req));
    r.peer(
        "generate_msgs_per_s",
        n as u64,
        kumo,
        "lettre",
        peer,
        Better::Higher,
    );
    r.solo("msg_bytes", n as u64, (bytes / n) as f64, Better::Lower);
    let deferred = request_json(n, true);
    let median = deferred_accept(&deferred, 30);
    r.solo(
        "deferred_accept_ms",
        n as u64,
        median.as_secs_f64() * 1e3,
        Better::Lower,
    );
    crate::inject_ratelimit::run(opts, alloc, r);
}
