//! Fuzzing layered loading with mutations of valid files (`tests/corpus/layered_toml/` and
//! `tests/corpus/layered_json/`; `layered_merge_properties` has the arbitrary bytes): one to
//! four mutated layers, TOML and JSON mixed, merged under a policy with append and
//! `replace_base` rules. A merged value or a typed error naming a file, never a panic; the
//! merged value, written as JSON, and the error text stay within a constant of the input.

use kumo_config::{Format, Layered, Merge, MergePolicy, Source};
use kumo_fuzzkit::{accepted, corpus, mutated};
use proptest::prelude::*;

fn layer() -> impl Strategy<Value = (Format, Vec<u8>)> {
    prop_oneof![
        3 => mutated(corpus!("layered_toml"), 8).prop_map(|b| (Format::Toml, b)),
        1 => mutated(corpus!("layered_json"), 8).prop_map(|b| (Format::Json, b)),
    ]
}

fn load(layers: &[(Format, Vec<u8>)]) -> Result<bool, TestCaseError> {
    let sources: Vec<Source> = layers
        .iter()
        .enumerate()
        .map(|(i, (format, bytes))| {
            let ext = if *format == Format::Json {
                "json"
            } else {
                "toml"
            };
            Source::new(
                format!("{i}.{ext}"),
                *format,
                String::from_utf8_lossy(bytes),
            )
        })
        .collect();
    let input: usize = layers.iter().map(|(_, b)| b.len()).sum();
    let loaded = Layered::<serde_json::Value>::new(Vec::<std::path::PathBuf>::new())
        .policy(
            MergePolicy::new()
                .replace_base("*")
                .rule("provider.*.match", Merge::Append)
                .rule("base.headers", Merge::Append),
        )
        .load_sources(&sources);
    match loaded {
        Ok(loaded) => {
            let json = serde_json::to_string(&loaded.value).unwrap();
            prop_assert!(
                json.len() <= 8 * input + 256,
                "{} bytes of JSON from {} bytes",
                json.len(),
                input
            );
            Ok(true)
        }
        Err(e) => {
            let text = e.to_string();
            prop_assert!(
                text.len() <= 4 * input + 1024,
                "a {}-byte error from {} bytes",
                text.len(),
                input
            );
            Ok(false)
        }
    }
}

#[test]
fn every_seed_is_valid() {
    for seed in corpus!("layered_toml") {
        assert!(
            load(&[(Format::Toml, seed.clone())]).unwrap(),
            "{}",
            String::from_utf8_lossy(&seed)
        );
    }
    for seed in corpus!("layered_json") {
        assert!(
            load(&[(Format::Json, seed.clone())]).unwrap(),
            "{}",
            String::from_utf8_lossy(&seed)
        );
    }
    // All of them layered.
    let all: Vec<(Format, Vec<u8>)> = corpus!("layered_toml")
        .into_iter()
        .map(|b| (Format::Toml, b))
        .chain(
            corpus!("layered_json")
                .into_iter()
                .map(|b| (Format::Json, b)),
        )
        .collect();
    assert!(load(&all).unwrap());
}

/// Many mutated seeds still load: the cases reach the merge, not only the parser.
#[test]
#[allow(clippy::print_stderr, reason = "the share is worth seeing in the log")]
fn many_mutated_seeds_still_load() {
    let toml = accepted(corpus!("layered_toml"), 6, 300, |b| {
        load(&[(Format::Toml, b.to_vec())]).unwrap_or(false)
    });
    let json = accepted(corpus!("layered_json"), 6, 300, |b| {
        load(&[(Format::Json, b.to_vec())]).unwrap_or(false)
    });
    eprintln!("mutated seeds accepted (of 300): toml {toml}, json {json}");
    assert!(toml >= 30, "only {toml} of 300 mutated TOML seeds load");
    assert!(json >= 30, "only {json} of 300 mutated JSON seeds load");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn mutated_layers_merge_or_fail_with_a_typed_error(layers in prop::collection::vec(layer(), 1..5)) {
        load(&layers)?;
    }
}
