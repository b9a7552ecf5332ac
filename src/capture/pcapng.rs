//! pcapng blocks: framing, the packet blocks tcpstate reads itself, and the
//! others through pcap-parser.
//!
//! Every block's length is checked before its fields are read: against the
//! limits, against its trailing copy, then against the fixed fields of its
//! type, and a packet block's captured length against what the block holds.
//! So each malformed block gets its own message, naming the block type and the
//! numbers; pcap-parser (which would refuse most of these with "block content
//! is shorter than its fields say") sees only blocks that passed these checks.

use pcap_parser::pcapng::{parse_block_be, parse_block_le, Block};
use pcap_parser::{
    PcapError, CB_MAGIC, DCB_MAGIC, DSB_MAGIC, EPB_MAGIC, IDB_MAGIC, ISB_MAGIC, SHB_MAGIC,
    SJE_MAGIC, SPB_MAGIC,
};

use super::cursor::{u16_at, u32_at, Cursor, Span};
use super::error::{CaptureError, CaptureErrorKind};
use super::limits::{MAX_BLOCK_LEN, MAX_TS_NS, MIN_TS_NS};
use super::linktype;
use super::PacketOrigin;

/// Block type 2, from early pcapng drafts; pcap-parser has no parser for it.
const OBSOLETE_PACKET_BLOCK: u32 = 0x0000_0002;

/// The name and smallest total length (header, fixed fields, trailer) of the
/// block types whose fixed fields are read: by tcpstate, or by pcap-parser,
/// which needs at least that many bytes.
fn fixed_size(block_type: u32) -> Option<(&'static str, usize)> {
    Some(match block_type {
        SHB_MAGIC => ("section header block", 28),
        IDB_MAGIC => ("interface description block", 20),
        OBSOLETE_PACKET_BLOCK => ("obsolete packet block", 32),
        SPB_MAGIC => ("simple packet block", 16),
        ISB_MAGIC => ("interface statistics block", 24),
        EPB_MAGIC => ("enhanced packet block", 32),
        DSB_MAGIC => ("decryption secrets block", 20),
        CB_MAGIC | DCB_MAGIC => ("custom block", 16),
        _ => return None,
    })
}

/// One interface of the section being read, from its description block.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u16,
    /// if_tsresol as the block gave it (6 when absent).
    tsresol: u8,
    /// Timestamp units per second (if_tsresol).
    units_per_sec: u64,
    /// Seconds added to every timestamp (if_tsoffset).
    offset_sec: i64,
    snaplen: u32,
}

/// What reading a pcapng file keeps from block to block.
#[derive(Debug)]
pub(super) struct PcapNg {
    /// The current section's byte order.
    big_endian: bool,
    /// The current section's interfaces, by id.
    interfaces: Vec<Interface>,
    /// Timestamp given to Simple Packet Blocks, which carry none.
    last_ts_ns: i64,
    /// Section header blocks read so far.
    sections: u32,
    /// Where the last packet came from and its timestamp as written.
    pub(super) last_origin: Option<PacketOrigin>,
}

impl PcapNg {
    /// Before the first section header block.
    pub(super) fn new() -> PcapNg {
        PcapNg {
            big_endian: false,
            interfaces: Vec::new(),
            last_ts_ns: 0,
            sections: 0,
            last_origin: None,
        }
    }

    /// The current section's byte order (false before the first section).
    pub(super) fn big_endian(&self) -> bool {
        self.big_endian
    }

