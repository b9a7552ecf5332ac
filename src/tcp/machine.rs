//! The paired RFC 9293 state machines: one per endpoint, client and server,
//! driven by the segments the capture saw, recording every transition.
//!
//! # The vantage-point rule
//!
//! A capture sees segments on the wire, not the endpoints, so every transition
//! is attributed to a frame by one rule:
//!
//! * a **sender's** transition (sending SYN, FIN or RST) happens at the frame
//!   that carries its segment;
//! * a **receiver's** transition (receiving SYN, SYN-ACK, FIN, the ACK of its
//!   SYN or FIN, or an acceptable RST) is attributed to the frame that delivers
//!   the triggering segment: delivery is assumed unless later evidence shows the
//!   segment was lost;
//! * evidence of loss moves or withdraws the receiver's transition:
//!   - the sender retransmits a SYN or FIN the receiver had not acknowledged:
//!     the receiver's transition moves to the retransmission's frame;
//!   - a side retransmits the SYN-ACK or FIN whose acknowledgement moved it:
//!     the ACK was lost, the transition is withdrawn and happens again at the
//!     next acknowledgement;
//!   - the server never answers a SYN (or answers with RST): its transitions
//!     caused by the SYN are withdrawn, it stayed in LISTEN (or, refused, it was
//!     CLOSED all along, with no listener);
//! * transitions that had to be inferred without their triggering segment
//!   (capture started mid-connection, SYN or SYN-ACK not captured) are marked
//!   `inferred` and name the frame that proved them.
//!
//! Processing of one segment follows RFC 9293 section 3.10.7's order: RST, then
//! SYN, then ACK, then data, then FIN. Sequence numbers use serial-number
//! arithmetic; SYN and FIN each occupy one sequence number. TIME_WAIT lasts
//! 2*MSL of capture time. Retransmissions, keep-alives and window probes do not
//! move states.

use std::fmt;

use serde::Serialize;

use crate::anomaly::{Anomaly, AnomalyCode, AnomalyLog, Detail, LogMark};
use crate::model::{scaled_window, PeerSyn, Segment, SeqNum, Side, TcpFlags};

/// The eleven states of RFC 9293, displayed with their RFC names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    #[default]
    /// No connection (RFC 9293 CLOSED).
    Closed,
    /// Waiting for a SYN.
    Listen,
    /// Sent a SYN, waiting for the peer's.
    SynSent,
    /// Received a SYN and answered; waiting for its acknowledgement.
    SynRcvd,
    /// Open: data flows both ways.
    Established,
    /// Sent FIN, not yet acknowledged.
    FinWait1,
    /// FIN acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// Both FINs crossed; waiting for the ACK of ours.
    Closing,
    /// Closed actively; waiting 2*MSL for stray segments.
    TimeWait,
    /// Received the peer's FIN; the application has not closed yet.
    CloseWait,
    /// Closed passively; waiting for the ACK of our FIN.
    LastAck,
}

impl State {
    /// The eleven states in RFC order.
    pub const ALL: [State; 11] = [
        State::Closed,
        State::Listen,
        State::SynSent,
        State::SynRcvd,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::Closing,
        State::TimeWait,
        State::CloseWait,
        State::LastAck,
    ];

    /// The RFC name, e.g. `TIME_WAIT`.
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN_SENT",
            State::SynRcvd => "SYN_RCVD",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN_WAIT_1",
            State::FinWait2 => "FIN_WAIT_2",
            State::Closing => "CLOSING",
            State::TimeWait => "TIME_WAIT",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
        }
    }

    /// Parses an RFC name (`ESTABLISHED`, `time_wait`, `TIME-WAIT`...).
    pub fn from_name(s: &str) -> Option<State> {
        let norm = s.trim().to_ascii_uppercase().replace('-', "_");
        State::ALL.into_iter().find(|st| st.name() == norm)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for State {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Is `from -> to` an edge of the RFC 9293 state diagram (section 3.3.2)?
/// Any state may also go to CLOSED on RST, and SYN_RCVD back to LISTEN.
pub fn is_rfc_edge(from: State, to: State) -> bool {
    use State::*;
    matches!(
        (from, to),
        (Closed, Listen)
            | (Closed, SynSent)
            | (Listen, SynRcvd)
            | (Listen, SynSent)
            | (Listen, Closed)
            | (SynSent, SynRcvd)
            | (SynSent, Established)
            | (SynSent, Closed)
            | (SynRcvd, Established)
            | (SynRcvd, FinWait1)
            | (SynRcvd, Listen)
            | (Established, FinWait1)
            | (Established, CloseWait)
            | (FinWait1, FinWait2)
            | (FinWait1, Closing)
            | (FinWait1, TimeWait)
            | (FinWait2, TimeWait)
            | (Closing, TimeWait)
            | (CloseWait, LastAck)
            | (LastAck, Closed)
            | (TimeWait, Closed)
    ) || (to == Closed && from != Closed)
}

/// Why a transition happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The side sent a SYN.
    SentSyn,
    /// The side received the peer's SYN.
    ReceivedSyn,
    /// The side received a SYN-ACK for its SYN.
    ReceivedSynAck,
    /// The side received the acknowledgement of its SYN.
    ReceivedAckOfSyn,
    /// The side sent a FIN.
    SentFin,
    /// The side received the peer's FIN.
    ReceivedFin,
    /// The side received the acknowledgement of its FIN.
    ReceivedAckOfFin,
    /// One segment brought the peer's FIN and the ACK of ours.
    ReceivedFinAndAckOfFin,
    /// The side sent a RST.
    SentRst,
    /// The side received an acceptable RST.
    ReceivedRst,
    /// 2*MSL of capture time passed in TIME_WAIT.
    TimeWaitExpired,
    /// A new connection took over the address/port pair.
    PortReused,
    /// Inferred: the capture started after this part of the handshake.
    MidstreamStart,
    /// Inferred: a SYN-ACK was seen without its SYN.
    SynNotCaptured,
    /// Inferred: the client acknowledged a SYN-ACK the capture never saw.
    SynAckNotCaptured,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cause::SentSyn => "sent SYN",
            Cause::ReceivedSyn => "received SYN",
            Cause::ReceivedSynAck => "received SYN-ACK",
            Cause::ReceivedAckOfSyn => "received ACK of its SYN",
            Cause::SentFin => "sent FIN",
            Cause::ReceivedFin => "received FIN",
            Cause::ReceivedAckOfFin => "received ACK of its FIN",
            Cause::ReceivedFinAndAckOfFin => "received FIN with ACK of its FIN",
            Cause::SentRst => "sent RST",
            Cause::ReceivedRst => "received RST",
            Cause::TimeWaitExpired => "2*MSL elapsed in TIME_WAIT",
            Cause::PortReused => "address/port pair reused by a new connection",
            Cause::MidstreamStart => "inferred: capture started mid-connection",
            Cause::SynNotCaptured => "inferred: SYN-ACK seen without its SYN",
            Cause::SynAckNotCaptured => "inferred: ACK of a SYN-ACK the capture missed",
        })
    }
}

