//! Sequence analysis per segment, on par with Wireshark's `tcp.analysis`
//! flags: retransmissions of three kinds, out-of-order, lost and ACKed-lost
//! segments, duplicate ACKs, zero windows and their probes, window full and
//! window updates, keep-alives, reused ports, plus the handshake RTT.
//!
//! The rules follow Wireshark's documented definitions of the flags, in the
//! order its dissector applies them (so that one segment gets the same flags
//! and the same precedence: a keep-alive is never a retransmission, a
//! fast retransmission is not also out-of-order, and so on). Per direction it
//! tracks the next expected sequence number, the highest sequence number
//! continuously seen ("max seq to be acked"), the last ACK and window sent,
//! the duplicate-ACK count, and the window scale agreed on the SYNs. Every
//! comparison is serial-number arithmetic, so 2^32 wraparound works.
//! Deliberate differences from Wireshark are listed in the README.
//! Round-trip times from ACKs (`tcp.analysis.ack_rtt`) are in [`ack_rtt`].

use std::fmt;

use serde::Serialize;

use crate::anomaly::{AnomalyCode, AnomalyLog, Detail};
use crate::model::{Segment, SeqNum, Side, TcpFlags, MAX_WINDOW_SHIFT};

mod ack_rtt;
use ack_rtt::UnackedList;
pub use ack_rtt::{RttSamples, RttSummary};

/// Wireshark's out-of-order threshold when the handshake RTT is unknown.
const DEFAULT_OOO_THRESHOLD_NS: i64 = 3_000_000;
/// A retransmission this soon after a duplicate ACK is a fast retransmission.
const FAST_RETRANSMISSION_WINDOW_NS: i64 = 20_000_000;

macro_rules! flags {
    ($($variant:ident = $bit:literal => $code:literal;)*) => {
        /// One analysis flag, named after Wireshark's `tcp.analysis.*` field.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Flag { $(#[doc = concat!("Wireshark's `tcp.analysis.", $code, "`.")] $variant,)* }

        impl Flag {
            /// Every flag, in catalogue order.
            pub const ALL: &'static [Flag] = &[$(Flag::$variant,)*];

            fn bit(self) -> u16 {
                match self { $(Flag::$variant => $bit,)* }
            }

            /// The code, the same word as Wireshark's field (`tcp.analysis.<code>`).
            pub fn code(self) -> &'static str {
                match self { $(Flag::$variant => $code,)* }
            }
        }
    };
}

flags! {
    Retransmission = 0x0001 => "retransmission";
    FastRetransmission = 0x0002 => "fast_retransmission";
    SpuriousRetransmission = 0x0004 => "spurious_retransmission";
    OutOfOrder = 0x0008 => "out_of_order";
    LostSegment = 0x0010 => "lost_segment";
    AckLostSegment = 0x0020 => "ack_lost_segment";
    DuplicateAck = 0x0040 => "duplicate_ack";
    ZeroWindow = 0x0080 => "zero_window";
    ZeroWindowProbe = 0x0100 => "zero_window_probe";
    ZeroWindowProbeAck = 0x0200 => "zero_window_probe_ack";
    WindowFull = 0x0400 => "window_full";
    WindowUpdate = 0x0800 => "window_update";
    KeepAlive = 0x1000 => "keep_alive";
    KeepAliveAck = 0x2000 => "keep_alive_ack";
    ReusedPorts = 0x4000 => "reused_ports";
}

