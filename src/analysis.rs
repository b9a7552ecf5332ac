//! Analysis of one capture: the straight line capture -> decode -> flow ->
//! state machines, with memory bounded by the connections still live.
//!
//! Records are read in batches. rayon decodes a batch in parallel (decoding
//! is independent per frame); then, in frame order, fragments are reassembled,
//! frames are counted and each TCP segment gets its flow key. Segments go to
//! one of [`SHARDS`] shards by a hash of the key, so a connection lives in one
//! shard, and shards run in parallel: each places its segments into
//! connections (Wireshark's stream rule is per endpoint pair, so it is
//! shard-local), the new connections of all shards are numbered in frame
//! order (the global `tcp.stream` numbering), and each shard runs its
//! connections' RFC machines, sequence analysis and Zeek tracker.
//!
//! At the end of a batch each shard finishes and hands out connections that
//! are over (closed, and quiet for 2*MSL so TIME_WAIT has passed and late
//! retransmissions have come), idle past [`FlowLimits::idle_timeout_ns`], or,
//! when it holds more than its share of [`FlowLimits::max_connections`], the
//! ones over or idle longest. Decisions depend only on the capture (batch
//! boundaries are fixed frame counts, shards a fixed number), so the output
//! is the same whatever the thread count.

use rayon::prelude::*;
use serde::Serialize;

use crate::accounting::FrameAccounting;
use crate::anomaly::{Anomaly, AnomalyCode, AnomalyLog};
use crate::capture::{CaptureError, CaptureReader, FormatKind, Input, RawPacket};
use crate::decode::{decode_frame, DecodeOptions, Decoded, Frame, Outcome, Segment};
use crate::defrag::{DefragLimits, Reassembler};
use crate::flow::{Connection, Dir, FlowKey, FlowTable, KeyOptions, Keyer, Placement, UNNUMBERED};
use crate::seq_analysis::{Flag, SeqAnalyzer};
use crate::state_machine::{Config, PairedMachines, Side};
use crate::zeek::ZeekTracker;

/// Frames decoded per parallel batch.
const BATCH_FRAMES: usize = 16384;

/// Flow tables working in parallel. A constant, not the thread count, so
/// which connections share a table (and so the per-table limit) never
/// depends on the machine.
pub const SHARDS: usize = 64;

/// Told, after each batch, how many more input bytes were consumed and how
/// many frames have been read in all: for progress bars.
pub type Progress = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

/// How many connections are kept in memory, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowLimits {
    /// A connection with no packet for this long (capture time) is finished
    /// and reported; a later packet of its endpoints starts a new connection.
    pub idle_timeout_ns: i64,
    /// Live connections kept at most (split evenly between the shards); past
    /// it, the connections that are over, then those idle longest, are
    /// finished early.
    pub max_connections: usize,
}

impl Default for FlowLimits {
    /// Zeek's TCP inactivity timeout (5 min) and 100 000 live connections
    /// (about 150 MB).
    fn default() -> FlowLimits {
        FlowLimits {
            idle_timeout_ns: 300_000_000_000,
            max_connections: 100_000,
        }
    }
}

/// Connections finished before the end of the capture, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Evictions {
    /// Both sides had closed and the connection was quiet for 2*MSL.
    pub closed: u64,
    /// No packet for the idle timeout.
    pub idle: u64,
    /// The flow table was full.
    pub limit: u64,
}

impl Evictions {
    /// Adds another count to this one.
    pub fn add(&mut self, o: Evictions) {
        self.closed += o.closed;
        self.idle += o.idle;
        self.limit += o.limit;
    }

    /// All evictions.
    pub fn total(&self) -> u64 {
        self.closed + self.idle + self.limit
    }
}