/// One state change of one side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The frame it is attributed to; `None` for timer expiry.
    pub frame: Option<u64>,
    /// When, in ns since the epoch (the frame's time, or the timer's).
    pub ts_ns: i64,
    /// Whose state changed.
    pub side: Side,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why.
    pub cause: Cause,
    /// True when the triggering segment was not captured.
    pub inferred: bool,
    /// For inferred transitions, the frame that proves them.
    pub evidence_frame: Option<u64>,
    /// Withdrawn by later evidence of loss; kept so indices stay stable.
    #[serde(skip)]
    withdrawn: bool,
}

/// Thresholds and timers, in capture time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Maximum segment lifetime; TIME_WAIT lasts twice this.
    pub msl_ns: i64,
    /// How long a side may sit in CLOSE_WAIT before `close_wait_stuck`.
    pub close_wait_threshold_ns: i64,
    /// How long a side may sit in FIN_WAIT_2 before `fin_wait_2_stuck`.
    pub fin_wait_2_threshold_ns: i64,
}

impl Default for Config {
    /// MSL 30 s (TIME_WAIT 60 s, as Linux); both stuck thresholds 60 s
    /// (Linux's tcp_fin_timeout).
    fn default() -> Config {
        Config {
            msl_ns: 30_000_000_000,
            close_wait_threshold_ns: 60_000_000_000,
            fin_wait_2_threshold_ns: 60_000_000_000,
        }
    }
}

/// How a connection ended, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Both sides sent FIN.
    Closed,
    /// Only one side sent FIN.
    HalfClosed,
    /// The client aborted with RST.
    ResetByClient,
    /// The server aborted with RST.
    ResetByServer,
    /// The server answered the SYN with RST.
    Refused,
    /// The SYN got no answer.
    SynUnanswered,
    /// The handshake stopped in SYN_RCVD.
    HalfOpen,
    /// A RST ended the handshake.
    HandshakeReset,
    /// Still open at the end of the capture.
    Open,
    /// No handshake and no data: only stray or invalid segments.
    NoConnection,
}

impl Outcome {
    /// Every outcome, in the order of the type.
    pub const ALL: [Outcome; 10] = [
        Outcome::Closed,
        Outcome::HalfClosed,
        Outcome::ResetByClient,
        Outcome::ResetByServer,
        Outcome::Refused,
        Outcome::SynUnanswered,
        Outcome::HalfOpen,
        Outcome::HandshakeReset,
        Outcome::Open,
        Outcome::NoConnection,
    ];

    /// Parses a report name (`reset_by_client`, `RESET-BY-CLIENT`...).
    pub fn from_name(s: &str) -> Option<Outcome> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Outcome::ALL.into_iter().find(|o| o.name() == norm)
    }

    /// The snake_case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Closed => "closed",
            Outcome::HalfClosed => "half_closed",
            Outcome::ResetByClient => "reset_by_client",
            Outcome::ResetByServer => "reset_by_server",
            Outcome::Refused => "refused",
            Outcome::SynUnanswered => "syn_unanswered",
            Outcome::HalfOpen => "half_open",
            Outcome::HandshakeReset => "handshake_reset",
            Outcome::Open => "open",
            Outcome::NoConnection => "no_connection",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one side has done, as far as the capture shows: its RFC state and
/// the sequence space it used (not its address: that is `model::Endpoint`).
#[derive(Clone, Debug, Default)]
struct SideState {
    state: State,
    entered_ns: i64,
    /// Initial sequence number (of its SYN).
    iss: Option<SeqNum>,
    /// Sequence number after everything it sent, SYN and FIN included.
    snd_nxt: Option<SeqNum>,
    /// Sequence number its FIN occupies.
    fin_seq: Option<SeqNum>,
    /// Highest acknowledgement number it sent.
    ack_sent: Option<SeqNum>,
    /// Last advertised window, scaled once scaling is agreed.
    window: u32,
    window_scale: Option<u8>,
    /// Reached SYN_RCVD from LISTEN (a RST then returns it to LISTEN).
    passive: bool,
    /// Has sent at least one segment.
    sent_any: bool,
    sent_bare_syn: bool,
    sent_syn_ack: bool,
    sent_fin: bool,
    sent_rst: bool,
    /// Reached CLOSED after having opened: segments now are after-close.
    closed_after_open: bool,
    reached_established: bool,
    /// Its latest transition caused by receiving the peer's SYN or FIN:
    /// (transition index, sequence number just after that SYN or FIN).
    received_control: Option<(usize, SeqNum)>,
    /// Its latest transition caused by the ACK of its own SYN or FIN:
    /// (transition index, sequence number of that SYN or FIN).
    acked_control: Option<(usize, SeqNum)>,
    /// Frame of the segment that moved it into its current state.
    entered_frame: Option<u64>,
}

