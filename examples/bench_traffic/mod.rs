//! A deterministic, streaming model of a busy network's TCP traffic, shared by
//! `examples/gen_bench_capture.rs` (which writes it to a capture) and
//! `benches/state_machine.rs` (which decodes a few thousand of its connections).
//!
//! [`Traffic`] is an iterator of segments in timestamp order. It keeps a bounded
//! set of live connections, each a small generator ([`Conn`]) that produces its
//! packets one "step" at a time (the handshake, one request/response exchange,
//! the close) into a short queue; a binary heap keyed on each connection's next
//! timestamp picks the earliest packet. Memory therefore depends on the number of
//! live connections, never on the size of the capture.
//!
//! The mix (fractions of connections):
//!
//! * 56 % request/response exchanges closed by the client's FIN, 22 % closed by
//!   the server's FIN (either with the ACK and FIN apart or combined), 3 % where
//!   the client half-closes first and the server answers, then closes;
//! * 8 % aborted with RST by either side (sometimes after a FIN);
//! * 5 % refused (SYN answered by RST-ACK), 3 % unanswered SYNs (with 1 to 5
//!   retransmissions at exponential back-off);
//! * 3 % still open at the end (no close: idle keep-alive connections).
//!
//! Inside a connection: 20 % are IPv6, 10 % carry one 802.1Q tag, 80 % use TCP
//! timestamps, 1 % need a SYN retransmission, some exchanges lose a server
//! segment after the capture point (the client's duplicate ACKs, then a fast or
//! timeout retransmission) and a few see a spurious client retransmission with
//! the server's duplicate ACK. Message sizes are Pareto-distributed, so most
//! segments are pure ACKs or carry a few dozen bytes, while a long tail of
//! messages fills whole MSS-sized segments. The capture point is next to the
//! servers: a server answers within microseconds to milliseconds, a client after
//! its round-trip time (0.2 to 150 ms, log-uniform).
//!
//! Everything comes from one hand-written splitmix64 generator per connection
//! (seeded from the run's seed and the connection number) plus one for
//! arrivals, so the same seed gives the same bytes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tcpstate_synth::{typical_syn_options, Conv, Link, Segment, Side, TcpFlags, EPOCH_2026_NS};

const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// splitmix64: tiny, fast, statistically fine for workload generation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability p.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() <= p
    }

    /// Exponential with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * self.unit().ln()
    }

    /// Pareto with minimum `xmin` and shape `alpha` (heavier tail as alpha nears 1).
    pub fn pareto(&mut self, xmin: f64, alpha: f64) -> f64 {
        xmin * self.unit().powf(-1.0 / alpha)
    }

    /// Log-uniform between lo and hi.
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.unit()).exp()
    }
}

/// How a connection goes; see the module docs for the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Exchanges, then the client closes first.
    ClientClose,
    /// Exchanges, then the server closes first.
    ServerClose,
    /// Exchanges, the client sends FIN, the server answers, then closes.
    HalfClose,
    /// Exchanges, then one side aborts with RST.
    Reset,
    /// SYN answered by RST-ACK.
    Refused,
    /// SYN (and retransmissions) never answered.
    Unanswered,
    /// Exchanges, no close before the capture ends.
    Open,
}

impl Kind {
    /// Every kind, in the order of [`Stats::kinds`].
    pub const ALL: [Kind; 7] = [
        Kind::ClientClose,
        Kind::ServerClose,
        Kind::HalfClose,
        Kind::Reset,
        Kind::Refused,
        Kind::Unanswered,
        Kind::Open,
    ];

    fn pick(rng: &mut Rng) -> Kind {
        let x = rng.below(1000);
        match x {
            0..560 => Kind::ClientClose,
            560..780 => Kind::ServerClose,
            780..810 => Kind::HalfClose,
            810..890 => Kind::Reset,
            890..940 => Kind::Refused,
            940..970 => Kind::Unanswered,
            _ => Kind::Open,
        }
    }

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ClientClose => "client_close",
            Kind::ServerClose => "server_close",
            Kind::HalfClose => "half_close",
            Kind::Reset => "reset",
            Kind::Refused => "refused",
            Kind::Unanswered => "unanswered",
            Kind::Open => "open",
        }
    }
}

