//! Where the engine's packets come from. The capture reader is one source; a
//! plain iterator of packets (a live capture library, a replay tool, a test)
//! is another, taken as it is rather than encoded into a capture file first.

use crate::capture::{
    CaptureError, CaptureReader, FormatKind, RawPacket, SharedMap, MAX_TS_NS, MIN_TS_NS,
};

/// A stream of numbered, timestamped link-layer packets.
pub trait PacketSource: Send {
    /// The name reports give it (a file name, `-` for stdin, `packets`).
    fn name(&self) -> &str;
    /// The next packet, `None` at the end; after an error the source is done.
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError>;
    /// Frames handed out so far (frame numbers continue from it across merged sources).
    fn frames_read(&self) -> u64;
    /// The container format, for a capture file.
    fn format(&self) -> Option<FormatKind> {
        None
    }
    /// The input was gzip-compressed (its byte offsets are of inflated data).
    fn is_compressed(&self) -> bool {
        false
    }
    /// Input bytes consumed so far, for progress bars.
    fn offset(&self) -> u64 {
        0
    }
    /// Packets arrive as they happen (a pipe from a live capture), so what
    /// was read is analysed when input pauses, not when a batch fills.
    fn is_live(&self) -> bool {
        false
    }
    /// The next packet can be had without waiting for input.
    fn ready(&mut self) -> bool {
        true
    }
    /// Waits up to `timeout` for more input; true if some arrived.
    fn wait_input(&mut self, _timeout: std::time::Duration) -> bool {
        true
    }
    /// The mapped file every packet's bytes lie in, if so: the reader then
    /// hands on where they lie instead of copying them (and releases the
    /// file's pages once they are decoded). Only tcpstate's own capture
    /// reader has one.
    #[doc(hidden)]
    fn shared_map(&mut self) -> Option<SharedMap> {
        None
    }
}

impl PacketSource for CaptureReader {
    fn name(&self) -> &str {
        CaptureReader::name(self)
    }
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        CaptureReader::next_packet(self)
    }
    fn frames_read(&self) -> u64 {
        CaptureReader::frames_read(self)
    }
    fn format(&self) -> Option<FormatKind> {
        Some(CaptureReader::format(self))
    }
    fn is_compressed(&self) -> bool {
        CaptureReader::is_compressed(self)
    }
    fn offset(&self) -> u64 {
        CaptureReader::offset(self)
    }
    fn is_live(&self) -> bool {
        CaptureReader::is_pipe(self)
    }
    fn ready(&mut self) -> bool {
        CaptureReader::ready(self)
    }
    fn wait_input(&mut self, timeout: std::time::Duration) -> bool {
        CaptureReader::wait_input(self, timeout)
    }
    fn shared_map(&mut self) -> Option<SharedMap> {
        CaptureReader::shared_map(self)
    }
}

/// Packet sources read one after the other as one capture; a source that
/// could not be opened is an error, and reading goes on with the next.
pub(crate) type Sources<'a> =
    Box<dyn Iterator<Item = Result<Box<dyn PacketSource + 'a>, CaptureError>> + Send + 'a>;

/// One packet handed to [`crate::Analyzer::analyze_packets`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// The link-layer header type (LINKTYPE_*, e.g. 1 for Ethernet, 101 for raw IP).
    pub linktype: u16,
    /// The frame as captured.
    pub data: Vec<u8>,
}

/// Packets from an iterator, numbered from 1 in the order given.
pub(crate) struct Packets<I> {
    packets: I,
    current: Option<Packet>,
    frames: u64,
}

impl<I> Packets<I> {
    pub(crate) fn new(packets: I) -> Packets<I> {
        Packets {
            packets,
            current: None,
            frames: 0,
        }
    }
}

impl<I: Iterator<Item = Packet> + Send> PacketSource for Packets<I> {
    fn name(&self) -> &str {
        "packets"
    }

    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        self.current = self.packets.next();
        let Some(p) = &self.current else {
            return Ok(None);
        };
        self.frames += 1;
        Ok(Some(RawPacket {
            frame: self.frames,
            // The same bounds the capture reader keeps, so any two times subtract.
            ts_ns: p.ts_ns.clamp(MIN_TS_NS, MAX_TS_NS),
            linktype: p.linktype,
            data: &p.data,
            orig_len: u32::try_from(p.data.len()).unwrap_or(u32::MAX),
        }))
    }

    fn frames_read(&self) -> u64 {
        self.frames
    }
}