/// What the analysis is asked to do.
#[derive(Clone, Default)]
pub struct Options {
    /// Timers and thresholds of the state machines.
    pub machines: Config,
    /// Progress reporting, if wanted.
    pub progress: Option<Progress>,
    /// What tells connections apart besides the endpoints (VLANs, tunnels).
    pub keys: KeyOptions,
    /// Checksum verification.
    pub decode: DecodeOptions,
    /// Bounds of IP fragment reassembly.
    pub defrag: DefragLimits,
    /// Bounds of the flow table.
    pub flows: FlowLimits,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("machines", &self.machines)
            .field("progress", &self.progress.is_some())
            .field("keys", &self.keys)
            .field("decode", &self.decode)
            .field("defrag", &self.defrag)
            .field("flows", &self.flows)
            .finish()
    }
}

/// One connection: its flow counters, its two RFC machines, its sequence
/// analysis, and Zeek's view.
#[derive(Clone, Debug)]
pub struct AnalysedConnection {
    /// Flow counters and endpoints.
    pub flow: Connection,
    /// TCP segments placed in connections.
    pub tcp: PairedMachines,
    /// Sequence number.
    pub seq: SeqAnalyzer,
    /// The segments the sequence analysis flagged.
    pub seq_anomalies: AnomalyLog,
    /// Zeek's view: conn_state and history.
    pub zeek: ZeekTracker,
}

impl AnalysedConnection {
    /// The listed anomalies in frame order (end-of-capture ones last); see
    /// [`AnomalyLog`] for how many of each code are listed.
    pub fn anomalies(&self) -> Vec<&Anomaly> {
        let mut v: Vec<&Anomaly> = self
            .tcp
            .anomalies()
            .iter()
            .chain(self.seq_anomalies.listed())
            .collect();
        v.sort_by_key(|a| a.frame.unwrap_or(u64::MAX));
        v
    }

    /// Occurrences of each code, listed or not, in catalogue order.
    pub fn anomaly_counts(&self) -> Vec<(AnomalyCode, u64)> {
        let mut v: Vec<(AnomalyCode, u64)> = self
            .tcp
            .anomaly_log()
            .counts()
            .iter()
            .chain(self.seq_anomalies.counts())
            .copied()
            .collect();
        v.sort_by_key(|&(code, _)| code);
        v.dedup_by(|b, a| {
            let same = a.0 == b.0;
            if same {
                a.1 += b.1;
            }
            same
        });
        v
    }

    /// Occurrences recorded but not listed.
    pub fn unlisted_anomalies(&self) -> u64 {
        self.tcp.anomaly_log().unlisted() + self.seq_anomalies.unlisted()
    }
}

/// The per-connection analysers while the capture is being read.
#[derive(Debug)]
struct Trackers {
    tcp: PairedMachines,
    seq: SeqAnalyzer,
    seq_anomalies: AnomalyLog,
    zeek: ZeekTracker,
}

impl Trackers {
    fn new(options: &Options) -> Trackers {
        Trackers {
            tcp: PairedMachines::new(options.machines),
            seq: SeqAnalyzer::new(),
            seq_anomalies: AnomalyLog::new(),
            zeek: ZeekTracker::new(),
        }
    }

    fn on_segment(&mut self, seg: &Segment, side: Side, reused_ports: bool) {
        self.tcp.on_segment(seg, side);
        self.zeek.on_segment(seg, side);
        let found = self.seq.on_segment(seg, side, reused_ports);
        for flag in found.flags.iter() {
            let detail = || match flag {
                Flag::DuplicateAck => format!(
                    "duplicate ACK #{} of {}",
                    found.duplicate_ack_count, seg.ack
                ),
                _ => format!("{} bytes at seq {}", seg.payload_len, seg.seq),
            };
            self.seq_anomalies.record(
                AnomalyCode::of_flag(flag),
                Some(seg.frame),
                Some(side),
                detail,
            );
        }
    }

    /// Ends the analysis at `end_ns`: timers and end-only conditions.
    fn finish(mut self, flow: Connection, end_ns: i64) -> AnalysedConnection {
        self.tcp.finish(end_ns);
        AnalysedConnection {
            flow,
            tcp: self.tcp,
            seq: self.seq,
            seq_anomalies: self.seq_anomalies,
            zeek: self.zeek,
        }
    }
}

