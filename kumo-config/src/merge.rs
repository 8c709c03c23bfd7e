//! Merge policies: how a later file's value combines with what earlier files said.

use crate::key_path::KeyPath;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a key's value from a later file combines with the value accumulated from earlier files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Merge {
    /// The later value replaces the earlier one entirely (tables included).
    Replace,
    /// Tables merge key by key, each key by its own rule (recursively); anything else
    /// replaces. The default for tables.
    Deep,
    /// Tables merge one level deep: each key of the later table replaces the earlier key's
    /// value whole.
    Shallow,
    /// Both values must be arrays; the later one is appended to the earlier one.
    Append,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pat {
    Lit(String),
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    pattern: Vec<Pat>,
    merge: Option<Merge>,
    replace_base: bool,
}

/// The merge rules of a layered configuration, declared per key path.
///
/// A pattern is a dot-separated key path where `*` matches any one key and a quoted segment
/// (`domain."example.com"`) may contain dots. The most specific pattern wins (a literal segment
/// beats `*`, earlier segments first). Keys without a rule merge [`Merge::Deep`] when the later
/// value is a table and [`Merge::Replace`] otherwise.
///
/// [`MergePolicy::replace_base`] marks entries that honour `replace_base = true`: a later file
/// whose entry says so discards everything earlier files said for that entry (the flag itself is
/// removed from the merged value).
///
/// # Examples
///
/// ```
/// use kumo_config::{Merge, MergePolicy};
///
/// // Traffic shaping: per-domain entries deep-merge and may say `replace_base = true`;
/// // provider `match` lists append.
/// let policy = MergePolicy::new()
///     .replace_base("*")
///     .replace_base("provider.*")
///     .rule("provider.*.match", Merge::Append);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergePolicy {
    rules: Vec<Rule>,
}

fn parse_pattern(p: &str) -> Vec<Pat> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '.' if !quoted => {
                out.push(seg(std::mem::take(&mut cur), was_quoted));
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    if !p.is_empty() {
        out.push(seg(cur, was_quoted));
    }
    out
}

fn seg(s: String, quoted: bool) -> Pat {
    if s == "*" && !quoted {
        Pat::Any
    } else {
        Pat::Lit(s)
    }
}

impl MergePolicy {
    /// No rules: tables deep-merge, everything else is replaced.
    pub fn new() -> Self {
        Self::default()
    }

    fn rule_mut(&mut self, pattern: &str) -> &mut Rule {
        let pat = parse_pattern(pattern);
        if let Some(i) = self.rules.iter().position(|r| r.pattern == pat) {
            return &mut self.rules[i];
        }
        self.rules.push(Rule {
            pattern: pat,
            merge: None,
            replace_base: false,
        });
        let last = self.rules.len() - 1;
        &mut self.rules[last]
    }

    /// Declares how the values at `pattern` merge.
    pub fn rule(mut self, pattern: &str, merge: Merge) -> Self {
        self.rule_mut(pattern).merge = Some(merge);
        self
    }

    /// Declares that the tables at `pattern` honour `replace_base = true`.
    pub fn replace_base(mut self, pattern: &str) -> Self {
        self.rule_mut(pattern).replace_base = true;
        self
    }

    fn lookup(&self, path: &[String]) -> Option<&Rule> {
        let mut best: Option<(&Rule, Vec<bool>)> = None;
        for r in &self.rules {
            if r.pattern.len() != path.len() {
                continue;
            }
            let matches = r.pattern.iter().zip(path).all(|(p, k)| match p {
                Pat::Any => true,
                Pat::Lit(l) => l == k,
            });
            if !matches {
                continue;
            }
            let spec: Vec<bool> = r.pattern.iter().map(|p| matches!(p, Pat::Lit(_))).collect();
            if best.as_ref().is_none_or(|(_, b)| spec > *b) {
                best = Some((r, spec));
            }
        }
        best.map(|(r, _)| r)
    }

    /// Merges `incoming` (from file number `file`) into `acc`, recording provenance.
    pub(crate) fn merge(
        &self,
        acc: &mut Value,
        incoming: Value,
        prov: &mut Provenance,
        file: usize,
    ) -> Result<(), (KeyPath, String)> {
        let mut walk = Walk {
            path: Vec::new(),
            prov,
            file,
        };
        self.merge_at(acc, incoming, &mut walk)
    }

    fn merge_at(
        &self,
        acc: &mut Value,
        incoming: Value,
        walk: &mut Walk<'_>,
    ) -> Result<(), (KeyPath, String)> {
        let rule = self.lookup(&walk.path);
        let mut incoming = incoming;
        if rule.is_some_and(|r| r.replace_base)
            && let Value::Object(m) = &mut incoming
        {
            match m.remove("replace_base") {
                None | Some(Value::Bool(false)) => {}
                Some(Value::Bool(true)) => {
                    *acc = Value::Null;
                    walk.forget_below();
                }
                Some(_) => {
                    return Err((
                        walk.key_path().key("replace_base"),
                        "replace_base must be true or false".into(),
                    ));
                }
            }
        }
        walk.prov.record(&walk.path, walk.file);
        let merge = rule
            .and_then(|r| r.merge)
            .unwrap_or(if incoming.is_object() {
                Merge::Deep
            } else {
                Merge::Replace
            });
        match merge {
            Merge::Replace => {
                // Nested entries still get their flags stripped and lists checked.
                if incoming.is_object() {
                    *acc = Value::Null;
                    walk.forget_below();
                    return self.merge_table(acc, incoming, walk, true);
                }
                *acc = incoming;
                Ok(())
            }
            Merge::Deep => self.merge_table(acc, incoming, walk, true),
            Merge::Shallow => self.merge_table(acc, incoming, walk, false),
            Merge::Append => match (acc, incoming) {
                (_, Value::Null) => Ok(()),
                (acc @ Value::Null, Value::Array(b)) => {
                    *acc = Value::Array(b);
                    Ok(())
                }
                (Value::Array(a), Value::Array(b)) => {
                    a.extend(b);
                    Ok(())
                }
                (_, other) => Err((
                    walk.key_path(),
                    format!("expected an array to append, found {}", kind(&other)),
                )),
            },
        }
    }

