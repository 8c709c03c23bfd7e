//! Fuzzing the parsers of untrusted text: zone text (`ZoneResolver::from_zone_text`) and
//! destinations (`Destination::parse`, `normalize_host`), on arbitrary bytes and on mutations
//! of the valid seeds in `tests/corpus/zone_text/` and `tests/corpus/destination/`. Each ends in
//! a value or a typed error, never a panic, never a file read (`$INCLUDE` is refused), and a
//! normalized name is never longer than a DNS name can be.

use kumo_dns::{Destination, ZoneError, ZoneResolver, normalize_host};
use kumo_fuzzkit::{accepted, arbitrary_bytes, corpus, mutated};
use proptest::prelude::*;

fn zone(bytes: &[u8]) -> Result<ZoneResolver, ZoneError> {
    ZoneResolver::from_zone_text(&String::from_utf8_lossy(bytes))
}

fn destination(bytes: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    let _ = Destination::parse(&text);
    if let Ok(name) = normalize_host(&text) {
        prop_assert!(name.len() <= 253, "{} bytes from {:?}", name.len(), text);
        prop_assert!(name.is_ascii());
    }
    Ok(())
}

#[test]
fn every_seed_is_valid() {
    for (i, seed) in corpus!("zone_text").iter().enumerate() {
        zone(seed).unwrap_or_else(|e| panic!("zone_text seed {i}: {e:?}"));
    }
    for seed in corpus!("destination") {
        let text = String::from_utf8(seed).expect("UTF-8 seed");
        Destination::parse(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
}

/// The mutations stay close enough to valid text that many still parse: the fuzz cases reach
/// past the first token.
#[test]
#[allow(clippy::print_stderr, reason = "the share is worth seeing in the log")]
fn many_mutated_seeds_still_parse() {
    let zones = accepted(corpus!("zone_text"), 8, 500, |b| zone(b).is_ok());
    let dests = accepted(corpus!("destination"), 6, 500, |b| {
        Destination::parse(&String::from_utf8_lossy(b)).is_ok()
    });
    eprintln!("mutated seeds accepted: zone text {zones}/500, destinations {dests}/500");
    assert!(zones >= 50, "only {zones} of 500 mutated zones parse");
    assert!(
        dests >= 50,
        "only {dests} of 500 mutated destinations parse"
    );
}

#[test]
fn include_directives_are_refused_before_any_file_is_read() {
    for text in [
        "$ORIGIN test.\n$INCLUDE /dev/zero\n",
        "$ORIGIN test.\n@ SOA ns hostmaster 1 2 3 4 5\n$INCLUDE /etc/hostname\n",
        "$INCLUDE relative.zone\n",
    ] {
        assert!(
            matches!(ZoneResolver::from_zone_text(text), Err(ZoneError::Include)),
            "{text:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn zone_text_from_arbitrary_bytes(bytes in arbitrary_bytes(512)) {
        let _ = zone(&bytes);
    }

    #[test]
    fn zone_text_from_mutated_seeds(bytes in mutated(corpus!("zone_text"), 8)) {
        let _ = zone(&bytes);
    }

    #[test]
    fn destination_from_arbitrary_bytes(bytes in arbitrary_bytes(300)) {
        destination(&bytes)?;
    }

    #[test]
    fn destination_from_mutated_seeds(bytes in mutated(corpus!("destination"), 6)) {
        destination(&bytes)?;
    }
}
