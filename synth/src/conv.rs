//! Conversation scripting: [`Conv`] keeps both ends' sequence and
//! acknowledgement numbers consistent so a scenario is a few lines long;
//! [`workload`] is a ready-made mix of many connections.

use std::net::SocketAddr;

use etherparse::TcpOptionElement;

use crate::frame::Packet;
use crate::segment::{IpExtras, Segment, TcpFlags};

/// 2026-01-01T00:00:00Z in nanoseconds since the Unix epoch: the fixed start
/// time of every generated capture, so output never depends on the clock.
pub const EPOCH_2026_NS: u64 = 1_767_225_600 * 1_000_000_000;

/// Which end of a [`Conv`] sends a segment.
///
/// The generator's own type, with the same variants (and order) as tcpstate's
/// `state_machine::Side`; this crate does not depend on the library, so tests
/// that feed both convert between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The side that opens the connection.
    Client,
    /// The side that accepts (or refuses) it.
    Server,
}

impl Side {
    /// The other side.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    /// 0 for the client, 1 for the server.
    pub fn idx(self) -> usize {
        self as usize
    }
}

/// Deterministic payload bytes: lowercase letters keyed by sequence number,
/// so a retransmission carries the same bytes as the original and payloads
/// are readable in a hex dump.
pub fn filler(first_seq: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b'a' + (first_seq.wrapping_add(i as u32) % 26) as u8)
        .collect()
}

/// Options a modern Linux stack puts on a SYN (MSS 1460, SACK permitted,
/// window scale 7); combine with [`Conv::with_timestamps`] for the full set.
pub fn typical_syn_options() -> Vec<TcpOptionElement> {
    vec![
        TcpOptionElement::MaximumSegmentSize(1460),
        TcpOptionElement::SelectiveAcknowledgementPermitted,
        TcpOptionElement::Noop,
        TcpOptionElement::WindowScale(7),
    ]
}

/// What a middlebox between two capture points did to a conversation
/// ([`Conv::view_through`]).
#[derive(Clone, Copy, Debug)]
pub struct Translation {
    /// The client's address and port beyond the middlebox (NAT).
    pub client: SocketAddr,
    /// The server's address and port beyond it (a load balancer's backend).
    pub server: SocketAddr,
    /// Added to the client's and to the server's sequence numbers beyond it
    /// (ISN rewriting; acknowledgement numbers follow).
    pub seq_offset: [u32; 2],
    /// One-way delay between the two points, ns.
    pub delay_ns: u64,
    /// The far point's clock minus the near one's, ns.
    pub clock_offset_ns: i64,
}

/// Scripted TCP conversation that tracks both ends' sequence numbers, so
/// scenario code says *what* happens and the numbers come out right.
///
/// Model: every segment produced by [`Conv::send`] (and the helpers built on
/// it) is delivered at once, so the peer's next acknowledgement covers it;
/// [`Conv::raw`] and [`Conv::retransmit_last`] change no state; the two
/// `simultaneous_*` helpers produce crossing segments. SYN and FIN each
/// consume one sequence number; all arithmetic wraps at 2^32. Each segment
/// gets the current time, which then advances by the step (default 1 ms).
#[derive(Clone, Debug)]
pub struct Conv {
    addr: [SocketAddr; 2],
    isn: [u32; 2],
    snd_nxt: [u32; 2],
    rcv_nxt: [Option<u32>; 2],
    syn_options: [Vec<TcpOptionElement>; 2],
    timestamps: bool,
    last_tsval: [u32; 2],
    window: u16,
    now_ns: u64,
    step_ns: u64,
    segments: Vec<Segment>,
}

impl Conv {
    /// New connection before any packet: the client will start with ISN
    /// `isn_client` (the SYN carries it), the server with `isn_server`.
    /// Time starts at [`EPOCH_2026_NS`].
    pub fn new(client: SocketAddr, server: SocketAddr, isn_client: u32, isn_server: u32) -> Conv {
        assert_eq!(
            client.is_ipv4(),
            server.is_ipv4(),
            "client and server must both be IPv4 or both IPv6"
        );
        Conv {
            addr: [client, server],
            isn: [isn_client, isn_server],
            snd_nxt: [isn_client, isn_server],
            rcv_nxt: [None, None],
            syn_options: [Vec::new(), Vec::new()],
            timestamps: false,
            last_tsval: [0, 0],
            window: 64240,
            now_ns: EPOCH_2026_NS,
            step_ns: 1_000_000,
            segments: Vec::new(),
        }
    }