/// Everything learnt from one capture, including a read error that cut it short.
#[derive(Debug)]
pub struct CaptureAnalysis {
    /// The input's name as given on the command line (`-` for stdin).
    pub file: String,
    /// None when the file could not even be opened or recognised.
    pub format: Option<FormatKind>,
    /// The input was gzip-compressed.
    pub compressed: bool,
    /// Time of the first frame, the origin of relative times.
    pub first_ts_ns: Option<i64>,
    /// Connections reported.
    pub connections: Vec<AnalysedConnection>,
    /// The frame accounting.
    pub accounting: FrameAccounting,
    /// SYNs that started a new connection on an endpoint pair already seen.
    pub port_reuses: u64,
    /// Connections finished before the end of the capture to free memory.
    pub evictions: Evictions,
    /// Errors that stopped reading a file; what was read before each is still
    /// analysed (with `--merge`, reading goes on with the next file).
    pub errors: Vec<CaptureError>,
}

impl CaptureAnalysis {
    /// An analysis of nothing: an input with no packets at all.
    pub fn empty(file: &str) -> CaptureAnalysis {
        CaptureAnalysis {
            file: file.to_string(),
            format: None,
            compressed: false,
            first_ts_ns: None,
            connections: Vec::new(),
            accounting: FrameAccounting::default(),
            port_reuses: 0,
            evictions: Evictions::default(),
            errors: Vec::new(),
        }
    }

    /// The first read error, if any.
    pub fn error(&self) -> Option<&CaptureError> {
        self.errors.first()
    }
}

/// Called for every TCP segment in frame order, with its stream index and direction.
pub type SegmentObserver<'a> = &'a mut dyn FnMut(&Segment, u64, Dir);

/// Given the connections as soon as they are finished, a batch at a time:
/// connections evicted during the capture (each batch in stream order), then
/// the rest in stream order. Batches let the writers render in parallel.
pub type ConnectionSink<'a> = &'a mut dyn FnMut(Vec<AnalysedConnection>);

/// Connections handed out at once at capture end.
const SINK_BATCH: usize = 4096;

/// Reads and analyses one input to its end or to its first unreadable byte.
pub fn analyze(input: &Input, options: &Options) -> CaptureAnalysis {
    collect(|sink| stream_inputs(std::slice::from_ref(input), options, None, sink))
}

/// Like [`analyze`], also showing every segment to `observer` as it is placed.
pub fn analyze_with(
    input: &Input,
    options: &Options,
    observer: SegmentObserver<'_>,
) -> CaptureAnalysis {
    analyze_merged(std::slice::from_ref(input), options, observer)
}

/// Analyses several files as one consecutive capture (the rotated files of
/// `tcpdump -G` or a dumpcap ring buffer): frame numbers continue from file to
/// file and connections that span files stay one. A file that cannot be read
/// is reported and the next one is read. Connections come back in stream order.
pub fn analyze_merged(
    inputs: &[Input],
    options: &Options,
    observer: SegmentObserver<'_>,
) -> CaptureAnalysis {
    collect(|sink| stream_inputs(inputs, options, Some(observer), sink))
}

/// Analyses an already-opened capture; connections come back in stream order.
pub fn analyze_reader(
    reader: CaptureReader,
    options: &Options,
    observer: SegmentObserver<'_>,
) -> CaptureAnalysis {
    let name = reader.name().to_string();
    collect(|sink| {
        analyze_readers(
            name,
            std::iter::once(Ok(reader)),
            options,
            Some(observer),
            sink,
        )
    })
}

/// Like [`analyze_merged`], but hands each connection to `sink` as soon as it
/// is finished instead of keeping them all, so memory follows the live
/// connections rather than the capture's size. The returned analysis has no
/// connections.
pub fn stream_merged(
    inputs: &[Input],
    options: &Options,
    sink: ConnectionSink<'_>,
) -> CaptureAnalysis {
    stream_inputs(inputs, options, None, sink)
}

fn stream_inputs(
    inputs: &[Input],
    options: &Options,
    observer: Option<SegmentObserver<'_>>,
    sink: ConnectionSink<'_>,
) -> CaptureAnalysis {
    let readers = inputs.iter().map(CaptureReader::open);
    analyze_readers(display_name(inputs), readers, options, observer, sink)
}

