//! Capture reading: turns a pcap or pcapng byte stream (a file, stdin, or either
//! gzip-compressed) into numbered, timestamped link-layer records.
//!
//! A regular file is memory-mapped and every record handed out is a slice of
//! the map: no copy, and no allocation per record. Stdin, pipes, special files
//! (and any file the system will not map) are read through one sliding buffer
//! that grows only with bytes that have actually arrived, so a bogus length
//! field costs no memory: a mapped file just turns out to end before the
//! record does. Gzip input (detected by its magic number) is decompressed into
//! that buffer by [`gunzip`], which delivers everything inflated before a
//! corruption and then names it.
//!
//! Classic pcap record headers (here) and pcapng packet blocks (Enhanced,
//! Simple, obsolete; in `pcapng`, which also keeps the per-interface state:
//! link type, timestamp resolution and offset) are decoded by tcpstate, on the
//! hot path; pcap-parser parses the file header, section headers, interface
//! descriptions and the blocks tcpstate skips. Every length is checked against
//! its container and a hard limit (`limits`: the snaplen, 256 MiB, pcapng
//! block sanity) before use, so every error names the file, the byte offset
//! and what exactly is wrong; both readers go through a `cursor`, which knows
//! the input's name and offset.
//!
//! The files depend on each other one way only: `source` (what byte sources
//! share) <- `gunzip` <- `window` <- `cursor` <- `pcapng` <- this module <- `writer`
//! (pcapng out, for `extract`),
//! with `limits`, `linktype`, `error` and `inputs` below whoever uses them.

mod cursor;
mod error;
mod gunzip;
mod inputs;
mod limits;
pub mod linktype;
mod pcapng;
mod pump;
mod source;
#[cfg(test)]
mod tests;
mod window;
mod writer;

pub use error::{CaptureError, CaptureErrorKind};
pub use inputs::{
    expand, expand_inputs, first_packet_time, has_capture_name, in_time_order, looks_like_capture,
    Expansion, Input,
};
pub use limits::{MAX_RECORD_LEN, MAX_TS_NS, MIN_TS_NS};
#[doc(hidden)]
pub use source::SharedMap;
pub use writer::PcapNgWriter;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use memmap2::Mmap;
use pcap_parser::pcap::parse_pcap_header;
use pcap_parser::SHB_MAGIC;

use cursor::{u32_at, Cursor, Span};
use pcapng::PcapNg;
use window::Window;

/// One record of the capture, borrowed from the reader's buffer or mapped file.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// 1-based frame number, counted across all packet blocks as Wireshark does.
    pub frame: u64,
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Link type of the interface the packet was captured on.
    pub linktype: u16,
    /// The captured bytes (possibly fewer than the packet had on the wire).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
}

/// The interface a packet was captured on and its timestamp as the file
/// holds it: what writing the packet again unchanged needs
/// ([`PcapNgWriter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketOrigin {
    /// The interface: the pcapng section (from 0) and its id in that
    /// section; `(0, 0)` for classic pcap.
    pub interface: (u32, u32),
    /// The interface's link type.
    pub linktype: u16,
    /// The interface's snapshot length (0: none).
    pub snaplen: u32,
    /// pcapng's `if_tsresol`: 6 for microseconds, 9 for nanoseconds (as a
    /// classic pcap file's magic number says), or another power of ten or
    /// (high bit set) of two.
    pub tsresol: u8,
    /// pcapng's `if_tsoffset`, seconds added to every timestamp.
    pub tsoffset_sec: i64,
    /// The timestamp in units of `tsresol`, before `tsoffset_sec`; `None`
    /// for a Simple Packet Block, which has none.
    pub ticks: Option<u64>,
}

/// The container format detected from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatKind {
    /// Classic libpcap format (any byte order, micro- or nanosecond, or the modified format).
    Pcap,
    /// pcapng (the format Wireshark and dumpcap write).
    PcapNg,
}

impl fmt::Display for FormatKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FormatKind::Pcap => "pcap",
            FormatKind::PcapNg => "pcapng",
        })
    }
}

#[derive(Debug)]
enum Format {
    Pcap {
        big_endian: bool,
        nanos: bool,
        /// Kuznetzov's patched format with 24-byte record headers.
        modified: bool,
        snaplen: u32,
        linktype: u16,
    },
    PcapNg(PcapNg),
}

