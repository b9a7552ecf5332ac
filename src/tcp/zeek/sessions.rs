//! Zeek's connection table: which connection a packet belongs to, keyed as
//! Zeek keys it (the 5-tuple, VLANs if asked, never tunnels), with Zeek's
//! own lifetimes. Several Zeek connections may follow one another on the
//! same ports where Wireshark sees one stream, and one may span two
//! streams that tcpstate's tunnel key keeps apart.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;

use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::flow::{FlowKey, KeyOptions, Keyer};
use crate::model::Segment;

use super::record::ZeekRecord;
use super::tracker::ZeekTracker;
use super::ZeekConfig;

/// A live connection and the callers' connections (Wireshark stream parts,
/// by the caller's ids) its packets went to, first first.
#[derive(Debug)]
struct Live {
    /// The only copy of the key: the index holds its hash.
    key: FlowKey,
    conns: Conns,
    tracker: ZeekTracker,
}

/// No caller connection (caller ids are slots, never this high).
const NO_CONN: u32 = u32::MAX;

/// The callers' connections of a live connection, first first: nearly
/// always one, so the first is inline and only later ones allocate.
#[derive(Debug)]
struct Conns {
    /// The caller connection of the last packet, to skip the list for the
    /// next one (nearly always the same); [`NO_CONN`] if none.
    last: u32,
    /// The first caller connection, [`NO_CONN`] while there is none.
    first: u32,
    /// The others, in order (boxed: one word, not three, in every live
    /// connection, for a list nearly all never need).
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<u32>>>,
}

impl Conns {
    fn new() -> Conns {
        Conns {
            last: NO_CONN,
            first: NO_CONN,
            more: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.first == NO_CONN
    }

    /// Notes that a packet went to caller connection `conn`; true the first
    /// time it goes there.
    #[inline]
    fn touch(&mut self, conn: Option<u32>) -> bool {
        let c = conn.unwrap_or(NO_CONN);
        if c == self.last {
            return false;
        }
        self.note(c, conn)
    }

    /// [`Conns::touch`] for a packet in another caller connection than the last.
    #[inline(never)]
    fn note(&mut self, c: u32, conn: Option<u32>) -> bool {
        self.last = c;
        debug_assert!(conn != Some(NO_CONN));
        if c == NO_CONN || c == self.first {
            return false;
        }
        if self.first == NO_CONN {
            self.first = c;
            return true;
        }
        let more = self.more.get_or_insert_with(Default::default);
        if more.contains(&c) {
            return false;
        }
        more.push(c);
        true
    }

    /// Takes `conn` off the list, which keeps its order.
    fn remove(&mut self, conn: u32) {
        if self.last == conn {
            self.last = NO_CONN;
        }
        if let Some(more) = self.more.as_mut() {
            more.retain(|&c| c != conn);
        }
        if self.first == conn {
            self.first = match self.more.as_mut() {
                Some(more) if !more.is_empty() => more.remove(0),
                _ => NO_CONN,
            };
        }
        if self.more.as_ref().is_some_and(|m| m.is_empty()) {
            self.more = None;
        }
    }

    fn into_vec(self) -> Vec<u32> {
        if self.first == NO_CONN {
            return Vec::new();
        }
        let more = self.more.map_or_else(Vec::new, |m| *m);
        let mut all = Vec::with_capacity(1 + more.len());
        all.push(self.first);
        all.extend(more);
        all
    }
}

/// Slots per page of the slab.
const PAGE: usize = 512;

/// The live connections by id, in fixed pages: the slab grows a page at a
/// time, never by doubling and copying itself, so its memory follows the
/// most connections live at once.
#[derive(Debug, Default)]
struct Slab {
    pages: Vec<Box<[Option<Live>]>>,
    /// Ids handed out so far (every id below is in a page).
    used: u32,
    free: Vec<u32>,
}

impl Slab {
    #[inline]
    fn get(&self, id: u32) -> Option<&Live> {
        let id = id as usize;
        self.pages.get(id / PAGE)?[id % PAGE].as_ref()
    }

