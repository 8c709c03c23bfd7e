//! Seed-corpus mutation for the kumo crates' fuzz tests: valid inputs kept in each crate's
//! `tests/corpus/<target>/`, edited by proptest strategies (bit flips, overwrites, insertions
//! of bytes and of syntax tokens, deletions, truncations, repeats, splices of two seeds), so
//! the cases get deep into a parser instead of failing at its first byte. Shrinking removes
//! edits one by one.
//!
//! A test-only crate (`publish = false`): the library crates take it as a path-only
//! dev-dependency, which `cargo package` leaves out.
//!
//! ```
//! use kumo_fuzzkit::{accepted, mutated};
//! use proptest::strategy::{Strategy, ValueTree};
//!
//! let seeds = vec![b"key = 1".to_vec(), b"name = \"x\"".to_vec()];
//! // A fixed-seed sample: how many mutations still parse as a `key = value` line.
//! let n = accepted(seeds.clone(), 2, 100, |b| b.contains(&b'='));
//! assert!(n > 0);
//! let mut runner = proptest::test_runner::TestRunner::deterministic();
//! let one = mutated(seeds, 4).new_tree(&mut runner).unwrap().current();
//! assert!(one.len() <= kumo_fuzzkit::MAX_MUTATED);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use proptest::prelude::*;
use proptest::sample::Index;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The longest input a mutation produces.
pub const MAX_MUTATED: usize = 1 << 16;

/// Bytes that often mean something to a parser; inserted whole.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b" ",
    b"\t",
    b"\"",
    b"'",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b"<",
    b">",
    b"@",
    b":",
    b";",
    b",",
    b".",
    b"=",
    b"#",
    b"$",
    b"%",
    b"-",
    b"+",
    b"/",
    b"{{",
    b"}}",
    b"{%",
    b"%}",
    b"\xff",
    b"\xc3",
    b"\xc3\xa9",
    b"\xe2\x9c\x89",
    b"NaN",
    b"+Inf",
    b"-1",
    b"0",
    b"4294967296",
    b"18446744073709551616",
    b"1e999",
    b"null",
];

/// Every file of the calling crate's `tests/corpus/<target>/`, sorted by name.
///
/// # Panics
/// When the folder cannot be read or holds no file: a mutation test without seeds would test
/// nothing.
#[macro_export]
macro_rules! corpus {
    ($target:expr) => {
        $crate::corpus_in(
            &::std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/corpus")
                .join($target),
        )
    };
}

/// Every file of `dir`, sorted by name (see [`corpus!`], which names a crate's own folder).
///
/// # Panics
/// When `dir` cannot be read or holds no file.
pub fn corpus_in(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no seeds in {}", dir.display());
    paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// One edit of an input.
#[derive(Debug, Clone)]
enum Edit {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Token(Index, Index),
    Delete(Index, usize),
    Truncate(Index),
    Repeat(Index, usize, usize),
    /// This input up to a point, then another seed from a point.
    Splice(Index, Index, Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, bit)| Edit::Flip(i, 1 << bit)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Edit::Token(i, t)),
        2 => (any::<Index>(), 1usize..32).prop_map(|(i, n)| Edit::Delete(i, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), 1usize..64, 2usize..64).prop_map(|(i, n, k)| Edit::Repeat(i, n, k)),
        2 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(i, s, j)| Edit::Splice(i, s, j)),
    ]
}

fn apply(seeds: &[Vec<u8>], bytes: &mut Vec<u8>, edit: &Edit) {
    let len = bytes.len();
    match edit {
        Edit::Flip(i, bit) if len > 0 => bytes[i.index(len)] ^= bit,
        Edit::Set(i, b) if len > 0 => bytes[i.index(len)] = *b,
        Edit::Insert(i, b) => {
            let at = i.index(len + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Edit::Token(i, t) => {
            let at = i.index(len + 1);
            bytes.splice(at..at, t.get(TOKENS).iter().copied());
        }
        Edit::Delete(i, n) if len > 0 => {
            let at = i.index(len);
            bytes.drain(at..(at + n).min(len));
        }
        Edit::Truncate(i) => bytes.truncate(i.index(len + 1)),
        Edit::Repeat(i, n, k) if len > 0 => {
            let at = i.index(len);
            let piece = bytes[at..(at + n).min(len)].to_vec();
            let copies = piece.repeat(*k);
            bytes.splice(at..at, copies);
        }
        Edit::Splice(i, s, j) => {
            let other = s.get(seeds);
            bytes.truncate(i.index(len + 1));
            bytes.extend_from_slice(&other[j.index(other.len() + 1)..]);
        }
        _ => {}
    }
    bytes.truncate(MAX_MUTATED);
}

/// A seed of `seeds` with up to `max_edits` edits (none in some cases: the seed itself).
pub fn mutated(seeds: Vec<Vec<u8>>, max_edits: usize) -> impl Strategy<Value = Vec<u8>> {
    let seeds = Arc::new(seeds);
    let n = seeds.len();
    (0..n, prop::collection::vec(edit(), 0..=max_edits)).prop_map(move |(i, edits)| {
        let mut bytes = seeds[i].clone();
        for e in &edits {
            apply(&seeds, &mut bytes, e);
        }
        bytes
    })
}

/// Arbitrary bytes, up to `max` of them.
pub fn arbitrary_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

/// How many of `cases` mutations of `seeds` (fixed seed, so the same every run) `accepts`:
/// the mutation tests are worth their cases only when a fair share of the inputs still parses
/// and the parser is exercised past its first error.
pub fn accepted(
    seeds: Vec<Vec<u8>>,
    max_edits: usize,
    cases: usize,
    accepts: impl Fn(&[u8]) -> bool,
) -> usize {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = mutated(seeds, max_edits);
    (0..cases)
        .filter(|_| {
            let input = strategy.new_tree(&mut runner).expect("a case").current();
            accepts(&input)
        })
        .count()
}