/// The two machines of one connection and everything they recorded.
#[derive(Clone, Debug)]
pub struct PairedMachines {
    cfg: Config,
    ends: [SideState; 2],
    initial: [State; 2],
    transitions: Vec<Transition>,
    anomalies: AnomalyLog,
    started: bool,
    /// Frame of the client's first SYN.
    first_syn_frame: Option<u64>,
    /// Frame of the server's first SYN-ACK.
    first_syn_ack_frame: Option<u64>,
    /// The first accepted RST: who sent it.
    reset_by: Option<Side>,
    refused: bool,
    handshake_reset: bool,
    /// A RST inside the window but not exact, obeyed until the receiver speaks.
    pending_inexact_rst: Option<InexactRst>,
    /// Index of the first transition of the current incarnation (a new SYN
    /// after both sides closed, kept in the same stream as Wireshark does).
    incarnation_start: usize,
    syn_unanswered: bool,
    half_open: bool,
}

/// What an inexact RST changed, so a challenge ACK can undo it.
#[derive(Clone, Debug)]
struct InexactRst {
    receiver: Side,
    frame: u64,
    seq: SeqNum,
    transitions_before: usize,
    anomalies_before: LogMark,
    reset_by_before: Option<Side>,
}

/// Whether a segment's flags are a combination no correct stack sends.
fn invalid_flags(f: TcpFlags) -> Option<&'static str> {
    const XMAS: u16 = TcpFlags::FIN | TcpFlags::PSH | TcpFlags::URG;
    if f.0 & 0x3f == 0 {
        Some("no flags (null scan)")
    } else if f.syn() && f.fin() {
        Some("SYN+FIN")
    } else if f.syn() && f.rst() {
        Some("SYN+RST")
    } else if f.has(XMAS) && !f.ack() {
        Some("FIN+PSH+URG (XMAS)")
    } else if f.fin() && !f.ack() {
        Some("FIN without ACK")
    } else {
        None
    }
}

impl PairedMachines {
    /// A connection before its first segment: the client CLOSED, the server
    /// LISTEN (implied: it accepted or refused a connection).
    pub fn new(cfg: Config) -> PairedMachines {
        let mut ends: [SideState; 2] = Default::default();
        ends[Side::Server.idx()].state = State::Listen;
        PairedMachines {
            cfg,
            ends,
            initial: [State::Closed, State::Listen],
            transitions: Vec::new(),
            anomalies: AnomalyLog::new(),
            started: false,
            first_syn_frame: None,
            first_syn_ack_frame: None,
            reset_by: None,
            refused: false,
            handshake_reset: false,
            pending_inexact_rst: None,
            incarnation_start: 0,
            syn_unanswered: false,
            half_open: false,
        }
    }

    fn end(&self, side: Side) -> &SideState {
        &self.ends[side.idx()]
    }

    fn end_mut(&mut self, side: Side) -> &mut SideState {
        &mut self.ends[side.idx()]
    }

    /// Current state of a side.
    pub fn state(&self, side: Side) -> State {
        self.end(side).state
    }

    /// Every transition still standing, in the order they happened.
    pub fn transitions(&self) -> impl Iterator<Item = &Transition> {
        self.transitions.iter().filter(|t| !t.withdrawn)
    }

    /// The anomalies the machines found, in the order found.
    pub fn anomalies(&self) -> &[Anomaly] {
        self.anomalies.listed()
    }

    /// Replaces the detail of a listed anomaly (see [`AnomalyLog::set_detail`]).
    pub fn set_anomaly_detail(&mut self, code: AnomalyCode, frame: u64, detail: String) {
        self.anomalies.set_detail(code, frame, detail);
    }

    /// All anomalies, listed and only counted.
    pub fn anomaly_log(&self) -> &AnomalyLog {
        &self.anomalies
    }

    /// The distinct states a side went through, initial state first.
    pub fn states(&self, side: Side) -> Vec<State> {
        let mut v = vec![self.initial[side.idx()]];
        for t in self.transitions().filter(|t| t.side == side) {
            if v.last() != Some(&t.to) {
                v.push(t.to);
            }
        }
        v
    }

    /// How the connection ended.
    pub fn outcome(&self) -> Outcome {
        let fins = (self.ends[0].sent_fin, self.ends[1].sent_fin);
        if self.refused {
            Outcome::Refused
        } else if self.syn_unanswered {
            Outcome::SynUnanswered
        } else if self.handshake_reset {
            Outcome::HandshakeReset
        } else if let Some(side) = self.reset_by {
            match side {
                Side::Client => Outcome::ResetByClient,
                Side::Server => Outcome::ResetByServer,
            }
        } else if self.half_open {
            Outcome::HalfOpen
        } else if fins.0 && fins.1 {
            Outcome::Closed
        } else if fins.0 || fins.1 {
            Outcome::HalfClosed
        } else if self.transitions().next().is_none() {
            Outcome::NoConnection
        } else {
            Outcome::Open
        }
    }

    fn anomaly(
        &mut self,
        code: AnomalyCode,
        frame: Option<u64>,
        side: Option<Side>,
        detail: String,
    ) {
        self.anomalies.record(code, frame, side, || detail);
    }

    /// An anomaly whose detail mentions sequence numbers.
    fn anomaly_at_seq(
        &mut self,
        code: AnomalyCode,
        frame: Option<u64>,
        side: Option<Side>,
        detail: Detail,
    ) {
        self.anomalies.record(code, frame, side, || detail);
    }

    /// Moves a side to `to`, recording the transition; returns its index.
    fn go(&mut self, side: Side, to: State, seg: &Segment, cause: Cause) -> usize {
        self.go_at(side, to, Some(seg.frame), seg.ts_ns, cause, None)
    }

    fn go_inferred(&mut self, side: Side, to: State, seg: &Segment, cause: Cause) -> usize {
        self.go_at(side, to, Some(seg.frame), seg.ts_ns, cause, Some(seg.frame))
    }

    fn go_at(
        &mut self,
        side: Side,
        to: State,
        frame: Option<u64>,
        ts_ns: i64,
        cause: Cause,
        evidence: Option<u64>,
    ) -> usize {
        let e = self.end_mut(side);
        let from = e.state;
        e.state = to;
        e.entered_ns = ts_ns;
        e.entered_frame = frame;
        if to == State::Established {
            e.reached_established = true;
        }
        if to == State::Closed {
            e.closed_after_open = true;
        }
        self.transitions.push(Transition {
            frame,
            ts_ns,
            side,
            from,
            to,
            cause,
            inferred: evidence.is_some(),
            evidence_frame: evidence,
            withdrawn: false,
        });
        self.transitions.len() - 1
    }