    /// Reads pcapng blocks until one carries a packet.
    #[inline]
    pub(super) fn next_packet(&mut self, cur: &mut Cursor) -> Result<Option<Span>, CaptureError> {
        loop {
            if !cur.fill(8)? {
                if cur.available() == 0 {
                    return Ok(None);
                }
                return Err(cur.truncated("a pcapng block header"));
            }
            let w = cur.window();
            let raw_type = u32_at(w, 0, false);
            let big_endian = if raw_type == SHB_MAGIC {
                // A new section: its byte-order magic decides how to read everything in it.
                if !cur.fill(12)? {
                    return Err(cur.truncated("a section header block"));
                }
                match u32_at(cur.window(), 8, false) {
                    0x1a2b_3c4d => false,
                    0x4d3c_2b1a => true,
                    bom => {
                        return Err(cur.malformed(format!(
                            "section header block has an unknown byte-order magic 0x{bom:08x}"
                        )))
                    }
                }
            } else {
                self.big_endian
            };
            let block_len = u32_at(cur.window(), 4, big_endian);
            if block_len < 12 || !block_len.is_multiple_of(4) || block_len > MAX_BLOCK_LEN {
                return Err(cur.error(CaptureErrorKind::BadBlockLength(block_len)));
            }
            let len = block_len as usize;
            if !cur.fill(len)? {
                return Err(cur.truncated("a pcapng block"));
            }
            let block_len2 = u32_at(cur.window(), len - 4, big_endian);
            if block_len2 != block_len {
                return Err(cur.malformed(format!(
                    "pcapng block length {block_len} does not match its trailing length {block_len2}"
                )));
            }
            let block_type = if big_endian {
                raw_type.swap_bytes()
            } else {
                raw_type
            };
            let start = cur.start();
            let outcome = self.handle_block(cur, block_type, big_endian, start, len)?;
            cur.consume(len);
            if let Some(span) = outcome {
                return Ok(Some(span));
            }
        }
    }

    /// Interprets one complete block at `data()[start..start + len]`.
    #[inline]
    fn handle_block(
        &mut self,
        cur: &Cursor,
        block_type: u32,
        big_endian: bool,
        start: usize,
        len: usize,
    ) -> Result<Option<Span>, CaptureError> {
        if let Some((name, min)) = fixed_size(block_type) {
            if len < min {
                return Err(cur.malformed(format!(
                    "{name} has length {len}, less than the {min} bytes of its fixed fields"
                )));
            }
        }
        match block_type {
            EPB_MAGIC => self
                .enhanced_packet_block(cur, big_endian, start, len)
                .map(Some),
            SPB_MAGIC => self
                .simple_packet_block(cur, big_endian, start, len)
                .map(Some),
            OBSOLETE_PACKET_BLOCK => self
                .obsolete_packet_block(cur, big_endian, start, len)
                .map(Some),
            SJE_MAGIC => {
                // Wireshark shows systemd journal entries as frames of their own;
                // number them the same way.
                self.last_origin = None;
                Ok(Some(Span {
                    start,
                    len: 0,
                    ts_ns: self.last_ts_ns,
                    linktype: linktype::NOT_A_PACKET,
                    orig_len: 0,
                }))
            }
            _ => self
                .other_block(cur, block_type, big_endian, start, len)
                .map(|()| None),
        }
    }

    /// Enhanced Packet Block: interface, timestamp, lengths, data, options (skipped).
    #[inline]
    fn enhanced_packet_block(
        &mut self,
        cur: &Cursor,
        big_endian: bool,
        start: usize,
        len: usize,
    ) -> Result<Span, CaptureError> {
        let b = &cur.data()[start..start + len];
        let if_id = u32_at(b, 8, big_endian);
        self.packet_block(cur, "enhanced", if_id, big_endian, start, len)
    }

    /// Block type 2, the Enhanced Packet Block's predecessor: the same
    /// layout, but a 16-bit interface id followed by a drops count.
    fn obsolete_packet_block(
        &mut self,
        cur: &Cursor,
        big_endian: bool,
        start: usize,
        len: usize,
    ) -> Result<Span, CaptureError> {
        let b = &cur.data()[start..start + len];
        let if_id = u16_at(b, 8, big_endian) as u32;
        self.packet_block(cur, "obsolete", if_id, big_endian, start, len)
    }

    /// The fields the enhanced and obsolete packet blocks share, from the timestamp on.
    #[inline]
    fn packet_block(
        &mut self,
        cur: &Cursor,
        kind: &str,
        if_id: u32,
        big_endian: bool,
        start: usize,
        len: usize,
    ) -> Result<Span, CaptureError> {
        const HDR: usize = 28;
        let b = &cur.data()[start..start + len];
        let ticks = ((u32_at(b, 12, big_endian) as u64) << 32) | u32_at(b, 16, big_endian) as u64;
        let caplen = u32_at(b, 20, big_endian) as usize;
        let orig_len = u32_at(b, 24, big_endian);
        let holds = len - HDR - 4;
        if caplen > holds {
            return Err(cur.malformed(format!(
                "{kind} packet block claims {caplen} captured bytes but holds {holds}"
            )));
        }
        let iface = self.interface(cur, if_id)?;
        let ts_ns = ticks_to_ns(ticks, iface.units_per_sec, iface.offset_sec);
        self.last_ts_ns = ts_ns;
        self.last_origin = Some(self.origin(if_id, &iface, Some(ticks)));
        Ok(Span {
            start: start + HDR,
            len: caplen,
            ts_ns,
            linktype: iface.linktype,
            orig_len,
        })
    }