/// The name an analysis of these inputs goes by: their names joined by `+`.
pub fn display_name(inputs: &[Input]) -> String {
    inputs
        .iter()
        .map(Input::display_name)
        .collect::<Vec<_>>()
        .join("+")
}

/// Runs a streaming analysis and keeps its connections, in stream order.
fn collect(run: impl FnOnce(ConnectionSink<'_>) -> CaptureAnalysis) -> CaptureAnalysis {
    let mut connections = Vec::new();
    let mut analysis = run(&mut |batch| connections.extend(batch));
    connections.sort_by_key(|c| c.flow.stream);
    analysis.connections = connections;
    analysis
}

/// A batch of records copied out of the reader's buffer so they can be decoded in parallel.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// (frame, ts_ns, linktype, start in `bytes`, captured len, orig_len)
    records: Vec<(u64, i64, u16, usize, usize, u32)>,
}

impl Batch {
    /// Copies a packet in; `frame_offset` continues numbering across merged files.
    fn push(&mut self, p: &RawPacket<'_>, frame_offset: u64) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(p.data);
        self.records.push((
            p.frame + frame_offset,
            p.ts_ns,
            p.linktype,
            start,
            p.data.len(),
            p.orig_len,
        ));
    }

    /// Decodes every record into `frames` (cleared first; its buffer is
    /// reused), with the flow key and shard of each TCP segment whose key
    /// needs no shared state (no tunnel to intern).
    fn decode_into(&self, options: DecodeOptions, keys: KeyOptions, frames: &mut Vec<KeyedFrame>) {
        frames.clear();
        let decoded = self.records.par_iter().with_min_len(512).map(
            |&(frame, ts_ns, linktype, start, len, orig_len)| {
                let pkt = RawPacket {
                    frame,
                    ts_ns,
                    linktype,
                    data: &self.bytes[start..start + len],
                    orig_len,
                };
                let frame = decode_frame(&pkt, options);
                let key = match &frame.outcome {
                    Outcome::Decoded(Decoded::Tcp(seg)) => {
                        Keyer::plain_key(keys, seg).map(|k| (k, k.shard(SHARDS) as u32))
                    }
                    _ => None,
                };
                KeyedFrame { frame, key }
            },
        );
        frames.par_extend(decoded);
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
    }
}

/// A decoded frame and, for a TCP segment, its flow key and shard when they
/// could be worked out in parallel.
struct KeyedFrame {
    frame: Frame,
    key: Option<(FlowKey, u32)>,
}

/// What placing one segment did.
#[derive(Clone, Copy, Debug)]
enum Step {
    Placed(Placement),
    /// A segment with a bad checksum: only Zeek's history hears of it, in the
    /// connection it would have joined (slot, sent by the client).
    BadChecksum(Option<(u32, bool)>),
}

/// One shard: a flow table, its connections' analysers, and this batch's work.
#[derive(Default)]
struct Shard {
    flows: FlowTable<Trackers>,
    /// This batch's segments (index into the batch's segment list) and keys.
    input: Vec<(u32, FlowKey)>,
    /// What placing each input segment did.
    steps: Vec<Step>,
    /// Connections this batch started: (first frame, slot).
    new: Vec<(u64, u32)>,
    /// Connections finished in this batch.
    finished: Vec<AnalysedConnection>,
    /// Port reuse anomalies whose detail needs the stream number of a
    /// connection started in this batch: (new slot, frame, side, old slot).
    pending_details: Vec<(u32, u64, Side, u32)>,
    evictions: Evictions,
}

impl Shard {
    /// Places this batch's segments into connections (flow counters only;
    /// new connections get fresh analysers).
    fn place(&mut self, segs: &[&Segment], options: &Options) {
        self.steps.clear();
        self.new.clear();
        for &(i, key) in &self.input {
            let seg = segs[i as usize];
            let step = if seg.bad_checksum {
                Step::BadChecksum(self.flows.find(&key, seg))
            } else {
                let p = self.flows.add(key, seg, || Trackers::new(options));
                if p.new && self.flows.conn(p.slot).stream == UNNUMBERED {
                    self.new.push((seg.frame, p.slot));
                }
                Step::Placed(p)
            };
            self.steps.push(step);
        }
    }

