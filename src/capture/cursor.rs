//! The reader's place in its input: the window of unconsumed bytes, the
//! input offset where they start, and the errors, which name the input and
//! that offset. The pcap and pcapng record readers both work through it.

use super::error::{CaptureError, CaptureErrorKind};
use super::source::{FeedError, SharedMap};
use super::window::Window;

/// Where a packet's bytes are in the window's storage, and what else it has.
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) len: usize,
    pub(super) ts_ns: i64,
    pub(super) linktype: u16,
    pub(super) orig_len: u32,
}

/// The input of one capture reader, and how far it has been read.
pub(super) struct Cursor {
    name: String,
    win: Window,
    compressed: bool,
    /// Input offset of the first unconsumed byte (decompressed bytes for gzip).
    offset: u64,
}

impl Cursor {
    pub(super) fn new(name: String, win: Window) -> Cursor {
        Cursor {
            name,
            win,
            compressed: false,
            offset: 0,
        }
    }

    /// Name of the input as given (path or `-`).
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Whether the data is gzip-compressed.
    pub(super) fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Bytes consumed so far (decompressed bytes for gzip input).
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// The mapped file, when the input is one (see [`Window::shared_map`]).
    pub(super) fn shared_map(&mut self) -> Option<SharedMap> {
        self.win.shared_map()
    }

    /// The input is a pipe read as it arrives (see [`Window::pipe`]).
    pub(super) fn is_pipe(&self) -> bool {
        self.win.is_pipe()
    }

    /// True unless the input is a pipe that has delivered nothing new yet.
    pub(super) fn input_waiting(&mut self) -> bool {
        self.win.input_waiting()
    }

    /// Waits up to `timeout` for a pipe's input; true if some is there.
    pub(super) fn wait_input(&mut self, timeout: std::time::Duration) -> bool {
        self.win.wait_input(timeout)
    }

    /// The window itself, for tests of its buffer.
    #[cfg(test)]
    pub(super) fn win(&self) -> &Window {
        &self.win
    }

    /// From here on the input is gzip data: what follows is what it
    /// decompresses to.
    pub(super) fn start_gunzip(&mut self) {
        self.win.start_gunzip();
        self.compressed = true;
    }

    /// The whole backing storage; spans index into it until the next `fill`.
    #[inline]
    pub(super) fn data(&self) -> &[u8] {
        self.win.data()
    }

    /// The unconsumed bytes.
    #[inline]
    pub(super) fn window(&self) -> &[u8] {
        self.win.window()
    }

    /// Where the unconsumed bytes start in `data()`.
    #[inline]
    pub(super) fn start(&self) -> usize {
        self.win.start()
    }

    #[inline]
    pub(super) fn available(&self) -> usize {
        self.win.available()
    }

    #[inline]
    pub(super) fn consume(&mut self, n: usize) {
        self.win.consume(n);
        self.offset += n as u64;
    }

    /// Makes at least `want` unconsumed bytes available; false if the input ends first.
    #[inline]
    pub(super) fn fill(&mut self, want: usize) -> Result<bool, CaptureError> {
        match self.win.fill(want) {
            Ok(enough) => Ok(enough),
            Err(e) => Err(self.feed_error(e)),
        }
    }

    /// The first four unconsumed bytes (zeros past the end), as a magic number.
    pub(super) fn magic(&self) -> [u8; 4] {
        let mut m = [0u8; 4];
        for (d, s) in m.iter_mut().zip(self.win.window()) {
            *d = *s;
        }
        m
    }

    #[cold]
    pub(super) fn error(&self, kind: CaptureErrorKind) -> CaptureError {
        CaptureError {
            file: self.name.clone(),
            offset: self.offset,
            compressed: self.compressed,
            kind,
        }
    }

    #[cold]
    pub(super) fn malformed(&self, what: String) -> CaptureError {
        self.error(CaptureErrorKind::Malformed(what))
    }

    #[cold]
    pub(super) fn truncated(&self, what: &'static str) -> CaptureError {
        self.error(CaptureErrorKind::Truncated {
            what,
            end: self.offset + self.available() as u64,
        })
    }

    /// A failed read or corrupt gzip data, at the end of what did arrive.
    #[cold]
    fn feed_error(&self, e: FeedError) -> CaptureError {
        let kind = match e {
            FeedError::Io(e) => CaptureErrorKind::Io(e),
            FeedError::Gzip(msg) => CaptureErrorKind::Malformed(msg),
        };
        let mut err = self.error(kind);
        err.offset = self.offset + self.available() as u64;
        err
    }
}

/// The 32-bit field at `o` in the file's byte order (one bounds check and
/// one load, not four of each).
#[inline]
pub(super) fn u32_at(b: &[u8], o: usize, big_endian: bool) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[o..o + 4]);
    if big_endian {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

/// The 16-bit field at `o` in the file's byte order.
#[inline]
pub(super) fn u16_at(b: &[u8], o: usize, big_endian: bool) -> u16 {
    let mut v = [0u8; 2];
    v.copy_from_slice(&b[o..o + 2]);
    if big_endian {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
}
