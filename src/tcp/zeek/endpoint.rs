//! One side of a connection as Zeek tracks it (`analyzer/protocol/tcp/
//! TCP_Endpoint.{h,cc}`): its coarse state, its sequence space kept the way
//! Zeek keeps it (32-bit numbers and wrap counters, so sizes and relative
//! numbers come out as Zeek's do, quirks included), and what its
//! reassembler knows, which decides content gaps and when a close counts.

use super::history::Scaled;
use crate::tcp::inline_vec::InlineVec;

/// Zeek's endpoint states (`TCP_ENDPOINT_INACTIVE` ... `TCP_ENDPOINT_RESET`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ZeekState {
    /// Nothing seen from this side yet.
    #[default]
    Inactive,
    /// A SYN seen, no SYN-ACK yet.
    SynSent,
    /// A SYN-ACK sent by the originator (no initial SYN seen).
    SynAckSent,
    /// Data seen, but no SYN.
    Partial,
    /// The handshake completed, or the responder's SYN-ACK seen.
    Established,
    /// A FIN seen.
    Closed,
    /// A RST seen.
    Reset,
}

/// The states of a handshake still under way (`is_handshake` in TCP_Endpoint.cc).
pub(super) fn is_handshake(s: ZeekState) -> bool {
    matches!(
        s,
        ZeekState::Inactive | ZeekState::SynSent | ZeekState::SynAckSent
    )
}

/// Zeek's `seq_delta`: the signed 32-bit distance from `b` to `a`.
pub(super) fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// A 32-bit number and its wrap count as one 64-bit number (`ToFullSeqSpace`).
fn full(seq: u32, wraps: u32) -> u64 {
    (u64::from(wraps) << 32) + u64::from(seq)
}

/// Zeek's `tcp_max_initial_window`: data a side may plausibly send before
/// any of it is acknowledged.
const MAX_INITIAL_WINDOW: u64 = 16_384;
/// Zeek's `tcp_max_above_hole_without_any_acks`.
const MAX_ABOVE_HOLE_WITHOUT_ANY_ACKS: u64 = 16_384;
/// Zeek's `tcp_excessive_data_without_further_acks`.
const EXCESSIVE_DATA_WITHOUT_FURTHER_ACKS: u64 = 10 * 1024 * 1024;
/// Separate blocks held at most: past it this side's contents are given up
/// as Zeek gives them up past its byte limits, so a pathological capture
/// cannot grow the list without bound.
const MAX_BLOCKS: usize = 256;
/// Blocks held inline, without allocating.
const INLINE_BLOCKS: usize = 2;

/// One side of a Zeek connection.
#[derive(Clone, Debug, Default)]
pub(super) struct Endpoint {
    pub(super) state: ZeekState,
    pub(super) prev_state: ZeekState,
    /// `start_seq` (Zeek's is an int64, but only ever holds a 32-bit number).
    start: u32,
    last: u32,
    ack: u32,
    seq_wraps: u32,
    ack_wraps: u32,
    /// A FIN was seen (Zeek's `FIN_cnt > 0`, the only use of the count).
    pub(super) fin_seen: bool,
    /// Relative sequence number just past this side's FIN.
    pub(super) fin_seq: u64,
    /// Zeek has reported this side closing (`did_close`).
    pub(super) did_close: bool,
    /// Relative numbers of the last SYN, FIN and RST: a repeat elsewhere adds its letter again.
    pub(super) hist_last_syn: u64,
    pub(super) hist_last_fin: u64,
    pub(super) hist_last_rst: u64,
    /// The scaled count of T (the W, G and C ones are with the
    /// connection's rare part).
    pub(super) rxmit: Scaled,
    pub(super) reasm: Reassembler,
}

impl Endpoint {
    /// `StartSeq()`.
    pub(super) fn start_seq(&self) -> u32 {
        self.start
    }

    /// `LastSeq()`: one past the highest sequence number seen.
    pub(super) fn last_seq(&self) -> u32 {
        self.last
    }

