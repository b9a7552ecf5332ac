//! Zeek's connection table: which connection a packet belongs to, keyed as
//! Zeek keys it (the 5-tuple, VLANs if asked, never tunnels), with Zeek's
//! own lifetimes. Several Zeek connections may follow one another on the
//! same ports where Wireshark sees one stream, and one may span two
//! streams that tcpstate's tunnel key keeps apart.

use rustc_hash::FxHashMap;

use crate::flow::{FlowKey, KeyOptions, Keyer};
use crate::model::Segment;

use super::record::ZeekRecord;
use super::tracker::ZeekTracker;
use super::ZeekConfig;

/// A live connection and the callers' connections (Wireshark stream parts,
/// by the caller's ids) its packets went to, first first.
#[derive(Debug)]
struct Live {
    key: FlowKey,
    tracker: ZeekTracker,
    /// The caller connection of the last packet, to skip `conns` for the
    /// next one (nearly always the same).
    last_conn: Option<u32>,
    conns: Vec<u32>,
}

/// A connection Zeek removed: its record, and the callers' connections it
/// went to (empty when all its packets had bad checksums).
#[derive(Debug)]
pub struct Finished {
    /// The id [`ZeekSessions::packet`] gave it.
    pub session: u32,
    /// What conn.log says about it.
    pub record: ZeekRecord,
    /// The callers' connection ids, first first.
    pub conns: Vec<u32>,
}

/// Where a packet went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Touch {
    /// The Zeek connection's id, valid until it is [`Finished`].
    pub session: u32,
    /// The packet is the first of this Zeek connection in the caller's
    /// connection it named.
    pub first_in_conn: bool,
}

/// Zeek's live connections and those finished but not yet collected.
#[derive(Debug, Default)]
pub struct ZeekSessions {
    config: ZeekConfig,
    /// Seed of the records' Community IDs (Zeek's `CommunityID::seed`).
    community_id_seed: u16,
    index: FxHashMap<FlowKey, u32>,
    /// Inline rather than boxed: a packet's lookup is one memory access less.
    slots: Vec<Option<Live>>,
    free: Vec<u32>,
    finished: Vec<Finished>,
    /// Connections created with no caller connection (a bad-checksum
    /// packet): the only ones [`ZeekSessions::sweep`] looks at, as the
    /// others end with the caller's connections.
    orphans: Vec<u32>,
}

impl ZeekSessions {
    /// An empty table with these timers.
    pub fn new(config: ZeekConfig) -> ZeekSessions {
        ZeekSessions {
            config,
            ..ZeekSessions::default()
        }
    }

    /// The table with records whose Community ID uses `seed` (0 by default).
    pub fn with_community_id_seed(mut self, seed: u16) -> ZeekSessions {
        self.community_id_seed = seed;
        self
    }

    /// Live connections.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No live connection.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// One packet, in capture order: `key` is its Zeek key
    /// ([`FlowKey::without_tunnel`]), `clock` Zeek's network time (the
    /// latest timestamp read so far), `conn` the caller's connection it went
    /// to, if any, and `hint` the Zeek connection that one's packets went to
    /// last, if known (it saves the lookup). As in
    /// `IPBasedAnalyzer::AnalyzePacket`: timers due by `clock` remove the
    /// connection first, a SYN that reuses its ports ends it, and a packet
    /// with no connection creates one.
    pub fn packet(
        &mut self,
        key: FlowKey,
        seg: &Segment,
        clock: i64,
        conn: Option<u32>,
        hint: Option<u32>,
    ) -> Touch {
        let config = self.config;
        // A hint names a live connection of this key (the caller drops it
        // when that connection is finished), so it needs no checking
        // beyond being live.
        let hinted = hint.filter(|&id| matches!(self.slots.get(id as usize), Some(Some(_))));
        debug_assert!(hinted.is_none_or(|id| {
            matches!(&self.slots[id as usize], Some(live) if live.key == key)
        }));
        if let Some(id) = hinted.or_else(|| self.index.get(&key).copied()) {
            let keep = match self.slots[id as usize].as_mut() {
                Some(live) => !live.tracker.expired_by(clock) && !live.tracker.is_reuse(seg),
                None => false,
            };
            if keep {
                if let Some(live) = self.slots[id as usize].as_mut() {
                    live.tracker.check_encapsulation(seg, &config);
                    live.tracker.packet(seg, &config);
                    let first_in_conn = conn != live.last_conn && touch(&mut live.conns, conn);
                    live.last_conn = conn;
                    return Touch {
                        session: id,
                        first_in_conn,
                    };
                }
            }
            self.finish(id);
        }
        let mut tracker = ZeekTracker::new(seg, clock);
        tracker.packet(seg, &config);
        let mut conns = Vec::new();
        let first_in_conn = touch(&mut conns, conn);
        let live = Live {
            key,
            tracker,
            last_conn: conn,
            conns,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(live);
                id
            }
            None => {
                self.slots.push(Some(live));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, id);
        if conn.is_none() {
            self.orphans.push(id);
        }
        Touch {
            session: id,
            first_in_conn,
        }
    }