impl Flag {
    /// The catalogue code for a sequence-analysis flag (same word as Wireshark's field).
    pub fn anomaly(self) -> AnomalyCode {
        use Flag as F;
        match self {
            F::Retransmission => AnomalyCode::Retransmission,
            F::FastRetransmission => AnomalyCode::FastRetransmission,
            F::SpuriousRetransmission => AnomalyCode::SpuriousRetransmission,
            F::OutOfOrder => AnomalyCode::OutOfOrder,
            F::LostSegment => AnomalyCode::LostSegment,
            F::AckLostSegment => AnomalyCode::AckLostSegment,
            F::DuplicateAck => AnomalyCode::DuplicateAck,
            F::ZeroWindow => AnomalyCode::ZeroWindow,
            F::ZeroWindowProbe => AnomalyCode::ZeroWindowProbe,
            F::ZeroWindowProbeAck => AnomalyCode::ZeroWindowProbeAck,
            F::WindowFull => AnomalyCode::WindowFull,
            F::WindowUpdate => AnomalyCode::WindowUpdate,
            F::KeepAlive => AnomalyCode::KeepAlive,
            F::KeepAliveAck => AnomalyCode::KeepAliveAck,
            F::ReusedPorts => AnomalyCode::ReusedPorts,
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The set of flags one segment got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(u16);

impl Flags {
    /// Whether the flag is set.
    pub fn has(self, f: Flag) -> bool {
        self.0 & f.bit() != 0
    }

    fn set(&mut self, f: Flag) {
        self.0 |= f.bit();
    }

    /// No flag at all.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The flags set, in catalogue order (which is bit order: a segment
    /// costs one step per flag it has, none when it has none).
    pub fn iter(self) -> impl Iterator<Item = Flag> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            let i = bits.trailing_zeros() as usize;
            let flag = Flag::ALL.get(i).copied()?;
            bits &= bits - 1;
            Some(flag)
        })
    }

    /// True for the three kinds of retransmission.
    pub fn is_retransmission(self) -> bool {
        self.has(Flag::Retransmission)
            || self.has(Flag::FastRetransmission)
            || self.has(Flag::SpuriousRetransmission)
    }
}

/// What one segment's analysis found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentAnalysis {
    /// The flags the segment got.
    pub flags: Flags,
    /// For a duplicate ACK, its number (1 for the first duplicate).
    pub duplicate_ack_count: i32,
    /// Wireshark's `tcp.analysis.ack_rtt`: the time since the segment this
    /// one acknowledges (see [`ack_rtt`]); `None` where tshark shows none.
    pub ack_rtt_ns: Option<i64>,
}

/// Window scaling as Wireshark knows it from the SYNs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Scale {
    /// No SYN seen: scaling unknown, so "window full" cannot be judged.
    #[default]
    Unknown,
    /// The handshake showed scaling is not used.
    NotUsed,
    Shift(u8),
}

/// What one direction has sent, as the analysis needs it.
#[derive(Clone, Debug)]
struct Direction {
    /// Next expected sequence number (0 = not known yet, as in Wireshark).
    next_seq: SeqNum,
    next_seq_time: i64,
    /// Highest sequence number seen without a gap: what the peer may ACK.
    max_seq_to_be_acked: SeqNum,
    /// End of the highest segment that occupied sequence space (data, SYN or
    /// FIN): a RST or pure ACK moves `next_seq` but not this.
    space_end: SeqNum,
    last_ack: SeqNum,
    last_ack_time: i64,
    /// Raw window of the last segment, and whether that segment was a SYN
    /// (SYN windows are never scaled).
    window: u32,
    window_from_syn: bool,
    scale: Scale,
    /// Duplicate ACKs in a row (since the ACK number last changed).
    dup_acks: i32,
    /// An ACK beyond what this direction sent was reported, and this
    /// direction has sent nothing but duplicate ACKs since: a further ACK
    /// of the same loss is not reported again.
    unseen_reported: bool,
    last_flags: Flags,
}

impl Default for Direction {
    /// Nothing seen yet; the window starts at a value no segment carries, as in
    /// Wireshark, so the first segment is never a window update or duplicate.
    fn default() -> Direction {
        Direction {
            next_seq: UNKNOWN,
            next_seq_time: 0,
            max_seq_to_be_acked: UNKNOWN,
            space_end: UNKNOWN,
            last_ack: UNKNOWN,
            last_ack_time: 0,
            window: u32::MAX,
            window_from_syn: false,
            scale: Scale::Unknown,
            dup_acks: 0,
            unseen_reported: false,
            last_flags: Flags::default(),
        }
    }
}

/// Per-direction counters reported for each connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DirectionStats {
    /// Segments per flag, by code.
    pub flags: std::collections::BTreeMap<&'static str, u64>,
    /// Payload bytes in segments flagged as any kind of retransmission.
    pub retransmitted_bytes: u64,
    /// Segments that occupy sequence space (payload, SYN or FIN): the ones
    /// Wireshark checks for retransmission.
    pub data_segments: u64,
    /// Of those, the segments flagged as any kind of retransmission
    /// (retransmission, fast or spurious).
    pub retransmitted_segments: u64,
}

