//! `KeyPath`: where in a configuration tree something is, printed the way TOML spells it.

use std::fmt;

/// One step of a [`KeyPath`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A path to a key in a configuration tree, displayed as TOML writes it:
/// `domain."example.com".selector`, `provider.google.match[2]`.
///
/// # Examples
///
/// ```
/// use kumo_config::KeyPath;
///
/// let p = KeyPath::root().key("domain").key("example.com").key("selector");
/// assert_eq!(p.to_string(), r#"domain."example.com".selector"#);
/// assert_eq!(KeyPath::from_keys(["base", "selector"]).to_string(), "base.selector");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPath {
    segments: Vec<Segment>,
}

impl KeyPath {
    /// The empty path (the whole document).
    pub fn root() -> Self {
        Self::default()
    }

    /// A path made of table keys.
    pub fn from_keys<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            segments: keys.into_iter().map(|k| Segment::Key(k.into())).collect(),
        }
    }

    /// This path followed by a table key.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.segments.push(Segment::Key(key.into()));
        self
    }

    /// This path followed by an array index.
    pub fn index(mut self, index: usize) -> Self {
        self.segments.push(Segment::Index(index));
        self
    }

    /// The steps of the path.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The table keys before the first array index.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.segments
            .iter()
            .map_while(|s| match s {
                Segment::Key(k) => Some(k.clone()),
                Segment::Index(_) => None,
            })
            .collect()
    }

    pub(crate) fn push(&mut self, s: Segment) {
        self.segments.push(s);
    }
}

fn is_bare(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("(root)");
        }
        for (i, s) in self.segments.iter().enumerate() {
            match s {
                Segment::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_bare(k) {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}
