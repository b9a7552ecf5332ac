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

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use super::analysis::Analysis;
use super::connection::Connection;
use super::engine::{collect, run};
use super::options::{Options, Progress};
use super::source::{Packet, PacketSource, Packets, Sources};
use crate::capture::{in_time_order, CaptureError, CaptureReader, Input};
use crate::model::{Segment, Side};

/// Analyses captures with a fixed set of options. Cheap to build and to clone.
///
/// Defaults: MSL 30 s (TIME_WAIT 60 s, as Linux), CLOSE_WAIT and FIN_WAIT_2
/// "stuck" thresholds of 60 s.
#[derive(Clone, Debug, Default)]
pub struct Analyzer {
    options: Options,
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

    /// Whether VLAN tags are part of the connection key (on by default, as
    /// Zeek's vlan-aware connection ids; Wireshark ignores them).
    pub fn vlan_key(mut self, on: bool) -> Analyzer {
        self.options.keys.vlan = on;
        self
    }

    /// Whether the tunnels (kinds, outer addresses, VNI/key), paired
    /// direction by direction, are part of the connection key (on by
    /// default, so two tenants' identical inner 4-tuples stay two
    /// connections while one connection's uplink and downlink may take
    /// different tunnels).
    pub fn tunnel_key(mut self, on: bool) -> Analyzer {
        self.options.keys.tunnel = on;
        self
    }

    /// Verify checksums as Zeek does without `-C`: a TCP segment with a bad
    /// checksum gets Zeek's `C` history letter and is otherwise ignored; a
    /// packet with a bad IPv4 header checksum is not analysed at all
    /// (counted as undecodable). Off by default (checksum offload writes bad
    /// ones).
    pub fn verify_checksums(mut self, on: bool) -> Analyzer {
        self.options.decode.verify_checksums = on;
        self
    }

    /// Read, on every segment, the facts `tcpstate diff` compares two
    /// captures on (TCP option kinds and a digest of the payload's first
    /// bytes, besides the IP header's): off by default, as they cost a pass
    /// over each payload's first 64 bytes.
    pub fn wire_facts(mut self, on: bool) -> Analyzer {
        self.options.decode.wire_facts = on;
        self
    }

    /// Zeek's `tcp_attempt_delay` for the Zeek view (5 s by default): a
    /// connection whose SYN was never answered is removed this long after
    /// it, and a later packet starts a new conn.log record. Zero turns the
    /// timer off.
    pub fn zeek_attempt_delay(mut self, t: Duration) -> Analyzer {
        self.options.zeek.attempt_delay_ns = duration_ns(t);
        self
    }

    /// Zeek's `tcp_close_delay` (5 s by default): how long a closed
    /// connection takes packets before a new conn.log record starts.
    pub fn zeek_close_delay(mut self, t: Duration) -> Analyzer {
        self.options.zeek.close_delay_ns = duration_ns(t);
        self
    }

    /// Zeek's `tcp_inactivity_timeout` (5 min by default): quiet time after
    /// which Zeek removes a connection. Zero turns it off.
    pub fn zeek_inactivity_timeout(mut self, t: Duration) -> Analyzer {
        self.options.zeek.inactivity_timeout_ns = duration_ns(t);
        self
    }

    /// Zeek's `Tunnel::max_changes_per_connection` (5 by default): tunnel
    /// changes counted before the next marks the history with `X`; 0 counts
    /// without limit.
    pub fn zeek_max_tunnel_changes(mut self, n: u32) -> Analyzer {
        self.options.zeek.max_tunnel_changes = n;
        self
    }

    /// The seed of every Community ID (0 by default, as the specification
    /// and Zeek, Suricata and Wireshark default to): IDs compare only
    /// between tools using the same seed.
    pub fn community_id_seed(mut self, seed: u16) -> Analyzer {
        self.options.community_id_seed = seed;
        self
    }

    /// Told after each batch how many input bytes were consumed and how many
    /// frames read, for a progress bar.
    pub fn progress(mut self, progress: Progress) -> Analyzer {
        self.options.progress = Some(progress);
        self
    }

    #[cfg(test)]
    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    /// Analyses a capture file (pcap or pcapng, optionally gzip-compressed).
    /// Fails only when the file cannot be opened or is not a capture; a file
    /// cut short still gives an analysis of what was read, with the error in
    /// [`Analysis::errors`].
    pub fn analyze_path(&self, path: impl AsRef<Path>) -> Result<Analysis, CaptureError> {
        let reader = CaptureReader::open(&Input::Path(path.as_ref().to_path_buf()))?;
        Ok(self.collect_one(Box::new(reader)))
    }

    /// Analyses several files as one consecutive capture (rotated files), in
    /// the order of their first packets whatever the order given
    /// ([`in_time_order`]); overlaps and gaps between them are in
    /// [`Analysis::warnings`].
    pub fn analyze_merged(&self, paths: &[impl AsRef<Path>]) -> Analysis {
        let inputs: Vec<Input> = paths
            .iter()
            .map(|p| Input::Path(p.as_ref().to_path_buf()))
            .collect();
        self.analyze_inputs(&in_time_order(&inputs))
    }

