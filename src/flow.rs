//! Flows: splitting TCP segments into connections, numbered exactly as
//! Wireshark's `tcp.stream`.
//!
//! A connection is keyed on the unordered pair of endpoints. Wireshark (checked
//! against tshark 4.0, see tests/golden/tshark) starts a new stream on the same
//! pair only for a SYN without ACK whose sequence number differs from the base
//! sequence number already recorded for its sender; the base is the first SYN's
//! sequence number, or one less than the first non-SYN segment's sequence number,
//! or one less than the first acknowledgement number the peer sent; a SYN-ACK
//! with another sequence number (flagged "reused ports") sets its sender's base
//! anew. A SYN that repeats the base is a retransmission and stays in the same
//! stream, even after FIN or RST. The base is also what relative sequence
//! numbers count from, as tshark's `tcp.seq` ([`SeqBases`]). Following this rule exactly is what lets a user type
//! `tcp.stream eq N` in Wireshark and land on our connection N.
//!
//! The key may also hold where the segment was found ([`KeyOptions`]): its VLAN
//! tags, as Zeek's vlan-aware connection ids do, and its tunnels (outer
//! addresses and VNI/key), so two tenants' identical inner 4-tuples stay two
//! connections. Wireshark keys on the 4-tuple alone, so these split a
//! Wireshark stream only when the same 4-tuple occurs in two VLANs or tunnels.

use std::fmt;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::model::{
    scaled_window, Endpoint, Path, PeerSyn, Segment, SeqNum, Side, TcpFlags, TunnelPath, VlanStack,
};

/// Why one endpoint is called the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientReason {
    /// It sent the first SYN without ACK.
    Syn,
    /// The connection's first packet was a SYN-ACK, and it received it.
    SynAck,
    /// No handshake seen: the server is the side with the lower port
    /// (well-known ports are below ephemeral ones). A guess.
    Port,
    /// No handshake seen and both ports equal: it sent the first packet. A guess.
    FirstPacket,
}

impl ClientReason {
    /// The snake_case name reports write.
    pub fn name(self) -> &'static str {
        match self {
            ClientReason::Syn => "syn",
            ClientReason::SynAck => "syn_ack",
            ClientReason::Port => "port",
            ClientReason::FirstPacket => "first_packet",
        }
    }
}

impl fmt::Display for ClientReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One TCP connection (one Wireshark stream) and its counters.
#[derive(Clone, Debug)]
pub struct Flow {
    /// Wireshark's `tcp.stream` index: 0-based, in order of first packet.
    pub stream: u64,
    /// The client's and the server's endpoints, indexed by [`Side::idx`].
    pub endpoints: [Endpoint; 2],
    /// Why that side is the client.
    pub client_reason: ClientReason,
    /// Frame number of the first packet.
    pub first_frame: u64,
    /// Frame number of the last packet.
    pub last_frame: u64,
    /// First packet's time, ns since the epoch.
    pub start_ns: i64,
    /// Last packet's time, ns since the epoch.
    pub end_ns: i64,
    /// Packets sent by each side (indexed by [`Side::idx`], as all per-side counters).
    pub packets: [u64; 2],
    /// Payload bytes sent by each endpoint (Wireshark's `tcp.len` summed).
    pub bytes: [u64; 2],
    /// IP bytes (headers included) sent by each endpoint: Zeek's ip_bytes.
    pub ip_bytes: [u64; 2],
    /// Union of the flags each endpoint sent.
    pub flags: [TcpFlags; 2],
    /// Window scale each endpoint announced on its SYN, if any.
    pub window_scale: [Option<u8>; 2],
    /// Wireshark's base sequence number per sender, which decides port
    /// reuse and what relative numbers count from.
    bases: SeqBases,
    /// VLAN tags and tunnels of the connection's first packet.
    pub path: Path,
    /// This connection continues a Wireshark stream whose earlier part was
    /// reported separately: the stream went idle past the idle timeout (or
    /// was evicted for memory) and then carried on. Same `stream` number.
    pub continues: bool,
}

impl Flow {
    /// Roles are decided at the first packet, so the state machines can start at once:
    /// a SYN's sender is the client, a SYN-ACK's receiver is, otherwise ports decide.
    fn new(stream: u64, seg: &Segment) -> Flow {
        let f = seg.flags;
        let (sender, client_reason) = if f.syn() && !f.ack() {
            (Side::Client, ClientReason::Syn)
        } else if f.syn() && f.ack() {
            (Side::Server, ClientReason::SynAck)
        } else if seg.src.port > seg.dst.port {
            (Side::Client, ClientReason::Port)
        } else if seg.src.port < seg.dst.port {
            (Side::Server, ClientReason::Port)
        } else {
            (Side::Client, ClientReason::FirstPacket)
        };
        let endpoints = match sender {
            Side::Client => [seg.src, seg.dst],
            Side::Server => [seg.dst, seg.src],
        };
        Flow {
            stream,
            endpoints,
            client_reason,
            first_frame: seg.frame,
            last_frame: seg.frame,
            start_ns: seg.ts_ns,
            end_ns: seg.ts_ns,
            packets: [0; 2],
            bytes: [0; 2],
            ip_bytes: [0; 2],
            flags: [TcpFlags(0); 2],
            window_scale: [None; 2],
            bases: SeqBases::default(),
            path: seg.path.clone(),
            continues: false,
        }
    }

    /// The client endpoint.
    pub fn client(&self) -> Endpoint {
        self.endpoints[Side::Client.idx()]
    }

    /// The server endpoint.
    pub fn server(&self) -> Endpoint {
        self.endpoints[Side::Server.idx()]
    }

    /// Last packet's time minus the first's.
    pub fn duration_ns(&self) -> i64 {
        self.end_ns - self.start_ns
    }

    /// Which side sent a segment of this connection.
    pub fn side_of(&self, seg: &Segment) -> Side {
        side_of(&self.endpoints, seg)
    }

    /// The window a segment advertises, in bytes, as Wireshark's
    /// `tcp.window_size` (by the model's one rule, [`scaled_window`]).
    pub fn scaled_window(&self, seg: &Segment) -> u32 {
        let (s, peer) = (self.side_of(seg).idx(), self.side_of(seg).peer().idx());
        scaled_window(
            seg.window,
            seg.flags.syn(),
            self.window_scale[s],
            PeerSyn::of(self.flags[peer].syn(), self.window_scale[peer]),
        )
    }

