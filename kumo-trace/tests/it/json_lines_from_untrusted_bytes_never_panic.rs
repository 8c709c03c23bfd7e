//! Decoding JSON lines from untrusted bytes returns errors, never panics: random bytes,
//! mutated valid lines, deep nesting, over-long lines.

use kumo_trace::{JsonLinesReader, ReadError, from_json_line, to_json_line};
use proptest::prelude::*;

fn valid_line() -> String {
    to_json_line(&crate::support::Sess::client("c1", "example.com").write(3, "DATA\r\n"))
}

proptest! {
    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = from_json_line(&bytes);
        for item in JsonLinesReader::new(&bytes[..]).with_max_line(64) {
            let _ = item;
        }
    }

    #[test]
    fn mutated_valid_lines(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = valid_line().into_bytes();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let n = cut.index(bytes.len() + 1);
        let _ = from_json_line(&bytes[..n]);
        let _ = from_json_line(&bytes);
    }

    #[test]
    fn mutated_timestamps_and_addresses(s in "[0-9:T.Z\\-\\[\\]a-f]{0,40}") {
        let when = format!("{{\"side\":\"server\",\"session\":\"k\",\"when\":\"{s}\",\"payload\":{{\"type\":\"closed\"}}}}");
        let _ = from_json_line(when.as_bytes());
        let peer = format!("{{\"side\":\"server\",\"session\":\"k\",\"when\":\"2024-01-01T00:00:00Z\",\"meta\":{{\"peer\":\"{s}\"}},\"payload\":{{\"type\":\"closed\"}}}}");
        let _ = from_json_line(peer.as_bytes());
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = "[".repeat(100_000);
    assert!(from_json_line(deep.as_bytes()).is_err());
    let deep_payload = format!(
        "{{\"side\":\"server\",\"session\":\"k\",\"when\":\"2024-01-01T00:00:00Z\",\"payload\":{}}}",
        "{\"a\":".repeat(50_000)
    );
    assert!(from_json_line(deep_payload.as_bytes()).is_err());
}

#[test]
fn an_over_long_line_is_skipped_and_reading_goes_on() {
    let text = format!("{}\n{}", "x".repeat(1000), valid_line());
    let mut r = JsonLinesReader::new(text.as_bytes()).with_max_line(200);
    assert!(matches!(
        r.next(),
        Some(Err(ReadError::LineTooLong { line: 1, max: 200 }))
    ));
    assert!(r.next().unwrap().is_ok());
    assert!(r.next().is_none());
}

#[test]
fn errors_name_the_line_and_column() {
    let text = format!("{}{{\"side\":\"sideways\"}}\n", valid_line());
    let mut r = JsonLinesReader::new(text.as_bytes());
    assert!(r.next().unwrap().is_ok());
    let err = r.next().unwrap().unwrap_err();
    assert!(matches!(&err, ReadError::Decode { line: 2, .. }), "{err}");
    assert_eq!(err.to_string(), "invalid trace event on line 2");
    let source = std::error::Error::source(&err).unwrap();
    assert!(
        source
            .to_string()
            .starts_with("invalid trace event at column")
    );
}
