//! The streaming matcher: segments of both captures arrive merged in time
//! order (B's on A's clock); each waits at most the matching window for its
//! twin, then counts as missing in the other capture. Connections pair up
//! on their first matched segment and are written out once both captures
//! have finished them and the window has passed.
//!
//! A twin is looked up by its headers (same 4-tuple, sequence and
//! acknowledgement numbers, flags, length: no translation), then, for
//! connections already paired, by the headers translated through the
//! pair's address mapping and sequence offsets, and last by content: flags,
//! length, payload digest, IP ID and TCP timestamp, which survive NAT and
//! ISN rewriting. Among several candidates (retransmissions, duplicate
//! ACKs) an equal IP ID, then an equal timestamp decides, then the
//! nearest in time.
//!
//! Memory: the segments inside the window, the live connections, and per
//! matched connection and direction at most [`MAX_SAMPLES`] delay samples.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::clock::{Clock, ClockFit};
use super::record::{
    Change, Confidence, ConnDiff, DelayStats, Direction, MatchedBy, PerDirection, Reordered,
};
use crate::model::{Endpoint, Segment, Side, TcpFlags, WireFacts};
use crate::tcp::machine::State;

/// Delay samples kept per matched connection and direction; past it every
/// other one is dropped and then only every 2nd, 4th... is kept.
pub(crate) const MAX_SAMPLES: usize = 65_536;

/// Frames of a connection's segments that expired before it was paired,
/// kept at most; a connection with more is reported as seen on one side.
pub(crate) const MAX_EARLY: usize = 65_536;

/// Waiting segments indexed under one content key at most: more share it
/// than it can tell apart, so the headers must.
const MAX_SAME_CONTENT: usize = 16;

/// The flags a middlebox does not change: those that move the state.
const CORE_FLAGS: u16 = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST | TcpFlags::ACK;

/// What the matcher needs of a segment.
#[derive(Clone, Debug)]
pub(crate) struct SegFact {
    pub(crate) frame: u64,
    pub(crate) ts_ns: i64,
    pub(crate) stream: u64,
    pub(crate) side: Side,
    pub(crate) src: Endpoint,
    pub(crate) dst: Endpoint,
    pub(crate) seq: u32,
    pub(crate) ack: u32,
    pub(crate) flags: u16,
    pub(crate) window: u16,
    pub(crate) len: u32,
    pub(crate) mss: Option<u16>,
    pub(crate) wscale: Option<u8>,
    pub(crate) tsval: Option<u32>,
    pub(crate) wire: WireFacts,
}

impl SegFact {
    pub(crate) fn new(seg: &Segment, stream: u64, side: Side) -> SegFact {
        SegFact {
            frame: seg.frame,
            ts_ns: seg.ts_ns,
            stream,
            side,
            src: seg.src,
            dst: seg.dst,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags.0,
            window: seg.window,
            len: seg.payload_len,
            mss: seg.options.mss,
            wscale: seg.options.window_scale,
            tsval: seg.options.timestamp.map(|t| t.0),
            wire: seg.wire,
        }
    }

    fn core(&self) -> u16 {
        self.flags & CORE_FLAGS
    }

    fn ack_number(&self) -> u32 {
        if self.flags & TcpFlags::ACK != 0 {
            self.ack
        } else {
            0
        }
    }

    /// What tells this segment from others beyond its headers: its IP ID
    /// (0 does not count: many stacks send it on every packet) and TCP
    /// timestamp; None when neither is there and it has no payload.
    pub(crate) fn content_key(&self) -> Option<ContentKey> {
        let w = &self.wire;
        (w.payload_digest != 0 || self.ip_id().is_some() || self.tsval.is_some()).then_some((
            self.core(),
            self.len,
            w.payload_digest,
            self.ip_id(),
            self.tsval,
        ))
    }

    /// The IP ID when it can tell packets apart (not 0).
    fn ip_id(&self) -> Option<u16> {
        self.wire.ip_id.filter(|&id| id != 0)
    }
}

/// A connection's end, as its capture's analysis finished it.
#[derive(Clone, Debug)]
pub(crate) struct ConnEnd {
    pub(crate) stream: u64,
    /// The client's and the server's distinct states, each with the frame
    /// that moved the side into it (None for the initial one and timers).
    pub(crate) states: [Vec<(State, Option<u64>)>; 2],
    pub(crate) last_frame: u64,
}

/// What a capture's reader hands the matcher, in its frame order.
#[derive(Debug)]
pub(crate) enum Event {
    Seg(SegFact),
    End(ConnEnd),
}

