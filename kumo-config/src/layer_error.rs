//! `LayerError`: why a layered configuration could not be loaded.

use crate::key_path::KeyPath;
use std::path::PathBuf;

/// Why a layered configuration could not be loaded. Every variant names the file (where one file
/// is to blame) and the key path (where the problem is inside a file). Permanent until the files
/// change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// A file could not be read.
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
            | LayerError::UnknownFormat { file }
            | LayerError::Syntax { file, .. }
            | LayerError::Merge { file, .. }
            | LayerError::Type { file, .. } => Some(file),
            LayerError::Invalid { file, .. } => file.as_deref(),
            LayerError::Pattern { .. } => None,
        }
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
