//! Zeek's view of a connection, for users who read conn.log: `conn_state`
//! (S0, S1, SF, REJ, ...) and the `history` string, computed the way Zeek's TCP
//! analyzer and `base/protocols/conn` document and implement them.
//!
//! Zeek tracks its own coarse endpoint states (INACTIVE, SYN_SENT,
//! SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET), separate from the RFC
//! machines; `conn_state` is derived from those two states and the history in
//! one function, [`ZeekTracker::conn_state`]. The originator is our client;
//! when the capture's first packet came from the server Zeek would have flipped
//! roles at creation, so the history starts with `^`.
//!
//! Differences kept on purpose: connections are split as Wireshark splits them
//! (Zeek would also split a simultaneous open in two), checksums are not
//! verified (no `C`), and Zeek's timers (5 s attempt timeout) are not emulated.

use crate::model::{Segment, SeqNum, Side};

/// Zeek's endpoint states (`TCP_INACTIVE` ... `TCP_RESET`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ZeekState {
    #[default]
    /// Inactive.
    Inactive,
    /// Syn sent.
    SynSent,
    /// Syn ack sent.
    SynAckSent,
    /// Partial.
    Partial,
    /// Established.
    Established,
    /// Closed.
    Closed,
    /// Reset.
    Reset,
}

const HIST_SYN: u8 = 0x01;
const HIST_FIN: u8 = 0x02;
const HIST_RST: u8 = 0x04;
const HIST_FIN_RST: u8 = 0x08;
const HIST_DATA: u8 = 0x10;
const HIST_ACK: u8 = 0x20;
const HIST_MULTI_FLAG: u8 = 0x40;

/// A letter logged at the 1st, 10th, 100th... occurrence (Zeek's ScaledHistoryEntry).
#[derive(Clone, Copy, Debug)]
struct Scaled {
    count: u32,
    threshold: u32,
}

impl Default for Scaled {
    fn default() -> Scaled {
        Scaled {
            count: 0,
            threshold: 1,
        }
    }
}

impl Scaled {
    /// Counts one occurrence; true when the letter is to be logged.
    fn hit(&mut self) -> bool {
        self.count += 1;
        if self.count == self.threshold {
            match self.threshold.checked_mul(10) {
                Some(t) => self.threshold = t,
                None => self.count = 0,
            }
            true
        } else {
            false
        }
    }
}

#[derive(Clone, Debug, Default)]
struct ZeekEndpoint {
    state: ZeekState,
    prev_state: ZeekState,
    /// Sequence numbers unwrapped to 64 bits.
    start: i64,
    last: i64,
    ack: i64,
    seen_any_seq: bool,
    fin_count: u32,
    /// Relative positions of the last SYN, FIN and RST (a repeat at the same place adds no letter).
    last_syn: i64,
    last_fin: i64,
    last_rst: i64,
    rxmit: Scaled,
    zero_window: Scaled,
    gap: Scaled,
    bad_checksum: Scaled,
    /// Ranges of this side's stream never captured, not yet acknowledged.
    holes: Vec<(i64, i64)>,
    missed_bytes: u64,
}

impl ZeekEndpoint {
    fn set_state(&mut self, s: ZeekState) {
        if s != self.state {
            self.prev_state = self.state;
            self.state = s;
        }
    }

    /// Brings a raw 32-bit number next to `reference` on the 64-bit line.
    fn unwrap(reference: i64, raw: u32) -> i64 {
        reference + i64::from(SeqNum(raw).since(SeqNum(reference as u32)))
    }

    /// Zeek's `Size()`: stream bytes from sequence numbers, SYN and FIN excluded.
    fn size(&self, peer_state: ZeekState) -> u64 {
        let no_data_acked = self.ack == self.start || self.ack == self.start + 1;
        if self.prev_state == ZeekState::SynSent
            && self.state == ZeekState::Reset
            && peer_state == ZeekState::Inactive
            && !no_data_acked
        {
            return 0;
        }
        let mut size = self.last.max(self.ack) - self.start;
        if size != 0 {
            size -= 1;
        }
        if self.fin_count > 0 && size != 0 {
            size -= 1;
        }
        size.max(0) as u64
    }

    fn clean(&self) -> bool {
        self.state == ZeekState::Established
            || (self.state == ZeekState::Closed && self.prev_state == ZeekState::Established)
    }
}