type ExactKey = (Endpoint, Endpoint, u32, u32, u16, u32);
pub(crate) type ContentKey = (u16, u32, u32, Option<u16>, Option<u32>);

fn exact_key(f: &SegFact) -> ExactKey {
    (f.src, f.dst, f.seq, f.ack_number(), f.core(), f.len)
}

type HalfKey = (u64, Side, u32, u16, u32);

fn seq_key(f: &SegFact) -> HalfKey {
    (f.stream, f.side, f.seq, f.core(), f.len)
}

fn ack_key(f: &SegFact) -> Option<HalfKey> {
    (f.flags & TcpFlags::ACK != 0).then_some((f.stream, f.side, f.ack, f.core(), f.len))
}

/// One capture's segments waiting for a twin, oldest first.
#[derive(Default)]
struct Queue {
    /// Id of `items[0]`.
    base: u64,
    items: VecDeque<Option<(SegFact, i64)>>,
    exact: FxHashMap<ExactKey, Vec<u64>>,
    content: FxHashMap<ContentKey, Vec<u64>>,
    /// By stream, sender, sequence number, flags and length: for a paired
    /// connection whose acknowledgement offset is not known yet.
    by_seq: FxHashMap<HalfKey, Vec<u64>>,
    /// The same with the acknowledgement number (segments with ACK only):
    /// for one whose sequence offset in that direction is not known yet
    /// (the first SYN-ACK when nothing but the SYN matched).
    by_ack: FxHashMap<HalfKey, Vec<u64>>,
    /// Per connection not yet paired: its segments' ids, for matching them
    /// once it is (dead ids are skipped then).
    unpaired: FxHashMap<u64, Vec<u64>>,
}

impl Queue {
    /// Queues a segment; false when its connection, not paired yet, has
    /// more than [`MAX_EARLY`] segments waiting (it will not be paired).
    fn push(&mut self, f: SegFact, t: i64, unpaired: bool) -> bool {
        let id = self.base + self.items.len() as u64;
        let mut room = true;
        if unpaired {
            let ids = self.unpaired.entry(f.stream).or_default();
            if ids.len() >= MAX_EARLY {
                let base = self.base;
                let items = &self.items;
                ids.retain(|&i| {
                    i >= base && items.get((i - base) as usize).is_some_and(Option::is_some)
                });
            }
            if ids.len() < MAX_EARLY {
                ids.push(id);
            } else {
                room = false;
                self.unpaired.remove(&f.stream);
            }
        }
        self.exact.entry(exact_key(&f)).or_default().push(id);
        self.by_seq.entry(seq_key(&f)).or_default().push(id);
        if let Some(k) = ack_key(&f) {
            self.by_ack.entry(k).or_default().push(id);
        }
        if let Some(k) = f.content_key() {
            let ids = self.content.entry(k).or_default();
            // Content shared by this many waiting segments tells nothing.
            if ids.len() < MAX_SAME_CONTENT {
                ids.push(id);
            }
        }
        self.items.push_back(Some((f, t)));
        room
    }

    fn get(&self, id: u64) -> Option<&(SegFact, i64)> {
        self.items
            .get(usize::try_from(id.checked_sub(self.base)?).ok()?)?
            .as_ref()
    }

    fn take(&mut self, id: u64) -> Option<(SegFact, i64)> {
        let at = usize::try_from(id.checked_sub(self.base)?).ok()?;
        let item = self.items.get_mut(at)?.take()?;
        unlist(&mut self.exact, exact_key(&item.0), id);
        unlist(&mut self.by_seq, seq_key(&item.0), id);
        if let Some(k) = ack_key(&item.0) {
            unlist(&mut self.by_ack, k, id);
        }
        if let Some(k) = item.0.content_key() {
            unlist(&mut self.content, k, id);
        }
        Some(item)
    }

    /// Removes and returns the oldest item if it is older than `limit`.
    fn pop_older(&mut self, limit: i64) -> Option<(SegFact, i64)> {
        loop {
            match self.items.front() {
                Some(None) => {
                    self.items.pop_front();
                    self.base += 1;
                }
                Some(Some((_, t))) if *t < limit => {
                    let id = self.base;
                    let item = self.take(id);
                    self.items.pop_front();
                    self.base += 1;
                    return item;
                }
                _ => return None,
            }
        }
    }
}

