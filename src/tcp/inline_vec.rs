//! A short list kept inside its owner: the first `N` elements live inline,
//! and only a longer list moves to the heap. Most per-connection lists (a
//! side's unacknowledged segments, its first ACK RTTs, Zeek's held blocks)
//! stay short, so following a connection then allocates nothing and its
//! list shares the cache lines of the state next to it.

use std::ops::{Deref, DerefMut, Range};

/// Up to `N` elements inline, more on the heap (once spilled, the list
/// stays there until [`InlineVec::clear`]). `repr(u8)` lays each variant
/// out in field order after the tag, so the length shares the tag's word
/// instead of padding the end.
#[derive(Clone)]
#[repr(u8)]
pub(crate) enum InlineVec<T: Copy + Default, const N: usize> {
    Inline { len: u32, buf: [T; N] },
    Heap(Vec<T>),
}

impl<T: Copy + Default, const N: usize> Default for InlineVec<T, N> {
    fn default() -> Self {
        InlineVec::Inline {
            len: 0,
            buf: [T::default(); N],
        }
    }
}

impl<T: Copy + Default, const N: usize> InlineVec<T, N> {
    /// Appends `v`; the first push past `N` moves the list to a heap
    /// buffer with room for `4 * N`, so a list that keeps growing pays few
    /// reallocations.
    #[inline]
    pub(crate) fn push(&mut self, v: T) {
        match self {
            InlineVec::Inline { len, buf } if (*len as usize) < N => {
                buf[*len as usize] = v;
                *len += 1;
            }
            InlineVec::Heap(heap) => heap.push(v),
            InlineVec::Inline { .. } => self.spill(v),
        }
    }

    /// [`InlineVec::push`] onto a full inline list: out of line, so the
    /// usual push stays small enough to inline.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, v: T) {
        let mut heap = Vec::with_capacity((4 * N).max(8));
        heap.extend_from_slice(self);
        heap.push(v);
        *self = InlineVec::Heap(heap);
    }

    /// Removes the last element, if any.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<T> {
        match self {
            InlineVec::Inline { len, buf } => {
                *len = len.checked_sub(1)?;
                Some(buf[*len as usize])
            }
            InlineVec::Heap(heap) => heap.pop(),
        }
    }

    /// Keeps the elements `f` says to keep (which it may change), in order.
    #[inline]
    pub(crate) fn retain_mut(&mut self, mut f: impl FnMut(&mut T) -> bool) {
        match self {
            InlineVec::Inline { len, buf } => {
                let mut kept = 0;
                for i in 0..*len as usize {
                    let mut v = buf[i];
                    if f(&mut v) {
                        buf[kept] = v;
                        kept += 1;
                    }
                }
                *len = kept as u32;
            }
            InlineVec::Heap(heap) => heap.retain_mut(f),
        }
    }

    /// Replaces the elements in `range` by `v` (`range` may be empty: `v`
    /// is then inserted at its start).
    pub(crate) fn splice_one(&mut self, range: Range<usize>, v: T) {
        let Range { start, end } = range;
        assert!(start <= end && end <= self.len());
        if start == end {
            // An insertion: make room at the end, then shift.
            self.push(v);
            self[start..].rotate_right(1);
            return;
        }
        self[start] = v;
        self.remove_range(start + 1..end);
    }

    /// Removes the elements in `range`, keeping the rest in order.
    #[inline]
    pub(crate) fn remove_range(&mut self, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        match self {
            InlineVec::Inline { len, buf } => {
                let n = *len as usize;
                assert!(range.end <= n);
                if range.end < n {
                    buf.copy_within(range.end..n, range.start);
                }
                *len = (n - range.len()) as u32;
            }
            InlineVec::Heap(heap) => {
                heap.drain(range);
            }
        }
    }

    /// Empties the list and frees its heap buffer, if any.
    pub(crate) fn clear(&mut self) {
        *self = InlineVec::default();
    }
}

/// The elements, wherever they are kept (not the stale ones past the
/// length, so two lists with the same elements print alike).
impl<T: Copy + Default + std::fmt::Debug, const N: usize> std::fmt::Debug for InlineVec<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Equal when the elements are, wherever they are kept.
impl<T: Copy + Default + PartialEq, const N: usize> PartialEq for InlineVec<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl<T: Copy + Default + Eq, const N: usize> Eq for InlineVec<T, N> {}

impl<T: Copy + Default, const N: usize> Deref for InlineVec<T, N> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        match self {
            InlineVec::Inline { len, buf } => &buf[..*len as usize],
            InlineVec::Heap(heap) => heap,
        }
    }
}

impl<T: Copy + Default, const N: usize> DerefMut for InlineVec<T, N> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            InlineVec::Inline { len, buf } => &mut buf[..*len as usize],
            InlineVec::Heap(heap) => heap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation gives what the same operation on a `Vec` gives, on
    /// both sides of the spill.
    #[test]
    fn behaves_as_a_vec_inline_and_spilled() {
        for extra in [0, 1, 5, 40] {
            let mut v: InlineVec<u32, 4> = InlineVec::default();
            let mut want: Vec<u32> = Vec::new();
            for i in 0..(3 + extra) {
                v.push(i * 10);
                want.push(i * 10);
            }
            assert_eq!(&v[..], &want[..]);
            assert_eq!(matches!(v, InlineVec::Heap(_)), want.len() > 4);
            v.splice_one(1..1, 5);
            want.insert(1, 5);
            assert_eq!(&v[..], &want[..]);
            v.splice_one(0..2, 7);
            want.splice(0..2, [7]);
            assert_eq!(&v[..], &want[..]);
            v.retain_mut(|x| {
                *x += 1;
                *x % 20 != 1
            });
            want.retain_mut(|x| {
                *x += 1;
                *x % 20 != 1
            });
            assert_eq!(&v[..], &want[..]);
            let k = want.len() / 2;
            v.remove_range(0..k);
            want.drain(0..k);
            assert_eq!(&v[..], &want[..]);
            assert_eq!(v.pop(), want.pop());
            assert_eq!(&v[..], &want[..]);
            v.clear();
            assert_eq!(v.pop(), None);
            assert!(v.is_empty() && matches!(v, InlineVec::Inline { .. }));
        }
    }
}
