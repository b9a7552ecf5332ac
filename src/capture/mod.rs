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
//! Classic pcap record headers and pcapng packet blocks (Enhanced, Simple,
//! obsolete) are decoded here, on the hot path; pcap-parser parses the file
//! header, section headers, interface descriptions and the blocks tcpstate
//! skips. Every length is checked against its container and a hard limit (the
//! snaplen, 256 MiB, pcapng block sanity) before use, so every error names the
//! file, the byte offset and what exactly is wrong. This module also keeps the
//! per-interface state (link type, timestamp resolution and offset) that pcapng
//! needs.

mod error;
mod gunzip;
mod inputs;
mod pcapng;
mod pump;
#[cfg(test)]
mod tests;
mod window;

pub use error::{CaptureError, CaptureErrorKind};
pub use inputs::{expand_inputs, looks_like_capture, Input};

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use memmap2::Mmap;
use pcap_parser::pcap::parse_pcap_header;
use pcap_parser::SHB_MAGIC;

use window::{FeedError, Window};

/// Largest captured packet we accept: anything above is a corrupt length field.
pub const MAX_RECORD_LEN: u32 = 256 * 1024 * 1024;
/// Largest pcapng block: a maximal packet plus generous room for headers and options.
const MAX_BLOCK_LEN: u32 = MAX_RECORD_LEN + 64 * 1024;

/// Link-layer header types we name in reports (values from tcpdump's LINKTYPE_ list).
pub mod linktype {
    /// BSD loopback, host byte order family.
    pub const NULL: u16 = 0;
    /// Ethernet II.
    pub const ETHERNET: u16 = 1;
    /// DLT_RAW as some BSDs wrote it into files before LINKTYPE_RAW existed.
    pub const RAW_BSD12: u16 = 12;
    /// DLT_RAW as OpenBSD wrote it.
    pub const RAW_BSD14: u16 = 14;
    /// Raw IPv4 or IPv6, version in the first nibble.
    pub const RAW: u16 = 101;
    /// OpenBSD loopback, network byte order family.
    pub const LOOP: u16 = 108;
    /// Linux cooked capture v1 (`tcpdump -i any`).
    pub const LINUX_SLL: u16 = 113;
    /// Raw IPv4.
    pub const IPV4: u16 = 228;
    /// Raw IPv6.
    pub const IPV6: u16 = 229;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: u16 = 276;
    /// Not a link type: marks pcapng records that are not packets (systemd journal entries).
    pub const NOT_A_PACKET: u16 = u16::MAX;

    /// Wireshark-style short name of a link type, for reports.
    pub fn name(lt: u16) -> String {
        let known = match lt {
            NULL => "NULL",
            ETHERNET => "EN10MB",
            RAW | RAW_BSD12 | RAW_BSD14 => "RAW",
            LOOP => "LOOP",
            LINUX_SLL => "LINUX_SLL",
            IPV4 => "IPV4",
            IPV6 => "IPV6",
            LINUX_SLL2 => "LINUX_SLL2",
            6 => "IEEE802_5",
            9 => "PPP",
            105 => "IEEE802_11",
            127 => "IEEE802_11_RADIOTAP",
            147..=162 => "USER",
            _ => "",
        };
        if known.is_empty() {
            format!("linktype {lt}")
        } else {
            format!("{known} ({lt})")
        }
    }
}

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

