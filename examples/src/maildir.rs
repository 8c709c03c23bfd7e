//! A Maildir writer: every delivered message becomes one file, written into `tmp/` and then
//! renamed into `new/`, so a mail reader never sees a half-written message.
//!
//! The bytes are stored exactly as the injector generated them (CRLF line ends included), so what
//! you open with `mutt -f DIR`, Python's `mailbox.Maildir` or any other Maildir reader is precisely
//! what the demo would have sent.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A Maildir writer could not create its folders or write a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaildirError {
    /// Creating `tmp/`, `new/` or `cur/` failed.
    #[error("cannot create maildir folder {path}")]
    Create {
        /// The folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The blocking task that writes the file panicked or was cancelled.
    #[error("maildir writer task failed: {0}")]
    Task(String),
    /// Writing or renaming one message failed.
    #[error("cannot write message {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Writes messages into a Maildir (`tmp/`, `new/`, `cur/`).
#[derive(Debug)]
pub struct Maildir {
    root: PathBuf,
    host: String,
    pid: u32,
    counter: AtomicU64,
}

impl Maildir {
    /// Opens the Maildir at `root`, creating it and its three folders when missing.
    ///
    /// # Errors
    /// [`MaildirError::Create`] when a folder cannot be created.
    ///
    /// # Examples
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let md = kumo_examples::maildir::Maildir::create(dir.path().join("mail"))?;
    /// let path = md.deliver(b"Subject: hi\r\n\r\nhello\r\n")?;
    /// assert_eq!(std::fs::read(&path)?, b"Subject: hi\r\n\r\nhello\r\n");
    /// assert!(path.parent().unwrap().ends_with("new"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, MaildirError> {
        let root = root.into();
        for sub in ["tmp", "new", "cur"] {
            let path = root.join(sub);
            fs::create_dir_all(&path).map_err(|source| MaildirError::Create { path, source })?;
        }
        Ok(Self {
            root,
            host: safe_hostname(),
            pid: std::process::id(),
            counter: AtomicU64::new(0),
        })
    }

    /// The Maildir's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes one message and returns its path in `new/`.
    ///
    /// The file is created in `tmp/` (never overwriting), written, flushed to disk, then renamed
    /// into `new/`.
    ///
    /// # Errors
    /// [`MaildirError::Write`] when the file cannot be written or renamed; the partial file in
    /// `tmp/` is removed.
    pub fn deliver(&self, data: &[u8]) -> Result<PathBuf, MaildirError> {
        let name = self.unique_name();
        let tmp = self.root.join("tmp").join(&name);
        let new = self.root.join("new").join(&name);
        let write = |path: &Path| -> std::io::Result<()> {
            let mut f: File = OpenOptions::new().write(true).create_new(true).open(path)?;
            f.write_all(data)?;
            f.sync_all()
        };
        if let Err(source) = write(&tmp) {
            let _ = fs::remove_file(&tmp);
            return Err(MaildirError::Write { path: tmp, source });
        }
        if let Err(source) = fs::rename(&tmp, &new) {
            let _ = fs::remove_file(&tmp);
            return Err(MaildirError::Write { path: new, source });
        }
        Ok(new)
    }

    /// `SECONDS.MMICROSPPIDQN.HOST`: unique per process thanks to the counter.
    fn unique_name(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}.M{}P{}Q{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            self.pid,
            n,
            self.host
        )
    }
}

/// The host name with `/` and `:` escaped as the Maildir convention asks.
fn safe_hostname() -> String {
    let raw = fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    escape_host(&raw)
}

fn escape_host(raw: &str) -> String {
    raw.replace('/', "\\057").replace(':', "\\072")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_exact_bytes_into_new() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        let body = b"From: a@b.test\r\nTo: c@d.test\r\n\r\nline\r\n\xff binary\r\n";
        let mut paths = Vec::new();
        for _ in 0..20 {
            paths.push(md.deliver(body).unwrap());
        }
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 20, "names are unique");
        for p in &paths {
            assert_eq!(fs::read(p).unwrap(), body);
        }
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(dir.path().join("new")).unwrap().count(), 20);
        assert!(dir.path().join("cur").is_dir());
    }

    #[test]
    fn host_escaping() {
        assert_eq!(escape_host("a/b:c"), "a\\057b\\072c");
    }

    #[test]
    fn create_fails_on_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        assert!(matches!(
            Maildir::create(&file),
            Err(MaildirError::Create { .. })
        ));
    }
}