fn unlist<K: std::hash::Hash + Eq>(map: &mut FxHashMap<K, Vec<u64>>, k: K, id: u64) {
    if let Some(v) = map.get_mut(&k) {
        v.retain(|&i| i != id);
        if v.is_empty() {
            map.remove(&k);
        }
    }
}

/// One capture's view of a connection while it is live.
#[derive(Debug, Default)]
struct Conn {
    /// Client and server endpoints.
    endpoints: [Option<Endpoint>; 2],
    segments: u64,
    pair: Option<u64>,
    end: Option<ConnEnd>,
    /// When the end came, on A's clock.
    end_t: Option<i64>,
    /// Frames that expired unmatched before the connection was paired.
    early: Vec<u64>,
    /// Too many expired unpaired: it will not be paired any more.
    one_sided: bool,
}

/// Delay figures of one direction of a matched connection.
#[derive(Debug, Default)]
struct DirAcc {
    /// (A's time, B's time - A's time), every `stride`-th match.
    samples: Vec<(i64, i64)>,
    stride: u64,
    seen: u64,
    jitter_sum: f64,
    last_m: Option<i64>,
    /// Largest upstream frame matched so far, per capture that was upstream.
    max_up: [u64; 2],
    reordered: Vec<Reordered>,
    /// The first matched segment's frames in A and B.
    first: Option<(u64, u64)>,
}

impl DirAcc {
    fn add(&mut self, t_a: i64, m: i64) {
        if let Some(last) = self.last_m {
            self.jitter_sum += (m - last).unsigned_abs() as f64;
        }
        self.last_m = Some(m);
        let stride = self.stride.max(1);
        if self.seen.is_multiple_of(stride) {
            self.samples.push((t_a, m));
            if self.samples.len() >= MAX_SAMPLES {
                let mut i = 0;
                self.samples.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride = stride * 2;
            }
        }
        self.seen += 1;
    }

    fn stats(&self, clock: &Clock) -> Option<DelayStats> {
        if self.samples.is_empty() {
            return None;
        }
        let mut d: Vec<i64> = self
            .samples
            .iter()
            .map(|&(t, m)| m - clock.offset_at(t))
            .collect();
        d.sort_unstable();
        let median = d[d.len() / 2];
        let upstream = if median >= 0 { "a" } else { "b" };
        if median < 0 {
            d = d.iter().rev().map(|x| -x).collect();
        }
        let q = |p: f64| d[(((d.len() - 1) as f64) * p).round() as usize];
        let s = |ns: i64| ns as f64 / 1e9;
        Some(DelayStats {
            upstream,
            segments: self.seen,
            min_s: s(d[0]),
            median_s: s(q(0.5)),
            p99_s: s(q(0.99)),
            jitter_s: if self.seen > 1 {
                self.jitter_sum / (self.seen - 1) as f64 / 1e9
            } else {
                0.0
            },
        })
    }
}

/// Two connections found to be one.
#[derive(Debug)]
struct Pair {
    /// A's and B's stream.
    streams: [u64; 2],
    /// B's side for each of A's sides.
    b_side: [Side; 2],
    /// Per A sender side: B's sequence numbers minus A's.
    delta: [Option<u32>; 2],
    /// Segments matched, and those with agreeing IP ID, timestamp or payload.
    matched: u64,
    backed: u64,
    /// Matched on the untranslated headers at least once.
    same_headers: bool,
    /// Missing in B (A's frames), missing in A (B's frames).
    missing: [Vec<u64>; 2],
    dirs: [DirAcc; 2],
    changes: Vec<Change>,
}

impl Pair {
    fn a_side_of(&self, b: Side) -> Side {
        if self.b_side[0] == b {
            Side::Client
        } else {
            Side::Server
        }
    }

    fn note(
        &mut self,
        field: &'static str,
        dir: Direction,
        a: serde_json::Value,
        b: serde_json::Value,
        frames: (u64, u64),
    ) {
        let dir = dir.name();
        if let Some(c) = self
            .changes
            .iter_mut()
            .find(|c| c.field == field && c.dir == dir)
        {
            c.count += 1;
            return;
        }
        self.changes.push(Change {
            field,
            dir,
            a,
            b,
            count: 1,
            a_frame: frames.0,
            b_frame: frames.1,
        });
    }
}

/// Counters over the whole comparison.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    pub(crate) segments: [u64; 2],
    pub(crate) matched_segments: u64,
    pub(crate) missing: [u64; 2],
    pub(crate) reordered: u64,
    pub(crate) matched: u64,
    pub(crate) only: [u64; 2],
    pub(crate) changed: u64,
    pub(crate) states_disagree: u64,
}

