//! One shard of the flow table: its connections, their analysers, and the
//! work of one batch.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::analysis::Evictions;
use super::connection::{Connection, Trackers, ZeekLive};
use super::options::Options;
use crate::anomaly::{Anomaly, AnomalyCode};
use crate::decode::{Content, Decoded, Frame, NonIp};
use crate::flow::{resolve_stream, FlowKey, FlowTable, Placement, PROVISIONAL, UNNUMBERED};
use crate::model::{EncapSet, Segment, Side};
use crate::tcp::zeek::{ZeekRecord, ZeekSessions};

/// Flow tables working in parallel. A constant, not the thread count, so
/// which connections share a table (and so the per-table limit) never
/// depends on the machine.
pub(crate) const SHARDS: usize = 64;

/// A decoded frame and, for a TCP segment, its flow key and shard when they
/// could be worked out in parallel.
pub(crate) struct KeyedFrame {
    pub(crate) frame: Frame,
    pub(crate) key: Option<(FlowKey, u32)>,
}

impl KeyedFrame {
    /// A slot to decode into, owning nothing.
    pub(crate) fn placeholder() -> KeyedFrame {
        KeyedFrame {
            frame: Frame {
                content: Content::Decoded(Decoded::NonIp(NonIp::JournalEntry)),
                more: Vec::new(),
                encaps: EncapSet::default(),
            },
            key: None,
        }
    }
}

/// Marks an entry of [`Segments::at`] that is not in the batch's frames but
/// the `i`-th of [`Segments::reassembled`].
pub(crate) const REASSEMBLED: u32 = 1 << 31;

/// A batch's TCP segments in frame order, read where they lie, so none is
/// copied and no list of references ties the batch to one borrow: a
/// segment's index here is its index in the shards' inputs.
#[derive(Clone, Copy)]
pub(crate) struct Segments<'a> {
    pub(crate) frames: &'a [KeyedFrame],
    /// For each segment, its frame's index in `frames`, or
    /// `REASSEMBLED | i` for the `i`-th of `reassembled`.
    pub(crate) at: &'a [u32],
    /// The segments no frame holds as its content: reassembled from
    /// fragments, or an A-MSDU's after its first.
    pub(crate) reassembled: &'a [Segment],
}

impl<'a> Segments<'a> {
    /// Starts loading where the `i`-th segment lies.
    #[inline(always)]
    fn prefetch_place(&self, i: usize) {
        if let Some(at) = self.at.get(i) {
            crate::model::prefetch(at, 1);
        }
    }

    /// Starts loading the `i`-th segment, without waiting for it.
    #[inline(always)]
    fn prefetch(&self, i: usize) {
        let Some(&at) = self.at.get(i) else {
            return;
        };
        if at & REASSEMBLED != 0 {
            if let Some(seg) = self.reassembled.get((at & !REASSEMBLED) as usize) {
                crate::model::prefetch(seg, usize::MAX);
            }
        } else if let Some(kf) = self.frames.get(at as usize) {
            crate::model::prefetch(&kf.frame.content, usize::MAX);
        }
    }

    /// The `i`-th segment.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> &'a Segment {
        let at = self.at[i];
        if at & REASSEMBLED != 0 {
            return &self.reassembled[(at & !REASSEMBLED) as usize];
        }
        match &self.frames[at as usize].frame.content {
            Content::Decoded(Decoded::Tcp(seg)) => seg,
            // The frame pass lists a frame here only for its TCP segment.
            _ => unreachable!("a batch's segment list names a frame without a TCP segment"),
        }
    }
}

/// A place in a batch's segments where the analysis checks for finished
/// connections: before segment `at`, with the clock at `now`, as frame
/// `frame` arrived. `seq` numbers the checks from the capture's start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Check {
    pub(crate) at: usize,
    pub(crate) now: i64,
    pub(crate) frame: u64,
    pub(crate) seq: u64,
}

/// What placing one segment did.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step {
    /// Placed in a connection with this stream number (provisional until
    /// the batch is numbered).
    Placed(Placement, u64),
    /// A segment with a bad checksum: only Zeek's view hears of it.
    BadChecksum,
}

