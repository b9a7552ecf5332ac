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
//! The serial frame pass of one batch runs beside the shards of the batch
//! before (see [`Engine`]), so it no longer leaves a core idle.
//!
//! [`FlowLimits::idle_timeout_ns`]: super::FlowLimits::idle_timeout_ns
//! [`FlowLimits::max_connections`]: super::FlowLimits::max_connections

use rayon::prelude::*;

use super::accounting::{EncapTally, FrameAccounting};
use super::analysis::{Analysis, Evictions};
use super::connection::Connection;
use super::options::Options;
use super::reader::{read_batches, Batch};
use super::shard::{Check, KeyedFrame, Segments, Shard, Step, REASSEMBLED, SHARDS};
use super::source::Sources;
use super::warnings::{merge_warnings, ChecksumSenders};
use crate::decode::defrag::Reassembler;
use crate::decode::{Content, Decoded};
use crate::flow::{FlowKey, FlowTable, Keyer};
use crate::model::{Segment, Side};
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
///
/// Batches go through two stages: the frame pass ([`FramePass::deal`]),
/// serial, and the shards ([`ShardSet::run`]), parallel. They overlap: while
/// the shards run one batch, the next batch is decoded and dealt, and the
/// sink takes what the batch before finished, so the serial work of one
/// stage runs beside the parallel work of the other instead of leaving a
/// core idle. Nothing one stage decides depends on the other's progress,
/// so the output is the same as running them one after the other.
struct Engine<'o, 'b, 's> {
    options: &'o Options,
    observer: Option<SegmentObserver<'b>>,
    sink: ConnectionSink<'s>,
    pass: FramePass,
    set: ShardSet,
    /// A batch dealt to the shards and not yet run.
    pending: Option<Dealt>,
    /// What the last batch's checks finished, not yet put in order nor
    /// given to the sink.
    ready: Option<HandOut>,
    /// Connections finished after the last check run, handed out with the
    /// next.
    later: Vec<(u64, Connection)>,
}

/// What a batch's checks finished, taken from the shards as it lies (each
/// shard's list tagged with check numbers). It is put in order on the
/// engine's thread while the pool runs the next batch.
struct HandOut {
    lists: Vec<Vec<(u64, Connection)>>,
    /// Connections finished at a check numbered below this go out now.
    due: u64,
    first_ts_ns: i64,
}

impl HandOut {
    /// The connections it holds.
    fn len(&self) -> usize {
        self.lists.iter().map(Vec::len).sum()
    }

    /// The connections due, check by check, those of one check in stream
    /// order (a stream's earlier part first); the rest wait in `later`.
    fn in_order(self, later: &mut Vec<(u64, Connection)>) -> Finished {
        let due = self.due;
        let mut lists = self.lists;
        lists.push(std::mem::take(later));
        let mut now: Vec<Vec<(u64, Connection)>> = Vec::with_capacity(lists.len());
        for list in lists {
            if list.iter().all(|&(check, _)| check < due) {
                now.push(list);
            } else {
                let (due_now, not_yet): (Vec<_>, Vec<_>) =
                    list.into_iter().partition(|&(check, _)| check < due);
                now.push(due_now);
                later.extend(not_yet);
            }
        }
        let connections = in_order(
            now,
            |(check, c)| (*check, c.flow.stream, c.flow.first_frame),
            |(_, c)| c,
        );
        Finished {
            connections,
            first_ts_ns: self.first_ts_ns,
        }
    }
}

/// The frame-order work on each batch, the only serial work per frame,
/// and what it carries from batch to batch.
struct FramePass {
    accounting: FrameAccounting,
    encaps: EncapTally,
    /// Verified segments per sender, with `--verify-checksums`.
    checksums: Option<ChecksumSenders>,
    keyer: Keyer,
    defrag: Reassembler,
    /// The latest capture time of any frame so far: the analysis's clock.
    now: i64,
    /// The earliest capture time of any frame so far.
    earliest: i64,
    /// The clock time at which the next check for finished connections is due.
    next_check_ns: i64,
    check_every_ns: i64,
    /// Checks placed so far (the number the next one gets).
    checks_placed: u64,
    /// The number of the latest frame read.
    last_frame: u64,
    /// A run batch whose buffers the next one reuses (its frames decoded
    /// over in place).
    spare: Option<Dealt>,
}

/// One batch after the frame pass: its frames, its TCP segments in frame
/// order and dealt to the shards, and its checks.
struct Dealt {
    frames: Vec<KeyedFrame>,
    /// Where each segment lies (see [`Segments::at`]).
    at: Vec<u32>,
    reassembled: Vec<Segment>,
    /// The clock when each segment came (Zeek's network time).
    clocks: Vec<i64>,
    checks: Vec<Check>,
    /// Each shard's segments (index into `at`) and keys.
    inputs: Vec<Vec<(u32, FlowKey)>>,
    /// The earliest frame time up to this batch's end.
    earliest: i64,
}