    /// Simple Packet Block: interface 0, no timestamp, captured length implied.
    fn simple_packet_block(
        &mut self,
        cur: &Cursor,
        big_endian: bool,
        start: usize,
        len: usize,
    ) -> Result<Span, CaptureError> {
        const HDR: usize = 12;
        let orig_len = u32_at(&cur.data()[start..start + len], 8, big_endian);
        let iface = self.interface(cur, 0)?;
        self.last_origin = Some(self.origin(0, &iface, None));
        let mut caplen = (orig_len as usize).min(len - HDR - 4);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        Ok(Span {
            start: start + HDR,
            len: caplen,
            ts_ns: self.last_ts_ns,
            linktype: iface.linktype,
            orig_len,
        })
    }

    /// Every other block, through pcap-parser: a section header starts a new
    /// section, an interface description adds an interface, the rest are
    /// checked and skipped.
    #[cold]
    fn other_block(
        &mut self,
        cur: &Cursor,
        block_type: u32,
        big_endian: bool,
        start: usize,
        len: usize,
    ) -> Result<(), CaptureError> {
        let bytes = &cur.data()[start..start + len];
        let parsed = if big_endian {
            parse_block_be(bytes)
        } else {
            parse_block_le(bytes)
        };
        let block = match parsed {
            Ok((_, b)) => b,
            Err(e) => {
                return Err(cur.malformed(format!(
                    "malformed pcapng block of type 0x{block_type:08x}: {}",
                    describe_nom(&e)
                )))
            }
        };
        match block {
            Block::SectionHeader(_) => {
                self.big_endian = big_endian;
                self.interfaces.clear();
                self.sections += 1;
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
                let Some(units_per_sec) = ts_units_per_sec(idb.if_tsresol) else {
                    return Err(cur.malformed(format!(
                        "interface description block has an unusable if_tsresol {}",
                        idb.if_tsresol
                    )));
                };
                let iface = Interface {
                    linktype: (idb.linktype.0 as u32 & 0xffff) as u16,
                    tsresol: idb.if_tsresol,
                    units_per_sec,
                    offset_sec,
                    snaplen: idb.snaplen,
                };
                self.interfaces.push(iface);
            }
            _ => {}
        }
        Ok(())
    }

    /// A packet's origin on interface `id` of the current section.
    fn origin(&self, id: u32, iface: &Interface, ticks: Option<u64>) -> PacketOrigin {
        PacketOrigin {
            interface: (self.sections.saturating_sub(1), id),
            linktype: iface.linktype,
            snaplen: iface.snaplen,
            tsresol: iface.tsresol,
            tsoffset_sec: iface.offset_sec,
            ticks,
        }
    }

    #[inline]
    fn interface(&self, cur: &Cursor, id: u32) -> Result<Interface, CaptureError> {
        let found = self.interfaces.get(id as usize).copied();
        found.ok_or_else(|| {
            cur.malformed(format!(
                "packet block refers to interface {id}, which no interface description block defined"
            ))
        })
    }
}

/// Decodes if_tsresol: a power of ten, or of two when the high bit is set.
/// (pcap-parser 0.17 rejects binary resolutions, so this is done here.)
pub(super) fn ts_units_per_sec(tsresol: u8) -> Option<u64> {
    let exp = (tsresol & 0x7f) as u32;
    if tsresol & 0x80 != 0 {
        (exp <= 63).then(|| 1u64 << exp)
    } else {
        10u64.checked_pow(exp)
    }
}

/// Converts pcapng timestamp ticks to nanoseconds since the epoch, exactly,
/// clamped to [`MIN_TS_NS`, `MAX_TS_NS`].
pub(super) fn ticks_to_ns(ticks: u64, units_per_sec: u64, offset_sec: i64) -> i64 {
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