    /// Runs the placed segments through their connections' analysers.
    fn follow(&mut self, segs: &[&Segment]) {
        let input = std::mem::take(&mut self.input);
        for (k, &(i, _)) in input.iter().enumerate() {
            let seg = segs[i as usize];
            match self.steps[k] {
                Step::Placed(p) => {
                    if let (true, Some(old)) = (p.new, p.replaced) {
                        self.note_port_reuse(old, p.slot, seg);
                    }
                    self.flows.data_mut(p.slot).on_segment(
                        seg,
                        side_of(p.from_client),
                        p.reused_ports,
                    );
                }
                Step::BadChecksum(Some((slot, from_client))) => {
                    // Zeek's rule: only the C history letter, otherwise ignored.
                    self.flows
                        .data_mut(slot)
                        .zeek
                        .on_bad_checksum(side_of(from_client));
                }
                Step::BadChecksum(None) => {}
            }
        }
        self.input = input;
    }

    /// A new connection took over the endpoint pair of connection `old`: if a
    /// side of `old` was still in TIME_WAIT, that is port reuse during TIME_WAIT.
    fn note_port_reuse(&mut self, old: u32, new: u32, seg: &Segment) {
        let Some(side) = self.flows.data_mut(old).tcp.reused_by(seg) else {
            return;
        };
        let old_stream = self.flows.conn(old).stream;
        let detail = if old_stream == UNNUMBERED {
            // `old` started in this batch: numbered once the batch is placed.
            self.pending_details.push((new, seg.frame, side, old));
            String::new()
        } else {
            port_reuse_detail(side, old_stream)
        };
        self.flows.data_mut(new).tcp.report(Anomaly {
            code: AnomalyCode::PortReuseInTimeWait,
            frame: Some(seg.frame),
            side: Some(Side::Client),
            detail,
        });
    }

    /// Writes the details that waited for this batch's stream numbers.
    fn write_pending_details(&mut self) {
        for (new, frame, side, old) in std::mem::take(&mut self.pending_details) {
            let detail = port_reuse_detail(side, self.flows.conn(old).stream);
            self.flows.data_mut(new).tcp.set_anomaly_detail(
                AnomalyCode::PortReuseInTimeWait,
                frame,
                detail,
            );
        }
    }

    /// Finishes the connection in `slot` at `end_ns` and frees its slot.
    fn finish(&mut self, slot: u32, end_ns: i64) -> Option<AnalysedConnection> {
        let (flow, t) = self.flows.remove(slot)?;
        Some(t.finish(flow, end_ns))
    }

    /// Finishes the connections that are over or idle at `now_ns` (when
    /// `sweep`), then, while the shard holds more than `limit`, those over or
    /// idle longest.
    fn evict(&mut self, now_ns: i64, sweep: bool, limit: usize, options: &Options) {
        let linger = options.machines.msl_ns.saturating_mul(2);
        let idle = options.flows.idle_timeout_ns;
        if sweep {
            let mut due = Vec::new();
            for (slot, conn, t) in self.flows.live() {
                let quiet = now_ns.saturating_sub(conn.end_ns);
                let over = t.tcp.is_over();
                if over && quiet >= linger {
                    due.push((slot, true));
                } else if quiet >= idle {
                    due.push((slot, false));
                }
            }
            for (slot, over) in due {
                // An idle connection ends at its timeout, not at the sweep,
                // so what it reports does not depend on when sweeps run.
                let end = if over {
                    now_ns
                } else {
                    self.flows.conn(slot).end_ns.saturating_add(idle)
                };
                if let Some(c) = self.finish(slot, end) {
                    if over {
                        self.evictions.closed += 1;
                    } else {
                        self.evictions.idle += 1;
                    }
                    self.finished.push(c);
                }
            }
        }
        if self.flows.len() > limit {
            // Down to 7/8 of the limit, so the next few new connections do
            // not each cost a pass over the table.
            let keep = limit - limit / 8;
            let mut order: Vec<(bool, i64, u64, u32)> = self
                .flows
                .live()
                .map(|(slot, c, t)| (!t.tcp.is_over(), c.end_ns, c.stream, slot))
                .collect();
            let excess = order.len() - keep;
            order.select_nth_unstable(excess - 1);
            for &(open, end_ns, _, slot) in &order[..excess] {
                // A connection that is over ends as it will once its
                // TIME_WAIT has run, as if there had been room to wait for
                // it; an open one ends as it stands now.
                let end = if open {
                    now_ns
                } else {
                    now_ns.max(end_ns.saturating_add(linger))
                };
                if let Some(c) = self.finish(slot, end) {
                    self.evictions.limit += 1;
                    self.finished.push(c);
                }
            }
        }
    }
}

