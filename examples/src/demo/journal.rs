//! The delivery journal: one line per message that ended (delivered or bounced), appended before
//! the message leaves the spool.
//!
//! It is the commit point of an ending. A crash between the journal line and the spool removal
//! leaves a message in the spool that has already ended; at the next start the demo reads the
//! journals of earlier runs and removes such messages instead of delivering them again. Each run
//! writes its own file (`journal/<run>.log`); once its endings are reconciled with the spool the
//! file is renamed to `.done` and never read at start again, so start-up reads only what the
//! last runs wrote. Lines are written with one `write` each, so a killed process leaves whole
//! lines (the page cache keeps them); a torn last line is ignored.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

/// How a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Delivered.
    Delivered,
    /// Bounced (permanent failure or expiry).
    Bounced,
}

impl Ending {
    fn letter(self) -> char {
        match self {
            Ending::Delivered => 'D',
            Ending::Bounced => 'B',
        }
    }
}

/// One journal line, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// How it ended.
    pub ending: Ending,
    /// The message id.
    pub message_id: String,
    /// The envelope recipient.
    pub recipient: String,
}

/// The journal of this run.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    path: PathBuf,
    file: Mutex<File>,
}

fn clean(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

impl Journal {
    /// Opens `dir` (creating it) with a new file for this run, named `run` (sortable).
    pub(crate) fn open(dir: &Path, run: &str) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join(format!("{run}.log"));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            dir: dir.to_owned(),
            path,
            file: Mutex::new(file),
        })
    }

    /// Appends one ending.
    pub(crate) fn append(
        &self,
        ending: Ending,
        message_id: &str,
        recipient: &str,
    ) -> io::Result<()> {
        let line = format!(
            "{}\t{}\t{}\n",
            ending.letter(),
            clean(message_id),
            clean(recipient)
        );
        self.file.lock().write_all(line.as_bytes())
    }

    /// The journals of earlier runs not yet reconciled with the spool.
    pub(crate) fn unreconciled(&self) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path != self.path && path.extension().is_some_and(|e| e == "log") {
                out.push(path);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Marks reconciled journals so that later starts skip them.
    pub(crate) fn mark_reconciled(paths: &[PathBuf]) -> io::Result<()> {
        for p in paths {
            fs::rename(p, p.with_extension("done"))?;
        }
        Ok(())
    }
}

/// The message ids that ended in these journal files.
pub(crate) fn ended_ids(paths: &[PathBuf]) -> io::Result<HashSet<String>> {
    let mut ids = HashSet::new();
    for p in paths {
        read(p, |e| {
            ids.insert(e.message_id);
        })?;
    }
    Ok(ids)
}

/// Every entry of one journal file, in order; a torn last line is skipped.
pub fn read(path: &Path, mut f: impl FnMut(Entry)) -> io::Result<()> {
    let reader = BufReader::new(File::open(path)?);
    for line in reader.split(b'\n') {
        let line = line?;
        let Ok(line) = std::str::from_utf8(&line) else {
            continue;
        };
        let mut parts = line.splitn(3, '\t');
        let ending = match parts.next() {
            Some("D") => Ending::Delivered,
            Some("B") => Ending::Bounced,
            _ => continue,
        };
        let (Some(id), Some(rcpt)) = (parts.next(), parts.next()) else {
            continue;
        };
        f(Entry {
            ending,
            message_id: id.to_owned(),
            recipient: rcpt.to_owned(),
        });
    }
    Ok(())
}

/// Every journal file (`.log` and `.done`) in a spool's journal folder.
pub fn files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "log" || e == "done") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A journal damaged in any way (a torn write, a flipped byte) is read without a
        /// panic, and only whole, well-formed lines count.
        #[test]
        fn any_journal_bytes_are_read(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.log");
            std::fs::write(&path, &bytes).unwrap();
            let mut n = 0;
            read(&path, |e| {
                assert!(!e.message_id.contains('\n') && !e.recipient.contains('\n'));
                n += 1;
            })
            .unwrap();
            prop_assert!(n <= bytes.iter().filter(|&&b| b == b'\t').count() / 2 + 1);
        }
    }

    #[test]
    fn endings_round_trip_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), "run1").unwrap();
        j.append(Ending::Delivered, "m1@x", "a@b.test").unwrap();
        j.append(Ending::Bounced, "m2@x", "c\td@b.test").unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("run1.log"))
            .unwrap()
            .write_all(b"D\tm3")
            .unwrap();
        let mut got = Vec::new();
        read(&dir.path().join("run1.log"), |e| got.push(e)).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].ending, Ending::Bounced);
        assert_eq!(got[1].recipient, "c d@b.test");
        let j2 = Journal::open(dir.path(), "run2").unwrap();
        let old = j2.unreconciled().unwrap();
        assert_eq!(old, [dir.path().join("run1.log")]);
        let ids = ended_ids(&old).unwrap();
        assert!(ids.contains("m1@x") && ids.contains("m2@x") && !ids.contains("m3"));
        Journal::mark_reconciled(&old).unwrap();
        assert!(j2.unreconciled().unwrap().is_empty());
        assert_eq!(files(dir.path()).unwrap().len(), 2);
    }
}
