//! Analysis of one capture: the straight line capture -> decode -> flow ->
//! state machines.
//!
//! Records are read in batches; rayon decodes a batch in parallel (decoding is
//! independent per frame), then segments are placed into connections in frame
//! order, which stream numbering requires, and each connection's RFC machines
//! and Zeek tracker follow its segments as they come.

use rayon::prelude::*;

use crate::accounting::FrameAccounting;
use crate::anomaly::{Anomaly, AnomalyCode};
use crate::capture::{CaptureError, CaptureReader, FormatKind, Input, RawPacket};
use crate::decode::{decode_frame, DecodeOptions, Decoded, Frame, Outcome, Segment};
use crate::defrag::{DefragLimits, Reassembler};
use crate::flow::{Connection, Dir, FlowTable, KeyOptions};
use crate::seq_analysis::{Flag, SeqAnalyzer};
use crate::state_machine::{Config, PairedMachines, Side};
use crate::zeek::ZeekTracker;

/// Frames decoded per parallel batch.
const BATCH_FRAMES: usize = 8192;

/// Told, after each batch, how many more input bytes were consumed and how
/// many frames have been read in all: for progress bars.
pub type Progress = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

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
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("machines", &self.machines)
            .field("progress", &self.progress.is_some())
            .field("keys", &self.keys)
            .field("decode", &self.decode)
            .field("defrag", &self.defrag)
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
    /// One entry per segment the sequence analysis flagged.
    pub seq_anomalies: Vec<Anomaly>,
    /// Zeek's view: conn_state and history.
    pub zeek: ZeekTracker,
}

impl AnalysedConnection {
    /// All anomalies in frame order (end-of-capture ones last).
    pub fn anomalies(&self) -> Vec<&Anomaly> {
        let mut v: Vec<&Anomaly> = self
            .tcp
            .anomalies()
            .iter()
            .chain(&self.seq_anomalies)
            .collect();
        v.sort_by_key(|a| a.frame.unwrap_or(u64::MAX));
        v
    }
}

/// The per-connection analysers while the capture is being read.
#[derive(Debug)]
struct Trackers {
    tcp: PairedMachines,
    seq: SeqAnalyzer,
    seq_anomalies: Vec<Anomaly>,
    zeek: ZeekTracker,
}

impl Trackers {
    fn new(options: &Options) -> Trackers {
        Trackers {
            tcp: PairedMachines::new(options.machines),
            seq: SeqAnalyzer::new(),
            seq_anomalies: Vec::new(),
            zeek: ZeekTracker::new(),
        }
    }

