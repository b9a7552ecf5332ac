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

use super::accounting::FrameAccounting;
use super::analysis::{Analysis, Evictions};
use super::connection::Connection;
use super::options::Options;
use super::reader::{read_batches, Batch};
use super::shard::{KeyedFrame, Shard, Step, SHARDS};
use super::source::Sources;
use super::warnings::{merge_warnings, ChecksumSenders};
use crate::decode::defrag::Reassembler;
use crate::decode::{Content, Decoded, Frame};
use crate::flow::{FlowTable, Keyer};
use crate::model::{Segment, Side};
use crate::tcp::zeek::{ZeekRecord, ZeekSessions};

/// Called for every TCP segment in frame order, with its stream index and
/// its sender.
pub type SegmentObserver<'a> = &'a mut dyn FnMut(&Segment, u64, Side);

/// Given the connections as soon as they are finished, a batch at a time:
/// connections evicted during the capture (each batch in stream order), then
/// the rest in stream order. Batches let the writers render in parallel.
pub type ConnectionSink<'a> = &'a mut dyn FnMut(Vec<Connection>);

/// Connections handed out at once at capture end.
const SINK_BATCH: usize = 4096;

/// Runs an analysis and keeps its connections, in stream order.
pub(crate) fn collect(
    name: String,
    sources: Sources<'_>,
    options: &Options,
    observer: Option<SegmentObserver<'_>>,
) -> Analysis {
    let mut connections = Vec::new();
    let mut analysis = run(name, sources, options, observer, &mut |batch| {
        connections.extend(batch)
    });
    connections.sort_by_key(|c| c.flow.stream);
    analysis.connections = connections;
    analysis
}