    /// `AckSeq()`: the highest acknowledgement the peer sent for this side.
    pub(super) fn ack_seq(&self) -> u32 {
        self.ack
    }

    pub(super) fn seq_wraps(&self) -> u32 {
        self.seq_wraps
    }

    pub(super) fn ack_wraps(&self) -> u32 {
        self.ack_wraps
    }

    /// `InitStartSeq`, `InitAckSeq`, `InitLastSeq` all at once.
    pub(super) fn init_all(&mut self, start: u32, ack: u32, last: u32) {
        self.start = start;
        self.ack = ack;
        self.last = last;
    }

    /// `UpdateLastSeq`: a number below the last one means the space wrapped.
    pub(super) fn update_last(&mut self, seq: u32) {
        if seq < self.last {
            self.seq_wraps = self.seq_wraps.wrapping_add(1);
        }
        self.last = seq;
    }

    /// `UpdateAckSeq`.
    pub(super) fn update_ack(&mut self, seq: u32) {
        if seq < self.ack {
            self.ack_wraps = self.ack_wraps.wrapping_add(1);
        }
        self.ack = seq;
    }

    /// `ToFullSeqSpace(LastSeq(), SeqWraps())`.
    pub(super) fn last_full(&self) -> u64 {
        full(self.last, self.seq_wraps)
    }

    /// `get_relative_seq` (TCPSessionAdapter.cc): `cur` relative to this
    /// side's start, its wrap count judged against `reference` (the last
    /// sequence or acknowledgement number). True as second value when the
    /// number lies before the start (`TCP_seq_underflow_or_misorder`); the
    /// first is then Zeek's negative int32 widened to 64 bits.
    #[inline(always)]
    pub(super) fn relative(&self, cur: u32, reference: u32, wraps: u32) -> (u64, bool) {
        let mut wraps = wraps;
        let delta = seq_delta(cur, reference);
        if delta < 0 {
            if wraps > 0 && cur > reference {
                wraps -= 1;
            }
        } else if delta > 0 && cur < reference {
            wraps = wraps.wrapping_add(1);
        }
        if wraps == 0 {
            let d = seq_delta(cur, self.start_seq());
            return (i64::from(d) as u64, d < 0);
        }
        (full(cur, wraps).wrapping_sub(u64::from(self.start)), false)
    }

    /// `NoDataAcked`: at most the SYN's octet acknowledged.
    pub(super) fn no_data_acked(&self) -> bool {
        let ack = full(self.ack, self.ack_wraps);
        let start = u64::from(self.start);
        ack == start || ack == start.wrapping_add(1)
    }

    /// `TCP_Endpoint::Size`: bytes sent, from sequence numbers, SYN and FIN
    /// octets excluded (conn.log's `orig_bytes`/`resp_bytes`).
    pub(super) fn size(&self, peer_state: ZeekState) -> u64 {
        if self.prev_state == ZeekState::SynSent
            && self.state == ZeekState::Reset
            && peer_state == ZeekState::Inactive
            && !self.no_data_acked()
        {
            return 0;
        }
        let top = self.last_full().max(full(self.ack, self.ack_wraps));
        // The SYN's octet, then the FIN's, are not data.
        let mut size = top.wrapping_sub(u64::from(self.start)).saturating_sub(1);
        if self.fin_seen {
            size = size.saturating_sub(1);
        }
        size
    }

    /// `TCP_Reassembler::DataSent` for `len` bytes at relative `seq`;
    /// `peer_state` for [`Endpoint::size`].
    #[inline(always)]
    pub(super) fn data_sent(&mut self, seq: u64, len: u64, peer_state: ZeekState) {
        // Past the initial window while the peer acknowledges nothing,
        // delivered data is trimmed at once (see the rules below).
        if !self.reasm.skip_deliveries
            && (!self.no_data_acked() || self.size(peer_state) <= MAX_INITIAL_WINDOW)
            && self.reasm.append_in_order(seq, len)
        {
            return;
        }
        self.data_sent_by_rules(seq, len, peer_state);
    }

