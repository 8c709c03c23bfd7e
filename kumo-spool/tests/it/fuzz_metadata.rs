//! Fuzzing the decoders with mutations of valid inputs (`tests/corpus/metadata/*.bin`, whole
//! encodings, and `tests/corpus/spool_id/`; `untrusted_bytes` has the arbitrary bytes). A
//! metadata body is mutated and then checksummed again, so the field parser sees every case;
//! mutated with its checksum kept, it must be refused. Decoding ends in metadata or a typed
//! error, never a panic; whatever decodes encodes back to the same bytes and owns no more bytes
//! than it was given.

use kumo_fuzzkit::{accepted, corpus, mutated};
use kumo_spool::{Metadata, SpoolId};
use proptest::prelude::*;

/// The seeds without their checksums.
fn bodies() -> Vec<Vec<u8>> {
    corpus!("metadata")
        .into_iter()
        .map(|mut b| {
            b.truncate(b.len() - 4);
            b
        })
        .collect()
}

fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    body
}

fn check_metadata(bytes: &[u8]) -> Result<bool, TestCaseError> {
    let Ok(meta) = Metadata::decode(bytes) else {
        return Ok(false);
    };
    prop_assert_eq!(meta.encode(), bytes);
    let owned = meta.sender.len()
        + meta.queue.len()
        + meta.host.len()
        + meta.recipients.iter().map(|r| r.len() + 24).sum::<usize>();
    prop_assert!(
        owned <= 7 * bytes.len(),
        "{} bytes owned from {}",
        owned,
        bytes.len()
    );
    Ok(true)
}

fn check_id(bytes: &[u8]) -> Result<bool, TestCaseError> {
    match SpoolId::parse_ascii(bytes) {
        Ok(id) => {
            prop_assert_eq!(id.to_string().into_bytes(), bytes.to_ascii_lowercase());
            Ok(true)
        }
        Err(_) => {
            prop_assert!(
                bytes.len() != 32 || !bytes.iter().all(u8::is_ascii_hexdigit),
                "32 hex digits refused: {:?}",
                String::from_utf8_lossy(bytes)
            );
            Ok(false)
        }
    }
}

#[test]
fn every_seed_is_valid() {
    for seed in corpus!("metadata") {
        assert!(check_metadata(&seed).unwrap());
    }
    for seed in corpus!("spool_id") {
        assert!(
            check_id(&seed).unwrap(),
            "{}",
            String::from_utf8_lossy(&seed)
        );
    }
}

/// Many mutated seeds still decode: the cases reach the later fields.
#[test]
#[allow(
    clippy::print_stderr,
    reason = "the shares are worth seeing in the log"
)]
fn many_mutated_seeds_still_decode() {
    let meta = accepted(bodies(), 4, 400, |b| {
        Metadata::decode(&with_crc(b.to_vec())).is_ok()
    });
    let ids = accepted(corpus!("spool_id"), 3, 400, |b| {
        SpoolId::parse_ascii(b).is_ok()
    });
    eprintln!("mutated seeds accepted (of 400): metadata {meta}, spool ids {ids}");
    assert!(
        meta >= 40,
        "only {meta} of 400 mutated metadata seeds decode"
    );
    assert!(ids >= 40, "only {ids} of 400 mutated spool ids parse");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn metadata_mutated_and_checksummed(body in mutated(bodies(), 8)) {
        check_metadata(&with_crc(body))?;
    }

    /// Mutating a whole encoding and keeping its checksum: what changed is found.
    #[test]
    fn metadata_mutated_without_a_new_checksum(bytes in mutated(corpus!("metadata"), 8)) {
        let seeds = corpus!("metadata");
        if check_metadata(&bytes)? {
            prop_assert!(seeds.contains(&bytes), "a changed encoding passed its checksum");
        }
    }

    #[test]
    fn spool_id_mutated(bytes in mutated(corpus!("spool_id"), 4)) {
        check_id(&bytes)?;
    }
}
