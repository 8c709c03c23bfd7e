//! A vector stored in fixed-size pages, so that growing it never copies or doubles.

/// Elements per page (a power of two).
const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;
const MASK: u32 = (1 << PAGE_BITS) - 1;

/// A sparse, paged array indexed by `u32`. Pages are allocated on first write and filled with
/// `T::default()`; reading an index whose page is absent yields the default.
#[derive(Clone)]
pub(crate) struct Paged<T> {
    pages: Vec<Option<Box<[T]>>>,
}

impl<T> std::fmt::Debug for Paged<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pages = self.pages.iter().filter(|p| p.is_some()).count();
        f.debug_struct("Paged").field("pages", &pages).finish()
    }
}

impl<T> Default for Paged<T> {
    fn default() -> Self {
        Self { pages: Vec::new() }
    }
}

impl<T: Default> Paged<T> {
    #[inline]
    pub(crate) fn get(&self, i: u32) -> Option<&T> {
        self.pages
            .get((i >> PAGE_BITS) as usize)?
            .as_ref()
            .map(|p| &p[(i & MASK) as usize])
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.pages
            .get_mut((i >> PAGE_BITS) as usize)?
            .as_mut()
            .map(|p| &mut p[(i & MASK) as usize])
    }

    /// The element at `i`, allocating its page if needed.
    #[inline]
    pub(crate) fn slot(&mut self, i: u32) -> &mut T {
        let p = (i >> PAGE_BITS) as usize;
        if p >= self.pages.len() {
            self.pages.resize_with(p + 1, || None);
        }
        let page = self.pages[p].get_or_insert_with(|| (0..PAGE).map(|_| T::default()).collect());
        &mut page[(i & MASK) as usize]
    }

    /// Frees every page.
    pub(crate) fn clear(&mut self) {
        self.pages = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_reads_default_and_writes_stick() {
        let mut p: Paged<u32> = Paged::default();
        assert_eq!(p.get(5), None);
        *p.slot(5) = 7;
        *p.slot(100_000) = 9;
        assert_eq!(p.get(5), Some(&7));
        assert_eq!(p.get(6), Some(&0));
        assert_eq!(p.get(100_000), Some(&9));
        assert_eq!(p.get(50_000), None);
        *p.get_mut(5).unwrap() = 1;
        assert_eq!(p.get(5), Some(&1));
    }
}
