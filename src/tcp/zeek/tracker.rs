//! One connection as Zeek follows it, from its creation to its removal:
//! Zeek's `Connection` (roles, history, timers, tunnel) and its TCP session
//! adapter (`packet_analysis/protocol/tcp/TCPSessionAdapter.cc`,
//! `TCP.cc`), rule for rule. Each rule cites the function it follows.
//!
//! Timers are not scheduled: Zeek's only effect of a timer on conn.log is
//! the removal of the connection, so each connection keeps the times its
//! timers are due and, before its next packet (or at a sweep), works out
//! whether one of them would have removed it ([`ZeekTracker::expired_by`]).
//! Nothing changes a connection between two of its packets, so this gives
//! Zeek's answer.

use std::sync::Arc;

use crate::model::{tcp_community_id, Endpoint as Addr, Segment, TcpFlags, TunnelPath};

use super::endpoint::{is_handshake, seq_delta, Endpoint, ZeekState};
use super::history::{mask, History, Scaled};
use super::ports::likely_server_port;
use super::record::{conn_state, ZeekRecord};
use super::ZeekConfig;

const SEC: i64 = 1_000_000_000;
/// `tcp_SYN_timeout`: the first `ExpireTimer` after creation.
const SYN_TIMEOUT_NS: i64 = 5 * SEC;
/// `tcp_session_timer`: how often `ExpireTimer` comes back.
const SESSION_TIMER_NS: i64 = 6 * SEC;
/// `tcp_connection_linger`: quiet time before `ExpireTimer` may remove.
const CONNECTION_LINGER_NS: i64 = 5 * SEC;
/// `tcp_reset_delay`: a RST after a FIN removes the connection this late.
const RESET_DELAY_NS: i64 = 5 * SEC;
/// `udp_inactivity_timeout`, which `TCPAnalyzer::MakeSessionAdapter` gives
/// a TCP connection until one side leaves the handshake.
const HANDSHAKE_INACTIVITY_NS: i64 = 60 * SEC;
/// `Conn::port_inactivity_timeouts` (base/protocols/conn/inactivity.zeek):
/// interactive services get an hour once established.
const INTERACTIVE_INACTIVITY_NS: i64 = 3600 * SEC;
const INTERACTIVE_PORTS: [u16; 4] = [21, 22, 23, 513];
/// `TOO_LARGE_SEQ_DELTA`: SYN and RST numbers this far off are not trusted.
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;

/// Role bits of `first_packet_seen`.
const ORIG: u8 = 1;
const RESP: u8 = 2;

/// No timer: a time never reached.
const NEVER: i64 = i64::MAX;

/// When Zeek's timers of one connection are due (capture time, ns;
/// [`NEVER`] when not set).
#[derive(Clone, Debug)]
struct Timers {
    /// `AttemptTimer`, set by the originator's first SYN.
    attempt: i64,
    /// `ConnDeleteTimer`: close delay after a complete close.
    delete: i64,
    /// `ResetTimer`: a RST after this side's FIN.
    reset: i64,
    /// Next firing of each `ExpireTimer` chain (one from creation, one per
    /// side that closes while its peer is still open).
    expire: [i64; 3],
    /// The connection's inactivity timeout (0: none).
    inactivity_ns: i64,
    /// The earliest of the timers above but inactivity, kept by
    /// [`Timers::refresh`] after every change, so a packet learns that no
    /// timer is due by two comparisons.
    due: i64,
}

impl Timers {
    /// The earliest fixed timer, worked out again.
    fn earliest_fixed(&self) -> i64 {
        let e = self.attempt.min(self.delete).min(self.reset);
        e.min(self.expire[0])
            .min(self.expire[1])
            .min(self.expire[2])
    }

    /// Called after any timer but inactivity changed.
    fn refresh(&mut self) {
        self.due = self.earliest_fixed();
    }
}

/// One Zeek connection. Endpoints are kept by slot (0: the sender of the
/// creating packet, 1: its receiver); `orig` says which slot is the
/// originator, so a role flip changes one number.
#[derive(Clone, Debug)]
pub struct ZeekTracker {
    addr: [Addr; 2],
    /// The originator's slot (0 or 1).
    orig: u8,
    ep: [Endpoint; 2],
    history: History,
    start_ns: i64,
    last_ns: i64,
    first_frame: u64,
    /// ConnSize's packet and IP byte counts, by slot.
    pkts: [u64; 2],
    ip_bytes: [u64; 2],
    timers: Timers,
    is_active: bool,
    is_partial: bool,
    first_packet_seen: u8,
    close_deferred: bool,
    /// A close set timers that may end the connection soon (the delete,
    /// expire or reset timer), not yet taken by [`ZeekTracker::take_closing`].
    closing: bool,
    /// The slots whose packets [`ZeekTracker::steady_packet`] may take, as
    /// far as the connection's state says ([`ZeekTracker::steady_slots`],
    /// worked out again after every packet the rules take: nothing else
    /// changes what it depends on).
    steady: u8,
    /// What few connections need, allocated at its first use.
    rare: Option<Box<Rare>>,
}

