//! Worked example: DKIM signing configuration split over several files (`base`, `domain.*`,
//! `signature.*`), where a domain takes its selector from a `base` in another file. KumoMTA's
//! helper used to reject a file holding only some of the sections; here every section is
//! optional per file and the cross-file rules run once, after the merge.

use kumo_config::{Format, Invalid, KeyPath, LayerError, Layered, Merge, MergePolicy, Source};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DkimConfig {
    #[serde(default)]
    base: DkimParams,
    #[serde(default)]
    domain: BTreeMap<String, DkimParams>,
    #[serde(default)]
    signature: BTreeMap<String, Signature>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DkimParams {
    selector: Option<String>,
    headers: Option<Vec<String>>,
    algo: Option<Algo>,
    #[allow(dead_code, reason = "part of the schema; the example does not sign")]
    key: Option<String>,
    additional_signatures: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Algo {
    Sha256,
    Ed25519,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Signature {
    domain: Option<String>,
    policy: Option<SignaturePolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum SignaturePolicy {
    OnlyIfMissingDomainBlock,
    Always,
}

/// What signing `domain` uses once `base` is applied under it.
#[derive(Debug, PartialEq)]
struct Resolved {
    selector: String,
    headers: Vec<String>,
    algo: Algo,
    additional_signatures: Vec<String>,
}

impl DkimConfig {
    fn resolve(&self, domain: &str) -> Option<Resolved> {
        let d = self.domain.get(domain)?;
        Some(Resolved {
            selector: d.selector.clone().or(self.base.selector.clone())?,
            headers: d
                .headers
                .clone()
                .or(self.base.headers.clone())
                .unwrap_or_else(|| vec!["From".into()]),
            algo: d.algo.or(self.base.algo).unwrap_or(Algo::Sha256),
            additional_signatures: d
                .additional_signatures
                .clone()
                .or(self.base.additional_signatures.clone())
                .unwrap_or_default(),
        })
    }
}

/// The rules that span files.
fn validate(cfg: &DkimConfig) -> Result<(), Invalid> {
    let check_sigs = |path: KeyPath, sigs: &Option<Vec<String>>| {
        for s in sigs.iter().flatten() {
            if !cfg.signature.contains_key(s) {
                return Err(Invalid::new(
                    path,
                    format!("signature {s:?} is not defined"),
                ));
            }
        }
        Ok(())
    };
    check_sigs(
        KeyPath::from_keys(["base", "additional_signatures"]),
        &cfg.base.additional_signatures,
    )?;
    for (name, d) in &cfg.domain {
        let here = KeyPath::from_keys(["domain", name.as_str()]);
        if d.selector.is_none() && cfg.base.selector.is_none() {
            return Err(Invalid::new(
                here.key("selector"),
                "no selector here and none in [base]",
            ));
        }
        check_sigs(here.key("additional_signatures"), &d.additional_signatures)?;
    }
    for (name, s) in &cfg.signature {
        if s.domain.is_none() {
            return Err(Invalid::new(
                KeyPath::from_keys(["signature", name.as_str(), "domain"]),
                "a signature needs a domain",
            ));
        }
    }
    Ok(())
}

fn dkim() -> Layered<DkimConfig> {
    Layered::new(Vec::<std::path::PathBuf>::new())
        .policy(
            MergePolicy::new()
                .rule("base", Merge::Shallow)
                .rule("domain.*", Merge::Shallow)
                .rule("signature.*", Merge::Shallow),
        )
        .validate(|cfg, _| validate(cfg))
}

const BASE: &str = r#"
[base]
selector = "dkim1024"
headers = ["From", "To", "Subject"]
additional_signatures = ["MyESP"]

[signature."MyESP"]
domain = "myesp.com"
policy = "OnlyIfMissingDomainBlock"
"#;

// No [base] at all: KumoMTA rejected this file before its fix.
const DOMAINS: &str = r#"
[domain."example.com"]
algo = "sha256"

[domain."other.example"]
selector = "s2048"
algo = "ed25519"
"#;

#[test]
fn a_domain_takes_its_selector_from_a_base_in_another_file() {
    let cfg = dkim()
        .load_sources(&[
            Source::new("dkim_base.toml", Format::Toml, BASE),
            Source::new("dkim_domains.toml", Format::Toml, DOMAINS),
        ])
        .unwrap();
    let ex = cfg.value.resolve("example.com").unwrap();
    assert_eq!(ex.selector, "dkim1024");
    assert_eq!(ex.headers, ["From", "To", "Subject"]);
    assert_eq!(ex.additional_signatures, ["MyESP"]);
    let other = cfg.value.resolve("other.example").unwrap();
    assert_eq!(
        (other.selector.as_str(), other.algo),
        ("s2048", Algo::Ed25519)
    );
    assert_eq!(
        cfg.value.signature["MyESP"].policy,
        Some(SignaturePolicy::OnlyIfMissingDomainBlock)
    );
    // The order of the files does not matter for this split.
    let reversed = dkim()
        .load_sources(&[
            Source::new("dkim_domains.toml", Format::Toml, DOMAINS),
            Source::new("dkim_base.toml", Format::Toml, BASE),
        ])
        .unwrap();
    assert_eq!(reversed.value.resolve("example.com").unwrap(), ex);
}

#[test]
fn a_file_with_only_domains_is_typed_alone_but_validated_after_the_merge() {
    let err = dkim()
        .load_sources(&[Source::new("dkim_domains.toml", Format::Toml, DOMAINS)])
        .unwrap_err();
    match &err {
        LayerError::Invalid {
            file: Some(f),
            path,
            ..
        } => {
            assert_eq!(f.to_str(), Some("dkim_domains.toml"));
            assert_eq!(path.to_string(), r#"domain."example.com".selector"#);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        r#"dkim_domains.toml: domain."example.com".selector: no selector here and none in [base]"#
    );
}

#[test]
fn a_later_file_overrides_base_keys_and_merges_entries() {
    let overrides = r#"{
        "base": {"selector": "rotated"},
        "domain": {"other.example": {"headers": ["From"]}}
    }"#;
    let cfg = dkim()
        .load_sources(&[
            Source::new("dkim_base.toml", Format::Toml, BASE),
            Source::new("dkim_domains.toml", Format::Toml, DOMAINS),
            Source::new("rotate.json", Format::Json, overrides),
        ])
        .unwrap();
    let ex = cfg.value.resolve("example.com").unwrap();
    assert_eq!(ex.selector, "rotated");
    assert_eq!(
        ex.headers,
        ["From", "To", "Subject"],
        "shallow merge keeps other base keys"
    );
    let other = cfg.value.resolve("other.example").unwrap();
    assert_eq!(other.selector, "s2048", "entry merged key by key");
    assert_eq!(other.headers, ["From"]);
    assert_eq!(
        cfg.provenance
            .file_of(&KeyPath::from_keys(["base", "selector"]))
            .and_then(|p| p.to_str()),
        Some("rotate.json")
    );
    assert_eq!(
        cfg.provenance
            .file_of(&KeyPath::from_keys(["base", "headers"]))
            .and_then(|p| p.to_str()),
        Some("dkim_base.toml")
    );
}

#[test]
fn an_undefined_additional_signature_names_the_file_that_asked_for_it() {
    let extra = "[domain.\"example.com\"]\nadditional_signatures = [\"Nope\"]\n";
    let err = dkim()
        .load_sources(&[
            Source::new("dkim_base.toml", Format::Toml, BASE),
            Source::new("dkim_domains.toml", Format::Toml, DOMAINS),
            Source::new("extra.toml", Format::Toml, extra),
        ])
        .unwrap_err();
    assert_eq!(err.file().and_then(|p| p.to_str()), Some("extra.toml"));
    assert_eq!(
        err.key_path().map(ToString::to_string).as_deref(),
        Some(r#"domain."example.com".additional_signatures"#)
    );
}

#[test]
fn a_type_error_names_the_file_and_key() {
    let bad = "[domain.\"example.com\"]\nalgo = \"md5\"\n";
    let err = dkim()
        .load_sources(&[
            Source::new("dkim_base.toml", Format::Toml, BASE),
            Source::new("bad.toml", Format::Toml, bad),
        ])
        .unwrap_err();
    match &err {
        LayerError::Type {
            file,
            path,
            message,
        } => {
            assert_eq!(file.to_str(), Some("bad.toml"));
            assert_eq!(path.to_string(), r#"domain."example.com".algo"#);
            assert!(message.contains("md5"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let unknown = "[base]\nselctor = \"typo\"\n";
    let err = dkim()
        .load_sources(&[Source::new("typo.toml", Format::Toml, unknown)])
        .unwrap_err();
    assert_eq!(
        err.key_path().map(ToString::to_string).as_deref(),
        Some("base")
    );
    assert!(err.to_string().contains("selctor"), "{err}");
}