    /// A connection already established before the capture started
    /// (mid-stream start): the next client byte is `seq_client`, the next
    /// server byte `seq_server`, and both ends have seen everything so far.
    pub fn established(
        client: SocketAddr,
        server: SocketAddr,
        seq_client: u32,
        seq_server: u32,
    ) -> Conv {
        let mut conv = Conv::new(client, server, seq_client, seq_server);
        conv.rcv_nxt = [Some(seq_server), Some(seq_client)];
        conv
    }

    /// Sets the time of the next segment.
    pub fn starting_at(mut self, ts_ns: u64) -> Conv {
        self.now_ns = ts_ns;
        self
    }

    /// Sets the time between consecutive segments.
    pub fn with_step(mut self, step_ns: u64) -> Conv {
        self.step_ns = step_ns;
        self
    }

    /// Sets the window field of every following segment.
    pub fn with_window(mut self, window: u16) -> Conv {
        self.window = window;
        self
    }

    /// Options put on `side`'s SYN (or SYN-ACK).
    pub fn with_syn_options(mut self, side: Side, options: Vec<TcpOptionElement>) -> Conv {
        self.syn_options[side.idx()] = options;
        self
    }

    /// Puts [`typical_syn_options`] on both SYNs and enables timestamps.
    pub fn with_typical_options(self) -> Conv {
        self.with_syn_options(Side::Client, typical_syn_options())
            .with_syn_options(Side::Server, typical_syn_options())
            .with_timestamps()
    }

    /// Adds a TCP timestamp option (RFC 7323) to every segment: TSval is the
    /// sender's clock in ms, TSecr echoes the last TSval the sender saw.
    pub fn with_timestamps(mut self) -> Conv {
        self.timestamps = true;
        self
    }

    /// Advances the clock (e.g. to model a retransmission timeout).
    pub fn wait(&mut self, ns: u64) -> &mut Conv {
        self.now_ns += ns;
        self
    }

    /// Time the next segment will get.
    pub fn now(&self) -> u64 {
        self.now_ns
    }

    /// Address of one end.
    pub fn addr(&self, side: Side) -> SocketAddr {
        self.addr[side.idx()]
    }

    /// Initial sequence number of one end.
    pub fn isn(&self, side: Side) -> u32 {
        self.isn[side.idx()]
    }

    /// Next sequence number `side` will send (SND.NXT).
    pub fn next_seq(&self, side: Side) -> u32 {
        self.snd_nxt[side.idx()]
    }

    /// What `side` acknowledges next (RCV.NXT), if it has synchronised.
    pub fn rcv_nxt(&self, side: Side) -> Option<u32> {
        self.rcv_nxt[side.idx()]
    }

    /// Segments produced so far.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The segments so far, for tests that drop or reorder some (capture loss).
    pub fn segments_mut(&mut self) -> &mut Vec<Segment> {
        &mut self.segments
    }

    /// The same conversation as a second capture point sees it, behind a
    /// middlebox that rewrote it as `t` says: for comparing two vantage
    /// points (`tcpstate diff`). This conversation is the near point (the
    /// client's side); the segments come back in the far point's time order.
    pub fn view_through(&self, t: &Translation) -> Vec<Segment> {
        let mut out: Vec<Segment> = self
            .segments
            .iter()
            .map(|s| {
                let from_client = s.src == self.addr[0];
                let (sender, peer) = if from_client { (0, 1) } else { (1, 0) };
                let mut v = s.clone();
                let far = [t.client, t.server];
                v.src = far[sender];
                v.dst = far[peer];
                v.seq = s.seq.wrapping_add(t.seq_offset[sender]);
                if s.flags.0 & TcpFlags::ACK.0 != 0 {
                    v.ack = s.ack.wrapping_add(t.seq_offset[peer]);
                }
                // The client's segments reach the far point later, the server's earlier.
                let at = if from_client {
                    s.ts_ns + t.delay_ns
                } else {
                    s.ts_ns - t.delay_ns
                };
                v.ts_ns = at.wrapping_add_signed(t.clock_offset_ns);
                v
            })
            .collect();
        out.sort_by_key(|s| s.ts_ns);
        out
    }

    /// The segments as capture packets.
    pub fn into_packets(self) -> Vec<Packet> {
        self.segments.into_iter().map(Packet::Tcp).collect()
    }