impl Dealt {
    fn new() -> Dealt {
        Dealt {
            frames: Vec::new(),
            at: Vec::new(),
            reassembled: Vec::new(),
            clocks: Vec::new(),
            checks: Vec::new(),
            inputs: vec![Vec::new(); SHARDS],
            earliest: i64::MAX,
        }
    }

    fn segments(&self) -> Segments<'_> {
        Segments {
            frames: &self.frames,
            at: &self.at,
            reassembled: &self.reassembled,
        }
    }

    /// Empties the lists for the next batch; the frames stay, to be
    /// decoded over.
    fn clear(&mut self) {
        self.at.clear();
        self.reassembled.clear();
        self.clocks.clear();
        self.checks.clear();
        for input in &mut self.inputs {
            input.clear();
        }
    }
}

/// The shards and what the analysis keeps of their work between batches.
struct ShardSet {
    shards: Vec<Shard>,
    /// Live connections allowed per shard.
    shard_limit: usize,
    next_stream: u64,
    /// The frame of the last check run: connections started since are not
    /// finished by a later segment of theirs until the next check.
    check_frame: u64,
    /// Checks run so far (the number the next one gets).
    checks_run: u64,
    /// Zeek records with no connection of their own (all their packets had
    /// bad checksums), in the order they ended; at most
    /// `FlowLimits::max_connections`, the others only counted.
    zeek_unattached: Vec<ZeekRecord>,
    zeek_unattached_dropped: u64,
}

impl FramePass {
    fn new(options: &Options) -> FramePass {
        FramePass {
            accounting: FrameAccounting::default(),
            encaps: EncapTally::default(),
            checksums: options
                .decode
                .verify_checksums
                .then(ChecksumSenders::default),
            keyer: Keyer::new(options.keys),
            defrag: Reassembler::new(options.defrag),
            now: i64::MIN,
            earliest: i64::MAX,
            next_check_ns: i64::MIN,
            check_every_ns: check_interval_ns(options),
            checks_placed: 0,
            last_frame: 0,
            spare: None,
        }
    }

    /// Decodes a batch into `out` and, in frame order, advances the clock
    /// and places its checks, reassembles fragments, counts frames, and
    /// keys each TCP segment and deals it to its shard's input: one pass,
    /// so each frame is touched once (a second pass over 16384 frames of
    /// 256 bytes missed the cache on each). The clock at each segment is
    /// Zeek's network time, which runs its timers.
    fn deal(&mut self, batch: &mut Batch, out: &mut Dealt, options: &Options) {
        out.clear();
        batch.decode_into(options.decode, options.keys, &mut out.frames);
        let Dealt {
            frames,
            at,
            reassembled,
            clocks,
            checks,
            inputs,
            ..
        } = out;
        for (index, (kf, record)) in frames.iter().zip(&batch.records).enumerate() {
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
                    at: at.len(),
                    now: self.now,
                    frame: frame_no,
                    seq: self.checks_placed,
                });
                self.checks_placed += 1;
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
                inputs[shard as usize].push((at.len() as u32, key));
                at.push(index as u32);
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
                            inputs[shard as usize].push((at.len() as u32, key));
                            if nth == 0 {
                                at.push(index as u32);
                            } else {
                                at.push(REASSEMBLED | reassembled.len() as u32);
                                reassembled.push(seg.clone());
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
                                inputs[shard].push((at.len() as u32, key));
                                at.push(REASSEMBLED | reassembled.len() as u32);
                                reassembled.push(seg);
                                clocks.push(self.now);
                            }
                        }
                    }
                }
            }
        }
        batch.clear();
        out.earliest = self.earliest;
        self.forget_keys(&out.checks, options);
    }

    /// What the keyer may forget at these checks. Twice the idle timeout: a
    /// tunnel pairing outlives its connection's idle eviction, so a late
    /// segment still finds the tomb's key.
    fn forget_keys(&mut self, checks: &[Check], options: &Options) {
        let idle = options.flows.idle_timeout_ns;
        for check in checks {
            self.keyer.forget_before(
                check.now.saturating_sub(idle.saturating_mul(2)),
                options.flows.max_connections,
            );
        }
    }

    /// A batch of no frames with one check, at `now` as frame `frame` would
    /// come.
    fn check_alone(&mut self, now: i64, frame: u64, options: &Options) -> Dealt {
        let mut d = self.spare.take().unwrap_or_else(Dealt::new);
        d.clear();
        d.checks.push(Check {
            at: 0,
            now,
            frame,
            seq: self.checks_placed,
        });
        self.checks_placed += 1;
        d.earliest = self.earliest;
        self.forget_keys(&d.checks, options);
        d
    }
}