/// The part of a connection few connections need (tunnels, zero windows,
/// content gaps, bad checksums), out of line so the others do not carry it.
#[derive(Clone, Debug, Default)]
struct Rare {
    tunnel: Option<Arc<TunnelPath>>,
    tunnel_changes: u32,
    missed_bytes: u64,
    /// The scaled counts of W, G and C, by slot.
    zero_window: [Scaled; 2],
    gap: [Scaled; 2],
    bad_checksum: [Scaled; 2],
}

/// Segment length in sequence space (`get_segment_len`): SYN and FIN take
/// one octet each, a RST's payload is not part of the stream.
fn segment_len(len: u64, f: TcpFlags) -> u64 {
    let mut n = len + u64::from(f.syn()) + u64::from(f.fin());
    if f.rst() {
        n -= len;
    }
    n
}

impl ZeekTracker {
    /// A connection created by `seg` (`IPBasedAnalyzer::NewConn`); `clock`
    /// is Zeek's network time. Its first packet is not yet processed.
    pub(super) fn new(seg: &Segment, clock: i64) -> ZeekTracker {
        // TCPAnalyzer::WantConnection: a connection starting without a
        // plain SYN is partial; its responder is guessed from the ports.
        let f = seg.flags;
        let (sp, dp) = (seg.src.port, seg.dst.port);
        let flip = (!f.syn() || f.ack())
            && likely_server_port(sp)
            && (!likely_server_port(dp) || (!f.syn() && sp < dp));
        let broadcast = matches!(seg.dst.addr, std::net::IpAddr::V4(a) if a.is_broadcast());
        let mut history = History::default();
        let mut orig = 0;
        if flip && !broadcast {
            // Connection::FlipRoles, right after creation.
            orig = 1;
            history.add('^');
        }
        ZeekTracker {
            addr: [seg.src, seg.dst],
            orig,
            ep: Default::default(),
            history,
            start_ns: seg.ts_ns,
            last_ns: seg.ts_ns,
            first_frame: seg.frame,
            pkts: [0; 2],
            ip_bytes: [0; 2],
            timers: {
                let mut t = Timers {
                    attempt: NEVER,
                    delete: NEVER,
                    reset: NEVER,
                    // TCPSessionAdapter's constructor: ExpireTimer at tcp_SYN_timeout.
                    expire: [clock.saturating_add(SYN_TIMEOUT_NS), NEVER, NEVER],
                    inactivity_ns: HANDSHAKE_INACTIVITY_NS,
                    due: NEVER,
                };
                t.refresh();
                t
            },
            is_active: true,
            is_partial: false,
            first_packet_seen: 0,
            close_deferred: false,
            closing: false,
            steady: 0,
            rare: seg.path.tunnel.as_ref().map(|t| {
                Box::new(Rare {
                    tunnel: Some(t.clone()),
                    ..Rare::default()
                })
            }),
        }
    }

    /// The rare part, allocated now if it was not.
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    fn orig(&self) -> usize {
        usize::from(self.orig)
    }

    fn resp(&self) -> usize {
        1 - self.orig()
    }

    fn is_orig(&self, slot: usize) -> bool {
        slot == self.orig()
    }

    /// The slot that sent `seg`, one of this connection's packets (so its
    /// endpoints are this connection's, one way round or the other, and
    /// its source alone tells; its ports nearly always do).
    #[inline]
    pub(super) fn slot_of(&self, seg: &Segment) -> usize {
        debug_assert!(
            (seg.src == self.addr[0] && seg.dst == self.addr[1])
                || (seg.src == self.addr[1] && seg.dst == self.addr[0])
        );
        let slot = if seg.src.port != seg.dst.port {
            usize::from(seg.src.port != self.addr[0].port)
        } else {
            usize::from(seg.src != self.addr[0])
        };
        debug_assert_eq!(
            slot,
            usize::from(!(seg.src == self.addr[0] && seg.dst == self.addr[1]))
        );
        slot
    }

    /// The earliest time any timer is due, whether or not it would remove
    /// the connection then: before it, nothing can happen.
    #[inline]
    fn earliest_timer(&self) -> i64 {
        let t = &self.timers;
        debug_assert_eq!(t.due, t.earliest_fixed());
        let mut e = t.due;
        if t.inactivity_ns > 0 {
            e = e.min(self.last_ns.saturating_add(t.inactivity_ns));
        }
        e
    }

    /// Whether a close set timers since the last call (so the table may
    /// look at the connection again at its deadline).
    #[inline]
    pub(super) fn take_closing(&mut self) -> bool {
        // Read first: nearly always false, and then nothing is written.
        if !self.closing {
            return false;
        }
        self.closing = false;
        true
    }

    /// The time of the connection's last packet.
    pub(super) fn last_ns(&self) -> i64 {
        self.last_ns
    }

