//! parse(write(registry)) == registry, as a property test: the text output parsed with the input
//! split at every byte offset (and in 1-byte chunks), and the JSON output read back.

use kumo_metrics::{
    HistogramSeries, Item, MetricType, ParsedFamily, ParsedSeries, Parser, Registry, ScrapeOptions,
    parse_json,
};
use proptest::prelude::*;

kumo_metrics::label_set! { struct Queue { queue } }
kumo_metrics::label_set! { struct Two { queue, provider } }

const BOUNDS: [f64; 3] = [0.1, 1.0, 10.0];

#[derive(Debug, Clone)]
struct Model {
    counters: Vec<(String, u64)>,
    gauges: Vec<((String, String), i64)>,
    float: Option<f64>,
    hists: Vec<(String, Vec<f64>)>,
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9@.:-]{0,12}",
        ".{0,6}",
        prop::sample::select(vec!["\"", "\\", "\n", "a\\", "\\\"\\n", "é✉"]).prop_map(String::from),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        -1e6f64..1e6,
        any::<f64>(),
    ]
}

fn model() -> impl Strategy<Value = Model> {
    (
        prop::collection::vec((label(), 0u64..(1 << 53)), 0..4),
        prop::collection::vec(((label(), label()), any::<i64>()), 0..4),
        prop::option::of(float()),
        prop::collection::vec((label(), prop::collection::vec(-20.0f64..20.0, 0..4)), 0..3),
    )
        .prop_map(|(mut c, mut g, float, mut h)| {
            dedup(&mut c, |x| x.0.clone());
            dedup(&mut g, |x| x.0.clone());
            dedup(&mut h, |x| x.0.clone());
            Model {
                counters: c,
                gauges: g,
                float,
                hists: h,
            }
        })
}

fn dedup<T, K: PartialEq>(v: &mut Vec<T>, key: impl Fn(&T) -> K) {
    let mut i = 0;
    while i < v.len() {
        if v[..i].iter().any(|x| key(x) == key(&v[i])) {
            v.remove(i);
        } else {
            i += 1;
        }
    }
}

fn build(m: &Model) -> Registry {
    let r = Registry::new();
    let c = r
        .family("c_total", "counts \\ and\nlines")
        .counter::<Queue<'static>>()
        .unwrap();
    for (q, v) in &m.counters {
        c.get_or_create(&Queue { queue: q }).inc_by(*v);
    }
    let g = r.family("g", "").gauge::<Two<'static>>().unwrap();
    for ((q, p), v) in &m.gauges {
        g.get_or_create(&Two {
            queue: q,
            provider: p,
        })
        .set(*v);
    }
    let f = r.family("f", "float").float_gauge::<()>().unwrap();
    if let Some(v) = m.float {
        f.get_or_create(&()).set(v);
    }
    let h = r
        .family("h", "hist")
        .histogram::<Queue<'static>>(&BOUNDS)
        .unwrap();
    for (q, obs) in &m.hists {
        let s = h.get_or_create(&Queue { queue: q });
        for o in obs {
            s.observe(*o);
        }
    }
    r
}

fn sample(name: &str, labels: Vec<(&str, &str)>, value: f64) -> ParsedSeries {
    make_sample(
        name,
        labels
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect(),
        value,
    )
}

fn make_sample(name: &str, labels: Vec<(String, String)>, value: f64) -> ParsedSeries {
    ParsedSeries::Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp: None,
    }
}