/// The matcher of one pass.
pub(crate) struct Matcher<'s> {
    clock: Clock,
    window_ns: i64,
    now: i64,
    queues: [Queue; 2],
    conns: [FxHashMap<u64, Conn>; 2],
    pairs: FxHashMap<u64, Pair>,
    next_pair: u64,
    /// Connections ended, in the order their ends came, with the time.
    ended: VecDeque<(i64, usize, u64)>,
    pub(crate) fit: ClockFit,
    pub(crate) totals: Totals,
    sink: &'s mut dyn FnMut(ConnDiff),
}

impl<'s> Matcher<'s> {
    pub(crate) fn new(clock: Clock, window_ns: i64, sink: &'s mut dyn FnMut(ConnDiff)) -> Self {
        Matcher {
            clock,
            window_ns,
            now: i64::MIN,
            queues: Default::default(),
            conns: Default::default(),
            pairs: Default::default(),
            next_pair: 0,
            ended: VecDeque::new(),
            fit: ClockFit::default(),
            totals: Totals::default(),
            sink,
        }
    }

    /// A segment's time on A's clock.
    pub(crate) fn time_of(&self, x: usize, ts_ns: i64) -> i64 {
        if x == 0 {
            ts_ns
        } else {
            self.clock.to_a(ts_ns)
        }
    }

    /// A segment of capture `x` (0 = A, 1 = B).
    pub(crate) fn on_segment(&mut self, x: usize, f: SegFact) {
        let t = self.time_of(x, f.ts_ns);
        self.now = self.now.max(t);
        self.expire(self.now.saturating_sub(self.window_ns));
        self.totals.segments[x] += 1;
        let c = self.conns[x].entry(f.stream).or_default();
        c.segments += 1;
        c.endpoints[f.side.idx()] = Some(f.src);
        c.endpoints[f.side.peer().idx()] = Some(f.dst);
        let unpaired = c.pair.is_none();
        let c_one_sided = c.one_sided;
        match self.find(x, &f, t) {
            Some((id, backed)) => {
                if let Some((twin, _)) = self.queues[1 - x].take(id) {
                    let (a, b, up) = if x == 0 { (f, twin, 1) } else { (twin, f, 0) };
                    self.matched(a, b, up, backed);
                }
            }
            None => {
                let stream = f.stream;
                let unpaired = unpaired && !c_one_sided;
                if !self.queues[x].push(f, t, unpaired) {
                    if let Some(c) = self.conns[x].get_mut(&stream) {
                        c.one_sided = true;
                        c.early = Vec::new();
                    }
                }
            }
        }
    }

    /// A connection of capture `x` was finished by its analysis.
    pub(crate) fn on_end(&mut self, x: usize, end: ConnEnd) {
        let stream = end.stream;
        if let Some(c) = self.conns[x].get_mut(&stream) {
            c.end = Some(end);
            c.end_t = Some(self.now);
            self.ended.push_back((self.now, x, stream));
        }
    }

    /// Both captures are read: everything waiting is missing, every
    /// connection is written.
    pub(crate) fn finish(&mut self) {
        self.expire(i64::MAX);
        // Connections whose end never came (cannot happen with a whole
        // analysis, but a record must not be lost): in stream order.
        for x in 0..2 {
            let mut rest: Vec<u64> = self.conns[x].keys().copied().collect();
            rest.sort_unstable();
            for s in rest {
                self.ended.push_back((i64::MIN, x, s));
            }
        }
        self.finalize(i64::MAX);
    }