/// Follows one connection as Zeek would and builds its history.
#[derive(Clone, Debug, Default)]
pub struct ZeekTracker {
    ends: [ZeekEndpoint; 2],
    history: String,
    hist_seen: [u8; 2],
    started: bool,
}

impl ZeekTracker {
    /// A new, empty one.
    pub fn new() -> ZeekTracker {
        ZeekTracker::default()
    }

    fn letter(&mut self, side: Side, upper: char) {
        self.history.push(match side {
            Side::Client => upper,
            Side::Server => upper.to_ascii_lowercase(),
        });
    }

    /// Logs `upper` once per direction; true if it had been logged before.
    fn check(&mut self, side: Side, mask: u8, upper: char) -> bool {
        let seen = &mut self.hist_seen[side as usize];
        if *seen & mask != 0 {
            return true;
        }
        *seen |= mask;
        self.letter(side, upper);
        false
    }

    /// A segment from `from` whose checksum is wrong: Zeek logs the scaled `C`
    /// letter and otherwise ignores the packet.
    pub fn on_bad_checksum(&mut self, from: Side) {
        if self.ends[from as usize].bad_checksum.hit() {
            self.letter(from, 'C');
        }
    }

    /// Feeds one segment sent by `from` (client = Zeek's originator).
    pub fn on_segment(&mut self, seg: &Segment, from: Side) {
        if !self.started {
            self.started = true;
            let plain_syn = seg.flags.syn() && !seg.flags.ack();
            if from == Side::Server && !plain_syn {
                // Zeek flips roles at creation when the first packet comes from the server.
                self.history.push('^');
            }
        }
        if seg.bad_header_len {
            return; // Zeek drops these before any processing
        }
        let f = seg.flags;
        let (i, p) = (from as usize, 1 - from as usize);
        let len = seg.payload_len as i64;
        let mut seg_len = len + f.syn() as i64 + f.fin() as i64;
        if f.rst() {
            seg_len -= len;
        }
        self.init_endpoint(i, seg, seg_len);
        let ep = &self.ends[i];
        let rel_seq = ZeekEndpoint::unwrap(ep.last, seg.seq) - ep.start;
        let seq64 = rel_seq + ep.start;
        self.update_history(from, rel_seq, len, seg);
        // Zero window: W/w, unless RST, the peer closed, or the sender reset.
        if seg.window == 0
            && !f.rst()
            && self.ends[p].state != ZeekState::Closed
            && self.ends[i].state != ZeekState::Reset
            && self.ends[i].zero_window.hit()
        {
            self.letter(from, 'W');
        }
        if f.fin() {
            self.ends[i].fin_count += 1;
        }
        let mut ack64 = None;
        if f.ack() {
            let peer = &mut self.ends[p];
            if peer.state == ZeekState::Inactive && !peer.seen_any_seq {
                let a = seg.ack as i64 - 1;
                peer.start = a;
                peer.last = a;
                peer.ack = a;
                peer.seen_any_seq = true;
                ack64 = Some(a + 1);
            } else {
                let a = ZeekEndpoint::unwrap(peer.ack, seg.ack);
                if !f.rst() && a > peer.ack {
                    peer.ack = a;
                }
                ack64 = Some(a);
            }
        }
        // Highest sequence seen, retransmissions (T/t) and holes in the stream.
        let end64 = seq64 + seg_len;
        let ep = &mut self.ends[i];
        let delta = end64 - ep.last;
        let mut retransmitted = false;
        if (f.syn() || f.rst()) && delta.abs() > 1_048_576 {
        } else if f.fin() && ep.last == ep.start + 1 {
            ep.last = end64;
        } else if ep.state == ZeekState::Reset {
        } else if delta > 0 {
            if seq64 > ep.last && len > 0 && ep.holes.len() < 64 {
                ep.holes.push((ep.last, seq64));
            }
            ep.last = end64;
        } else if len > 0 {
            retransmitted = true;
        }
        if len > 0 && !f.rst() {
            ep.holes.retain_mut(|h| {
                // Captured data fills (part of) a hole.
                if seq64 <= h.0 && end64 >= h.1 {
                    return false;
                }
                if seq64 <= h.0 && end64 > h.0 {
                    h.0 = end64;
                } else if seq64 < h.1 && end64 >= h.1 {
                    h.1 = seq64;
                }
                h.0 < h.1
            });
        }
        if retransmitted && self.ends[i].rxmit.hit() {
            self.letter(from, 'T');
        }
        self.update_state(from, seg, seq64);
        if let (Some(a), false) = (ack64, f.rst()) {
            self.gaps_revealed_by_ack(from.peer(), a);
        }
    }