    /// The earliest time one of the timers would remove the connection if
    /// no packet of it came first (`i64::MAX`: none would).
    pub(super) fn deadline(&self) -> i64 {
        let t = &self.timers;
        let mut d = t.delete;
        if t.inactivity_ns > 0 {
            // Connection::InactivityTimer: `last_time + inactivity_timeout <= t`.
            d = d.min(self.last_ns.saturating_add(t.inactivity_ns));
        }
        if self.is_active {
            // TCPSessionAdapter::ResetTimer.
            d = d.min(t.reset);
        }
        let (o, r) = (&self.ep[self.orig()], &self.ep[self.resp()]);
        // TCPSessionAdapter::AttemptTimer: the SYN was never answered.
        let attempting = matches!(o.state, ZeekState::SynSent | ZeekState::SynAckSent)
            && r.state == ZeekState::Inactive;
        if self.is_active && attempting {
            d = d.min(t.attempt);
        }
        // TCPSessionAdapter::ExpireTimer: quiet for tcp_connection_linger
        // and (one side closed and the other closed too, reset or silent),
        // or nothing was ever processed.
        let closed_enough = (o.did_close || r.did_close)
            && ((o.did_close && r.did_close)
                || o.state == ZeekState::Reset
                || r.state == ZeekState::Reset
                || o.state == ZeekState::Inactive
                || r.state == ZeekState::Inactive);
        let never_started = o.state == ZeekState::Inactive && r.state == ZeekState::Inactive;
        if self.is_active && (closed_enough || never_started) {
            let after = self.last_ns.saturating_add(CONNECTION_LINGER_NS);
            for &s in t.expire.iter().filter(|&&s| s != NEVER) {
                let k = if s > after {
                    0
                } else {
                    (after - s) / SESSION_TIMER_NS + 1
                };
                d = d.min(s.saturating_add(k.saturating_mul(SESSION_TIMER_NS)));
            }
        }
        d
    }

    /// Whether a timer removed the connection by network time `clock`. If
    /// not, the timers that fired without removing it are spent: the
    /// attempt and reset timers are gone, each expire chain moves past
    /// `clock` (or ends, once the connection is no longer active).
    #[inline]
    pub(super) fn expired_by(&mut self, clock: i64) -> bool {
        if clock < self.earliest_timer() {
            // No timer due yet: nothing fires, nothing to spend.
            return false;
        }
        self.fire_timers(clock)
    }

    /// [`ZeekTracker::expired_by`] once a timer is due.
    #[inline(never)]
    fn fire_timers(&mut self, clock: i64) -> bool {
        if self.deadline() <= clock {
            return true;
        }
        let active = self.is_active;
        let t = &mut self.timers;
        if t.attempt <= clock {
            t.attempt = NEVER;
        }
        if t.reset <= clock {
            t.reset = NEVER;
        }
        for s in &mut t.expire {
            if *s <= clock {
                *s = if active {
                    let k = (clock - *s) / SESSION_TIMER_NS + 1;
                    s.saturating_add(k.saturating_mul(SESSION_TIMER_NS))
                } else {
                    NEVER
                };
            }
        }
        t.refresh();
        false
    }

    /// `TCPSessionAdapter::IsReuse`: whether `seg` starts a new connection
    /// on these ports. Only a SYN can (a SYN-ACK only when the originator
    /// never spoke); once either side has closed, any such SYN does, even
    /// with the same initial sequence number.
    pub(super) fn is_reuse(&self, seg: &Segment) -> bool {
        let f = seg.flags;
        if seg.bad_header_len || !f.syn() {
            return false;
        }
        let (o, r) = (self.orig(), self.resp());
        let mut conn_orig = o;
        if f.ack() {
            if self.ep[o].state != ZeekState::Inactive {
                return false;
            }
            conn_orig = r;
        }
        if self.ep[o].did_close || self.ep[r].did_close {
            return true;
        }
        if seg.seq == self.ep[conn_orig].start_seq() {
            return false;
        }
        // A SYN arriving after its SYN-ACK (the two read out of order):
        // not a reuse, the state machine flips the roles.
        let reversed = !f.ack()
            && self.ep[conn_orig].state == ZeekState::SynAckSent
            && self.ep[r].state == ZeekState::Inactive
            && seg.seq == self.ep[r].start_seq();
        !reversed
    }

    /// `Connection::CheckEncapsulation` for a packet of an existing
    /// connection: a change from one tunnel path to another is counted
    /// (`tunnel_changes`, limited by `Tunnel::max_changes_per_connection`,
    /// zeek PR #2190), and the first change past the limit adds `X` once,
    /// as Zeek marks every configurable limit it reaches
    /// (`CheckHistory(HIST_UNKNOWN_PKT, 'X')`, zeek PRs #5699 and #5759).
    /// Appearing or vanishing tunnels are changes Zeek does not count.
    #[inline]
    pub(super) fn check_encapsulation(&mut self, seg: &Segment, config: &ZeekConfig) {
        if seg.path.tunnel.is_none() && self.rare.as_ref().is_none_or(|r| r.tunnel.is_none()) {
            return;
        }
        self.check_tunnels(seg, config);
    }

    /// [`ZeekTracker::check_encapsulation`] when a tunnel is involved.
    #[inline(never)]
    fn check_tunnels(&mut self, seg: &Segment, config: &ZeekConfig) {
        let rare = self.rare.get_or_insert_with(Box::default);
        match (&rare.tunnel, &seg.path.tunnel) {
            (Some(old), Some(new)) => {
                if Arc::ptr_eq(old, new) || old.same_tunnels(new) {
                    return;
                }
                let max = config.max_tunnel_changes;
                if max == 0 || rare.tunnel_changes < max {
                    rare.tunnel_changes += 1;
                } else {
                    self.history.check(mask::UNKNOWN, 'X');
                }
                rare.tunnel = Some(new.clone());
            }
            (Some(_), None) => rare.tunnel = None,
            (None, Some(new)) => rare.tunnel = Some(new.clone()),
            (None, None) => {}
        }
    }