    /// [`Endpoint::data_sent`] without its shortcut.
    #[inline(never)]
    pub(super) fn data_sent_by_rules(&mut self, seq: u64, len: u64, peer_state: ZeekState) {
        if self.reasm.skip_deliveries {
            return;
        }
        // BlockInserted trims delivered data straight away when the peer
        // seems never to acknowledge anything (`tcp_max_initial_window`).
        // (The reassembler changes no acknowledgement: one answer serves.)
        let no_acks = self.no_data_acked();
        let trim_delivered = no_acks && self.size(peer_state) > MAX_INITIAL_WINDOW;
        if self.reasm.new_block(seq, len) && trim_delivered {
            let at = self.reasm.last_reassem;
            self.reasm.trim(at, false);
        }
        let r = &mut self.reasm;
        if (no_acks && r.num_undelivered() > MAX_ABOVE_HOLE_WITHOUT_ANY_ACKS)
            || r.data_size() > EXCESSIVE_DATA_WITHOUT_FURTHER_ACKS
        {
            // above_hole_data_without_any_acks / excessive_data_without_further_acks
            r.blocks.clear();
            r.skip_deliveries = true;
        }
    }
}

/// What Zeek's `TCP_Reassembler` for one side knows, without the bytes:
/// where delivery stands (`last_reassem_seq`), what is acknowledged
/// (`trim_seq`), and which ranges it holds (`block_list`), contiguous ones
/// joined. Zeek reassembles every TCP connection from its first packet
/// (`dpd_reassemble_first_packets`), so its gaps are these.
#[derive(Clone, Debug)]
pub(super) struct Reassembler {
    /// Relative sequence number up to which data is delivered or given up as a gap.
    pub(super) last_reassem: u64,
    /// Relative sequence number up to which data is acknowledged and dropped.
    trim_seq: u64,
    /// Held ranges [lo, hi), sorted and disjoint, touching ones joined
    /// (nearly always one: in-order data, until acknowledged).
    blocks: InlineVec<(u64, u64), INLINE_BLOCKS>,
    /// Zeek gave up on this side's contents (`skip_deliveries`).
    pub(super) skip_deliveries: bool,
    /// This side's end of data was reported (`did_EOF`).
    pub(super) did_eof: bool,
}

impl Default for Reassembler {
    /// Relative numbers start at 1, the first octet after the SYN.
    fn default() -> Reassembler {
        Reassembler {
            last_reassem: 1,
            trim_seq: 1,
            blocks: InlineVec::default(),
            skip_deliveries: false,
            did_eof: false,
        }
    }
}

/// Content gaps one acknowledgement revealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Gaps {
    /// Separate missing ranges (`TCP_Reassembler::Gap` calls).
    pub(super) count: u32,
    /// Their bytes.
    pub(super) bytes: u64,
}

impl Reassembler {
    pub(super) fn trim_seq(&self) -> u64 {
        self.trim_seq
    }

    /// `HasBlocks`: data held, delivered or not (Zeek's `HasUndeliveredData`).
    pub(super) fn has_blocks(&self) -> bool {
        !self.blocks.is_empty()
    }

    fn data_size(&self) -> u64 {
        self.blocks.iter().map(|&(lo, hi)| hi - lo).sum()
    }

    /// `NumUndeliveredBytes`: from the delivery point to the end of the last block.
    fn num_undelivered(&self) -> u64 {
        self.blocks
            .last()
            .map_or(0, |&(_, hi)| hi.saturating_sub(self.last_reassem))
    }

