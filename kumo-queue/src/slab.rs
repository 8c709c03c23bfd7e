//! [`Slab`]: storage for the caller's message records with generation-checked keys.

use std::fmt;

/// A key into a [`Slab`]: a slot index plus the generation of the record it was issued for.
///
/// A key stays valid until its record is removed. After that the slot may be reused, but the
/// reused slot has a new generation, so the old key never reaches the new record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// The slot index (dense, starting at 0): usable as a [`TimerWheel`](crate::TimerWheel) id.
    pub fn index(self) -> u32 {
        self.index
    }

    /// The slot's generation when the key was issued.
    pub fn generation(self) -> u32 {
        self.generation
    }

    /// The key as one `u64` (generation in the high half), for storing it elsewhere.
    pub fn to_bits(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The key from [`to_bits`](Self::to_bits).
    pub fn from_bits(bits: u64) -> Self {
        Self {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }

    pub(crate) fn new(index: u32, generation: u32) -> Self {
        Self { index, generation }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}v{}", self.index, self.generation)
    }
}

#[derive(Debug, Clone)]
enum Slot<T> {
    Occupied { generation: u32, value: T },
    Vacant { generation: u32, next_free: u32 },
}

const NO_FREE: u32 = u32::MAX;

/// A slab of records addressed by generation-checked [`Key`]s.
///
/// Insert and remove are O(1) and reuse freed slots (the most recently freed first). Each slot
/// carries a generation that is bumped when its record is removed, so a stale key is rejected
/// instead of reaching a record that reused its slot. Generations wrap after 2^32 reuses of one
/// slot.
///
/// # Examples
///
/// ```
/// use kumo_queue::Slab;
///
/// let mut slab = Slab::new();
/// let a = slab.insert("first")?;
/// assert_eq!(slab.remove(a), Some("first"));
/// let b = slab.insert("second")?;
/// assert_eq!(a.index(), b.index()); // the slot is reused...
/// assert_eq!(slab.get(a), None); // ...but the old key does not reach it
/// assert_eq!(slab.get(b), Some(&"second"));
/// # Ok::<(), kumo_queue::SlabFull>(())
/// ```
#[derive(Clone)]
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: u32,
    len: u32,
}

/// The slab already holds `u32::MAX` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("slab is full")]
pub struct SlabFull;

impl<T> fmt::Debug for Slab<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slab")
            .field("len", &self.len)
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slab<T> {
    /// An empty slab.
    pub const fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: NO_FREE,
            len: 0,
        }
    }

    /// An empty slab with room for `n` records.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            slots: Vec::with_capacity(n),
            ..Self::new()
        }
    }

    /// Stores `value` and returns its key.
    ///
    /// # Errors
    ///
    /// [`SlabFull`] when the slab holds `u32::MAX` records.
    pub fn insert(&mut self, value: T) -> Result<Key, SlabFull> {
        if self.free != NO_FREE {
            let index = self.free;
            if let Some(slot) = self.slots.get_mut(index as usize)
                && let Slot::Vacant {
                    generation,
                    next_free,
                } = *slot
            {
                *slot = Slot::Occupied { generation, value };
                self.free = next_free;
                self.len += 1;
                return Ok(Key { index, generation });
            }
            // The free list only ever points at vacant slots; if it did not, start a new slot.
            self.free = NO_FREE;
        }
        let index = u32::try_from(self.slots.len())
            .ok()
            .filter(|&i| i != NO_FREE)
            .ok_or(SlabFull)?;
        self.slots.push(Slot::Occupied {
            generation: 0,
            value,
        });
        self.len += 1;
        Ok(Key {
            index,
            generation: 0,
        })
    }

    /// The record for `key`, or `None` when the key is stale or was never issued.
    pub fn get(&self, key: Key) -> Option<&T> {
        match self.slots.get(key.index as usize)? {
            Slot::Occupied { generation, value } if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// The record for `key`, mutably; `None` when the key is stale.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.slots.get_mut(key.index as usize)? {
            Slot::Occupied { generation, value } if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// Whether `key` refers to a stored record.
    pub fn contains(&self, key: Key) -> bool {
        self.get(key).is_some()
    }

    /// Removes and returns the record for `key`; `None` (and no change) when the key is stale,
    /// so removing twice is harmless.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        match slot {
            Slot::Occupied { generation, .. } if *generation == key.generation => {}
            _ => return None,
        }
        let old = std::mem::replace(
            slot,
            Slot::Vacant {
                generation: key.generation.wrapping_add(1),
                next_free: self.free,
            },
        );
        self.free = key.index;
        self.len -= 1;
        match old {
            Slot::Occupied { value, .. } => Some(value),
            Slot::Vacant { .. } => None,
        }
    }

    /// How many records are stored.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the slab is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every record with its key, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &T)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Occupied { generation, value } => Some((
                Key {
                    index: i as u32,
                    generation: *generation,
                },
                value,
            )),
            Slot::Vacant { .. } => None,
        })
    }
}