fn expected(m: &Model, json: bool) -> Vec<ParsedFamily> {
    let fix = |v: f64| if json && !v.is_finite() { f64::NAN } else { v };
    let fam = |name: &str, help: &str, t, series| ParsedFamily {
        name: name.into(),
        help: help.into(),
        metric_type: t,
        series,
    };
    let mut hist_series = Vec::new();
    for (q, obs) in &m.hists {
        let mut cum = [0.0; 4];
        let mut sum = 0.0;
        for o in obs {
            let b = BOUNDS.iter().position(|b| o <= b).unwrap_or(3);
            for c in &mut cum[b..] {
                *c += 1.0;
            }
            sum += o;
        }
        let mut buckets: Vec<(f64, f64)> = BOUNDS.iter().copied().zip(cum).collect();
        buckets.push((f64::INFINITY, cum[3]));
        hist_series.push(ParsedSeries::Histogram(HistogramSeries {
            name: "h".into(),
            labels: vec![("queue".into(), q.clone())],
            buckets,
            sum: Some(sum),
            count: Some(obs.len() as f64),
            created: None,
            timestamp: None,
        }));
    }
    vec![
        fam(
            "c_total",
            "counts \\ and\nlines",
            MetricType::Counter,
            m.counters
                .iter()
                .map(|(q, v)| sample("c_total", vec![("queue", q)], *v as f64))
                .collect(),
        ),
        fam(
            "g",
            "",
            MetricType::Gauge,
            m.gauges
                .iter()
                .map(|((q, p), v)| sample("g", vec![("queue", q), ("provider", p)], *v as f64))
                .collect(),
        ),
        fam(
            "f",
            "float",
            MetricType::Gauge,
            // In the JSON shape a label-less family's `null` means "no series", so a
            // non-finite value (written as null) reads back as no series.
            m.float
                .filter(|v| !json || v.is_finite())
                .map(|v| make_sample("f", vec![], fix(v)))
                .into_iter()
                .collect(),
        ),
        fam("h", "hist", MetricType::Histogram, hist_series),
    ]
}

fn parse_split(text: &[u8], at: &[usize]) -> Vec<ParsedFamily> {
    let mut out: Vec<ParsedFamily> = Vec::new();
    let mut sink = |item: Item<'_>| {
        let s = match item {
            Item::Family(f) => {
                out.push(ParsedFamily {
                    name: f.name.clone(),
                    help: f.help.clone(),
                    metric_type: f.metric_type,
                    series: vec![],
                });
                return;
            }
            Item::Sample(s) => make_sample(
                s.name,
                s.labels
                    .iter()
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .collect(),
                s.value,
            ),
            Item::Histogram(h) => ParsedSeries::Histogram(h.clone()),
            Item::Summary(_) => panic!("no summaries written"),
            _ => panic!("unexpected item"),
        };
        out.last_mut().unwrap().series.push(s);
    };
    let mut p = Parser::new();
    let mut start = 0;
    for &k in at {
        p.push(&text[start..k], &mut sink).unwrap();
        start = k;
    }
    p.push(&text[start..], &mut sink).unwrap();
    p.finish(&mut sink).unwrap();
    out
}

fn same(a: &[ParsedFamily], b: &[ParsedFamily]) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn text_round_trips_at_every_split(m in model(), chunk in 1usize..300) {
        let r = build(&m);
        let text: Vec<u8> = r.scrape(&ScrapeOptions::text().chunk_size(chunk)).flatten().collect();
        let want = expected(&m, false);
        let whole = parse_split(&text, &[]);
        prop_assert!(same(&whole, &want), "whole:\n{whole:?}\nwant:\n{want:?}\ntext:\n{}", String::from_utf8_lossy(&text));
        for k in 0..=text.len() {
            let got = parse_split(&text, &[k]);
            prop_assert!(same(&got, &want), "split at {k}");
        }
        let ones: Vec<usize> = (1..text.len()).collect();
        prop_assert!(same(&parse_split(&text, &ones), &want));
    }

    #[test]
    fn json_round_trips(m in model(), chunk in 1usize..300) {
        let r = build(&m);
        let json: Vec<u8> = r.scrape(&ScrapeOptions::json().chunk_size(chunk)).flatten().collect();
        let got = parse_json(&json).unwrap();
        let want = expected(&m, true);
        prop_assert!(same(&got, &want), "got:\n{got:?}\nwant:\n{want:?}\njson:\n{}", String::from_utf8_lossy(&json));
    }
}