/// One thing a connection does at a given time; executed through [`Conv`],
/// which keeps sequence and acknowledgement numbers right.
#[derive(Clone, Copy, Debug)]
enum Ev {
    Syn,
    /// The client's SYN again (same ISN, same options).
    SynRetx,
    SynAck,
    /// The server's SYN-ACK again.
    SynAckRetx,
    Refuse,
    /// `len` bytes of new data; PSH on the last segment of a message.
    Data {
        side: Side,
        len: usize,
        psh: bool,
    },
    /// A pure ACK acknowledging `ack` (not necessarily everything received).
    AckOf {
        side: Side,
        ack: u32,
    },
    /// A pure ACK of everything received.
    Ack(Side),
    /// Data sent again: `[seq, seq + len)`.
    Retx {
        side: Side,
        seq: u32,
        len: usize,
    },
    Fin(Side),
    Rst(Side),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    Exchanges,
    Close,
    Done,
}

/// One live connection: its script state and the packets of its current step.
struct Conn {
    id: u64,
    kind: Kind,
    link: Link,
    conv: Conv,
    rng: Rng,
    phase: Phase,
    /// Client's path round-trip time as seen from the capture point.
    rtt: u64,
    /// Largest payload per segment.
    mss: usize,
    exchanges_left: u32,
    /// When the next step starts.
    next_t: u64,
    pending: VecDeque<(Side, Segment)>,
    /// Scratch list of the current step, sorted by time before execution.
    events: Vec<(u64, Ev)>,
}

/// One generated segment with the connection it belongs to.
pub struct Emitted {
    /// Connection number, 0-based in order of first packet.
    pub conn: u64,
    /// Who sent it.
    pub side: Side,
    /// Ethernet, or Ethernet with one VLAN tag.
    pub link: Link,
    /// The segment (its `ts_ns` is the capture time).
    pub seg: Segment,
}

/// Shape of the traffic.
#[derive(Clone, Debug)]
pub struct Params {
    /// Connections to start.
    pub connections: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Mean time between connection starts.
    pub mean_gap_ns: u64,
    /// Hard bound on live connections (a start is skipped while it is reached).
    pub max_live: usize,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            connections: 200_000,
            seed: 1,
            mean_gap_ns: 1_500 * US,
            max_live: 20_000,
        }
    }
}

/// Counters of what was generated.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Connections started.
    pub connections: u64,
    /// Segments emitted.
    pub packets: u64,
    /// Connections per [`Kind::ALL`] entry.
    pub kinds: [u64; 7],
    /// IPv6 connections.
    pub ipv6: u64,
    /// VLAN-tagged connections.
    pub vlan: u64,
    /// Segments without payload.
    pub empty: u64,
    /// Segments carrying a full MSS.
    pub full: u64,
    /// Payload bytes.
    pub payload_bytes: u64,
    /// Most connections live at once.
    pub max_live: usize,
    /// Starts skipped because `max_live` connections were live.
    pub skipped_starts: u64,
}

/// The traffic: an iterator of segments in timestamp order.
pub struct Traffic {
    params: Params,
    rng: Rng,
    /// (next packet time, connection id, slot): ids break ties deterministically.
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    live: usize,
    next_start: u64,
    /// Client ports in use per client host (next one to hand out).
    next_port: Vec<u16>,
    stats: Stats,
}

const CLIENT_HOSTS: u64 = 20_000;
const SERVERS: u64 = 200;
const VLANS: [u16; 6] = [10, 20, 100, 200, 1001, 4000];
const SERVER_PORTS: [(u16, u32); 9] = [
    (443, 600),
    (80, 150),
    (22, 40),
    (5432, 50),
    (3306, 40),
    (6379, 50),
    (8080, 40),
    (9092, 20),
    (25, 10),
];

impl Traffic {
    /// Traffic with these parameters.
    pub fn new(params: Params) -> Traffic {
        let mut rng = Rng::new(params.seed ^ 0x5eed_0000_0000_0000);
        let next_start = EPOCH_2026_NS + rng.exp(params.mean_gap_ns as f64) as u64;
        Traffic {
            params,
            rng,
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            next_start,
            next_port: vec![0; CLIENT_HOSTS as usize],
            stats: Stats::default(),
        }
    }

