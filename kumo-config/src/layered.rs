//! `Layered`: several TOML or JSON files loaded in order into one typed value.

use crate::key_path::KeyPath;
use crate::layer::{Layer, LayerKind};
use crate::layer_error::{Invalid, LayerError};
use crate::merge::{MergePolicy, Provenance};
use crate::scan::Plan;
use crate::value_de::from_value;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The syntax of one configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// TOML 1.0.
    Toml,
    /// JSON.
    Json,
}

impl Format {
    /// The format that a file name's extension says (`.toml`, `.json`, any case).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// One configuration document already in memory (from a remote source, a test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The name errors use for it (usually its path).
    pub name: PathBuf,
    /// The document.
    pub text: String,
    /// Its syntax.
    pub format: Format,
}

impl Source {
    /// A document named `name` in `format`.
    pub fn new(name: impl Into<PathBuf>, format: Format, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
            format,
        }
    }
}

/// A loaded layered configuration: the typed value, the merged tree it came from, and which
/// file set each key.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// The typed configuration.
    pub value: T,
    /// The merged tree, before typing.
    pub merged: Value,
    /// Which file last set each key.
    pub provenance: Provenance,
}

type Validator<T> = Arc<dyn Fn(&T, &Provenance) -> Result<(), Invalid> + Send + Sync>;