    /// [`Endpoint::data_sent`] for the usual data: right at the delivery
    /// point, with everything held already delivered (at most one block),
    /// so none is left undelivered, when nothing is to be trimmed on
    /// insertion (the caller knows). The block grows, or starts, and
    /// delivery moves to its end, as `NewBlock` and `BlockInserted` would
    /// have it. False, with nothing changed, for any other data.
    #[inline(always)]
    fn append_in_order(&mut self, seq: u64, len: u64) -> bool {
        let hi = seq.wrapping_add(len);
        if seq != self.last_reassem || seq < self.trim_seq || hi <= seq {
            return false;
        }
        let lo = match self.blocks.len() {
            0 => {
                self.blocks.push((seq, hi));
                seq
            }
            1 if self.blocks[0].1 == seq => {
                self.blocks[0].1 = hi;
                self.blocks[0].0
            }
            _ => return false,
        };
        self.last_reassem = hi;
        if hi - lo > EXCESSIVE_DATA_WITHOUT_FURTHER_ACKS {
            // excessive_data_without_further_acks
            self.blocks.clear();
            self.skip_deliveries = true;
        }
        true
    }

    /// `Reassembler::NewBlock`, then `BlockInserted`: keeps what is not yet
    /// acknowledged and delivers from the delivery point on. True if
    /// something was delivered.
    #[inline]
    fn new_block(&mut self, seq: u64, len: u64) -> bool {
        let (mut lo, hi) = (seq, seq.saturating_add(len));
        if len == 0 || hi <= self.trim_seq {
            return false;
        }
        lo = lo.max(self.trim_seq);
        self.insert(lo, hi);
        self.deliver()
    }

    /// Joins [lo, hi) into the sorted, disjoint block list.
    fn insert(&mut self, lo: u64, hi: u64) {
        // The usual case, in order: at or past the end of the last block.
        match self.blocks.last_mut() {
            None => return self.blocks.push((lo, hi)),
            Some(last) if lo >= last.0 && lo <= last.1 => {
                last.1 = last.1.max(hi);
                return;
            }
            Some(last) if lo > last.1 => {
                self.blocks.push((lo, hi));
                return self.limit();
            }
            Some(_) => {}
        }
        let first = self.blocks.partition_point(|&(_, h)| h < lo);
        let mut end = first;
        let (mut lo, mut hi) = (lo, hi);
        while end < self.blocks.len() && self.blocks[end].0 <= hi {
            lo = lo.min(self.blocks[end].0);
            hi = hi.max(self.blocks[end].1);
            end += 1;
        }
        self.blocks.splice_one(first..end, (lo, hi));
        self.limit();
    }

    /// Past [`MAX_BLOCKS`] separate blocks this side's contents are given up.
    fn limit(&mut self) {
        if self.blocks.len() > MAX_BLOCKS {
            self.blocks.clear();
            self.skip_deliveries = true;
        }
    }

    /// Delivers the block holding the delivery point, if any.
    fn deliver(&mut self) -> bool {
        let at = self.last_reassem;
        match self.blocks.iter().find(|&&(lo, hi)| lo <= at && at < hi) {
            Some(&(_, hi)) => {
                self.last_reassem = hi;
                true
            }
            None => false,
        }
    }

    /// `Reassembler::TrimToSeq` (`DataBlockList::Trim`): everything below
    /// `seq` is acknowledged. Data never delivered below it is given up as
    /// content gaps, one per missing range (`TCP_Reassembler::Undelivered`);
    /// `partial` is Zeek's `IsPartial()`, under which the faked first octets
    /// of a connection seen without its SYN are never a gap.
    #[inline(always)]
    pub(super) fn trim(&mut self, seq: u64, partial: bool) -> Gaps {
        if self.trim_delivered(seq) {
            return Gaps::default();
        }
        self.trim_by_rules(seq, partial)
    }

    /// [`Reassembler::trim`] in the usual case, up to a point already
    /// delivered (so no gap) with at most one block held; false, with
    /// nothing changed, in any other.
    #[inline(always)]
    fn trim_delivered(&mut self, seq: u64) -> bool {
        if seq <= self.last_reassem && self.blocks.len() <= 1 {
            if let Some(&(lo, hi)) = self.blocks.first() {
                if hi <= seq {
                    self.blocks.pop();
                } else {
                    let lo = lo.max(seq);
                    self.blocks[0].0 = lo;
                    if lo == self.last_reassem {
                        // deliver(): this block holds the delivery point.
                        self.last_reassem = hi;
                    }
                }
            }
            self.trim_seq = seq;
            return true;
        }
        false
    }

