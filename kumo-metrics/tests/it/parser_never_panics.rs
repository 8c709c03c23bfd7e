//! The parser on arbitrary bytes, in arbitrary chunks: an error or items, never a panic; and the
//! same result however the input is split.

use kumo_metrics::{Item, ParseError, Parser, parse_json};
use proptest::prelude::*;

fn run(input: &[u8], splits: &[usize]) -> Result<String, ParseError> {
    let mut out = String::new();
    let mut sink = |item: Item<'_>| {
        out.push_str(&format!("{item:?}\n"));
        if let Item::Histogram(h) = item {
            let _ = h.quantile(0.5);
        }
    };
    let mut p = Parser::new().max_line(256);
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

fn text_like() -> impl Strategy<Value = Vec<u8>> {
    let token = prop::sample::select(vec![
        "# TYPE ",
        "# HELP ",
        "# EOF",
        "counter",
        "gauge",
        "histogram",
        "summary",
        "untyped",
        "x",
        "x_total",
        "x_bucket",
        "x_sum",
        "x_count",
        "x_created",
        "{",
        "}",
        "=",
        "\"",
        "\\",
        ",",
        " ",
        "\t",
        "\n",
        "le",
        "quantile",
        "0.5",
        "+Inf",
        "-Inf",
        "NaN",
        "1e3",
        "-1",
        "#",
        "\r\n",
        "é",
        "\u{0}",
    ]);
    prop::collection::vec(token, 0..60).prop_map(|v| v.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..400),
                                   splits in prop::collection::vec(0usize..400, 0..8)) {
        let mut splits = splits;
        splits.sort_unstable();
        let _ = run(&input, &splits);
        let _ = parse_json(&input);
    }

    #[test]
    fn text_like_input_is_split_invariant(input in text_like(),
                                          splits in prop::collection::vec(0usize..400, 0..8)) {
        let mut splits = splits;
        splits.sort_unstable();
        let whole = run(&input, &[]);
        let split = run(&input, &splits);
        prop_assert_eq!(whole, split);
    }
}