    /// One packet of this connection, after the session lookup
    /// (`TCPAnalyzer::DeliverPacket`): [`ZeekTracker::steady_packet`] if it
    /// takes it, else [`ZeekTracker::packet_by_rules`].
    #[inline]
    pub(super) fn packet(&mut self, seg: &Segment, config: &ZeekConfig) {
        let slot = self.slot_of(seg);
        if !self.steady_packet(seg, slot) {
            self.packet_by_rules(seg, slot, config);
        }
    }

    /// The packet of a connection in its steady state that Zeek's rules
    /// would take through none of their turns: a plain ACK (PSH, URG, ECE
    /// and CWR allowed; no SYN, FIN or RST) with a non-zero window, from a
    /// side already seen, established (or partial) and not closing, to a
    /// peer that has spoken and is not closing either, that sends nothing
    /// already sent (no T) and acknowledges no data the peer's reassembler
    /// lacks (no gap). Such a packet changes only the history's D or A
    /// (the first time), the sequence and acknowledgement numbers, the
    /// reassemblers, the time and the counts: this does that, in the order
    /// [`ZeekTracker::process`] does, with the same functions. False
    /// (nothing changed) for any other packet, which the rules take. Most
    /// packets are steady, and the rules cost three times as much.
    #[inline]
    pub(super) fn steady_packet(&mut self, seg: &Segment, e: usize) -> bool {
        let f = seg.flags;
        let kinds = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST | TcpFlags::ACK;
        if f.0 & kinds != TcpFlags::ACK
            || seg.window == 0
            || seg.bad_header_len
            || seg.short_segment
            || seg.header_cut
            || seg.bad_checksum
        {
            return false;
        }
        let len = u64::from(seg.payload_len);
        debug_assert_eq!(self.steady, self.steady_slots());
        if self.steady & (1 << e) == 0 {
            return false;
        }
        let is_orig = self.is_orig(e);
        let (me, peer) = if e == 0 {
            let [a, b] = &mut self.ep;
            (a, b)
        } else {
            let [a, b] = &mut self.ep;
            (b, a)
        };
        let (rel_seq, underflow) = me.relative(seg.seq, me.last_seq(), me.seq_wraps());
        let one_past = seg.seq.wrapping_add(seg.payload_len);
        // update_last_seq: a payload not past the highest number is a T.
        let delta_last = seq_delta(one_past, me.last_seq());
        if delta_last <= 0 && len > 0 {
            return false;
        }
        let (r, under) = peer.relative(seg.ack, peer.ack_seq(), peer.ack_wraps());
        let rel_ack = if under { 0 } else { r };
        // ack_received: acknowledged data the reassembler never delivered is a gap.
        let trims = rel_ack > peer.reasm.trim_seq();
        if trims && rel_ack > peer.reasm.last_reassem {
            return false;
        }
        // Committed: from here on, Process's steps that apply, in its order.
        // update_history: D for a payload, A for a bare ACK, each once.
        let (letter, code) = if len > 0 {
            (mask::DATA, 'D')
        } else {
            (mask::ACK, 'A')
        };
        let shifted = if is_orig { letter } else { letter << 16 };
        if !self.history.has_seen(shifted) {
            self.history.check_endpoint(is_orig, letter, code);
        }
        if !(me.did_close && peer.did_close) {
            self.last_ns = seg.ts_ns;
        }
        if !under {
            // update_ack_seq.
            let delta = seq_delta(seg.ack, peer.ack_seq());
            let broken = seg.ack == 0 && delta > TOO_LARGE_SEQ_DELTA;
            if !broken && delta > 0 {
                peer.update_ack(seg.ack);
            }
        }
        if delta_last > 0 {
            me.update_last(one_past);
        }
        if trims {
            // No gap (checked above), and the peer has not ended: nothing
            // else of AckReceived applies.
            let gaps = peer.reasm.trim(rel_ack, self.is_partial);
            debug_assert_eq!(gaps.count, 0);
        }
        if len > 0 && !underflow && seg.captured_payload_len >= seg.payload_len {
            me.data_sent(rel_seq, len, peer.state);
        }
        self.pkts[e] += 1;
        self.ip_bytes[e] += u64::from(seg.ip_len);
        true
    }

    /// For each slot (bit 0: slot 0, bit 1: slot 1), whether a plain ACK
    /// from it, with or without a payload, can pass Zeek's rules without a
    /// turn but the history's D or A: the side was seen before (its first
    /// packet is done), it is established (or partial) and not closing,
    /// and the peer has spoken and is not closing (neither state can
    /// change, no end of data come, the peer needs no numbering).
    pub(super) fn steady_slots(&self) -> u8 {
        let mut slots = 0;
        for e in 0..2 {
            let seen = if self.is_orig(e) { ORIG } else { RESP };
            let (me, peer) = (&self.ep[e], &self.ep[1 - e]);
            let steady = self.first_packet_seen & seen != 0
                && matches!(me.state, ZeekState::Established | ZeekState::Partial)
                && !me.fin_seen
                && matches!(
                    peer.state,
                    ZeekState::Established
                        | ZeekState::Partial
                        | ZeekState::SynSent
                        | ZeekState::SynAckSent
                )
                && !peer.fin_seen;
            slots |= u8::from(steady) << e;
        }
        slots
    }