    fn merge_table(
        &self,
        acc: &mut Value,
        incoming: Value,
        walk: &mut Walk<'_>,
        deep: bool,
    ) -> Result<(), (KeyPath, String)> {
        let Value::Object(m) = incoming else {
            *acc = incoming;
            return Ok(());
        };
        if !acc.is_object() {
            *acc = Value::Object(Map::new());
            walk.forget_below();
        }
        let Value::Object(a) = acc else {
            return Ok(());
        };
        for (k, v) in m {
            walk.path.push(k);
            let key = walk.path.last().cloned().unwrap_or_default();
            let slot = a.entry(key).or_insert(Value::Null);
            if !deep {
                *slot = Value::Null;
                walk.forget_below();
            }
            let r = self.merge_at(slot, v, walk);
            walk.path.pop();
            r?;
        }
        Ok(())
    }
}

/// Where a merge is: the key path below the root, the provenance it records and the number of
/// the file being merged.
struct Walk<'a> {
    path: Vec<String>,
    prov: &'a mut Provenance,
    file: usize,
}

impl Walk<'_> {
    /// Forgets which files set the keys below the current path (its value was replaced).
    fn forget_below(&mut self) {
        self.prov.forget_below(&self.path);
    }

    /// The current path as a [`KeyPath`].
    fn key_path(&self) -> KeyPath {
        KeyPath::from_keys(self.path.iter().cloned())
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

/// Which file last set each key of a merged configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    files: Vec<PathBuf>,
    last: BTreeMap<Vec<String>, usize>,
}

impl Provenance {
    pub(crate) fn new(files: Vec<PathBuf>) -> Self {
        Self {
            files,
            last: BTreeMap::new(),
        }
    }

    fn record(&mut self, path: &[String], file: usize) {
        if let Some(v) = self.last.get_mut(path) {
            *v = file;
        } else {
            self.last.insert(path.to_vec(), file);
        }
    }

    fn forget_below(&mut self, path: &[String]) {
        let below: Vec<Vec<String>> = self
            .last
            .range(path.to_vec()..)
            .take_while(|(k, _)| k.starts_with(path))
            .filter(|(k, _)| k.len() > path.len())
            .map(|(k, _)| k.clone())
            .collect();
        for k in below {
            self.last.remove(&k);
        }
    }

    /// The files, in load order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The last file that set `path` (or its nearest parent that was set).
    pub fn file_of(&self, path: &KeyPath) -> Option<&Path> {
        let mut keys = path.keys();
        loop {
            if let Some(&i) = self.last.get(&keys) {
                return self.files.get(i).map(PathBuf::as_path);
            }
            keys.pop()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(policy: &MergePolicy, files: Vec<Value>) -> Result<Value, (KeyPath, String)> {
        let mut acc = Value::Object(Map::new());
        let mut prov = Provenance::new(vec![]);
        for (i, f) in files.into_iter().enumerate() {
            policy.merge(&mut acc, f, &mut prov, i)?;
        }
        Ok(acc)
    }

    #[test]
    fn patterns_parse_quotes_and_wildcards() {
        assert_eq!(
            parse_pattern(r#"domain."example.com".x"#),
            vec![
                Pat::Lit("domain".into()),
                Pat::Lit("example.com".into()),
                Pat::Lit("x".into())
            ]
        );
        assert_eq!(parse_pattern("*.a"), vec![Pat::Any, Pat::Lit("a".into())]);
        assert_eq!(parse_pattern(""), vec![]);
    }

    #[test]
    fn most_specific_rule_wins() {
        let p = MergePolicy::new()
            .rule("*.*.match", Merge::Replace)
            .rule("provider.*.match", Merge::Append);
        let out = merged(
            &p,
            vec![
                json!({"provider": {"g": {"match": [1]}}, "x": {"y": {"match": [1]}}}),
                json!({"provider": {"g": {"match": [2]}}, "x": {"y": {"match": [2]}}}),
            ],
        )
        .unwrap();
        assert_eq!(out["provider"]["g"]["match"], json!([1, 2]));
        assert_eq!(out["x"]["y"]["match"], json!([2]));
    }

    #[test]
    fn shallow_replaces_nested_tables_whole() {
        let p = MergePolicy::new().rule("base", Merge::Shallow);
        let out = merged(
            &p,
            vec![
                json!({"base": {"t": {"a": 1, "b": 2}, "k": 1}}),
                json!({"base": {"t": {"a": 3}}}),
            ],
        )
        .unwrap();
        assert_eq!(out, json!({"base": {"t": {"a": 3}, "k": 1}}));
    }

    #[test]
    fn replace_base_must_be_a_boolean() {
        let p = MergePolicy::new().replace_base("*");
        let err = merged(&p, vec![json!({"a": {"replace_base": "yes"}})]).unwrap_err();
        assert_eq!(err.0.to_string(), "a.replace_base");
    }
}
