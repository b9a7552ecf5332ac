//! Analysis of one capture: the straight line capture -> decode -> flow ->
//! state machines, with memory bounded by the connections still live.
//!
//! Records arrive in batches (cut by size, or by wall time on a live pipe).
//! rayon decodes a batch in parallel (decoding is independent per frame);
//! then, in frame order, fragments are reassembled, frames are counted, each
//! TCP segment gets its flow key, and the capture clock (the latest frame
//! time so far) advances. Segments go to one of [`SHARDS`] shards by a hash
//! of the key, so a connection lives in one shard, and shards run in
//! parallel: each places its segments into connections (Wireshark's stream
//! rule is per endpoint pair, so it is shard-local), the new connections of
//! all shards are numbered in frame order (the global `tcp.stream`
//! numbering), and each shard runs its connections' RFC machines, sequence
//! analysis and Zeek tracker.
//!
//! Connections are finished at checks: whenever the clock passes the next
//! check time (see `check_interval_ns`) and every [`CHECK_FRAMES`] frames.
//! A check finishes, in every shard, the connections that are over (closed,
//! and quiet for 2*MSL so TIME_WAIT has passed and late retransmissions have
//! come) or idle past [`FlowLimits::idle_timeout_ns`] (found through a queue
//! of deadlines, not a scan), then, when a shard holds more than its share
//! of [`FlowLimits::max_connections`], the ones over or idle longest.
//! Besides, a segment whose connection has been idle past the timeout
//! finishes it before starting the next part of its stream. Checks depend
//! only on the frames (never on batch boundaries, shards are a fixed number),
//! so the output is the same whatever the thread count and however a pipe
//! delivers the capture.
//!
//! A shard runs a whole batch in one go, its checks included, so the
//! threads meet once per batch, not once per check (a slow capture has a
//! check every second of capture time, many per batch). Until the batch's
//! new connections are numbered they carry provisional numbers, which sort
//! as the real ones will. Then everything the batch's checks finished goes
//! to the sink: check by check, each check's connections in stream order.
//!
//! [`FlowLimits::idle_timeout_ns`]: super::FlowLimits::idle_timeout_ns
//! [`FlowLimits::max_connections`]: super::FlowLimits::max_connections

use rayon::prelude::*;

use super::accounting::{EncapTally, FrameAccounting};
use super::analysis::{Analysis, Evictions};
use super::connection::Connection;
use super::options::Options;
use super::reader::{read_batches, Batch};
use super::shard::{Check, KeyedFrame, Shard, Step, SHARDS};
use super::source::Sources;
use super::warnings::{merge_warnings, ChecksumSenders};
use crate::decode::defrag::Reassembler;
use crate::decode::{Content, Decoded};
use crate::flow::{FlowTable, Keyer};
use crate::model::{Endpoint, Path, Segment, Side, TcpFlags, TcpOptions, WireFacts};
use crate::tcp::zeek::{ZeekRecord, ZeekSessions};

/// Called for every TCP segment in frame order, with its stream index and
/// its sender.
pub type SegmentObserver<'a> = &'a mut dyn FnMut(&Segment, u64, Side);

/// Given the connections as soon as they are finished, a batch at a time:
/// those finished at each check during the capture (each batch in stream
/// order), then the rest in stream order. Batches let the writers render in
/// parallel.
pub type ConnectionSink<'a> = &'a mut dyn FnMut(Finished);

/// Connections finished at one check (or at the capture's end).
#[derive(Debug)]
pub struct Finished {
    /// The connections, in stream order (a stream's earlier part first).
    pub connections: Vec<Connection>,
    /// The earliest frame time analysed so far: a header written before
    /// the first rows (Zeek's `#open`) takes it, as it depends only on the
    /// frames, never on how far the reader has got.
    pub first_ts_ns: i64,
}

/// Connections handed out at once at capture end.
const SINK_BATCH: usize = 4096;

/// Frames between checks for finished connections when the clock does not
/// move (the bound on new connections past the limit before it is enforced).
pub(crate) const CHECK_FRAMES: u64 = 16384;