    /// What was generated so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn may_start(&self) -> bool {
        self.stats.connections < self.params.connections
    }

    fn start_connection(&mut self) {
        let t = self.next_start;
        self.next_start = t + 1 + self.rng.exp(self.params.mean_gap_ns as f64) as u64;
        if self.live >= self.params.max_live {
            self.stats.skipped_starts += 1;
            return;
        }
        let id = self.stats.connections;
        self.stats.connections += 1;
        let mut rng = Rng::new(
            self.params
                .seed
                .wrapping_mul(0xd6e8_feb8_6659_fd93)
                .wrapping_add(id.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        );
        // Few hosts open many connections (skewed towards low numbers).
        let host = ((CLIENT_HOSTS as f64) * rng.unit().powi(3)) as u64 % CLIENT_HOSTS;
        let port_slot = &mut self.next_port[host as usize];
        let port = 32768 + *port_slot;
        *port_slot = (*port_slot + 1) % 28232;
        let server = ((SERVERS as f64) * rng.unit().powi(2)) as u64 % SERVERS;
        let mut pick = rng.below(1000) as u32;
        let mut server_port = 443;
        for (p, weight) in SERVER_PORTS {
            if pick < weight {
                server_port = p;
                break;
            }
            pick -= weight;
        }
        let ipv6 = rng.chance(0.20);
        let (client, server) = if ipv6 {
            let c = Ipv6Addr::new(
                0x2001,
                0xdb8,
                0xc,
                0,
                0,
                0,
                (host >> 16) as u16,
                host as u16,
            );
            let s = Ipv6Addr::new(0x2001, 0xdb8, 0x5, 0, 0, 0, 0, server as u16 + 1);
            (
                SocketAddr::new(IpAddr::V6(c), port),
                SocketAddr::new(IpAddr::V6(s), server_port),
            )
        } else {
            let c = Ipv4Addr::new(10, 1 + (host >> 16) as u8, (host >> 8) as u8, host as u8);
            let s = Ipv4Addr::new(10, 200, (server >> 8) as u8, server as u8 + 1);
            (
                SocketAddr::new(IpAddr::V4(c), port),
                SocketAddr::new(IpAddr::V4(s), server_port),
            )
        };
        let link = if rng.chance(0.10) {
            self.stats.vlan += 1;
            Link::EthernetVlan(vec![VLANS[rng.below(VLANS.len() as u64) as usize]])
        } else {
            Link::Ethernet
        };
        self.stats.ipv6 += u64::from(ipv6);
        let kind = Kind::pick(&mut rng);
        self.stats.kinds[Kind::ALL.iter().position(|&k| k == kind).unwrap_or(0)] += 1;
        let isn_c = rng.next_u64() as u32;
        let isn_s = rng.next_u64() as u32;
        let timestamps = rng.chance(0.8);
        let window = [502u16, 1023, 8192, 29200, 64240, 65535][rng.below(6) as usize];
        let mut conv = Conv::new(client, server, isn_c, isn_s)
            .starting_at(t)
            .with_step(0)
            .with_window(window)
            .with_syn_options(Side::Client, typical_syn_options())
            .with_syn_options(Side::Server, typical_syn_options());
        if timestamps {
            conv = conv.with_timestamps();
        }
        let mss = if ipv6 { 1440 } else { 1460 } - if timestamps { 12 } else { 0 };
        let rtt = rng.log_uniform(200.0 * US as f64, 150.0 * MS as f64) as u64;
        // Exchanges per connection: heavy-tailed, mean about 18.
        let exchanges = rng.pareto(3.9, 1.25).min(5000.0) as u32;
        let conn = Conn {
            id,
            kind,
            link,
            conv,
            rng,
            phase: Phase::Open,
            rtt,
            mss,
            exchanges_left: exchanges,
            next_t: t,
            pending: VecDeque::new(),
            events: Vec::new(),
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s] = Some(conn);
                s
            }
            None => {
                self.slots.push(Some(conn));
                self.slots.len() - 1
            }
        };
        self.live += 1;
        self.stats.max_live = self.stats.max_live.max(self.live);
        self.schedule(slot);
    }

    /// Puts a connection's next packet on the heap, or retires it.
    fn schedule(&mut self, slot: usize) {
        let conn = self.slots[slot].as_mut().expect("live slot");
        if conn.pending.is_empty() {
            conn.refill();
        }
        match conn.pending.front() {
            Some((_, seg)) => self.heap.push(Reverse((seg.ts_ns, conn.id, slot))),
            None => {
                self.slots[slot] = None;
                self.free.push(slot);
                self.live -= 1;
            }
        }
    }
}

impl Iterator for Traffic {
    type Item = Emitted;