    /// Wireshark's base sequence numbers as they stand after the last
    /// segment (they may change during the connection: see [`SeqBases`]).
    pub fn bases(&self) -> &SeqBases {
        &self.bases
    }

    /// Wireshark also flags a SYN-ACK whose sequence number differs from its
    /// sender's base as "reused ports", without starting a new stream.
    fn syn_ack_reuses_ports(&self, seg: &Segment) -> bool {
        self.bases.syn_ack_leaves_base(self.side_of(seg), seg)
    }

    /// Wireshark's rule for a SYN on an existing pair: a new stream unless it repeats the base.
    fn syn_starts_new_stream(&self, seg: &Segment) -> bool {
        self.bases.syn_leaves_base(self.side_of(seg), seg)
    }

    /// Adds a segment's counters; `seg` must belong to this connection.
    fn observe(&mut self, seg: &Segment) -> Side {
        let side = self.side_of(seg);
        let d = side.idx();
        self.last_frame = seg.frame;
        self.start_ns = self.start_ns.min(seg.ts_ns);
        self.end_ns = self.end_ns.max(seg.ts_ns);
        self.packets[d] += 1;
        self.bytes[d] += seg.payload_len as u64;
        self.ip_bytes[d] += seg.ip_len as u64;
        self.flags[d].0 |= seg.flags.0;
        if seg.flags.syn() && seg.options.window_scale.is_some() {
            self.window_scale[d] = seg.options.window_scale;
        }
        self.bases.observe(seg, side);
        side
    }
}

/// Wireshark's base sequence number of each side of a connection
/// (packet-tcp.c, `tcp_analyze_sequence_number` and `dissect_tcp`): the
/// first SYN's sequence number, or one less than the first other segment's,
/// or one less than the first acknowledgement number the peer sent; a
/// SYN-ACK with another sequence number ("reused ports") sets its sender's
/// base anew. Segments whose TCP header was cut short set nothing.
///
/// The one rule for relative sequence numbers: `tcp.stream` splitting, the
/// numbers `show` prints and those in anomaly details all come from it. The
/// bases can change during a connection, so relative numbers are those of
/// the bases as they stood after the segment itself ([`SeqBases::observe`]
/// segment by segment, as Wireshark reads a capture).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqBases([Option<SeqNum>; 2]);

impl SeqBases {
    /// Takes in a segment of the connection sent by `sender`.
    pub fn observe(&mut self, seg: &Segment, sender: Side) {
        if seg.short_segment {
            return;
        }
        let (d, r) = (sender.idx(), sender.peer().idx());
        if self.0[d].is_none() || self.syn_ack_leaves_base(sender, seg) {
            self.0[d] = Some(if seg.flags.syn() {
                SeqNum(seg.seq)
            } else {
                SeqNum(seg.seq) - 1
            });
        }
        if seg.flags.ack() && self.0[r].is_none() {
            self.0[r] = Some(SeqNum(seg.ack) - 1);
        }
    }

    /// `side`'s base, once a segment has set it.
    pub fn base(&self, side: Side) -> Option<SeqNum> {
        self.0[side.idx()]
    }

    /// A number of `sender`'s numbering (a SEQ it sent, an ACK of its
    /// bytes) relative to its base; `None` before the base is known.
    pub fn relative(&self, sender: Side, n: SeqNum) -> Option<u32> {
        self.base(sender).map(|base| n.offset_from(base))
    }

    /// A segment's `tcp.seq` and `tcp.ack` as Wireshark shows them by
    /// default, once [`SeqBases::observe`] has taken it in: relative, the
    /// ACK only with the ACK flag; as on the wire for a segment whose header
    /// was cut short (Wireshark computes no relative numbers for it).
    pub fn relative_numbers(&self, seg: &Segment, sender: Side) -> (u32, Option<u32>) {
        let shown = |side: Side, n: u32| match seg.short_segment {
            true => n,
            false => self.relative(side, SeqNum(n)).unwrap_or(n),
        };
        (
            shown(sender, seg.seq),
            seg.flags.ack().then(|| shown(sender.peer(), seg.ack)),
        )
    }

    /// A SYN without ACK whose sequence number is not its sender's base:
    /// where Wireshark starts a new stream on a known pair.
    fn syn_leaves_base(&self, sender: Side, seg: &Segment) -> bool {
        let is_bare_syn = seg.flags.0 & (TcpFlags::SYN | TcpFlags::ACK) == TcpFlags::SYN;
        is_bare_syn && matches!(self.base(sender), Some(b) if b != SeqNum(seg.seq))
    }

    /// A SYN-ACK whose sequence number is not its sender's base.
    fn syn_ack_leaves_base(&self, sender: Side, seg: &Segment) -> bool {
        let is_syn_ack = seg.flags.has(TcpFlags::SYN | TcpFlags::ACK);
        is_syn_ack && matches!(self.base(sender), Some(b) if b != SeqNum(seg.seq))
    }
}

/// Which side sent a segment between the client and server `endpoints`.
fn side_of(endpoints: &[Endpoint; 2], seg: &Segment) -> Side {
    if seg.src == endpoints[Side::Client.idx()] && seg.dst == endpoints[Side::Server.idx()] {
        Side::Client
    } else {
        Side::Server
    }
}

/// Where a segment went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The connection's slot in its [`FlowTable`], stable while it is live.
    pub slot: u32,
    /// Which side sent it.
    pub side: Side,
    /// The segment started this connection.
    pub new: bool,
    /// The slot of the earlier connection on the same endpoint pair this one
    /// replaced (port reuse), if it is still live.
    pub replaced: Option<u32>,
    /// Wireshark's "reused ports" flag: a new stream on a known pair, or a
    /// SYN-ACK with a sequence number other than its sender's first.
    pub reused_ports: bool,
}

/// What besides the endpoints tells connections apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyOptions {
    /// The VLAN tags (`--vlan-key`).
    pub vlan: bool,
    /// The tunnel path: kinds, outer addresses, VNI/key (`--tunnel-key`).
    pub tunnel: bool,
}

impl Default for KeyOptions {
    /// Both on: traffic of different VLANs or tenants is different traffic.
    fn default() -> KeyOptions {
        KeyOptions {
            vlan: true,
            tunnel: true,
        }
    }
}

