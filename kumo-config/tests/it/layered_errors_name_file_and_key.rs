//! Every loading error names the file, and the key path or line where it applies.

use kumo_config::{Format, LayerError, Layered, Source};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Cfg {
    #[serde(default)]
    limit: Option<u32>,
}

#[test]
fn syntax_errors_carry_file_line_and_column() {
    let l = Layered::<Cfg>::new(Vec::<std::path::PathBuf>::new());
    let err = l
        .load_sources(&[Source::new(
            "a.toml",
            Format::Toml,
            "limit = 1\nlimit = 2\n",
        )])
        .unwrap_err();
    assert!(
        matches!(&err, LayerError::Syntax { line: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("a.toml:2:"), "{err}");
    let err = l
        .load_sources(&[Source::new("b.json", Format::Json, "{\n  \"limit\": ,\n}")])
        .unwrap_err();
    assert!(
        matches!(&err, LayerError::Syntax { line: 2, .. }),
        "{err:?}"
    );
    assert_eq!(err.file().and_then(|f| f.to_str()), Some("b.json"));
}

#[test]
fn file_system_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let err = Layered::<Cfg>::new([&missing]).load().unwrap_err();
    assert!(matches!(&err, LayerError::Missing { file } if file == &missing));
    assert_eq!(err.file(), Some(missing.as_path()));

    // A directory where the file should be: it exists, it cannot be read.
    let dir_file = dir.path().join("dir.toml");
    std::fs::create_dir(&dir_file).unwrap();
    let err = Layered::<Cfg>::new([&dir_file]).load().unwrap_err();
    assert!(matches!(&err, LayerError::Read { file, .. } if file == &dir_file));
    assert!(
        std::error::Error::source(&err).is_some(),
        "io error as source"
    );

    let yaml = dir.path().join("a.yaml");
    std::fs::write(&yaml, "limit: 1").unwrap();
    let err = Layered::<Cfg>::new([&yaml]).load().unwrap_err();
    assert!(matches!(err, LayerError::UnknownFormat { .. }));
}

#[test]
fn type_errors_name_the_file_that_holds_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.json");
    std::fs::write(&a, "limit = 1").unwrap();
    std::fs::write(&b, r#"{"limit": -3}"#).unwrap();
    let err = Layered::<Cfg>::new([&a, &b]).load().unwrap_err();
    match err {
        LayerError::Type { file, path, .. } => {
            assert_eq!(file, b);
            assert_eq!(path.to_string(), "limit");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Files load in the given order: later values win.
    std::fs::write(&b, r#"{"limit": 3}"#).unwrap();
    assert_eq!(
        Layered::<Cfg>::new([&a, &b]).load().unwrap().value.limit,
        Some(3)
    );
    assert_eq!(
        Layered::<Cfg>::new([&b, &a]).load().unwrap().value.limit,
        Some(1)
    );
}

#[test]
fn non_finite_toml_floats_are_rejected_with_their_key() {
    let err = Layered::<serde_json::Value>::new(Vec::<std::path::PathBuf>::new())
        .load_sources(&[Source::new("f.toml", Format::Toml, "[x]\ny = nan")])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "f.toml: x.y: non-finite floats are not supported"
    );
}