    fn init_endpoint(&mut self, i: usize, seg: &Segment, seg_len: i64) {
        let ep = &mut self.ends[i];
        let f = seg.flags;
        let reinit = |ep: &mut ZeekEndpoint| {
            let s = seg.seq as i64;
            ep.start = s;
            ep.ack = s;
            ep.last = s + seg_len;
            ep.seen_any_seq = true;
        };
        match ep.state {
            ZeekState::Inactive => {
                if f.syn() {
                    reinit(ep);
                } else if !ep.seen_any_seq || ep.start == ep.last {
                    let s = seg.seq as i64;
                    ep.start = s - 1;
                    ep.ack = s - 1;
                    ep.last = s;
                    ep.seen_any_seq = true;
                }
            }
            ZeekState::SynSent | ZeekState::SynAckSent => {
                if f.syn() && ZeekEndpoint::unwrap(ep.start, seg.seq) != ep.start {
                    reinit(ep);
                }
            }
            ZeekState::Established | ZeekState::Partial => {
                if f.syn() {
                    reinit(ep);
                }
            }
            ZeekState::Reset => {
                if f.syn() && ep.prev_state == ZeekState::Inactive {
                    reinit(ep);
                }
            }
            ZeekState::Closed => {}
        }
    }

    fn update_history(&mut self, from: Side, rel_seq: i64, len: i64, seg: &Segment) {
        let f = seg.flags;
        let i = from as usize;
        let controls = f.syn() as u8 + f.fin() as u8 + f.rst() as u8;
        if controls > 1 {
            if f.fin() && f.rst() {
                self.check(from, HIST_FIN_RST, 'I');
            } else {
                self.check(from, HIST_MULTI_FLAG, 'Q');
            }
        } else if controls == 1 {
            if f.syn() {
                let c = if f.ack() { 'H' } else { 'S' };
                if self.check(from, HIST_SYN, c) && rel_seq != self.ends[i].last_syn {
                    self.letter(from, c);
                }
                self.ends[i].last_syn = rel_seq;
            }
            if f.fin() {
                if self.check(from, HIST_FIN, 'F') && rel_seq + len != self.ends[i].last_fin {
                    self.letter(from, 'F');
                }
                self.ends[i].last_fin = rel_seq + len;
            }
            if f.rst() {
                if self.check(from, HIST_RST, 'R') && rel_seq != self.ends[i].last_rst {
                    self.letter(from, 'R');
                }
                self.ends[i].last_rst = rel_seq;
            }
        } else if len > 0 {
            self.check(from, HIST_DATA, 'D');
        } else if f.ack() {
            self.check(from, HIST_ACK, 'A');
        }
    }

    /// Zeek's UpdateStateMachine, dispatched on the sender's state.
    fn update_state(&mut self, from: Side, seg: &Segment, seq64: i64) {
        use ZeekState::*;
        let f = seg.flags;
        let is_orig = from == Side::Client;
        let (i, p) = (from as usize, 1 - from as usize);
        let len = seg.payload_len;
        match self.ends[i].state {
            Inactive => {
                if f.syn() {
                    if is_orig {
                        self.ends[i].set_state(if f.ack() { SynAckSent } else { SynSent });
                    } else {
                        if !f.ack()
                            && self.ends[p].state == SynAckSent
                            && seq64 == self.ends[i].start
                        {
                            // SYN/SYN-ACK reversal: Zeek flips and establishes both.
                            self.history.push('^');
                            self.ends[p].set_state(Established);
                        }
                        if self.ends[p].state == SynSent {
                            self.ends[p].set_state(Established);
                        }
                        self.ends[i].set_state(Established);
                    }
                }
                if f.fin() {
                    self.ends[i].set_state(Closed);
                }
                if f.rst() {
                    self.ends[i].set_state(Reset);
                }
                if self.ends[i].state == Inactive {
                    let orig_syn_sent = self.ends[0].state == SynSent;
                    if !is_orig && len == 0 && orig_syn_sent {
                        // An ACK of the SYN before the SYN-ACK: not a partial connection.
                    } else if f.ack() && self.ends[p].state == Established {
                        self.ends[i].set_state(Established);
                    } else {
                        self.ends[i].set_state(Partial);
                    }
                }
            }
            SynSent | SynAckSent => {
                if f.fin() {
                    self.ends[i].set_state(Closed);
                }
                if f.rst() {
                    self.ends[i].set_state(Reset);
                }
            }
            Established | Partial => {
                if f.syn()
                    && self.ends[i].state == Partial
                    && self.ends[p].state == Inactive
                    && !f.ack()
                {
                    self.ends[i].set_state(SynSent);
                }
                if f.fin() && !f.rst() {
                    self.ends[i].set_state(Closed);
                    if self.ends[p].state == Reset && self.ends[p].prev_state == Closed {
                        self.ends[p].set_state(Closed);
                    }
                }
                if f.rst() {
                    self.ends[i].set_state(Reset);
                }
            }
            Closed => {
                if f.rst() && self.ends[p].state != Closed {
                    self.ends[i].set_state(Reset);
                }
            }
            Reset => {}
        }
    }

