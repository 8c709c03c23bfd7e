//! Property tests: the loader never panics on arbitrary bytes, and merging agrees with a simple
//! oracle (deep merge = last writer per leaf; append = concatenation in file order).

use kumo_config::{Format, Layered, Merge, MergePolicy, Source};
use proptest::prelude::*;
use std::collections::BTreeMap;

type Tree = BTreeMap<String, BTreeMap<String, i64>>;

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c.d", "e f"]).prop_map(str::to_owned)
}

fn tree() -> impl Strategy<Value = Tree> {
    prop::collection::btree_map(
        key(),
        prop::collection::btree_map(key(), any::<i64>(), 0..4),
        0..4,
    )
}

fn to_toml(t: &Tree) -> String {
    toml::to_string(t).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), json in any::<bool>()) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let format = if json { Format::Json } else { Format::Toml };
        let _ = Layered::<Tree>::new(Vec::<std::path::PathBuf>::new())
            .load_sources(&[Source::new("x", format, text)]);
    }

    #[test]
    fn toml_like_text_never_panics(lines in prop::collection::vec("[a-z\\[\\]\"=. 0-9{},]{0,20}", 0..8)) {
        let _ = Layered::<serde_json::Value>::new(Vec::<std::path::PathBuf>::new())
            .policy(MergePolicy::new().replace_base("*").rule("*.m", Merge::Append))
            .load_sources(&[Source::new("x.toml", Format::Toml, lines.join("\n"))]);
    }

    #[test]
    fn deep_merge_is_last_writer_per_leaf(files in prop::collection::vec(tree(), 0..5), json_mask in any::<u8>()) {
        let mut oracle = Tree::new();
        for f in &files {
            for (k1, inner) in f {
                let slot = oracle.entry(k1.clone()).or_default();
                for (k2, v) in inner {
                    slot.insert(k2.clone(), *v);
                }
            }
        }
        let sources: Vec<Source> = files.iter().enumerate().map(|(i, f)| {
            if json_mask & (1 << i) != 0 {
                Source::new(format!("{i}.json"), Format::Json, serde_json::to_string(f).unwrap())
            } else {
                Source::new(format!("{i}.toml"), Format::Toml, to_toml(f))
            }
        }).collect();
        let got = Layered::<Tree>::new(Vec::<std::path::PathBuf>::new()).load_sources(&sources).unwrap();
        prop_assert_eq!(got.value, oracle);
    }

    #[test]
    fn append_concatenates_in_file_order(lists in prop::collection::vec(prop::collection::vec(any::<i32>(), 0..4), 0..5)) {
        let sources: Vec<Source> = lists.iter().enumerate().map(|(i, l)| {
            Source::new(format!("{i}.json"), Format::Json, serde_json::json!({"p": {"x": {"m": l}}}).to_string())
        }).collect();
        let got = Layered::<serde_json::Value>::new(Vec::<std::path::PathBuf>::new())
            .policy(MergePolicy::new().rule("p.*.m", Merge::Append))
            .load_sources(&sources)
            .unwrap();
        let expect: Vec<i32> = lists.concat();
        if lists.is_empty() {
            prop_assert!(got.value.get("p").is_none());
        } else {
            prop_assert_eq!(&got.value["p"]["x"]["m"], &serde_json::json!(expect));
        }
    }
}
