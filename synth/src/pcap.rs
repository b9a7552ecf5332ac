//! Classic libpcap files: [`PcapWriter`] with its [`PcapFormat`] (byte order,
//! timestamp resolution, snaplen).

use std::io::{self, Write};

use crate::frame::{packet_frame, Link, Packet};

/// Nanoseconds per second, spelled out once.
pub(crate) const NS_PER_S: u64 = 1_000_000_000;

/// Byte order of a capture file; both pcap and pcapng files may be written in
/// either, and readers must handle both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ByteOrder {
    /// Little-endian (what x86 capture hosts write).
    #[default]
    Little,
    /// Big-endian (SPARC/PowerPC era captures, some appliances).
    Big,
}

impl ByteOrder {
    pub(crate) fn u16(self, v: u16) -> [u8; 2] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }

    pub(crate) fn u32(self, v: u32) -> [u8; 4] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }

    pub(crate) fn u64(self, v: u64) -> [u8; 8] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }
}

/// Timestamp resolution of a classic pcap file (selected by its magic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TsPrecision {
    /// Magic 0xa1b2c3d4: the fraction field counts microseconds.
    #[default]
    Micros,
    /// Magic 0xa1b23c4d: the fraction field counts nanoseconds.
    Nanos,
}

/// Layout choices of a classic pcap file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapFormat {
    /// File byte order.
    pub order: ByteOrder,
    /// Timestamp resolution.
    pub precision: TsPrecision,
    /// Snapshot length: longer frames are cut to this, keeping origlen.
    pub snaplen: u32,
}

impl Default for PcapFormat {
    /// Little-endian, microseconds, snaplen 262144 (tcpdump's default).
    fn default() -> PcapFormat {
        PcapFormat {
            order: ByteOrder::Little,
            precision: TsPrecision::Micros,
            snaplen: 262_144,
        }
    }
}

/// Classic libpcap file writer (one link type per file).
pub struct PcapWriter<W: Write> {
    out: W,
    link: Link,
    format: PcapFormat,
    position: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte global header.
    pub fn new(out: W, link: Link, format: PcapFormat) -> io::Result<PcapWriter<W>> {
        let mut writer = PcapWriter {
            out,
            link,
            format,
            position: 0,
        };
        let order = format.order;
        let magic: u32 = match format.precision {
            TsPrecision::Micros => 0xa1b2_c3d4,
            TsPrecision::Nanos => 0xa1b2_3c4d,
        };
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&order.u32(magic));
        header.extend_from_slice(&order.u16(2)); // version major
        header.extend_from_slice(&order.u16(4)); // version minor
        header.extend_from_slice(&order.u32(0)); // thiszone
        header.extend_from_slice(&order.u32(0)); // sigfigs
        header.extend_from_slice(&order.u32(format.snaplen));
        header.extend_from_slice(&order.u32(u32::from(writer.link.linktype())));
        writer.emit(&header)?;
        Ok(writer)
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Writes one record; the stored bytes are cut to the snaplen while the
    /// record's original length stays `frame.len()`.
    pub fn write_frame(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let caplen = frame.len().min(self.format.snaplen as usize);
        let origlen = u32::try_from(frame.len()).expect("frame too long");
        self.write_raw_record(ts_ns, caplen as u32, origlen, &frame[..caplen])
    }

    /// Builds the frame for `packet` on this file's link and writes it.
    pub fn write_packet(&mut self, packet: &Packet) -> io::Result<()> {
        let frame = packet_frame(&self.link, self.format.order, packet);
        self.write_frame(packet.ts_ns(), &frame)
    }

    /// Writes every packet, in the given order.
    pub fn write_packets<'a>(
        &mut self,
        packets: impl IntoIterator<Item = &'a Packet>,
    ) -> io::Result<()> {
        packets.into_iter().try_for_each(|p| self.write_packet(p))
    }

    /// Writes a record header with exactly the given lengths followed by
    /// `data`, without any consistency check: for deliberately broken files.
    pub fn write_raw_record(
        &mut self,
        ts_ns: u64,
        caplen: u32,
        origlen: u32,
        data: &[u8],
    ) -> io::Result<()> {
        let order = self.format.order;
        let secs = u32::try_from(ts_ns / NS_PER_S).expect("timestamp beyond 2106");
        let frac = match self.format.precision {
            TsPrecision::Micros => (ts_ns % NS_PER_S) / 1_000,
            TsPrecision::Nanos => ts_ns % NS_PER_S,
        } as u32;
        let mut header = Vec::with_capacity(16);
        header.extend_from_slice(&order.u32(secs));
        header.extend_from_slice(&order.u32(frac));
        header.extend_from_slice(&order.u32(caplen));
        header.extend_from_slice(&order.u32(origlen));
        self.emit(&header)?;
        self.emit(data)
    }

    /// Bytes written so far: the offset of the next record, used to report
    /// where a deliberately broken part of a file starts.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