    /// [`Reassembler::trim`] without its shortcut.
    #[inline(never)]
    pub(super) fn trim_by_rules(&mut self, seq: u64, partial: bool) -> Gaps {
        let mut gaps = Gaps::default();
        if seq > self.last_reassem {
            gaps = self.undelivered(seq, partial);
        }
        // Blocks wholly acknowledged go; one straddling `seq` keeps its rest.
        let keep = self.blocks.partition_point(|&(_, hi)| hi <= seq);
        self.blocks.remove_range(0..keep);
        if let Some(first) = self.blocks.first_mut() {
            first.0 = first.0.max(seq);
            if first.0 == self.last_reassem {
                self.deliver();
            }
        }
        self.trim_seq = seq;
        gaps
    }

    /// `TCP_Reassembler::Undelivered(up_to_seq)`.
    fn undelivered(&mut self, up_to: u64, partial: bool) -> Gaps {
        let mut gaps = Gaps::default();
        if up_to <= 2 && partial {
            return gaps;
        }
        if !self.skip_deliveries {
            let mut gap = |len: u64| {
                gaps.count += 1;
                gaps.bytes = gaps.bytes.saturating_add(len);
            };
            let mut i = self
                .blocks
                .partition_point(|&(lo, _)| lo < self.last_reassem);
            while i < self.blocks.len() && self.blocks[i].0 < up_to {
                let (lo, hi) = self.blocks[i];
                gap(lo - self.last_reassem);
                self.last_reassem = hi;
                i += 1;
            }
            if up_to > self.last_reassem {
                gap(up_to - self.last_reassem);
            }
        }
        self.last_reassem = self.last_reassem.max(up_to);
        gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_follows_contiguous_data() {
        let mut r = Reassembler::default();
        assert!(r.new_block(1, 100));
        assert_eq!(r.last_reassem, 101);
        assert!(!r.new_block(201, 100), "above a hole: held, not delivered");
        assert_eq!((r.last_reassem, r.blocks.len()), (101, 2));
        assert!(r.new_block(101, 100), "the hole filled: both delivered");
        assert_eq!((r.last_reassem, &r.blocks[..]), (301, &[(1, 301)][..]));
    }

    #[test]
    fn an_ack_past_missing_data_gives_one_gap_per_range() {
        let mut r = Reassembler::default();
        r.new_block(1, 100);
        r.new_block(201, 100);
        r.new_block(401, 100);
        // Missing: [101, 201) and [301, 401), and [501, 601) acknowledged unseen.
        assert_eq!(
            r.trim(601, false),
            Gaps {
                count: 3,
                bytes: 300
            }
        );
        assert_eq!((r.last_reassem, r.has_blocks()), (601, false));
    }

    #[test]
    fn data_below_the_acknowledged_point_never_fills_a_hole() {
        let mut r = Reassembler::default();
        r.trim(101, false);
        assert!(!r.new_block(50, 40), "wholly acknowledged");
        assert!(r.new_block(90, 30), "only [101, 120) is kept");
        assert_eq!(r.last_reassem, 120);
    }

    #[test]
    fn a_partial_connections_first_octet_is_no_gap() {
        let mut r = Reassembler::default();
        assert_eq!(r.trim(2, true), Gaps::default());
        // Zeek leaves the delivery point where it was (its TODO in Undelivered).
        assert_eq!((r.last_reassem, r.trim_seq()), (1, 2));
    }

    #[test]
    fn sizes_come_from_sequence_numbers_like_zeeks() {
        let mut e = Endpoint::default();
        e.init_all(1000, 1000, 1001);
        e.update_last(1101);
        assert_eq!(e.size(ZeekState::Established), 100);
        e.fin_seen = true;
        e.update_last(1102);
        assert_eq!(e.size(ZeekState::Established), 100);
        // A wrap: the count goes up, the size keeps growing.
        let mut w = Endpoint::default();
        w.init_all(u32::MAX - 9, u32::MAX - 9, u32::MAX - 8);
        w.update_last(40);
        assert_eq!(w.size(ZeekState::Established), 49);
    }

    /// The reassembler's shortcuts ([`Reassembler::append_in_order`],
    /// [`Reassembler::trim_delivered`]) leave it as the rules do: random
    /// data (in order, overlapping, above holes, below the acknowledged
    /// point, enormous), acknowledgements (behind, at, past the data) and
    /// sides that do or do not acknowledge, applied to one endpoint the
    /// usual way and to one by the rules alone, which must agree after
    /// every step.
    #[test]
    fn the_reassemblers_shortcuts_agree_with_the_rules() {
        let mut state = 5u64;
        let mut dice = move |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        let (mut short, mut total) = (0, 0);
        for round in 0..4000 {
            let mut fast = Endpoint::default();
            fast.init_all(1000, 1000, 1001);
            if dice(2) == 0 {
                // The peer acknowledged data: no trimming on insertion.
                fast.update_ack(1500);
            }
            let mut rules = fast.clone();
            let mut next = 1u64;
            for step in 0..60 {
                match dice(10) {
                    0..=4 => {
                        let seq = match dice(8) {
                            0 => next.saturating_sub(dice(3000)),
                            1 => next + dice(3000),
                            2 => dice(5),
                            _ => next,
                        };
                        let len = match dice(20) {
                            0 => 11 * 1024 * 1024,
                            1 => 0,
                            _ => 1 + dice(1500),
                        };
                        if seq + len > next {
                            // update_last_seq comes first (relative 1 is 1001).
                            next = seq + len;
                            fast.update_last(1000 + next as u32);
                            rules.update_last(1000 + next as u32);
                        }
                        short += usize::from(
                            !fast.reasm.skip_deliveries
                                && (!fast.no_data_acked()
                                    || fast.size(ZeekState::Established) <= MAX_INITIAL_WINDOW)
                                && fast.reasm.clone().append_in_order(seq, len),
                        );
                        fast.data_sent(seq, len, ZeekState::Established);
                        rules.data_sent_by_rules(seq, len, ZeekState::Established);
                    }
                    5..=8 => {
                        let ack = match dice(6) {
                            0 => next + dice(3000),
                            1 => next.saturating_sub(dice(3000)),
                            2 => dice(4),
                            _ => next,
                        };
                        let partial = dice(4) == 0;
                        short += usize::from(fast.reasm.clone().trim_delivered(ack));
                        assert_eq!(
                            fast.reasm.trim(ack, partial),
                            rules.reasm.trim_by_rules(ack, partial)
                        );
                    }
                    _ => {
                        let ack = 1000 + dice(next + 10) as u32;
                        fast.update_ack(ack);
                        rules.update_ack(ack);
                    }
                }
                total += 1;
                assert_eq!(
                    format!("{fast:?}"),
                    format!("{rules:?}"),
                    "round {round}, step {step}"
                );
            }
        }
        // A block starting right at the delivery point, which no sequence
        // of calls above leaves behind: a trim delivers it.
        let mut fast = Reassembler {
            last_reassem: 100,
            trim_seq: 50,
            ..Reassembler::default()
        };
        fast.blocks.push((100, 200));
        let mut rules = fast.clone();
        assert_eq!(fast.trim(80, false), rules.trim_by_rules(80, false));
        assert_eq!(format!("{fast:?}"), format!("{rules:?}"));
        assert_eq!(fast.last_reassem, 200);
        // The shortcuts were taken often, and not always.
        assert!(
            short > total / 4 && short < total * 3 / 4,
            "{short} of {total}"
        );
    }

    #[test]
    fn numbers_before_the_start_underflow() {
        let mut e = Endpoint::default();
        e.init_all(1000, 1000, 1001);
        assert_eq!(e.relative(1001, 1001, 0), (1, false));
        assert!(e.relative(900, 1001, 0).1);
    }
}