    /// Looks for the twin of `f` (capture `x`) in the other capture's queue:
    /// its id, and whether IP ID, timestamp or payload back it.
    fn find(&self, x: usize, f: &SegFact, t: i64) -> Option<(u64, bool)> {
        let y = 1 - x;
        let q = &self.queues[y];
        let conn = self.conns[x].get(&f.stream)?;
        let near = |id: &u64| {
            q.get(*id)
                .is_some_and(|(_, ty)| (ty - t).abs() <= self.window_ns)
        };
        if let Some(pid) = conn.pair {
            let p = self.pairs.get(&pid)?;
            let y_stream = p.streams[y];
            let in_pair =
                |id: &u64| near(id) && q.get(*id).is_some_and(|(g, _)| g.stream == y_stream);
            let (a_side, y_side) = if x == 0 {
                (f.side, p.b_side[f.side.idx()])
            } else {
                (p.a_side_of(f.side), p.a_side_of(f.side))
            };
            let y_conn = self.conns[y].get(&y_stream)?;
            let (ds, dr) = (p.delta[a_side.idx()], p.delta[a_side.peer().idx()]);
            let sign = |n: u32, d: u32| {
                if x == 0 {
                    n.wrapping_add(d)
                } else {
                    n.wrapping_sub(d)
                }
            };
            let seq = ds.map(|d| sign(f.seq, d));
            let acked = f.flags & TcpFlags::ACK != 0;
            let ack = if acked {
                dr.map(|d| sign(f.ack, d))
            } else {
                Some(0)
            };
            let ends = (
                y_conn.endpoints[y_side.idx()],
                y_conn.endpoints[y_side.peer().idx()],
            );
            let ids = match (seq, ack, ends) {
                (Some(seq), Some(ack), (Some(src), Some(dst))) => {
                    q.exact.get(&(src, dst, seq, ack, f.core(), f.len))
                }
                (Some(seq), _, _) => q.by_seq.get(&(y_stream, y_side, seq, f.core(), f.len)),
                (None, Some(ack), _) if acked => {
                    q.by_ack.get(&(y_stream, y_side, ack, f.core(), f.len))
                }
                _ => None,
            };
            if let Some(found) = pick(q, ids, f, t, &in_pair) {
                return Some(found);
            }
            let k = f.content_key()?;
            return pick(q, q.content.get(&k), f, t, &in_pair);
        }
        if conn.one_sided {
            return None;
        }
        let unpaired = |id: &u64| {
            near(id)
                && q.get(*id).is_some_and(|(g, _)| {
                    self.conns[y]
                        .get(&g.stream)
                        .is_some_and(|c| c.pair.is_none() && !c.one_sided)
                })
        };
        if let Some(found) = pick(q, q.exact.get(&exact_key(f)), f, t, &unpaired) {
            return Some(found);
        }
        let k = f.content_key()?;
        pick(q, q.content.get(&k), f, t, &unpaired)
    }

    /// Records twins `a` (from A) and `b` (from B); `up` is the capture
    /// that saw the segment first. Pairs their connections on their first
    /// twins, and then matches what of them was waiting.
    fn matched(&mut self, a: SegFact, b: SegFact, up: usize, backed: bool) {
        let pid = match self.conns[0].get(&a.stream).and_then(|c| c.pair) {
            Some(pid) => pid,
            None => {
                let pid = self.pair_up(&a, &b);
                self.learn(pid, &a, &b);
                self.match_waiting(pid);
                pid
            }
        };
        self.learn(pid, &a, &b);
        self.record(pid, &a, &b, up, backed);
    }

    /// The sequence offsets a pair of twins shows, where not known yet.
    fn learn(&mut self, pid: u64, a: &SegFact, b: &SegFact) {
        let Some(p) = self.pairs.get_mut(&pid) else {
            return;
        };
        let side = a.side.idx();
        if p.delta[side].is_none() {
            p.delta[side] = Some(b.seq.wrapping_sub(a.seq));
        }
        if a.flags & b.flags & TcpFlags::ACK != 0 && p.delta[1 - side].is_none() {
            p.delta[1 - side] = Some(b.ack.wrapping_sub(a.ack));
        }
    }

    /// Matches the segments of a newly paired connection that waited in
    /// the queues (those before its first twins, when nothing but the
    /// pair's translation could match them: a SYN without IP ID or
    /// timestamp behind a NAT), oldest first.
    fn match_waiting(&mut self, pid: u64) {
        let Some(streams) = self.pairs.get(&pid).map(|p| p.streams) else {
            return;
        };
        let ids = self.queues[0]
            .unpaired
            .remove(&streams[0])
            .unwrap_or_default();
        self.queues[1].unpaired.remove(&streams[1]);
        for id in ids {
            let Some((f, t)) = self.queues[0].get(id).cloned() else {
                continue;
            };
            let Some((twin_id, backed)) = self.find(0, &f, t) else {
                continue;
            };
            let (Some((a, ta)), Some((b, tb))) =
                (self.queues[0].take(id), self.queues[1].take(twin_id))
            else {
                continue;
            };
            let up = usize::from(tb < ta);
            self.learn(pid, &a, &b);
            self.record(pid, &a, &b, up, backed);
        }
    }

