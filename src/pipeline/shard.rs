//! One shard of the flow table: its connections, their analysers, and the
//! work of one batch.

use super::analysis::Evictions;
use super::connection::{Connection, Trackers};
use super::options::Options;
use crate::anomaly::{Anomaly, AnomalyCode};
use crate::decode::Frame;
use crate::flow::{FlowKey, FlowTable, Placement, UNNUMBERED};
use crate::model::{Segment, Side};
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

/// What placing one segment did.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step {
    Placed(Placement),
    /// A segment with a bad checksum: only Zeek's view hears of it; the
    /// connection it would have joined (slot, sender), if any.
    BadChecksum(Option<(u32, Side)>),
}

/// One shard: a flow table, its connections' analysers, and this batch's work.
#[derive(Default)]
pub(crate) struct Shard {
    pub(crate) flows: FlowTable<Trackers>,
    /// This batch's segments (index into the batch's segment list) and keys.
    pub(crate) input: Vec<(u32, FlowKey)>,
    /// What placing each input segment did.
    pub(crate) steps: Vec<Step>,
    /// Connections this batch started: (first frame, slot).
    pub(crate) new: Vec<(u64, u32)>,
    /// Connections finished in this batch.
    pub(crate) finished: Vec<Connection>,
    /// Port reuse anomalies whose detail needs the stream number of a
    /// connection started in this batch: (new slot, frame, side, old slot).
    pub(crate) pending_details: Vec<(u32, u64, Side, u32)>,
    pub(crate) evictions: Evictions,
    /// Zeek's connections, keyed as Zeek keys them (all of one key are in
    /// this shard: [`FlowKey::shard`] leaves the tunnel out).
    pub(crate) zeek: ZeekSessions,
    /// Zeek records none of whose packets is in a connection (all had bad
    /// checksums), for the analysis to list on their own.
    pub(crate) zeek_unattached: Vec<ZeekRecord>,
}

impl Shard {
    /// Places this batch's segments into connections (flow counters only;
    /// new connections get fresh analysers).
    pub(crate) fn place(&mut self, segs: &[&Segment], options: &Options) {
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

    /// Runs the placed segments through their connections' analysers, and
    /// every segment through Zeek's view; `clocks[i]` is the latest
    /// timestamp read up to segment `i` (Zeek's network time).
    pub(crate) fn follow(&mut self, segs: &[&Segment], clocks: &[i64]) {
        let input = std::mem::take(&mut self.input);
        for (k, &(i, key)) in input.iter().enumerate() {
            let seg = segs[i as usize];
            let conn = match self.steps[k] {
                Step::Placed(p) => {
                    if let (true, Some(old)) = (p.new, p.replaced) {
                        self.note_port_reuse(old, p.slot, seg);
                    }
                    self.flows
                        .data_mut(p.slot)
                        .on_segment(seg, p.side, p.reused_ports);
                    Some(p.slot)
                }
                Step::BadChecksum(would_join) => would_join.map(|(slot, _)| slot),
            };
            // A connection's packets all have one Zeek key, so the Zeek
            // connection its last packets went to is the one to try first.
            let hint = conn
                .and_then(|slot| self.flows.get_data_mut(slot))
                .and_then(|t| t.zeek_live.last().copied());
            let touch = self
                .zeek
                .packet(key.without_tunnel(), seg, clocks[i as usize], conn, hint);
            self.settle_zeek();
            if let (Some(slot), true) = (conn, touch.first_in_conn) {
                if let Some(t) = self.flows.get_data_mut(slot) {
                    t.zeek_live.push(touch.session);
                }
            }
        }
        self.input = input;
    }

    /// Hands the Zeek records finished so far to the connections holding
    /// their packets (the first of them writes the record in conn.log).
    pub(crate) fn settle_zeek(&mut self) {
        while let Some(done) = self.zeek.pop_finished() {
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
            t.zeek_live.retain(|&s| s != session);
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
            seq_numbers: Vec::new(),
        });
    }

    /// Writes the details that waited for this batch's stream numbers.
    pub(crate) fn write_pending_details(&mut self) {
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
    /// The Zeek connections holding its packets end with it (where Zeek
    /// would have ended them already, or at the capture's end, their
    /// records are the same).
    pub(crate) fn finish(&mut self, slot: u32, end_ns: i64) -> Option<Connection> {
        let live = std::mem::take(&mut self.flows.get_data_mut(slot)?.zeek_live);
        for session in live {
            self.zeek.finish(session);
        }
        self.settle_zeek();
        let (flow, t) = self.flows.remove(slot)?;
        Some(t.finish(flow, end_ns))
    }

    /// Finishes the connections that are over or idle at `now_ns` (when
    /// `sweep`), then, while the shard holds more than `limit`, those over or
    /// idle longest.
    pub(crate) fn evict(&mut self, now_ns: i64, sweep: bool, limit: usize, options: &Options) {
        let linger = options.machines.msl_ns.saturating_mul(2);
        let idle = options.flows.idle_timeout_ns;
        if sweep {
            self.zeek.sweep(now_ns);
            self.settle_zeek();
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

fn port_reuse_detail(side: Side, old_stream: u64) -> String {
    format!("the {side} of stream {old_stream} was still in TIME_WAIT")
}