    #[inline]
    fn get_mut(&mut self, id: u32) -> Option<&mut Live> {
        let id = id as usize;
        self.pages.get_mut(id / PAGE)?[id % PAGE].as_mut()
    }

    fn take(&mut self, id: u32) -> Option<Live> {
        let i = id as usize;
        let live = self.pages.get_mut(i / PAGE)?[i % PAGE].take()?;
        self.free.push(id);
        Some(live)
    }

    /// Stores `live` in a free slot (the last freed first) and returns its id.
    fn insert(&mut self, live: Live) -> u32 {
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                let id = self.used;
                self.used += 1;
                if id as usize / PAGE == self.pages.len() {
                    self.pages.push((0..PAGE).map(|_| None).collect());
                }
                id
            }
        };
        let i = id as usize;
        self.pages[i / PAGE][i % PAGE] = Some(live);
        id
    }
}

/// The live connections by key, without a copy of the key: the hash of a
/// key leads to the id of the connection holding it, which the slab
/// checks. The rare live key whose hash another key already took is in
/// `collided`, under its whole key.
#[derive(Debug, Default)]
struct KeyIndex {
    by_hash: FxHashMap<u64, u32>,
    collided: FxHashMap<FlowKey, u32>,
}

/// The hash [`KeyIndex`] files a key under.
fn key_hash(key: &FlowKey) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl KeyIndex {
    fn len(&self) -> usize {
        self.by_hash.len() + self.collided.len()
    }

    fn get(&self, hash: u64, key: &FlowKey, slab: &Slab) -> Option<u32> {
        if let Some(&id) = self.by_hash.get(&hash) {
            if slab.get(id).is_some_and(|l| l.key == *key) {
                return Some(id);
            }
        }
        if self.collided.is_empty() {
            return None;
        }
        self.collided.get(key).copied()
    }

    /// Files `key` (hash `hash`) under `id`, in place of any other
    /// connection of that key.
    fn insert(&mut self, hash: u64, key: FlowKey, id: u32, slab: &Slab) {
        match self.by_hash.get_mut(&hash) {
            Some(held) if slab.get(*held).is_some_and(|l| l.key != key) => {
                self.collided.insert(key, id);
            }
            Some(held) => *held = id,
            None => {
                self.by_hash.insert(hash, id);
            }
        }
    }

    /// Forgets `key` if it is filed under `id`.
    fn remove(&mut self, hash: u64, key: &FlowKey, id: u32) {
        if self.by_hash.get(&hash) == Some(&id) {
            self.by_hash.remove(&hash);
        } else if self.collided.get(key) == Some(&id) {
            self.collided.remove(key);
        }
    }
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
    index: KeyIndex,
    slab: Slab,
    finished: Vec<Finished>,
    /// Connections created with no caller connection (a bad-checksum
    /// packet), which [`ZeekSessions::sweep`] ends when their timers do;
    /// the others end with the caller's connections at the latest.
    orphans: Vec<u32>,
    /// Connections that closed, by the time their timers would end them
    /// (then looked at again, as they may have had packets since): a
    /// sweep ends them when Zeek would, instead of holding them until
    /// their caller connections end (2*MSL later). Their records are the
    /// same either way, and a closed connection's record is smaller.
    closing: BinaryHeap<Reverse<(i64, u32)>>,
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
        self.len() == 0
    }

    /// One packet, in capture order: `key` is its Zeek key
    /// ([`FlowKey::without_tunnel`]), `clock` Zeek's network time (the
    /// latest timestamp read so far), `conn` the caller's connection it went
    /// to, if any, and `hint` the Zeek connection that one's packets went to
    /// last, if known (it saves the lookup). As in
    /// `IPBasedAnalyzer::AnalyzePacket`: timers due by `clock` remove the
    /// connection first, a SYN that reuses its ports ends it, and a packet
    /// with no connection creates one.
    ///
    /// Inlined: the hinted path then needs no copy of the key (a separate
    /// function cost 49 instructions per packet). In a profile, Zeek's
    /// view is [`ZeekTracker::packet`], `look_up` and these few lines.
    #[inline]
    pub fn packet(
        &mut self,
        key: FlowKey,
        seg: &Segment,
        clock: i64,
        conn: Option<u32>,
        hint: Option<u32>,
    ) -> Touch {
        // A hint names a live connection of this key (the caller drops it
        // when that connection is finished), so it needs no checking
        // beyond being live: nearly every packet goes this way.
        if let Some(id) = hint {
            if let Some(live) = self.slab.get_mut(id) {
                debug_assert!(live.key == key);
                let closing = &mut self.closing;
                if let Some(touch) = Self::follow(live, id, seg, clock, conn, &self.config, closing)
                {
                    return touch;
                }
            }
        }
        self.look_up(key, seg, clock, conn, hint)
    }

    /// [`ZeekSessions::packet`] unless the hinted connection took it.
    #[inline(never)]
    fn look_up(
        &mut self,
        key: FlowKey,
        seg: &Segment,
        clock: i64,
        conn: Option<u32>,
        hint: Option<u32>,
    ) -> Touch {
        let hash = key_hash(&key);
        if let Some(id) = hint.filter(|&id| self.slab.get(id).is_some()) {
            // The hinted connection is to end (a timer, or reuse).
            self.finish(id);
            return self.create(hash, key, seg, clock, conn);
        }
        if let Some(id) = self.index.get(hash, &key, &self.slab) {
            if let Some(live) = self.slab.get_mut(id) {
                let closing = &mut self.closing;
                if let Some(touch) = Self::follow(live, id, seg, clock, conn, &self.config, closing)
                {
                    return touch;
                }
            }
            self.finish(id);
        }
        self.create(hash, key, seg, clock, conn)
    }

    /// A packet of live connection `id`, unless a timer removed it first
    /// or the packet reuses its ports (`None`: it is to end).
    #[inline(always)]
    fn follow(
        live: &mut Live,
        id: u32,
        seg: &Segment,
        clock: i64,
        conn: Option<u32>,
        config: &ZeekConfig,
        closing: &mut BinaryHeap<Reverse<(i64, u32)>>,
    ) -> Option<Touch> {
        if live.tracker.expired_by(clock) || live.tracker.is_reuse(seg) {
            return None;
        }
        live.tracker.check_encapsulation(seg, config);
        live.tracker.packet(seg, config);
        note_closing(live, id, closing);
        Some(Touch {
            session: id,
            first_in_conn: live.conns.touch(conn),
        })
    }

    /// A new connection created by `seg`.
    fn create(
        &mut self,
        hash: u64,
        key: FlowKey,
        seg: &Segment,
        clock: i64,
        conn: Option<u32>,
    ) -> Touch {
        let mut tracker = ZeekTracker::new(seg, clock);
        tracker.packet(seg, &self.config);
        let mut conns = Conns::new();
        let first_in_conn = conns.touch(conn);
        let id = self.slab.insert(Live {
            key,
            conns,
            tracker,
        });
        self.index.insert(hash, key, id, &self.slab);
        if conn.is_none() {
            self.orphans.push(id);
        }
        if let Some(live) = self.slab.get_mut(id) {
            note_closing(live, id, &mut self.closing);
        }
        Touch {
            session: id,
            first_in_conn,
        }
    }

    /// Starts loading live connection `session` into the cache (see
    /// [`crate::model::prefetch`]), for a caller that will hand it a packet
    /// a few packets from now. Only a hint: the table is as it was.
    #[inline]
    pub fn prefetch(&self, session: u32) {
        // The slot's address alone: reading whether it is taken would wait
        // for the very line the prefetch is to load.
        let id = session as usize;
        if let Some(slot) = self
            .slab
            .pages
            .get(id / PAGE)
            .and_then(|p| p.get(id % PAGE))
        {
            crate::model::prefetch(slot, usize::MAX);
        }
    }

    /// When Zeek's timers would remove connection `session` if no packet
    /// of it came first (`i64::MAX`: never; `None`: not live).
    pub fn deadline(&self, session: u32) -> Option<i64> {
        let live = self.slab.get(session)?;
        Some(live.tracker.deadline())
    }

    /// Takes caller connection `conn` off `session`, which lives on (its
    /// caller connection ended before Zeek's timers would end it; a later
    /// one, or none, will hold the rest of its packets), and returns the
    /// record as it stands. With no caller connection left, the session is
    /// an orphan: its timers end it ([`ZeekSessions::sweep`]), or
    /// [`ZeekSessions::limit_orphans`] does.
    pub fn detach(&mut self, session: u32, conn: u32) -> Option<ZeekRecord> {
        let live = self.slab.get_mut(session)?;
        live.conns.remove(conn);
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
        let slab = &self.slab;
        let mut by_age: Vec<(i64, u32)> = self
            .orphans
            .iter()
            .filter_map(|&id| {
                let live = slab.get(id)?;
                live.conns.is_empty().then(|| (live.tracker.last_ns(), id))
            })
            .collect();
        by_age.sort_unstable();
        by_age.dedup_by_key(|e| e.1);
        let excess = by_age.len().saturating_sub(max);
        for &(_, id) in &by_age[..excess] {
            self.finish(id);
        }
        let slab = &self.slab;
        self.orphans
            .retain(|&id| slab.get(id).is_some_and(|l| l.conns.is_empty()));
        self.orphans.sort_unstable();
        self.orphans.dedup();
    }

    /// Ends connection `session` now (its record is final as it stands).
    pub fn finish(&mut self, session: u32) {
        let Some(live) = self.slab.take(session) else {
            return;
        };
        self.index.remove(key_hash(&live.key), &live.key, session);
        self.finished.push(Finished {
            session,
            record: live.tracker.record(self.community_id_seed),
            conns: live.conns.into_vec(),
        });
    }

    /// Ends the connections that a timer removed by network time `clock`:
    /// those with no caller connection, and those that closed (the others
    /// end with the caller's connections, so their memory is bounded by
    /// those). Ending one at a sweep gives the record a packet after
    /// `clock` would have found (it would end it first, as its timers
    /// ended it by then) or the end of its caller connection.
    pub fn sweep(&mut self, clock: i64) {
        while let Some(&Reverse((at, id))) = self.closing.peek() {
            if at > clock {
                break;
            }
            self.closing.pop();
            // The id may be free, or another connection's: its own timers decide.
            let Some(live) = self.slab.get_mut(id) else {
                continue;
            };
            if live.tracker.expired_by(clock) {
                self.finish(id);
            } else {
                // Packets since moved the deadline on.
                let later = live.tracker.deadline();
                if later > clock && later != i64::MAX {
                    self.closing.push(Reverse((later, id)));
                }
            }
        }
        let mut orphans = std::mem::take(&mut self.orphans);
        orphans.retain(|&id| {
            let due = match self.slab.get_mut(id) {
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
        for id in 0..self.slab.used {
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

/// Queues live connection `id` for a sweep at its deadline if its last
/// packet closed it.
#[inline(always)]
fn note_closing(live: &mut Live, id: u32, closing: &mut BinaryHeap<Reverse<(i64, u32)>>) {
    if live.tracker.take_closing() {
        closing.push(Reverse((live.tracker.deadline(), id)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::decoded_segments;
    use tcpstate_synth::{Conv, Side, TcpFlags};

    /// The first segment of a connection from client port `port`.
    fn syn(port: u16) -> Segment {
        let mut c = Conv::new(
            format!("10.0.0.1:{port}").parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            1000,
            5000,
        );
        c.send(Side::Client, TcpFlags::SYN, 0);
        decoded_segments(&c).remove(0).0
    }

    fn live(seg: &Segment) -> Live {
        Live {
            key: Keyer::new(KeyOptions::default()).key(seg).without_tunnel(),
            conns: Conns::new(),
            tracker: ZeekTracker::new(seg, seg.ts_ns),
        }
    }

    #[test]
    fn keys_whose_hashes_collide_are_told_apart() {
        let (a, b) = (syn(40000), syn(40001));
        let mut slab = Slab::default();
        let (la, lb) = (live(&a), live(&b));
        let (ka, kb) = (la.key, lb.key);
        assert_ne!(ka, kb);
        let (ia, ib) = (slab.insert(la), slab.insert(lb));
        // Both filed under one hash: the second goes aside, under its key.
        let mut index = KeyIndex::default();
        index.insert(7, ka, ia, &slab);
        index.insert(7, kb, ib, &slab);
        assert_eq!(index.len(), 2);
        assert_eq!(index.get(7, &ka, &slab), Some(ia));
        assert_eq!(index.get(7, &kb, &slab), Some(ib));
        // Removing the first leaves the second found, and the other way round.
        index.remove(7, &ka, ia);
        assert_eq!(index.get(7, &ka, &slab), None);
        assert_eq!(index.get(7, &kb, &slab), Some(ib));
        index.insert(7, ka, ia, &slab);
        index.remove(7, &kb, ib);
        assert_eq!(index.get(7, &kb, &slab), None);
        assert_eq!(index.get(7, &ka, &slab), Some(ia));
        // A removal names the id: a key filed again under a newer id stays.
        index.remove(7, &ka, 99);
        assert_eq!(index.get(7, &ka, &slab), Some(ia));
        index.remove(7, &ka, ia);
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn a_new_connection_of_a_live_key_takes_its_place_in_the_index() {
        let a = syn(40000);
        let mut slab = Slab::default();
        let (old, new) = (slab.insert(live(&a)), slab.insert(live(&a)));
        let key = slab.get(old).unwrap().key;
        let mut index = KeyIndex::default();
        index.insert(3, key, old, &slab);
        index.insert(3, key, new, &slab);
        assert_eq!(index.get(3, &key, &slab), Some(new));
        // The old one ending leaves the new one filed.
        index.remove(3, &key, old);
        assert_eq!(index.get(3, &key, &slab), Some(new));
    }

    #[test]
    fn slab_ids_are_reused_last_freed_first_across_pages() {
        let a = syn(40000);
        let mut slab = Slab::default();
        let ids: Vec<u32> = (0..PAGE + 3).map(|_| slab.insert(live(&a))).collect();
        assert_eq!(ids, (0..(PAGE + 3) as u32).collect::<Vec<_>>());
        assert_eq!(slab.pages.len(), 2);
        assert!(slab.take(5).is_some() && slab.take(PAGE as u32 + 1).is_some());
        assert!(slab.take(5).is_none(), "taken once");
        assert!(slab.get(5).is_none() && slab.get(6).is_some());
        assert_eq!(slab.insert(live(&a)), PAGE as u32 + 1);
        assert_eq!(slab.insert(live(&a)), 5);
        assert_eq!(slab.insert(live(&a)), PAGE as u32 + 3);
        assert!(slab.get(u32::MAX).is_none());
    }

    #[test]
    fn conns_are_noted_once_in_order() {
        let mut c = Conns::new();
        assert!(!c.touch(None) && c.is_empty());
        assert!(c.touch(Some(4)));
        assert!(!c.touch(Some(4)));
        assert!(c.touch(Some(9)));
        assert!(!c.touch(Some(4)), "known, though not the last");
        assert!(!c.touch(None));
        assert!(c.touch(Some(2)));
        assert_eq!(c.into_vec(), [4, 9, 2]);
        let mut c = Conns::new();
        for conn in [4, 9, 2] {
            c.touch(Some(conn));
        }
        c.remove(4);
        assert!(c.touch(Some(4)), "a removed connection is new again");
        c.remove(9);
        c.remove(2);
        assert_eq!((c.first, c.more.is_none()), (4, true));
        c.remove(4);
        assert!(c.is_empty() && c.into_vec().is_empty());
    }

    /// A live connection's memory (the slab holds one per live Zeek
    /// connection): it was 632 bytes before the key left the index, the
    /// callers' connections went inline and the tracker was packed.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_live_connection_stays_small() {
        use std::mem::size_of;
        assert!(size_of::<Conns>() <= 16);
        assert!(size_of::<Live>() <= 536, "{}", size_of::<Live>());
    }
}