    fn record(&mut self, pid: u64, a: &SegFact, b: &SegFact, up: usize, backed: bool) {
        let Some(p) = self.pairs.get_mut(&pid) else {
            return;
        };
        let a_side = a.side;
        if exact_key(a) == exact_key(b) {
            p.same_headers = true;
        }
        p.matched += 1;
        p.backed += u64::from(backed);
        self.totals.matched_segments += 1;
        let dir = Direction::of(a_side);
        let m = b.ts_ns - a.ts_ns;
        self.fit.add(dir, a.ts_ns, m);
        let acc = &mut p.dirs[a_side.idx()];
        acc.add(a.ts_ns, m);
        acc.first.get_or_insert((a.frame, b.frame));
        let up_frame = if up == 0 { a.frame } else { b.frame };
        if up_frame < acc.max_up[up] {
            acc.reordered.push(Reordered {
                a_frame: a.frame,
                b_frame: b.frame,
            });
            self.totals.reordered += 1;
        }
        acc.max_up[up] = acc.max_up[up].max(up_frame);
        compare(p, dir, a, b);
    }

    /// Pairs the connections of two twins; moves what expired of them
    /// before into the missing lists.
    fn pair_up(&mut self, a: &SegFact, b: &SegFact) -> u64 {
        let pid = self.next_pair;
        self.next_pair += 1;
        let mut b_side = [Side::Client, Side::Server];
        b_side[a.side.idx()] = b.side;
        b_side[a.side.peer().idx()] = b.side.peer();
        let mut missing: [Vec<u64>; 2] = Default::default();
        for (x, s) in [(0, a.stream), (1, b.stream)] {
            if let Some(c) = self.conns[x].get_mut(&s) {
                c.pair = Some(pid);
                missing[x] = std::mem::take(&mut c.early);
                self.totals.missing[x] += missing[x].len() as u64;
            }
        }
        self.pairs.insert(
            pid,
            Pair {
                streams: [a.stream, b.stream],
                b_side,
                delta: [None; 2],
                matched: 0,
                backed: 0,
                same_headers: false,
                missing,
                dirs: Default::default(),
                changes: Vec::new(),
            },
        );
        pid
    }

    /// Segments older than `limit` that found no twin are missing in the
    /// other capture; connections ended before it are written.
    fn expire(&mut self, limit: i64) {
        for x in 0..2 {
            while let Some((f, _)) = self.queues[x].pop_older(limit) {
                let Some(c) = self.conns[x].get_mut(&f.stream) else {
                    continue;
                };
                match c.pair.and_then(|p| self.pairs.get_mut(&p)) {
                    Some(p) => {
                        p.missing[x].push(f.frame);
                        self.totals.missing[x] += 1;
                    }
                    None if c.early.len() < MAX_EARLY => c.early.push(f.frame),
                    None => {
                        c.one_sided = true;
                        c.early = Vec::new();
                    }
                }
            }
        }
        self.finalize(limit);
    }

    /// Writes the connections that ended before `limit` (a pair once both
    /// of its connections have).
    fn finalize(&mut self, limit: i64) {
        while let Some(&(t, x, stream)) = self.ended.front() {
            if t >= limit {
                break;
            }
            self.ended.pop_front();
            let Some(c) = self.conns[x].get(&stream) else {
                continue;
            };
            match c.pair {
                None => {
                    if let Some(c) = self.conns[x].remove(&stream) {
                        self.write_one_sided(x, stream, c);
                    }
                }
                Some(pid) => {
                    let Some(p) = self.pairs.get(&pid) else {
                        continue;
                    };
                    let other = self.conns[1 - x].get(&p.streams[1 - x]);
                    let last_end = match (c.end_t, other.and_then(|o| o.end_t)) {
                        (Some(t1), Some(t2)) => Some(t1.max(t2)),
                        _ => None,
                    };
                    if limit == i64::MAX || last_end.is_some_and(|t| t < limit) {
                        self.write_pair(pid);
                    }
                }
            }
        }
    }

    fn write_one_sided(&mut self, x: usize, stream: u64, c: Conn) {
        self.queues[x].unpaired.remove(&stream);
        self.totals.only[x] += 1;
        let (a, b) = if x == 0 {
            (Some(stream), None)
        } else {
            (None, Some(stream))
        };
        let ends = |on: bool| {
            if on {
                (c.endpoints[0], c.endpoints[1])
            } else {
                (None, None)
            }
        };
        let (ac, as_) = ends(x == 0);
        let (bc, bs) = ends(x == 1);
        (self.sink)(ConnDiff {
            a_stream: a,
            b_stream: b,
            matched_by: if x == 0 {
                MatchedBy::OnlyA
            } else {
                MatchedBy::OnlyB
            },
            confidence: None,
            a_client: ac,
            a_server: as_,
            b_client: bc,
            b_server: bs,
            matched_segments: 0,
            a_segments: if x == 0 { c.segments } else { 0 },
            b_segments: if x == 1 { c.segments } else { 0 },
            missing_in_b: Vec::new(),
            missing_in_a: Vec::new(),
            delay: PerDirection::default(),
            reordered: PerDirection::default(),
            changes: Vec::new(),
            states_agree: None,
        });
    }

