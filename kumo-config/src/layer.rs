//! `Layer`: one entry of a layered configuration's file list, required or optional.

use std::path::{Path, PathBuf};

/// One entry of a [`Layered`](crate::Layered) file list: a file or a glob pattern, and whether
/// it must be there.
///
/// Whether a file may disappear from the merge is the caller's policy, and this is where it is
/// stated:
///
/// * A **required** file ([`Layer::file`], the default for files) that does not exist fails the
///   load with [`LayerError::Missing`](crate::LayerError::Missing); a [`LiveConfig`] then keeps
///   the last good configuration.
/// * An **optional** file ([`Layer::optional`]) that does not exist is left out of the merge, as if
///   it had never been listed.
/// * A **glob** ([`Layer::glob`]) is optional by default: its matches come and go with the files
///   (a `conf.d` folder). A required glob must match at least one file
///   ([`LayerError::NoMatch`](crate::LayerError::NoMatch)).
///
/// Only the system's "no such file" (`NotFound`) counts as absent. A file or a directory that
/// exists but cannot be read (permissions, `EMFILE`, `EIO`, a symlink loop, a directory where a
/// file should be) fails the load with [`LayerError::Read`](crate::LayerError::Read) or
/// [`LayerError::List`](crate::LayerError::List), required or not: an I/O error never reads as
/// "file absent".
///
/// [`LiveConfig`]: crate::LiveConfig
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use kumo_config::{Layer, LayerError, Layered};
/// use serde::Deserialize;
///
/// #[derive(Debug, Deserialize)]
/// struct Limits { #[serde(default)] max_connections: u32 }
///
/// let dir = tempfile::tempdir()?;
/// let base = dir.path().join("base.toml");
/// let local = dir.path().join("local.toml");
/// std::fs::write(&base, "max_connections = 10")?;
///
/// let layered = Layered::<Limits>::new([&base]).layer(Layer::file(&local).optional());
/// assert_eq!(layered.load()?.value.max_connections, 10); // local.toml may be absent
///
/// std::fs::remove_file(&base)?;
/// assert!(matches!(layered.load(), Err(LayerError::Missing { .. }))); // base.toml may not
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub(crate) kind: LayerKind,
    pub(crate) required: bool,
}

/// What a [`Layer`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LayerKind {
    File(PathBuf),
    Glob(String),
}

impl Layer {
    /// The file at `path`, required (see [`Layer::optional`]).
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            kind: LayerKind::File(path.into()),
            required: true,
        }
    }

    /// The files matching `pattern`, in path order, evaluated at every load; optional (matching
    /// nothing is fine) unless made [`Layer::required`].
    pub fn glob(pattern: impl Into<String>) -> Self {
        Self {
            kind: LayerKind::Glob(pattern.into()),
            required: false,
        }
    }

    /// Whether the layer must be there: a required file must exist, a required glob must match
    /// at least one file.
    pub fn required(mut self, yes: bool) -> Self {
        self.required = yes;
        self
    }

    /// The same as `required(false)`: an absent file (or a glob matching nothing) is left out.
    pub fn optional(self) -> Self {
        self.required(false)
    }

    /// Whether the layer is required.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The file, for a file layer.
    pub fn path(&self) -> Option<&Path> {
        match &self.kind {
            LayerKind::File(p) => Some(p),
            LayerKind::Glob(_) => None,
        }
    }

    /// The pattern, for a glob layer.
    pub fn pattern(&self) -> Option<&str> {
        match &self.kind {
            LayerKind::File(_) => None,
            LayerKind::Glob(p) => Some(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_required_and_globs_optional_by_default() {
        let f = Layer::file("a.toml");
        assert!(f.is_required());
        assert_eq!(f.path(), Some(Path::new("a.toml")));
        assert!(!f.clone().optional().is_required());
        let g = Layer::glob("conf.d/*.toml");
        assert!(!g.is_required());
        assert_eq!(g.pattern(), Some("conf.d/*.toml"));
        assert!(g.required(true).is_required());
    }
}