    /// [`ZeekTracker::packet`] by Zeek's rules, every packet taken through
    /// all of them (`slot` sent it).
    pub(super) fn packet_by_rules(&mut self, seg: &Segment, slot: usize, config: &ZeekConfig) {
        let is_orig = self.is_orig(slot);
        // ExtractTCP_Header: a header shorter than 20 bytes, or longer than
        // the packet or the capture, drops the packet (bad_TCP_header_len,
        // truncated_header).
        if seg.bad_header_len || seg.short_segment || seg.header_cut {
            return;
        }
        // ValidateChecksum: a bad checksum logs the scaled C and drops it.
        if seg.bad_checksum {
            if self.rare().bad_checksum[slot].hit() {
                self.history.add_endpoint(is_orig, 'C');
            }
            return;
        }
        self.process(seg, slot, is_orig, config);
        // ConnSize counts by the role the packet arrived with; after a flip
        // during this packet that is the other slot, as in Zeek.
        let counted = if is_orig { self.orig() } else { self.resp() };
        self.pkts[counted] += 1;
        self.ip_bytes[counted] += u64::from(seg.ip_len);
        // (The packets dropped above change nothing it depends on.)
        self.steady = self.steady_slots();
    }

    /// `TCPSessionAdapter::Process`.
    fn process(&mut self, seg: &Segment, e: usize, is_orig: bool, config: &ZeekConfig) {
        let p = 1 - e;
        let f = seg.flags;
        let (base_seq, ack_seq) = (seg.seq, seg.ack);
        let len = u64::from(seg.payload_len);
        self.set_partial_status(f, is_orig);
        let seg_len = segment_len(len, f);
        let one_past = base_seq.wrapping_add(seg_len as u32);
        self.init_endpoint(e, f, base_seq, one_past);
        let ep = &self.ep[e];
        let (rel_seq, underflow) = ep.relative(base_seq, ep.last_seq(), ep.seq_wraps());
        self.update_history(f, e, is_orig, rel_seq, len);
        // update_window: a zero window is interesting unless it comes with
        // or after a RST, or after the peer's FIN.
        if seg.window == 0
            && !f.rst()
            && self.ep[p].state != ZeekState::Closed
            && self.ep[e].state != ZeekState::Reset
            && self.rare().zero_window[e].hit()
        {
            self.history.add_endpoint(is_orig, 'W');
        }
        if !(self.ep[0].did_close && self.ep[1].did_close) {
            self.last_ns = seg.ts_ns;
        }
        if f.fin() {
            self.ep[e].fin_seen = true;
            self.ep[e].fin_seq = rel_seq.wrapping_add(seg_len);
        }
        let mut rel_ack = 0;
        if f.ack() {
            if self.ep[p].state == ZeekState::Inactive {
                // init_peer: number the silent side as if its SYN was seen.
                rel_ack = 1;
                let a = ack_seq.wrapping_sub(1);
                self.ep[p].init_all(a, a, a);
            } else {
                let peer = &self.ep[p];
                let (r, under) = peer.relative(ack_seq, peer.ack_seq(), peer.ack_wraps());
                if !under {
                    rel_ack = r;
                    // update_ack_seq: RST acks are not trusted.
                    let delta = seq_delta(ack_seq, peer.ack_seq());
                    let broken = ack_seq == 0 && delta > TOO_LARGE_SEQ_DELTA;
                    if !f.rst() && !broken && delta > 0 {
                        self.ep[p].update_ack(ack_seq);
                    }
                }
            }
        }
        let delta_last = self.update_last_seq(e, is_orig, one_past, f, len);
        let close = self.update_state_machine(seg, e, is_orig, delta_last, config);
        // The ACK's gaps are taken after the state machine, so those a FIN
        // or RST reveals at the very end are not logged (Process).
        if f.ack() {
            self.ack_received(p, rel_ack, config);
        }
        let rel_data_seq = if f.syn() {
            rel_seq.wrapping_add(1)
        } else {
            rel_seq
        };
        // DataSent, then TCP_Endpoint::DataSent: a payload the capture cut
        // short (truncated_tcp_payload) is never given to the reassembler.
        if len > 0 && !f.rst() && !underflow && seg.captured_payload_len >= seg.payload_len {
            let peer_state = self.ep[p].state;
            self.ep[e].data_sent(rel_data_seq, len, peer_state);
        }
        self.check_eof(e, config);
        if close {
            self.connection_closed(e, config);
        }
        // CheckPIA_FirstPacket.
        self.first_packet_seen |= if is_orig { ORIG } else { RESP };
    }

    /// `TCPSessionAdapter::SetPartialStatus`.
    fn set_partial_status(&mut self, f: TcpFlags, is_orig: bool) {
        if is_orig {
            if self.first_packet_seen & ORIG == 0 {
                self.is_partial = !f.syn() || f.ack();
            }
        } else if self.first_packet_seen & RESP == 0 && !self.is_partial {
            self.is_partial = !f.syn();
        }
    }