    /// Withdraws transition `idx` (later evidence says it did not happen) and
    /// puts its side back in the state it left.
    fn withdraw(&mut self, idx: usize) {
        let t = &mut self.transitions[idx];
        t.withdrawn = true;
        let (side, from) = (t.side, t.from);
        let entered = self
            .transitions
            .iter()
            .rev()
            .find(|t| !t.withdrawn && t.side == side)
            .map(|t| (t.ts_ns, t.frame));
        let e = self.end_mut(side);
        e.state = from;
        if let Some((ts, frame)) = entered {
            e.entered_ns = ts;
            e.entered_frame = frame;
        }
    }

    /// Withdraws, latest first, a side's transitions in the current incarnation
    /// (a server that never answered); its return to LISTEN at a reincarnation
    /// is kept unless `including_listen`.
    fn withdraw_incarnation(&mut self, side: Side, including_listen: bool) {
        for i in (self.incarnation_start..self.transitions.len()).rev() {
            let t = &self.transitions[i];
            if t.side == side && !t.withdrawn && (including_listen || t.cause != Cause::PortReused)
            {
                self.withdraw(i);
            }
        }
    }

    /// Index of a side's latest standing transition.
    fn last_transition_of(&self, side: Side) -> Option<usize> {
        self.transitions
            .iter()
            .rposition(|t| !t.withdrawn && t.side == side)
    }

    /// Ends TIME_WAIT for sides whose 2*MSL has elapsed by `now_ns`.
    fn expire_timers(&mut self, now_ns: i64) {
        for side in [Side::Client, Side::Server] {
            let e = self.end(side);
            if e.state == State::TimeWait {
                let expiry = e
                    .entered_ns
                    .saturating_add(self.cfg.msl_ns.saturating_mul(2));
                if now_ns >= expiry {
                    self.go_at(
                        side,
                        State::Closed,
                        None,
                        expiry,
                        Cause::TimeWaitExpired,
                        None,
                    );
                }
            }
        }
    }

    /// The pair was reused by a new connection at `seg` (a SYN with a new ISN):
    /// a side still in TIME_WAIT is taken over by it. Returns that side.
    pub fn reused_by(&mut self, seg: &Segment) -> Option<Side> {
        self.expire_timers(seg.ts_ns);
        let side = [Side::Client, Side::Server]
            .into_iter()
            .find(|s| self.state(*s) == State::TimeWait)?;
        self.go(side, State::Closed, seg, Cause::PortReused);
        Some(side)
    }

    /// Feeds one segment sent by `from`.
    pub fn on_segment(&mut self, seg: &Segment, from: Side) {
        self.expire_timers(seg.ts_ns);
        let f = seg.flags;
        if !self.started && invalid_flags(f).is_none() {
            self.start(seg, from);
        }
        if let Some(what) = invalid_flags(f) {
            // Floods of these are common (scans), so the detail is only
            // formatted when the log will list it.
            self.anomalies.record(
                AnomalyCode::InvalidFlags,
                Some(seg.frame),
                Some(from),
                || format!("{from} sent {what}"),
            );
            self.end_mut(from).sent_any = true;
            return;
        }
        if seg.bad_header_len {
            // Its fields past the fixed header cannot be trusted; count it, nothing more.
            return;
        }
        // An inexact RST is settled by the very next segment: a challenge ACK
        // from its receiver undoes it, anything else confirms it.
        if let Some(pending) = self.pending_inexact_rst.take() {
            if pending.receiver == from && !f.rst() {
                self.undo_challenged_rst(pending);
            }
        }
        if f.rst() {
            self.on_rst(seg, from);
            self.end_mut(from).sent_any = true;
            return;
        }
        if f.syn() && !f.ack() && self.both_done() {
            self.reincarnate(seg, from);
        }
        let seg_len = seg.payload_len + f.syn() as u32 + f.fin() as u32;
        let seg_end = SeqNum(seg.seq) + seg_len;
        let sender = self.end(from);
        // A SYN-ACK after a bare SYN (simultaneous open) repeats the sequence
        // number but not the segment: only the same kind of SYN counts.
        // Likewise a side's first FIN is never a retransmission, wherever it sits.
        let same_kind = match (f.syn(), f.ack()) {
            (true, true) => sender.sent_syn_ack,
            (true, false) => sender.sent_bare_syn,
            _ if f.fin() => sender.sent_fin,
            _ => true,
        };
        let retransmission =
            seg_len > 0 && same_kind && matches!(sender.snd_nxt, Some(n) if seg_end <= n);
        if retransmission && (f.syn() || f.fin()) {
            self.on_retransmitted_control(seg, from, seg_end);
        }
        self.check_after_close(seg, from);
        if f.syn() && !retransmission {
            self.on_syn(seg, from);
        }
        let mut receiver_took_fin = false;
        if f.ack() && !f.syn() {
            receiver_took_fin = self.on_ack(seg, from);
        }
        if seg.payload_len > 0 {
            self.on_data(seg, from, retransmission);
        }
        if f.fin() && !retransmission {
            self.on_fin(seg, from, receiver_took_fin);
        }
        self.note_sent(seg, from, seg_end);
    }

    /// The first segment: decides what must have happened before the capture began.
    fn start(&mut self, seg: &Segment, from: Side) {
        self.started = true;
        let f = seg.flags;
        if f.syn() && !f.ack() {
            return;
        }
        let (c, s) = (Side::Client, Side::Server);
        if f.syn() && f.ack() && from == s {
            self.go_inferred(c, State::SynSent, seg, Cause::SynNotCaptured);
            self.go_inferred(s, State::SynRcvd, seg, Cause::SynNotCaptured);
            let client = self.end_mut(c);
            client.iss = Some(SeqNum(seg.ack) - 1);
            client.snd_nxt = Some(SeqNum(seg.ack));
            self.end_mut(s).passive = true;
            self.anomaly(
                AnomalyCode::Midstream,
                Some(seg.frame),
                None,
                "capture starts with the SYN-ACK; the SYN was not captured".into(),
            );
            return;
        }
        for (side, via) in [(c, State::SynSent), (s, State::SynRcvd)] {
            self.go_inferred(side, via, seg, Cause::MidstreamStart);
            self.go_inferred(side, State::Established, seg, Cause::MidstreamStart);
        }
        self.end_mut(from).snd_nxt = Some(SeqNum(seg.seq));
        if f.ack() {
            self.end_mut(from.peer()).snd_nxt = Some(SeqNum(seg.ack));
        }
        self.anomaly(
            AnomalyCode::Midstream,
            Some(seg.frame),
            None,
            format!("capture starts mid-connection with a {f} segment from the {from}"),
        );
    }