/// The handshake round-trip time as the capture point sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HandshakeRtt {
    /// SYN to SYN-ACK: the path from the capture point to the server and back.
    pub server_side_ns: Option<i64>,
    /// SYN-ACK to the client's ACK: the path to the client and back.
    pub client_side_ns: Option<i64>,
    /// Wireshark's `tcp.analysis.initial_rtt`: from the most recent SYN to the
    /// first segment after it whose SYN/ACK bits are just ACK.
    pub total_ns: Option<i64>,
}

/// The times of the most recent bare SYN and of the first SYN-ACK after
/// it, and the three handshake RTTs, each perhaps unknown: the values and
/// one bit each saying it is known, without an `Option`'s padding each.
#[derive(Clone, Copy, Debug, Default)]
struct HandshakeTimes {
    ns: [i64; 5],
    known: u8,
}

/// The places in [`HandshakeTimes`].
const SYN: usize = 0;
const SYN_ACK: usize = 1;
const SERVER_SIDE: usize = 2;
const CLIENT_SIDE: usize = 3;
const TOTAL: usize = 4;

impl HandshakeTimes {
    fn get(&self, i: usize) -> Option<i64> {
        (self.known & (1 << i) != 0).then_some(self.ns[i])
    }

    fn set(&mut self, i: usize, ns: i64) {
        self.ns[i] = ns;
        self.known |= 1 << i;
    }
}

/// The sequence analysis of one connection.
#[derive(Clone, Debug, Default)]
pub struct SeqAnalyzer {
    dirs: [Direction; 2],
    stats: [DirectionStats; 2],
    /// Most recent bare SYN, the first SYN-ACK after it, and the
    /// handshake RTTs measured from them.
    handshake: HandshakeTimes,
    /// Every flagged segment, as an anomaly of the connection.
    anomalies: AnomalyLog,
    /// Per sender, its segments not acknowledged yet.
    unacked: [UnackedList; 2],
    /// Per side, the ACK RTTs of the ACKs it sent.
    ack_rtt: [RttSamples; 2],
}

/// Wireshark's "not seen yet" for a sequence or acknowledgement number: zero,
/// which a real number can also be, as in Wireshark.
const UNKNOWN: SeqNum = SeqNum(0);

impl SeqAnalyzer {
    /// An analyzer that has seen nothing yet.
    pub fn new() -> SeqAnalyzer {
        SeqAnalyzer::default()
    }

    /// Counters of one side.
    pub fn stats(&self, side: Side) -> &DirectionStats {
        &self.stats[side.idx()]
    }

    /// The handshake round-trip times seen so far.
    pub fn handshake_rtt(&self) -> HandshakeRtt {
        let h = &self.handshake;
        HandshakeRtt {
            server_side_ns: h.get(SERVER_SIDE),
            client_side_ns: h.get(CLIENT_SIDE),
            total_ns: h.get(TOTAL),
        }
    }

    /// The `tcp.analysis.ack_rtt` values of the ACKs `side` sent: each the
    /// time from a segment of its peer to `side`'s ACK of it, so the round
    /// trip from the capture point to `side` and back (as
    /// `HandshakeRtt::client_side_ns` is for the client).
    pub fn ack_rtt(&self, side: Side) -> &RttSamples {
        &self.ack_rtt[side.idx()]
    }

    /// Frees what only following more segments needs (the connection is
    /// finished).
    pub fn finish(&mut self) {
        for l in &mut self.unacked {
            l.clear();
        }
    }

    /// Analyses one segment sent by `from` and records each flag it got as
    /// an anomaly of the connection (see [`SeqAnalyzer::on_segment`]).
    pub fn follow(&mut self, seg: &Segment, from: Side, reused_ports: bool) {
        let found = self.on_segment(seg, from, reused_ports);
        for flag in found.flags.iter() {
            let detail = || match flag {
                Flag::DuplicateAck => Detail::new()
                    .text(format_args!(
                        "duplicate ACK #{} of ",
                        found.duplicate_ack_count
                    ))
                    .seq(from.peer(), SeqNum(seg.ack)),
                _ => Detail::new()
                    .text(format_args!("{} bytes at seq ", seg.payload_len))
                    .seq(from, SeqNum(seg.seq)),
            };
            self.anomalies
                .record(flag.anomaly(), Some(seg.frame), Some(from), detail);
        }
    }