/// The state of one analysis while the capture is read.
struct Engine<'o, 'b, 's> {
    options: &'o Options,
    observer: Option<SegmentObserver<'b>>,
    sink: ConnectionSink<'s>,
    accounting: FrameAccounting,
    keyer: Keyer,
    defrag: Reassembler,
    shards: Vec<Shard>,
    /// Live connections allowed per shard.
    shard_limit: usize,
    next_stream: u64,
    last_ts: i64,
    /// Capture time of the next look for connections to evict.
    next_sweep_ns: i64,
    sweep_every_ns: i64,
    /// The decoded frames of the batch being analysed (kept for its buffer).
    frames: Vec<KeyedFrame>,
}

impl<'o, 'b, 's> Engine<'o, 'b, 's> {
    fn new(
        options: &'o Options,
        observer: Option<SegmentObserver<'b>>,
        sink: ConnectionSink<'s>,
    ) -> Self {
        let linger = options.machines.msl_ns.saturating_mul(2);
        let soonest = linger.min(options.flows.idle_timeout_ns);
        let shard_limit = options.flows.max_connections.div_ceil(SHARDS).max(1);
        Engine {
            options,
            observer,
            sink,
            accounting: FrameAccounting::default(),
            keyer: Keyer::new(options.keys),
            defrag: Reassembler::new(options.defrag),
            shards: (0..SHARDS)
                .map(|_| Shard {
                    flows: FlowTable::remembering(shard_limit),
                    ..Shard::default()
                })
                .collect(),
            shard_limit,
            next_stream: 0,
            last_ts: i64::MIN,
            next_sweep_ns: i64::MIN,
            // A connection is finished at most 1/16 of its timeout late.
            sweep_every_ns: (soonest / 16).max(1_000_000),
            frames: Vec::new(),
        }
    }