    /// A retransmitted SYN or FIN: evidence that an earlier copy, or its ACK, was lost.
    fn on_retransmitted_control(&mut self, seg: &Segment, from: Side, seg_end: SeqNum) {
        let to = from.peer();
        // The receiver's transition waits for the copy that got through, unless
        // the receiver already acknowledged the earlier one.
        if let Some((idx, after)) = self.end(to).received_control {
            let acked = matches!(self.end(to).ack_sent, Some(a) if after <= a);
            if after == seg_end && !acked && self.last_transition_of(to) == Some(idx) {
                let t = &mut self.transitions[idx];
                t.frame = Some(seg.frame);
                t.ts_ns = seg.ts_ns;
                let e = self.end_mut(to);
                e.entered_ns = seg.ts_ns;
                e.entered_frame = Some(seg.frame);
            }
        }
        // The sender retransmits what the peer acknowledged: that ACK never arrived.
        if let Some((idx, ctrl)) = self.end(from).acked_control {
            if ctrl + 1 == seg_end && self.last_transition_of(from) == Some(idx) {
                self.withdraw(idx);
                self.end_mut(from).acked_control = None;
            }
        }
        if seg.flags.fin() && self.state(to) == State::TimeWait {
            self.anomaly(
                AnomalyCode::FinRetransmittedInTimeWait,
                Some(seg.frame),
                Some(from),
                format!(
                    "{from} retransmitted its FIN; the {to} in TIME_WAIT acknowledges it again"
                ),
            );
        }
    }

    /// Both sides closed (or waiting out TIME_WAIT) after having been open.
    fn both_done(&self) -> bool {
        self.ends.iter().all(|e| {
            e.state == State::TimeWait || (e.state == State::Closed && e.closed_after_open)
        })
    }

    /// A new SYN on a pair whose connection is over but which Wireshark keeps in
    /// the same stream (it repeats the old initial sequence number): a new
    /// incarnation. TIME_WAIT is cut short, the receiver listens again, and the
    /// sequence bookkeeping starts afresh.
    fn reincarnate(&mut self, seg: &Segment, from: Side) {
        let mut in_time_wait = None;
        for side in [Side::Client, Side::Server] {
            if self.state(side) == State::TimeWait {
                in_time_wait = Some(side);
                self.go(side, State::Closed, seg, Cause::PortReused);
            }
        }
        self.incarnation_start = self.transitions.len();
        self.go(from.peer(), State::Listen, seg, Cause::PortReused);
        for e in &mut self.ends {
            *e = SideState {
                state: e.state,
                entered_ns: e.entered_ns,
                entered_frame: e.entered_frame,
                ..SideState::default()
            };
        }
        self.refused = false;
        self.handshake_reset = false;
        self.reset_by = None;
        self.first_syn_frame = None;
        self.first_syn_ack_frame = None;
        if let Some(side) = in_time_wait {
            self.anomaly(
                AnomalyCode::PortReuseInTimeWait,
                Some(seg.frame),
                Some(from),
                format!("a new SYN reuses the pair while the {side} is in TIME_WAIT"),
            );
        }
    }

    /// Segments sent by, or to, a side that has closed.
    fn check_after_close(&mut self, seg: &Segment, from: Side) {
        for (side, role) in [(from, "sent by"), (from.peer(), "sent to")] {
            let e = self.end(side);
            if e.state == State::Closed && e.closed_after_open {
                self.anomaly(
                    AnomalyCode::SegmentAfterClose,
                    Some(seg.frame),
                    Some(side),
                    format!("{} segment {role} the {side}, which is CLOSED", seg.flags),
                );
                return;
            }
        }
    }

    fn on_syn(&mut self, seg: &Segment, from: Side) {
        let to = from.peer();
        if seg.flags.ack() {
            self.on_syn_ack(seg, from);
            return;
        }
        // A bare SYN from a side that "received" the peer's SYN but never answered:
        // the SYNs crossed, so that reception had not happened yet.
        let crossed = self.state(from) == State::SynRcvd && !self.end(from).sent_any;
        if crossed {
            if let Some((idx, _)) = self.end(from).received_control {
                self.withdraw(idx);
                self.end_mut(from).received_control = None;
            }
            // An active opener, not a listener: it was CLOSED before its SYN.
            if self.transitions().all(|t| t.side != from) {
                self.initial[from.idx()] = State::Closed;
                self.end_mut(from).state = State::Closed;
            }
        }
        match self.state(from) {
            State::Closed | State::Listen => {
                self.go(from, State::SynSent, seg, Cause::SentSyn);
            }
            _ => {}
        }
        self.end_mut(from).iss = Some(SeqNum(seg.seq));
        if from == Side::Client && self.first_syn_frame.is_none() {
            self.first_syn_frame = Some(seg.frame);
        }
        if crossed {
            // Our SYN now meets the peer's, which was waiting on the wire.
            let peer_syn_end = self.end(to).iss.map(|i| i + 1);
            let idx = self.go(from, State::SynRcvd, seg, Cause::ReceivedSyn);
            if let Some(end) = peer_syn_end {
                self.end_mut(from).received_control = Some((idx, end));
            }
        }
        let syn_end = SeqNum(seg.seq) + 1;
        match self.state(to) {
            State::Listen => {
                let idx = self.go(to, State::SynRcvd, seg, Cause::ReceivedSyn);
                let e = self.end_mut(to);
                e.passive = true;
                e.received_control = Some((idx, syn_end));
            }
            State::SynSent => {
                let idx = self.go(to, State::SynRcvd, seg, Cause::ReceivedSyn);
                self.end_mut(to).received_control = Some((idx, syn_end));
                self.anomaly(
                    AnomalyCode::SimultaneousOpen,
                    Some(seg.frame),
                    None,
                    "both sides sent SYN; the SYNs crossed".into(),
                );
            }
            _ => {}
        }
    }