    /// The anomalies the flags raised.
    pub fn anomaly_log(&self) -> &AnomalyLog {
        &self.anomalies
    }

    /// Analyses one segment sent by `from`; `reused_ports` comes from the flow
    /// layer, which knows when a SYN reused an endpoint pair.
    pub fn on_segment(&mut self, seg: &Segment, from: Side, reused_ports: bool) -> SegmentAnalysis {
        if !reused_ports {
            if let Some(out) = self.in_order(seg, from) {
                return out;
            }
        }
        self.analyse(seg, from, reused_ports)
    }

    /// The common case with only the checks that can fire (most segments of
    /// a capture): no SYN, FIN or RST, exactly at the next expected sequence
    /// number, into an open window both ways, and carrying data or a new ACK
    /// number. Every other rule of [`SeqAnalyzer::analyse`] needs a closed
    /// window (zero window and its probes), a gap or an older sequence
    /// number (lost segment, keep-alive, retransmission, out-of-order), a
    /// control bit, or a repeated ACK number without data (window update,
    /// duplicate ACK, keep-alive ACK), so only window full, a spurious
    /// retransmission and an ACK of unseen data remain to check; the state
    /// then moves exactly as `analyse` moves it. `None` (nothing changed)
    /// leaves the segment to `analyse`; the test
    /// `sequence::tests::in_order_path_equals_the_full_rules` checks both
    /// agree on every shipped capture and on random segment streams.
    #[inline]
    fn in_order(&mut self, seg: &Segment, from: Side) -> Option<SegmentAnalysis> {
        const CONTROL: u16 = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST;
        let (f, i, r) = (seg.flags, from.idx(), from.peer().idx());
        let (seq, ack) = (SeqNum(seg.seq), SeqNum(seg.ack));
        let (len, window) = (seg.payload_len, seg.window as u32);
        let fwd = &self.dirs[i];
        if seg.short_segment
            || f.0 & CONTROL != 0
            || seq != fwd.next_seq
            || fwd.next_seq == UNKNOWN
            || window == 0
            || self.dirs[r].window == 0
            || (len == 0 && ack == fwd.last_ack)
        {
            return None;
        }
        let mut out = SegmentAnalysis::default();
        if len > 0 && self.window_full(seq, len, r) {
            out.flags.set(Flag::WindowFull);
        }
        let d = &mut self.dirs[i];
        if ack != d.last_ack {
            d.dup_acks = 0;
        }
        d.unseen_reported = false;
        self.check_ack_of_unseen(&mut out, ack, f.ack(), r);
        let next = seq + len;
        let rev_ack = self.dirs[r].last_ack;
        if len > 0 && rev_ack != UNKNOWN && rev_ack >= next {
            out.flags.set(Flag::SpuriousRetransmission);
            out.flags.set(Flag::Retransmission);
        }
        // `remember` for a segment without SYN or FIN and no probe.
        let d = &mut self.dirs[i];
        if d.next_seq < next {
            d.next_seq = next;
            d.next_seq_time = seg.ts_ns;
        }
        if len > 0 && (d.space_end < next || d.space_end == UNKNOWN) {
            d.space_end = next;
        }
        if seq == d.max_seq_to_be_acked || d.max_seq_to_be_acked == UNKNOWN {
            d.max_seq_to_be_acked = d.next_seq;
        }
        d.window = window;
        d.window_from_syn = false;
        d.last_ack = ack;
        d.last_ack_time = seg.ts_ns;
        d.last_flags = out.flags;
        if len > 0 {
            self.unacked[i].push(seq, next, seg.ts_ns);
        }
        if let Some(rtt) = self.unacked[r].acknowledge(ack, seg.ts_ns) {
            if rtt != 0 {
                self.ack_rtt[i].add(rtt);
                out.ack_rtt_ns = Some(rtt);
            }
        }
        self.count(from, len, len > 0, &out);
        self.note_handshake_time(seg);
        Some(out)
    }

