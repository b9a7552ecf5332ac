//! The library's front door: an [`Analyzer`] built from options, fed a path,
//! any byte stream, or packets one by one, giving an [`Analysis`] whose
//! connections iterate in Wireshark's stream order.
//!
//! ```
//! use tcpstate::{Analyzer, Outcome};
//!
//! let analysis = Analyzer::new()
//!     .analyze_path("testdata/real/half_close.pcap")
//!     .expect("readable capture");
//! for conn in analysis.connections() {
//!     println!("{} {} -> {}: {}", conn.flow.stream, conn.flow.client(), conn.flow.server(), conn.tcp.outcome());
//!     assert_eq!(conn.tcp.outcome(), Outcome::Closed);
//! }
//! assert_eq!(analysis.summary().frames, 17);
//! ```

use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use crate::analysis::{
    analyze_merged, analyze_reader, AnalysedConnection, CaptureAnalysis, Options,
};
use crate::capture::{CaptureError, CaptureReader, Input};
use crate::report::Summary;

/// Analyses captures with a fixed set of options. Cheap to build and to clone.
///
/// Defaults: MSL 30 s (TIME_WAIT 60 s, as Linux), CLOSE_WAIT and FIN_WAIT_2
/// "stuck" thresholds of 60 s.
#[derive(Clone, Debug, Default)]
pub struct Analyzer {
    options: Options,
}

/// One packet handed to [`Analyzer::analyze_packets`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// The link-layer header type (LINKTYPE_*, e.g. 1 for Ethernet, 101 for raw IP).
    pub linktype: u16,
    /// The frame as captured.
    pub data: Vec<u8>,
}

impl Analyzer {
    /// An analyzer with the default options.
    pub fn new() -> Analyzer {
        Analyzer::default()
    }

    /// Maximum segment lifetime: TIME_WAIT lasts twice this in capture time.
    pub fn msl(mut self, msl: Duration) -> Analyzer {
        self.options.machines.msl_ns = duration_ns(msl);
        self
    }

    /// Time in CLOSE_WAIT at capture end reported as `close_wait_stuck`.
    pub fn close_wait_threshold(mut self, t: Duration) -> Analyzer {
        self.options.machines.close_wait_threshold_ns = duration_ns(t);
        self
    }

    /// Time in FIN_WAIT_2 at capture end reported as `fin_wait_2_stuck`.
    pub fn fin_wait_2_threshold(mut self, t: Duration) -> Analyzer {
        self.options.machines.fin_wait_2_threshold_ns = duration_ns(t);
        self
    }

    /// Capture time without a packet after which a connection is finished and
    /// freed (a later packet of its endpoints continues its stream as a new
    /// part); 300 s by default.
    pub fn idle_timeout(mut self, t: Duration) -> Analyzer {
        self.options.flows.idle_timeout_ns = duration_ns(t);
        self
    }

    /// Live connections kept at most; past it the longest idle are finished
    /// early and counted as evictions. 100 000 by default.
    pub fn max_connections(mut self, n: usize) -> Analyzer {
        self.options.flows.max_connections = n.max(1);
        self
    }

    /// The options the CLI and the lower-level functions take.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Analyses a capture file (pcap or pcapng, optionally gzip-compressed).
    /// Fails only when the file cannot be opened or is not a capture; a file
    /// cut short still gives an analysis of what was read, with the error in
    /// [`Analysis::errors`].
    pub fn analyze_path(&self, path: impl AsRef<Path>) -> Result<Analysis, CaptureError> {
        let reader = CaptureReader::open(&Input::Path(path.as_ref().to_path_buf()))?;
        Ok(self.wrap(analyze_reader(reader, &self.options, &mut |_, _, _| {})))
    }

    /// Analyses several files as one consecutive capture (rotated files).
    pub fn analyze_merged(&self, paths: &[impl AsRef<Path>]) -> Analysis {
        let inputs: Vec<Input> = paths
            .iter()
            .map(|p| Input::Path(p.as_ref().to_path_buf()))
            .collect();
        self.wrap(analyze_merged(&inputs, &self.options, &mut |_, _, _| {}))
    }

    /// Analyses a capture read from any byte stream (a pipe, a socket, memory).
    pub fn analyze_reader(
        &self,
        name: &str,
        reader: impl Read + Send + 'static,
    ) -> Result<Analysis, CaptureError> {
        let reader = CaptureReader::from_reader(name.to_string(), Box::new(reader))?;
        Ok(self.wrap(analyze_reader(reader, &self.options, &mut |_, _, _| {})))
    }

    /// Analyses packets handed over one by one (from a live capture library, a
    /// replay tool, a test): they are streamed through, not collected first.
    /// Frames are numbered from 1 in the order given.
    pub fn analyze_packets<I>(&self, packets: I) -> Analysis
    where
        I: IntoIterator<Item = Packet>,
        I::IntoIter: Send + 'static,
    {
        let stream = PacketStream::new(packets.into_iter());
        match CaptureReader::from_reader("packets".into(), Box::new(stream)) {
            Ok(reader) => self.wrap(analyze_reader(reader, &self.options, &mut |_, _, _| {})),
            // The stream always starts with a section header: only an empty
            // iterator can end up here, and it has nothing to analyse.
            Err(_) => self.wrap(CaptureAnalysis::empty("packets")),
        }
    }