    fn on_syn_ack(&mut self, seg: &Segment, from: Side) {
        let to = from.peer();
        if self.state(from) == State::Listen {
            // The SYN it answers was not captured.
            self.go_inferred(from, State::SynRcvd, seg, Cause::SynNotCaptured);
            self.end_mut(from).passive = true;
        }
        self.end_mut(from).iss = Some(SeqNum(seg.seq));
        if from == Side::Server && self.first_syn_ack_frame.is_none() {
            self.first_syn_ack_frame = Some(seg.frame);
        }
        // It must cover the SYN and nothing beyond what was sent (TFO data included).
        let e = self.end(to);
        let acks_our_syn = match (e.iss, e.snd_nxt) {
            (Some(iss), Some(nxt)) => SeqNum(seg.ack) > iss && SeqNum(seg.ack) <= nxt,
            _ => true,
        };
        match self.state(to) {
            State::SynSent | State::SynRcvd if !acks_our_syn => {
                let iss = self.end(to).iss.unwrap_or_default();
                self.anomaly_at_seq(
                    AnomalyCode::SynAckBadAck,
                    Some(seg.frame),
                    Some(from),
                    Detail::new()
                        .text("SYN-ACK acknowledges ")
                        .seq(to, SeqNum(seg.ack))
                        .text(format_args!(" but the {to}'s SYN was "))
                        .seq(to, iss)
                        .text(" (expected ")
                        .seq(to, iss + 1)
                        .text(")"),
                );
            }
            State::SynSent | State::SynRcvd => {
                let idx = self.go(to, State::Established, seg, Cause::ReceivedSynAck);
                let end = SeqNum(seg.seq) + 1;
                self.end_mut(to).received_control = Some((idx, end));
            }
            _ => {}
        }
    }

    /// The ACK field of a non-SYN segment; returns true when it also consumed
    /// the segment's FIN for the receiver (FIN_WAIT_1 -> TIME_WAIT).
    fn on_ack(&mut self, seg: &Segment, from: Side) -> bool {
        let to = from.peer();
        let ack = SeqNum(seg.ack);
        if self.state(from) == State::SynSent {
            // It acknowledges a SYN-ACK: it must have received one.
            self.go_inferred(from, State::Established, seg, Cause::SynAckNotCaptured);
            if self.end(to).iss.is_none() {
                self.end_mut(to).iss = Some(ack - 1);
                self.end_mut(to).snd_nxt = Some(ack);
            }
        }
        if let Some(nxt) = self.end(to).snd_nxt {
            if ack > nxt {
                self.anomaly_at_seq(
                    AnomalyCode::AckUnseenSegment,
                    Some(seg.frame),
                    Some(from),
                    Detail::new()
                        .text(format_args!("the {from} acknowledges up to "))
                        .seq(to, ack)
                        .text(format_args!(
                            ", {} bytes past what the capture saw the {to} send",
                            ack.offset_from(nxt)
                        )),
                );
                self.end_mut(to).snd_nxt = Some(ack);
            }
        }
        let e = self.end(to);
        // The ACK covers the SYN (FIN) when `end <= ack`; not `iss < ack`,
        // which differs when `ack` is exactly 2^31 past `end`.
        let acks_syn = e.iss.map(|iss| iss + 1).is_none_or(|end| end <= ack);
        let acks_fin = e.fin_seq.map(|fs| fs + 1).is_some_and(|end| end <= ack);
        let (next, cause, control) = match e.state {
            State::SynRcvd if acks_syn => (State::Established, Cause::ReceivedAckOfSyn, e.iss),
            State::FinWait1 if acks_fin && seg.flags.fin() => {
                (State::TimeWait, Cause::ReceivedFinAndAckOfFin, e.fin_seq)
            }
            State::FinWait1 if acks_fin => (State::FinWait2, Cause::ReceivedAckOfFin, e.fin_seq),
            State::Closing if acks_fin => (State::TimeWait, Cause::ReceivedAckOfFin, e.fin_seq),
            State::LastAck if acks_fin => (State::Closed, Cause::ReceivedAckOfFin, e.fin_seq),
            _ => return false,
        };
        let idx = self.go(to, next, seg, cause);
        if let Some(c) = control {
            self.end_mut(to).acked_control = Some((idx, c));
        }
        if cause == Cause::ReceivedFinAndAckOfFin {
            let fin_end = SeqNum(seg.seq) + (seg.payload_len + 1);
            self.end_mut(to).received_control = Some((idx, fin_end));
            return true;
        }
        false
    }

    fn on_data(&mut self, seg: &Segment, from: Side, retransmission: bool) {
        let e = self.end(from);
        let unopened = e.state == State::Closed && !e.closed_after_open;
        if !seg.flags.syn() && (matches!(e.state, State::SynSent | State::Listen) || unopened) {
            self.anomaly(
                AnomalyCode::DataBeforeHandshake,
                Some(seg.frame),
                Some(from),
                format!(
                    "{} bytes from the {from} while it is {}",
                    seg.payload_len, e.state
                ),
            );
        }
        let e = self.end(from);
        if let Some(fs) = e.fin_seq {
            let end = SeqNum(seg.seq) + seg.payload_len;
            if !retransmission && end > fs {
                self.anomaly_at_seq(
                    AnomalyCode::DataAfterFin,
                    Some(seg.frame),
                    Some(from),
                    Detail::new()
                        .text(format_args!(
                            "{} bytes from the {from} after its FIN (seq ",
                            seg.payload_len
                        ))
                        .seq(from, fs)
                        .text(")"),
                );
            }
        }
    }