    /// Every rule, in Wireshark's order, for any segment.
    #[inline(never)]
    fn analyse(&mut self, seg: &Segment, from: Side, reused_ports: bool) -> SegmentAnalysis {
        let mut out = SegmentAnalysis::default();
        if reused_ports {
            out.flags.set(Flag::ReusedPorts);
            if seg.flags.syn() && seg.flags.ack() {
                // A SYN-ACK with a new initial sequence number: what its
                // sender sent before (a bogus SYN-ACK, an injected RST, an
                // earlier incarnation) says nothing about this one's
                // numbers, so its segments are not retransmissions of them.
                // (tshark 4.0 keeps the old numbers: see KNOWN_DIFFERENCES.)
                let d = &mut self.dirs[from.idx()];
                *d = Direction {
                    window: d.window,
                    scale: d.scale,
                    ..Direction::default()
                };
            }
        }
        if seg.short_segment {
            return out;
        }
        let (f, i, r) = (seg.flags, from.idx(), from.peer().idx());
        let (seq, ack) = (SeqNum(seg.seq), SeqNum(seg.ack));
        let (len, window) = (seg.payload_len, seg.window as u32);
        let control = f.syn() || f.fin() || f.rst();
        let fwd_next = self.dirs[i].next_seq;

        let mut skip_to_acks = false;
        // A zero-window probe: one byte at the next sequence number into a closed window.
        if len == 1 && seq == fwd_next && self.dirs[r].window == 0 {
            out.flags.set(Flag::ZeroWindowProbe);
            skip_to_acks = true;
        }
        if !skip_to_acks {
            let fwd = &self.dirs[i];
            if window == 0 && !control {
                out.flags.set(Flag::ZeroWindow);
            }
            if fwd_next != UNKNOWN && fwd_next < seq && !f.rst() {
                out.flags.set(Flag::LostSegment);
            }
            if len <= 1 && seq == fwd_next - 1 && !control {
                out.flags.set(Flag::KeepAlive);
            }
            let same_numbers = seq == fwd_next && ack == fwd.last_ack && !control;
            if len == 0 && window != 0 && window != fwd.window && same_numbers {
                out.flags.set(Flag::WindowUpdate);
            }
            if len > 0 && !control && self.window_full(seq, len, r) {
                out.flags.set(Flag::WindowFull);
            }
            let rev_flags = self.dirs[r].last_flags;
            if len == 0
                && window != 0
                && window == fwd.window
                && same_numbers
                && rev_flags.has(Flag::KeepAlive)
            {
                out.flags.set(Flag::KeepAliveAck);
                skip_to_acks = true;
            }
            let acks_probe = ack == fwd.last_ack;
            if !skip_to_acks
                && len == 0
                && window == 0
                && fwd.window == 0
                && seq == fwd_next
                && acks_probe
                && !control
                && rev_flags.has(Flag::ZeroWindowProbe)
            {
                out.flags.set(Flag::ZeroWindowProbeAck);
                skip_to_acks = true;
            }
            if !skip_to_acks && len == 0 && window != 0 && window == fwd.window && same_numbers {
                let d = &mut self.dirs[i];
                d.dup_acks += 1;
                out.flags.set(Flag::DuplicateAck);
                out.duplicate_ack_count = d.dup_acks;
            }
        }
        // A new ACK number ends a run of duplicates.
        if ack != self.dirs[i].last_ack {
            self.dirs[i].dup_acks = 0;
        }
        if !out.flags.has(Flag::DuplicateAck) {
            self.dirs[i].unseen_reported = false;
        }
        self.check_ack_of_unseen(&mut out, ack, f.ack(), r);
        let sequenced = len > 0 || f.syn() || f.fin();
        if sequenced {
            self.classify_retransmission(&mut out, seg, i, r);
        }
        self.remember(seg, i, &out);
        if sequenced {
            let next = seq + len + u32::from(f.syn() || f.fin());
            self.unacked[i].push(seq, next, seg.ts_ns);
        }
        if let Some(rtt) = self.unacked[r].acknowledge(ack, seg.ts_ns) {
            if rtt != 0 {
                self.ack_rtt[i].add(rtt);
                out.ack_rtt_ns = Some(rtt);
            }
        }
        self.count(from, len, sequenced, &out);
        self.note_handshake_time(seg);
        out
    }