/// How many segments ahead of the one being placed [`Shard::run`] starts
/// loading the pointer to a segment, its connection entry, and the segment
/// and its Zeek connection. Chosen by alternating runs on a 1 GB capture
/// with 2 threads: 24/12/6 did better than 0/8/4 and 0/16/8.
const PTR_AHEAD: usize = 24;
const FLOW_AHEAD: usize = 12;
const ZEEK_AHEAD: usize = 6;
/// The length of the ring of slots found ahead: more than FLOW_AHEAD.
const AHEAD: usize = 16;

/// One shard: a flow table, its connections' analysers, and this batch's work.
#[derive(Default)]
pub(crate) struct Shard {
    pub(crate) flows: FlowTable<Trackers>,
    /// What placing each segment of this batch's input did.
    pub(crate) steps: Vec<Step>,
    /// Connections this batch started: (first frame, slot); the `i`-th has
    /// the provisional stream number `PROVISIONAL | i` until the batch is
    /// numbered.
    pub(crate) new: Vec<(u64, u32)>,
    /// Finished connections, each with the number of the check that hands
    /// it out (the first check at or after its finishing).
    pub(crate) finished: Vec<(u64, Connection)>,
    /// The number of the next check: what a connection finished now is
    /// tagged with.
    pub(crate) next_check: u64,
    /// Port reuse anomalies whose detail needs the stream number of a
    /// connection started in this batch: the new connection's slot and
    /// first frame, the anomaly's frame, the side, and the old
    /// connection's provisional stream number.
    pub(crate) pending_details: Vec<(u32, u64, u64, Side, u64)>,
    pub(crate) evictions: Evictions,
    /// When live connections may next be due to finish: (capture time,
    /// first frame, slot), soonest first. A connection has an entry from its
    /// start (its idle deadline then) and another when it becomes over; an
    /// entry whose time comes is checked against the connection, which may
    /// have gone (the first frame tells a slot's new tenant apart) or moved
    /// its deadline on (the entry is then queued again).
    pub(crate) deadlines: BinaryHeap<Reverse<(i64, u64, u32)>>,
    /// Zeek's connections, keyed as Zeek keys them (all of one key are in
    /// this shard: [`FlowKey::shard`] leaves the tunnel out).
    pub(crate) zeek: ZeekSessions,
    /// Zeek records none of whose packets is in a connection (all had bad
    /// checksums), for the analysis to list on their own.
    pub(crate) zeek_unattached: Vec<ZeekRecord>,
}