/// Several TOML or JSON files, loaded in order into one typed value `T`.
///
/// Each file is parsed, merged into the accumulated tree by the [`MergePolicy`], and (by
/// default) also typed on its own as `T`, so that a wrong type is reported with the file that
/// holds it. Every section is therefore optional in each file: give `T`'s sections
/// `#[serde(default)]` (or `Option`) and put the rules that span files in
/// [`Layered::validate`], which runs once, on the merged value. Errors name the file and the key
/// path ([`LayerError`]).
///
/// Files listed by [`Layered::new`] or [`Layered::file`] are required: a missing one is an
/// error ([`LayerError::Missing`]). [`Layered::layer`] with [`Layer::optional`] lists a file
/// that may be absent; [`Layered::glob`] lists a folder's files, which may come and go. A file
/// that exists but cannot be read is always an error, never "absent" (see [`Layer`]).
///
/// To reload on change and keep serving the last good value when a file is broken, wrap it in a
/// [`LiveConfig`](crate::LiveConfig).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use kumo_config::{Format, Layered, Merge, MergePolicy, Source};
/// use serde::Deserialize;
/// use std::collections::BTreeMap;
///
/// #[derive(Debug, Deserialize)]
/// struct Queues {
///     #[serde(default)]
///     default: QueueParams,
///     #[serde(default)]
///     queue: BTreeMap<String, QueueParams>,
/// }
/// #[derive(Debug, Default, Deserialize)]
/// struct QueueParams {
///     retry_interval: Option<u64>,
///     #[serde(default)]
///     tags: Vec<String>,
/// }
///
/// let layered = Layered::<Queues>::new(Vec::<std::path::PathBuf>::new())
///     .policy(MergePolicy::new().rule("queue.*.tags", Merge::Append));
/// let cfg = layered.load_sources(&[
///     Source::new("base.toml", Format::Toml, "[default]\nretry_interval = 60\n[queue.\"a.com\"]\ntags = [\"x\"]"),
///     Source::new("site.json", Format::Json, r#"{"queue": {"a.com": {"tags": ["y"], "retry_interval": 5}}}"#),
/// ])?;
/// assert_eq!(cfg.value.default.retry_interval, Some(60));
/// assert_eq!(cfg.value.queue["a.com"].retry_interval, Some(5));
/// assert_eq!(cfg.value.queue["a.com"].tags, ["x", "y"]);
/// # Ok(()) }
/// ```
pub struct Layered<T> {
    layers: Vec<Layer>,
    /// The explicit files of `layers`, for [`Layered::files`].
    files: Vec<PathBuf>,
    path_order: bool,
    policy: MergePolicy,
    validator: Option<Validator<T>>,
    type_each_file: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Layered<T> {
    fn clone(&self) -> Self {
        Self {
            layers: self.layers.clone(),
            files: self.files.clone(),
            path_order: self.path_order,
            policy: self.policy.clone(),
            validator: self.validator.clone(),
            type_each_file: self.type_each_file,
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Layered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layered")
            .field("layers", &self.layers)
            .field("path_order", &self.path_order)
            .field("policy", &self.policy)
            .field("validate", &self.validator.is_some())
            .field("type_each_file", &self.type_each_file)
            .finish()
    }
}

/// A file a load reads, and whether it must exist.
#[derive(Debug)]
struct Resolved {
    path: PathBuf,
    required: bool,
}

impl<T: DeserializeOwned> Layered<T> {
    /// The files, loaded in this order (later files override earlier ones). Each is required:
    /// a missing one fails the load with [`LayerError::Missing`] (use [`Layered::layer`] with
    /// [`Layer::optional`] for a file that may be absent).
    pub fn new<I, P>(files: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        let files: Vec<PathBuf> = files.into_iter().map(Into::into).collect();
        Self {
            layers: files.iter().cloned().map(Layer::file).collect(),
            files,
            path_order: false,
            policy: MergePolicy::new(),
            validator: None,
            type_each_file: true,
            _t: PhantomData,
        }
    }

    /// The merge rules (default: tables deep-merge, everything else is replaced).
    pub fn policy(mut self, policy: MergePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// A check of rules that span files, run once on the merged value. The [`Invalid`] it
    /// returns becomes [`LayerError::Invalid`] naming the file that last set the key.
    pub fn validate<F>(mut self, f: F) -> Self
    where
        F: Fn(&T, &Provenance) -> Result<(), Invalid> + Send + Sync + 'static,
    {
        self.validator = Some(Arc::new(f));
        self
    }

    /// Whether each file is also typed as `T` on its own (default true), so that a type error
    /// names the file that holds it. Turn it off when `T` cannot be built from a partial file.
    pub fn type_each_file(mut self, yes: bool) -> Self {
        self.type_each_file = yes;
        self
    }

    /// Also loads the files matching `pattern`, in path order, after the layers listed before.
    /// The pattern is evaluated at every load, so files added later (and seen by a
    /// [`ConfigEpoch`](crate::ConfigEpoch) on the same pattern) are picked up, and files removed
    /// drop out. The same as `layer(Layer::glob(pattern))`: optional, matching nothing is fine.
    pub fn glob(mut self, pattern: impl Into<String>) -> Self {
        self.layers.push(Layer::glob(pattern));
        self
    }

    /// Also loads the file at `path`, required, after the layers listed before. The same as
    /// `layer(Layer::file(path))`.
    pub fn file(self, path: impl Into<PathBuf>) -> Self {
        self.layer(Layer::file(path))
    }

    /// Also loads `layer` (a file or a pattern, required or optional) after the layers listed
    /// before.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use kumo_config::{Layer, LayerError, Layered};
    /// use serde::Deserialize;
    ///
    /// #[derive(Debug, Deserialize)]
    /// struct Cfg { #[serde(default)] limit: u32 }
    ///
    /// let dir = tempfile::tempdir()?;
    /// let pattern = format!("{}/conf.d/*.toml", dir.path().display());
    /// // At least one file in conf.d/.
    /// let layered = Layered::<Cfg>::new(Vec::<std::path::PathBuf>::new())
    ///     .layer(Layer::glob(&pattern).required(true));
    /// assert!(matches!(layered.load(), Err(LayerError::NoMatch { .. })));
    /// std::fs::create_dir(dir.path().join("conf.d"))?;
    /// std::fs::write(dir.path().join("conf.d/a.toml"), "limit = 3")?;
    /// assert_eq!(layered.load()?.value.limit, 3);
    /// # Ok(()) }
    /// ```
    pub fn layer(mut self, layer: Layer) -> Self {
        if let LayerKind::File(p) = &layer.kind {
            self.files.push(p.clone());
        }
        self.layers.push(layer);
        self
    }

    /// Whether every file is loaded in path order, whatever layer listed it (default false:
    /// in the order of the layers, each pattern's matches in path order). With a folder's
    /// files listed both as required files and by a pattern (to pick up new ones), this keeps
    /// the folder's name order for the files added later too.
    pub fn path_order(mut self, yes: bool) -> Self {
        self.path_order = yes;
        self
    }

    /// The layers, in declaration order.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The explicit files (of [`Layered::new`], [`Layered::file`] and file layers), required
    /// or not.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The files a load reads now, in load order: the layers in order, each pattern's matches
    /// in path order (a file already listed is not loaded twice), or all in path order with
    /// [`Layered::path_order`]. An optional file that does not exist is left out; a required
    /// one stays (the load reports it).
    ///
    /// # Errors
    ///
    /// [`LayerError::Pattern`] when a pattern is malformed, [`LayerError::List`] when a
    /// directory a pattern walks cannot be listed, [`LayerError::Read`] when a match or an
    /// optional file cannot be `stat`ed (other than "it does not exist"),
    /// [`LayerError::NoMatch`] when a required pattern matches nothing.
    pub fn resolve_files(&self) -> Result<Vec<PathBuf>, LayerError> {
        let mut out = Vec::new();
        for r in self.resolve()? {
            if r.required {
                out.push(r.path);
                continue;
            }
            match std::fs::metadata(&r.path) {
                Ok(_) => out.push(r.path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(LayerError::Read {
                        file: r.path,
                        source,
                    });
                }
            }
        }
        Ok(out)
    }

    fn resolve(&self) -> Result<Vec<Resolved>, LayerError> {
        let mut out: Vec<Resolved> = Vec::new();
        let push = |out: &mut Vec<Resolved>, path: PathBuf, required: bool| {
            match out.iter_mut().find(|r| r.path == path) {
                // Loaded once, where first listed; required if any layer requires it.
                Some(r) => r.required |= required,
                None => out.push(Resolved { path, required }),
            }
        };
        for layer in &self.layers {
            match &layer.kind {
                LayerKind::File(p) => push(&mut out, p.clone(), layer.required),
                LayerKind::Glob(pattern) => {
                    let matched = list_glob(pattern)?;
                    if matched.is_empty() && layer.required {
                        return Err(LayerError::NoMatch {
                            pattern: pattern.clone(),
                        });
                    }
                    for m in matched {
                        // A match is optional on its own: one that vanishes before it is
                        // read has simply left the folder.
                        push(&mut out, m, false);
                    }
                }
            }
        }
        if self.path_order {
            out.sort_by(|a, b| a.path.cmp(&b.path));
        }
        Ok(out)
    }

    /// Reads, merges, types and validates the files.
    ///
    /// # Errors
    ///
    /// A [`LayerError`] naming the first file (and key) that is wrong:
    /// [`LayerError::Missing`] for a required file that does not exist, [`LayerError::Read`]
    /// or [`LayerError::List`] for a file or folder that exists and cannot be read (never taken
    /// as absent), the others for content that is wrong.
    pub fn load(&self) -> Result<Loaded<T>, LayerError> {
        let files = self.resolve()?;
        let mut sources = Vec::with_capacity(files.len());
        for Resolved { path, required } in files {
            let format = Format::from_path(&path)
                .ok_or_else(|| LayerError::UnknownFormat { file: path.clone() })?;
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if required {
                        return Err(LayerError::Missing { file: path });
                    }
                    tracing::debug!(file = %path.display(), "optional config file absent; left out of the merge");
                    continue;
                }
                Err(source) => return Err(LayerError::Read { file: path, source }),
            };
            sources.push(Source {
                name: path,
                text,
                format,
            });
        }
        self.load_sources(&sources)
    }

    /// Merges, types and validates documents already in memory (the file list is ignored).
    ///
    /// # Errors
    ///
    /// A [`LayerError`] naming the first source (and key) that is wrong.
    pub fn load_sources(&self, sources: &[Source]) -> Result<Loaded<T>, LayerError> {
        let mut acc = Value::Object(Map::new());
        let mut prov = Provenance::new(sources.iter().map(|s| s.name.clone()).collect());
        for (i, s) in sources.iter().enumerate() {
            let tree = parse(s)?;
            if self.type_each_file {
                let mut alone = Value::Object(Map::new());
                let mut scratch = Provenance::new(Vec::new());
                self.policy
                    .merge(&mut alone, tree.clone(), &mut scratch, 0)
                    .map_err(|(path, message)| LayerError::Merge {
                        file: s.name.clone(),
                        path,
                        message,
                    })?;
                from_value::<T>(&alone).map_err(|(path, message)| LayerError::Type {
                    file: s.name.clone(),
                    path,
                    message,
                })?;
            }
            self.policy
                .merge(&mut acc, tree, &mut prov, i)
                .map_err(|(path, message)| LayerError::Merge {
                    file: s.name.clone(),
                    path,
                    message,
                })?;
        }
        let value: T = from_value(&acc).map_err(|(path, message)| {
            let file = prov
                .file_of(&path)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            LayerError::Type {
                file,
                path,
                message,
            }
        })?;
        if let Some(v) = &self.validator {
            v(&value, &prov).map_err(|inv| LayerError::Invalid {
                file: prov.file_of(&inv.path).map(Path::to_path_buf),
                path: inv.path,
                message: inv.message,
            })?;
        }
        Ok(Loaded {
            value,
            merged: acc,
            provenance: prov,
        })
    }
}

/// The regular files `pattern` matches now, in path order. Only "does not exist" counts as no
/// match: a directory that cannot be listed, or a match that cannot be `stat`ed, is an error.
fn list_glob(pattern: &str) -> Result<Vec<PathBuf>, LayerError> {
    let mut matched = Vec::new();
    let mut stat_error = None;
    let mut list_error = None;
    Plan::of(pattern)
        .list(
            &mut |path, meta| match meta {
                Ok(m) if m.is_file() => matched.push(path.to_path_buf()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    stat_error.get_or_insert(LayerError::Read {
                        file: path.to_path_buf(),
                        source,
                    });
                }
            },
            &mut |f| {
                list_error.get_or_insert(LayerError::List {
                    pattern: pattern.to_owned(),
                    dir: f.dir,
                    source: f.error,
                });
            },
        )
        .map_err(|e| LayerError::Pattern {
            pattern: pattern.to_owned(),
            message: e.msg.to_owned(),
        })?;
    if let Some(e) = list_error.or(stat_error) {
        return Err(e);
    }
    matched.sort();
    Ok(matched)
}

/// Parses one document into a tree.
fn parse(s: &Source) -> Result<Value, LayerError> {
    match s.format {
        Format::Json => serde_json::from_str(&s.text).map_err(|e| LayerError::Syntax {
            file: s.name.clone(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        }),
        Format::Toml => {
            let table: toml::Table = toml::from_str(&s.text).map_err(|e| {
                let (line, column) = e
                    .span()
                    .map(|r| line_col(&s.text, r.start))
                    .unwrap_or((0, 0));
                LayerError::Syntax {
                    file: s.name.clone(),
                    line,
                    column,
                    message: e.message().to_owned(),
                }
            })?;
            let mut path = KeyPath::root();
            toml_to_json(toml::Value::Table(table), &mut path).map_err(|(path, message)| {
                LayerError::Merge {
                    file: s.name.clone(),
                    path,
                    message,
                }
            })
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn toml_to_json(v: toml::Value, path: &mut KeyPath) -> Result<Value, (KeyPath, String)> {
    Ok(match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => match serde_json::Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => return Err((path.clone(), "non-finite floats are not supported".into())),
        },
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, x) in a.into_iter().enumerate() {
                let mut p = path.clone().index(i);
                out.push(toml_to_json(x, &mut p)?);
            }
            Value::Array(out)
        }
        toml::Value::Table(t) => {
            let mut out = Map::new();
            for (k, x) in t {
                let mut p = path.clone().key(k.clone());
                out.insert(k, toml_to_json(x, &mut p)?);
            }
            Value::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 99), (1, 3));
    }

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(Format::from_path(Path::new("a.TOML")), Some(Format::Toml));
        assert_eq!(Format::from_path(Path::new("a.json")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("a.yaml")), None);
        assert_eq!(Format::from_path(Path::new("toml")), None);
    }
}