    fn next(&mut self) -> Option<Emitted> {
        loop {
            let head = self.heap.peek().map(|Reverse((t, _, _))| *t);
            if self.may_start() && head.is_none_or(|t| self.next_start <= t) {
                self.start_connection();
                continue;
            }
            let Reverse((_, _, slot)) = self.heap.pop()?;
            let conn = self.slots[slot].as_mut().expect("live slot");
            let (side, seg) = conn.pending.pop_front().expect("scheduled with a packet");
            let len = seg.payload.len();
            self.stats.packets += 1;
            self.stats.payload_bytes += len as u64;
            self.stats.empty += u64::from(len == 0);
            self.stats.full += u64::from(len >= conn.mss);
            let emitted = Emitted {
                conn: conn.id,
                side,
                link: conn.link.clone(),
                seg,
            };
            self.schedule(slot);
            return Some(emitted);
        }
    }
}

impl Conn {
    /// Generates the next step's packets into `pending` (nothing once done).
    fn refill(&mut self) {
        self.events.clear();
        while self.events.is_empty() && self.phase != Phase::Done {
            match self.phase {
                Phase::Open => self.open(),
                Phase::Exchanges if self.exchanges_left == 0 => self.phase = Phase::Close,
                Phase::Exchanges => {
                    self.exchanges_left -= 1;
                    self.exchange();
                }
                Phase::Close => {
                    self.close();
                    self.phase = Phase::Done;
                }
                Phase::Done => {}
            }
        }
        // Stable: each side's own events keep their order.
        self.events.sort_by_key(|(t, _)| *t);
        let events = std::mem::take(&mut self.events);
        for &(t, ev) in &events {
            let now = self.conv.now();
            if t > now {
                self.conv.wait(t - now);
            }
            self.run(ev);
        }
        self.events = events;
        let client = self.conv.addr(Side::Client);
        for seg in self.conv.segments_mut().drain(..) {
            let side = if seg.src == client {
                Side::Client
            } else {
                Side::Server
            };
            self.pending.push_back((side, seg));
        }
    }

    fn run(&mut self, ev: Ev) {
        let c = &mut self.conv;
        match ev {
            Ev::Syn => {
                c.syn();
            }
            Ev::SynRetx => {
                let isn = c.isn(Side::Client);
                c.raw(Side::Client, TcpFlags::SYN, isn, 0, 0);
            }
            Ev::SynAck => {
                c.syn_ack();
            }
            Ev::SynAckRetx => {
                let (isn, ack) = (
                    c.isn(Side::Server),
                    c.rcv_nxt(Side::Server).unwrap_or_default(),
                );
                c.raw(Side::Server, TcpFlags::SYN | TcpFlags::ACK, isn, ack, 0);
            }
            Ev::Refuse => {
                c.refuse();
            }
            Ev::Data { side, len, psh } => {
                let flags = if psh {
                    TcpFlags::PSH | TcpFlags::ACK
                } else {
                    TcpFlags::ACK
                };
                c.send(side, flags, len);
            }
            Ev::AckOf { side, ack } => {
                let seq = c.next_seq(side);
                c.raw(side, TcpFlags::ACK, seq, ack, 0);
            }
            Ev::Ack(side) => {
                c.ack(side);
            }
            Ev::Retx { side, seq, len } => {
                let ack = c.rcv_nxt(side).unwrap_or_default();
                c.raw(side, TcpFlags::PSH | TcpFlags::ACK, seq, ack, len);
            }
            Ev::Fin(side) => {
                c.fin(side);
            }
            Ev::Rst(side) => {
                c.rst(side);
            }
        }
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.events.push((t, ev));
    }

    /// How long the server takes to answer a request.
    fn server_delay(&mut self) -> u64 {
        let r = &mut self.rng;
        if r.chance(0.7) {
            r.log_uniform(15.0 * US as f64, 500.0 * US as f64) as u64
        } else {
            r.log_uniform(500.0 * US as f64, 80.0 * MS as f64) as u64
        }
    }

    /// Client's pause between exchanges: mostly back-to-back requests, some
    /// human-scale pauses, a few long idle periods.
    fn think(&mut self) -> u64 {
        let r = &mut self.rng;
        let x = r.below(100);
        if x < 70 {
            r.exp(2.0 * MS as f64) as u64
        } else if x < 95 {
            r.exp(200.0 * MS as f64) as u64
        } else {
            r.log_uniform(1.0 * SEC as f64, 30.0 * SEC as f64) as u64
        }
    }

