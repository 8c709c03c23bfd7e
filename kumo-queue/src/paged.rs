//! A vector stored in fixed-size pages, so that growing it never copies or doubles.

/// Elements per page (a power of two).
const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;
const MASK: u32 = (1 << PAGE_BITS) - 1;

/// A sparse, paged array indexed by `u32`. Pages are allocated on first write and filled with
/// `T::default()`; reading an index whose page is absent yields the default.
#[derive(Clone)]
pub(crate) struct Paged<T> {
    pages: Vec<Option<Box<[T; PAGE]>>>,
    /// Makes a page of defaults.
    new_page: fn() -> Box<[T; PAGE]>,
}

impl<T> std::fmt::Debug for Paged<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pages = self.pages.iter().filter(|p| p.is_some()).count();
        f.debug_struct("Paged").field("pages", &pages).finish()
    }
}

/// A page from a boxed slice of `PAGE` defaults (built on the heap, never on the stack).
fn page<T: Default>(elements: Box<[T]>) -> Box<[T; PAGE]> {
    // The slice always has PAGE elements; the fallback only keeps this free of panics.
    elements
        .try_into()
        .unwrap_or_else(|_| Box::new(std::array::from_fn(|_| T::default())))
}

impl<T: Default> Default for Paged<T> {
    fn default() -> Self {
        Self {
            pages: Vec::new(),
            new_page: || page((0..PAGE).map(|_| T::default()).collect()),
        }
    }
}

impl<T: Default + Clone> Paged<T> {
    /// A paged array whose pages are made by cloning the default, which for a zero default
    /// (integers) asks the allocator for zeroed memory instead of writing every element.
    pub(crate) fn zeroed() -> Self {
        Self {
            pages: Vec::new(),
            new_page: || page(vec![T::default(); PAGE].into_boxed_slice()),
        }
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

    /// The elements at `ids` into `out` (the default where a page is absent), looking a page up
    /// only when the index moves to another page.
    #[inline]
    pub(crate) fn copy_out(&self, ids: &[u32], out: &mut [T])
    where
        T: Copy,
    {
        let mut page: Option<&[T; PAGE]> = None;
        let mut at = u32::MAX;
        for (o, &i) in out.iter_mut().zip(ids) {
            let p = i >> PAGE_BITS;
            if p != at {
                at = p;
                page = self.pages.get(p as usize).and_then(|p| p.as_deref());
            }
            *o = page.map_or_else(T::default, |pg| pg[(i & MASK) as usize]);
        }
    }

    /// The element at `i`, allocating its page if needed.
    #[inline]
    pub(crate) fn slot(&mut self, i: u32) -> &mut T {
        let p = (i >> PAGE_BITS) as usize;
        if !matches!(self.pages.get(p), Some(Some(_))) {
            self.add_page(p);
        }
        let page = self.pages[p].get_or_insert_with(self.new_page);
        &mut page[(i & MASK) as usize]
    }

    /// Allocates page `p` (kept out of line: the hot path only indexes).
    #[cold]
    #[inline(never)]
    fn add_page(&mut self, p: usize) {
        if p >= self.pages.len() {
            self.pages.resize_with(p + 1, || None);
        }
        self.pages[p].get_or_insert_with(self.new_page);
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