/// Unordered endpoint pair, plus VLANs and an interned tunnel path when the
/// options say so: the same key for both directions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FlowKey {
    lo: Endpoint,
    hi: Endpoint,
    vlans: VlanStack,
    /// 0: no tunnel (or tunnels not in the key); else an index into the keyer's tunnels.
    tunnel: u32,
}

impl std::hash::Hash for FlowKey {
    /// Hashes a few machine words rather than field by field: the key is
    /// hashed for every segment, twice (shard, then table).
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        fn bits(a: std::net::IpAddr) -> u128 {
            match a {
                std::net::IpAddr::V4(v4) => u128::from(v4.to_bits()),
                std::net::IpAddr::V6(v6) => v6.to_bits() ^ (1 << 127),
            }
        }
        let (lo, hi) = (bits(self.lo.addr), bits(self.hi.addr));
        let ports = u64::from(self.lo.port) << 16 | u64::from(self.hi.port);
        h.write_u64((lo as u64) ^ (hi as u64).rotate_left(32));
        h.write_u64(((lo >> 64) as u64) ^ ((hi >> 64) as u64).rotate_left(32));
        h.write_u64(ports | u64::from(self.tunnel) << 32);
        h.write_u64(self.vlans.bits());
    }
}

impl FlowKey {
    /// The endpoints in order, and the VLANs if `vlan`: everything but the tunnel.
    fn untunnelled(vlan: bool, seg: &Segment) -> FlowKey {
        let (lo, hi) = if seg.src <= seg.dst {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let vlans = if vlan {
            seg.path.vlans
        } else {
            VlanStack::default()
        };
        FlowKey {
            lo,
            hi,
            vlans,
            tunnel: 0,
        }
    }

    /// The same key with the tunnel path left out: Zeek's connection key,
    /// which never looks at tunnels (`IPBasedAnalyzer::AnalyzePacket` builds
    /// it from the inner 5-tuple alone).
    pub fn without_tunnel(self) -> FlowKey {
        FlowKey { tunnel: 0, ..self }
    }

    /// Which of `shards` flow tables holds this key: all segments of a
    /// connection go to one shard, so shards can run in parallel. The tunnel
    /// is left out, so every connection Zeek's key would merge (the uplink
    /// and downlink of one TCP connection in different tunnels) is in one
    /// shard too.
    pub fn shard(&self, shards: usize) -> usize {
        use std::hash::BuildHasher;
        let h = rustc_hash::FxBuildHasher.hash_one(self.without_tunnel());
        // The high bits of FxHash are the well-mixed ones.
        ((h >> 32) as usize) % shards.max(1)
    }
}

/// Turns segments into flow keys. The tunnel part of a key is a small
/// number, so keys stay `Copy`: the number of a [`Pairing`], the tunnels
/// one connection was seen in, each way. The keyer is the one piece of flow
/// state shared by all shards, so keys are made, in frame order, before
/// segments are sharded.
#[derive(Default, Debug)]
pub struct Keyer {
    keys: KeyOptions,
    /// Per endpoint pair (and VLANs) seen in tunnels, its pairings, oldest first.
    pairings: FxHashMap<FlowKey, Vec<Pairing>>,
    last_number: u32,
}

/// The tunnels one connection was seen in, each way, under one number.
/// Tunnels are kept direction by direction, so a connection whose uplink
/// and downlink travel in different tunnels (other outer hosts, GRE keys
/// or VNIs per direction) is one connection, as in Wireshark and Zeek,
/// whose keys ignore tunnels; and two tenants using one 4-tuple at once in
/// two tunnels are two.
#[derive(Debug)]
struct Pairing {
    number: u32,
    /// The path of the segments sent by the key's lower endpoint, and by the higher.
    paths: [Option<Arc<TunnelPath>>; 2],
    last_ns: i64,
}

impl Keyer {
    /// A keyer for these options.
    pub fn new(keys: KeyOptions) -> Keyer {
        Keyer {
            keys,
            ..Keyer::default()
        }
    }

    /// Forgets pairings not seen since `before_ns` (their connections are
    /// gone: idle eviction comes first), then, while more than `most`
    /// endpoint pairs are left, the older half of them, so memory stays
    /// bounded by the connection limit however many tunnelled connections
    /// come and go.
    pub fn forget_before(&mut self, before_ns: i64, most: usize) {
        let mut cut = before_ns;
        loop {
            self.pairings.retain(|_, list| {
                list.retain(|p| p.last_ns >= cut);
                !list.is_empty()
            });
            if self.pairings.len() <= most {
                return;
            }
            let mut times: Vec<i64> = self
                .pairings
                .values()
                .map(|list| list.iter().map(|p| p.last_ns).max().unwrap_or(i64::MIN))
                .collect();
            let mid = times.len() / 2;
            let (_, &mut median, _) = times.select_nth_unstable(mid);
            // Past the median, so each round forgets at least half.
            cut = median.saturating_add(1);
        }
    }

    /// The key of a segment when it needs no interning (no tunnel, or
    /// tunnels not in the key): computable on any thread.
    pub fn plain_key(keys: KeyOptions, seg: &Segment) -> Option<FlowKey> {
        if keys.tunnel && seg.path.tunnel.is_some() {
            return None;
        }
        Some(FlowKey::untunnelled(keys.vlan, seg))
    }

