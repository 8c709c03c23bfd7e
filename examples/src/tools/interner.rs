//! [`Interner`]: names copied once into one arena, looked up by borrowed `&str`.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Gives each distinct name a dense id (0, 1, 2, ...) and stores its text once, in one
/// growing `String`: no allocation per name, about 22 bytes of index per name besides its
/// text (its end, its hash, and the table's slot). Names total at most 4 GiB.
///
/// A caller that knows a name is new (the first family of a body lists each queue once) adds
/// it with [`push_distinct`](Self::push_distinct), which only appends: the hash table is
/// built in one pass, at its final size, the first time [`intern`](Self::intern) needs it,
/// and never when nothing is looked up. Lookups take a borrowed `&str`, so a name read from a parser's chunk is copied only
/// the first time it is seen.
///
/// # Examples
/// ```
/// let mut names = kumo_examples::tools::Interner::default();
/// let a = names.intern("gmail.test").unwrap();
/// assert_eq!(names.intern("yahoo.test"), Some(a + 1));
/// assert_eq!(names.intern("gmail.test"), Some(a));
/// assert_eq!(names.name(a), "gmail.test");
/// assert_eq!(names.len(), 2);
/// let c = names.push_distinct("c.test").unwrap();
/// assert!(names.is(c, "c.test"));
/// assert_eq!(names.intern("c.test"), Some(c));
/// ```
#[derive(Debug, Default)]
pub struct Interner {
    text: String,
    /// `ends[id]`: where name `id` ends in `text`; it starts where `id - 1` ends.
    ends: Vec<u32>,
    /// `hashes[id]`: the hash of name `id`, so that growing the table reads no text; for the
    /// ids in the table.
    hashes: Vec<u64>,
    /// The ids `0..hashes.len()`; later ids were pushed distinct and are not in it yet.
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

fn slice<'a>(text: &'a str, ends: &[u32], id: u32) -> &'a str {
    let id = id as usize;
    let start = if id == 0 { 0 } else { ends[id - 1] as usize };
    &text[start..ends[id] as usize]
}

impl Interner {
    /// The id of `name`, adding it when new; `None` when the names would pass 4 GiB or
    /// 2^32 ids.
    pub fn intern(&mut self, name: &str) -> Option<u32> {
        self.index_pending();
        let hash = self.hasher.hash_one(name);
        let Self {
            text,
            ends,
            hashes,
            table,
            ..
        } = self;
        if let Some(&id) = table.find(hash, |&id| {
            hashes[id as usize] == hash && slice(text, ends, id) == name
        }) {
            return Some(id);
        }
        let id = Self::append(text, ends, name)?;
        hashes.push(hash);
        table.insert_unique(hash, id, |&i| hashes[i as usize]);
        Some(id)
    }

    /// Adds `name`, which the caller knows was never added: no lookup, no hashing. Adding a
    /// name twice this way gives it two ids.
    pub fn push_distinct(&mut self, name: &str) -> Option<u32> {
        Self::append(&mut self.text, &mut self.ends, name)
    }

    /// The id `id` if it names `name`: a cheap check for a caller that expects the names in
    /// the order it added them.
    pub fn is(&self, id: u32, name: &str) -> bool {
        (id as usize) < self.ends.len() && slice(&self.text, &self.ends, id) == name
    }

    fn append(text: &mut String, ends: &mut Vec<u32>, name: &str) -> Option<u32> {
        let id = u32::try_from(ends.len()).ok()?;
        let end = u32::try_from(text.len() + name.len()).ok()?;
        text.push_str(name);
        ends.push(end);
        Some(id)
    }

    /// Puts the names pushed distinct into the table, at its final size in one step.
    fn index_pending(&mut self) {
        let Self {
            text,
            ends,
            hashes,
            table,
            hasher,
        } = self;
        let from = hashes.len();
        if from == ends.len() {
            return;
        }
        table.reserve(ends.len() - from, |&i| hashes[i as usize]);
        for id in from..ends.len() {
            let hash = hasher.hash_one(slice(text, ends, id as u32));
            hashes.push(hash);
            table.insert_unique(hash, id as u32, |&i| hashes[i as usize]);
        }
    }

    /// The text of name `id`.
    ///
    /// # Panics
    /// When `id` was not given by this interner.
    pub fn name(&self, id: u32) -> &str {
        slice(&self.text, &self.ends, id)
    }

    /// The number of distinct names.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no name was interned.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ids_are_dense_stable_and_give_the_name_back(
            names in proptest::collection::vec("[a-zé.\"\\\\]{0,6}", 0..200),
        ) {
            let mut interner = Interner::default();
            let mut model: Vec<String> = Vec::new();
            for (k, n) in names.iter().enumerate() {
                let known = model.iter().position(|m| m == n);
                // New names are pushed distinct now and then, as the first family's are.
                let id = if known.is_none() && k % 3 == 0 {
                    interner.push_distinct(n).unwrap()
                } else {
                    interner.intern(n).unwrap()
                } as usize;
                match known {
                    Some(i) => prop_assert_eq!(id, i),
                    None => {
                        prop_assert_eq!(id, model.len());
                        model.push(n.clone());
                    }
                }
                prop_assert!(interner.is(id as u32, n));
            }
            prop_assert_eq!(interner.len(), model.len());
            for (i, m) in model.iter().enumerate() {
                prop_assert_eq!(interner.name(i as u32), m.as_str());
            }
        }
    }
}