    /// Size of one message: Pareto, so most are a few dozen bytes.
    fn message(&mut self, xmin: f64, alpha: f64, cap: f64) -> usize {
        self.rng.pareto(xmin, alpha).min(cap) as usize
    }

    /// Wire time of a segment at 1 Gb/s plus a little jitter.
    fn gap(&mut self, len: usize) -> u64 {
        (len as u64 + 66) * 8 + self.rng.below(4 * US)
    }

    fn open(&mut self) {
        let t = self.next_t;
        self.phase = Phase::Exchanges;
        self.at(t, Ev::Syn);
        match self.kind {
            Kind::Refused => {
                let d = self.rng.range(10 * US, 200 * US);
                self.at(t + d, Ev::Refuse);
                self.phase = Phase::Done;
            }
            Kind::Unanswered => {
                let mut rto = SEC;
                let mut when = t;
                for _ in 0..self.rng.range(1, 5) {
                    when += rto;
                    rto *= 2;
                    self.at(when, Ev::SynRetx);
                }
                self.phase = Phase::Done;
            }
            _ => {
                let d = self.rng.range(10 * US, 150 * US);
                let mut synack = t + d;
                self.at(synack, Ev::SynAck);
                if self.rng.chance(0.01) {
                    // The SYN-ACK was lost on the way to the client.
                    let retx = t + SEC;
                    self.at(retx, Ev::SynRetx);
                    synack = retx + d;
                    self.at(synack, Ev::SynAckRetx);
                }
                let ack = synack + self.rtt;
                self.at(ack, Ev::Ack(Side::Client));
                self.next_t = ack + self.rng.below(500 * US);
            }
        }
    }

    /// Splits a message into segment sizes.
    fn segments_of(&self, len: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut left = len.max(1);
        while left > 0 {
            let n = left.min(self.mss);
            out.push(n);
            left -= n;
        }
        out
    }

    /// One request from the client and the server's answer.
    fn exchange(&mut self) {
        let mut t = self.next_t;
        let client_base = self.conv.next_seq(Side::Client);
        // The request.
        let req = self.message(10.0, 1.3, 32_768.0);
        let req_segs = self.segments_of(req);
        for (i, &len) in req_segs.iter().enumerate() {
            self.at(
                t,
                Ev::Data {
                    side: Side::Client,
                    len,
                    psh: i + 1 == req_segs.len(),
                },
            );
            if i % 2 == 1 {
                let d = self.rng.range(5 * US, 30 * US);
                self.at(t + d, Ev::Ack(Side::Server));
            }
            if i + 1 < req_segs.len() {
                t += self.gap(len);
            }
        }
        let req_end = t;
        let mut delay = self.server_delay();
        if self.rng.chance(0.003) {
            // The server is slow; the client's timer fires and it resends the
            // request's last segment; the server answers with a duplicate ACK.
            let rto = (200 * MS).max(2 * self.rtt);
            delay = rto + self.rtt + self.rng.range(MS, 50 * MS);
            let last = *req_segs.last().expect("at least one segment");
            let seq = client_base.wrapping_add((req_segs.iter().sum::<usize>() - last) as u32);
            let retx = req_end + rto;
            self.at(
                retx,
                Ev::Retx {
                    side: Side::Client,
                    seq,
                    len: last,
                },
            );
            let d = self.rng.range(5 * US, 30 * US);
            self.at(retx + d, Ev::Ack(Side::Server));
        }
        if delay > 40 * MS {
            self.at(req_end + 40 * MS, Ev::Ack(Side::Server));
        }
        // The response.
        let resp = self.message(11.8, 1.2, 262_144.0);
        let resp_segs = self.segments_of(resp);
        let n = resp_segs.len();
        let base = self.conv.next_seq(Side::Server);
        let mut ends = Vec::with_capacity(n);
        let mut end = base;
        for &len in &resp_segs {
            end = end.wrapping_add(len as u32);
            ends.push(end);
        }
        let mut st = req_end + delay;
        let mut times = Vec::with_capacity(n);
        for (i, &len) in resp_segs.iter().enumerate() {
            times.push(st);
            self.at(
                st,
                Ev::Data {
                    side: Side::Server,
                    len,
                    psh: i + 1 == n,
                },
            );
            st += self.gap(len);
        }
        let last_t = times[n - 1];
        // A server segment lost after the capture point.
        let lost = if self.rng.chance((0.01 + 0.004 * n as f64).min(0.3)) {
            Some(self.rng.below(n as u64) as usize)
        } else {
            None
        };
        let rtt = self.rtt;
        let mut done_t = last_t + rtt;
        match lost {
            None => {
                // The client ACKs every second segment and the last one.
                for i in (1..n).step_by(2) {
                    self.at(
                        times[i] + rtt,
                        Ev::AckOf {
                            side: Side::Client,
                            ack: ends[i],
                        },
                    );
                }
                if n % 2 == 1 && self.rng.chance(0.6) {
                    let delayed = if n == 1 {
                        self.rng.range(MS, 40 * MS)
                    } else {
                        0
                    };
                    self.at(
                        last_t + rtt + delayed,
                        Ev::AckOf {
                            side: Side::Client,
                            ack: ends[n - 1],
                        },
                    );
                    done_t = last_t + rtt + delayed;
                }
            }
            Some(k) => {
                let hole = if k == 0 { base } else { ends[k - 1] };
                for i in (1..k).step_by(2) {
                    self.at(
                        times[i] + rtt,
                        Ev::AckOf {
                            side: Side::Client,
                            ack: ends[i],
                        },
                    );
                }
                // Every segment after the hole draws a duplicate ACK.
                for &ti in &times[k + 1..] {
                    self.at(
                        ti + rtt,
                        Ev::AckOf {
                            side: Side::Client,
                            ack: hole,
                        },
                    );
                }
                let retx = if k + 3 < n {
                    times[k + 3] + rtt + self.rng.range(5 * US, 50 * US)
                } else {
                    last_t + (200 * MS).max(2 * rtt) + rtt
                };
                self.at(
                    retx,
                    Ev::Retx {
                        side: Side::Server,
                        seq: hole,
                        len: resp_segs[k],
                    },
                );
                let t_ack = retx.max(last_t) + rtt;
                self.at(
                    t_ack,
                    Ev::AckOf {
                        side: Side::Client,
                        ack: ends[n - 1],
                    },
                );
                done_t = t_ack;
            }
        }
        self.next_t = done_t.max(last_t + rtt) + self.think();
    }