    /// The connection key of a segment. In tunnels, the segment joins the
    /// pairing that has its path in its direction; else one that has no
    /// path in its direction yet, preferring the one whose other direction
    /// is the same tunnel seen from the other end (so each tenant's reply
    /// finds its own tenant), then the oldest; else a new pairing.
    pub fn key(&mut self, seg: &Segment) -> FlowKey {
        let mut key = FlowKey::untunnelled(self.keys.vlan, seg);
        let (true, Some(path)) = (self.keys.tunnel, &seg.path.tunnel) else {
            return key;
        };
        let way = usize::from(seg.src != key.lo);
        let list = self.pairings.entry(key).or_default();
        let open = |p: &Pairing| p.paths[way].is_none();
        let pick = list
            .iter()
            .position(|p| p.paths[way].as_deref() == Some(&**path))
            .or_else(|| {
                list.iter().position(|p| {
                    open(p)
                        && p.paths[1 - way]
                            .as_ref()
                            .is_some_and(|other| other.same_tunnels(path))
                })
            })
            .or_else(|| list.iter().position(open));
        let at = pick.unwrap_or_else(|| {
            self.last_number += 1;
            list.push(Pairing {
                number: self.last_number,
                paths: [None, None],
                last_ns: seg.ts_ns,
            });
            list.len() - 1
        });
        let p = &mut list[at];
        p.paths[way].get_or_insert_with(|| Arc::clone(path));
        p.last_ns = p.last_ns.max(seg.ts_ns);
        key.tunnel = p.number;
        key
    }
}

/// What is remembered of an evicted connection so a later segment of its
/// endpoint pair lands in the same Wireshark stream: its number, its
/// endpoints' roles, and the base sequence numbers that decide, for a SYN,
/// whether Wireshark would start a new stream instead. A table keeps up to
/// its limit of these (100,000 by default), so the endpoints are not
/// repeated: the key under which the tomb is kept has them.
#[derive(Clone, Copy, Debug)]
struct Tomb {
    stream: u64,
    bases: SeqBases,
    client_reason: ClientReason,
    /// The client is the key's lower endpoint.
    client_is_lo: bool,
    /// Still to be found by its key (not revived, replaced or forgotten);
    /// a tomb that no longer stands keeps its place in [`Tombs`]' order.
    standing: bool,
}

impl Tomb {
    fn of(key: &FlowKey, c: &Flow) -> Tomb {
        Tomb {
            stream: c.stream,
            bases: c.bases,
            client_reason: c.client_reason,
            client_is_lo: c.client() == key.lo,
            standing: true,
        }
    }

    /// The endpoints, client first, of the connection kept under `key`.
    fn endpoints(&self, key: &FlowKey) -> [Endpoint; 2] {
        if self.client_is_lo {
            [key.lo, key.hi]
        } else {
            [key.hi, key.lo]
        }
    }

    /// Wireshark's rule, as [`Flow::syn_starts_new_stream`].
    fn syn_starts_new_stream(&self, key: &FlowKey, seg: &Segment) -> bool {
        self.bases
            .syn_leaves_base(side_of(&self.endpoints(key), seg), seg)
    }

    /// The continuation of the evicted connection, starting at `seg`.
    fn revive(self, key: &FlowKey, seg: &Segment) -> Flow {
        let mut c = Flow::new(self.stream, seg);
        c.endpoints = self.endpoints(key);
        c.client_reason = self.client_reason;
        c.bases = self.bases;
        c.continues = true;
        c
    }
}

/// A table's tombstones: the last `limit` made, oldest first forgotten, in
/// a ring that holds each key once and an index of ring places by key (a
/// map of keys plus a queue of keys in order would hold each key twice,
/// and round both up to powers of two: this is half the memory, and a
/// table keeps up to its limit of tombstones all the time).
///
/// Forgetting follows the order the tombstones were made in, standing or
/// not: the tombstone made a `limit` of tombstones ago is forgotten, and
/// the standing one of its key too if it has that one's stream number.
#[derive(Debug, Default)]
struct Tombs {
    ring: Vec<(FlowKey, Tomb)>,
    /// The ring place of the next tombstone: once the ring is full, the oldest.
    next: usize,
    /// Ring places of the standing tombstones, by key.
    index: hashbrown::HashTable<usize>,
    limit: usize,
}

fn key_hash(key: &FlowKey) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(key)
}

impl Tombs {
    /// Takes the standing tombstone of `key` away, if there is one.
    fn take(&mut self, key: &FlowKey) -> Option<Tomb> {
        let ring = &mut self.ring;
        let (at, _) = self
            .index
            .find_entry(key_hash(key), |&i| ring[i].0 == *key)
            .ok()?
            .remove();
        ring[at].1.standing = false;
        Some(ring[at].1)
    }

    /// Forgets the standing tombstone of `key` if it has `stream`.
    fn forget(&mut self, key: &FlowKey, stream: u64) {
        let ring = &mut self.ring;
        if let Ok(found) = self.index.find_entry(key_hash(key), |&i| {
            ring[i].0 == *key && ring[i].1.stream == stream
        }) {
            let (at, _) = found.remove();
            ring[at].1.standing = false;
        }
    }

    /// Adds the newest tombstone, which replaces any standing one of its
    /// key; past the limit the oldest is forgotten.
    fn add(&mut self, key: FlowKey, tomb: Tomb) {
        if self.limit == 0 {
            return;
        }
        let ring = &mut self.ring;
        if let Ok(found) = self.index.find_entry(key_hash(&key), |&i| ring[i].0 == key) {
            let (at, _) = found.remove();
            ring[at].1.standing = false;
        }
        let at = self.next;
        let mut tomb = tomb;
        if self.ring.len() < self.limit {
            if self.ring.len() == self.ring.capacity() {
                // Doubling, but never past the limit.
                let more = self.ring.len().max(16).min(self.limit - self.ring.len());
                self.ring.reserve_exact(more);
            }
            self.ring.push((key, tomb));
        } else {
            let (old_key, old_stream) = (self.ring[at].0, self.ring[at].1.stream);
            if old_key == key {
                // The oldest is of the same key: it takes the new one with
                // it if their numbers are the same.
                tomb.standing = old_stream != tomb.stream;
            } else {
                self.forget(&old_key, old_stream);
            }
            self.ring[at] = (key, tomb);
        }
        self.next = (at + 1) % self.limit;
        if tomb.standing {
            let ring = &self.ring;
            self.index
                .insert_unique(key_hash(&key), at, |&i| key_hash(&ring[i].0));
        }
    }

    /// The `n` newest tombstones, standing or not.
    fn newest_mut(&mut self, n: usize) -> impl Iterator<Item = &mut Tomb> {
        let len = self.ring.len();
        let n = n.min(len);
        let (older, newer) = self.ring.split_at_mut(self.next % len.max(1));
        // Newest last: the end of `older`, then, once the ring has wrapped
        // around, the end of `newer`.
        let (older_len, newer_len) = (older.len(), newer.len());
        let from_older = n.min(older_len);
        let from_newer = n - from_older;
        newer[newer_len - from_newer..]
            .iter_mut()
            .chain(older[older_len - from_older..].iter_mut())
            .map(|(_, t)| t)
    }
}

