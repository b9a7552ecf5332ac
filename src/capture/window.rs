//! The reader's view of its input: the unconsumed bytes `data()[start..end]`
//! of a mapped file, or of a buffer filled from a stream or a gzip decoder.
//!
//! A mapped file is all there from the start: asking for more than it holds
//! is simply "the input ends", so a record's claimed length costs nothing.
//! As the reader moves through a map, the cache lines just ahead are
//! prefetched (finding the next record depends on the last one's length, so
//! without that every record waits for memory) and the pages far behind are
//! released, so the map does not add the whole file to the process's resident
//! memory (the data stays in the page cache). A
//! buffer grows only when it is full of bytes that have actually arrived and
//! still hold less than a record needs (doubling, up to what is needed), so its
//! size stays within about twice the input's real size however large a length
//! field claims to be; and it shrinks back after a huge record.

use std::io::{self, Read};

use memmap2::Mmap;

use super::gunzip::{Gunzip, GzInput};
use super::pump::Pump;
use super::source::{Behind, FeedError, SharedMap};

/// How far ahead of the reader a map's cache lines are prefetched.
const PREFETCH: usize = 8 * 1024;

/// A stream's buffer starts at this size...
pub(super) const INITIAL_BUF: usize = 64 * 1024;
/// ...and grows to this size (the size of a read) while reads keep filling it.
pub(super) const READ_CHUNK: usize = 1 << 20;

enum Bytes {
    Mapped(SharedMap),
    Owned(Vec<u8>),
}

enum Feed {
    /// Nothing more will arrive.
    Done,
    Read(Box<dyn Read + Send>),
    /// A pipe read on a thread of its own, which says whether bytes wait.
    Pump(Box<Pump>),
    Gunzip(Box<Gunzip>),
}

pub(super) struct Window {
    bytes: Bytes,
    start: usize,
    end: usize,
    feed: Feed,
    /// A map: when `start` passes this, prefetch and release (`usize::MAX`: never).
    next_hint: usize,
    prefetched: usize,
    behind: Behind,
    /// The map was handed out ([`Window::shared_map`]): the holders of its
    /// records release the pages behind them, not the window.
    shared: bool,
}

impl Window {
    /// A whole mapped file.
    pub(super) fn mapped(map: Mmap) -> Window {
        let end = map.len();
        let mut w = Window {
            bytes: Bytes::Mapped(SharedMap::new(map)),
            start: 0,
            end,
            feed: Feed::Done,
            next_hint: 0,
            prefetched: 0,
            behind: Behind::default(),
            shared: false,
        };
        w.map_hints();
        w
    }

    /// A stream, read into a buffer as records need it.
    pub(super) fn stream(src: Box<dyn Read + Send>) -> Window {
        Window {
            bytes: Bytes::Owned(vec![0; INITIAL_BUF]),
            start: 0,
            end: 0,
            feed: Feed::Read(src),
            next_hint: usize::MAX,
            prefetched: 0,
            behind: Behind::default(),
            shared: false,
        }
    }

    /// A pipe, read on a thread of its own (see [`Pump`]).
    pub(super) fn pipe(src: Box<dyn Read + Send>) -> Window {
        let mut w = Window::stream(src);
        if let Feed::Read(src) = std::mem::replace(&mut w.feed, Feed::Done) {
            w.feed = Feed::Pump(Box::new(Pump::start(src)));
        }
        w
    }

    /// The mapped file, for records to be read where they lie; from now on
    /// whoever holds them releases the pages behind them
    /// ([`SharedMap::release_before`]). None for a stream or gzip input.
    pub(super) fn shared_map(&mut self) -> Option<SharedMap> {
        match &self.bytes {
            Bytes::Mapped(map) => {
                self.shared = true;
                Some(map.clone())
            }
            Bytes::Owned(_) => None,
        }
    }

    /// Input is read from a pipe as it arrives.
    pub(super) fn is_pipe(&self) -> bool {
        matches!(self.feed, Feed::Pump(_))
    }

    /// True unless the input is a pipe that has delivered nothing new yet.
    pub(super) fn input_waiting(&mut self) -> bool {
        match &mut self.feed {
            Feed::Pump(p) => p.ready(),
            _ => true,
        }
    }

