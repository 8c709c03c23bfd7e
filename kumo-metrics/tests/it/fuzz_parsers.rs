//! Fuzzing the parsers with mutations of valid inputs (`tests/corpus/text/` and
//! `tests/corpus/json/`; `parser_never_panics` has the arbitrary bytes): an error or families,
//! never a panic; the streaming parser gives the same result however the input is split; and
//! the parsed families hold at most a constant times the input's bytes.

use kumo_fuzzkit::{accepted, corpus, mutated};
use kumo_metrics::{
    Item, JsonError, ParseError, ParsedFamily, ParsedSeries, Parser, parse_json, parse_text,
};
use proptest::prelude::*;

/// The streaming parser over `input` cut at `splits`, each item as its debug text.
fn stream(input: &[u8], splits: &[usize]) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    let mut sink = |item: Item<'_>| {
        if let Item::Histogram(h) = &item {
            let _ = h.quantile(0.5);
        }
        out.push(format!("{item:?}"));
    };
    let mut p = Parser::new().max_line(4096);
    let mut start = 0;
    for &k in splits {
        let k = k.min(input.len()).max(start);
        p.push(&input[start..k], &mut sink)?;
        start = k;
    }
    p.push(&input[start..], &mut sink)?;
    p.finish(&mut sink)?;
    Ok(out)
}

/// The bytes the families own: their strings, and 16 per number.
fn owned(families: &[ParsedFamily]) -> usize {
    let labels = |l: &[(String, String)]| l.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    families
        .iter()
        .map(|f| {
            f.name.len()
                + f.help.len()
                + f.series
                    .iter()
                    .map(|s| match s {
                        ParsedSeries::Sample {
                            name, labels: l, ..
                        } => name.len() + labels(l) + 32,
                        ParsedSeries::Histogram(h) => {
                            h.name.len() + labels(&h.labels) + 16 * (2 * h.buckets.len() + 4)
                        }
                        ParsedSeries::Summary(s) => {
                            s.name.len() + labels(&s.labels) + 16 * (2 * s.quantiles.len() + 4)
                        }
                        _ => 0,
                    })
                    .sum::<usize>()
        })
        .sum()
}

fn check_text(input: &[u8], splits: &[usize]) -> Result<bool, TestCaseError> {
    let whole = stream(input, &[]);
    prop_assert_eq!(&whole, &stream(input, splits));
    let parsed = parse_text(input);
    prop_assert_eq!(parsed.is_ok(), whole.is_ok());
    if let Ok(families) = &parsed {
        let size = owned(families);
        prop_assert!(
            size <= 32 * input.len() + 64,
            "{} bytes from {}",
            size,
            input.len()
        );
    }
    Ok(parsed.is_ok())
}

fn check_json(input: &[u8]) -> Result<bool, TestCaseError> {
    let parsed = parse_json(input);
    if let Ok(families) = &parsed {
        let size = owned(families);
        prop_assert!(
            size <= 64 * input.len() + (1 << 17),
            "{} bytes from {}",
            size,
            input.len()
        );
    }
    Ok(parsed.is_ok())
}

fn splits() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..4096, 0..8).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

#[test]
fn every_seed_is_valid() {
    for seed in corpus!("text") {
        assert!(
            check_text(&seed, &[1, 2, 50]).unwrap(),
            "{}",
            String::from_utf8_lossy(&seed)
        );
    }
    for seed in corpus!("json") {
        assert!(
            check_json(&seed).unwrap(),
            "{}",
            String::from_utf8_lossy(&seed)
        );
    }
}

/// Many mutated seeds still parse: the cases reach past the first line.
#[test]
#[allow(
    clippy::print_stderr,
    reason = "the shares are worth seeing in the log"
)]
fn many_mutated_seeds_still_parse() {
    let text = accepted(corpus!("text"), 6, 400, |b| parse_text(b).is_ok());
    let json = accepted(corpus!("json"), 6, 400, |b| parse_json(b).is_ok());
    eprintln!("mutated seeds accepted (of 400): text {text}, json {json}");
    assert!(text >= 40, "only {text} of 400 mutated text seeds parse");
    assert!(json >= 40, "only {json} of 400 mutated json seeds parse");
}

/// Found by `json_output_is_bounded`: every series owned a copy of its family name (and of the
/// label name in the one-label form), so a long name over many short series multiplied the
/// input: here 80 KB of JSON would have become 100 MB of names.
#[test]
fn long_names_over_many_series_are_refused_not_multiplied() {
    let name = "n".repeat(10_000);
    let entries: Vec<String> = (0..10_000).map(|i| format!("\"{i}\":1")).collect();
    let json = format!(
        "{{\"{name}\":{{\"type\":\"gauge\",\"value\":{{\"{name}\":{{{}}}}}}}}}",
        entries.join(",")
    );
    assert!(matches!(
        parse_json(json.as_bytes()),
        Err(JsonError::TooLarge(_))
    ));
    // The same series under short names parse.
    let json = json.replace(&name, "q");
    assert_eq!(parse_json(json.as_bytes()).unwrap()[0].series.len(), 10_000);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn text_mutated_seeds(input in mutated(corpus!("text"), 8), splits in splits()) {
        check_text(&input, &splits)?;
    }

    #[test]
    fn json_mutated_seeds(input in mutated(corpus!("json"), 8)) {
        check_json(&input)?;
    }

}

proptest! {
    // Inputs of up to a few megabytes: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Long names repeated over many series: the output stays within a constant of the input.
    #[test]
    fn json_output_is_bounded(
        name_len in 1usize..3000,
        series in 1usize..3000,
        one_label in any::<bool>(),
        hist in any::<bool>(),
    ) {
        let name = "n".repeat(name_len);
        let value = if hist { "{\"count\":1,\"sum\":1,\"bucket\":[[1,1]]}" } else { "1" };
        let body = if one_label {
            let e: Vec<String> = (0..series).map(|i| format!("\"{i}\":{value}")).collect();
            format!("{{\"{name}\":{{{}}}}}", e.join(","))
        } else {
            let e: Vec<String> = (0..series).map(|i| format!("{{\"a\":\"{i}\",\"b\":\"\",\"@\":{value}}}")).collect();
            format!("[{}]", e.join(","))
        };
        let typ = if hist { "histogram" } else { "gauge" };
        let json = format!("{{\"{name}\":{{\"type\":\"{typ}\",\"value\":{body}}}}}");
        check_json(json.as_bytes())?;
    }
}