    /// An ACK beyond everything the capture saw the peer send continuously
    /// (Wireshark's "ACKed segment that wasn't captured"). After each such
    /// ACK the peer's expected ACK becomes what it has sent so far; the
    /// report is repeated only once the peer has sent something other than
    /// a duplicate ACK. Rule pinned on tshark 4.0 frame by frame
    /// (testdata/synth/seq_perturbed.pcap), which differs from Wireshark's
    /// later `dupacknum = -1` device (packet-tcp.c,
    /// `tcp_analyze_sequence_number`, "ACKED LOST PACKET").
    fn check_ack_of_unseen(
        &mut self,
        out: &mut SegmentAnalysis,
        ack: SeqNum,
        has_ack: bool,
        r: usize,
    ) {
        let rev = &mut self.dirs[r];
        if rev.max_seq_to_be_acked == UNKNOWN || rev.max_seq_to_be_acked >= ack || !has_ack {
            return;
        }
        if !rev.unseen_reported {
            out.flags.set(Flag::AckLostSegment);
        }
        rev.unseen_reported = true;
        rev.max_seq_to_be_acked = rev.next_seq;
    }

    /// Wireshark's "window full": the segment reaches the right edge of the
    /// receiver's advertised window (scaled, unless that window came on a SYN).
    fn window_full(&self, seq: SeqNum, len: u32, r: usize) -> bool {
        let rev = &self.dirs[r];
        let shift = match rev.scale {
            Scale::Unknown => return false,
            Scale::NotUsed => 0,
            Scale::Shift(s) if !rev.window_from_syn => s.min(MAX_WINDOW_SHIFT),
            Scale::Shift(_) => 0,
        };
        seq + len == rev.last_ack + (rev.window << shift)
    }

    /// Retransmission, fast retransmission, spurious retransmission or
    /// out-of-order, for a segment that occupies sequence space. As in
    /// Wireshark, fast and spurious retransmissions are also retransmissions.
    fn classify_retransmission(
        &self,
        out: &mut SegmentAnalysis,
        seg: &Segment,
        i: usize,
        r: usize,
    ) {
        if out.flags.has(Flag::KeepAlive) {
            return;
        }
        let (fwd, rev) = (&self.dirs[i], &self.dirs[r]);
        let (seq, len, f) = (SeqNum(seg.seq), seg.payload_len, seg.flags);
        let mut not_advanced = fwd.next_seq != UNKNOWN && seq < fwd.next_seq;
        // New data starting one byte early (after a zero-window probe) is not a retransmission.
        if len > 1 && fwd.next_seq - 1 == seq {
            not_advanced = false;
        }
        if len > 0 && rev.last_ack != UNKNOWN && rev.last_ack >= seq + len {
            out.flags.set(Flag::SpuriousRetransmission);
            out.flags.set(Flag::Retransmission);
            return;
        }
        if not_advanced
            && rev.dup_acks >= 2
            && rev.last_ack == seq
            && seg.ts_ns - rev.last_ack_time < FAST_RETRANSMISSION_WINDOW_NS
        {
            out.flags.set(Flag::FastRetransmission);
            out.flags.set(Flag::Retransmission);
            return;
        }
        let threshold = self
            .handshake
            .get(TOTAL)
            .unwrap_or(DEFAULT_OOO_THRESHOLD_NS);
        let end = seq + len + (f.syn() || f.fin()) as u32;
        if not_advanced && seg.ts_ns - fwd.next_seq_time < threshold && fwd.next_seq != end {
            out.flags.set(Flag::OutOfOrder);
            return;
        }
        if not_advanced {
            out.flags.set(Flag::Retransmission);
        }
    }

