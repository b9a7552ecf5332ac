//! A pcapng writer for packets read by [`CaptureReader`](super::CaptureReader):
//! one section, little-endian, an Interface Description Block for each input
//! interface as its first packet comes (same link type, snapshot length,
//! `if_tsresol` and `if_tsoffset`), and an Enhanced Packet Block per packet
//! with its timestamp in the interface's own units, unchanged, and an
//! optional comment (`opt_comment`, which Wireshark shows as
//! `frame.comment`). Format: the pcapng specification
//! (draft-ietf-opsawg-pcapng), sections 4.1, 4.2 and 4.3.

use std::collections::HashMap;
use std::io::{self, Write};

use super::PacketOrigin;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_TSRESOL: u16 = 9;
const IF_TSOFFSET: u16 = 14;

/// Writes packets as pcapng, keeping their interfaces and timestamps.
pub struct PcapNgWriter<W: Write> {
    out: W,
    /// Output interface id of each input interface seen.
    interfaces: HashMap<(u32, u32), u32>,
    buf: Vec<u8>,
}

/// One block being assembled: the header is patched with the length at the end.
struct Block<'b>(&'b mut Vec<u8>);

impl Block<'_> {
    fn start(buf: &mut Vec<u8>, block_type: u32) -> Block<'_> {
        buf.clear();
        buf.extend_from_slice(&block_type.to_le_bytes());
        buf.extend_from_slice(&[0; 4]);
        Block(buf)
    }

    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// Bytes padded with zeros to a multiple of 4.
    fn padded(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
        self.0.resize(self.0.len().next_multiple_of(4), 0);
    }

    fn option(&mut self, code: u16, value: &[u8]) {
        // An option's value is at most 65535 bytes: a longer comment is cut
        // at a character boundary by the caller.
        self.u16(code);
        self.u16(value.len() as u16);
        self.padded(value);
    }

    fn end_options(&mut self) {
        self.u16(OPT_ENDOFOPT);
        self.u16(0);
    }

    fn finish(self) -> usize {
        let len = self.0.len() as u32 + 4;
        self.0[4..8].copy_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.len()
    }
}