    /// `init_endpoint`: (re)numbers the sender's sequence space.
    fn init_endpoint(&mut self, e: usize, f: TcpFlags, seq: u32, last: u32) {
        let ep = &mut self.ep[e];
        match ep.state {
            ZeekState::Inactive => {
                if f.syn() {
                    ep.init_all(seq, seq, last);
                } else {
                    // A partial connection: numbered as if a SYN came
                    // before, and this first packet is no retransmission.
                    let s = seq.wrapping_sub(1);
                    ep.init_all(s, s, seq);
                }
            }
            ZeekState::SynSent | ZeekState::SynAckSent => {
                if f.syn() && seq != ep.start_seq() {
                    ep.init_all(seq, seq, last);
                }
            }
            ZeekState::Established | ZeekState::Partial => {
                if f.syn() {
                    ep.init_all(seq, seq, last);
                }
            }
            ZeekState::Reset => {
                if f.syn() && ep.prev_state == ZeekState::Inactive {
                    ep.init_all(seq, seq, last);
                }
            }
            ZeekState::Closed => {}
        }
    }

    /// `update_history`: S, H, F, R (again when at a new sequence number),
    /// I, Q, D and A.
    fn update_history(&mut self, f: TcpFlags, e: usize, is_orig: bool, rel_seq: u64, len: u64) {
        let h = &mut self.history;
        let ep = &mut self.ep[e];
        let controls = u8::from(f.syn()) + u8::from(f.fin()) + u8::from(f.rst());
        if controls > 1 {
            if f.fin() && f.rst() {
                h.check_endpoint(is_orig, mask::FIN_RST, 'I');
            } else {
                h.check_endpoint(is_orig, mask::MULTI_FLAG, 'Q');
            }
        } else if controls == 1 {
            if f.syn() {
                let code = if f.ack() { 'H' } else { 'S' };
                if h.check_endpoint(is_orig, mask::SYN, code) && rel_seq != ep.hist_last_syn {
                    h.add_endpoint(is_orig, code);
                }
                ep.hist_last_syn = rel_seq;
            }
            if f.fin() {
                // A FIN's place is after its data.
                let at = rel_seq.wrapping_add(len);
                if h.check_endpoint(is_orig, mask::FIN, 'F') && at != ep.hist_last_fin {
                    h.add_endpoint(is_orig, 'F');
                }
                ep.hist_last_fin = at;
            }
            if f.rst() {
                if h.check_endpoint(is_orig, mask::RST, 'R') && rel_seq != ep.hist_last_rst {
                    h.add_endpoint(is_orig, 'R');
                }
                ep.hist_last_rst = rel_seq;
            }
        } else if len > 0 {
            h.check_endpoint(is_orig, mask::DATA, 'D');
        } else if f.ack() {
            h.check_endpoint(is_orig, mask::ACK, 'A');
        }
    }