    /// Updates what this direction has sent after the segment is classified.
    fn remember(&mut self, seg: &Segment, i: usize, out: &SegmentAnalysis) {
        let f = seg.flags;
        let seq = SeqNum(seg.seq);
        let mut next = seq + seg.payload_len;
        if (seg.payload_len > 0 || f.syn() || f.fin()) && (f.syn() || f.fin()) {
            next = next + 1;
        }
        let probe = out.flags.has(Flag::ZeroWindowProbe);
        let d = &mut self.dirs[i];
        if (d.next_seq < next || d.next_seq == UNKNOWN) && !probe {
            d.next_seq = next;
            d.next_seq_time = seg.ts_ns;
        }
        let occupies = seg.payload_len > 0 || f.syn() || f.fin();
        if occupies && (d.space_end < next || d.space_end == UNKNOWN) {
            d.space_end = next;
        }
        if f.syn() && !f.ack() && d.space_end != UNKNOWN {
            // tshark 4.0: a bare SYN sent again brings the expected number
            // back to the end of what the side really sent, undoing a RST or
            // ACK that had carried it further (a client's RST answering a
            // bogus SYN-ACK carries that SYN-ACK's ACK number).
            d.next_seq = d.space_end;
        }
        if (seq == d.max_seq_to_be_acked || d.max_seq_to_be_acked == UNKNOWN) && !probe {
            d.max_seq_to_be_acked = d.next_seq;
        }
        d.window = seg.window as u32;
        d.window_from_syn = f.syn();
        d.last_ack = SeqNum(seg.ack);
        d.last_ack_time = seg.ts_ns;
        d.last_flags = out.flags;
        if f.syn() {
            self.note_window_scale(seg, i);
        }
    }

    /// Window scaling is used only when both SYNs carried the option.
    fn note_window_scale(&mut self, seg: &Segment, i: usize) {
        let r = 1 - i;
        match seg.options.window_scale {
            None => {
                self.dirs[i].scale = Scale::NotUsed;
                self.dirs[r].scale = Scale::NotUsed;
            }
            Some(shift) => {
                if seg.flags.ack() && self.dirs[r].scale == Scale::NotUsed {
                    self.dirs[i].scale = Scale::NotUsed;
                } else {
                    self.dirs[i].scale = Scale::Shift(shift);
                }
            }
        }
    }

    /// The handshake RTT: Wireshark's iRTT from the most recent SYN, and its
    /// two halves around the first SYN-ACK. Taken after the segment's own
    /// classification, as Wireshark does (its out-of-order threshold uses it).
    fn note_handshake_time(&mut self, seg: &Segment) {
        let f = seg.flags;
        let h = &mut self.handshake;
        match (f.syn(), f.ack()) {
            (true, false) => h.set(SYN, seg.ts_ns),
            (true, true) => {
                if let (Some(syn), None) = (h.get(SYN), h.get(SYN_ACK)) {
                    h.set(SYN_ACK, seg.ts_ns);
                    h.set(SERVER_SIDE, seg.ts_ns - syn);
                }
            }
            (false, true) => {
                if let (Some(syn), None) = (h.get(SYN), h.get(TOTAL)) {
                    h.set(TOTAL, seg.ts_ns - syn);
                }
                if let (Some(sa), None) = (h.get(SYN_ACK), h.get(CLIENT_SIDE)) {
                    h.set(CLIENT_SIDE, seg.ts_ns - sa);
                }
            }
            (false, false) => {}
        }
    }

    #[inline]
    fn count(&mut self, from: Side, len: u32, sequenced: bool, out: &SegmentAnalysis) {
        let stats = &mut self.stats[from.idx()];
        stats.data_segments += u64::from(sequenced);
        if !out.flags.is_empty() {
            count_flags(stats, len, out.flags);
        }
    }
}

/// The counters of a segment that got flags (most get none).
#[cold]
fn count_flags(stats: &mut DirectionStats, len: u32, flags: Flags) {
    for flag in flags.iter() {
        *stats.flags.entry(flag.code()).or_insert(0) += 1;
    }
    if flags.is_retransmission() {
        stats.retransmitted_segments += 1;
        stats.retransmitted_bytes += len as u64;
    }
}

/// Flags in Wireshark's one-word form, for tests and reports.
pub fn flag_names(flags: Flags) -> Vec<&'static str> {
    flags.iter().map(Flag::code).collect()
}

#[cfg(test)]
mod tests;