    /// Waits up to `timeout` for a pipe's input; true if some is there.
    pub(super) fn wait_input(&mut self, timeout: std::time::Duration) -> bool {
        match &mut self.feed {
            Feed::Pump(p) => p.wait(timeout),
            _ => true,
        }
    }

    /// From here on the input (the unconsumed bytes and whatever follows) is
    /// gzip data; the window shows what it decompresses to.
    pub(super) fn start_gunzip(&mut self) {
        let bytes = std::mem::replace(&mut self.bytes, Bytes::Owned(vec![0; INITIAL_BUF]));
        let feed = std::mem::replace(&mut self.feed, Feed::Done);
        let input = match (bytes, feed) {
            (Bytes::Mapped(map), _) => GzInput::Mapped {
                map,
                pos: self.start,
                behind: Behind::default(),
            },
            (Bytes::Owned(buf), feed) => {
                let (src, eof): (Box<dyn Read + Send>, bool) = match feed {
                    Feed::Read(src) => (src, false),
                    Feed::Pump(p) => (p as Box<dyn Read + Send>, false),
                    Feed::Done => (Box::new(io::empty()), true),
                    Feed::Gunzip(_) => unreachable!("gzip is detected once, at the start"),
                };
                GzInput::Stream {
                    src,
                    buf,
                    start: self.start,
                    end: self.end,
                    eof,
                }
            }
        };
        self.feed = Feed::Gunzip(Box::new(Gunzip::new(input)));
        self.start = 0;
        self.end = 0;
        self.next_hint = usize::MAX;
    }

    /// The whole backing storage; spans index into it until the next `fill`.
    #[inline]
    pub(super) fn data(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Mapped(m) => m.bytes(),
            Bytes::Owned(v) => v,
        }
    }

    /// The unconsumed bytes.
    #[inline]
    pub(super) fn window(&self) -> &[u8] {
        &self.data()[self.start..self.end]
    }

    /// Where the unconsumed bytes start in `data()`.
    #[inline]
    pub(super) fn start(&self) -> usize {
        self.start
    }

    #[inline]
    pub(super) fn available(&self) -> usize {
        self.end - self.start
    }

    #[inline]
    pub(super) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.available());
        self.start += n;
        if self.start >= self.next_hint {
            self.map_hints();
        }
    }

    /// A map: prefetches the lines ahead of the reader, releases pages behind it.
    #[inline(never)]
    fn map_hints(&mut self) {
        let Bytes::Mapped(map) = &self.bytes else {
            self.next_hint = usize::MAX;
            return;
        };
        let from = self.prefetched.max(self.start);
        let to = (self.start + PREFETCH).min(map.bytes().len());
        if from < to {
            prefetch(&map.bytes()[from..to]);
        }
        self.prefetched = to;
        self.next_hint = self.start + PREFETCH / 2;
        if !self.shared {
            self.behind.release(map.mmap(), self.start);
        }
    }

    /// Makes at least `want` unconsumed bytes available; false if the input
    /// ends first. May move the unconsumed bytes (spans from before are void).
    #[inline]
    pub(super) fn fill(&mut self, want: usize) -> Result<bool, FeedError> {
        if self.available() >= want {
            return Ok(true);
        }
        self.fill_slow(want)
    }

    #[cold]
    fn fill_slow(&mut self, want: usize) -> Result<bool, FeedError> {
        while self.available() < want {
            let Bytes::Owned(buf) = &mut self.bytes else {
                return Ok(false);
            };
            if matches!(self.feed, Feed::Done) {
                return Ok(false);
            }
            make_room(buf, &mut self.start, &mut self.end, want);
            let room = buf.len() - self.end;
            let dst = &mut buf[self.end..];
            let n = match &mut self.feed {
                Feed::Read(src) => match src.read(dst) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(FeedError::Io(e)),
                },
                Feed::Pump(p) => match p.read(dst) {
                    Ok(n) => n,
                    Err(e) => return Err(FeedError::Io(e)),
                },
                Feed::Gunzip(g) => g.read(dst)?,
                Feed::Done => unreachable!("checked above"),
            };
            if n == 0 {
                self.feed = Feed::Done;
                continue;
            }
            self.end += n;
            if n == room && buf.len() < READ_CHUNK {
                // The source keeps up: read more per call.
                let len = (buf.len() * 2).min(READ_CHUNK);
                buf.resize(len, 0);
            }
        }
        Ok(true)
    }

    /// Bytes the buffer holds (a mapped file: 0).
    #[cfg(test)]
    pub(super) fn buffer_len(&self) -> usize {
        match &self.bytes {
            Bytes::Mapped(_) => 0,
            Bytes::Owned(v) => v.capacity(),
        }
    }

    #[cfg(test)]
    pub(super) fn is_mapped(&self) -> bool {
        matches!(self.bytes, Bytes::Mapped(_))
    }
}

