//! Worked example: traffic shaping over several files: `default`, per-domain entries with
//! `sources`, and `provider` entries whose `match` lists append across files; `replace_base =
//! true` discards what earlier files said for an entry.

use kumo_config::{Format, Invalid, KeyPath, LayerError, Layered, Merge, MergePolicy, Source};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
struct Params {
    connection_limit: Option<u32>,
    max_deliveries_per_connection: Option<u32>,
    max_message_rate: Option<String>,
}

impl Params {
    fn overlay(&mut self, o: &Params) {
        if o.connection_limit.is_some() {
            self.connection_limit = o.connection_limit;
        }
        if o.max_deliveries_per_connection.is_some() {
            self.max_deliveries_per_connection = o.max_deliveries_per_connection;
        }
        if o.max_message_rate.is_some() {
            self.max_message_rate.clone_from(&o.max_message_rate);
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
struct Entry {
    #[serde(flatten)]
    params: Params,
    #[serde(default)]
    sources: BTreeMap<String, Params>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
enum MatchRule {
    DomainSuffix(String),
    MXSuffix(String),
}

#[derive(Debug, Default, Clone, Deserialize)]
struct Provider {
    #[serde(rename = "match", default)]
    rules: Vec<MatchRule>,
    #[serde(flatten)]
    entry: Entry,
}

#[derive(Debug, Default, Deserialize)]
struct Shaping {
    #[serde(default)]
    default: Entry,
    #[serde(default)]
    provider: BTreeMap<String, Provider>,
    #[serde(flatten)]
    domains: BTreeMap<String, Entry>,
}

impl Shaping {
    /// default → matching providers → provider source → domain → domain source.
    fn effective(&self, domain: &str, source: &str) -> Params {
        let mut p = self.default.params.clone();
        for prov in self.provider.values() {
            let hit = prov.rules.iter().any(|r| match r {
                MatchRule::DomainSuffix(s) => domain.ends_with(s.as_str()),
                MatchRule::MXSuffix(_) => false,
            });
            if hit {
                p.overlay(&prov.entry.params);
                if let Some(s) = prov.entry.sources.get(source) {
                    p.overlay(s);
                }
            }
        }
        if let Some(d) = self.domains.get(domain) {
            p.overlay(&d.params);
            if let Some(s) = d.sources.get(source) {
                p.overlay(s);
            }
        }
        p
    }
}

fn shaping() -> Layered<Shaping> {
    Layered::new(Vec::<std::path::PathBuf>::new())
        .policy(
            MergePolicy::new()
                .replace_base("*")
                .replace_base("provider.*")
                .rule("provider.*.match", Merge::Append),
        )
        .validate(|cfg: &Shaping, _| {
            for (name, p) in &cfg.provider {
                if p.rules.is_empty() {
                    return Err(Invalid::new(
                        KeyPath::from_keys(["provider", name.as_str(), "match"]),
                        "a provider needs at least one match rule",
                    ));
                }
            }
            Ok(())
        })
}

const A: &str = r#"
["default"]
connection_limit = 10
"#;

const B: &str = r#"
["gmail.com"]
max_deliveries_per_connection = 50

["gmail.com".sources."ip-1"]
connection_limit = 5

[provider."google"]
match = [{DomainSuffix = "gmail.com"}]
max_message_rate = "100/s"
"#;

const C: &str = r#"
["gmail.com"]
replace_base = true
connection_limit = 3
"#;

fn src(name: &str, text: &str) -> Source {
    Source::new(name, Format::Toml, text)
}

#[test]
fn default_domain_and_source_layers_combine() {
    let cfg = shaping()
        .load_sources(&[src("a.toml", A), src("b.toml", B)])
        .unwrap();
    let p = cfg.value.effective("gmail.com", "ip-1");
    assert_eq!(p.connection_limit, Some(5), "source overrides");
    assert_eq!(p.max_deliveries_per_connection, Some(50), "domain's own");
    assert_eq!(p.max_message_rate.as_deref(), Some("100/s"), "provider's");
    let other = cfg.value.effective("gmail.com", "ip-2");
    assert_eq!(other.connection_limit, Some(10), "from default");
}

#[test]
fn replace_base_discards_earlier_files_entry() {
    let cfg = shaping()
        .load_sources(&[src("a.toml", A), src("b.toml", B), src("c.toml", C)])
        .unwrap();
    let gmail = &cfg.value.domains["gmail.com"];
    assert_eq!(gmail.params.connection_limit, Some(3));
    assert_eq!(
        gmail.params.max_deliveries_per_connection, None,
        "B's keys gone"
    );
    assert!(gmail.sources.is_empty(), "B's sources gone");
    assert!(cfg.merged["gmail.com"].get("replace_base").is_none());
    assert_eq!(
        cfg.provenance
            .file_of(&KeyPath::from_keys(["gmail.com", "connection_limit"]))
            .and_then(|p| p.to_str()),
        Some("c.toml")
    );
    // Other entries of B stay.
    assert!(cfg.value.provider.contains_key("google"));
}

#[test]
fn provider_match_lists_append_across_files() {
    let d = r#"
[provider."google"]
match = [{DomainSuffix = "googlemail.com"}]
connection_limit = 7

["gmail.com".sources."ip-1"]
max_message_rate = "5/s"
"#;
    let cfg = shaping()
        .load_sources(&[src("a.toml", A), src("b.toml", B), src("d.toml", d)])
        .unwrap();
    let google = &cfg.value.provider["google"];
    assert_eq!(
        google.rules,
        [
            MatchRule::DomainSuffix("gmail.com".into()),
            MatchRule::DomainSuffix("googlemail.com".into())
        ]
    );
    assert_eq!(
        google.entry.params.max_message_rate.as_deref(),
        Some("100/s")
    );
    assert_eq!(google.entry.params.connection_limit, Some(7));
    let p = cfg.value.effective("x.googlemail.com", "ip-1");
    assert_eq!(p.connection_limit, Some(7));
    // Sources deep-merge key by key.
    let ip1 = &cfg.value.domains["gmail.com"].sources["ip-1"];
    assert_eq!(
        (ip1.connection_limit, ip1.max_message_rate.as_deref()),
        (Some(5), Some("5/s"))
    );
}

#[test]
fn a_provider_may_get_its_match_list_from_another_file() {
    let params_only = "[provider.\"google\"]\nconnection_limit = 2\n";
    let cfg = shaping()
        .load_sources(&[src("b.toml", B), src("p.toml", params_only)])
        .unwrap();
    assert_eq!(cfg.value.provider["google"].rules.len(), 1);

    let err = shaping()
        .load_sources(&[
            src("a.toml", A),
            src("p.toml", "[provider.\"yahoo\"]\nconnection_limit = 2\n"),
        ])
        .unwrap_err();
    assert!(
        matches!(&err, LayerError::Invalid { file: Some(f), .. } if f.to_str() == Some("p.toml"))
    );
    assert_eq!(
        err.key_path().map(ToString::to_string).as_deref(),
        Some("provider.yahoo.match")
    );
}

#[test]
fn appending_something_that_is_not_a_list_is_an_error_naming_file_and_key() {
    let bad = "[provider.\"google\"]\nmatch = \"gmail.com\"\n";
    let err = shaping()
        .load_sources(&[src("b.toml", B), src("bad.toml", bad)])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad.toml: provider.google.match: expected an array to append, found a string"
    );
}