    fn write_pair(&mut self, pid: u64) {
        let Some(mut p) = self.pairs.remove(&pid) else {
            return;
        };
        let ca = self.conns[0].remove(&p.streams[0]).unwrap_or_default();
        let cb = self.conns[1].remove(&p.streams[1]).unwrap_or_default();
        self.totals.matched += 1;
        let b_client = cb.endpoints[p.b_side[0].idx()];
        let b_server = cb.endpoints[p.b_side[1].idx()];
        let nat = (ca.endpoints[0], ca.endpoints[1]) != (b_client, b_server);
        let shifted = p.delta.iter().any(|d| d.is_some_and(|d| d != 0));
        for side in Side::BOTH {
            if let Some(d) = p.delta[side.idx()].filter(|&d| d != 0) {
                let dir = Direction::of(side);
                let acc = &p.dirs[side.idx()];
                let (a_frame, b_frame) = acc.first.unwrap_or_default();
                p.changes.push(Change {
                    field: "seq_offset",
                    dir: dir.name(),
                    a: 0.into(),
                    b: (d as i32).into(),
                    count: acc.seen,
                    a_frame,
                    b_frame,
                });
            }
        }
        let states_agree = match (&ca.end, &cb.end) {
            (Some(ea), Some(eb)) => {
                let mut agree = true;
                for side in Side::BOTH {
                    let sa = &ea.states[side.idx()];
                    let sb = &eb.states[p.b_side[side.idx()].idx()];
                    let names = |v: &[(State, Option<u64>)]| -> serde_json::Value {
                        v.iter()
                            .map(|s| s.0.name())
                            .collect::<Vec<_>>()
                            .join(" ")
                            .into()
                    };
                    let same = |x: &[(State, Option<u64>)], y: &[(State, Option<u64>)]| {
                        x.len() == y.len() && x.iter().zip(y).all(|(a, b)| a.0 == b.0)
                    };
                    if !same(sa, sb) {
                        agree = false;
                        // Where they part: the first transition that differs,
                        // or the connection's last frame.
                        let at = sa.iter().zip(sb).take_while(|(a, b)| a.0 == b.0).count();
                        let frame = |v: &[(State, Option<u64>)], last: u64| {
                            v.get(at).and_then(|s| s.1).unwrap_or(last)
                        };
                        p.changes.push(Change {
                            field: if side == Side::Client {
                                "client_states"
                            } else {
                                "server_states"
                            },
                            dir: "both",
                            a: names(sa),
                            b: names(sb),
                            count: 1,
                            a_frame: frame(sa, ea.last_frame),
                            b_frame: frame(sb, eb.last_frame),
                        });
                    }
                }
                Some(agree)
            }
            _ => None,
        };
        if states_agree == Some(false) {
            self.totals.states_disagree += 1;
        }
        if p.changes.iter().any(|c| !c.field.ends_with("_states")) || nat {
            self.totals.changed += 1;
        }
        if nat {
            for side in Side::BOTH {
                let (ea, eb) = (
                    ca.endpoints[side.idx()],
                    cb.endpoints[p.b_side[side.idx()].idx()],
                );
                if ea != eb {
                    let show = |e: Option<Endpoint>| {
                        e.map_or(serde_json::Value::Null, |e| e.to_string().into())
                    };
                    let acc = &p.dirs[side.idx()];
                    let (a_frame, b_frame) = acc.first.unwrap_or_default();
                    p.changes.insert(
                        0,
                        Change {
                            field: "nat",
                            dir: Direction::of(side).name(),
                            a: show(ea),
                            b: show(eb),
                            count: acc.seen,
                            a_frame,
                            b_frame,
                        },
                    );
                }
            }
        }
        let matched_by = match (nat, shifted) {
            (false, false) => MatchedBy::Tuple,
            (true, false) => MatchedBy::Nat,
            (false, true) => MatchedBy::IsnRewrite,
            (true, true) => MatchedBy::NatIsnRewrite,
        };
        let confidence = if p.same_headers && !nat && !shifted || p.backed >= 3 {
            Confidence::High
        } else if p.backed >= 1 {
            Confidence::Medium
        } else {
            Confidence::Low
        };
        let clock = self.clock;
        let [c2s, s2c] = std::mem::take(&mut p.dirs);
        let [mut mb, mut ma] = std::mem::take(&mut p.missing);
        mb.sort_unstable();
        ma.sort_unstable();
        (self.sink)(ConnDiff {
            a_stream: Some(p.streams[0]),
            b_stream: Some(p.streams[1]),
            matched_by,
            confidence: Some(confidence),
            a_client: ca.endpoints[0],
            a_server: ca.endpoints[1],
            b_client,
            b_server,
            matched_segments: p.matched,
            a_segments: ca.segments,
            b_segments: cb.segments,
            missing_in_b: mb,
            missing_in_a: ma,
            delay: PerDirection {
                c2s: c2s.stats(&clock),
                s2c: s2c.stats(&clock),
            },
            reordered: PerDirection {
                c2s: c2s.reordered,
                s2c: s2c.reordered,
            },
            changes: p.changes,
            states_agree,
        });
    }
}