    /// An ACK from the peer of `side` covering parts of `side`'s stream the
    /// capture never saw: Zeek's content gap (G/g) and missed_bytes.
    fn gaps_revealed_by_ack(&mut self, side: Side, ack64: i64) {
        if !(self.ends[0].clean() && self.ends[1].clean()) {
            return;
        }
        let ep = &mut self.ends[side as usize];
        // Data acknowledged beyond anything captured is a gap too (FIN octet excluded).
        let fin_excluded = if ep.fin_count > 0 { 1 } else { 0 };
        if ack64 - fin_excluded > ep.last && ep.seen_any_seq {
            let last = ep.last;
            ep.holes.push((last, ack64 - fin_excluded));
            ep.last = ack64 - fin_excluded;
        }
        let mut revealed = Vec::new();
        ep.holes.retain(|&(a, b)| {
            if b <= ack64 {
                revealed.push(b - a);
                false
            } else {
                true
            }
        });
        for n in revealed {
            let ep = &mut self.ends[side as usize];
            ep.missed_bytes += n as u64;
            if ep.gap.hit() {
                self.letter(side, 'G');
            }
        }
    }

    /// The history string, as conn.log's `history`.
    pub fn history(&self) -> &str {
        &self.history
    }

    /// Payload bytes Zeek would report per side (from sequence numbers).
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.ends[0].size(self.ends[1].state),
            self.ends[1].size(self.ends[0].state),
        )
    }

    /// Bytes of the two streams the capture missed (conn.log `missed_bytes`).
    pub fn missed_bytes(&self) -> u64 {
        self.ends[0].missed_bytes + self.ends[1].missed_bytes
    }

    /// conn.log's `conn_state`, from the two endpoint states and the history,
    /// in the order `base/protocols/conn/main.zeek` decides it.
    pub fn conn_state(&self) -> &'static str {
        use ZeekState::*;
        let (os, rs) = (self.ends[0].state, self.ends[1].state);
        let o_inactive = matches!(os, Inactive | Partial);
        let r_inactive = matches!(rs, Inactive | Partial);
        let (osize, rsize) = self.bytes();
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent) || (os == Reset && osize == 0 && rsize == 0) {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Reset {
            if r_inactive {
                if rstos0_pattern(&self.history) {
                    "RSTOS0"
                } else {
                    "OTH"
                }
            } else {
                "RSTO"
            }
        } else if rs == Closed && os == Closed {
            "SF"
        } else if os == Closed {
            if r_inactive {
                "SH"
            } else {
                "S2"
            }
        } else if rs == Closed {
            if o_inactive {
                "SHR"
            } else {
                "S3"
            }
        } else if os == SynSent && rs == Inactive {
            "S0"
        } else if os == Established && rs == Established {
            "S1"
        } else {
            "OTH"
        }
    }
}