impl ShardSet {
    fn new(options: &Options) -> ShardSet {
        let shard_limit = options.flows.max_connections.div_ceil(SHARDS).max(1);
        ShardSet {
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
            check_frame: 0,
            checks_run: 0,
            zeek_unattached: Vec::new(),
            zeek_unattached_dropped: 0,
        }
    }

    /// Runs a batch's segments through their connections and its checks
    /// among them, each shard the whole batch in one go, in parallel.
    fn run(&mut self, dealt: &Dealt, options: &Options) {
        if dealt.at.is_empty() && dealt.checks.is_empty() {
            return;
        }
        let since = self.check_frame;
        let next_check = self.checks_run;
        let limit = self.shard_limit;
        let segs = dealt.segments();
        let (clocks, checks) = (&dealt.clocks, &dealt.checks);
        self.shards
            .par_iter_mut()
            .zip(&dealt.inputs)
            .for_each(|(s, input)| {
                s.run(
                    input, segs, clocks, checks, since, next_check, limit, options,
                )
            });
    }

    /// After a batch has run: numbers the connections it started and takes
    /// what its checks finished, as it lies.
    fn settle(&mut self, dealt: &Dealt, max_connections: usize) -> Option<HandOut> {
        self.number_new_connections();
        let last = dealt.checks.last()?;
        self.check_frame = last.frame;
        self.checks_run = last.seq + 1;
        // Taken, not appended from: a shard's list would otherwise keep the
        // room of its busiest batch (tens of MB over all shards).
        let lists = self
            .shards
            .iter_mut()
            .filter(|s| !s.finished.is_empty())
            .map(|s| std::mem::take(&mut s.finished))
            .collect();
        self.keep_unattached(max_connections);
        Some(HandOut {
            lists,
            due: self.checks_run,
            first_ts_ns: dealt.earliest,
        })
    }

