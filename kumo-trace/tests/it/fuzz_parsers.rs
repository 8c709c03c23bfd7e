//! Fuzzing the parsers of untrusted text: JSON lines (`from_json_line`, `JsonLinesReader`),
//! networks (`Cidr`), timestamps and subscription query pairs, on arbitrary bytes and on
//! mutations of the valid seeds in `tests/corpus/<target>/`. Each ends in a value or a typed
//! error, never a panic; whatever parses writes back to text that parses to the same value, and
//! a decoded event is not much larger, written again, than the line it came from.

use kumo_fuzzkit::{accepted, arbitrary_bytes, corpus, mutated};
use kumo_trace::{
    Cidr, JsonLinesReader, SubscribeOptions, Timestamp, TraceHub, from_json_line, to_json_line,
};
use proptest::prelude::*;

/// Every line and the reader over the whole input.
fn json_lines(bytes: &[u8]) -> Result<usize, TestCaseError> {
    let mut ok = 0;
    for line in bytes.split(|&b| b == b'\n') {
        if let Ok(ev) = from_json_line(line) {
            ok += 1;
            let again = to_json_line(&ev);
            // Escapes can grow a byte sixfold (`\u0001`); a missing `meta` is written back empty.
            prop_assert!(
                again.len() <= 6 * line.len() + 64,
                "{} bytes from a {}-byte line",
                again.len(),
                line.len()
            );
            prop_assert_eq!(from_json_line(again.as_bytes()).ok(), Some(ev));
        }
    }
    let lines = bytes.split(|&b| b == b'\n').count();
    let items = JsonLinesReader::new(bytes).with_max_line(4096).count();
    prop_assert!(items <= lines, "{} items from {} lines", items, lines);
    Ok(ok)
}

fn cidr(bytes: &[u8]) -> Result<bool, TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    let Ok(net) = text.parse::<Cidr>() else {
        return Ok(false);
    };
    prop_assert_eq!(net.to_string().parse::<Cidr>(), Ok(net));
    prop_assert!(
        net.contains(net.addr()),
        "{} does not contain its own address",
        net
    );
    Ok(true)
}

fn timestamp(bytes: &[u8]) -> Result<bool, TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    let Ok(t) = text.parse::<Timestamp>() else {
        return Ok(false);
    };
    prop_assert_eq!(t.to_string().parse::<Timestamp>(), Ok(t));
    Ok(true)
}

/// `k=v&k=v...`, split as a query string is (without percent-decoding).
fn query(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let pairs = text
        .split('&')
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")));
    match SubscribeOptions::from_query_pairs(pairs) {
        Ok(options) => {
            // Subscribing with whatever the query asked for allocates nothing up front.
            let hub = TraceHub::new();
            drop(hub.subscribe(options));
            true
        }
        Err(_) => false,
    }
}

#[test]
fn every_seed_is_valid() {
    for seed in corpus!("json_lines") {
        let lines = seed
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        assert_eq!(json_lines(&seed).unwrap(), lines);
    }
    for seed in corpus!("cidr") {
        assert!(cidr(&seed).unwrap(), "{}", String::from_utf8_lossy(&seed));
    }
    for seed in corpus!("timestamp") {
        assert!(
            timestamp(&seed).unwrap(),
            "{}",
            String::from_utf8_lossy(&seed)
        );
    }
    for seed in corpus!("subscribe_query") {
        assert!(query(&seed), "{}", String::from_utf8_lossy(&seed));
    }
}

/// Many mutated seeds still parse: the cases get past the first byte.
#[test]
#[allow(
    clippy::print_stderr,
    reason = "the shares are worth seeing in the log"
)]
fn many_mutated_seeds_still_parse() {
    let shares = [
        (
            "json_lines",
            accepted(corpus!("json_lines"), 4, 300, |b| {
                b.split(|&c| c == b'\n').any(|l| from_json_line(l).is_ok())
            }),
        ),
        (
            "cidr",
            accepted(corpus!("cidr"), 3, 300, |b| cidr(b).unwrap_or(false)),
        ),
        (
            "timestamp",
            accepted(corpus!("timestamp"), 3, 300, |b| {
                timestamp(b).unwrap_or(false)
            }),
        ),
        (
            "subscribe_query",
            accepted(corpus!("subscribe_query"), 3, 300, query),
        ),
    ];
    eprintln!("mutated seeds accepted (of 300): {shares:?}");
    for (target, n) in shares {
        assert!(n >= 30, "only {n} of 300 mutated {target} seeds parse");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn json_lines_from_arbitrary_bytes(bytes in arbitrary_bytes(1024)) {
        json_lines(&bytes)?;
    }

    #[test]
    fn json_lines_from_mutated_seeds(bytes in mutated(corpus!("json_lines"), 8)) {
        json_lines(&bytes)?;
    }

    #[test]
    fn cidr_from_arbitrary_bytes(bytes in arbitrary_bytes(64)) {
        cidr(&bytes)?;
    }

    #[test]
    fn cidr_from_mutated_seeds(bytes in mutated(corpus!("cidr"), 4)) {
        cidr(&bytes)?;
    }

    #[test]
    fn timestamp_from_arbitrary_bytes(bytes in arbitrary_bytes(64)) {
        timestamp(&bytes)?;
    }

    #[test]
    fn timestamp_from_mutated_seeds(bytes in mutated(corpus!("timestamp"), 4)) {
        timestamp(&bytes)?;
    }

    #[test]
    fn subscribe_query_from_arbitrary_bytes(bytes in arbitrary_bytes(256)) {
        query(&bytes);
    }

    #[test]
    fn subscribe_query_from_mutated_seeds(bytes in mutated(corpus!("subscribe_query"), 6)) {
        query(&bytes);
    }
}

/// Found by `cidr_from_mutated_seeds`: an IPv4-mapped network contained nothing, not even its
/// own address, since `contains` judges mapped addresses as IPv4.
#[test]
fn an_ipv4_mapped_network_is_the_ipv4_network() {
    let net: Cidr = "::ffff:192.0.2.77/120".parse().unwrap();
    assert_eq!(net.to_string(), "192.0.2.0/24");
    for ip in ["192.0.2.5", "::ffff:192.0.2.5", "::ffff:192.0.2.0"] {
        assert!(net.contains(ip.parse().unwrap()), "{ip}");
    }
    assert!(!net.contains("192.0.3.1".parse().unwrap()));
    // A shorter prefix reaches beyond the mapped range: it stays an IPv6 network.
    let wide: Cidr = "::ffff:0:0/80".parse().unwrap();
    assert_eq!(wide.to_string(), "::/80");
}