/// Streaming reader over one capture.
pub struct CaptureReader {
    cur: Cursor,
    format: Format,
    frames: u64,
    failed: bool,
    /// The last classic pcap record's timestamp in the file's units.
    last_pcap_ticks: u64,
}

impl fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.cur.name())
            .field("offset", &self.cur.offset())
            .field("format", &self.format)
            .finish()
    }
}

impl CaptureReader {
    /// Opens a path or stdin and reads the file header. A regular file is
    /// memory-mapped; anything else is read as a stream.
    pub fn open(input: &Input) -> Result<CaptureReader, CaptureError> {
        let name = input.display_name();
        let win = match input {
            Input::Stdin => Window::pipe(Box::new(io::stdin())),
            Input::Path(p) => {
                let f = open_file(p).map_err(|e| CaptureError {
                    file: name.clone(),
                    offset: 0,
                    compressed: false,
                    kind: CaptureErrorKind::Open(e),
                })?;
                match map_file(&f) {
                    Some(map) => Window::mapped(map),
                    None => Window::pipe(Box::new(f)),
                }
            }
        };
        CaptureReader::with_window(name, win)
    }

    /// Reads a capture from any byte stream; gzip is detected by its magic number.
    pub fn from_reader(
        name: String,
        source: Box<dyn Read + Send>,
    ) -> Result<CaptureReader, CaptureError> {
        CaptureReader::with_window(name, Window::stream(source))
    }

    fn with_window(name: String, win: Window) -> Result<CaptureReader, CaptureError> {
        let mut r = CaptureReader {
            cur: Cursor::new(name, win),
            format: Format::Pcap {
                big_endian: false,
                nanos: false,
                modified: false,
                snaplen: 0,
                linktype: 0,
            },
            frames: 0,
            failed: false,
            last_pcap_ticks: 0,
        };
        let cur = &mut r.cur;
        if !cur.fill(2)? {
            return Err(cur.error(if cur.available() == 0 {
                CaptureErrorKind::Empty
            } else {
                CaptureErrorKind::NotACapture(cur.magic())
            }));
        }
        if cur.window()[..2] == [0x1f, 0x8b] {
            // The bytes read so far, and the rest, are the compressed input.
            cur.start_gunzip();
        }
        r.read_file_header()?;
        Ok(r)
    }

    /// Name of the input as given (path or `-`).
    pub fn name(&self) -> &str {
        self.cur.name()
    }

    /// Whether the data was gzip-compressed.
    pub fn is_compressed(&self) -> bool {
        self.cur.is_compressed()
    }

    /// pcap or pcapng.
    pub fn format(&self) -> FormatKind {
        match self.format {
            Format::Pcap { .. } => FormatKind::Pcap,
            Format::PcapNg { .. } => FormatKind::PcapNg,
        }
    }

    /// Where the packet [`CaptureReader::next_packet`] returned last came
    /// from, and its timestamp as written; `None` before the first.
    pub fn last_origin(&self) -> Option<PacketOrigin> {
        if self.frames == 0 {
            return None;
        }
        match &self.format {
            Format::Pcap {
                nanos,
                snaplen,
                linktype,
                ..
            } => Some(PacketOrigin {
                interface: (0, 0),
                linktype: *linktype,
                snaplen: *snaplen,
                tsresol: if *nanos { 9 } else { 6 },
                tsoffset_sec: 0,
                ticks: Some(self.last_pcap_ticks),
            }),
            Format::PcapNg(ng) => ng.last_origin,
        }
    }

    /// The mapped file the records lie in (None for a stream or gzip
    /// input), so they can be decoded where they lie; from this call on the
    /// caller releases the pages behind the records it is done with
    /// ([`SharedMap::release_before`]), the reader no longer does.
    #[doc(hidden)]
    pub fn shared_map(&mut self) -> Option<SharedMap> {
        self.cur.shared_map()
    }

    /// Number of frames returned so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// The input is a pipe (stdin, a FIFO, a device) read as it arrives.
    pub fn is_pipe(&self) -> bool {
        self.cur.is_pipe()
    }