    /// `update_last_seq`: the highest sequence number, and the scaled T for
    /// a payload that does not advance it.
    #[inline]
    fn update_last_seq(
        &mut self,
        e: usize,
        is_orig: bool,
        last: u32,
        f: TcpFlags,
        len: u64,
    ) -> i32 {
        let ep = &mut self.ep[e];
        let delta = seq_delta(last, ep.last_seq());
        if (f.syn() || f.rst()) && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta) {
            // Not trusted.
        } else if f.fin() && ep.last_seq() == ep.start_seq().wrapping_add(1) {
            // Only the SYN and the FIN seen (> 2 GB connections).
            ep.update_last(last);
        } else if ep.state == ZeekState::Reset {
            // Nothing after a RST is trusted.
        } else if delta > 0 {
            ep.update_last(last);
        } else if len > 0 && ep.rxmit.hit() {
            self.history.add_endpoint(is_orig, 'T');
        }
        delta
    }

    /// `TCP_Endpoint::SetState`, which also lengthens the inactivity timeout
    /// once the first side leaves the handshake.
    fn set_state(&mut self, slot: usize, new: ZeekState, config: &ZeekConfig) {
        let (cur, peer) = (self.ep[slot].state, self.ep[1 - slot].state);
        if new == cur {
            return;
        }
        if !is_handshake(new) && is_handshake(cur) && is_handshake(peer) {
            self.set_inactivity(config.inactivity_timeout_ns);
        }
        let ep = &mut self.ep[slot];
        ep.prev_state = cur;
        ep.state = new;
    }

    /// `Connection::SetInactivityTimeout`.
    fn set_inactivity(&mut self, ns: i64) {
        self.timers.inactivity_ns = ns;
    }

    /// `Connection::FlipRoles` during a connection: the other side becomes
    /// the originator. Counts stay with their slots (ConnSize swaps its
    /// role counters), `hist_seen` stays as it is.
    fn flip(&mut self) {
        self.orig = 1 - self.orig;
        self.history.add('^');
        let seen = self.first_packet_seen;
        self.first_packet_seen = ((seen & ORIG) << 1) | ((seen & RESP) >> 1);
        self.is_partial = false;
    }

    /// `TCPSessionAdapter::UpdateStateMachine`; true when the packet closes
    /// its sender (`do_close`). Past the first packet of a side, only a
    /// SYN, FIN or RST changes anything (most packets carry none).
    #[inline]
    fn update_state_machine(
        &mut self,
        seg: &Segment,
        e: usize,
        is_orig: bool,
        delta_last: i32,
        config: &ZeekConfig,
    ) -> bool {
        let controls = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST;
        if seg.flags.0 & controls == 0 && self.ep[e].state != ZeekState::Inactive {
            return false;
        }
        self.change_state(seg, e, is_orig, delta_last, config)
    }

    /// The per-state parts of [`ZeekTracker::update_state_machine`].
    #[inline(never)]
    fn change_state(
        &mut self,
        seg: &Segment,
        e: usize,
        is_orig: bool,
        delta_last: i32,
        config: &ZeekConfig,
    ) -> bool {
        use ZeekState::*;
        let _ = delta_last; // only Zeek's weirds use it
        let f = seg.flags;
        let p = 1 - e;
        let mut close = false;
        match self.ep[e].state {
            Inactive => {
                // UpdateInactiveState.
                let mut established = false;
                if f.syn() {
                    if is_orig {
                        self.set_state(e, if f.ack() { SynAckSent } else { SynSent }, config);
                        if config.attempt_delay_ns > 0 {
                            self.timers.attempt = seg.ts_ns.saturating_add(config.attempt_delay_ns);
                            self.timers.refresh();
                        }
                    } else {
                        if !f.ack()
                            && self.ep[p].state == SynAckSent
                            && seg.seq == self.ep[e].start_seq()
                        {
                            // A SYN/SYN-ACK reversal: flip and establish.
                            self.is_partial = false;
                            self.flip();
                            self.set_state(p, Established, config);
                            self.first_packet_seen |= ORIG;
                        }
                        if self.ep[p].state == SynSent {
                            self.set_state(p, Established, config);
                        }
                        self.set_state(e, Established, config);
                        established = self.ep[p].state != Partial;
                    }
                }
                if f.fin() {
                    self.set_state(e, Closed, config);
                    close = true;
                }
                if f.rst() {
                    self.set_state(e, Reset, config);
                    close = true;
                }
                if self.ep[e].state == Inactive {
                    let len = seg.payload_len;
                    if !is_orig && len == 0 && self.ep[self.orig()].state == SynSent {
                        // An ACK of the SYN before the SYN-ACK: no partial connection.
                    } else if f.ack() && self.ep[p].state == Established {
                        // The SYN was missed but the SYN-ACK seen: established.
                        self.set_state(e, Established, config);
                        self.is_partial = false;
                        self.first_packet_seen |= if is_orig { ORIG } else { RESP };
                    } else {
                        self.set_state(e, Partial, config);
                    }
                }
                if established {
                    self.connection_established();
                }
            }
            SynSent | SynAckSent => {
                // UpdateSYN_SentState.
                if f.fin() {
                    self.set_state(e, Closed, config);
                    close = true;
                }
                if f.rst() {
                    self.set_state(e, Reset, config);
                    self.is_active = false; // ConnectionReset
                    close = true;
                }
            }
            Established | Partial => {
                // UpdateEstablishedState.
                if f.syn()
                    && self.ep[e].state == Partial
                    && self.ep[p].state == Inactive
                    && !f.ack()
                {
                    self.set_state(e, SynSent, config);
                }
                if f.fin() && !f.rst() {
                    self.set_state(e, Closed, config);
                    if self.ep[p].state == Reset && self.ep[p].prev_state == Closed {
                        // FIN then RST from the peer: a normal close after all.
                        self.set_state(p, Closed, config);
                    }
                    close = true;
                }
                if f.rst() {
                    self.set_state(e, Reset, config);
                    close = true;
                    if self.ep[p].state != Reset || self.ep[p].prev_state != Established {
                        self.is_active = false; // ConnectionReset
                    }
                }
            }
            Closed => {
                // UpdateClosedState: a RST after our FIN, unless both closed,
                // ends the connection tcp_reset_delay later (ResetTimer; Zeek
                // schedules it whether or not a script handles
                // connection_reset: Zeek's btest of a connection whose RSTs
                // follow its FINs, history ShADadtFRfr, removed after 5 s).
                if f.rst() && self.ep[p].state != Closed {
                    self.set_state(e, Reset, config);
                    if !self.ep[e].did_close {
                        close = true;
                    }
                    self.timers.reset = seg.ts_ns.saturating_add(RESET_DELAY_NS);
                    self.timers.refresh();
                    self.closing = true;
                }
            }
            Reset => {}
        }
        close
    }

    /// The `connection_established` event's handler in
    /// base/protocols/conn/inactivity.zeek: interactive services (by port)
    /// get a longer inactivity timeout.
    fn connection_established(&mut self) {
        let (op, rp) = (self.addr[self.orig()].port, self.addr[self.resp()].port);
        let mut service = rp;
        if self.ep[self.orig()].state == ZeekState::Inactive
            && !likely_server_port(rp)
            && likely_server_port(op)
        {
            service = op;
        }
        if INTERACTIVE_PORTS.contains(&service) {
            self.set_inactivity(INTERACTIVE_INACTIVITY_NS);
        }
    }

    /// `TCP_Endpoint::AckReceived` for slot `i`: the reassembler drops what
    /// is acknowledged; data acknowledged but never delivered is a content
    /// gap, logged (scaled G/g) and counted in `missed_bytes` only while
    /// both sides are established or cleanly closing (`TCP_Reassembler::Gap`,
    /// `report_gap`).
    fn ack_received(&mut self, i: usize, rel_ack: u64, config: &ZeekConfig) {
        let ep = &self.ep[i];
        let mut seq = rel_ack;
        if ep.fin_seen && seq >= ep.fin_seq {
            // The FIN's octet is no data.
            seq = ep.fin_seq.wrapping_sub(1);
        }
        if seq <= ep.reasm.trim_seq() {
            return;
        }
        let clean = |e: &Endpoint| {
            e.state == ZeekState::Established
                || (e.state == ZeekState::Closed && e.prev_state == ZeekState::Established)
        };
        let partial = self.is_partial;
        let gaps = self.ep[i].reasm.trim(seq, partial);
        // (The trim changes no state: judged after it, the same.)
        if gaps.count > 0 && clean(&self.ep[0]) && clean(&self.ep[1]) {
            let is_orig = self.is_orig(i);
            let rare = self.rare.get_or_insert_with(Box::default);
            for _ in 0..gaps.count {
                if rare.gap[i].hit() {
                    self.history.add_endpoint(is_orig, 'G');
                }
            }
            // Saturating: an ACK below a FIN at relative 0 makes a gap to the
            // top of the 64-bit space (Zeek's unsigned arithmetic wraps there).
            rare.missed_bytes = rare.missed_bytes.saturating_add(gaps.bytes);
        }
        self.check_eof(i, config);
    }

    /// `TCP_Reassembler::DataPending` for slot `i`: data not yet delivered,
    /// or (unless it reset) the peer still holding unacknowledged data.
    fn data_pending(&self, i: usize) -> bool {
        let ep = &self.ep[i];
        if ep.reasm.skip_deliveries {
            return false;
        }
        let delivered = u64::from(ep.start_seq()).wrapping_add(ep.reasm.last_reassem);
        let last = ep.last_full();
        if last < delivered {
            return false;
        }
        if delivered != last.wrapping_sub(1) && delivered != last {
            return true;
        }
        ep.state != ZeekState::Reset && self.ep[1 - i].reasm.has_blocks()
    }

    /// `TCP_Reassembler::CheckEOF`, then `EndpointEOF`: once a side that
    /// ended has all its data delivered, a close that waited for that
    /// data happens.
    fn check_eof(&mut self, i: usize, config: &ZeekConfig) {
        let ep = &self.ep[i];
        let ended = ep.fin_seen || matches!(ep.state, ZeekState::Closed | ZeekState::Reset);
        if ep.reasm.did_eof || !ended || self.data_pending(i) {
            return;
        }
        self.ep[i].reasm.did_eof = true;
        if self.close_deferred {
            self.connection_closed(i, config);
            self.close_deferred = false;
        }
    }

    /// `TCPSessionAdapter::ConnectionClosed`: a side closing is reported
    /// once its data is all delivered; when the close is complete (it
    /// reset, or the peer closed too or never spoke) every timer gives way
    /// to the delete timer, `tcp_close_delay` after the last packet.
    /// Otherwise an expire timer starts looking for the other side's close.
    fn connection_closed(&mut self, e: usize, config: &ZeekConfig) {
        if self.data_pending(e) {
            self.close_deferred = true;
            return;
        }
        self.close_deferred = false;
        if self.ep[e].did_close {
            return;
        }
        self.ep[e].did_close = true;
        self.closing = true;
        let p = 1 - e;
        let complete = self.ep[e].state == ZeekState::Reset
            || self.ep[p].did_close
            || self.ep[p].state == ZeekState::Inactive;
        if complete {
            // CancelTimers, then ConnDeleteTimer (or DeleteTimer at once).
            self.timers.attempt = NEVER;
            self.timers.reset = NEVER;
            self.timers.expire = [NEVER; 3];
            self.timers.delete = self.last_ns.saturating_add(config.close_delay_ns);
        } else if self.ep[e].prev_state != ZeekState::Inactive {
            let at = self.last_ns.saturating_add(SESSION_TIMER_NS);
            if let Some(free) = self.timers.expire.iter_mut().find(|c| **c == NEVER) {
                *free = at;
            }
        }
        self.timers.refresh();
    }

    /// The conn.log record as Zeek writes it when the connection is removed;
    /// its Community ID under `community_id_seed`.
    pub(super) fn record(&self, community_id_seed: u16) -> ZeekRecord {
        let (o, r) = (self.orig(), self.resp());
        let (os, rs) = (self.ep[o].state, self.ep[r].state);
        let orig_bytes = self.ep[o].size(rs);
        let resp_bytes = self.ep[r].size(os);
        let history = self.history.as_str();
        ZeekRecord {
            start_ns: self.start_ns,
            last_ns: self.last_ns,
            first_frame: self.first_frame,
            orig: self.addr[o],
            resp: self.addr[r],
            conn_state: conn_state(os, rs, orig_bytes, resp_bytes, history),
            history: history.to_string(),
            orig_bytes,
            resp_bytes,
            missed_bytes: self.rare.as_ref().map_or(0, |r| r.missed_bytes),
            orig_pkts: self.pkts[o],
            orig_ip_bytes: self.ip_bytes[o],
            resp_pkts: self.pkts[r],
            resp_ip_bytes: self.ip_bytes[r],
            community_id: tcp_community_id(&self.addr[o], &self.addr[r], community_id_seed),
        }
    }
}
