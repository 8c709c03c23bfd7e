//! Our text, OpenMetrics and JSON output, checked by an independent parser: Python's
//! `prometheus_client` (see `tests/conformance/check.py`), against expected samples written here.
//!
//! Needs `KUMO_TEST_PYTHON` (set by `scripts/test`); fails when `CI` is set and it is missing.

use kumo_metrics::{Format, Registry, ScrapeOptions};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

kumo_metrics::label_set! { struct Queue { queue } }
kumo_metrics::label_set! { struct QueueProvider { queue, provider } }
kumo_metrics::label_set! { struct Kind { kind } }

const NASTY: [&str; 7] = [
    "quote\"in@example.com",
    "back\\slash",
    "new\nline",
    "trailing\\",
    "ünïcödé ✉ 日本語",
    "",
    "all \\\"\n\\n of them\\",
];

#[allow(
    clippy::print_stderr,
    reason = "the skip note the common brief asks for"
)]
fn python() -> Option<String> {
    match std::env::var("KUMO_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("CI").is_some() => {
            panic!("KUMO_TEST_PYTHON is required when CI is set (scripts/test sets it)")
        }
        _ => {
            eprintln!("note: KUMO_TEST_PYTHON not set; skipping the prometheus_client check");
            None
        }
    }
}

/// Builds the corpus registry and the samples a parser must find, per family, with `prefix`.
fn corpus(prefix: &str, om: bool) -> (Registry, Value) {
    let r = Registry::new();
    let mut families = Vec::new();
    let p = |n: &str| format!("{prefix}{n}");

    let help = "Messages, with a backslash \\ and a\nnewline and \"quotes\"";
    let msgs = r
        .family("messages_total", help)
        .counter::<Queue<'static>>()
        .unwrap();
    let values = [0u64, 1, (1 << 53) + 1, 42, 7, 3, u64::from(u32::MAX)];
    let mut samples = Vec::new();
    for (q, v) in NASTY.iter().zip(values) {
        msgs.get_or_create(&Queue { queue: q }).inc_by(v);
        samples.push(json!([p("messages_total"), {"queue": q}, v]));
    }
    families.push(
        json!({"name": p("messages_total"), "type": "counter", "help": help, "samples": samples}),
    );

    let depth = r
        .family("queue_depth", "depth of a queue")
        .gauge::<QueueProvider<'static>>()
        .unwrap();
    let mut samples = Vec::new();
    for (i, (q, v)) in NASTY
        .iter()
        .zip([-1i64, 0, 5, i64::MIN + 1, -7, 12, 1])
        .enumerate()
    {
        let provider = ["p-1", "", "p\"3"][i % 3];
        let g = depth.get_or_create(&QueueProvider { queue: q, provider });
        g.set(v + 1);
        g.dec();
        samples.push(json!([p("queue_depth"), {"queue": q, "provider": provider}, v]));
    }
    families.push(json!({"name": p("queue_depth"), "type": "gauge", "help": "depth of a queue", "samples": samples}));

    let ratio = r
        .family("ratio", "")
        .float_gauge::<Kind<'static>>()
        .unwrap();
    let mut samples = Vec::new();
    for (k, v, want) in [
        ("nan", f64::NAN, json!("NaN")),
        ("pinf", f64::INFINITY, json!("+Inf")),
        ("ninf", f64::NEG_INFINITY, json!("-Inf")),
        ("half", 0.5, json!(0.5)),
        ("tiny", 1e-300, json!(1e-300)),
        ("neg", -2.25, json!(-2.25)),
    ] {
        ratio.get_or_create(&Kind { kind: k }).set(v);
        samples.push(json!([p("ratio"), {"kind": k}, want]));
    }
    families.push(json!({"name": p("ratio"), "type": "gauge", "help": "", "samples": samples}));

    let lat = r
        .family("latency_seconds", "delivery \\latency\\")
        .histogram::<Queue<'static>>(&[0.005, 0.5, 1.0, 10.0])
        .unwrap();
    let mut samples = Vec::new();
    for (i, q) in NASTY.iter().enumerate().take(3) {
        let h = lat.get_or_create(&Queue { queue: q });
        let obs = [0.001, 0.3, 0.7, 5.0, 100.0];
        for o in &obs[..=i + 2] {
            h.observe(*o);
        }
        let n = i + 3;
        let mut cum = [0u64; 5];
        for o in &obs[..n] {
            let b = [0.005, 0.5, 1.0, 10.0]
                .iter()
                .position(|b| o <= b)
                .unwrap_or(4);
            for c in &mut cum[b..] {
                *c += 1;
            }
        }
        for (le, c) in ["0.005", "0.5", "1", "10", "+Inf"].iter().zip(cum) {
            samples.push(json!([p("latency_seconds_bucket"), {"queue": q, "le": le}, c]));
        }
        let sum: f64 = obs[..n].iter().sum();
        samples.push(json!([p("latency_seconds_sum"), {"queue": q}, sum]));
        samples.push(json!([p("latency_seconds_count"), {"queue": q}, n]));
    }
    families.push(json!({"name": p("latency_seconds"), "type": "histogram", "help": "delivery \\latency\\", "samples": samples}));

    let plain = r
        .family("plain_seconds", "no labels")
        .histogram::<()>(&[1.0])
        .unwrap()
        .get_or_create(&());
    plain.observe(2.0);
    families.push(
        json!({"name": p("plain_seconds"), "type": "histogram", "help": "no labels", "samples": [
            [p("plain_seconds_bucket"), {"le": "1"}, 0],
            [p("plain_seconds_bucket"), {"le": "+Inf"}, 1],
            [p("plain_seconds_sum"), {}, 2],
            [p("plain_seconds_count"), {}, 1],
        ]}),
    );

    r.family("empty_total", "never counted")
        .counter::<Queue<'static>>()
        .unwrap();
    families.push(json!({"name": p("empty_total"), "type": "counter", "help": "never counted", "samples": []}));
    r.family("empty_gauge", "").gauge::<()>().unwrap();
    families.push(json!({"name": p("empty_gauge"), "type": "gauge", "help": "", "samples": []}));

    // The TYPE line each family must have, as written: OpenMetrics names a counter family
    // without its `_total` suffix, the text format keeps it (prometheus_client's parsers drop
    // it either way, so this is checked on the raw output in `run`).
    for f in &mut families {
        let name = f["name"].as_str().unwrap().to_owned();
        let typ = f["type"].as_str().unwrap().to_owned();
        let written = match name.strip_suffix("_total") {
            Some(stem) if om && typ == "counter" => stem,
            _ => &name,
        };
        f["type_line"] = json!(format!("# TYPE {written} {typ}\n"));
    }
    (r, json!({ "families": families }))
}

