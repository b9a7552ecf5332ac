//! Capture reading: turns a pcap or pcapng byte stream (a file, stdin, or either
//! gzip-compressed) into numbered, timestamped link-layer records.
//!
//! The reader owns one sliding buffer and never trusts a length field before
//! checking it against a hard limit, so a bogus header cannot make memory grow.
//! Parsing of headers and blocks is pcap-parser's; this module adds the byte
//! accounting that lets every error name the file and the byte offset, and the
//! per-interface state (link type, timestamp resolution and offset) that pcapng
//! needs.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use pcap_parser::pcap::{
    parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
};
use pcap_parser::pcapng::{parse_block_be, parse_block_le, Block};
use pcap_parser::{PcapError, SHB_MAGIC};

/// Largest captured packet we accept: anything above is a corrupt length field.
pub const MAX_RECORD_LEN: u32 = 256 * 1024 * 1024;
/// Largest pcapng block: a maximal packet plus generous room for headers and options.
const MAX_BLOCK_LEN: u32 = MAX_RECORD_LEN + 64 * 1024;
/// Bytes requested from the source per read.
const READ_CHUNK: usize = 1 << 20;

const PCAPNG_OBSOLETE_PACKET_BLOCK: u32 = 0x0000_0002;

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

/// One record of the capture, borrowed from the reader's buffer.
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

/// A capture that could not be read (or not read to its end).
///
/// Displayed as one line naming the file and the byte offset where reading
/// stopped; for gzip input the offset counts decompressed bytes, and says so.
#[derive(Debug)]
pub struct CaptureError {
    /// The input's name as given (`-` for stdin).
    pub file: String,
    /// Byte offset in the input.
    pub offset: u64,
    /// The input was gzip-compressed.
    pub compressed: bool,
    /// What went wrong.
    pub kind: CaptureErrorKind,
}

#[derive(Debug)]
/// What stopped the reader.
pub enum CaptureErrorKind {
    /// Open.
    Open(io::Error),
    /// Io.
    Io(io::Error),
    /// Empty.
    Empty,
    /// Not a capture.
    NotACapture([u8; 4]),
    /// The input ended at byte `end` inside the named structure.
    Truncated {
        /// The structure that was cut short.
        what: &'static str,
        /// Last packet's time, RFC 3339 UTC.
        end: u64,
    },
    /// A record longer than a limit: corruption, not a packet.
    RecordTooLong {
        /// The captured length the record claims.
        caplen: u32,
        /// The limit it exceeds.
        limit: u32,
        /// What the limit is.
        why: &'static str,
    },
    /// Bad block length.
    BadBlockLength(u32),
    /// Malformed.
    Malformed(String),
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CaptureErrorKind::*;
        if let Open(e) = &self.kind {
            return write!(f, "{}: cannot open: {e}", self.file);
        }
        let at = if self.compressed {
            format!("byte {} (of decompressed data)", self.offset)
        } else {
            format!("byte {}", self.offset)
        };
        write!(f, "{}: {at}: ", self.file)?;
        match &self.kind {
            Open(_) => Ok(()),
            Io(e) => write!(f, "read error: {e}"),
            Empty => f.write_str("file is empty, not a pcap or pcapng capture"),
            NotACapture(m) => write!(
                f,
                "not a pcap or pcapng file (starts with {:02x} {:02x} {:02x} {:02x})",
                m[0], m[1], m[2], m[3]
            ),
            Truncated { what, end } => write!(
                f,
                "truncated: {what} starts here but the input ends at byte {end}"
            ),
            RecordTooLong { caplen, limit, why } => write!(
                f,
                "record claims a captured length of {caplen} bytes, more than the {why} ({limit})"
            ),
            BadBlockLength(len) => write!(
                f,
                "pcapng block has an invalid length {len} (must be a multiple of 4, at least 12, at most {MAX_BLOCK_LEN})"
            ),
            Malformed(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for CaptureError {}

/// Where the bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Path.
    Path(std::path::PathBuf),
    /// Stdin.
    Stdin,
}

impl Input {
    /// `-` means standard input, anything else a path.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(arg.into())
        }
    }

