//! Asking the CPU to start loading memory that is about to be used, so a
//! cache miss overlaps other work instead of stalling it.

/// Bytes in a cache line (x86-64 and most 64-bit ARM cores).
const LINE: usize = 64;

/// Starts loading the cache lines of `*value` (all of it, or its first
/// `bytes` if fewer), into every cache level. Only a hint: it changes no
/// result, and on targets without an instruction for it does nothing.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T, bytes: usize) {
    let start = value as *const T as *const u8;
    let bytes = bytes.min(std::mem::size_of::<T>());
    for line in lines(start as usize, bytes) {
        // The pointer keeps `value`'s provenance: no address is made up.
        prefetch_line(start.wrapping_add(line.wrapping_sub(start as usize)));
    }
}

/// The starts of the cache lines that `bytes` bytes from `start` span (the
/// line of `start` alone when `bytes` is 0).
#[inline(always)]
fn lines(start: usize, bytes: usize) -> impl Iterator<Item = usize> {
    let first = start & !(LINE - 1);
    let last = start.wrapping_add(bytes.max(1) - 1) & !(LINE - 1);
    (first..=last).step_by(LINE)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_line(p: *const u8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: a prefetch is a hint that never faults and reads nothing the
    // program sees, whatever the address; SSE is part of x86-64's baseline.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn prefetch_line(_p: *const u8) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_cover_the_value_and_nothing_past_it() {
        let starts = |start, bytes| lines(start, bytes).collect::<Vec<_>>();
        // A flow entry (1,224 bytes) as malloc places it, 16 bytes into a line.
        let entry = starts(0x1010, 1224);
        assert_eq!(entry.len(), 20);
        assert_eq!(entry[0], 0x1000);
        assert_eq!(entry[19], 0x1000 + 19 * 64);
        assert_eq!(starts(0x1000, 1280).len(), 20);
        assert_eq!(starts(0x1000, 1281).len(), 21);
        assert_eq!(starts(0x103f, 2), vec![0x1000, 0x1040]);
        assert_eq!(starts(0x1040, 64), vec![0x1040]);
        assert_eq!(starts(0x1041, 0), vec![0x1040]);
    }
}