    fn on_segment(&mut self, seg: &Segment, side: Side, reused_ports: bool) {
        self.tcp.on_segment(seg, side);
        self.zeek.on_segment(seg, side);
        let found = self.seq.on_segment(seg, side, reused_ports);
        for flag in found.flags.iter() {
            let detail = match flag {
                Flag::DuplicateAck => format!(
                    "duplicate ACK #{} of {}",
                    found.duplicate_ack_count, seg.ack
                ),
                _ => format!("{} bytes at seq {}", seg.payload_len, seg.seq),
            };
            self.seq_anomalies.push(Anomaly {
                code: AnomalyCode::of_flag(flag),
                frame: Some(seg.frame),
                side: Some(side),
                detail,
            });
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

/// Reads and analyses one input to its end or to its first unreadable byte.
pub fn analyze(input: &Input, options: &Options) -> CaptureAnalysis {
    analyze_with(input, options, &mut |_, _, _| {})
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
/// is reported and the next one is read.
pub fn analyze_merged(
    inputs: &[Input],
    options: &Options,
    observer: SegmentObserver<'_>,
) -> CaptureAnalysis {
    let name = inputs
        .iter()
        .map(Input::display_name)
        .collect::<Vec<_>>()
        .join("+");
    let readers = inputs.iter().map(CaptureReader::open);
    analyze_readers(name, readers, options, observer)
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

    fn decode_all(&self, options: DecodeOptions) -> Vec<Frame> {
        self.records
            .par_iter()
            .with_min_len(256)
            .map(|&(frame, ts_ns, linktype, start, len, orig_len)| {
                let pkt = RawPacket {
                    frame,
                    ts_ns,
                    linktype,
                    data: &self.bytes[start..start + len],
                    orig_len,
                };
                decode_frame(&pkt, options)
            })
            .collect()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
    }
}

/// Analyses an already-opened capture.
pub fn analyze_reader(
    reader: CaptureReader,
    options: &Options,
    observer: SegmentObserver<'_>,
) -> CaptureAnalysis {
    let name = reader.name().to_string();
    analyze_readers(name, std::iter::once(Ok(reader)), options, observer)
}

/// Analyses the readers' packets as one capture, in order.
fn analyze_readers(
    name: String,
    readers: impl Iterator<Item = Result<CaptureReader, CaptureError>>,
    options: &Options,
    observer: SegmentObserver<'_>,
) -> CaptureAnalysis {
    let mut format = None;
    let mut compressed = false;
    let mut errors = Vec::new();
    let mut frame_offset = 0;
    let mut accounting = FrameAccounting::default();
    let mut flows = FlowTable::with_keys(options.keys);
    let mut defrag = Reassembler::new(options.defrag);
    let mut trackers: Vec<Trackers> = Vec::new();
    let mut last_ts = i64::MIN;
    let mut first_ts = None;
    let mut batch = Batch::default();
    let mut process = |batch: &mut Batch| {
        for frame in batch.decode_all(options.decode) {
            // Fragments wait here, in frame order, until their datagram is whole.
            accounting.count_encaps(frame.encaps);
            let reassembled;
            let d = match frame.outcome {
                Outcome::Decoded(ref d) => d,
                Outcome::Fragment(f) => match defrag.resolve(f, &mut accounting) {
                    Some(d) => {
                        reassembled = d;
                        &reassembled
                    }
                    None => continue,
                },
            };
            accounting.count(d);
            if let Decoded::Tcp(seg) = d {
                if seg.bad_checksum {
                    // Zeek's rule: only the C history letter, otherwise ignored.
                    if let Some((stream, from_client)) = flows.find(seg) {
                        trackers[stream as usize]
                            .zeek
                            .on_bad_checksum(side_of(from_client));
                    }
                    continue;
                }
                let place = flows.add(seg);
                if place.new {
                    trackers.push(Trackers::new(options));
                    if let Some(old) = place.replaced {
                        note_port_reuse(&mut trackers, old as usize, seg);
                    }
                }
                let side = side_of(place.from_client);
                trackers[place.stream as usize].on_segment(seg, side, place.reused_ports);
                observer(seg, place.stream, place.dir);
            }
        }
        batch.clear();
    };
    for reader in readers {
        let mut reader = match reader {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        format.get_or_insert(reader.format());
        compressed |= reader.is_compressed();
        let mut reported = 0;
        loop {
            match reader.next_packet() {
                Ok(Some(p)) => {
                    last_ts = last_ts.max(p.ts_ns);
                    first_ts.get_or_insert(p.ts_ns);
                    batch.push(&p, frame_offset);
                    if batch.records.len() >= BATCH_FRAMES {
                        process(&mut batch);
                        if let (Some(progress), false) = (&options.progress, reader.is_compressed())
                        {
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
                    errors.push(e);
                    break;
                }
            }
        }
        frame_offset += reader.frames_read();
    }
    process(&mut batch);
    accounting.count_fragments(defrag.finish());
    let port_reuses = flows.port_reuses();
    let connections = flows
        .into_connections()
        .into_iter()
        .zip(trackers)
        .map(|(flow, t)| {
            let mut tcp = t.tcp;
            tcp.finish(last_ts);
            AnalysedConnection {
                flow,
                tcp,
                seq: t.seq,
                seq_anomalies: t.seq_anomalies,
                zeek: t.zeek,
            }
        })
        .collect();
    CaptureAnalysis {
        file: name,
        format,
        compressed,
        first_ts_ns: first_ts,
        port_reuses,
        connections,
        accounting,
        errors,
    }
}

fn side_of(from_client: bool) -> Side {
    if from_client {
        Side::Client
    } else {
        Side::Server
    }
}

/// A new connection took over the endpoint pair of connection `old`: if a side
/// of `old` was still in TIME_WAIT, that is port reuse during TIME_WAIT.
fn note_port_reuse(trackers: &mut [Trackers], old: usize, seg: &Segment) {
    let new = trackers.len() - 1;
    let Some(side) = trackers[old].tcp.reused_by(seg) else {
        return;
    };
    trackers[new].tcp.report(Anomaly {
        code: AnomalyCode::PortReuseInTimeWait,
        frame: Some(seg.frame),
        side: Some(Side::Client),
        detail: format!("the {side} of stream {old} was still in TIME_WAIT"),
    });
}