    /// Decodes and analyses one batch of frames.
    fn process(&mut self, batch: &mut Batch) {
        if batch.records.is_empty() {
            return;
        }
        let mut frames = std::mem::take(&mut self.frames);
        batch.decode_into(self.options.decode, self.options.keys, &mut frames);
        if let Some(&(_, ts, ..)) = batch.records.iter().max_by_key(|r| r.1) {
            self.last_ts = self.last_ts.max(ts);
        }
        batch.clear();
        // In frame order: reassembly, accounting, keys.
        let mut reassembled: Vec<Segment> = Vec::new();
        // Where each TCP segment is: Ok(index into frames) or Err(index into reassembled).
        let mut order: Vec<Result<u32, u32>> = Vec::with_capacity(frames.len());
        for (idx, kf) in frames.iter().enumerate() {
            let frame = &kf.frame;
            self.accounting.count_encaps(frame.encaps);
            match &frame.outcome {
                Outcome::Decoded(d) => {
                    self.accounting.count(d);
                    if let Decoded::Tcp(_) = d {
                        order.push(Ok(idx as u32));
                    }
                }
                // Fragments wait here, in frame order, until their datagram is whole.
                Outcome::Fragment(f) => {
                    if let Some(d) = self.defrag.resolve(f.clone(), &mut self.accounting) {
                        self.accounting.count(&d);
                        if let Decoded::Tcp(seg) = d {
                            order.push(Err(reassembled.len() as u32));
                            reassembled.push(seg);
                        }
                    }
                }
            }
        }
        let mut segs: Vec<&Segment> = Vec::with_capacity(order.len());
        for o in &order {
            let (seg, key) = match *o {
                Ok(i) => match &frames[i as usize] {
                    KeyedFrame {
                        frame:
                            Frame {
                                outcome: Outcome::Decoded(Decoded::Tcp(seg)),
                                ..
                            },
                        key,
                    } => (seg, *key),
                    _ => continue,
                },
                Err(i) => match reassembled.get(i as usize) {
                    Some(seg) => (seg, None),
                    None => continue,
                },
            };
            let (key, shard) = key.unwrap_or_else(|| {
                let k = self.keyer.key(seg);
                (k, k.shard(SHARDS) as u32)
            });
            self.shards[shard as usize]
                .input
                .push((segs.len() as u32, key));
            segs.push(seg);
        }
        let options = self.options;
        // Placing needs no stream numbers, so each shard places and follows
        // its segments in one go; the numbers are given afterwards.
        self.shards.par_iter_mut().for_each(|s| {
            s.place(&segs, options);
            s.follow(&segs);
        });
        self.number_new_connections();
        for s in &mut self.shards {
            s.write_pending_details();
        }
        if let Some(observer) = self.observer.as_mut() {
            show_segments(&self.shards, &segs, observer);
        }
        for s in &mut self.shards {
            s.input.clear();
        }
        drop(segs);
        let now = self.last_ts;
        let sweep = now >= self.next_sweep_ns;
        if sweep {
            self.next_sweep_ns = now.saturating_add(self.sweep_every_ns);
        }
        let limit = self.shard_limit;
        if sweep || self.shards.iter().any(|s| s.flows.len() > limit) {
            self.shards
                .par_iter_mut()
                .for_each(|s| s.evict(now, sweep, limit, options));
        }
        self.frames = frames;
        self.hand_out();
    }

    /// Gives this batch's new connections their `tcp.stream` numbers, in
    /// order of their first frame across all shards.
    fn number_new_connections(&mut self) {
        let mut new: Vec<(u64, usize, u32)> = Vec::new();
        for (i, s) in self.shards.iter().enumerate() {
            new.extend(s.new.iter().map(|&(frame, slot)| (frame, i, slot)));
        }
        new.sort_unstable();
        for (_, shard, slot) in new {
            self.shards[shard].flows.set_stream(slot, self.next_stream);
            self.next_stream += 1;
        }
    }

    /// Passes the connections finished so far to the sink, in stream order.
    fn hand_out(&mut self) {
        let mut done: Vec<AnalysedConnection> = Vec::new();
        for s in &mut self.shards {
            done.append(&mut s.finished);
        }
        if !done.is_empty() {
            done.sort_unstable_by_key(|c| c.flow.stream);
            (self.sink)(done);
        }
    }

    /// Ends the analysis: every live connection is finished at the capture's end.
    fn finish(mut self) -> (FrameAccounting, u64, Evictions) {
        let defrag = std::mem::replace(&mut self.defrag, Reassembler::new(self.options.defrag));
        self.accounting.count_fragments(defrag.finish());
        // A batch at a time, in stream order, so the connections still live
        // at the end are never all materialised at once.
        let mut live: Vec<(u64, usize, u32)> = Vec::new();
        for (i, s) in self.shards.iter().enumerate() {
            live.extend(s.flows.live().map(|(slot, c, _)| (c.stream, i, slot)));
        }
        live.sort_unstable();
        let end = self.last_ts;
        for chunk in live.chunks(SINK_BATCH) {
            let batch: Vec<AnalysedConnection> = chunk
                .iter()
                .filter_map(|&(_, shard, slot)| self.shards[shard].finish(slot, end))
                .collect();
            (self.sink)(batch);
        }
        let mut evictions = Evictions::default();
        let mut port_reuses = 0;
        for s in &self.shards {
            evictions.add(s.evictions);
            port_reuses += s.flows.port_reuses();
        }
        (self.accounting, port_reuses, evictions)
    }
}