    fn on_fin(&mut self, seg: &Segment, from: Side, receiver_took_fin: bool) {
        let to = from.peer();
        let fin_seq = SeqNum(seg.seq) + (seg.payload_len + seg.flags.syn() as u32);
        {
            let e = self.end_mut(from);
            if e.fin_seq.is_none() {
                e.fin_seq = Some(fin_seq);
            }
        }
        // A FIN that does not acknowledge the peer's FIN, from a side we thought
        // had received it: the FINs crossed, so that reception comes after.
        let peer_fin_end = self.end(to).fin_seq.map(|f| f + 1);
        let acks_peer_fin = seg.flags.ack() && peer_fin_end.is_some_and(|e| e <= SeqNum(seg.ack));
        let mut crossed = false;
        if let (Some((idx, end)), Some(pfe)) = (self.end(from).received_control, peer_fin_end) {
            if self.state(from) == State::CloseWait
                && end == pfe
                && !acks_peer_fin
                && self.last_transition_of(from) == Some(idx)
            {
                self.withdraw(idx);
                self.end_mut(from).received_control = None;
                crossed = true;
            }
        }
        match self.state(from) {
            State::Established | State::SynRcvd => {
                self.go(from, State::FinWait1, seg, Cause::SentFin);
                if crossed {
                    let idx = self.go(from, State::Closing, seg, Cause::ReceivedFin);
                    if let Some(pfe) = peer_fin_end {
                        self.end_mut(from).received_control = Some((idx, pfe));
                    }
                }
            }
            State::CloseWait => {
                self.go(from, State::LastAck, seg, Cause::SentFin);
            }
            _ => {}
        }
        if receiver_took_fin {
            return;
        }
        let fin_end = fin_seq + 1;
        let next = match self.state(to) {
            State::Established => Some(State::CloseWait),
            State::FinWait1 => {
                self.anomaly(
                    AnomalyCode::SimultaneousClose,
                    Some(seg.frame),
                    None,
                    "both sides sent FIN before receiving the other's".into(),
                );
                Some(State::Closing)
            }
            State::FinWait2 => Some(State::TimeWait),
            _ => None,
        };
        if let Some(next) = next {
            let idx = self.go(to, next, seg, Cause::ReceivedFin);
            self.end_mut(to).received_control = Some((idx, fin_end));
        }
    }

    /// Is a RST from the peer acceptable to `to` (RFC 9293 3.10.7, RFC 5961)?
    /// `Ok(true)` for a RST at exactly the expected sequence number, `Ok(false)`
    /// for one elsewhere inside the window (RFC 5961 receivers challenge it).
    fn rst_acceptable(&self, seg: &Segment, to: Side) -> Result<bool, Detail> {
        let e = self.end(to);
        match e.state {
            State::SynSent => {
                let ok = seg.flags.ack() && e.iss.is_none_or(|iss| SeqNum(seg.ack) == iss + 1);
                if ok {
                    Ok(true)
                } else {
                    Err(Detail::new()
                        .text(format_args!("it does not acknowledge the {to}'s SYN (ack "))
                        .seq(to, SeqNum(seg.ack))
                        .text(")"))
                }
            }
            State::Closed | State::Listen => Ok(true),
            _ => {
                let sender_next = self.end(to.peer()).snd_nxt;
                let Some(left) = e.ack_sent.or(sender_next) else {
                    return Ok(true);
                };
                let seq = SeqNum(seg.seq);
                if seq == left || Some(seq) == sender_next {
                    return Ok(true);
                }
                let wnd = e.window.max(1);
                if seq.in_window(left, wnd) {
                    Ok(false)
                } else {
                    // The RST's and the window's numbers are its sender's.
                    let sender = to.peer();
                    Err(Detail::new()
                        .text("seq ")
                        .seq(sender, seq)
                        .text(format_args!(" is outside the {to}'s window ["))
                        .seq(sender, left)
                        .text(", ")
                        .seq(sender, left + wnd)
                        .text(")"))
                }
            }
        }
    }

    fn on_rst(&mut self, seg: &Segment, from: Side) {
        let to = from.peer();
        let exact = match self.rst_acceptable(seg, to) {
            Ok(exact) => exact,
            Err(why) => {
                self.anomaly_at_seq(
                    AnomalyCode::OutOfWindowRst,
                    Some(seg.frame),
                    Some(from),
                    Detail::new()
                        .text(format_args!("RST from the {from} ignored: "))
                        .then(why),
                );
                return;
            }
        };
        let transitions_before = self.transitions.len();
        let anomalies_before = self.anomalies.mark();
        let reset_by_before = self.reset_by;
        let (from_state, to_state) = (self.state(from), self.state(to));
        let server = Side::Server;
        let never_answered = !self.end(server).sent_any;
        if from == server && to_state == State::SynSent && never_answered {
            // RST answering a SYN: nobody listened. The server's SYN_RCVD never
            // was, nor its LISTEN: it was CLOSED.
            self.withdraw_incarnation(server, true);
            if self.incarnation_start == 0 {
                self.initial[server.idx()] = State::Closed;
            }
            let e = self.end_mut(server);
            e.state = State::Closed;
            e.received_control = None;
            self.go(to, State::Closed, seg, Cause::ReceivedRst);
            self.refused = true;
            self.end_mut(from).sent_rst = true;
            self.anomaly(
                AnomalyCode::Refused,
                Some(seg.frame),
                Some(from),
                "the server answered the SYN with RST".into(),
            );
            return;
        }
        if from_state == State::Closed && to_state == State::Closed {
            return;
        }
        self.end_mut(from).sent_rst = true;
        if !matches!(from_state, State::Closed | State::Listen) {
            self.go(from, State::Closed, seg, Cause::SentRst);
        }
        match to_state {
            State::Closed | State::Listen => {}
            State::SynRcvd if self.end(to).passive => {
                self.go(to, State::Listen, seg, Cause::ReceivedRst);
            }
            _ => {
                self.go(to, State::Closed, seg, Cause::ReceivedRst);
            }
        }
        let in_handshake = |s: State| matches!(s, State::SynSent | State::SynRcvd);
        if in_handshake(from_state) || in_handshake(to_state) {
            self.handshake_reset = true;
            self.anomaly(
                AnomalyCode::HandshakeReset,
                Some(seg.frame),
                Some(from),
                format!("the {from} sent RST in {from_state}; the {to} was {to_state}"),
            );
        } else {
            if self.reset_by.is_none() {
                self.reset_by = Some(from);
            }
            self.anomaly(
                AnomalyCode::Reset,
                Some(seg.frame),
                Some(from),
                format!("the {from} sent RST in {from_state}; the {to} was {to_state}"),
            );
        }
        if !exact {
            // Obeyed for now; a challenge ACK from the receiver will undo it.
            self.pending_inexact_rst = Some(InexactRst {
                receiver: to,
                frame: seg.frame,
                seq: SeqNum(seg.seq),
                transitions_before,
                anomalies_before,
                reset_by_before,
            });
        }
    }

