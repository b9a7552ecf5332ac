//! What the byte sources below the reader share: the error that stops a
//! feed ([`FeedError`]), and the release of a mapped file's pages behind the
//! reader ([`Behind`]), which both a mapped window and gzip decompressing
//! from a map do.

use std::io;

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
