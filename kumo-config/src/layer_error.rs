//! `LayerError`: why a layered configuration could not be loaded.

use crate::key_path::KeyPath;
use std::path::PathBuf;

/// Why a layered configuration could not be loaded. Every variant names the file (where one file
/// is to blame) and the key path (where the problem is inside a file). Permanent until the files
/// change, except [`LayerError::Read`] and [`LayerError::List`], which may also be transient
/// (`EMFILE`, `EIO`; see [`LayerError::is_io`]).
///
/// "Absent" and "unreadable" are different errors: [`LayerError::Missing`] is a required file
/// that does not exist (the system said `NotFound`), [`LayerError::Read`] a file that exists
/// and cannot be read, whatever the reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// A required file does not exist (see [`Layer`](crate::Layer); an optional one is left
    /// out instead).
    #[error("required file {} does not exist", file.display())]
    Missing {
        /// The file.
        file: PathBuf,
    },
    /// A required glob pattern matches no file.
    #[error("required pattern {pattern:?} matches no file")]
    NoMatch {
        /// The pattern.
        pattern: String,
    },
    /// A directory that a pattern walks exists but cannot be listed (permissions, `EMFILE`,
    /// `EIO`, not a directory...). The files it holds are neither loaded nor taken as absent.
    #[error("cannot list {} (for pattern {pattern:?})", dir.display())]
    List {
        /// The pattern.
        pattern: String,
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file exists (or may exist) but could not be read: any I/O error but `NotFound`
    /// (permissions, `EMFILE`, `EIO`, a symlink loop, a directory of that name...).
    #[error("cannot read {}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A glob pattern of the file list is malformed.
    #[error("invalid glob pattern {pattern:?}: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file's name ends neither in `.toml` nor in `.json`.
    #[error("{}: unknown format (expected .toml or .json)", file.display())]
    UnknownFormat {
        /// The file.
        file: PathBuf,
    },
    /// A file is not valid TOML or JSON.
    #[error("{}:{line}:{column}: syntax error: {message}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line of the error (0 when unknown).
        line: usize,
        /// 1-based column of the error (0 when unknown).
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A value cannot be merged as its key's policy says (an `Append` key that is not an array,
    /// a `replace_base` that is not a boolean), or is not representable (a non-finite float).
    #[error("{}: {path}: {message}", file.display())]
    Merge {
        /// The file.
        file: PathBuf,
        /// Where in the file.
        path: KeyPath,
        /// What is wrong.
        message: String,
    },
    /// A value in a file does not have the type the configuration expects.
    #[error("{}: {path}: {message}", file.display())]
    Type {
        /// The file.
        file: PathBuf,
        /// Where in the file.
        path: KeyPath,
        /// What serde said.
        message: String,
    },
    /// The merged configuration breaks a rule that spans files (checked once, after the merge).
    #[error("{}{path}: {message}", file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
    Invalid {
        /// The file that last set the key (or its nearest parent), when there is one.
        file: Option<PathBuf>,
        /// The key the rule is about.
        path: KeyPath,
        /// What is wrong.
        message: String,
    },
}

impl LayerError {
    /// The file this error is about, when there is one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            LayerError::Read { file, .. }
            | LayerError::Missing { file }
            | LayerError::UnknownFormat { file }
            | LayerError::Syntax { file, .. }
            | LayerError::Merge { file, .. }
            | LayerError::Type { file, .. } => Some(file),
            LayerError::Invalid { file, .. } => file.as_deref(),
            LayerError::Pattern { .. } | LayerError::NoMatch { .. } | LayerError::List { .. } => {
                None
            }
        }
    }

    /// Whether the files could not be read or listed ([`LayerError::Read`],
    /// [`LayerError::List`]): an I/O failure that may go away by itself, as opposed to content
    /// that is wrong or a file that is absent.
    pub fn is_io(&self) -> bool {
        matches!(self, LayerError::Read { .. } | LayerError::List { .. })
    }

    /// The key path this error is about, when there is one.
    pub fn key_path(&self) -> Option<&KeyPath> {
        match self {
            LayerError::Merge { path, .. }
            | LayerError::Type { path, .. }
            | LayerError::Invalid { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// A broken cross-file rule, returned by a layered configuration's validation function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct Invalid {
    /// The key the rule is about; the loader looks up which file set it.
    pub path: KeyPath,
    /// What is wrong.
    pub message: String,
}

impl Invalid {
    /// A broken rule at `path`.
    pub fn new(path: KeyPath, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
        }
    }
}