impl Shard {
    /// Places this batch's segments into connections and runs each through
    /// its connection's analysers, one segment at a time (so a connection is
    /// finished only after every earlier segment of it was followed), and
    /// runs the batch's `checks` where they fall among the segments. Each
    /// shard does the whole batch in one go: the checks depend only on the
    /// frames, so a shard needs nothing from the others until the batch's
    /// new connections are numbered ([`Shard::resolve_streams`]); until
    /// then they carry provisional numbers.
    ///
    /// A segment whose connection started before the last check (frame
    /// `since`) and has since been idle past the timeout, or over and quiet
    /// for 2*MSL, finishes it first, as a check would have: the segment then
    /// starts the stream's next part. New connections get fresh analysers.
    /// Every segment, bad checksums included, also goes through Zeek's view;
    /// `clocks[i]` is the latest timestamp read up to segment `i` (Zeek's
    /// network time). `next_check` is the number the batch's first check
    /// has (or the next one, if the batch has none).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run(
        &mut self,
        input: &[(u32, FlowKey)],
        segs: Segments<'_>,
        clocks: &[i64],
        checks: &[Check],
        mut since: u64,
        next_check: u64,
        limit: usize,
        options: &Options,
    ) {
        self.steps.clear();
        self.new.clear();
        self.next_check = next_check;
        let idle = options.flows.idle_timeout_ns;
        let linger = options.machines.msl_ns.saturating_mul(2);
        // No connection is due sooner than this after its last packet.
        let soonest = idle.min(linger);
        let mut checks = checks.iter().peekable();
        // The slot found for each of the next FLOW_AHEAD segments' keys,
        // at the segment's input index modulo AHEAD.
        let mut ahead = [u32::MAX; AHEAD];
        for (n, &(_, key)) in input.iter().take(FLOW_AHEAD).enumerate() {
            ahead[n % AHEAD] = self.flows.prefetch(&key).unwrap_or(u32::MAX);
        }
        for (n, &(i, key)) in input.iter().enumerate() {
            self.prefetch_ahead(n, input, segs, &mut ahead);
            while let Some(check) = checks.next_if(|c| c.at <= i as usize) {
                self.check(check, limit, options);
                since = check.frame;
            }
            let seg = segs.get(i as usize);
            if seg.bad_checksum {
                // Zeek hears of it in the connection it would have joined.
                let would_join = self.flows.find(&key, seg).map(|(slot, _)| slot);
                self.steps.push(Step::BadChecksum);
                self.zeek_packet(key, seg, clocks[i as usize], would_join);
                continue;
            }
            let mut current = self.flows.current(&key);
            if let Some(slot) = current {
                let c = self.flows.conn(slot);
                if c.first_frame < since
                    && c.end_ns.saturating_add(soonest) <= seg.ts_ns
                    && self.finish_if_due(slot, seg.ts_ns, options)
                {
                    current = None;
                }
            }
            let p = self
                .flows
                .place(key, current, seg, || Trackers::new(options));
            if p.new {
                if self.flows.conn(p.slot).stream == UNNUMBERED {
                    let provisional = PROVISIONAL | self.new.len() as u64;
                    self.flows.set_provisional_stream(p.slot, provisional);
                    self.new.push((seg.frame, p.slot));
                }
                let deadline = seg.ts_ns.saturating_add(idle);
                self.deadlines.push(Reverse((deadline, seg.frame, p.slot)));
                if let Some(old) = p.replaced {
                    self.note_port_reuse(old, p.slot, seg);
                }
            }
            let t = self.flows.data_mut(p.slot);
            t.on_segment(seg, p.side, p.reused_ports);
            let over = t.tcp.is_over();
            let newly_over = over && !t.over;
            t.over = over;
            if newly_over {
                let c = self.flows.conn(p.slot);
                let deadline = c.end_ns.saturating_add(linger);
                self.deadlines
                    .push(Reverse((deadline, c.first_frame, p.slot)));
            }
            self.steps
                .push(Step::Placed(p, self.flows.conn(p.slot).stream));
            self.zeek_packet(key, seg, clocks[i as usize], Some(p.slot));
        }
        for check in checks {
            self.check(check, limit, options);
        }
    }

    /// Before placing input segment `n`: starts loading what segments a
    /// little further on will touch, so the cache misses of one overlap the
    /// work on the others (a worker goes through all 64 shards per batch,
    /// so a connection's ~1.7 kB of state has left its core's caches by the
    /// connection's next segment). In stages, each needing what the one
    /// before loaded: the pointer to the segment `PTR_AHEAD` on; the
    /// connection entry of the key `FLOW_AHEAD` on (its slot kept in
    /// `ahead`); the segment `ZEEK_AHEAD` on and its Zeek connection, named
    /// by the entry loaded before. A stage that finds nothing (a new
    /// connection) skips it; a slot gone stale by the time it is used loads
    /// the wrong lines, never changes a result.
    #[inline(always)]
    fn prefetch_ahead(
        &self,
        n: usize,
        input: &[(u32, FlowKey)],
        segs: Segments<'_>,
        ahead: &mut [u32; AHEAD],
    ) {
        if let Some(&(j, _)) = input.get(n + PTR_AHEAD) {
            segs.prefetch_place(j as usize);
        }
        if let Some(&(_, key)) = input.get(n + FLOW_AHEAD) {
            ahead[(n + FLOW_AHEAD) % AHEAD] = self.flows.prefetch(&key).unwrap_or(u32::MAX);
        }
        if let Some(&(j, _)) = input.get(n + ZEEK_AHEAD) {
            segs.prefetch(j as usize);
            let slot = ahead[(n + ZEEK_AHEAD) % AHEAD];
            if let Some(&session) = self.flows.get_data(slot).and_then(|t| t.zeek_live.last()) {
                self.zeek.prefetch(session);
            }
        }
    }

    /// Runs one check: what it finishes is handed out with its number.
    fn check(&mut self, check: &Check, limit: usize, options: &Options) {
        self.next_check = check.seq;
        self.evict(check.now, limit, options);
        self.next_check = check.seq + 1;
    }

    /// Gives the batch's new connections their real stream numbers
    /// (`numbers[i]` for the `i`-th of [`Shard::new`]) wherever a
    /// provisional one went: live connections and their continuations,
    /// tombstones, finished connections, the steps, and the port reuse
    /// details that name an earlier stream.
    pub(crate) fn resolve_streams(&mut self, numbers: &[u64]) {
        self.flows.resolve_streams(numbers);
        for (_, c) in &mut self.finished {
            c.flow.stream = resolve_stream(c.flow.stream, numbers);
        }
        for step in &mut self.steps {
            if let Step::Placed(_, stream) = step {
                *stream = resolve_stream(*stream, numbers);
            }
        }
        for (slot, first_frame, frame, side, old) in std::mem::take(&mut self.pending_details) {
            let detail = port_reuse_detail(side, resolve_stream(old, numbers));
            let code = AnomalyCode::PortReuseInTimeWait;
            if self.flows.get(slot).map(|c| c.first_frame) == Some(first_frame) {
                let tcp = &mut self.flows.data_mut(slot).tcp;
                tcp.set_anomaly_detail(code, frame, detail);
            } else if let Some((_, c)) = self
                .finished
                .iter_mut()
                .find(|(_, c)| c.flow.first_frame == first_frame)
            {
                // Finished in the batch that started it.
                c.tcp.set_anomaly_detail(code, frame, detail);
            }
        }
    }

    /// Runs a segment through Zeek's view (which keys connections as Zeek
    /// does, without the tunnel); `conn` is the connection holding it.
    fn zeek_packet(&mut self, key: FlowKey, seg: &Segment, clock: i64, conn: Option<u32>) {
        // A connection's packets all have one Zeek key, so the Zeek
        // connection its last packets went to is the one to try first.
        let hint = conn
            .and_then(|slot| self.flows.get_data_mut(slot))
            .and_then(|t| t.zeek_live.last().copied());
        let touch = self
            .zeek
            .packet(key.without_tunnel(), seg, clock, conn, hint);
        self.settle_zeek();
        if let (Some(slot), true) = (conn, touch.first_in_conn) {
            if let Some(t) = self.flows.get_data_mut(slot) {
                t.zeek_live.push(touch.session);
            }
        }
    }

    /// Hands the Zeek records finished so far to the connections holding
    /// their packets (the first of them writes the record in conn.log).
    ///
    /// Inline, as it runs after every packet and nearly always finds nothing.
    #[inline]
    pub(crate) fn settle_zeek(&mut self) {
        if let Some(done) = self.zeek.pop_finished() {
            self.settle_zeek_from(done);
        }
    }

    #[inline(never)]
    fn settle_zeek_from(&mut self, first: crate::tcp::zeek::Finished) {
        let mut next = Some(first);
        while let Some(done) = next.take().or_else(|| self.zeek.pop_finished()) {
            let Some((&last, rest)) = done.conns.split_last() else {
                self.zeek_unattached.push(done.record);
                continue;
            };
            let first = done.conns[0];
            for &slot in rest {
                self.attach(slot, done.session, done.record.clone(), slot == first);
            }
            self.attach(last, done.session, done.record, last == first);
        }
    }

    fn attach(&mut self, slot: u32, session: u32, record: ZeekRecord, owned: bool) {
        if let Some(t) = self.flows.get_data_mut(slot) {
            t.zeek_live.retain_mut(|s| *s != session);
            t.zeek.push(record, owned);
        }
    }

    /// A new connection took over the endpoint pair of connection `old`: if a
    /// side of `old` was still in TIME_WAIT, that is port reuse during TIME_WAIT.
    fn note_port_reuse(&mut self, old: u32, new: u32, seg: &Segment) {
        let Some(side) = self.flows.data_mut(old).tcp.reused_by(seg) else {
            return;
        };
        let old_stream = self.flows.conn(old).stream;
        let detail = if crate::flow::is_provisional(old_stream) {
            // `old` started in this batch: numbered once the batch is placed.
            let first_frame = self.flows.conn(new).first_frame;
            self.pending_details
                .push((new, first_frame, seg.frame, side, old_stream));
            String::new()
        } else {
            port_reuse_detail(side, old_stream)
        };
        self.flows.data_mut(new).tcp.report(Anomaly {
            code: AnomalyCode::PortReuseInTimeWait,
            frame: Some(seg.frame),
            side: Some(Side::Client),
            detail,
            seq_numbers: Vec::new(),
        });
    }

    /// Before an idle connection finishes at `end_ns`: the Zeek connections
    /// holding its packets that Zeek's timers would keep past `end_ns` live
    /// on without it (the connection keeps their records as they stand, not
    /// to write in conn.log); the stream's next part, if one comes, holds
    /// and writes them. So `--idle-timeout` cuts rows, never Zeek's records.
    fn detach_zeek(&mut self, slot: u32, end_ns: i64) {
        let Some(t) = self.flows.get_data_mut(slot) else {
            return;
        };
        let live = std::mem::take(&mut t.zeek_live);
        let mut kept = ZeekLive::default();
        for &session in live.iter() {
            if self.zeek.deadline(session).is_some_and(|d| d > end_ns) {
                if let Some(snapshot) = self.zeek.detach(session, slot) {
                    self.flows.data_mut(slot).zeek.push(snapshot, false);
                }
            } else {
                kept.push(session);
            }
        }
        self.flows.data_mut(slot).zeek_live = kept;
    }

    /// Finishes the connection in `slot` at `end_ns` and frees its slot.
    /// The Zeek connections holding its packets end with it (where Zeek
    /// would have ended them already, or at the capture's end, their
    /// records are the same).
    pub(crate) fn finish(&mut self, slot: u32, end_ns: i64) -> Option<Connection> {
        let live = std::mem::take(&mut self.flows.get_data_mut(slot)?.zeek_live);
        for &session in live.iter() {
            self.zeek.finish(session);
        }
        self.settle_zeek();
        let (flow, t) = self.flows.remove(slot)?;
        Some(t.finish(flow, end_ns))
    }

    /// The capture time at which the connection in `slot` is due to
    /// finish, and whether it is over: the idle timeout after its last
    /// packet, or 2*MSL after it once it is over if that comes first.
    fn deadline(&self, slot: u32, options: &Options) -> (i64, bool) {
        let end = self.flows.conn(slot).end_ns;
        let idle = end.saturating_add(options.flows.idle_timeout_ns);
        if self.flows.data(slot).tcp.is_over() {
            let linger = end.saturating_add(options.machines.msl_ns.saturating_mul(2));
            (linger.min(idle), true)
        } else {
            (idle, false)
        }
    }

    /// Finishes the connection in `slot` if it is due at `now_ns`; true if it was.
    fn finish_if_due(&mut self, slot: u32, now_ns: i64, options: &Options) -> bool {
        let (due, over) = self.deadline(slot, options);
        if due > now_ns {
            return false;
        }
        // A connection ends at its deadline, not when the check runs, so what it reports does
        // not depend on when checks run (a quiet pipe runs them by wall time).
        let end = due;
        if !over {
            self.detach_zeek(slot, end);
        }
        if let Some(c) = self.finish(slot, end) {
            if over {
                self.evictions.closed += 1;
            } else {
                self.evictions.idle += 1;
            }
            self.finished.push((self.next_check, c));
        }
        true
    }

    /// Finishes the connections that are over or idle at `now_ns`, then,
    /// while the shard holds more than `limit`, those over or idle longest.
    pub(crate) fn evict(&mut self, now_ns: i64, limit: usize, options: &Options) {
        let linger = options.machines.msl_ns.saturating_mul(2);
        self.zeek.sweep(now_ns);
        self.zeek.limit_orphans(limit);
        self.settle_zeek();
        while let Some(&Reverse((at, first_frame, slot))) = self.deadlines.peek() {
            if at > now_ns {
                break;
            }
            self.deadlines.pop();
            if self.flows.get(slot).map(|c| c.first_frame) != Some(first_frame) {
                continue;
            }
            if !self.finish_if_due(slot, now_ns, options) {
                let (due, _) = self.deadline(slot, options);
                self.deadlines.push(Reverse((due, first_frame, slot)));
            }
        }
        // Entries of connections finished otherwise wait for their time;
        // drop them when they outnumber the live connections.
        if self.deadlines.len() > 4 * self.flows.len() + 1024 {
            let flows = &self.flows;
            self.deadlines.retain(|&Reverse((_, first, slot))| {
                flows.get(slot).map(|c| c.first_frame) == Some(first)
            });
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
                    self.finished.push((self.next_check, c));
                }
            }
        }
    }
}

fn port_reuse_detail(side: Side, old_stream: u64) -> String {
    format!("the {side} of stream {old_stream} was still in TIME_WAIT")
}