    /// The receiver of an inexact RST answered with a non-RST segment: it
    /// challenged the RST instead of closing (RFC 5961), so the RST's effects
    /// are undone.
    fn undo_challenged_rst(&mut self, p: InexactRst) {
        let from = p.receiver;
        for i in (p.transitions_before..self.transitions.len()).rev() {
            if !self.transitions[i].withdrawn {
                self.withdraw(i);
            }
        }
        self.anomalies.rewind(&p.anomalies_before);
        self.reset_by = p.reset_by_before;
        self.handshake_reset = self.anomalies.contains(AnomalyCode::HandshakeReset);
        self.anomaly_at_seq(
            AnomalyCode::RstChallenged,
            Some(p.frame),
            Some(from.peer()),
            Detail::new()
                .text("RST with seq ")
                .seq(from.peer(), p.seq)
                .text(format_args!(
                    " was inside the {from}'s window but not at the expected number; the {from} answered with a challenge ACK and stayed open"
                )),
        );
    }

    /// Remembers what the sender has now sent and acknowledged.
    fn note_sent(&mut self, seg: &Segment, from: Side, seg_end: SeqNum) {
        let peer = self.end(from.peer());
        let peer_syn = PeerSyn::of(peer.sent_bare_syn || peer.sent_syn_ack, peer.window_scale);
        let e = self.end_mut(from);
        e.sent_any = true;
        if seg.flags.fin() {
            e.sent_fin = true;
        }
        if seg.flags.syn() {
            if seg.flags.ack() {
                e.sent_syn_ack = true;
            } else {
                e.sent_bare_syn = true;
            }
            if seg.options.window_scale.is_some() {
                e.window_scale = seg.options.window_scale;
            }
        }
        e.snd_nxt = Some(e.snd_nxt.map_or(seg_end, |n| seg_end.max(n)));
        if seg.flags.ack() {
            let ack = SeqNum(seg.ack);
            e.ack_sent = Some(e.ack_sent.map_or(ack, |a| ack.max(a)));
        }
        e.window = scaled_window(seg.window, seg.flags.syn(), e.window_scale, peer_syn);
    }

    /// Both sides have ended (CLOSED, TIME_WAIT, or back in LISTEN): only
    /// timers and stray segments can still happen to the connection.
    pub fn is_over(&self) -> bool {
        let ended = |st: State| matches!(st, State::Closed | State::TimeWait | State::Listen);
        self.started && ended(self.state(Side::Client)) && ended(self.state(Side::Server))
    }

    /// Ends the connection at capture end: timers, and conditions only the end reveals.
    pub fn finish(&mut self, capture_end_ns: i64) {
        self.expire_timers(capture_end_ns);
        let (c, s) = (Side::Client, Side::Server);
        if self.state(c) == State::SynSent && !self.end(s).sent_any && !self.refused {
            // No answer at all: the SYN never reached the listener.
            self.withdraw_incarnation(s, false);
            self.syn_unanswered = true;
            self.anomaly(
                AnomalyCode::SynUnanswered,
                self.first_syn_frame,
                Some(c),
                "the client's SYN got no answer".into(),
            );
        }
        for side in [c, s] {
            let e = self.end(side).clone();
            let stuck_for = capture_end_ns - e.entered_ns;
            match e.state {
                State::SynRcvd if e.sent_any => {
                    self.half_open = true;
                    self.anomaly(
                        AnomalyCode::HalfOpen,
                        self.first_syn_ack_frame.or(e.entered_frame),
                        Some(side),
                        format!("the {side} is still in SYN_RCVD at capture end"),
                    );
                }
                State::CloseWait if stuck_for >= self.cfg.close_wait_threshold_ns => {
                    self.anomaly(
                        AnomalyCode::CloseWaitStuck,
                        e.entered_frame,
                        Some(side),
                        format!(
                            "the {side} stayed in CLOSE_WAIT for {:.3} s without closing",
                            stuck_for as f64 / 1e9
                        ),
                    );
                }
                State::FinWait2 if stuck_for >= self.cfg.fin_wait_2_threshold_ns => {
                    self.anomaly(
                        AnomalyCode::FinWait2Stuck,
                        e.entered_frame,
                        Some(side),
                        format!(
                            "the {side} stayed in FIN_WAIT_2 for {:.3} s; the {} never sent FIN",
                            stuck_for as f64 / 1e9,
                            side.peer()
                        ),
                    );
                }
                _ => {}
            }
        }
        let ended = |st: State| matches!(st, State::Closed | State::TimeWait | State::Listen);
        let handshake_done = self.ends.iter().any(|e| e.reached_established);
        let no_fin_or_rst = self.ends.iter().all(|e| !e.sent_fin && !e.sent_rst);
        let open = !ended(self.state(c)) && !ended(self.state(s));
        if handshake_done && no_fin_or_rst && open && !self.half_open {
            self.anomaly(
                AnomalyCode::NoClose,
                None,
                None,
                format!(
                    "still open at capture end (client {}, server {})",
                    self.state(c),
                    self.state(s)
                ),
            );
        }
    }

    /// Adds an anomaly found outside the machines (e.g. by the flow layer).
    pub fn report(&mut self, anomaly: Anomaly) {
        self.anomalies.push(anomaly);
    }

    /// Sanity check used by tests: every standing transition is an RFC edge.
    pub fn all_transitions_are_rfc_edges(&self) -> bool {
        self.transitions().all(|t| is_rfc_edge(t.from, t.to))
    }
}

#[cfg(test)]
mod tests;