    fn close(&mut self) {
        let t = self.next_t;
        let rtt = self.rtt;
        match self.kind {
            Kind::ClientClose => {
                self.at(t, Ev::Fin(Side::Client));
                let d = self.server_delay().min(5 * MS);
                if self.rng.chance(0.7) {
                    self.at(t + d, Ev::Fin(Side::Server));
                } else {
                    let a = self.rng.range(5 * US, 40 * US);
                    self.at(t + a, Ev::Ack(Side::Server));
                    self.at(t + 50 * US + d, Ev::Fin(Side::Server));
                }
                self.at(t + 50 * US + d + rtt, Ev::Ack(Side::Client));
            }
            Kind::ServerClose => {
                self.at(t, Ev::Fin(Side::Server));
                let app = self.rng.range(0, 2 * MS);
                if app > MS {
                    self.at(t + rtt, Ev::Ack(Side::Client));
                }
                self.at(t + rtt + app, Ev::Fin(Side::Client));
                let a = self.rng.range(5 * US, 40 * US);
                self.at(t + rtt + app + a, Ev::Ack(Side::Server));
            }
            Kind::HalfClose => {
                self.at(t, Ev::Fin(Side::Client));
                let mut st = t + self.server_delay();
                let resp = self.message(12.0, 1.2, 65_536.0);
                let segs = self.segments_of(resp);
                for (i, &len) in segs.iter().enumerate() {
                    self.at(
                        st,
                        Ev::Data {
                            side: Side::Server,
                            len,
                            psh: i + 1 == segs.len(),
                        },
                    );
                    st += self.gap(len);
                }
                self.at(st, Ev::Fin(Side::Server));
                self.at(st + rtt, Ev::Ack(Side::Client));
            }
            Kind::Reset => {
                let side = if self.rng.chance(0.5) {
                    Side::Client
                } else {
                    Side::Server
                };
                if self.rng.chance(0.4) {
                    // The peer closed; this side aborts instead of closing.
                    self.at(t, Ev::Fin(side.peer()));
                    let later = if side == Side::Client { rtt } else { 20 * US };
                    self.at(t + later, Ev::Rst(side));
                } else {
                    self.at(t, Ev::Rst(side));
                }
            }
            Kind::Open | Kind::Refused | Kind::Unanswered => {}
        }
    }
}
