//! Rows stored back to back in one buffer (an arrangement's batches).

use super::*;

/// Rows stored back to back in one buffer, as an arrangement's batches keep them: one
/// allocation for all of their bytes (sized exactly when two stores merge) instead of one per
/// row, and offsets of 4 bytes per row until the buffer passes 4 GiB.
#[derive(Clone, Default)]
pub struct RowVec {
    bytes: Vec<u8>,
    /// Where each row ends in `bytes`, while that fits in a u32 ...
    ends: Vec<u32>,
    /// ... and beyond.
    far_ends: Vec<u64>,
}

impl RowVec {
    /// An empty store with room for `rows` rows of `bytes` bytes in all.
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        RowVec {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(rows),
            far_ends: Vec::new(),
        }
    }

    /// Appends a copy of `row`'s bytes.
    #[inline]
    pub fn push(&mut self, row: &RowRef) {
        self.bytes.extend_from_slice(&row.data);
        let end = self.bytes.len();
        match u32::try_from(end) {
            Ok(end) if self.far_ends.is_empty() => self.ends.push(end),
            _ => self.far_ends.push(end as u64),
        }
    }

    /// The row at `index`. Panics when there is none.
    #[inline]
    pub fn get(&self, index: usize) -> &RowRef {
        let start = if index == 0 { 0 } else { self.end(index - 1) };
        RowRef::from_packed(&self.bytes[start..self.end(index)])
    }

    #[inline(always)]
    fn end(&self, index: usize) -> usize {
        match self.ends.get(index) {
            Some(end) => *end as usize,
            None => self.far_ends[index - self.ends.len()] as usize,
        }
    }

    /// Number of rows.
    #[inline]
    pub fn len(&self) -> usize {
        self.ends.len() + self.far_ends.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the rows, all together.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Removes every row, keeping the allocations.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.far_ends.clear();
    }

    /// Bytes allocated on the heap (buffer and offsets, capacity included).
    pub fn heap_size(&self) -> usize {
        self.bytes.capacity() + 4 * self.ends.capacity() + 8 * self.far_ends.capacity()
    }
}

impl fmt::Debug for RowVec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries((0..self.len()).map(|i| self.get(i))).finish()
    }
}