    /// Appends a segment with explicit numbers and no state change.
    fn push(
        &mut self,
        side: Side,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
        len: usize,
    ) -> &mut Segment {
        let i = side.idx();
        let mut options = if flags.contains(TcpFlags::SYN) {
            self.syn_options[i].clone()
        } else {
            Vec::new()
        };
        if self.timestamps {
            // Clock in ms with a per-side offset so the two ends differ.
            let tsval = (self.now_ns / 1_000_000) as u32 + 1_000_000 * (i as u32 + 1);
            let tsecr = if flags == TcpFlags::SYN {
                0
            } else {
                self.last_tsval[side.peer().idx()]
            };
            if options.is_empty() {
                options.extend([TcpOptionElement::Noop, TcpOptionElement::Noop]);
            }
            options.push(TcpOptionElement::Timestamp(tsval, tsecr));
            self.last_tsval[i] = tsval;
        }
        let first_data_seq = seq.wrapping_add(u32::from(flags.contains(TcpFlags::SYN)));
        let segment = Segment {
            ts_ns: self.now_ns,
            src: self.addr[i],
            dst: self.addr[side.peer().idx()],
            seq,
            ack,
            flags,
            window: self.window,
            options,
            payload: filler(first_data_seq, len),
            ip_extras: IpExtras::None,
        };
        self.now_ns += self.step_ns;
        self.segments.push(segment);
        self.segments.last_mut().expect("just pushed")
    }

    /// Sequence space a segment occupies: payload plus one for SYN and FIN.
    fn seq_len(flags: TcpFlags, len: usize) -> u32 {
        len as u32
            + u32::from(flags.contains(TcpFlags::SYN))
            + u32::from(flags.contains(TcpFlags::FIN))
    }

    /// Records that the peer of the sender received `[seq, seq+seq_len)`.
    fn deliver(&mut self, to: Side, flags: TcpFlags, seq: u32, seq_len: u32) {
        let end = seq.wrapping_add(seq_len);
        let slot = &mut self.rcv_nxt[to.idx()];
        match *slot {
            _ if flags.contains(TcpFlags::SYN) => *slot = Some(end),
            None => *slot = Some(end),
            Some(next) if next == seq => *slot = Some(end),
            Some(_) => {} // out of order or old: nothing new acknowledged
        }
    }

    /// The generic in-order segment: seq = SND.NXT, ack = RCV.NXT (if
    /// `flags` has ACK), `len` filler bytes; advances SND.NXT and delivers it
    /// to the peer. All the named helpers below are thin wrappers.
    pub fn send(&mut self, side: Side, flags: TcpFlags, len: usize) -> &mut Segment {
        let i = side.idx();
        let seq = self.snd_nxt[i];
        let ack = if flags.contains(TcpFlags::ACK) {
            self.rcv_nxt[i].unwrap_or(0)
        } else {
            0
        };
        let seq_len = Self::seq_len(flags, len);
        self.snd_nxt[i] = seq.wrapping_add(seq_len);
        self.deliver(side.peer(), flags, seq, seq_len);
        self.push(side, flags, seq, ack, len)
    }

    /// Client SYN.
    pub fn syn(&mut self) -> &mut Segment {
        self.send(Side::Client, TcpFlags::SYN, 0)
    }

    /// Server SYN-ACK.
    pub fn syn_ack(&mut self) -> &mut Segment {
        self.send(Side::Server, TcpFlags::SYN | TcpFlags::ACK, 0)
    }

    /// A pure ACK from `side`.
    pub fn ack(&mut self, side: Side) -> &mut Segment {
        self.send(side, TcpFlags::ACK, 0)
    }

    /// The client's ACK completing the three-way handshake.
    pub fn ack_from_client(&mut self) -> &mut Segment {
        self.ack(Side::Client)
    }

    /// SYN, SYN-ACK, ACK.
    pub fn handshake(&mut self) -> &mut Conv {
        self.syn();
        self.syn_ack();
        self.ack_from_client();
        self
    }

    /// `len` bytes of data from `side` (PSH|ACK).
    pub fn data(&mut self, side: Side, len: usize) -> &mut Segment {
        self.send(side, TcpFlags::PSH | TcpFlags::ACK, len)
    }

    /// FIN|ACK from `side`.
    pub fn fin(&mut self, side: Side) -> &mut Segment {
        self.send(side, TcpFlags::FIN | TcpFlags::ACK, 0)
    }

    /// In-window RST|ACK from `side` at its current sequence number.
    pub fn rst(&mut self, side: Side) -> &mut Segment {
        self.send(side, TcpFlags::RST | TcpFlags::ACK, 0)
    }

    /// The server refuses the client's SYN: RST|ACK with seq 0 acknowledging
    /// the SYN (RFC 9293 reset generation for a segment without ACK).
    pub fn refuse(&mut self) -> &mut Segment {
        let ack = self.rcv_nxt[Side::Server.idx()].expect("refuse() needs a SYN first");
        self.push(Side::Server, TcpFlags::RST | TcpFlags::ACK, 0, ack, 0)
    }