fn run(mode: &str, format: Format, prefix: &str) {
    let Some(py) = python() else { return };
    let (registry, expected) = corpus(prefix, format == Format::OpenMetrics);
    let opts = ScrapeOptions::new(format)
        .chunk_size(7)
        .prefix(prefix)
        .unwrap();
    let out: Vec<u8> = registry.scrape(&opts).flatten().collect();
    if format != Format::Json {
        let text = String::from_utf8(out.clone()).expect("UTF-8 output");
        for f in expected["families"].as_array().unwrap() {
            let line = f["type_line"].as_str().unwrap();
            assert!(text.contains(line), "{mode}: no {line:?} in\n{text}");
        }
        assert_eq!(
            text.ends_with("# EOF\n"),
            format == Format::OpenMetrics,
            "{mode}: `# EOF` ends OpenMetrics output only"
        );
    }
    let dir = std::env::temp_dir().join(format!(
        "kumo-metrics-conformance-{}-{mode}-{prefix}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let out_path = dir.join("out.txt");
    let exp_path = dir.join("expected.json");
    std::fs::write(&out_path, &out).unwrap();
    std::fs::write(&exp_path, serde_json::to_vec_pretty(&expected).unwrap()).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/check.py");
    let res = Command::new(py)
        .arg(&script)
        .arg(mode)
        .arg(&out_path)
        .arg(&exp_path)
        .output()
        .expect("run the python check");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        res.status.success(),
        "{mode} check failed:\n{}\n{}\noutput was:\n{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr),
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn text_format_parses_exactly_with_prometheus_client() {
    run("text", Format::Text, "");
}

#[test]
fn text_format_with_prefix_parses_exactly() {
    run("text", Format::Text, "kumo_");
}

#[test]
fn openmetrics_passes_the_strict_parser() {
    run("openmetrics", Format::OpenMetrics, "");
}

#[test]
fn openmetrics_with_prefix_passes_the_strict_parser() {
    run("openmetrics", Format::OpenMetrics, "kumo:");
}

#[test]
fn json_is_valid_for_python_without_non_finite_numbers() {
    run("json", Format::Json, "kumo_");
}