    /// True if the next packet can be had without waiting for a pipe: a
    /// whole record is buffered, or more input has arrived (always true for
    /// files and memory).
    pub fn ready(&mut self) -> bool {
        self.record_buffered() || self.cur.input_waiting()
    }

    /// Waits up to `timeout` for a pipe's input; true if some arrived.
    pub fn wait_input(&mut self, timeout: std::time::Duration) -> bool {
        self.cur.wait_input(timeout)
    }

    /// A whole record (pcap) or block (pcapng) is in the window.
    fn record_buffered(&self) -> bool {
        let w = self.cur.window();
        let (hdr, len_at, big_endian) = match &self.format {
            Format::Pcap {
                big_endian,
                modified,
                ..
            } => (if *modified { 24 } else { 16 }, 8, *big_endian),
            Format::PcapNg(ng) => (8, 4, ng.big_endian()),
        };
        if w.len() < hdr {
            return false;
        }
        let len = u32_at(w, len_at, big_endian) as usize;
        match self.format {
            Format::Pcap { .. } => w.len() >= hdr + len,
            Format::PcapNg(_) => w.len() >= len,
        }
    }

    /// Bytes consumed so far (decompressed bytes for gzip input).
    pub fn offset(&self) -> u64 {
        self.cur.offset()
    }

    fn read_file_header(&mut self) -> Result<(), CaptureError> {
        if !self.cur.fill(4)? {
            return Err(self.cur.error(if self.cur.available() == 0 {
                CaptureErrorKind::Empty
            } else {
                CaptureErrorKind::NotACapture(self.cur.magic())
            }));
        }
        let magic = self.cur.magic();
        let le = u32::from_le_bytes(magic);
        match le {
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1 => {
                if !self.cur.fill(24)? {
                    return Err(self.cur.truncated("the pcap file header"));
                }
                let header = match parse_pcap_header(&self.cur.window()[..24]) {
                    Ok((_, h)) => h,
                    Err(_) => {
                        return Err(self.cur.malformed(
                            "unsupported pcap header (byte-swapped modified pcap?)".into(),
                        ))
                    }
                };
                self.format = Format::Pcap {
                    big_endian: header.is_bigendian(),
                    nanos: header.is_nanosecond_precision(),
                    modified: header.is_modified_format(),
                    snaplen: header.snaplen,
                    // The upper bits of the field carry FCS information.
                    linktype: (header.network.0 as u32 & 0xffff) as u16,
                };
                self.cur.consume(24);
                Ok(())
            }
            SHB_MAGIC => {
                self.format = Format::PcapNg(PcapNg::new());
                Ok(())
            }
            _ => Err(self.cur.error(CaptureErrorKind::NotACapture(magic))),
        }
    }