    /// A segment with explicit numbers that changes no state: for
    /// out-of-window, bogus or otherwise hand-made segments.
    pub fn raw(
        &mut self,
        side: Side,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
        len: usize,
    ) -> &mut Segment {
        self.push(side, flags, seq, ack, len)
    }

    /// Sends again the last segment `side` sent (same seq, ack, flags,
    /// payload; new timestamp). Panics if `side` has sent nothing.
    pub fn retransmit_last(&mut self, side: Side) -> &mut Segment {
        let src = self.addr[side.idx()];
        let mut copy = self
            .segments
            .iter()
            .rev()
            .find(|s| s.src == src)
            .expect("nothing to retransmit")
            .clone();
        copy.ts_ns = self.now_ns;
        self.now_ns += self.step_ns;
        self.segments.push(copy);
        self.segments.last_mut().expect("just pushed")
    }

    /// Simultaneous open (RFC 9293 figure 7): both SYNs cross, then each end
    /// sends SYN-ACK for the other's SYN.
    pub fn simultaneous_open(&mut self) -> &mut Conv {
        let (c, s) = (Side::Client, Side::Server);
        let (isn_c, isn_s) = (self.snd_nxt[c.idx()], self.snd_nxt[s.idx()]);
        self.push(c, TcpFlags::SYN, isn_c, 0, 0);
        self.push(s, TcpFlags::SYN, isn_s, 0, 0);
        self.snd_nxt = [isn_c.wrapping_add(1), isn_s.wrapping_add(1)];
        self.rcv_nxt = [Some(isn_s.wrapping_add(1)), Some(isn_c.wrapping_add(1))];
        let syn_ack = TcpFlags::SYN | TcpFlags::ACK;
        self.push(c, syn_ack, isn_c, isn_s.wrapping_add(1), 0);
        self.push(s, syn_ack, isn_s, isn_c.wrapping_add(1), 0);
        self
    }

    /// Simultaneous close (RFC 9293 figure 13): both FINs cross (each acks
    /// only what was seen before the other's FIN), then both ACK the FINs.
    pub fn simultaneous_close(&mut self) -> &mut Conv {
        let (c, s) = (Side::Client, Side::Server);
        let fin_ack = TcpFlags::FIN | TcpFlags::ACK;
        let (seq_c, seq_s) = (self.snd_nxt[c.idx()], self.snd_nxt[s.idx()]);
        let ack_c = self.rcv_nxt[c.idx()].unwrap_or(0);
        let ack_s = self.rcv_nxt[s.idx()].unwrap_or(0);
        self.push(c, fin_ack, seq_c, ack_c, 0);
        self.push(s, fin_ack, seq_s, ack_s, 0);
        self.snd_nxt = [seq_c.wrapping_add(1), seq_s.wrapping_add(1)];
        self.rcv_nxt = [Some(seq_s.wrapping_add(1)), Some(seq_c.wrapping_add(1))];
        self.ack(c);
        self.ack(s);
        self
    }
}

/// A deterministic mixed workload of `connections` interleaved connections,
/// for benchmarks: most close normally with a few kilobytes of data, some
/// reset, some are refused. Connections start 50 µs apart and each lasts a few
/// milliseconds, so many are live at once. Returned in time order.
pub fn workload(connections: u32) -> Vec<Packet> {
    use std::net::{IpAddr, Ipv4Addr};
    let mut packets = Vec::new();
    for i in 0..connections {
        let client = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 1, (i >> 16) as u8, (i >> 8) as u8)),
            1024 + (i % 60000) as u16,
        );
        let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 2, 0, (i % 7) as u8 + 1)), 443);
        let isn = i.wrapping_mul(2_654_435_761);
        let mut c = Conv::new(client, server, isn, isn ^ 0x5555_5555)
            .starting_at(EPOCH_2026_NS + i as u64 * 50_000)
            .with_step(200_000)
            .with_typical_options();
        match i % 10 {
            0 => {
                c.syn();
                c.refuse();
            }
            1 => {
                c.handshake();
                c.data(Side::Client, 300);
                c.rst(Side::Server);
            }
            _ => {
                c.handshake();
                c.data(Side::Client, 400);
                c.ack(Side::Server);
                for _ in 0..(i % 5 + 2) {
                    c.data(Side::Server, 1200);
                }
                c.ack(Side::Client);
                c.fin(Side::Client);
                c.fin(Side::Server);
                c.ack(Side::Client);
            }
        }
        packets.extend(c.into_packets());
    }
    packets.sort_by_key(Packet::ts_ns);
    packets
}
