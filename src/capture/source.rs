//! What the byte sources below the reader share: the error that stops a
//! feed ([`FeedError`]), the release of a mapped file's pages behind the
//! reader ([`Behind`]), which both a mapped window and gzip decompressing
//! from a map do, and a mapped file shared with the batches of records
//! that point into it ([`SharedMap`]).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use memmap2::Mmap;

/// A map's pages are released in pieces of this size, at least one piece behind
/// the reader: a mapped file adds at most about twice this to the RSS.
pub(super) const RELEASE: usize = 4 << 20;

/// Why more bytes could not be had.
#[derive(Debug)]
pub(super) enum FeedError {
    /// The source failed to read.
    Io(io::Error),
    /// The gzip data is corrupt or cut short (the message says which).
    Gzip(String),
}

/// Pages of a map already released, behind the reader.
#[derive(Default)]
pub(super) struct Behind {
    released: usize,
}

impl Behind {
    /// Releases the map's pages more than one [`RELEASE`] piece behind `pos`:
    /// their data stays in the page cache, and a later access (a record handed
    /// out before, still in use) maps it again.
    #[inline]
    pub(super) fn release(&mut self, map: &Mmap, pos: usize) {
        if pos - self.released < 2 * RELEASE {
            return;
        }
        #[cfg(unix)]
        {
            // SAFETY: MADV_DONTNEED on a shared read-only file mapping (what
            // Mmap::map makes) only unmaps the pages; their contents stay
            // those of the file, read again from the page cache when touched.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    self.released,
                    RELEASE,
                )
            };
        }
        #[cfg(not(unix))]
        let _ = map;
        self.released += RELEASE;
    }

    /// Bytes released so far, from the start of the map.
    #[cfg(test)]
    pub(super) fn released(&self) -> usize {
        self.released
    }
}

/// A mapped capture file, shared by its reader and the batches of records
/// that point into it, so records are decoded where they lie instead of
/// being copied out first. Once the reader has handed it out, the pages
/// behind it are released by the batches, as each is done with
/// ([`SharedMap::release_before`]), not by the reader: so a batch's
/// records stay mapped while it waits to be decoded, and the map still
/// adds only the batches in flight to the resident memory.
#[doc(hidden)]
#[derive(Clone)]
pub struct SharedMap(Arc<Mapped>);

struct Mapped {
    map: Mmap,
    /// Bytes from the start of the map already released (a page multiple).
    released: AtomicUsize,
}

impl SharedMap {
    pub(super) fn new(map: Mmap) -> SharedMap {
        SharedMap(Arc::new(Mapped {
            map,
            released: AtomicUsize::new(0),
        }))
    }

    /// The whole file.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0.map
    }

    pub(super) fn mmap(&self) -> &Mmap {
        &self.0.map
    }

    /// The same mapped file.
    pub(crate) fn same(&self, other: &SharedMap) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Releases the pages wholly before `pos` not released yet: the batches
    /// before `pos` are done with them. Their data stays in the page cache,
    /// and an access later maps it again.
    pub(crate) fn release_before(&self, pos: usize) {
        const PAGE: usize = 4096;
        let to = pos / PAGE * PAGE;
        let from = self.0.released.fetch_max(to, Ordering::Relaxed);
        if from >= to {
            return;
        }
        #[cfg(unix)]
        {
            // SAFETY: as in `Behind::release`: MADV_DONTNEED on a shared
            // read-only file mapping only unmaps the pages; their contents
            // stay those of the file.
            let _ = unsafe {
                self.0.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    from,
                    to - from,
                )
            };
        }
    }

    /// Where `data`, a slice of this map, starts in it.
    #[inline]
    pub(crate) fn offset_of(&self, data: &[u8]) -> Option<usize> {
        let base = self.0.map.as_ptr() as usize;
        let at = (data.as_ptr() as usize).checked_sub(base)?;
        (at + data.len() <= self.0.map.len()).then_some(at)
    }
}