/// The state of one analysis while the capture is read.
struct Engine<'o, 'b, 's> {
    options: &'o Options,
    observer: Option<SegmentObserver<'b>>,
    sink: ConnectionSink<'s>,
    accounting: FrameAccounting,
    /// Verified segments per sender, with `--verify-checksums`.
    checksums: Option<ChecksumSenders>,
    keyer: Keyer,
    defrag: Reassembler,
    shards: Vec<Shard>,
    /// Live connections allowed per shard.
    shard_limit: usize,
    next_stream: u64,
    last_ts: i64,
    /// The latest timestamp read so far at each frame of the batch: Zeek's
    /// network time, which runs its timers (kept for its buffer).
    frame_clocks: Vec<i64>,
    /// Zeek records with no connection of their own (all their packets had
    /// bad checksums), in the order they ended; at most
    /// `FlowLimits::max_connections`, the others only counted.
    zeek_unattached: Vec<ZeekRecord>,
    zeek_unattached_dropped: u64,
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
            checksums: options
                .decode
                .verify_checksums
                .then(ChecksumSenders::default),
            keyer: Keyer::new(options.keys),
            defrag: Reassembler::new(options.defrag),
            shards: (0..SHARDS)
                .map(|_| Shard {
                    flows: FlowTable::remembering(shard_limit),
                    zeek: ZeekSessions::new(options.zeek),
                    ..Shard::default()
                })
                .collect(),
            shard_limit,
            next_stream: 0,
            last_ts: i64::MIN,
            frame_clocks: Vec::new(),
            zeek_unattached: Vec::new(),
            zeek_unattached_dropped: 0,
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
        self.frame_clocks.clear();
        let mut clock = self.last_ts;
        for r in &batch.records {
            clock = clock.max(r.1);
            self.frame_clocks.push(clock);
        }
        self.last_ts = clock;
        batch.clear();
        // In frame order: reassembly, accounting, keys.
        // Segments not held in `frames` (reassembled, or an A-MSDU's after
        // its first), each with the index of the frame that carried it.
        let mut reassembled: Vec<(Segment, usize)> = Vec::new();
        // Where each TCP segment is: Ok(index into frames) or Err(index into reassembled).
        let mut order: Vec<Result<u32, u32>> = Vec::with_capacity(frames.len());
        for (idx, kf) in frames.iter().enumerate() {
            let frame = &kf.frame;
            self.accounting.count_frame(frame.more.len() as u64);
            self.accounting.count_encaps(frame.encaps);
            let packets = std::iter::once(&frame.content).chain(&frame.more);
            for (nth, content) in packets.enumerate() {
                match content {
                    Content::Decoded(d) => {
                        self.accounting.count(d);
                        if let Decoded::Tcp(seg) = d {
                            if let Some(c) = &mut self.checksums {
                                c.count(seg);
                            }
                            if nth == 0 {
                                order.push(Ok(idx as u32));
                            } else {
                                order.push(Err(reassembled.len() as u32));
                                reassembled.push((seg.clone(), idx));
                            }
                        }
                    }
                    // Fragments wait here, in frame order, until their datagram is whole.
                    Content::Fragment(f) => {
                        let r = self.defrag.resolve(f.clone());
                        for encaps in r.revealed {
                            self.accounting.count_encaps(encaps);
                        }
                        self.accounting.amsdu_subframes += r.extra;
                        for d in r.decoded {
                            self.accounting.count(&d);
                            if let Decoded::Tcp(seg) = d {
                                if let Some(c) = &mut self.checksums {
                                    c.count(&seg);
                                }
                                order.push(Err(reassembled.len() as u32));
                                reassembled.push((seg, idx));
                            }
                        }
                    }
                }
            }
        }
        let mut segs: Vec<&Segment> = Vec::with_capacity(order.len());
        let mut clocks: Vec<i64> = Vec::with_capacity(order.len());
        for o in &order {
            let (seg, key, at) = match *o {
                Ok(i) => match &frames[i as usize] {
                    KeyedFrame {
                        frame:
                            Frame {
                                content: Content::Decoded(Decoded::Tcp(seg)),
                                ..
                            },
                        key,
                    } => (seg, *key, i as usize),
                    _ => continue,
                },
                Err(i) => match reassembled.get(i as usize) {
                    Some((seg, at)) => (seg, None, *at),
                    None => continue,
                },
            };
            clocks.push(self.frame_clocks.get(at).copied().unwrap_or(self.last_ts));
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
            s.follow(&segs, &clocks);
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
            // Twice the idle timeout: a pairing outlives its connection's
            // idle eviction, so a late segment still finds the tomb's key.
            let idle = self.options.flows.idle_timeout_ns;
            self.keyer
                .forget_before(now.saturating_sub(idle.saturating_mul(2)));
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
        let mut done: Vec<Connection> = Vec::new();
        for s in &mut self.shards {
            done.append(&mut s.finished);
        }
        self.keep_unattached();
        if !done.is_empty() {
            done.sort_unstable_by_key(|c| c.flow.stream);
            (self.sink)(done);
        }
    }

    /// Takes the shards' Zeek records that no connection holds, keeping at
    /// most `max_connections` of them so a flood of bad-checksum packets
    /// cannot grow memory without bound (the rest are counted).
    fn keep_unattached(&mut self) {
        let room = self.options.flows.max_connections;
        for s in &mut self.shards {
            for r in s.zeek_unattached.drain(..) {
                if self.zeek_unattached.len() < room {
                    self.zeek_unattached.push(r);
                } else {
                    self.zeek_unattached_dropped += 1;
                }
            }
        }
    }

    /// Ends the analysis: every live connection is finished at the capture's end.
    fn finish(
        mut self,
    ) -> (
        FrameAccounting,
        u64,
        Evictions,
        Option<ChecksumSenders>,
        (Vec<ZeekRecord>, u64),
    ) {
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
            let batch: Vec<Connection> = chunk
                .iter()
                .filter_map(|&(_, shard, slot)| self.shards[shard].finish(slot, end))
                .collect();
            (self.sink)(batch);
        }
        let mut evictions = Evictions::default();
        let mut port_reuses = 0;
        for s in &mut self.shards {
            evictions.add(s.evictions);
            port_reuses += s.flows.port_reuses();
            s.zeek.finish_all();
            s.settle_zeek();
        }
        self.keep_unattached();
        let mut unattached = std::mem::take(&mut self.zeek_unattached);
        unattached.sort_by_key(|r| r.first_frame);
        let dropped = self.zeek_unattached_dropped;
        (
            self.accounting,
            port_reuses,
            evictions,
            self.checksums,
            (unattached, dropped),
        )
    }
}

/// Shows each segment of a batch to the observer, in frame order.
fn show_segments(shards: &[Shard], segs: &[&Segment], observer: &mut SegmentObserver<'_>) {
    let mut placed: Vec<Option<(u64, Side)>> = vec![None; segs.len()];
    for s in shards {
        for (k, &(i, _)) in s.input.iter().enumerate() {
            if let Step::Placed(p) = s.steps[k] {
                placed[i as usize] = Some((s.flows.conn(p.slot).stream, p.side));
            }
        }
    }
    for (seg, p) in segs.iter().zip(placed) {
        if let Some((stream, side)) = p {
            observer(seg, stream, side);
        }
    }
}

/// Analyses the readers' packets as one capture, in order. A thread reads
/// the next batch while this one analyses the last, so reading (system
/// calls, record parsing, copying) overlaps with the work on the records.
pub(crate) fn run(
    name: String,
    readers: Sources<'_>,
    options: &Options,
    observer: Option<SegmentObserver<'_>>,
    sink: ConnectionSink<'_>,
) -> Analysis {
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
    let (accounting, port_reuses, evictions, checksums, (zeek_unattached, zeek_unattached_dropped)) =
        engine.finish();
    let mut warnings = merge_warnings(&read.spans);
    warnings.extend(checksums.and_then(|c| c.offload_warning()));
    Analysis {
        file: name,
        format: read.format,
        compressed: read.compressed,
        first_ts_ns: read.first_ts,
        port_reuses,
        evictions,
        connections: Vec::new(),
        accounting,
        zeek_unattached,
        zeek_unattached_dropped,
        errors: read.errors,
        warnings,
    }
}
