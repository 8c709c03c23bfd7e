//! The K largest values seen in a stream, in O(K) memory: [`TopK`], and [`Ranked`], which
//! then fills the other columns of just those K rows from the families that follow. Ties go
//! to the entry offered first, as in [`desc_key`]'s full sorts.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// A sort key that orders values from the largest down, in `f64::total_cmp`'s order (so
/// `NaN` and the infinities have a place too): sorting `(desc_key(v), seq)` pairs ascending
/// lists the largest values first and, among equal values, the earliest first.
///
/// # Examples
/// ```
/// use kumo_examples::tools::desc_key;
/// let mut v = [(desc_key(1.0), 0), (desc_key(7.5), 1), (desc_key(-2.0), 2), (desc_key(7.5), 3)];
/// v.sort_unstable();
/// assert_eq!(v.map(|(_, i)| i), [1, 3, 0, 2]);
/// ```
pub fn desc_key(value: f64) -> u64 {
    let bits = value.to_bits() as i64;
    // `total_cmp`'s transform: negative values have their magnitude bits flipped.
    let ordered = bits ^ ((((bits >> 63) as u64) >> 1) as i64);
    !((ordered as u64) ^ (1 << 63))
}

/// One kept entry. Ordered so that the heap's top is the *worst* kept entry: the smallest
/// value, and among equal values the one offered last.
#[derive(Debug)]
struct Entry {
    value: f64,
    seq: u64,
    name: String,
}

impl Entry {
    fn key(&self) -> (u64, u64) {
        (desc_key(self.value), self.seq)
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

/// Keeps the `k` entries with the largest values (ties: the one offered first) among all
/// offered, in O(k) memory whatever the number offered. A name is copied only when its
/// entry is kept, into the buffer of the entry it evicts.
///
/// # Examples
/// ```
/// use kumo_examples::tools::TopK;
/// let mut top = TopK::new(2);
/// for (v, q) in [(3.0, "c.test"), (9.0, "b.test"), (1.0, "d.test"), (9.0, "a.test")] {
///     top.offer(v, q);
/// }
/// assert_eq!(top.into_sorted(), [("b.test".to_owned(), 9.0), ("a.test".to_owned(), 9.0)]);
/// ```
#[derive(Debug)]
pub struct TopK {
    k: usize,
    offered: u64,
    heap: BinaryHeap<Entry>,
}

impl TopK {
    /// Keeps at most `k` entries.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            offered: 0,
            heap: BinaryHeap::with_capacity(k.min(4096)),
        }
    }

    /// Offers one entry.
    pub fn offer(&mut self, value: f64, name: &str) {
        let seq = self.offered;
        self.offered += 1;
        if self.heap.len() < self.k {
            self.heap.push(Entry {
                value,
                seq,
                name: name.to_owned(),
            });
            return;
        }
        if let Some(mut worst) = self.heap.peek_mut() {
            // A later offer wins only with a strictly larger value.
            if desc_key(value) < desc_key(worst.value) {
                worst.value = value;
                worst.seq = seq;
                worst.name.clear();
                worst.name.push_str(name);
                // Dropping `worst` sifts the changed entry down to its place.
            }
        }
    }

    /// The kept entries, best first.
    pub fn into_sorted(self) -> Vec<(String, f64)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect()
    }
}

/// The K best rows by one family (the *rank* family) and, for those K only, the columns that
/// later families carry: memory O(K) whatever the number of rows in the body.
///
/// Feed it the rank family's samples with [`offer`](Self::offer), then any other family's
/// with [`row_mut`](Self::row_mut). The first call to `row_mut` after the rank family fixes
/// the K rows; a family that came before the rank family cannot be attributed to them, and
/// their columns keep the value `R::default()` gives (the callers use `NaN`, shown as `-`).
#[derive(Debug)]
pub struct Ranked<R> {
    top: Option<TopK>,
    offered: bool,
    index: HashMap<String, usize>,
    rows: Vec<(String, f64, R)>,
    fresh: fn() -> R,
}

impl<R> Ranked<R> {
    /// The `k` best rows; `fresh` makes the columns of a row when the rows are fixed.
    pub fn new(k: usize, fresh: fn() -> R) -> Self {
        Self {
            top: Some(TopK::new(k)),
            offered: false,
            index: HashMap::new(),
            rows: Vec::new(),
            fresh,
        }
    }

    /// A sample of the rank family. Ignored once the rows are fixed.
    pub fn offer(&mut self, value: f64, name: &str) {
        if let Some(top) = &mut self.top {
            self.offered = true;
            top.offer(value, name);
        }
    }

    fn fix(&mut self) {
        if let Some(top) = self.top.take() {
            self.rows = top
                .into_sorted()
                .into_iter()
                .map(|(name, v)| (name, v, (self.fresh)()))
                .collect();
            self.index = self
                .rows
                .iter()
                .enumerate()
                .map(|(i, (name, _, _))| (name.clone(), i))
                .collect();
        }
    }

    /// The columns of `name` when it is one of the K rows (fixing the rows on the first call
    /// after a rank sample); `None` otherwise, and always before any rank sample was offered.
    pub fn row_mut(&mut self, name: &str) -> Option<&mut R> {
        if !self.offered {
            return None;
        }
        self.fix();
        let i = *self.index.get(name)?;
        Some(&mut self.rows[i].2)
    }

    /// The rows, best first: name, rank value, columns.
    pub fn into_rows(mut self) -> Vec<(String, f64, R)> {
        self.fix();
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Against sorting everything: the same k best, in the same order.
        #[test]
        fn top_k_matches_a_full_sort(
            values in proptest::collection::vec((0u8..20, 0u16..500), 0..300),
            k in 0usize..12,
        ) {
            let mut top = TopK::new(k);
            let mut all: Vec<(String, f64)> = Vec::new();
            for (v, n) in &values {
                let name = format!("q{n}");
                top.offer(f64::from(*v), &name);
                all.push((name, f64::from(*v)));
            }
            // A stable sort keeps offer order among equal values.
            all.sort_by(|a, b| b.1.total_cmp(&a.1));
            all.truncate(k);
            prop_assert_eq!(top.into_sorted(), all);
        }
    }

    proptest! {
        #[test]
        fn desc_key_orders_as_total_cmp_reversed(a in any::<f64>(), b in any::<f64>()) {
            prop_assert_eq!(desc_key(a).cmp(&desc_key(b)), b.total_cmp(&a));
        }
    }

    #[test]
    fn ranked_fills_only_the_kept_rows() {
        let mut r: Ranked<f64> = Ranked::new(2, || f64::NAN);
        assert!(r.row_mut("a").is_none(), "a family before the rank family");
        for (v, q) in [(5.0, "a"), (7.0, "b"), (1.0, "c")] {
            r.offer(v, q);
        }
        for (v, q) in [(10.0, "a"), (20.0, "c")] {
            if let Some(col) = r.row_mut(q) {
                *col = v;
            }
        }
        r.offer(100.0, "late"); // after the rows are fixed: ignored
        let rows = r.into_rows();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].0.as_str(), rows[0].1), ("b", 7.0));
        assert!(rows[0].2.is_nan(), "b had no second-family sample");
        assert_eq!((rows[1].0.as_str(), rows[1].1, rows[1].2), ("a", 5.0, 10.0));
    }
}
