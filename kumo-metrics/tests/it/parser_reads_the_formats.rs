//! The parser's features: escapes, timestamps, comments, `# EOF`, every type, folding,
//! quantiles, `finish()`, and typed errors with line and column.

use kumo_metrics::{Item, MetricType, ParseErrorKind, ParsedSeries, Parser, parse_text};

#[test]
fn escapes_timestamps_and_comments() {
    let input = b"# a comment\n\n# HELP m help with \\\\ and \\n.\n# TYPE m gauge\nm{a=\"q\\\"x\",b=\"back\\\\\",c=\"nl\\n\",d=\"\",} 1.5 1700000000000\nm { a = \"z\" } -Inf\n";
    let f = parse_text(input).unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].help, "help with \\ and \n.");
    assert_eq!(f[0].metric_type, MetricType::Gauge);
    let ParsedSeries::Sample {
        labels,
        value,
        timestamp,
        ..
    } = &f[0].series[0]
    else {
        panic!()
    };
    assert_eq!(
        labels.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>(),
        ["q\"x", "back\\", "nl\n", ""]
    );
    assert_eq!((*value, *timestamp), (1.5, Some(1_700_000_000_000.0)));
    let ParsedSeries::Sample { value, .. } = &f[0].series[1] else {
        panic!()
    };
    assert_eq!(*value, f64::NEG_INFINITY);
}

#[test]
fn histograms_fold_and_give_quantiles() {
    let input = b"# TYPE h histogram\n\
        h_bucket{q=\"a\",le=\"1\"} 10\nh_bucket{q=\"a\",le=\"2\"} 20\nh_bucket{q=\"a\",le=\"+Inf\"} 20\nh_sum{q=\"a\"} 25\nh_count{q=\"a\"} 20\n\
        h_bucket{q=\"b\",le=\"1\"} 0\nh_bucket{q=\"b\",le=\"+Inf\"} 4\nh_count{q=\"b\"} 4";
    // No trailing newline and a histogram last: finish() must flush it.
    let f = parse_text(input).unwrap();
    assert_eq!(f[0].series.len(), 2);
    let ParsedSeries::Histogram(a) = &f[0].series[0] else {
        panic!()
    };
    assert_eq!(a.labels, [("q".to_owned(), "a".to_owned())]);
    assert_eq!((a.sum, a.count), (Some(25.0), Some(20.0)));
    assert_eq!(a.quantile(0.75), 1.5);
    let ParsedSeries::Histogram(b) = &f[0].series[1] else {
        panic!()
    };
    assert_eq!(b.quantile(0.5), 1.0);
}

#[test]
fn summaries_untyped_and_openmetrics_counters() {
    let input =
        b"# TYPE s summary\ns{quantile=\"0.5\"} 3\ns{quantile=\"0.99\"} 9\ns_sum 30\ns_count 10\n\
        loose{x=\"1\"} 4\n# TYPE c counter\nc_total 5\nc_created 1.7e9\n# EOF\n";
    let f = parse_text(input).unwrap();
    assert_eq!(f.len(), 3);
    let ParsedSeries::Summary(s) = &f[0].series[0] else {
        panic!()
    };
    assert_eq!(
        (s.quantile(0.99), s.sum, s.count),
        (Some(9.0), Some(30.0), Some(10.0))
    );
    assert_eq!(
        (f[1].name.as_str(), f[1].metric_type),
        ("loose", MetricType::Untyped)
    );
    assert_eq!(f[2].metric_type, MetricType::Counter);
    assert_eq!(f[2].series.len(), 2);
}

#[test]
fn empty_families_are_reported() {
    let f = parse_text(b"# HELP a x\n# TYPE a counter\n# TYPE b gauge\n").unwrap();
    assert_eq!(
        f.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert!(f.iter().all(|f| f.series.is_empty()));
}

#[test]
fn errors_carry_line_and_column() {
    let e = parse_text(b"a 1\nb{x=\"1\" 2\n").unwrap_err();
    assert_eq!(
        (e.line(), e.column(), e.kind()),
        (2, 9, ParseErrorKind::ExpectedCommaOrBrace)
    );
    assert_eq!(e.to_string(), "line 2, column 9: expected ',' or '}'");
    let e = parse_text(b"a one\n").unwrap_err();
    assert_eq!(
        (e.line(), e.column(), e.kind()),
        (1, 3, ParseErrorKind::InvalidValue)
    );
    let e = parse_text(b"# EOF\na 1\n").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::AfterEof);
    let e = parse_text(b"# TYPE a gaugeish\n").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::UnknownType);
    let e = parse_text(b"a{x=\"unterminated} 1\n").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::UnterminatedLabelValue);
    let e = parse_text(b"a\xff 1\n").unwrap_err();
    assert_eq!((e.kind(), e.column()), (ParseErrorKind::InvalidUtf8, 2));
    let e = parse_text(b"# TYPE h histogram\nh_bucket 1\n").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::MissingLe);
    let e = parse_text(b"a 1 2 3\n").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::TrailingData);
}

#[test]
fn one_byte_chunks_and_zero_copy_samples() {
    let input = b"# TYPE q gauge\nq{queue=\"a\"} 1\nq{queue=\"b\\\\\"} 2\n";
    let mut seen = Vec::new();
    let mut sink = |item: Item<'_>| {
        if let Item::Sample(s) = item {
            seen.push((s.labels.get("queue").unwrap().to_owned(), s.value));
        }
    };
    let mut p = Parser::new();
    for b in input.chunks(1) {
        p.push(b, &mut sink).unwrap();
    }
    p.finish(&mut sink).unwrap();
    assert_eq!(seen, [("a".to_owned(), 1.0), ("b\\".to_owned(), 2.0)]);
}

#[test]
fn too_long_lines_are_an_error_not_unbounded_memory() {
    let mut p = Parser::new().max_line(16);
    let e = p.push(&[b'a'; 40], &mut |_| {}).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::LineTooLong);
}