    /// When Zeek's timers would remove connection `session` if no packet
    /// of it came first (`i64::MAX`: never; `None`: not live).
    pub fn deadline(&self, session: u32) -> Option<i64> {
        let live = self.slots.get(session as usize)?.as_ref()?;
        Some(live.tracker.deadline())
    }

    /// Takes caller connection `conn` off `session`, which lives on (its
    /// caller connection ended before Zeek's timers would end it; a later
    /// one, or none, will hold the rest of its packets), and returns the
    /// record as it stands. With no caller connection left, the session is
    /// an orphan: its timers end it ([`ZeekSessions::sweep`]), or
    /// [`ZeekSessions::limit_orphans`] does.
    pub fn detach(&mut self, session: u32, conn: u32) -> Option<ZeekRecord> {
        let live = self.slots.get_mut(session as usize)?.as_mut()?;
        live.conns.retain(|&c| c != conn);
        if live.last_conn == Some(conn) {
            live.last_conn = None;
        }
        let snapshot = live.tracker.record(self.community_id_seed);
        if live.conns.is_empty() {
            self.orphans.push(session);
        }
        Some(snapshot)
    }

    /// Ends the oldest orphans (by their last packet) while there are more
    /// than `max`, so detached sessions cannot grow memory without bound.
    pub fn limit_orphans(&mut self, max: usize) {
        if self.orphans.len() <= max {
            return;
        }
        let slots = &self.slots;
        let mut by_age: Vec<(i64, u32)> = self
            .orphans
            .iter()
            .filter_map(|&id| {
                let live = slots.get(id as usize)?.as_ref()?;
                live.conns.is_empty().then(|| (live.tracker.last_ns(), id))
            })
            .collect();
        by_age.sort_unstable();
        by_age.dedup_by_key(|e| e.1);
        let excess = by_age.len().saturating_sub(max);
        for &(_, id) in &by_age[..excess] {
            self.finish(id);
        }
        let slots = &self.slots;
        self.orphans.retain(|&id| {
            slots
                .get(id as usize)
                .is_some_and(|s| s.as_ref().is_some_and(|l| l.conns.is_empty()))
        });
        self.orphans.sort_unstable();
        self.orphans.dedup();
    }

    /// Ends connection `session` now (its record is final as it stands).
    pub fn finish(&mut self, session: u32) {
        let Some(live) = self.slots.get_mut(session as usize).and_then(Option::take) else {
            return;
        };
        if self.index.get(&live.key) == Some(&session) {
            self.index.remove(&live.key);
        }
        self.free.push(session);
        self.finished.push(Finished {
            session,
            record: live.tracker.record(self.community_id_seed),
            conns: live.conns,
        });
    }

    /// Ends the connections with no caller connection that a timer removed
    /// by network time `clock` (the others end with the caller's
    /// connections, so their memory is bounded by those).
    pub fn sweep(&mut self, clock: i64) {
        let mut orphans = std::mem::take(&mut self.orphans);
        orphans.retain(|&id| {
            let due = match self.slots[id as usize].as_mut() {
                Some(live) if live.conns.is_empty() => live.tracker.expired_by(clock),
                _ => return false,
            };
            if due {
                self.finish(id);
            }
            !due
        });
        // A slot freed and taken by another orphan is listed twice.
        orphans.sort_unstable();
        orphans.dedup();
        self.orphans = orphans;
    }

    /// Ends every live connection (the capture is over).
    pub fn finish_all(&mut self) {
        for id in 0..self.slots.len() as u32 {
            self.finish(id);
        }
    }

    /// A connection ended since the last call, if any.
    pub fn pop_finished(&mut self) -> Option<Finished> {
        self.finished.pop()
    }

    /// Zeek's view of `segments` alone, in capture order, without the
    /// pipeline: every record, in order of its first packet. For tests and
    /// tools; the analysis runs the table shard by shard.
    pub fn run<'a>(
        config: ZeekConfig,
        keys: KeyOptions,
        segments: impl IntoIterator<Item = &'a Segment>,
    ) -> Vec<ZeekRecord> {
        let mut table = ZeekSessions::new(config);
        let mut keyer = Keyer::new(keys);
        let mut clock = i64::MIN;
        let mut records = Vec::new();
        for seg in segments {
            clock = clock.max(seg.ts_ns);
            table.packet(keyer.key(seg).without_tunnel(), seg, clock, None, None);
            records.extend(std::iter::from_fn(|| table.pop_finished()).map(|f| f.record));
        }
        table.finish_all();
        records.extend(std::iter::from_fn(|| table.pop_finished()).map(|f| f.record));
        records.sort_by_key(|r| r.first_frame);
        records
    }
}

/// Notes that a connection's packet went to caller connection `conn`; true
/// the first time it goes there.
fn touch(conns: &mut Vec<u32>, conn: Option<u32>) -> bool {
    match conn {
        Some(c) if !conns.contains(&c) => {
            conns.push(c);
            true
        }
        _ => false,
    }
}