    fn wrap(&self, inner: CaptureAnalysis) -> Analysis {
        Analysis { inner }
    }
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// What an [`Analyzer`] found in one capture.
#[derive(Debug)]
pub struct Analysis {
    inner: CaptureAnalysis,
}

impl Analysis {
    /// The connections, in Wireshark's `tcp.stream` order.
    pub fn connections(&self) -> impl Iterator<Item = &AnalysedConnection> {
        self.inner.connections.iter()
    }

    /// The summary: frame accounting, connections by outcome, anomalies by code.
    pub fn summary(&self) -> Summary<'_> {
        Summary::of(std::slice::from_ref(&self.inner))
    }

    /// Read errors; what was read before each is still analysed.
    pub fn errors(&self) -> &[CaptureError] {
        &self.inner.errors
    }

    /// The full per-capture result, as the report writers take it.
    pub fn capture(&self) -> &CaptureAnalysis {
        &self.inner
    }

    /// Gives up the per-capture result.
    pub fn into_capture(self) -> CaptureAnalysis {
        self.inner
    }
}

impl IntoIterator for Analysis {
    type Item = AnalysedConnection;
    type IntoIter = std::vec::IntoIter<AnalysedConnection>;

    /// The connections by value, in stream order.
    fn into_iter(self) -> Self::IntoIter {
        self.inner.connections.into_iter()
    }
}

/// Serialises packets into a pcapng byte stream on demand, so the reader can
/// take them like any capture without holding them all: one section, one
/// interface per link type (nanosecond timestamps), one Enhanced Packet Block
/// per packet.
struct PacketStream<I> {
    packets: I,
    buf: Vec<u8>,
    pos: usize,
    interfaces: Vec<u16>,
    started: bool,
}

impl<I: Iterator<Item = Packet>> PacketStream<I> {
    fn new(packets: I) -> PacketStream<I> {
        PacketStream {
            packets,
            buf: Vec::new(),
            pos: 0,
            interfaces: Vec::new(),
            started: false,
        }
    }

    fn block(&mut self, block_type: u32, body: &[u8]) {
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        self.buf.extend_from_slice(&block_type.to_le_bytes());
        self.buf.extend_from_slice(&total.to_le_bytes());
        self.buf.extend_from_slice(body);
        self.buf.resize(self.buf.len() + padded - body.len(), 0);
        self.buf.extend_from_slice(&total.to_le_bytes());
    }

    /// Encodes the next packet (and what must precede it); false at the end.
    fn refill(&mut self) -> bool {
        self.buf.clear();
        self.pos = 0;
        if !self.started {
            self.started = true;
            let mut shb = Vec::new();
            shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
            shb.extend_from_slice(&1u16.to_le_bytes());
            shb.extend_from_slice(&0u16.to_le_bytes());
            shb.extend_from_slice(&(-1i64).to_le_bytes());
            self.block(0x0a0d_0d0a, &shb);
        }
        let Some(p) = self.packets.next() else {
            return !self.buf.is_empty();
        };
        let iface = match self.interfaces.iter().position(|&l| l == p.linktype) {
            Some(i) => i,
            None => {
                let mut idb = Vec::new();
                idb.extend_from_slice(&p.linktype.to_le_bytes());
                idb.extend_from_slice(&0u16.to_le_bytes());
                idb.extend_from_slice(&0u32.to_le_bytes());
                // if_tsresol = 9: nanoseconds; then the end of options.
                idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
                self.block(1, &idb);
                self.interfaces.push(p.linktype);
                self.interfaces.len() - 1
            }
        };
        let ticks = p.ts_ns.max(0) as u64;
        let len = p.data.len() as u32;
        let mut epb = Vec::with_capacity(20 + p.data.len());
        epb.extend_from_slice(&(iface as u32).to_le_bytes());
        epb.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ticks as u32).to_le_bytes());
        epb.extend_from_slice(&len.to_le_bytes());
        epb.extend_from_slice(&len.to_le_bytes());
        epb.extend_from_slice(&p.data);
        self.block(6, &epb);
        true
    }
}

impl<I: Iterator<Item = Packet>> Read for PacketStream<I> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() && !self.refill() {
            return Ok(0);
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpstate_synth::{frame, Conv, Link, Side};

    #[test]
    fn packets_handed_over_one_by_one_give_the_same_connections() {
        let mut c = Conv::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            1,
            2,
        );
        c.handshake();
        c.data(Side::Client, 10);
        c.fin(Side::Client);
        c.fin(Side::Server);
        c.ack(Side::Client);
        let packets: Vec<Packet> = c
            .segments()
            .iter()
            .map(|s| Packet {
                ts_ns: s.ts_ns as i64,
                linktype: 1,
                data: frame(&Link::Ethernet, s),
            })
            .collect();
        let a = Analyzer::new().analyze_packets(packets);
        let conns: Vec<_> = a.connections().collect();
        assert_eq!(conns.len(), 1);
        assert_eq!(
            conns[0].tcp.outcome(),
            crate::state_machine::Outcome::Closed
        );
        assert_eq!(conns[0].flow.last_frame, 7);
        assert_eq!(a.summary().frames, 7);
        assert!(a.errors().is_empty());
    }

    #[test]
    fn the_builder_sets_the_flow_limits() {
        let a = Analyzer::new()
            .idle_timeout(Duration::from_secs(7))
            .max_connections(0);
        assert_eq!(a.options().flows.idle_timeout_ns, 7_000_000_000);
        assert_eq!(a.options().flows.max_connections, 1);
    }
}