/// Runs an analysis and keeps its connections, in stream order.
pub(crate) fn collect(
    name: String,
    sources: Sources<'_>,
    options: &Options,
    observer: Option<SegmentObserver<'_>>,
) -> Analysis {
    let mut connections = Vec::new();
    let mut analysis = run(name, sources, options, observer, &mut |batch| {
        connections.extend(batch.connections)
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
    encaps: EncapTally,
    /// Verified segments per sender, with `--verify-checksums`.
    checksums: Option<ChecksumSenders>,
    keyer: Keyer,
    defrag: Reassembler,
    shards: Vec<Shard>,
    /// Live connections allowed per shard.
    shard_limit: usize,
    next_stream: u64,
    /// The latest capture time of any frame so far: the analysis's clock.
    now: i64,
    /// The earliest capture time of any frame so far.
    earliest: i64,
    /// The clock time at which the next check for finished connections is due.
    next_check_ns: i64,
    check_every_ns: i64,
    /// The frame of the last check: connections started since are not
    /// finished by a later segment of theirs until the next check.
    check_frame: u64,
    /// Checks run so far (the number the next one gets).
    checks_run: u64,
    /// The number of the latest frame read.
    last_frame: u64,
    /// Zeek records with no connection of their own (all their packets had
    /// bad checksums), in the order they ended; at most
    /// `FlowLimits::max_connections`, the others only counted.
    zeek_unattached: Vec<ZeekRecord>,
    zeek_unattached_dropped: u64,
    /// The decoded frames of the batch being analysed (kept for its buffer).
    frames: Vec<KeyedFrame>,
}

impl<'o, 'b, 's> Engine<'o, 'b, 's> {
    fn new(
        options: &'o Options,
        observer: Option<SegmentObserver<'b>>,
        sink: ConnectionSink<'s>,
    ) -> Self {
        let shard_limit = options.flows.max_connections.div_ceil(SHARDS).max(1);
        Engine {
            options,
            observer,
            sink,
            accounting: FrameAccounting::default(),
            encaps: EncapTally::default(),
            checksums: options
                .decode
                .verify_checksums
                .then(ChecksumSenders::default),
            keyer: Keyer::new(options.keys),
            defrag: Reassembler::new(options.defrag),
            shards: (0..SHARDS)
                .map(|_| Shard {
                    flows: FlowTable::remembering(shard_limit),
                    zeek: ZeekSessions::new(options.zeek)
                        .with_community_id_seed(options.community_id_seed),
                    ..Shard::default()
                })
                .collect(),
            shard_limit,
            next_stream: 0,
            now: i64::MIN,
            earliest: i64::MAX,
            next_check_ns: i64::MIN,
            check_every_ns: check_interval_ns(options),
            check_frame: 0,
            checks_run: 0,
            last_frame: 0,
            zeek_unattached: Vec::new(),
            zeek_unattached_dropped: 0,
            frames: Vec::new(),
        }
    }

    /// Decodes and analyses one batch of frames. Where the reader cut the
    /// batch does not matter: connections are finished only at checks, and
    /// checks depend on the frames alone (see [`CHECK_FRAMES`]).
    fn process(&mut self, batch: &mut Batch) {
        if batch.records.is_empty() {
            if let Some(clock) = batch.quiet_clock.take() {
                self.quiet_until(clock);
            }
            return;
        }
        let mut frames = std::mem::take(&mut self.frames);
        batch.decode_into(self.options.decode, self.options.keys, &mut frames);
        // In frame order: the clock and its checks, reassembly, accounting,
        // keys; each TCP segment goes to its shard's input as it comes, so
        // one pass does it all. The clock at each segment is Zeek's network
        // time, which runs its timers.
        // Stands in for a segment not held in `frames` (reassembled, or an
        // A-MSDU's after its first) until the pass is over.
        let spare = spare_segment();
        // The batch's TCP segments in frame order (a segment's index here is
        // its index in the shards' inputs) and the clock when each came.
        let mut segs: Vec<&Segment> = Vec::with_capacity(frames.len());
        let mut clocks: Vec<i64> = Vec::with_capacity(frames.len());
        // The segments not held in `frames`, with their index in `segs`.
        let mut reassembled: Vec<(usize, Segment)> = Vec::new();
        let mut checks: Vec<Check> = Vec::new();
        for (kf, record) in frames.iter().zip(&batch.records) {
            let (frame_no, ts) = (record.0, record.1);
            self.now = self.now.max(ts);
            self.earliest = self.earliest.min(ts);
            self.last_frame = frame_no;
            let by_count = frame_no > 1 && (frame_no - 1) % CHECK_FRAMES == 0;
            if by_count || self.now >= self.next_check_ns {
                if self.now >= self.next_check_ns {
                    self.next_check_ns = self.now.saturating_add(self.check_every_ns);
                }
                checks.push(Check {
                    at: segs.len(),
                    now: self.now,
                    frame: frame_no,
                    seq: self.checks_run + checks.len() as u64,
                });
            }
            let frame = &kf.frame;
            self.accounting.count_frame(frame.more.len() as u64);
            self.encaps.count(frame.encaps);
            if let (Content::Decoded(d @ Decoded::Tcp(seg)), Some((key, shard)), true) =
                (&frame.content, kf.key, frame.more.is_empty())
            {
                // The common case: one TCP segment, keyed while decoding.
                self.accounting.count(d);
                if let Some(c) = &mut self.checksums {
                    c.count(seg);
                }
                self.shards[shard as usize]
                    .input
                    .push((segs.len() as u32, key));
                segs.push(seg);
                clocks.push(self.now);
                continue;
            }
            let packets = std::iter::once(&frame.content).chain(&frame.more);
            for (nth, content) in packets.enumerate() {
                match content {
                    Content::Decoded(d) => {
                        self.accounting.count(d);
                        if let Decoded::Tcp(seg) = d {
                            if let Some(c) = &mut self.checksums {
                                c.count(seg);
                            }
                            let (key, shard) = match (nth, kf.key) {
                                (0, Some(keyed)) => keyed,
                                _ => {
                                    let k = self.keyer.key(seg);
                                    (k, k.shard(SHARDS) as u32)
                                }
                            };
                            self.shards[shard as usize]
                                .input
                                .push((segs.len() as u32, key));
                            if nth == 0 {
                                segs.push(seg);
                            } else {
                                reassembled.push((segs.len(), seg.clone()));
                                segs.push(&spare);
                            }
                            clocks.push(self.now);
                        }
                    }
                    // Fragments wait here, in frame order, until their datagram is whole.
                    Content::Fragment(f) => {
                        let r = self.defrag.resolve(f.clone());
                        for encaps in r.revealed {
                            self.encaps.count(encaps);
                        }
                        self.accounting.amsdu_subframes += r.extra;
                        for d in r.decoded {
                            self.accounting.count(&d);
                            if let Decoded::Tcp(seg) = d {
                                if let Some(c) = &mut self.checksums {
                                    c.count(&seg);
                                }
                                let key = self.keyer.key(&seg);
                                let shard = key.shard(SHARDS);
                                self.shards[shard].input.push((segs.len() as u32, key));
                                reassembled.push((segs.len(), seg));
                                segs.push(&spare);
                                clocks.push(self.now);
                            }
                        }
                    }
                }
            }
        }
        batch.clear();
        for (at, seg) in &reassembled {
            segs[*at] = seg;
        }
        self.run_shards(&segs, &clocks, &checks);
        drop(segs);
        self.frames = frames;
    }

    /// Runs a batch's segments (in frame order) through their connections
    /// and its checks among them, each shard the whole batch in one go, in
    /// parallel; then numbers the connections the batch started and hands
    /// out what its checks finished.
    fn run_shards(&mut self, segs: &[&Segment], clocks: &[i64], checks: &[Check]) {
        if segs.is_empty() && checks.is_empty() {
            return;
        }
        let options = self.options;
        let since = self.check_frame;
        let next_check = self.checks_run;
        let limit = self.shard_limit;
        self.shards
            .par_iter_mut()
            .for_each(|s| s.run(segs, clocks, checks, since, next_check, limit, options));
        self.number_new_connections();
        if let Some(observer) = self.observer.as_mut() {
            show_segments(&self.shards, segs, observer);
        }
        for s in &mut self.shards {
            s.input.clear();
        }
        for check in checks {
            // Twice the idle timeout: a tunnel pairing outlives its
            // connection's idle eviction, so a late segment still finds the
            // tomb's key.
            let idle = options.flows.idle_timeout_ns;
            self.keyer.forget_before(
                check.now.saturating_sub(idle.saturating_mul(2)),
                options.flows.max_connections,
            );
        }
        if let Some(last) = checks.last() {
            self.check_frame = last.frame;
            self.checks_run = last.seq + 1;
            self.hand_out();
        }
    }

    /// A live source has been quiet and the clock has reached `clock`: the
    /// checks due by then run, as if a packet had come at that time.
    fn quiet_until(&mut self, clock: i64) {
        if self.now == i64::MIN || clock <= self.now {
            return;
        }
        self.now = clock;
        if self.now >= self.next_check_ns {
            self.next_check_ns = self.now.saturating_add(self.check_every_ns);
            self.check(self.now, self.last_frame.saturating_add(1));
        }
    }

    /// Finishes the connections that are over, idle or too many at `now`
    /// and hands out everything finished since the last check.
    fn check(&mut self, now: i64, frame: u64) {
        let check = Check {
            at: 0,
            now,
            frame,
            seq: self.checks_run,
        };
        self.run_shards(&[], &[], &[check]);
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

    /// Gives this batch's new connections their `tcp.stream` numbers, in
    /// order of their first frame across all shards, in place of their
    /// provisional ones.
    fn number_new_connections(&mut self) {
        let mut new: Vec<(u64, usize, u32, u32)> = Vec::new();
        for (i, s) in self.shards.iter().enumerate() {
            new.extend(
                s.new
                    .iter()
                    .enumerate()
                    .map(|(k, &(frame, slot))| (frame, i, slot, k as u32)),
            );
        }
        if new.is_empty() {
            return;
        }
        new.sort_unstable();
        let mut numbers: Vec<Vec<u64>> = self.shards.iter().map(|s| vec![0; s.new.len()]).collect();
        for (_, shard, _, k) in new {
            numbers[shard][k as usize] = self.next_stream;
            self.next_stream += 1;
        }
        for (s, numbers) in self.shards.iter_mut().zip(&numbers) {
            if !numbers.is_empty() || !s.finished.is_empty() {
                s.resolve_streams(numbers);
            }
        }
    }

    /// Passes the connections finished up to the last check to the sink:
    /// check by check, those of one check in stream order (a stream's
    /// earlier part first).
    fn hand_out(&mut self) {
        let due = self.checks_run;
        let mut lists: Vec<Vec<(u64, Connection)>> = Vec::new();
        for s in &mut self.shards {
            if s.finished.is_empty() {
                continue;
            }
            if s.finished.iter().all(|&(check, _)| check < due) {
                // Taken, not appended from: a shard's list would otherwise
                // keep the room of its busiest batch (tens of MB over all
                // shards).
                lists.push(std::mem::take(&mut s.finished));
            } else {
                let (now, later) = std::mem::take(&mut s.finished)
                    .into_iter()
                    .partition(|&(check, _)| check < due);
                lists.push(now);
                s.finished = later;
            }
        }
        self.keep_unattached();
        let done = in_order(
            lists,
            |(check, c)| (*check, c.flow.stream, c.flow.first_frame),
            |(_, c)| c,
        );
        if !done.is_empty() {
            self.give(done);
        }
    }

    fn give(&mut self, connections: Vec<Connection>) {
        (self.sink)(Finished {
            connections,
            first_ts_ns: self.earliest,
        });
    }

    /// Ends the analysis: a last check at the capture's end, then every live
    /// connection is finished there.
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
        std::mem::take(&mut self.encaps).settle(&mut self.accounting);
        let end = self.now;
        if end != i64::MIN {
            self.check(end, u64::MAX);
        }
        // A batch at a time, in stream order, so the connections still live
        // at the end are never all materialised at once.
        let mut live: Vec<(u64, u64, usize, u32)> = Vec::new();
        for (i, s) in self.shards.iter().enumerate() {
            live.extend(
                s.flows
                    .live()
                    .map(|(slot, c, _)| (c.stream, c.first_frame, i, slot)),
            );
        }
        live.sort_unstable();
        // Shards finish their part of each batch in parallel.
        let mut slots: Vec<Vec<u32>> = vec![Vec::new(); self.shards.len()];
        for chunk in live.chunks(SINK_BATCH) {
            for &(_, _, shard, slot) in chunk {
                slots[shard].push(slot);
            }
            let lists: Vec<Vec<Connection>> = self
                .shards
                .par_iter_mut()
                .zip(&mut slots)
                .map(|(s, slots)| {
                    slots
                        .drain(..)
                        .filter_map(|slot| s.finish(slot, end))
                        .collect()
                })
                .collect();
            self.give(in_order(
                lists,
                |c| (c.flow.stream, c.flow.first_frame),
                |c| c,
            ));
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

/// The items of several lists in the order of their keys, each made into
/// a `U`. Only the keys are sorted: sorting the connections themselves (over
/// a kilobyte each) moved each of them a dozen times.
fn in_order<T, K: Ord, U>(
    lists: Vec<Vec<T>>,
    key: impl Fn(&T) -> K,
    into: impl Fn(T) -> U,
) -> Vec<U> {
    let mut order: Vec<(K, u32, u32)> = lists
        .iter()
        .enumerate()
        .flat_map(|(l, list)| {
            let key = &key;
            list.iter()
                .enumerate()
                .map(move |(i, item)| (key(item), l as u32, i as u32))
        })
        .collect();
    order.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut slots: Vec<Vec<Option<T>>> = lists
        .into_iter()
        .map(|list| list.into_iter().map(Some).collect())
        .collect();
    order
        .into_iter()
        .filter_map(|(_, l, i)| slots[l as usize][i as usize].take().map(&into))
        .collect()
}

/// A segment that stands in a batch's list until the one it stands for
/// (reassembled from fragments) is in place.
fn spare_segment() -> Segment {
    let nowhere = Endpoint {
        addr: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        port: 0,
    };
    Segment {
        frame: 0,
        ts_ns: 0,
        src: nowhere,
        dst: nowhere,
        seq: 0,
        ack: 0,
        flags: TcpFlags::default(),
        window: 0,
        payload_len: 0,
        captured_payload_len: 0,
        ip_len: 0,
        options: TcpOptions::default(),
        bad_header_len: false,
        short_segment: false,
        header_cut: false,
        path: Path::default(),
        bad_checksum: false,
        wire: WireFacts::default(),
    }
}

/// Capture time between checks for finished connections: 1/16 of the
/// shorter of TIME_WAIT and the idle timeout, so a connection is finished
/// at most that late, and at most a second, so a live capture's rows come
/// within about a second of wall time (at least a millisecond).
fn check_interval_ns(options: &Options) -> i64 {
    let linger = options.machines.msl_ns.saturating_mul(2);
    let soonest = linger.min(options.flows.idle_timeout_ns);
    (soonest / 16).clamp(1_000_000, 1_000_000_000)
}

/// Shows each segment of a batch to the observer, in frame order.
fn show_segments(shards: &[Shard], segs: &[&Segment], observer: &mut SegmentObserver<'_>) {
    let mut placed: Vec<Option<(u64, Side)>> = vec![None; segs.len()];
    for s in shards {
        for (k, &(i, _)) in s.input.iter().enumerate() {
            if let Step::Placed(p, stream) = s.steps[k] {
                placed[i as usize] = Some((stream, p.side));
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

#[cfg(test)]
mod tests {
    use super::in_order;

    #[test]
    fn in_order_merges_lists_by_key() {
        let lists = vec![vec![(2, 'c'), (0, 'a')], vec![], vec![(3, 'd'), (1, 'b')]];
        let merged = in_order(lists, |&(k, _)| k, |(_, v)| v);
        assert_eq!(merged, ['a', 'b', 'c', 'd']);
    }
}