/// Shows each segment of a batch to the observer, in frame order.
fn show_segments(shards: &[Shard], segs: &[&Segment], observer: &mut SegmentObserver<'_>) {
    let mut placed: Vec<Option<(u64, Dir)>> = vec![None; segs.len()];
    for s in shards {
        for (k, &(i, _)) in s.input.iter().enumerate() {
            if let Step::Placed(p) = s.steps[k] {
                placed[i as usize] = Some((s.flows.conn(p.slot).stream, p.dir));
            }
        }
    }
    for (seg, p) in segs.iter().zip(placed) {
        if let Some((stream, dir)) = p {
            observer(seg, stream, dir);
        }
    }
}

/// What the reading thread learnt about the inputs.
#[derive(Default)]
struct ReadSummary {
    format: Option<FormatKind>,
    compressed: bool,
    errors: Vec<CaptureError>,
    first_ts: Option<i64>,
}

/// Reads the inputs into batches of records and sends each full batch on,
/// taking emptied batches back from `recycled` so buffers are reused.
fn read_batches(
    readers: impl Iterator<Item = Result<CaptureReader, CaptureError>>,
    progress: Option<&Progress>,
    full: std::sync::mpsc::SyncSender<Batch>,
    recycled: std::sync::mpsc::Receiver<Batch>,
) -> ReadSummary {
    let mut out = ReadSummary::default();
    let mut frame_offset = 0;
    let mut batch = Batch::default();
    for reader in readers {
        let mut reader = match reader {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(e);
                continue;
            }
        };
        out.format.get_or_insert(reader.format());
        out.compressed |= reader.is_compressed();
        let mut reported = 0;
        loop {
            match reader.next_packet() {
                Ok(Some(p)) => {
                    out.first_ts.get_or_insert(p.ts_ns);
                    batch.push(&p, frame_offset);
                    if batch.records.len() >= BATCH_FRAMES {
                        let next = recycled.try_recv().unwrap_or_default();
                        if full.send(std::mem::replace(&mut batch, next)).is_err() {
                            return out;
                        }
                        if let (Some(progress), false) = (progress, reader.is_compressed()) {
                            progress(
                                reader.offset() - reported,
                                frame_offset + reader.frames_read(),
                            );
                            reported = reader.offset();
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.errors.push(e);
                    break;
                }
            }
        }
        frame_offset += reader.frames_read();
    }
    if !batch.records.is_empty() {
        let _ = full.send(batch);
    }
    out
}

/// Analyses the readers' packets as one capture, in order. A thread reads
/// the next batch while this one analyses the last, so reading (system
/// calls, record parsing, copying) overlaps with the work on the records.
fn analyze_readers(
    name: String,
    readers: impl Iterator<Item = Result<CaptureReader, CaptureError>> + Send,
    options: &Options,
    observer: Option<SegmentObserver<'_>>,
    sink: ConnectionSink<'_>,
) -> CaptureAnalysis {
    let mut engine = Engine::new(options, observer, sink);
    let read = std::thread::scope(|scope| {
        // Two batches in flight: one being analysed, one being filled.
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Batch>(1);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Batch>();
        let progress = options.progress.as_ref();
        let reader = scope.spawn(move || read_batches(readers, progress, full_tx, empty_rx));
        for mut batch in full_rx {
            engine.process(&mut batch);
            let _ = empty_tx.send(batch);
        }
        drop(empty_tx);
        match reader.join() {
            Ok(read) => read,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    let (accounting, port_reuses, evictions) = engine.finish();
    CaptureAnalysis {
        file: name,
        format: read.format,
        compressed: read.compressed,
        first_ts_ns: read.first_ts,
        port_reuses,
        evictions,
        connections: Vec::new(),
        accounting,
        errors: read.errors,
    }
}

fn port_reuse_detail(side: Side, old_stream: u64) -> String {
    format!("the {side} of stream {old_stream} was still in TIME_WAIT")
}

fn side_of(from_client: bool) -> Side {
    if from_client {
        Side::Client
    } else {
        Side::Server
    }
}