/// Zeek's `/\^?S[^HAFGIQ]*R.*/` matched against the whole history: the
/// originator's SYN, then a RST with no handshake or data letters between.
fn rstos0_pattern(history: &str) -> bool {
    let h = history.strip_prefix('^').unwrap_or(history);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        if c == 'R' {
            return true;
        }
        if "HAFGIQ".contains(c) {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::decoded_segments;
    use tcpstate_synth::{Conv, Side as S, TcpFlags as F};

    fn zeek(c: &Conv) -> ZeekTracker {
        let mut z = ZeekTracker::new();
        for (seg, side) in decoded_segments(c) {
            z.on_segment(&seg, side);
        }
        z
    }

    fn conv() -> Conv {
        Conv::new(
            "10.0.0.1:50000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            1000,
            5000,
        )
    }

    /// The worked examples of Zeek's behaviour: (name, script, history, conn_state).
    #[test]
    fn history_and_conn_state() {
        type Script = fn(&mut Conv);
        let rows: Vec<(&str, Script, &str, &str)> = vec![
            (
                "normal exchange, FIN both sides",
                |c| {
                    c.handshake();
                    c.data(S::Client, 100);
                    c.ack(S::Server);
                    c.data(S::Server, 500);
                    c.ack(S::Client);
                    c.fin(S::Client);
                    c.fin(S::Server);
                    c.ack(S::Client);
                },
                "ShADadFf",
                "SF",
            ),
            (
                "refused",
                |c| {
                    c.syn();
                    c.refuse();
                },
                "Sr",
                "REJ",
            ),
            (
                "SYN unanswered, retransmitted",
                |c| {
                    c.syn();
                    c.retransmit_last(S::Client);
                },
                "S",
                "S0",
            ),
            (
                "SYN, SYN-ACK, RST from the originator",
                |c| {
                    c.syn();
                    c.syn_ack();
                    c.rst(S::Client);
                },
                "ShR",
                "RSTO",
            ),
            (
                "SYN then RST, no answer",
                |c| {
                    c.syn();
                    c.rst(S::Client);
                },
                "SR",
                "RSTOS0",
            ),
            (
                "mid-stream data only",
                |c| {
                    *c = Conv::established(c.addr(S::Client), c.addr(S::Server), 20000, 90000);
                    c.data(S::Client, 200);
                    c.data(S::Server, 1000);
                    c.ack(S::Client);
                },
                "DdA",
                "OTH",
            ),
            (
                "RST from the responder after data",
                |c| {
                    c.handshake();
                    c.data(S::Client, 100);
                    c.rst(S::Server);
                },
                "ShADr",
                "RSTR",
            ),
            (
                "FIN from the originator only",
                |c| {
                    c.handshake();
                    c.data(S::Client, 50);
                    c.ack(S::Server);
                    c.fin(S::Client);
                    c.ack(S::Server);
                },
                "ShADaF",
                "S2",
            ),
            (
                "retransmitted data",
                |c| {
                    c.handshake();
                    c.data(S::Client, 100);
                    c.retransmit_last(S::Client);
                    c.ack(S::Server);
                    c.fin(S::Client);
                    c.fin(S::Server);
                    c.ack(S::Client);
                },
                "ShADTaFf",
                "SF",
            ),
            (
                "content gap",
                |c| {
                    c.handshake();
                    c.data(S::Client, 100);
                    c.data(S::Client, 100);
                    c.data(S::Client, 100);
                    c.segments_mut().remove(4);
                    c.ack(S::Server);
                    c.fin(S::Client);
                    c.fin(S::Server);
                },
                "ShADaGFf",
                "SF",
            ),
            (
                "SYN-ACK only, from the server",
                |c| {
                    c.syn();
                    c.syn_ack();
                    c.segments_mut().remove(0);
                },
                "^h",
                "OTH",
            ),
            (
                "zero window",
                |c| {
                    c.handshake();
                    c.raw(S::Server, F::ACK, 5001, 1001, 0).window = 0;
                },
                "ShAaw",
                "S1",
            ),
        ];
        for (name, script, history, state) in rows {
            let mut c = conv();
            script(&mut c);
            let z = zeek(&c);
            assert_eq!((z.history(), z.conn_state()), (history, state), "{name}");
        }
    }

    #[test]
    fn scaled_letters_at_one_ten_hundred() {
        let mut c = conv();
        c.handshake();
        c.data(S::Client, 10);
        for _ in 0..12 {
            c.retransmit_last(S::Client);
        }
        let z = zeek(&c);
        assert_eq!(z.history(), "ShADTT");
    }

    #[test]
    fn bytes_come_from_sequence_numbers() {
        let mut c = conv();
        c.handshake();
        c.data(S::Client, 100);
        c.data(S::Server, 500);
        c.fin(S::Client);
        c.fin(S::Server);
        assert_eq!(zeek(&c).bytes(), (100, 500));
    }

    #[test]
    fn rstos0_regex() {
        assert!(rstos0_pattern("SR"));
        assert!(rstos0_pattern("^STR"));
        // Case matters: the responder's lowercase h does not stop the match.
        assert!(rstos0_pattern("ShR"));
        assert!(!rstos0_pattern("SHR"));
        assert!(!rstos0_pattern("DR"));
    }
}