/// A live connection, the key it was found under, and what the caller keeps with it.
#[derive(Debug)]
struct Entry<T> {
    key: FlowKey,
    conn: Flow,
    data: T,
}

/// The live connections of one shard, in slots that are reused once a
/// connection is removed, and the index to find the current connection of an
/// endpoint pair. Each connection carries the caller's `T` (its analysers).
/// Entries are boxed one by one, so the table costs a pointer per slot
/// rather than a doubling vector of large entries. Stream numbers are
/// global, so they are given by the caller ([`FlowTable::set_stream`]) once
/// it knows the order of new connections in all shards.
#[derive(Debug)]
pub struct FlowTable<T> {
    current: FxHashMap<FlowKey, u32>,
    slots: Vec<Option<Box<Entry<T>>>>,
    free: Vec<u32>,
    live: usize,
    port_reuses: u64,
    /// Evicted connections by key, the oldest forgotten first past the limit.
    tombs: Tombs,
    /// Slots given a provisional stream number since the last
    /// [`FlowTable::resolve_streams`], and tombstones made with one.
    provisional_slots: Vec<u32>,
    provisional_tombs: usize,
}

impl<T> Default for FlowTable<T> {
    fn default() -> Self {
        FlowTable {
            current: FxHashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            port_reuses: 0,
            tombs: Tombs::default(),
            provisional_slots: Vec::new(),
            provisional_tombs: 0,
        }
    }
}

/// Stream number of a connection whose number is not given yet.
pub const UNNUMBERED: u64 = u64::MAX;

/// Marks a provisional stream number: `PROVISIONAL | i` stands for the
/// number the caller will give the `i`-th new connection of its current
/// batch (see [`FlowTable::set_provisional_stream`]).
pub const PROVISIONAL: u64 = 1 << 62;

/// Whether `stream` is a provisional number (not a real one, not
/// [`UNNUMBERED`]).
pub fn is_provisional(stream: u64) -> bool {
    stream != UNNUMBERED && stream & PROVISIONAL != 0
}

/// The real number for `stream` once the batch's new connections have
/// `numbers` (in the order of their provisional numbers).
pub fn resolve_stream(stream: u64, numbers: &[u64]) -> u64 {
    if is_provisional(stream) {
        numbers
            .get((stream & !PROVISIONAL) as usize)
            .copied()
            .unwrap_or(UNNUMBERED)
    } else {
        stream
    }
}

impl<T> FlowTable<T> {
    /// An empty table.
    pub fn new() -> FlowTable<T> {
        FlowTable::default()
    }

    /// An empty table that remembers up to `tombs` removed connections, so
    /// a later segment of one continues its stream (see [`FlowTable::remove`]).
    pub fn remembering(tombs: usize) -> FlowTable<T> {
        FlowTable {
            tombs: Tombs {
                limit: tombs,
                ..Tombs::default()
            },
            ..FlowTable::default()
        }
    }

    /// The connection a segment would join, without placing it: (slot, its
    /// sender). For segments that must not change any state.
    pub fn find(&self, key: &FlowKey, seg: &Segment) -> Option<(u32, Side)> {
        let &slot = self.current.get(key)?;
        Some((slot, self.conn(slot).side_of(seg)))
    }

    /// The slot of the current connection of an endpoint pair, if it is live.
    pub fn current(&self, key: &FlowKey) -> Option<u32> {
        self.current.get(key).copied()
    }

    /// Starts loading the entry of `key`'s current connection into the
    /// cache (see [`crate::model::prefetch`]), for a caller that will place
    /// a segment of `key` a few segments from now; its slot, if it is live.
    /// Only a hint: the table is as it was.
    #[inline]
    pub fn prefetch(&self, key: &FlowKey) -> Option<u32> {
        let &slot = self.current.get(key)?;
        if let Some(Some(e)) = self.slots.get(slot as usize) {
            // All of it: a segment's steady path touches nearly every line
            // (the flow counters, both machines, the sequence analysis).
            crate::model::prefetch(&**e, usize::MAX);
        }
        Some(slot)
    }

    /// The caller's data of the connection in `slot`, if it is live.
    pub fn get_data(&self, slot: u32) -> Option<&T> {
        match self.slots.get(slot as usize) {
            Some(Some(e)) => Some(&e.data),
            _ => None,
        }
    }

    /// The connection in `slot`, if it is live.
    pub fn get(&self, slot: u32) -> Option<&Flow> {
        match self.slots.get(slot as usize) {
            Some(Some(e)) => Some(&e.conn),
            _ => None,
        }
    }

    /// Places a segment in its connection, starting a new one (with `make()`
    /// as its data) when Wireshark would. A new connection is [`UNNUMBERED`]
    /// until `set_stream`.
    pub fn add(&mut self, key: FlowKey, seg: &Segment, make: impl FnOnce() -> T) -> Placement {
        let current = self.current(&key);
        self.place(key, current, seg, make)
    }

    /// [`FlowTable::add`] for a caller that has just looked up
    /// `current = self.current(&key)` (and changed nothing since but,
    /// perhaps, removing that connection, which makes it `None`): the
    /// segment's one lookup in the table.
    pub fn place(
        &mut self,
        key: FlowKey,
        current: Option<u32>,
        seg: &Segment,
        make: impl FnOnce() -> T,
    ) -> Placement {
        debug_assert_eq!(current, self.current(&key));
        let mut replaced = None;
        let mut new = false;
        let mut reused = false;
        let slot = match current {
            Some(s) if !self.conn(s).syn_starts_new_stream(seg) => s,
            existing => {
                if let Some(old) = existing {
                    self.port_reuses += 1;
                    replaced = Some(old);
                }
                new = true;
                let conn = match self.tombs.take(&key) {
                    Some(t) if t.syn_starts_new_stream(&key, seg) => {
                        self.port_reuses += 1;
                        reused = true;
                        Flow::new(UNNUMBERED, seg)
                    }
                    Some(t) => t.revive(&key, seg),
                    None => Flow::new(UNNUMBERED, seg),
                };
                let entry = Box::new(Entry {
                    key,
                    conn,
                    data: make(),
                });
                let s = match self.free.pop() {
                    Some(s) => {
                        self.slots[s as usize] = Some(entry);
                        s
                    }
                    None => {
                        self.slots.push(Some(entry));
                        (self.slots.len() - 1) as u32
                    }
                };
                self.live += 1;
                self.current.insert(key, s);
                if is_provisional(self.entry(s).conn.stream) {
                    // The continuation of a connection numbered provisionally.
                    self.provisional_slots.push(s);
                }
                s
            }
        };
        let conn = &mut self.entry_mut(slot).conn;
        let reused_ports = replaced.is_some() || reused || conn.syn_ack_reuses_ports(seg);
        let side = conn.observe(seg);
        Placement {
            slot,
            side,
            new,
            replaced,
            reused_ports,
        }
    }