    /// Returns the next packet, `Ok(None)` at a clean end of input, or the error
    /// that stopped reading. After an error every further call returns `Ok(None)`.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.failed {
            return Ok(None);
        }
        if let Some(s) = self.buffered_pcap() {
            self.frames += 1;
            return Ok(Some(RawPacket {
                frame: self.frames,
                ts_ns: s.ts_ns,
                linktype: s.linktype,
                data: &self.cur.data()[s.start..s.start + s.len],
                orig_len: s.orig_len,
            }));
        }
        let r = match &mut self.format {
            Format::Pcap { .. } => self.next_pcap(),
            Format::PcapNg(ng) => ng.next_packet(&mut self.cur),
        };
        match r {
            Ok(Some(s)) => {
                self.frames += 1;
                Ok(Some(RawPacket {
                    frame: self.frames,
                    ts_ns: s.ts_ns,
                    linktype: s.linktype,
                    data: &self.cur.data()[s.start..s.start + s.len],
                    orig_len: s.orig_len,
                }))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// The common case of [`CaptureReader::next_pcap`], checked once: a
    /// classic pcap record with 16-byte header, within its limits and whole
    /// in the window. None leaves everything else (the end, more input to
    /// read, a record to refuse, pcapng) to the general path.
    #[inline(always)]
    fn buffered_pcap(&mut self) -> Option<Span> {
        let Format::Pcap {
            big_endian,
            nanos,
            modified: false,
            snaplen,
            linktype,
        } = self.format
        else {
            return None;
        };
        let (h, rest) = self.cur.window().split_first_chunk::<16>()?;
        let [ts_sec, ts_frac, caplen, orig_len] = [0, 4, 8, 12].map(|o| u32_at(h, o, big_endian));
        let len = caplen as usize;
        if caplen > MAX_RECORD_LEN || (snaplen != 0 && caplen > snaplen) || rest.len() < len {
            return None;
        }
        let (ticks, ts_ns) = pcap_time(ts_sec, ts_frac, nanos);
        self.last_pcap_ticks = ticks;
        let start = self.cur.start() + 16;
        self.cur.consume(16 + len);
        Some(Span {
            start,
            len,
            ts_ns,
            linktype,
            orig_len,
        })
    }

    /// Reads one classic pcap record.
    #[inline]
    fn next_pcap(&mut self) -> Result<Option<Span>, CaptureError> {
        let Format::Pcap {
            big_endian,
            nanos,
            modified,
            snaplen,
            linktype,
        } = self.format
        else {
            return Ok(None);
        };
        let hdr_len = if modified { 24 } else { 16 };
        if !self.cur.fill(hdr_len)? {
            if self.cur.available() == 0 {
                return Ok(None);
            }
            return Err(self.cur.truncated("a record header"));
        }
        // The four fields at fixed places in one array: no bounds check each.
        let Some(&h) = self.cur.window().first_chunk::<16>() else {
            return Err(self.cur.truncated("a record header"));
        };
        let [ts_sec, ts_frac, caplen, orig_len] = [0, 4, 8, 12].map(|o| u32_at(&h, o, big_endian));
        if caplen > MAX_RECORD_LEN {
            return Err(self.cur.error(CaptureErrorKind::RecordTooLong {
                caplen,
                limit: MAX_RECORD_LEN,
                why: "256 MiB limit",
            }));
        }
        if snaplen != 0 && caplen > snaplen {
            return Err(self.cur.error(CaptureErrorKind::RecordTooLong {
                caplen,
                limit: snaplen,
                why: "file's snaplen",
            }));
        }
        let total = hdr_len + caplen as usize;
        if !self.cur.fill(total)? {
            return Err(self.cur.truncated("a record"));
        }
        let (ticks, ts_ns) = pcap_time(ts_sec, ts_frac, nanos);
        self.last_pcap_ticks = ticks;
        let start = self.cur.start() + hdr_len;
        self.cur.consume(total);
        Ok(Some(Span {
            start,
            len: caplen as usize,
            ts_ns,
            linktype,
            orig_len,
        }))
    }
}

/// A classic pcap record's time: in the file's units (for writing it again)
/// and in nanoseconds. Both fit: 2^32 s is below 2^62 ns, so no clamping is
/// needed.
#[inline(always)]
fn pcap_time(ts_sec: u32, ts_frac: u32, nanos: bool) -> (u64, i64) {
    let ticks =
        u64::from(ts_sec) * if nanos { 1_000_000_000 } else { 1_000_000 } + u64::from(ts_frac);
    let frac = i64::from(ts_frac);
    let ts_ns = i64::from(ts_sec) * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
    (ticks, ts_ns)
}

fn open_file(p: &Path) -> io::Result<File> {
    let f = File::open(p)?;
    if f.metadata()?.is_dir() {
        return Err(io::Error::other("is a directory"));
    }
    Ok(f)
}

/// Maps a regular, non-empty file; None when it is anything else (a FIFO, a
/// device, /proc files, which claim length 0) or the system refuses, and the
/// file is then read as a stream.
fn map_file(f: &File) -> Option<Mmap> {
    let meta = f.metadata().ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    // SAFETY: the map is only read. Like every program that maps its input,
    // tcpstate assumes the file is not modified while it reads it: bytes
    // changed underneath would be read as they are (the same as with read(2)),
    // and a file truncated underneath raises SIGBUS on access beyond its new
    // end (docs/RELIABILITY.md).
    let map = unsafe { Mmap::map(f) }.ok()?;
    #[cfg(unix)]
    {
        // Only a hint: the kernel reads ahead further.
        let _ = map.advise(memmap2::Advice::Sequential);
    }
    Some(map)
}