/// Asks the CPU to fetch these bytes' cache lines (x86_64; elsewhere nothing).
#[inline]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for off in (0..bytes.len()).step_by(64) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is only a hint; it never faults, and the
        // address is inside `bytes` anyway.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().add(off).cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// Makes room after `end` for a read towards `want` unconsumed bytes: moves
/// the unconsumed bytes to the front when the space behind them is short, and
/// doubles the buffer (at most to `want`) only when it is full of them.
fn make_room(buf: &mut Vec<u8>, start: &mut usize, end: &mut usize, want: usize) {
    let avail = *end - *start;
    let need = want - avail;
    let len = buf.len();
    if *start > 0 && len - *end < need.max(len / 4) {
        buf.copy_within(*start..*end, 0);
        *start = 0;
        *end = avail;
        // Give back what a huge record needed once.
        let keep = want.max(READ_CHUNK);
        if len > 2 * keep {
            buf.truncate(keep);
            buf.shrink_to_fit();
        }
    }
    if *end == buf.len() {
        // Full of unconsumed bytes, fewer than wanted (so start == 0).
        let len = (buf.len() * 2).min(want.max(READ_CHUNK));
        buf.resize(len, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::source::RELEASE;
    use std::io::Cursor;

    #[test]
    fn the_buffer_grows_with_the_data_not_with_the_claim() {
        let mut w = Window::stream(Box::new(Cursor::new(vec![7u8; 300])));
        assert!(!w.fill(256 << 20).unwrap());
        assert_eq!(w.available(), 300);
        assert_eq!(w.buffer_len(), INITIAL_BUF);

        // 10 MB that really arrive: the buffer ends within twice that.
        let mut w = Window::stream(Box::new(Cursor::new(vec![7u8; 10 << 20])));
        assert!(w.fill(10 << 20).unwrap());
        assert!(w.buffer_len() <= 20 << 20, "{}", w.buffer_len());
        assert!(!w.fill((10 << 20) + 1).unwrap());
    }

    #[test]
    fn a_map_releases_pages_behind_the_reader_and_their_data_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let data: Vec<u8> = (0..40u32 << 20).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: the test's own file, unchanged while mapped.
        let mut w = Window::mapped(unsafe { Mmap::map(&file) }.unwrap());
        assert!(w.fill(data.len()).unwrap());
        assert!(!w.fill(data.len() + 1).unwrap());
        while w.available() > 0 {
            let n = w.available().min(1000);
            w.consume(n);
        }
        let released = w.behind.released();
        assert!(
            released.is_multiple_of(RELEASE)
                && released + 2 * RELEASE >= data.len()
                && released > 0
        );
        assert!(w.data() == &data[..], "released pages read back the file");
    }

    #[test]
    fn the_buffer_shrinks_after_a_huge_record() {
        let mut data = vec![1u8; 40 << 20];
        data.extend(vec![2u8; 100]);
        let mut w = Window::stream(Box::new(Cursor::new(data)));
        assert!(w.fill(40 << 20).unwrap());
        let big = w.buffer_len();
        assert!(big >= 40 << 20);
        w.consume(40 << 20);
        assert!(w.fill(100).unwrap());
        assert_eq!(w.window(), &[2u8; 100][..]);
        assert!(w.buffer_len() <= 2 * READ_CHUNK, "{}", w.buffer_len());
    }
}
