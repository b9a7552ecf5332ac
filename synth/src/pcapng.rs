//! pcapng files: [`PcapNgWriter`] (sections, interfaces, the three packet
//! block kinds, custom and raw blocks) and its [`Interface`] descriptions.

use std::io::{self, Write};

use crate::frame::{packet_frame, Link, Packet};
use crate::pcap::{ByteOrder, NS_PER_S};

/// One pcapng interface (Interface Description Block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Link type of every packet on this interface.
    pub link: Link,
    /// Snapshot length; 0 means unlimited (pcapng convention).
    pub snaplen: u32,
    /// `if_tsresol`: 6 = µs (default, then the option is omitted), 9 = ns,
    /// `0x80 | n` = 2^-n seconds.
    pub tsresol: u8,
    /// `if_tsoffset` in seconds, added by readers to every stored
    /// timestamp; 0 omits the option.
    pub tsoffset_s: i64,
}

impl Interface {
    /// Interface with µs timestamps, no offset and no snaplen limit.
    pub fn new(link: Link) -> Interface {
        Interface {
            link,
            snaplen: 0,
            tsresol: 6,
            tsoffset_s: 0,
        }
    }

    /// Timestamp units per second for this interface's `if_tsresol`.
    fn units_per_second(&self) -> u128 {
        if self.tsresol & 0x80 != 0 {
            1u128 << (self.tsresol & 0x7f)
        } else {
            10u128.pow(u32::from(self.tsresol))
        }
    }

    /// Stored 64-bit timestamp for absolute time `ts_ns`: offset removed,
    /// then converted to interface units (rounded down).
    pub fn ticks(&self, ts_ns: u64) -> u64 {
        let relative_ns = i128::from(ts_ns) - i128::from(self.tsoffset_s) * i128::from(NS_PER_S);
        let relative_ns = u128::try_from(relative_ns).expect("timestamp before if_tsoffset");
        u64::try_from(relative_ns * self.units_per_second() / u128::from(NS_PER_S))
            .expect("timestamp overflows 64 bits")
    }

    fn captured<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        if self.snaplen == 0 {
            frame
        } else {
            &frame[..frame.len().min(self.snaplen as usize)]
        }
    }
}

/// pcapng block type numbers used by the writer.
const BLOCK_SHB: u32 = 0x0A0D_0D0A;
const BLOCK_IDB: u32 = 1;
const BLOCK_OBSOLETE_PB: u32 = 2;
const BLOCK_SPB: u32 = 3;
const BLOCK_EPB: u32 = 6;

/// pcapng writer: sections, interfaces and the three packet block kinds.
pub struct PcapNgWriter<W: Write> {
    out: W,
    order: ByteOrder,
    interfaces: Vec<Interface>,
    /// Number of sections started (1-based), used in interface names.
    section: u32,
    position: u64,
}

impl<W: Write> PcapNgWriter<W> {
    /// Writes the first Section Header Block.
    pub fn new(out: W, order: ByteOrder) -> io::Result<PcapNgWriter<W>> {
        let mut writer = PcapNgWriter {
            out,
            order,
            interfaces: Vec::new(),
            section: 0,
            position: 0,
        };
        writer.new_section()?;
        Ok(writer)
    }

    /// Starts a new section (new SHB); interface ids restart at 0, so
    /// readers must forget the previous section's interfaces.
    pub fn new_section(&mut self) -> io::Result<()> {
        self.interfaces.clear();
        self.section += 1;
        let o = self.order;
        let mut body = Vec::new();
        body.extend_from_slice(&o.u32(0x1A2B_3C4D)); // byte-order magic
        body.extend_from_slice(&o.u16(1)); // major
        body.extend_from_slice(&o.u16(0)); // minor
        body.extend_from_slice(&o.u64(u64::MAX)); // section length: unknown (-1)
        self.push_option(&mut body, 4, b"tcpstate synth"); // shb_userappl
        self.push_option(&mut body, 0, &[]); // opt_endofopt
        self.write_block(BLOCK_SHB, &body)
    }

    /// Adds an Interface Description Block; returns the interface id.
    pub fn add_interface(&mut self, iface: Interface) -> io::Result<u32> {
        let o = self.order;
        let mut body = Vec::new();
        body.extend_from_slice(&o.u16(iface.link.linktype()));
        body.extend_from_slice(&o.u16(0)); // reserved
        body.extend_from_slice(&o.u32(iface.snaplen));
        let id = self.interfaces.len() as u32;
        let name = format!("s{}if{id}", self.section);
        self.push_option(&mut body, 2, name.as_bytes()); // if_name
        if iface.tsresol != 6 {
            self.push_option(&mut body, 9, &[iface.tsresol]);
        }
        if iface.tsoffset_s != 0 {
            self.push_option(&mut body, 14, &o.u64(iface.tsoffset_s as u64));
        }
        self.push_option(&mut body, 0, &[]);
        self.write_block(BLOCK_IDB, &body)?;
        self.interfaces.push(iface);
        Ok(id)
    }