/// The container format detected from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatKind {
    /// Pcap.
    Pcap,
    /// Pcap ng.
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

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u16,
    /// Timestamp units per second (if_tsresol).
    units_per_sec: u64,
    /// Seconds added to every timestamp (if_tsoffset).
    offset_sec: i64,
    snaplen: u32,
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
    PcapNg {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// Where a packet's bytes are in the window's storage, and what else it has.
struct Span {
    start: usize,
    len: usize,
    ts_ns: i64,
    linktype: u16,
    orig_len: u32,
}

/// Streaming reader over one capture.
pub struct CaptureReader {
    name: String,
    win: Window,
    compressed: bool,
    /// Input offset of the first unconsumed byte (decompressed bytes for gzip).
    offset: u64,
    format: Format,
    frames: u64,
    /// Timestamp given to Simple Packet Blocks, which carry none.
    last_ts_ns: i64,
    failed: bool,
}

impl fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.name)
            .field("offset", &self.offset)
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
            name,
            win,
            compressed: false,
            offset: 0,
            format: Format::Pcap {
                big_endian: false,
                nanos: false,
                modified: false,
                snaplen: 0,
                linktype: 0,
            },
            frames: 0,
            last_ts_ns: 0,
            failed: false,
        };
        if !r.fill(2)? {
            return Err(r.error(if r.available() == 0 {
                CaptureErrorKind::Empty
            } else {
                CaptureErrorKind::NotACapture(r.magic())
            }));
        }
        if r.win.window()[..2] == [0x1f, 0x8b] {
            // The bytes read so far, and the rest, are the compressed input.
            r.win.start_gunzip();
            r.compressed = true;
        }
        r.read_file_header()?;
        Ok(r)
    }

    /// Name of the input as given (path or `-`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the data was gzip-compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// pcap or pcapng.
    pub fn format(&self) -> FormatKind {
        match self.format {
            Format::Pcap { .. } => FormatKind::Pcap,
            Format::PcapNg { .. } => FormatKind::PcapNg,
        }
    }

    /// Number of frames returned so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// The input is a pipe (stdin, a FIFO, a device) read as it arrives.
    pub fn is_pipe(&self) -> bool {
        self.win.is_pipe()
    }

    /// True if the next packet can be had without waiting for a pipe: a
    /// whole record is buffered, or more input has arrived (always true for
    /// files and memory).
    pub fn ready(&mut self) -> bool {
        self.record_buffered() || self.win.input_waiting()
    }

    /// Waits up to `timeout` for a pipe's input; true if some arrived.
    pub fn wait_input(&mut self, timeout: std::time::Duration) -> bool {
        self.win.wait_input(timeout)
    }

    /// A whole record (pcap) or block (pcapng) is in the window.
    fn record_buffered(&self) -> bool {
        let w = self.win.window();
        let (hdr, len_at, big_endian) = match self.format {
            Format::Pcap {
                big_endian,
                modified,
                ..
            } => (if modified { 24 } else { 16 }, 8, big_endian),
            Format::PcapNg { big_endian, .. } => (8, 4, big_endian),
        };
        if w.len() < hdr {
            return false;
        }
        let len = u32_at(w, len_at, big_endian) as usize;
        match self.format {
            Format::Pcap { .. } => w.len() >= hdr + len,
            Format::PcapNg { .. } => w.len() >= len,
        }
    }

    /// Bytes consumed so far (decompressed bytes for gzip input).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    #[inline]
    fn available(&self) -> usize {
        self.win.available()
    }

    fn magic(&self) -> [u8; 4] {
        let mut m = [0u8; 4];
        for (d, s) in m.iter_mut().zip(self.win.window()) {
            *d = *s;
        }
        m
    }

    #[cold]
    fn error(&self, kind: CaptureErrorKind) -> CaptureError {
        CaptureError {
            file: self.name.clone(),
            offset: self.offset,
            compressed: self.compressed,
            kind,
        }
    }

    #[cold]
    fn malformed(&self, what: String) -> CaptureError {
        self.error(CaptureErrorKind::Malformed(what))
    }

    #[cold]
    fn truncated(&self, what: &'static str) -> CaptureError {
        self.error(CaptureErrorKind::Truncated {
            what,
            end: self.offset + self.available() as u64,
        })
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.win.consume(n);
        self.offset += n as u64;
    }

    /// Makes at least `want` unconsumed bytes available; false if the input ends first.
    #[inline]
    fn fill(&mut self, want: usize) -> Result<bool, CaptureError> {
        match self.win.fill(want) {
            Ok(enough) => Ok(enough),
            Err(e) => Err(self.feed_error(e)),
        }
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

    fn read_file_header(&mut self) -> Result<(), CaptureError> {
        if !self.fill(4)? {
            return Err(self.error(if self.available() == 0 {
                CaptureErrorKind::Empty
            } else {
                CaptureErrorKind::NotACapture(self.magic())
            }));
        }
        let magic = self.magic();
        let le = u32::from_le_bytes(magic);
        match le {
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1 => {
                if !self.fill(24)? {
                    return Err(self.truncated("the pcap file header"));
                }
                let header = match parse_pcap_header(&self.win.window()[..24]) {
                    Ok((_, h)) => h,
                    Err(_) => {
                        return Err(self.malformed(
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
                self.consume(24);
                Ok(())
            }
            SHB_MAGIC => {
                self.format = Format::PcapNg {
                    big_endian: false,
                    interfaces: Vec::new(),
                };
                Ok(())
            }
            _ => Err(self.error(CaptureErrorKind::NotACapture(magic))),
        }
    }

    /// Returns the next packet, `Ok(None)` at a clean end of input, or the error
    /// that stopped reading. After an error every further call returns `Ok(None)`.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.failed {
            return Ok(None);
        }
        let r = match self.format {
            Format::Pcap { .. } => self.next_pcap(),
            Format::PcapNg { .. } => self.next_pcapng(),
        };
        match r {
            Ok(Some(s)) => {
                self.frames += 1;
                Ok(Some(RawPacket {
                    frame: self.frames,
                    ts_ns: s.ts_ns,
                    linktype: s.linktype,
                    data: &self.win.data()[s.start..s.start + s.len],
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
        if !self.fill(hdr_len)? {
            if self.available() == 0 {
                return Ok(None);
            }
            return Err(self.truncated("a record header"));
        }
        let h = self.win.window();
        let ts_sec = u32_at(h, 0, big_endian);
        let ts_frac = u32_at(h, 4, big_endian);
        let caplen = u32_at(h, 8, big_endian);
        let orig_len = u32_at(h, 12, big_endian);
        if caplen > MAX_RECORD_LEN {
            return Err(self.error(CaptureErrorKind::RecordTooLong {
                caplen,
                limit: MAX_RECORD_LEN,
                why: "256 MiB limit",
            }));
        }
        if snaplen != 0 && caplen > snaplen {
            return Err(self.error(CaptureErrorKind::RecordTooLong {
                caplen,
                limit: snaplen,
                why: "file's snaplen",
            }));
        }
        let total = hdr_len + caplen as usize;
        if !self.fill(total)? {
            return Err(self.truncated("a record"));
        }
        // Both fit: 2^32 s is below 2^62 ns, so no clamping is needed.
        let frac = ts_frac as i64;
        let ts_ns = ts_sec as i64 * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        let start = self.win.start() + hdr_len;
        self.consume(total);
        Ok(Some(Span {
            start,
            len: caplen as usize,
            ts_ns,
            linktype,
            orig_len,
        }))
    }
}

/// The 32-bit field at `o` in the file's byte order.
#[inline]
fn u32_at(b: &[u8], o: usize, big_endian: bool) -> u32 {
    let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
    if big_endian {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

/// The 16-bit field at `o` in the file's byte order.
#[inline]
fn u16_at(b: &[u8], o: usize, big_endian: bool) -> u16 {
    let v = [b[o], b[o + 1]];
    if big_endian {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
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

/// Decodes if_tsresol: a power of ten, or of two when the high bit is set.
/// (pcap-parser 0.17 rejects binary resolutions, so this is done here.)
fn ts_units_per_sec(tsresol: u8) -> Option<u64> {
    let exp = (tsresol & 0x7f) as u32;
    if tsresol & 0x80 != 0 {
        (exp <= 63).then(|| 1u64 << exp)
    } else {
        10u64.checked_pow(exp)
    }
}

/// Latest timestamp the reader returns: 2^62 - 1 ns after the epoch (year 2116).
/// Timestamps are kept within [`MIN_TS_NS`, `MAX_TS_NS`], so the difference of
/// any two fits in an i64 and later stages may subtract them freely. Classic
/// pcap's 32-bit seconds end in 2106; only a pcapng timestamp or if_tsoffset
/// (corrupt, or absurd) can go beyond, and is clamped.
pub const MAX_TS_NS: i64 = (1 << 62) - 1;
/// Earliest timestamp the reader returns: 2^62 ns before the epoch (year 1823).
pub const MIN_TS_NS: i64 = -(1 << 62);

/// Converts pcapng timestamp ticks to nanoseconds since the epoch, exactly,
/// clamped to [`MIN_TS_NS`, `MAX_TS_NS`].
fn ticks_to_ns(ticks: u64, units_per_sec: u64, offset_sec: i64) -> i64 {
    let secs = ticks / units_per_sec;
    let rem = (ticks % units_per_sec) as u128;
    let frac_ns = (rem * 1_000_000_000 / units_per_sec as u128) as i64;
    // Found by fuzzing (testdata/fuzz/pipeline/pcapng_tsoffset_far_past.bin):
    // an if_tsoffset of -2^62 s saturated the timestamp to i64::MIN, and the
    // state machines' `capture end - entered` overflowed (a panic in debug
    // builds, a negative duration in release builds).
    (secs as i64)
        .saturating_add(offset_sec)
        .saturating_mul(1_000_000_000)
        .saturating_add(frac_ns)
        .clamp(MIN_TS_NS, MAX_TS_NS)
}