    /// Analyses inputs (files or stdin) as one consecutive capture, in the
    /// order given ([`in_time_order`] sorts rotated files first): frame
    /// numbers continue from one to the next and connections that span them
    /// stay one. An input that cannot be read is reported in
    /// [`Analysis::errors`] and the next one is read; inputs that overlap in
    /// time or leave a gap are in [`Analysis::warnings`].
    pub fn analyze_inputs(&self, inputs: &[Input]) -> Analysis {
        collect(display_name(inputs), open_all(inputs), &self.options, None)
    }

    /// Like [`Analyzer::analyze_inputs`], also showing every TCP segment to
    /// `observer` with its stream and its sender as it is placed.
    pub fn observe_inputs(
        &self,
        inputs: &[Input],
        observer: &mut dyn FnMut(&Segment, u64, Side),
    ) -> Analysis {
        collect(
            display_name(inputs),
            open_all(inputs),
            &self.options,
            Some(observer),
        )
    }

    /// Like [`Analyzer::analyze_inputs`], but hands each connection to `sink`
    /// as soon as it is finished instead of keeping them all, so memory
    /// follows the live connections rather than the capture's size. The
    /// returned analysis has no connections.
    pub fn stream_inputs(
        &self,
        inputs: &[Input],
        sink: &mut dyn FnMut(Vec<Connection>),
    ) -> Analysis {
        run(
            display_name(inputs),
            open_all(inputs),
            &self.options,
            None,
            sink,
        )
    }

    /// [`Analyzer::stream_inputs`] and [`Analyzer::observe_inputs`] at once:
    /// every TCP segment is shown to `observer` as it is placed and every
    /// connection handed to `sink` when finished, nothing kept. Comparing
    /// two captures (`diff`) reads both side by side this way.
    pub fn observe_stream_inputs(
        &self,
        inputs: &[Input],
        observer: &mut dyn FnMut(&Segment, u64, Side),
        sink: &mut dyn FnMut(Vec<Connection>),
    ) -> Analysis {
        run(
            display_name(inputs),
            open_all(inputs),
            &self.options,
            Some(observer),
            sink,
        )
    }

    /// Analyses a capture read from any byte stream (a pipe, a socket, memory).
    pub fn analyze_reader(
        &self,
        name: &str,
        reader: impl Read + Send + 'static,
    ) -> Result<Analysis, CaptureError> {
        let reader = CaptureReader::from_reader(name.to_string(), Box::new(reader))?;
        Ok(self.collect_one(Box::new(reader)))
    }

    /// Analyses packets handed over one by one (from a live capture library, a
    /// replay tool, a test): they are streamed through, not collected first.
    /// Frames are numbered from 1 in the order given.
    pub fn analyze_packets<I>(&self, packets: I) -> Analysis
    where
        I: IntoIterator<Item = Packet>,
        I::IntoIter: Send,
    {
        self.collect_one(Box::new(Packets::new(packets.into_iter())))
    }

    /// Analyses packets from any source.
    pub fn analyze_source(&self, source: Box<dyn PacketSource + '_>) -> Analysis {
        self.collect_one(source)
    }

    fn collect_one(&self, source: Box<dyn PacketSource + '_>) -> Analysis {
        let name = source.name().to_string();
        collect(
            name,
            Box::new(std::iter::once(Ok(source))),
            &self.options,
            None,
        )
    }
}

/// The name an analysis of these inputs goes by: their names joined by `+`.
pub fn display_name(inputs: &[Input]) -> String {
    inputs
        .iter()
        .map(Input::display_name)
        .collect::<Vec<_>>()
        .join("+")
}

/// The inputs, each opened when reading reaches it.
fn open_all(inputs: &[Input]) -> Sources<'_> {
    Box::new(
        inputs
            .iter()
            .map(|i| CaptureReader::open(i).map(|r| Box::new(r) as Box<dyn PacketSource>)),
    )
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
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
        assert_eq!(conns[0].tcp.outcome(), crate::tcp::machine::Outcome::Closed);
        assert_eq!(conns[0].flow.last_frame, 7);
        assert_eq!(a.summary().frames, 7);
        assert!(a.errors().is_empty());
    }

    #[test]
    fn the_builder_sets_zeeks_timers() {
        let a = Analyzer::new();
        assert_eq!(a.options().zeek, crate::tcp::zeek::ZeekConfig::default());
        let a = a
            .zeek_attempt_delay(Duration::from_secs(1))
            .zeek_close_delay(Duration::from_secs(2))
            .zeek_inactivity_timeout(Duration::from_secs(3))
            .zeek_max_tunnel_changes(4);
        let z = a.options().zeek;
        assert_eq!(
            (
                z.attempt_delay_ns,
                z.close_delay_ns,
                z.inactivity_timeout_ns,
                z.max_tunnel_changes
            ),
            (1_000_000_000, 2_000_000_000, 3_000_000_000, 4)
        );
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