/// The best twin among `ids` for `f`, seen at `t`: an equal IP ID and
/// timestamp, then an equal IP ID, then an equal timestamp; among equals
/// the nearest in (corrected) time, which tells an original from its
/// retransmission when nothing else does. Whether IP ID, timestamp or
/// payload digest back the choice.
fn pick(
    q: &Queue,
    ids: Option<&Vec<u64>>,
    f: &SegFact,
    t: i64,
    ok: &dyn Fn(&u64) -> bool,
) -> Option<(u64, bool)> {
    let mut best: Option<(u8, i64, u64)> = None;
    for id in ids?.iter().filter(|id| ok(id)) {
        let Some((g, tg)) = q.get(*id) else { continue };
        let ip = f.ip_id().is_some() && f.ip_id() == g.ip_id();
        let ts = f.tsval.is_some() && f.tsval == g.tsval;
        let rank = 2 * u8::from(ip) + u8::from(ts);
        let gap = (tg - t).saturating_abs();
        if best.is_none_or(|(r, d, _)| rank > r || rank == r && gap < d) {
            best = Some((rank, gap, *id));
        }
    }
    let (rank, _, id) = best?;
    let digest = f.wire.payload_digest != 0
        && q.get(id)
            .is_some_and(|(g, _)| g.wire.payload_digest == f.wire.payload_digest);
    Some((id, rank > 0 || digest))
}

/// Notes what the path changed between a segment's two copies.
fn compare(p: &mut Pair, dir: Direction, a: &SegFact, b: &SegFact) {
    let frames = (a.frame, b.frame);
    let (wa, wb) = (&a.wire, &b.wire);
    if let (Some(x), Some(y)) = (wa.hop_limit, wb.hop_limit) {
        if x != y {
            p.note("ttl", dir, x.into(), y.into(), frames);
        }
    }
    if let (Some(x), Some(y)) = (wa.tos, wb.tos) {
        if x >> 2 != y >> 2 {
            p.note("dscp", dir, (x >> 2).into(), (y >> 2).into(), frames);
        }
        if x & 3 != y & 3 {
            p.note("ecn", dir, (x & 3).into(), (y & 3).into(), frames);
        }
    }
    if a.flags & TcpFlags::SYN != 0 {
        if a.mss != b.mss {
            p.note("mss", dir, a.mss.into(), b.mss.into(), frames);
        }
        if a.wscale != b.wscale {
            p.note(
                "window_scale",
                dir,
                a.wscale.into(),
                b.wscale.into(),
                frames,
            );
        }
    }
    if a.window != b.window {
        p.note("window", dir, a.window.into(), b.window.into(), frames);
    }
    if wa.option_kinds != wb.option_kinds {
        p.note(
            "options",
            dir,
            kinds(wa.option_kinds),
            kinds(wb.option_kinds),
            frames,
        );
    }
    if a.flags != b.flags {
        let names = |f: u16| TcpFlags(f).to_string().into();
        p.note("flags", dir, names(a.flags), names(b.flags), frames);
    }
}

/// The option kinds of a bit set, as numbers (31 standing for 31 and up).
fn kinds(bits: u32) -> serde_json::Value {
    (0..32u32)
        .filter(|k| bits & (1 << k) != 0)
        .map(serde_json::Value::from)
        .collect::<Vec<_>>()
        .into()
}