/// The longest prefix of `s` that fits an option value, at a character boundary.
fn option_text(s: &str) -> &str {
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl<W: Write> PcapNgWriter<W> {
    /// Starts the file: a Section Header Block naming tcpstate as the writer.
    pub fn new(out: W) -> io::Result<PcapNgWriter<W>> {
        let mut w = PcapNgWriter {
            out,
            interfaces: HashMap::new(),
            buf: Vec::with_capacity(2048),
        };
        let mut b = Block::start(&mut w.buf, SHB);
        b.u32(BYTE_ORDER_MAGIC);
        b.u16(1);
        b.u16(0);
        // Section length: not given.
        b.0.extend_from_slice(&(-1i64).to_le_bytes());
        let app = concat!("tcpstate ", env!("CARGO_PKG_VERSION"));
        b.option(SHB_USERAPPL, app.as_bytes());
        b.end_options();
        b.finish();
        w.out.write_all(&w.buf)?;
        Ok(w)
    }

    /// The output id of `origin`'s interface, describing it first if new.
    fn interface(&mut self, origin: &PacketOrigin) -> io::Result<u32> {
        if let Some(&id) = self.interfaces.get(&origin.interface) {
            return Ok(id);
        }
        let id = self.interfaces.len() as u32;
        let mut b = Block::start(&mut self.buf, IDB);
        b.u16(origin.linktype);
        b.u16(0);
        b.u32(origin.snaplen);
        if origin.tsresol != 6 {
            b.option(IF_TSRESOL, &[origin.tsresol]);
        }
        if origin.tsoffset_sec != 0 {
            b.option(IF_TSOFFSET, &origin.tsoffset_sec.to_le_bytes());
        }
        b.end_options();
        b.finish();
        self.out.write_all(&self.buf)?;
        self.interfaces.insert(origin.interface, id);
        Ok(id)
    }

    /// Writes one packet: `data` as captured, `orig_len` its length on the
    /// wire, its timestamp as `origin` gives it (or, for a packet that had
    /// none, `ts_ns` in the interface's units), and `comment` if any.
    pub fn write_packet(
        &mut self,
        origin: &PacketOrigin,
        ts_ns: i64,
        data: &[u8],
        orig_len: u32,
        comment: Option<&str>,
    ) -> io::Result<()> {
        let id = self.interface(origin)?;
        let ticks = origin.ticks.unwrap_or_else(|| ns_to_ticks(ts_ns, origin));
        let mut b = Block::start(&mut self.buf, EPB);
        b.u32(id);
        b.u32((ticks >> 32) as u32);
        b.u32(ticks as u32);
        b.u32(data.len() as u32);
        b.u32(orig_len);
        b.padded(data);
        if let Some(c) = comment {
            b.option(OPT_COMMENT, option_text(c).as_bytes());
            b.end_options();
        }
        b.finish();
        self.out.write_all(&self.buf)
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A time in ns as ticks of `origin`'s interface (for packets read without
/// a timestamp of their own).
fn ns_to_ticks(ts_ns: i64, origin: &PacketOrigin) -> u64 {
    let exp = u32::from(origin.tsresol & 0x7f);
    let units: i128 = if origin.tsresol & 0x80 != 0 {
        1i128 << exp.min(63)
    } else {
        10i128.pow(exp.min(19))
    };
    let since = i128::from(ts_ns) - i128::from(origin.tsoffset_sec) * 1_000_000_000;
    (since * units / 1_000_000_000).clamp(0, i128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureReader, Input};

    /// Every capture in testdata/ written again reads back with the same
    /// frames: times, link types, bytes and lengths. (A packet that had no
    /// timestamp, a Simple Packet Block, is written with the time it was
    /// given, within one tick of its interface's resolution.)
    #[test]
    fn rewritten_captures_read_back_the_same() {
        let mut files = 0;
        for dir in ["testdata/real", "testdata/synth"] {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if !p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                    continue;
                }
                let Ok(mut r) = CaptureReader::open(&Input::Path(p.clone())) else {
                    continue;
                };
                let mut w = PcapNgWriter::new(Vec::new()).unwrap();
                let mut want = Vec::new();
                while let Ok(Some(pkt)) = r.next_packet() {
                    let (ts, lt, len) = (pkt.ts_ns, pkt.linktype, pkt.orig_len);
                    let data = pkt.data.to_vec();
                    let Some(origin) = r.last_origin() else {
                        continue;
                    };
                    w.write_packet(&origin, ts, &data, len, Some("a comment"))
                        .unwrap();
                    want.push((ts, lt, data, len, origin.ticks.is_none()));
                }
                let bytes = w.finish().unwrap();
                let mut back =
                    CaptureReader::from_reader("x".into(), Box::new(io::Cursor::new(bytes)))
                        .unwrap();
                let mut n = 0;
                while let Some(pkt) = back.next_packet().unwrap() {
                    let (ts, lt, data, len, untimed) = &want[n];
                    let name = p.display();
                    let frame = pkt.frame;
                    if *untimed {
                        assert!((pkt.ts_ns - ts).abs() < 1_000, "{name} frame {frame}");
                    } else {
                        assert_eq!(pkt.ts_ns, *ts, "{name} frame {frame}");
                    }
                    assert_eq!(
                        (pkt.linktype, pkt.orig_len),
                        (*lt, *len),
                        "{name} frame {frame}"
                    );
                    assert_eq!(pkt.data, &data[..], "{name} frame {frame}");
                    n += 1;
                }
                assert_eq!(n, want.len(), "{}", p.display());
                files += 1;
            }
        }
        assert!(files > 50, "{files}");
    }
}