    /// Takes the shards' Zeek records that no connection holds, keeping at
    /// most `max_connections` of them so a flood of bad-checksum packets
    /// cannot grow memory without bound (the rest are counted).
    fn keep_unattached(&mut self, room: usize) {
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

impl<'o, 'b, 's> Engine<'o, 'b, 's> {
    fn new(
        options: &'o Options,
        observer: Option<SegmentObserver<'b>>,
        sink: ConnectionSink<'s>,
    ) -> Self {
        Engine {
            options,
            observer,
            sink,
            pass: FramePass::new(options),
            set: ShardSet::new(options),
            pending: None,
            ready: None,
            later: Vec::new(),
        }
    }

    /// Decodes and deals one batch of frames, while the shards run the one
    /// before. Where the reader cut the batch does not matter: connections
    /// are finished only at checks, and checks depend on the frames alone
    /// (see [`CHECK_FRAMES`]).
    fn process(&mut self, batch: &mut Batch) {
        if batch.records.is_empty() {
            if let Some(clock) = batch.quiet_clock.take() {
                self.quiet_until(clock);
            }
            return;
        }
        let mut next = self.pass.spare.take().unwrap_or_else(Dealt::new);
        let options = self.options;
        let Some(pending) = self.pending.take() else {
            self.pass.deal(batch, &mut next, options);
            self.pending = Some(next);
            return;
        };
        let ready = self.ready.take();
        let later = &mut self.later;
        let (pass, set, sink) = (&mut self.pass, &mut self.set, &mut self.sink);
        let mut deal_and_run = || {
            rayon::join(
                || pass.deal(batch, &mut next, options),
                || set.run(&pending, options),
            )
        };
        if let Some(ready) = ready {
            // What the batch before finished is put in order here and given
            // to the sink (not `Send`), while the pool deals and runs.
            rayon::in_place_scope(|scope| {
                scope.spawn(|_| {
                    deal_and_run();
                });
                let finished = ready.in_order(later);
                if !finished.connections.is_empty() {
                    sink(finished);
                }
            });
        } else {
            deal_and_run();
        }
        self.settle(pending);
        self.pending = Some(next);
    }

    /// After a batch has run: its new connections numbered, its segments
    /// shown to the observer, what its checks finished queued for the sink,
    /// its buffers kept for a later batch.
    fn settle(&mut self, dealt: Dealt) {
        let finished = self.set.settle(&dealt, self.options.flows.max_connections);
        if let Some(observer) = self.observer.as_mut() {
            show_segments(&self.set.shards, &dealt, observer);
        }
        self.pass.spare = Some(dealt);
        if let Some(finished) = finished {
            if let Some(before) = self.ready.replace(finished) {
                self.give_ready(before);
            }
        }
        // Many finished at once (a flood past the connection limit): given
        // now, so no more than one batch's worth waits beside the next.
        if self.ready.as_ref().is_some_and(|r| r.len() > SINK_BATCH) {
            if let Some(ready) = self.ready.take() {
                self.give_ready(ready);
            }
        }
    }

    fn give_ready(&mut self, ready: HandOut) {
        let finished = ready.in_order(&mut self.later);
        if !finished.connections.is_empty() {
            (self.sink)(finished);
        }
    }

    /// Runs the batch dealt and not yet run, alone, and gives the sink all
    /// that is finished: before a check between batches, at the end, and
    /// when the reader has nothing ready (a live pipe's rows must not wait
    /// for its next batch).
    fn flush(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.set.run(&pending, self.options);
            self.settle(pending);
        }
        if let Some(ready) = self.ready.take() {
            self.give_ready(ready);
        }
    }

    /// A live source has been quiet and the clock has reached `clock`: the
    /// checks due by then run, as if a packet had come at that time.
    fn quiet_until(&mut self, clock: i64) {
        if self.pass.now == i64::MIN || clock <= self.pass.now {
            return;
        }
        self.pass.now = clock;
        if clock >= self.pass.next_check_ns {
            self.pass.next_check_ns = clock.saturating_add(self.pass.check_every_ns);
            self.check(clock, self.pass.last_frame.saturating_add(1));
        }
    }

    /// Finishes the connections that are over, idle or too many at `now`
    /// and hands out everything finished since the last check.
    fn check(&mut self, now: i64, frame: u64) {
        self.flush();
        let dealt = self.pass.check_alone(now, frame, self.options);
        self.set.run(&dealt, self.options);
        self.settle(dealt);
        self.flush();
    }

    fn give(&mut self, connections: Vec<Connection>) {
        (self.sink)(Finished {
            connections,
            first_ts_ns: self.pass.earliest,
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
        self.flush();
        let options = self.options;
        let defrag = std::mem::replace(&mut self.pass.defrag, Reassembler::new(options.defrag));
        self.pass.accounting.count_fragments(defrag.finish());
        std::mem::take(&mut self.pass.encaps).settle(&mut self.pass.accounting);
        let end = self.pass.now;
        if end != i64::MIN {
            self.check(end, u64::MAX);
        }
        // A batch at a time, in stream order, so the connections still live
        // at the end are never all materialised at once.
        let mut live: Vec<(u64, u64, usize, u32)> = Vec::new();
        for (i, s) in self.set.shards.iter().enumerate() {
            live.extend(
                s.flows
                    .live()
                    .map(|(slot, c, _)| (c.stream, c.first_frame, i, slot)),
            );
        }
        live.sort_unstable();
        // Shards finish their part of each batch in parallel.
        let mut slots: Vec<Vec<u32>> = vec![Vec::new(); self.set.shards.len()];
        for chunk in live.chunks(SINK_BATCH) {
            for &(_, _, shard, slot) in chunk {
                slots[shard].push(slot);
            }
            let lists: Vec<Vec<Connection>> = self
                .set
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
        for s in &mut self.set.shards {
            evictions.add(s.evictions);
            port_reuses += s.flows.port_reuses();
            s.zeek.finish_all();
            s.settle_zeek();
        }
        self.set.keep_unattached(options.flows.max_connections);
        let mut unattached = std::mem::take(&mut self.set.zeek_unattached);
        unattached.sort_by_key(|r| r.first_frame);
        let dropped = self.set.zeek_unattached_dropped;
        (
            self.pass.accounting,
            port_reuses,
            evictions,
            self.pass.checksums,
            (unattached, dropped),
        )
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
fn show_segments(shards: &[Shard], dealt: &Dealt, observer: &mut SegmentObserver<'_>) {
    let mut placed: Vec<Option<(u64, Side)>> = vec![None; dealt.at.len()];
    for (s, input) in shards.iter().zip(&dealt.inputs) {
        for (k, &(i, _)) in input.iter().enumerate() {
            if let Step::Placed(p, stream) = s.steps[k] {
                placed[i as usize] = Some((stream, p.side));
            }
        }
    }
    let segs = dealt.segments();
    for (i, p) in placed.into_iter().enumerate() {
        if let Some((stream, side)) = p {
            observer(segs.get(i), stream, side);
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
        loop {
            let mut batch = match full_rx.try_recv() {
                Ok(batch) => batch,
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    // Nothing to overlap with: the batch dealt runs now.
                    engine.flush();
                    match full_rx.recv() {
                        Ok(batch) => batch,
                        Err(_) => break,
                    }
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
            };
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