    /// The name used in reports and error messages.
    pub fn display_name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Stdin => "-".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
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

/// Streaming reader over one capture.
pub struct CaptureReader {
    name: String,
    source: Box<dyn Read + Send>,
    compressed: bool,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    source_done: bool,
    /// Stream offset of `buf[start]`.
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
    /// Opens a path or stdin and reads the file header.
    pub fn open(input: &Input) -> Result<CaptureReader, CaptureError> {
        let name = input.display_name();
        let source: Box<dyn Read + Send> = match input {
            Input::Stdin => Box::new(io::stdin()),
            Input::Path(p) => Box::new(open_file(p).map_err(|e| CaptureError {
                file: name.clone(),
                offset: 0,
                compressed: false,
                kind: CaptureErrorKind::Open(e),
            })?),
        };
        CaptureReader::from_reader(name, source)
    }

    /// Reads a capture from any byte stream; gzip is detected by its magic number.
    pub fn from_reader(
        name: String,
        source: Box<dyn Read + Send>,
    ) -> Result<CaptureReader, CaptureError> {
        let mut r = CaptureReader {
            name,
            source,
            compressed: false,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            source_done: false,
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
        if r.window()[..2] == [0x1f, 0x8b] {
            // Hand the already-buffered bytes back to the decompressor.
            let head = r.window().to_vec();
            let rest = std::mem::replace(&mut r.source, Box::new(io::empty()));
            r.source = Box::new(MultiGzDecoder::new(io::Cursor::new(head).chain(rest)));
            r.compressed = true;
            r.start = 0;
            r.end = 0;
            r.source_done = false;
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

    /// Bytes consumed so far (decompressed bytes for gzip input).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn available(&self) -> usize {
        self.end - self.start
    }

    fn window(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn magic(&self) -> [u8; 4] {
        let mut m = [0u8; 4];
        for (d, s) in m.iter_mut().zip(self.window()) {
            *d = *s;
        }
        m
    }

    fn error(&self, kind: CaptureErrorKind) -> CaptureError {
        CaptureError {
            file: self.name.clone(),
            offset: self.offset,
            compressed: self.compressed,
            kind,
        }
    }

    fn truncated(&self, what: &'static str) -> CaptureError {
        self.error(CaptureErrorKind::Truncated {
            what,
            end: self.offset + self.available() as u64,
        })
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Makes at least `want` unconsumed bytes available; false if the input ends first.
    /// Callers bound `want` before calling, so the buffer never grows past the limits.
    fn fill(&mut self, want: usize) -> Result<bool, CaptureError> {
        while self.available() < want {
            if self.source_done {
                return Ok(false);
            }
            if self.start > 0 && self.buf.len() - self.start < want.max(READ_CHUNK) {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let need_len = self.start + want.max(READ_CHUNK);
            if self.buf.len() < need_len {
                self.buf.resize(need_len, 0);
            }
            let end = self.end;
            match self.source.read(&mut self.buf[end..]) {
                Ok(0) => self.source_done = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let kind = if self.compressed && e.kind() == io::ErrorKind::InvalidInput {
                        CaptureErrorKind::Malformed(format!("corrupt gzip data: {e}"))
                    } else {
                        CaptureErrorKind::Io(e)
                    };
                    let mut err = self.error(kind);
                    err.offset = self.offset + self.available() as u64;
                    return Err(err);
                }
            }
        }
        Ok(true)
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
                let header = match parse_pcap_header(&self.window()[..24]) {
                    Ok((_, h)) => h,
                    Err(_) => {
                        return Err(self.error(CaptureErrorKind::Malformed(
                            "unsupported pcap header (byte-swapped modified pcap?)".into(),
                        )))
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
            Ok(Some((start, len, ts_ns, linktype, orig_len))) => {
                self.frames += 1;
                Ok(Some(RawPacket {
                    frame: self.frames,
                    ts_ns,
                    linktype,
                    data: &self.buf[start..start + len],
                    orig_len,
                }))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Parses one classic pcap record; returns (buffer start, len, ts, linktype, orig_len).
    fn next_pcap(&mut self) -> Result<Option<PacketSpan>, CaptureError> {
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
        let w = self.window();
        let caplen_bytes = [w[8], w[9], w[10], w[11]];
        let caplen = if big_endian {
            u32::from_be_bytes(caplen_bytes)
        } else {
            u32::from_le_bytes(caplen_bytes)
        };
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
        let w = &self.window()[..total];
        let parsed = if modified {
            parse_pcap_frame_modified(w)
        } else if big_endian {
            parse_pcap_frame_be(w)
        } else {
            parse_pcap_frame(w)
        };
        let block = match parsed {
            Ok((_, b)) => b,
            Err(e) => {
                return Err(self.error(CaptureErrorKind::Malformed(format!(
                    "unreadable pcap record: {e:?}"
                ))))
            }
        };
        let frac = block.ts_usec as i64;
        let ts_ns = block.ts_sec as i64 * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        let orig_len = block.origlen;
        let start = self.start + hdr_len;
        self.consume(total);
        Ok(Some((start, caplen as usize, ts_ns, linktype, orig_len)))
    }

    /// Parses pcapng blocks until one carries a packet.
    fn next_pcapng(&mut self) -> Result<Option<PacketSpan>, CaptureError> {
        loop {
            if !self.fill(8)? {
                if self.available() == 0 {
                    return Ok(None);
                }
                return Err(self.truncated("a pcapng block header"));
            }
            let w = self.window();
            let raw_type = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            let big_endian = if raw_type == SHB_MAGIC {
                // A new section: its byte-order magic decides how to read everything in it.
                if !self.fill(12)? {
                    return Err(self.truncated("a section header block"));
                }
                let w = self.window();
                match u32::from_le_bytes([w[8], w[9], w[10], w[11]]) {
                    0x1a2b_3c4d => false,
                    0x4d3c_2b1a => true,
                    bom => {
                        return Err(self.error(CaptureErrorKind::Malformed(format!(
                            "section header block has an unknown byte-order magic 0x{bom:08x}"
                        ))))
                    }
                }
            } else {
                match &self.format {
                    Format::PcapNg { big_endian, .. } => *big_endian,
                    Format::Pcap { .. } => false,
                }
            };
            let w = self.window();
            let len_bytes = [w[4], w[5], w[6], w[7]];
            let block_len = if big_endian {
                u32::from_be_bytes(len_bytes)
            } else {
                u32::from_le_bytes(len_bytes)
            };
            if block_len < 12 || block_len % 4 != 0 || block_len > MAX_BLOCK_LEN {
                return Err(self.error(CaptureErrorKind::BadBlockLength(block_len)));
            }
            let len = block_len as usize;
            if !self.fill(len)? {
                return Err(self.truncated("a pcapng block"));
            }
            let w = &self.window()[..len];
            let trailer = [w[len - 4], w[len - 3], w[len - 2], w[len - 1]];
            let block_len2 = if big_endian {
                u32::from_be_bytes(trailer)
            } else {
                u32::from_le_bytes(trailer)
            };
            if block_len2 != block_len {
                return Err(self.error(CaptureErrorKind::Malformed(format!(
                    "pcapng block length {block_len} does not match its trailing length {block_len2}"
                ))));
            }
            let block_type = if big_endian {
                raw_type.swap_bytes()
            } else {
                raw_type
            };
            let start = self.start;
            let outcome = self.handle_block(block_type, big_endian, start, len)?;
            self.consume(len);
            if let Some(span) = outcome {
                return Ok(Some(span));
            }
        }
    }

    /// Interprets one complete block at `buf[start..start+len]`.
    fn handle_block(
        &mut self,
        block_type: u32,
        big_endian: bool,
        start: usize,
        len: usize,
    ) -> Result<Option<PacketSpan>, CaptureError> {
        let bytes = &self.buf[start..start + len];
        if block_type == PCAPNG_OBSOLETE_PACKET_BLOCK {
            return self.obsolete_packet_block(big_endian, start, len).map(Some);
        }
        let parsed = if big_endian {
            parse_block_be(bytes)
        } else {
            parse_block_le(bytes)
        };
        let block = match parsed {
            Ok((_, b)) => b,
            Err(e) => {
                return Err(self.error(CaptureErrorKind::Malformed(format!(
                    "malformed pcapng block of type 0x{block_type:08x}: {}",
                    describe_nom(&e)
                ))))
            }
        };
        let mut new_interface = None;
        let mut span = None;
        match block {
            Block::SectionHeader(_) => {
                self.format = Format::PcapNg {
                    big_endian,
                    interfaces: Vec::new(),
                };
            }
            Block::InterfaceDescription(idb) => {
                let mut offset_sec = 0i64;
                for opt in &idb.options {
                    if opt.code == pcap_parser::OptionCode::IfTsoffset && opt.value.len() >= 8 {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&opt.value[..8]);
                        offset_sec = if big_endian {
                            i64::from_be_bytes(b)
                        } else {
                            i64::from_le_bytes(b)
                        };
                    }
                }
                let units_per_sec = match ts_units_per_sec(idb.if_tsresol) {
                    Some(u) => u,
                    _ => {
                        return Err(self.error(CaptureErrorKind::Malformed(format!(
                            "interface description block has an unusable if_tsresol {}",
                            idb.if_tsresol
                        ))))
                    }
                };
                new_interface = Some(Interface {
                    linktype: (idb.linktype.0 as u32 & 0xffff) as u16,
                    units_per_sec,
                    offset_sec,
                    snaplen: idb.snaplen,
                });
            }
            Block::EnhancedPacket(epb) => {
                let iface = self.interface(epb.if_id)?;
                let caplen = epb.caplen as usize;
                if caplen > epb.data.len() {
                    return Err(self.error(CaptureErrorKind::Malformed(format!(
                        "enhanced packet block claims {caplen} captured bytes but holds {}",
                        epb.data.len()
                    ))));
                }
                let ticks = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                let ts_ns = ticks_to_ns(ticks, iface.units_per_sec, iface.offset_sec);
                // `data` is a subslice of `buf[start..start+len]`; locate it.
                let data_start = start + (epb.data.as_ptr() as usize - bytes.as_ptr() as usize);
                span = Some((data_start, caplen, ts_ns, iface.linktype, epb.origlen));
            }
            Block::SimplePacket(spb) => {
                let iface = self.interface(0)?;
                let mut caplen = (spb.origlen as usize).min(spb.data.len());
                if iface.snaplen != 0 {
                    caplen = caplen.min(iface.snaplen as usize);
                }
                let data_start = start + (spb.data.as_ptr() as usize - bytes.as_ptr() as usize);
                span = Some((
                    data_start,
                    caplen,
                    self.last_ts_ns,
                    iface.linktype,
                    spb.origlen,
                ));
            }
            Block::SystemdJournalExport(_) => {
                // Wireshark shows these as frames of their own; number them the same way.
                span = Some((start, 0, self.last_ts_ns, linktype::NOT_A_PACKET, 0));
            }
            _ => {}
        }
        if let Some(iface) = new_interface {
            if let Format::PcapNg { interfaces, .. } = &mut self.format {
                interfaces.push(iface);
            }
        }
        if let Some(s) = span {
            self.last_ts_ns = s.2;
        }
        Ok(span)
    }

    /// Block type 2, from early pcapng drafts; pcap-parser has no parser for it.
    fn obsolete_packet_block(
        &mut self,
        big_endian: bool,
        start: usize,
        len: usize,
    ) -> Result<PacketSpan, CaptureError> {
        const HDR: usize = 28;
        let b = &self.buf[start..start + len];
        if len < HDR + 4 {
            return Err(self.error(CaptureErrorKind::Malformed(
                "obsolete packet block too short".into(),
            )));
        }
        let u16_at = |o: usize| {
            let v = [b[o], b[o + 1]];
            if big_endian {
                u16::from_be_bytes(v)
            } else {
                u16::from_le_bytes(v)
            }
        };
        let u32_at = |o: usize| {
            let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
            if big_endian {
                u32::from_be_bytes(v)
            } else {
                u32::from_le_bytes(v)
            }
        };
        let if_id = u16_at(8) as u32;
        let ticks = ((u32_at(12) as u64) << 32) | u32_at(16) as u64;
        let caplen = u32_at(20) as usize;
        let origlen = u32_at(24);
        if HDR + caplen > len - 4 {
            return Err(self.error(CaptureErrorKind::Malformed(format!(
                "obsolete packet block claims {caplen} captured bytes but holds {}",
                len - 4 - HDR
            ))));
        }
        let iface = self.interface(if_id)?;
        let ts_ns = ticks_to_ns(ticks, iface.units_per_sec, iface.offset_sec);
        self.last_ts_ns = ts_ns;
        Ok((start + HDR, caplen, ts_ns, iface.linktype, origlen))
    }

    fn interface(&self, id: u32) -> Result<Interface, CaptureError> {
        let found = match &self.format {
            Format::PcapNg { interfaces, .. } => interfaces.get(id as usize).cloned(),
            Format::Pcap { .. } => None,
        };
        found.ok_or_else(|| {
            self.error(CaptureErrorKind::Malformed(format!(
                "packet block refers to interface {id}, which no interface description block defined"
            )))
        })
    }
}

/// (start in buffer, captured length, timestamp ns, link type, original length)
type PacketSpan = (usize, usize, i64, u16, u32);

fn open_file(p: &Path) -> io::Result<File> {
    let f = File::open(p)?;
    if f.metadata()?.is_dir() {
        return Err(io::Error::other("is a directory"));
    }
    Ok(f)
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

fn describe_nom(e: &nom_err::Err) -> String {
    match e {
        nom_err::Err::Incomplete(_) => "block content is shorter than its fields say".into(),
        nom_err::Err::Error(pe) | nom_err::Err::Failure(pe) => match pe {
            PcapError::NomError(_, kind) => format!("{kind:?}"),
            other => format!("{other:?}"),
        },
    }
}

mod nom_err {
    pub type Err<'a> = pcap_parser::nom::Err<pcap_parser::PcapError<&'a [u8]>>;
}

/// True when the first bytes look like a capture this reader accepts
/// (pcap, pcapng or gzip): how directories are searched, by content not name.
pub fn looks_like_capture(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    let ok = File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok();
    if !ok {
        return false;
    }
    let le = u32::from_le_bytes(magic);
    magic[..2] == [0x1f, 0x8b]
        || le == SHB_MAGIC
        || matches!(
            le,
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1
        )
}

/// Turns command-line arguments into inputs: `-` is stdin, a directory is
/// searched recursively for captures (by content, in name order), a pattern
/// with `*`, `?` or `[` that names no file is expanded as a glob, anything
/// else is a path (a missing one fails later, when opened, with its name).
pub fn expand_inputs(args: &[String]) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    for arg in args {
        let path = Path::new(arg);
        if arg == "-" {
            out.push(Input::Stdin);
        } else if path.is_dir() {
            let before = out.len();
            walk_dir(path, &mut out).map_err(|e| format!("{arg}: cannot read directory: {e}"))?;
            if out.len() == before {
                return Err(format!(
                    "{arg}: no pcap, pcapng or gzip capture in this directory"
                ));
            }
        } else if !path.exists() && arg.contains(['*', '?', '[']) {
            let matches = glob::glob(arg).map_err(|e| format!("{arg}: bad pattern: {e}"))?;
            let mut found: Vec<std::path::PathBuf> = matches.filter_map(Result::ok).collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{arg}: no file matches this pattern"));
            }
            out.extend(found.into_iter().map(Input::Path));
        } else {
            out.push(Input::Path(path.to_path_buf()));
        }
    }
    Ok(out)
}

fn walk_dir(dir: &Path, out: &mut Vec<Input>) -> io::Result<()> {
    let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk_dir(&p, out)?;
        } else if looks_like_capture(&p) {
            out.push(Input::Path(p));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_convert_exactly() {
        assert_eq!(ticks_to_ns(1_500_000, 1_000_000, 0), 1_500_000_000);
        assert_eq!(ticks_to_ns(3, 1 << 1, 10), 11_500_000_000);
        assert_eq!(ticks_to_ns(7, 1_000_000_000, 0), 7);
    }

    #[test]
    fn timestamps_are_clamped_so_differences_fit() {
        assert_eq!(ticks_to_ns(0, 1, -(1 << 62)), MIN_TS_NS);
        assert_eq!(ticks_to_ns(0, 1, i64::MIN), MIN_TS_NS);
        assert_eq!(ticks_to_ns(u64::MAX, 1, i64::MAX), MAX_TS_NS);
        assert_eq!(ticks_to_ns(u64::MAX, 1 << 63, 0), 1_999_999_999);
        assert!(MAX_TS_NS.checked_sub(MIN_TS_NS).is_some());
    }

    #[test]
    fn tsresol_decimal_and_binary() {
        assert_eq!(ts_units_per_sec(6), Some(1_000_000));
        assert_eq!(ts_units_per_sec(9), Some(1_000_000_000));
        assert_eq!(ts_units_per_sec(0x80 | 20), Some(1 << 20));
        assert_eq!(ts_units_per_sec(20), None);
    }

    #[test]
    fn empty_input_is_an_error() {
        let e = CaptureReader::from_reader("x".into(), Box::new(io::empty())).unwrap_err();
        assert!(matches!(e.kind, CaptureErrorKind::Empty));
    }
}