    /// # Panics
    /// If the slot is empty: slots come from [`FlowTable::add`] and stay valid
    /// until [`FlowTable::remove`].
    fn entry(&self, slot: u32) -> &Entry<T> {
        match &self.slots[slot as usize] {
            Some(e) => e,
            None => panic!("flow table slot {slot} is empty"),
        }
    }

    fn entry_mut(&mut self, slot: u32) -> &mut Entry<T> {
        match &mut self.slots[slot as usize] {
            Some(e) => e,
            None => panic!("flow table slot {slot} is empty"),
        }
    }

    /// The live connection in `slot` (which must be live).
    pub fn conn(&self, slot: u32) -> &Flow {
        &self.entry(slot).conn
    }

    /// The caller's data of the live connection in `slot`.
    pub fn data(&self, slot: u32) -> &T {
        &self.entry(slot).data
    }

    /// The caller's data of the live connection in `slot`, to change.
    pub fn data_mut(&mut self, slot: u32) -> &mut T {
        &mut self.entry_mut(slot).data
    }

    /// The caller's data of the connection in `slot`, if it is live.
    pub fn get_data_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.slots
            .get_mut(slot as usize)
            .and_then(|e| e.as_deref_mut())
            .map(|e| &mut e.data)
    }

    /// Gives a new connection its global stream number.
    pub fn set_stream(&mut self, slot: u32, stream: u64) {
        self.entry_mut(slot).conn.stream = stream;
    }

    /// Gives a new connection a provisional stream number ([`PROVISIONAL`]
    /// `| i`), so it can be finished, remembered in a tombstone and
    /// continued before the global numbers of its batch are known; one
    /// [`FlowTable::resolve_streams`] call then gives every holder of a
    /// provisional number (live connections, continuations, tombstones)
    /// the real one. Ordering by stream keeps its meaning meanwhile: a
    /// provisional number sorts after every real one, and provisional
    /// numbers in the order they were given.
    pub fn set_provisional_stream(&mut self, slot: u32, stream: u64) {
        self.set_stream(slot, stream);
        self.provisional_slots.push(slot);
    }

    /// Replaces every provisional stream number by its real one from
    /// `numbers` (see [`resolve_stream`]).
    pub fn resolve_streams(&mut self, numbers: &[u64]) {
        for slot in std::mem::take(&mut self.provisional_slots) {
            if let Some(Some(e)) = self.slots.get_mut(slot as usize) {
                e.conn.stream = resolve_stream(e.conn.stream, numbers);
            }
        }
        for t in self.tombs.newest_mut(self.provisional_tombs) {
            t.stream = resolve_stream(t.stream, numbers);
        }
        self.provisional_tombs = 0;
    }

    /// Takes a connection out of the table. If it was the current
    /// connection of its endpoint pair, a tombstone remembers it: a later
    /// segment of the pair starts a connection that [`Flow::continues`]
    /// its stream (unless it is a SYN Wireshark would start a new stream
    /// for), as long as the tombstone is among the last `tombs` kept.
    pub fn remove(&mut self, slot: u32) -> Option<(Flow, T)> {
        let entry = self.slots.get_mut(slot as usize)?.take()?;
        if self.current.get(&entry.key) == Some(&slot) {
            self.current.remove(&entry.key);
            if self.tombs.limit > 0 && entry.conn.stream != UNNUMBERED {
                self.tombs.add(entry.key, Tomb::of(&entry.key, &entry.conn));
                if self.provisional_tombs > 0 || is_provisional(entry.conn.stream) {
                    // The tombstones from the first provisional one on.
                    self.provisional_tombs += 1;
                }
            }
        }
        self.free.push(slot);
        self.live -= 1;
        let Entry { conn, data, .. } = *entry;
        Some((conn, data))
    }

    /// The live connections with their slots and data, in slot order.
    pub fn live(&self) -> impl Iterator<Item = (u32, &Flow, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as u32, &e.conn, &e.data)))
    }

    /// How many connections are live.
    pub fn len(&self) -> usize {
        self.live
    }

    /// No connection is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// How many times a SYN started a new connection on a pair already seen.
    pub fn port_reuses(&self) -> u64 {
        self.port_reuses
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpOptions;

    fn seg(frame: u64, from_client: bool, seq: u32, ack: u32, flags: u16) -> Segment {
        let c = Endpoint {
            addr: "10.0.0.1".parse().unwrap(),
            port: 1000,
        };
        let s = Endpoint {
            addr: "10.0.0.2".parse().unwrap(),
            port: 80,
        };
        let (src, dst) = if from_client { (c, s) } else { (s, c) };
        Segment {
            frame,
            ts_ns: frame as i64,
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 100,
            payload_len: 0,
            captured_payload_len: 0,
            ip_len: 40,
            options: TcpOptions::default(),
            bad_header_len: false,
            short_segment: false,
            header_cut: false,
            path: Default::default(),
            bad_checksum: false,
            wire: Default::default(),
        }
    }

    /// A connection numbered provisionally can be removed, remembered,
    /// continued and removed again before its batch is numbered: one
    /// `resolve_streams` gives the continuation and every tombstone the
    /// real number, so a later part still continues the same stream.
    #[test]
    fn provisional_numbers_reach_continuations_and_tombstones() {
        let mut keyer = Keyer::default();
        let mut t: FlowTable<()> = FlowTable::remembering(8);
        let first = seg(1, true, 100, 0, S);
        let key = keyer.key(&first);
        let p = t.add(key, &first, || ());
        assert!(p.new && t.conn(p.slot).stream == UNNUMBERED);
        t.set_provisional_stream(p.slot, PROVISIONAL);
        t.remove(p.slot);
        // A later segment of the pair continues the provisional stream.
        let later = seg(2, false, 500, 101, A);
        let q = t.add(key, &later, || ());
        assert!(q.new);
        assert_eq!(t.conn(q.slot).stream, PROVISIONAL);
        assert!(t.conn(q.slot).continues);
        assert_eq!(
            t.conn(q.slot).client(),
            first.src,
            "roles come back from the tombstone"
        );
        // Another connection of the batch, on another pair.
        let mut other = seg(3, true, 7, 0, S);
        other.src.port = 2000;
        let other_key = keyer.key(&other);
        let r = t.add(other_key, &other, || ());
        t.set_provisional_stream(r.slot, PROVISIONAL | 1);
        t.remove(q.slot);
        t.resolve_streams(&[41, 42]);
        assert_eq!(t.conn(r.slot).stream, 42);
        // The tombstone made from the continuation holds the real number.
        let again = seg(4, true, 101, 501, A);
        let a = t.add(key, &again, || ());
        assert_eq!(t.conn(a.slot).stream, 41);
        assert!(t.conn(a.slot).continues);
        assert!(!is_provisional(t.conn(a.slot).stream));
    }

    /// The tombstones' ring forgets and finds exactly what a map of keys
    /// plus a queue of (key, number) in order (the layout it replaced)
    /// did, over a long random run of adds, takes and provisional numbers
    /// resolved, with few keys and a small limit so every case comes up:
    /// a key's tombstone replaced, revived, wrapped around, and the oldest
    /// entry taking a newer tombstone of its key with it.
    #[test]
    fn tomb_ring_forgets_as_a_map_and_queue_do() {
        use std::collections::{HashMap, VecDeque};
        let keys: Vec<FlowKey> = (0..6)
            .map(|i| {
                let mut s = seg(1, true, 1, 0, S);
                s.src.port = 3000 + i;
                FlowKey::untunnelled(true, &s)
            })
            .collect();
        let tomb = |stream: u64| Tomb {
            stream,
            bases: SeqBases::default(),
            client_reason: ClientReason::Syn,
            client_is_lo: stream.is_multiple_of(2),
            standing: true,
        };
        for limit in [1, 2, 3, 5] {
            let mut ring = Tombs {
                limit,
                ..Tombs::default()
            };
            let mut map: HashMap<FlowKey, u64> = HashMap::new();
            let mut queue: VecDeque<(FlowKey, u64)> = VecDeque::new();
            let mut provisional = 0usize;
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            for step in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = keys[(x % 6) as usize];
                match (x >> 8) % 8 {
                    0..=3 => {
                        // Few numbers, so a key often gets the same one again.
                        let stream = match (x >> 16) % 4 {
                            0 => PROVISIONAL | ((x >> 24) % 2),
                            n => n,
                        };
                        ring.add(key, tomb(stream));
                        map.insert(key, stream);
                        queue.push_back((key, stream));
                        while queue.len() > limit {
                            let (k, s) = queue.pop_front().unwrap();
                            if map.get(&k) == Some(&s) {
                                map.remove(&k);
                            }
                        }
                        if provisional > 0 || is_provisional(stream) {
                            provisional += 1;
                        }
                    }
                    4..=6 => {
                        let got = ring.take(&key).map(|t| t.stream);
                        assert_eq!(got, map.remove(&key), "limit {limit}, step {step}");
                    }
                    _ => {
                        let numbers = [10 + step, 11 + step];
                        for t in ring.newest_mut(provisional) {
                            t.stream = resolve_stream(t.stream, &numbers);
                        }
                        let from = queue.len() - provisional.min(queue.len());
                        for (k, s) in queue.iter_mut().skip(from) {
                            if is_provisional(*s) {
                                let real = resolve_stream(*s, &numbers);
                                if map.get(k) == Some(s) {
                                    map.insert(*k, real);
                                }
                                *s = real;
                            }
                        }
                        provisional = 0;
                    }
                }
            }
        }
    }

    /// A table that numbers streams as they come, as the analysis does.
    #[derive(Default)]
    struct Numbered {
        keyer: Keyer,
        table: FlowTable<()>,
        next: u64,
        slots: Vec<u32>,
    }

    impl Numbered {
        fn add(&mut self, s: &Segment) -> u64 {
            let key = self.keyer.key(s);
            let p = self.table.add(key, s, || ());
            if p.new {
                self.table.set_stream(p.slot, self.next);
                self.slots.push(p.slot);
                self.next += 1;
            }
            self.table.conn(p.slot).stream
        }

        fn conn(&self, stream: usize) -> &Flow {
            self.table.conn(self.slots[stream])
        }
    }

    const S: u16 = TcpFlags::SYN;
    const SA: u16 = TcpFlags::SYN | TcpFlags::ACK;
    const A: u16 = TcpFlags::ACK;
    const FA: u16 = TcpFlags::FIN | TcpFlags::ACK;
    const RA: u16 = TcpFlags::RST | TcpFlags::ACK;

    /// Each row: segments (from_client, seq, ack, flags) and the stream each must land in.
    /// Expectations are what tshark 4.0 printed for the same packets.
    #[test]
    fn stream_numbering_follows_wireshark() {
        type Row = (&'static str, Vec<(bool, u32, u32, u16)>, Vec<u64>);
        let rows: Vec<Row> = vec![
            (
                "same ISN after FIN stays in the stream",
                vec![
                    (true, 100, 0, S),
                    (false, 500, 101, SA),
                    (true, 101, 501, FA),
                    (false, 501, 102, FA),
                    (true, 100, 0, S),
                ],
                vec![0, 0, 0, 0, 0],
            ),
            (
                "new ISN after FIN is port reuse",
                vec![(true, 100, 0, S), (false, 500, 101, SA), (true, 7, 0, S)],
                vec![0, 0, 1],
            ),
            (
                "retransmitted SYN after RST stays",
                vec![(true, 100, 0, S), (false, 0, 101, RA), (true, 100, 0, S)],
                vec![0, 0, 0],
            ),
            (
                "SYN from the other side with a new ISN is reuse",
                vec![(true, 100, 0, S), (false, 500, 101, SA), (false, 777, 0, S)],
                vec![0, 0, 1],
            ),
            (
                "SYN-ACK with a new ISN is not reuse",
                vec![
                    (true, 100, 0, S),
                    (false, 500, 101, SA),
                    (false, 600, 101, SA),
                ],
                vec![0, 0, 0],
            ),
            (
                "base from the peer's ACK: matching SYN stays",
                vec![(true, 100, 1000, A), (false, 999, 0, S)],
                vec![0, 0],
            ),
            (
                "base from the peer's ACK: other SYN is reuse",
                vec![(true, 100, 1000, A), (false, 5000, 0, S)],
                vec![0, 1],
            ),
            (
                "mid-stream base is seq-1",
                vec![(true, 100, 1, A), (true, 99, 0, S)],
                vec![0, 0],
            ),
            (
                "mid-stream SYN at the data seq is reuse",
                vec![(true, 100, 1, A), (true, 100, 0, S)],
                vec![0, 1],
            ),
        ];
        for (name, segs, want) in rows {
            let mut t = Numbered::default();
            let got: Vec<u64> = segs
                .iter()
                .enumerate()
                .map(|(i, &(c, seq, ack, fl))| t.add(&seg(i as u64 + 1, c, seq, ack, fl)))
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn client_is_the_syn_sender_else_synack_receiver_else_first_sender() {
        let mut t = Numbered::default();
        t.add(&seg(1, false, 500, 101, SA));
        t.add(&seg(2, true, 101, 501, A));
        let c = t.conn(0);
        assert_eq!(c.client_reason, ClientReason::SynAck);
        assert_eq!(c.client().port, 1000);

        let mut t = Numbered::default();
        t.add(&seg(1, false, 500, 101, A));
        let c = t.conn(0);
        assert_eq!(c.client_reason, ClientReason::Port);
        assert_eq!(c.client().port, 1000, "the lower port 80 is the server");

        let mut t = Numbered::default();
        t.add(&seg(1, false, 500, 101, A));
        t.add(&seg(2, true, 7, 0, S));
        assert_eq!(t.table.len(), 2, "SYN with new ISN after base from ACK");
    }
}

#[cfg(test)]
mod keyer_tests {
    use super::*;
    use crate::model::{Encap, TunnelHop};

    /// A segment of 10.0.0.1:1000 <-> 10.0.0.2:80 (`from_client`) inside
    /// one GRE hop `src > dst` with key `key`.
    fn tunnelled(from_client: bool, src: &str, dst: &str, key: Option<u32>) -> Segment {
        let c = Endpoint {
            addr: "10.0.0.1".parse().unwrap(),
            port: 1000,
        };
        let s = Endpoint {
            addr: "10.0.0.2".parse().unwrap(),
            port: 80,
        };
        let (src_ep, dst_ep) = if from_client { (c, s) } else { (s, c) };
        let hop = TunnelHop {
            encap: Encap::Gre,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            id: key,
        };
        Segment {
            frame: 1,
            ts_ns: 1,
            src: src_ep,
            dst: dst_ep,
            seq: 1,
            ack: 1,
            flags: TcpFlags(TcpFlags::ACK),
            window: 100,
            payload_len: 0,
            captured_payload_len: 0,
            ip_len: 40,
            options: Default::default(),
            bad_header_len: false,
            short_segment: false,
            header_cut: false,
            path: Path {
                vlans: VlanStack::default(),
                tunnel: Some(Arc::new(TunnelPath(vec![hop]))),
            },
            bad_checksum: false,
            wire: Default::default(),
        }
    }

    /// Uplink and downlink in different tunnels (per-direction GRE keys, as
    /// PMIPv6 assigns them; other outer hosts each way) are one connection,
    /// as Wireshark and Zeek key it; the tunnel key used to split them.
    #[test]
    fn per_direction_tunnels_are_one_connection() {
        let mut k = Keyer::new(KeyOptions::default());
        let up = k.key(&tunnelled(true, "192.0.2.1", "192.0.2.2", Some(5)));
        let down = k.key(&tunnelled(false, "192.0.2.2", "192.0.2.1", Some(6)));
        assert_eq!(up, down, "GRE key 5 up, 6 down");
        assert_eq!(
            k.key(&tunnelled(true, "192.0.2.1", "192.0.2.2", Some(5))),
            up
        );
        let mut k = Keyer::new(KeyOptions::default());
        let up = k.key(&tunnelled(true, "192.0.2.1", "192.0.2.2", None));
        let down = k.key(&tunnelled(false, "198.51.100.7", "192.0.2.1", None));
        assert_eq!(up, down, "other outer hosts each way");
    }

    /// Two tenants on one 4-tuple at once in two tunnels stay two
    /// connections, and each reply finds its tenant, in whatever order.
    #[test]
    fn tenants_stay_apart_and_replies_find_their_tenant() {
        let mut k = Keyer::new(KeyOptions::default());
        let a = k.key(&tunnelled(true, "192.0.2.1", "192.0.2.2", Some(1001)));
        let b = k.key(&tunnelled(true, "192.0.2.1", "192.0.2.2", Some(1002)));
        assert_ne!(a, b);
        assert_eq!(
            k.key(&tunnelled(false, "192.0.2.2", "192.0.2.1", Some(1002))),
            b
        );
        assert_eq!(
            k.key(&tunnelled(false, "192.0.2.2", "192.0.2.1", Some(1001))),
            a
        );
        // Both directions taken: another tunnel is another tenant.
        let c = k.key(&tunnelled(false, "192.0.2.2", "192.0.2.1", Some(1003)));
        assert!(c != a && c != b);
        // Forgotten pairings: the next segment starts afresh.
        k.forget_before(2, 10);
        assert!(k.pairings.is_empty());
        // Past the limit, the older half goes, whatever their age.
        for port in 0..8u16 {
            let mut s = tunnelled(true, "192.0.2.1", "192.0.2.2", None);
            s.src.port = port;
            s.ts_ns = i64::from(port);
            k.key(&s);
        }
        k.forget_before(0, 3);
        assert!(k.pairings.len() <= 3, "{}", k.pairings.len());
        let kept: Vec<u16> = k
            .pairings
            .keys()
            .map(|key| key.lo.port.min(key.hi.port))
            .collect();
        assert!(kept.iter().all(|&p| p >= 5), "{kept:?}");
        // Without the tunnel key, tunnels never matter.
        let mut off = Keyer::new(KeyOptions {
            vlan: true,
            tunnel: false,
        });
        assert_eq!(
            off.key(&tunnelled(true, "192.0.2.1", "192.0.2.2", Some(1))),
            off.key(&tunnelled(true, "192.0.2.9", "192.0.2.2", Some(2)))
        );
    }
}