    fn interface(&self, id: u32) -> &Interface {
        self.interfaces
            .get(id as usize)
            .unwrap_or_else(|| panic!("interface {id} not defined in this section"))
    }

    /// Frame for `packet` on interface `iface` (its link, this file's order).
    pub fn frame_for(&self, iface: u32, packet: &Packet) -> Vec<u8> {
        packet_frame(&self.interface(iface).link, self.order, packet)
    }

    /// Writes an Enhanced Packet Block; data is cut to the interface snaplen.
    pub fn write_epb(&mut self, iface: u32, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let o = self.order;
        let interface = self.interface(iface);
        let ticks = interface.ticks(ts_ns);
        let data = interface.captured(frame);
        let mut body = Vec::with_capacity(20 + data.len());
        body.extend_from_slice(&o.u32(iface));
        body.extend_from_slice(&o.u32((ticks >> 32) as u32));
        body.extend_from_slice(&o.u32(ticks as u32));
        body.extend_from_slice(&o.u32(data.len() as u32));
        body.extend_from_slice(&o.u32(frame.len() as u32));
        body.extend_from_slice(data);
        self.write_block(BLOCK_EPB, &body)
    }

    /// Builds the frame for `packet` on interface `iface` and writes it as an
    /// Enhanced Packet Block (the common case).
    pub fn write_packet(&mut self, iface: u32, packet: &Packet) -> io::Result<()> {
        let frame = self.frame_for(iface, packet);
        self.write_epb(iface, packet.ts_ns(), &frame)
    }

    /// Writes a Simple Packet Block: no timestamp, implicitly interface 0,
    /// data cut to interface 0's snaplen (readers derive the captured length
    /// from original length and snaplen, not from the padded block length).
    pub fn write_spb(&mut self, frame: &[u8]) -> io::Result<()> {
        let data = self.interface(0).captured(frame);
        let mut body = Vec::with_capacity(4 + data.len());
        body.extend_from_slice(&self.order.u32(frame.len() as u32));
        body.extend_from_slice(data);
        self.write_block(BLOCK_SPB, &body)
    }

    /// Writes an obsolete Packet Block (type 2), which old writers produced
    /// and readers should still accept.
    pub fn write_obsolete_pb(&mut self, iface: u16, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let o = self.order;
        let interface = self.interface(u32::from(iface));
        let ticks = interface.ticks(ts_ns);
        let data = interface.captured(frame);
        let mut body = Vec::with_capacity(20 + data.len());
        body.extend_from_slice(&o.u16(iface));
        body.extend_from_slice(&o.u16(0)); // drops count
        body.extend_from_slice(&o.u32((ticks >> 32) as u32));
        body.extend_from_slice(&o.u32(ticks as u32));
        body.extend_from_slice(&o.u32(data.len() as u32));
        body.extend_from_slice(&o.u32(frame.len() as u32));
        body.extend_from_slice(data);
        self.write_block(BLOCK_OBSOLETE_PB, &body)
    }

    /// Writes a block of any type (e.g. an unknown 0x0BAD0BAD that readers
    /// must skip); the body is zero-padded to 32 bits.
    pub fn write_custom_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        self.write_block(block_type, body)
    }

    /// Raw bytes appended as-is, for hand-made broken blocks.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.emit(bytes)
    }

    /// Bytes written so far: the offset of the next block.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Byte order of the current section.
    pub fn order(&self) -> ByteOrder {
        self.order
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    fn push_option(&self, body: &mut Vec<u8>, code: u16, value: &[u8]) {
        body.extend_from_slice(&self.order.u16(code));
        body.extend_from_slice(&self.order.u16(value.len() as u16));
        body.extend_from_slice(value);
        body.resize(body.len().next_multiple_of(4), 0);
    }

    fn write_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        let padded = body.len().next_multiple_of(4);
        let total = u32::try_from(12 + padded).expect("block too long");
        let mut block = Vec::with_capacity(total as usize);
        block.extend_from_slice(&self.order.u32(block_type));
        block.extend_from_slice(&self.order.u32(total));
        block.extend_from_slice(body);
        block.resize(8 + padded, 0);
        block.extend_from_slice(&self.order.u32(total));
        self.emit(&block)
    }
}
