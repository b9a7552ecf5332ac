//! The paired machines as a capture sees them: per segment and per side, which
//! [`Event`] happened and at which frame (the vantage-point rule in the parent
//! module's documentation), then [`step`] for where it leads. Everything that
//! is not an RFC edge lives here: whether a segment was acceptable at all,
//! inference of what the capture missed, and moving or withdrawing a
//! receiver's transition on evidence of loss.

use std::sync::OnceLock;

use serde::Serialize;

use super::rules::{step, Cause, Event, Open, State};
use crate::anomaly::{Anomaly, AnomalyCode, AnomalyLog, Detail, LogMark};
use crate::model::{scaled_window, PeerSyn, Segment, SeqNum, Side, TcpFlags, MAX_WINDOW_SHIFT};
use crate::tcp::inline_vec::InlineVec;

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
    /// True when the segment that caused it was not captured, or (one-sided
    /// captures) the side it moved was never seen.
    pub inferred: bool,
    /// For inferred transitions, the frame that proves them.
    pub evidence_frame: Option<u64>,
    /// Withdrawn by later evidence of loss; kept so indices stay stable.
    #[serde(skip)]
    pub(super) withdrawn: bool,
}

/// A transition as the machines keep it while they follow a connection:
/// the same facts as [`Transition`] in 32 bytes instead of 48 (the frames
/// without an `Option`'s padding), since a connection's dozen transitions
/// are a good part of what it holds while it is live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Step {
    pub(super) frame: MaybeFrame,
    pub(super) ts_ns: i64,
    pub(super) evidence_frame: MaybeFrame,
    pub(super) side: Side,
    pub(super) from: State,
    pub(super) to: State,
    pub(super) cause: Cause,
    pub(super) inferred: bool,
    pub(super) withdrawn: bool,
}

impl Step {
    /// The transition as the library shows it.
    fn transition(&self) -> Transition {
        Transition {
            frame: self.frame.get(),
            ts_ns: self.ts_ns,
            side: self.side,
            from: self.from,
            to: self.to,
            cause: self.cause,
            inferred: self.inferred,
            evidence_frame: self.evidence_frame.get(),
            withdrawn: self.withdrawn,
        }
    }
}

// A connection keeps a dozen of these while it is live (issue 17).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Step>() == 32);

/// A frame number or none, in 8 bytes: no capture reaches frame `u64::MAX`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct MaybeFrame(u64);

impl Default for MaybeFrame {
    fn default() -> MaybeFrame {
        MaybeFrame::NONE
    }
}

impl MaybeFrame {
    pub(super) const NONE: MaybeFrame = MaybeFrame(u64::MAX);

    pub(super) fn new(frame: Option<u64>) -> MaybeFrame {
        frame.map_or(MaybeFrame::NONE, MaybeFrame)
    }

    pub(super) fn get(self) -> Option<u64> {
        (self != MaybeFrame::NONE).then_some(self.0)
    }
}

impl std::fmt::Debug for MaybeFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
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

/// What one side has done, as far as the capture shows: its RFC state and
/// the sequence space it used (not its address: that is `model::Endpoint`).
#[derive(Clone, Debug, Default)]
pub(super) struct SideState {
    pub(super) state: State,
    /// How its current connection began (decides SYN_RCVD's exits).
    pub(super) open: Open,
    pub(super) entered_ns: i64,
    /// Frame of the segment that moved it into its current state.
    pub(super) entered_frame: MaybeFrame,
    /// When TIME_WAIT's 2*MSL timer (re)started: on entering it, and at each
    /// FIN received in it (RFC 9293 3.10.7.4, eighth).
    pub(super) timer_ns: i64,
    /// Its sequence numbers and timestamps, each perhaps unknown (see
    /// the accessors below).
    numbers: Numbers,
    /// Last advertised window in bytes (scaled where scaling is known).
    window: u32,
    window_scale: Option<u8>,
    /// Has sent at least one segment the machines took.
    pub(super) sent_any: bool,
    /// Has sent something other than a bare SYN.
    pub(super) sent_beyond_syn: bool,
    sent_bare_syn: bool,
    sent_syn_ack: bool,
    pub(super) sent_fin: bool,
    /// Aborted: sent a RST that was taken.
    pub(super) sent_rst: bool,
    /// Reached CLOSED after having opened: segments now are after-close.
    pub(super) closed_after_open: bool,
    pub(super) reached_established: bool,
    /// Its latest transition caused by receiving the peer's SYN or FIN:
    /// (transition index, sequence number just after that SYN or FIN).
    received_control: Pair,
    /// Its latest transition caused by the ACK of its own SYN or FIN:
    /// (transition index, sequence number of that SYN or FIN).
    acked_control: Pair,
    /// Its SYN carried data: (frame of that SYN, bytes).
    syn_data: Pair,
}

/// An optional (index or frame, 32-bit number) in 16 bytes instead of an
/// `Option`'s 24: none is `u64::MAX` first, which no transition index or
/// frame number reaches.
#[derive(Clone, Copy, Debug)]
struct Pair(u64, u32);

impl Default for Pair {
    fn default() -> Pair {
        Pair(u64::MAX, 0)
    }
}

impl Pair {
    fn get(self) -> Option<(u64, u32)> {
        (self.0 != u64::MAX).then_some((self.0, self.1))
    }

    fn of(v: Option<(u64, u32)>) -> Pair {
        v.map_or(Pair::default(), |(a, b)| Pair(a, b))
    }
}

impl SideState {
    fn received_control(&self) -> Option<(usize, SeqNum)> {
        let (idx, seq) = self.received_control.get()?;
        Some((idx as usize, SeqNum(seq)))
    }

    fn set_received_control(&mut self, v: Option<(usize, SeqNum)>) {
        self.received_control = Pair::of(v.map(|(idx, seq)| (idx as u64, seq.0)));
    }

    fn acked_control(&self) -> Option<(usize, SeqNum)> {
        let (idx, seq) = self.acked_control.get()?;
        Some((idx as usize, SeqNum(seq)))
    }

    fn set_acked_control(&mut self, v: Option<(usize, SeqNum)>) {
        self.acked_control = Pair::of(v.map(|(idx, seq)| (idx as u64, seq.0)));
    }

    pub(super) fn syn_data(&self) -> Option<(u64, u32)> {
        self.syn_data.get()
    }

    fn set_syn_data(&mut self, v: Option<(u64, u32)>) {
        self.syn_data = Pair::of(v);
    }
}

/// A side's optional 32-bit numbers, without an `Option`'s padding each:
/// the values and one bit each saying the value is known (a side is kept
/// for every live connection, twice).
#[derive(Clone, Copy, Debug, Default)]
struct Numbers {
    values: [u32; 8],
    known: u8,
}

impl Numbers {
    fn get(&self, i: usize) -> Option<u32> {
        (self.known & (1 << i) != 0).then_some(self.values[i])
    }

    fn set(&mut self, i: usize, v: Option<u32>) {
        match v {
            Some(v) => {
                self.values[i] = v;
                self.known |= 1 << i;
            }
            None => self.known &= !(1 << i),
        }
    }
}

/// Accessors of a side's [`Numbers`], one pair per number.
macro_rules! numbers {
    ($($(#[$doc:meta])* $get:ident, $set:ident: $t:ident = $i:literal;)*) => {
        impl SideState {
            $(
                $(#[$doc])*
                fn $get(&self) -> Option<$t> {
                    self.numbers.get($i).map(numbers!(@from $t))
                }

                fn $set(&mut self, v: Option<$t>) {
                    self.numbers.set($i, v.map(numbers!(@into $t)));
                }
            )*
        }
    };
    (@from SeqNum) => { SeqNum };
    (@from u32) => { |v| v };
    (@into SeqNum) => { |s: SeqNum| s.0 };
    (@into u32) => { |v| v };
}

numbers! {
    /// Initial sequence number (of its SYN).
    iss, set_iss: SeqNum = 0;
    /// Sequence number after everything it sent, SYN and FIN included.
    snd_nxt, set_snd_nxt: SeqNum = 1;
    /// Sequence number its FIN occupies.
    fin_seq, set_fin_seq: SeqNum = 2;
    /// Highest acknowledgement number it sent.
    ack_sent, set_ack_sent: SeqNum = 3;
    /// Right edge of the receive window it advertised (the highest ACK plus
    /// window): nothing may be sent to it beyond this.
    wnd_edge, set_wnd_edge: SeqNum = 4;
    /// The ACK number of an unacceptable SYN-ACK it received in SYN_SENT:
    /// its RST with that sequence number is the RFC's answer, not an abort.
    bad_syn_ack, set_bad_syn_ack: SeqNum = 5;
    /// TSval of its first SYN (RFC 7323): what a SYN-ACK or RST may echo
    /// to it in SYN_SENT.
    syn_tsval, set_syn_tsval: u32 = 6;
    /// The latest TSval it sent.
    max_tsval, set_max_tsval: u32 = 7;
}

/// Whether the capture has shown a connection yet.
#[derive(Clone, Debug, Default)]
pub(super) enum Phase {
    /// Nothing the machines can use yet.
    #[default]
    Fresh,
    /// Segments of an open connection without its handshake, but not yet
    /// the evidence that one is open (see [`Unproven`]).
    Unproven(Box<Unproven>),
    /// A handshake was seen, or an open connection proven.
    Live,
}

/// A capture that starts without a handshake: segments that could belong to
/// an open connection, or be a scan probe (an ACK, FIN-ACK) and its RST. An
/// open connection is proven by data, by non-RST segments from both sides,
/// or by a side acknowledging more than it first did; until then nothing is
/// inferred.
#[derive(Clone, Debug)]
pub(super) struct Unproven {
    first_frame: u64,
    first_ts_ns: i64,
    from: Side,
    flags: TcpFlags,
    first_seq: SeqNum,
    first_ack: Option<SeqNum>,
    /// The first FIN in that run, replayed once the connection is proven.
    fin: Option<Segment>,
}

/// An invalid segment seen before any connection: a scan probe.
#[derive(Clone, Copy, Debug)]
pub(super) struct Probe {
    frame: u64,
    from: Side,
    what: &'static str,
}

/// The two machines of one connection and everything they recorded.
#[derive(Clone, Debug)]
pub struct PairedMachines {
    pub(super) cfg: Config,
    pub(super) ends: [SideState; 2],
    pub(super) initial: [State; 2],
    /// Every transition, withdrawn ones included (indices stay stable).
    pub(super) steps: Vec<Step>,
    /// The standing transitions as [`PairedMachines::transitions`] shows
    /// them, built at its first call (a report's, once the connection is
    /// finished) and dropped at any change.
    shown: OnceLock<Box<[Transition]>>,
    pub(super) anomalies: AnomalyLog,
    pub(super) phase: Phase,
    /// The first invalid segment, while no connection is seen.
    /// Boxed: rare, and every connection would carry its room.
    pub(super) probe: Option<Box<Probe>>,
    /// Frame of the client's first SYN.
    pub(super) first_syn_frame: MaybeFrame,
    /// Frame of the server's first SYN-ACK.
    pub(super) first_syn_ack_frame: MaybeFrame,
    /// The first accepted RST that aborted the connection: who sent it.
    pub(super) reset_by: Option<Side>,
    pub(super) refused: bool,
    /// A probe was answered with RST: nothing listened there.
    pub(super) probe_refused: bool,
    pub(super) handshake_reset: bool,
    /// A RST inside the window but not exact, obeyed until the receiver
    /// speaks (boxed: rare, and every connection would carry its room).
    pending_inexact_rst: Option<Box<InexactRst>>,
    /// Index of the first transition of the current incarnation (a new SYN
    /// after both sides closed, kept in the same stream as Wireshark does).
    pub(super) incarnation_start: usize,
    pub(super) syn_unanswered: bool,
    pub(super) half_open: bool,
    /// Only one direction was ever captured: the silent side.
    pub(super) one_sided: Option<Side>,
    /// Where [`PairedMachines::finish`] ended the machines (capture time).
    pub(super) finished_ns: Option<i64>,
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

/// Whether a RST is acceptable to its receiver (RFC 9293 3.10.7, RFC 5961).
enum RstVerdict {
    /// At exactly the expected sequence number: obeyed.
    Exact,
    /// Elsewhere inside the window: obeyed unless challenged.
    InWindow,
    /// Not acceptable, and why: ignored.
    Unacceptable(Detail),
}

/// Room for the transitions of a handshake that got no further (a SYN
/// flood's connections: SYN_SENT and SYN_RCVD), reserved at the first.
const FIRST_TRANSITIONS: usize = 4;
/// Room for a whole ordinary connection's transitions (the client's six
/// from CLOSED to CLOSED, the server's five from LISTEN), reserved when the
/// first room is full: two allocations instead of three growing ones, and
/// no more memory than before for the many connections that stop early.
const TYPICAL_TRANSITIONS: usize = 12;

/// States a side usually goes through (its lists keep this many inline).
const TYPICAL_STATES: usize = 8;

/// The states a side went through ([`PairedMachines::state_path`]).
pub(crate) type StatePath = InlineVec<State, TYPICAL_STATES>;

/// Nanoseconds a side spent in each state, in the order first entered
/// ([`PairedMachines::time_spent`]): one entry per state at most, so room
/// for all eleven is all it can need.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeSpent {
    len: usize,
    entries: [(State, i64); State::ALL.len()],
    /// Where each state's entry is (`State as usize` to index), `u8::MAX`
    /// for none yet.
    at: [u8; State::ALL.len()],
}

impl TimeSpent {
    fn new() -> TimeSpent {
        TimeSpent {
            len: 0,
            entries: [(State::Closed, 0); State::ALL.len()],
            at: [u8::MAX; State::ALL.len()],
        }
    }

    /// Adds `ns` to `state`'s time, entering it first if new.
    fn add(&mut self, state: State, ns: i64) {
        let at = &mut self.at[state as usize];
        if *at == u8::MAX {
            *at = self.len as u8;
            self.entries[self.len] = (state, ns);
            self.len += 1;
        } else {
            let entry = &mut self.entries[usize::from(*at)];
            entry.1 = entry.1.saturating_add(ns);
        }
    }
}

impl std::ops::Deref for TimeSpent {
    type Target = [(State, i64)];

    fn deref(&self) -> &[(State, i64)] {
        &self.entries[..self.len]
    }
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

/// `a <= b <= c` for 32-bit counters that wrap (RFC 7323 timestamps).
fn between(a: u32, b: u32, c: u32) -> bool {
    SeqNum(b) >= SeqNum(a) && SeqNum(b) <= SeqNum(c)
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
            steps: Vec::new(),
            shown: OnceLock::new(),
            anomalies: AnomalyLog::new(),
            phase: Phase::Fresh,
            probe: None,
            first_syn_frame: MaybeFrame::NONE,
            first_syn_ack_frame: MaybeFrame::NONE,
            reset_by: None,
            refused: false,
            probe_refused: false,
            handshake_reset: false,
            pending_inexact_rst: None,
            incarnation_start: 0,
            syn_unanswered: false,
            half_open: false,
            one_sided: None,
            finished_ns: None,
        }
    }

    pub(super) fn end(&self, side: Side) -> &SideState {
        &self.ends[side.idx()]
    }

    pub(super) fn end_mut(&mut self, side: Side) -> &mut SideState {
        &mut self.ends[side.idx()]
    }

    /// Current state of a side.
    pub fn state(&self, side: Side) -> State {
        self.end(side).state
    }

    /// Every transition still standing, in the order they happened.
    pub fn transitions(&self) -> impl Iterator<Item = &Transition> {
        self.shown
            .get_or_init(|| {
                // One allocation of the exact size (a filtered iterator
                // would grow a vector, then shrink it).
                let mut v = Vec::with_capacity(self.standing().count());
                v.extend(self.standing().map(Step::transition));
                v.into_boxed_slice()
            })
            .iter()
    }

    /// The standing transitions as [`PairedMachines::transitions`] lists
    /// them, each built as it is reached and none kept: for a report that
    /// walks them once (building and keeping the list cost it an
    /// allocation and a copy of every transition).
    pub(crate) fn each_transition(&self) -> impl Iterator<Item = Transition> + '_ {
        self.standing().map(Step::transition)
    }

    /// The standing transitions as kept.
    pub(super) fn standing(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|t| !t.withdrawn)
    }

    /// The transitions, to change: what `transitions` showed is stale.
    pub(super) fn steps_mut(&mut self) -> &mut Vec<Step> {
        self.shown.take();
        &mut self.steps
    }

    /// Does the side's current state rest on inference: a transition of its
    /// current incarnation made without its triggering segment (the capture
    /// started mid-connection or missed the SYN or SYN-ACK), or a side never
    /// seen at all (one-sided capture)?
    pub fn state_inferred(&self, side: Side) -> bool {
        self.steps[self.incarnation_start..]
            .iter()
            .any(|t| !t.withdrawn && t.side == side && t.inferred)
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
        self.state_path(side).to_vec()
    }

    /// [`PairedMachines::states`], kept inline while they are few (nearly
    /// always): the reports ask for them per connection.
    pub(crate) fn state_path(&self, side: Side) -> StatePath {
        let mut v = StatePath::default();
        v.push(self.initial[side.idx()]);
        for t in self.standing().filter(|t| t.side == side) {
            if v.last() != Some(&t.to) {
                v.push(t.to);
            }
        }
        v
    }

    /// How long a side spent in each state it went through, in ns, in the
    /// order they were first entered (a state entered twice adds up):
    /// its initial state from `start_ns` (the connection's first packet),
    /// each later one from the transition into it to the next, and the last
    /// one open-ended up to where [`PairedMachines::finish`] ended the
    /// machines (the capture's end, or where the connection was finished
    /// for idling or memory; without a finish, its last transition).
    /// Transitions are taken in the order they happened; one stamped before
    /// the previous one (an inferred transition placed at its evidence)
    /// counts no time, never a negative one.
    pub fn time_in_state(&self, side: Side, start_ns: i64) -> Vec<(State, i64)> {
        self.time_spent(side, start_ns).to_vec()
    }

    /// [`PairedMachines::time_in_state`], kept inline while the states are
    /// few (nearly always): the reports ask for it per connection.
    pub(crate) fn time_spent(&self, side: Side, start_ns: i64) -> TimeSpent {
        let mut spent = TimeSpent::new();
        let (mut state, mut since) = (self.initial[side.idx()], start_ns);
        for t in self.standing().filter(|t| t.side == side) {
            spent.add(state, t.ts_ns.saturating_sub(since).max(0));
            state = t.to;
            since = since.max(t.ts_ns);
        }
        let end = self.finished_ns.unwrap_or(since);
        spent.add(state, end.saturating_sub(since).max(0));
        spent
    }

    /// Adds an anomaly found outside the machines (e.g. by the flow layer).
    pub fn report(&mut self, anomaly: Anomaly) {
        self.anomalies.push(anomaly);
    }

    /// Sanity check used by tests: every standing transition is an edge of
    /// the RFC table, and every inferred one names its evidence.
    pub fn all_transitions_are_rfc_edges(&self) -> bool {
        self.standing().all(|t| {
            super::rules::is_rfc_edge(t.from, t.to)
                && (!t.inferred || t.evidence_frame.get().is_some())
        })
    }

    /// Both sides have ended (CLOSED, TIME_WAIT, or back in LISTEN): only
    /// timers and stray segments can still happen to the connection.
    pub fn is_over(&self) -> bool {
        let ended = |st: State| matches!(st, State::Closed | State::TimeWait | State::Listen);
        let happened = matches!(self.phase, Phase::Live) || self.probe_refused;
        happened && ended(self.state(Side::Client)) && ended(self.state(Side::Server))
    }

    pub(super) fn anomaly<D: Into<Detail>>(
        &mut self,
        code: AnomalyCode,
        frame: Option<u64>,
        side: Option<Side>,
        detail: impl FnOnce() -> D,
    ) {
        self.anomalies.record(code, frame, side, detail);
    }

    /// `event` happens to `side` at `seg`'s frame: records the transition
    /// [`step`] gives, if any, and returns its index.
    fn apply(&mut self, side: Side, event: Event, seg: &Segment) -> Option<usize> {
        self.apply_at(side, event, Some(seg.frame), seg.ts_ns, None, None)
    }

    /// `event` must have happened to `side` although the capture did not
    /// show it: recorded as inferred, with `cause`, proven by `evidence`.
    fn infer(
        &mut self,
        side: Side,
        event: Event,
        (frame, ts_ns): (u64, i64),
        cause: Cause,
        evidence: u64,
    ) -> Option<usize> {
        self.apply_at(side, event, Some(frame), ts_ns, Some(cause), Some(evidence))
    }

    pub(super) fn apply_at(
        &mut self,
        side: Side,
        event: Event,
        frame: Option<u64>,
        ts_ns: i64,
        inferred_cause: Option<Cause>,
        evidence: Option<u64>,
    ) -> Option<usize> {
        let e = self.end(side);
        let (to, cause) = step(e.state, e.open, event)?;
        Some(self.record(
            side,
            to,
            inferred_cause.unwrap_or(cause),
            frame,
            ts_ns,
            evidence,
        ))
    }

    /// Moves a side to `to`, recording the transition; returns its index.
    fn record(
        &mut self,
        side: Side,
        to: State,
        cause: Cause,
        frame: Option<u64>,
        ts_ns: i64,
        evidence: Option<u64>,
    ) -> usize {
        let e = self.end_mut(side);
        let from = e.state;
        e.state = to;
        e.entered_ns = ts_ns;
        e.entered_frame = MaybeFrame::new(frame);
        match to {
            State::SynRcvd => {
                e.open = if from == State::Listen {
                    Open::Passive
                } else {
                    Open::Active
                }
            }
            State::Established => e.reached_established = true,
            State::Closed => e.closed_after_open = true,
            State::TimeWait => e.timer_ns = ts_ns,
            _ => {}
        }
        let steps = self.steps_mut();
        let (len, room) = (steps.len(), steps.capacity());
        if len == room {
            let next = if room < FIRST_TRANSITIONS {
                FIRST_TRANSITIONS
            } else if room < TYPICAL_TRANSITIONS {
                TYPICAL_TRANSITIONS
            } else {
                2 * room
            };
            steps.reserve_exact(next - len);
        }
        steps.push(Step {
            frame: MaybeFrame::new(frame),
            ts_ns,
            side,
            from,
            to,
            cause,
            inferred: evidence.is_some(),
            evidence_frame: MaybeFrame::new(evidence),
            withdrawn: false,
        });
        steps.len() - 1
    }

    /// Withdraws transition `idx` (later evidence says it did not happen) and
    /// puts its side back in the state it left.
    pub(super) fn withdraw(&mut self, idx: usize) {
        let t = &mut self.steps_mut()[idx];
        t.withdrawn = true;
        let (side, from) = (t.side, t.from);
        let entered = self
            .steps
            .iter()
            .rev()
            .find(|t| !t.withdrawn && t.side == side)
            .map(|t| (t.ts_ns, t.frame.get()));
        let e = self.end_mut(side);
        e.state = from;
        if let Some((ts, frame)) = entered {
            e.entered_ns = ts;
            e.entered_frame = MaybeFrame::new(frame);
            if from == State::TimeWait {
                e.timer_ns = e.timer_ns.max(ts);
            }
        }
    }

    /// Withdraws, latest first, a side's transitions in the current
    /// incarnation (a server that never answered); its return to LISTEN at a
    /// reincarnation is kept unless `including_listen`.
    pub(super) fn withdraw_incarnation(&mut self, side: Side, including_listen: bool) {
        for i in (self.incarnation_start..self.steps.len()).rev() {
            let t = &self.steps[i];
            if t.side == side && !t.withdrawn && (including_listen || t.cause != Cause::PortReused)
            {
                self.withdraw(i);
            }
        }
        self.end_mut(side).set_received_control(None);
    }

    /// Index of a side's latest standing transition.
    fn last_transition_of(&self, side: Side) -> Option<usize> {
        self.steps
            .iter()
            .rposition(|t| !t.withdrawn && t.side == side)
    }

    /// Ends TIME_WAIT for sides whose 2*MSL has elapsed by `now_ns`.
    pub(super) fn expire_timers(&mut self, now_ns: i64) {
        for side in Side::BOTH {
            let e = self.end(side);
            if e.state == State::TimeWait {
                let expiry = e.timer_ns.saturating_add(self.cfg.msl_ns.saturating_mul(2));
                if now_ns >= expiry {
                    self.apply_at(side, Event::TimeWaitExpired, None, expiry, None, None);
                }
            }
        }
    }

    /// The pair was reused by a new connection at `seg` (a SYN with a new ISN):
    /// a side still in TIME_WAIT is taken over by it. Returns that side.
    pub fn reused_by(&mut self, seg: &Segment) -> Option<Side> {
        self.expire_timers(seg.ts_ns);
        let side = Side::BOTH
            .into_iter()
            .find(|s| self.state(*s) == State::TimeWait)?;
        self.apply(side, Event::Reuse, seg);
        Some(side)
    }

    /// What `side` has received: RCV.NXT, from everything the capture saw
    /// delivered to it and everything it acknowledged (not only its last ACK).
    fn rcv_nxt(&self, side: Side) -> Option<SeqNum> {
        let delivered = self.end(side.peer()).snd_nxt();
        match (delivered, self.end(side).ack_sent()) {
            (Some(d), Some(a)) => Some(d.max(a)),
            (d, a) => d.or(a),
        }
    }

    /// Both SYNs of this incarnation were seen, so window scaling is known.
    fn handshake_seen(&self) -> bool {
        self.ends.iter().all(|e| e.sent_bare_syn || e.sent_syn_ack)
    }

    /// Feeds one segment sent by `from`.
    pub fn on_segment(&mut self, seg: &Segment, from: Side) {
        if !self.steady(seg, from) {
            self.take_segment(seg, from);
        }
    }

    /// The common case with only the work it needs (most segments of a
    /// capture): both sides ESTABLISHED, and a segment with ACK and without
    /// SYN, FIN or RST, inside the receiver's window, from a side that has
    /// sent no FIN. No timer runs in ESTABLISHED; such flags are valid; no
    /// RST is pending; neither side is CLOSED or before the handshake; and
    /// an ACK in ESTABLISHED is no event of [`step`] (only SYN_RCVD,
    /// FIN_WAIT_1, CLOSING and LAST_ACK take one): so the full path would
    /// record no transition and no anomaly, and only move what the receiver
    /// was sent and what the sender sent, as done here. Returns false, having
    /// changed nothing, for every other segment (see
    /// [`PairedMachines::take_segment`]); the test
    /// `machine::tests::steady_path_equals_the_full_path` checks both agree
    /// on every shipped capture and on random segment streams.
    #[inline]
    pub(super) fn steady(&mut self, seg: &Segment, from: Side) -> bool {
        const CONTROL: u16 = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST;
        let f = seg.flags;
        if f.0 & CONTROL != 0
            || !f.ack()
            || seg.bad_header_len
            || !matches!(self.phase, Phase::Live)
            || self.pending_inexact_rst.is_some()
        {
            return false;
        }
        let to = from.peer();
        let (sender, receiver) = (self.end(from), self.end(to));
        if sender.state != State::Established
            || receiver.state != State::Established
            || sender.fin_seq().is_some()
            || receiver
                .wnd_edge()
                .is_some_and(|edge| SeqNum(seg.seq) > edge)
        {
            return false;
        }
        // `on_ack`: the ACK shows what the receiver sent.
        let ack = SeqNum(seg.ack);
        let receiver = self.end_mut(to);
        if let Some(nxt) = receiver.snd_nxt() {
            if ack > nxt {
                receiver.set_snd_nxt(Some(ack));
            }
        }
        self.note_sent(seg, from, SeqNum(seg.seq) + seg.payload_len);
        true
    }

    /// Feeds one segment, by every rule.
    #[inline(never)]
    pub(super) fn take_segment(&mut self, seg: &Segment, from: Side) {
        self.expire_timers(seg.ts_ns);
        let f = seg.flags;
        if let Some(what) = invalid_flags(f) {
            // Floods of these are common (scans), so the detail is only
            // formatted when the log will list it.
            self.anomaly(
                AnomalyCode::InvalidFlags,
                Some(seg.frame),
                Some(from),
                || format!("{from} sent {what}"),
            );
            if matches!(self.phase, Phase::Fresh) && self.probe.is_none() {
                self.probe = Some(Box::new(Probe {
                    frame: seg.frame,
                    from,
                    what,
                }));
            }
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
                self.undo_challenged_rst(*pending);
            }
        }
        let take = match self.phase {
            Phase::Fresh => self.begin(seg, from),
            Phase::Unproven(_) => self.prove(seg, from),
            Phase::Live => true,
        };
        if take {
            self.process(seg, from);
        }
    }

    /// The first usable segment: decides what must have happened before the
    /// capture began. Returns whether the segment is processed now.
    fn begin(&mut self, seg: &Segment, from: Side) -> bool {
        let f = seg.flags;
        let (c, s) = (Side::Client, Side::Server);
        if f.syn() && !f.ack() {
            self.phase = Phase::Live;
            return true;
        }
        if f.syn() && from == s {
            self.phase = Phase::Live;
            let at = (seg.frame, seg.ts_ns);
            let cause = Cause::SynNotCaptured;
            self.infer(c, Event::SendSyn, at, cause, seg.frame);
            self.infer(s, Event::RecvSyn, at, cause, seg.frame);
            let client = self.end_mut(c);
            client.set_iss(Some(SeqNum(seg.ack) - 1));
            client.set_snd_nxt(Some(SeqNum(seg.ack)));
            self.anomaly(AnomalyCode::Midstream, Some(seg.frame), None, || {
                "capture starts with the SYN-ACK; the SYN was not captured"
            });
            return true;
        }
        if f.rst() {
            self.answer_to_probe(seg, from);
            return false;
        }
        if seg.payload_len > 0 {
            self.prove_open(seg.frame, seg.ts_ns, seg, from, f);
            return true;
        }
        self.phase = Phase::Unproven(Box::new(Unproven {
            first_frame: seg.frame,
            first_ts_ns: seg.ts_ns,
            from,
            flags: f,
            first_seq: SeqNum(seg.seq),
            first_ack: f.ack().then_some(SeqNum(seg.ack)),
            fin: f.fin().then(|| seg.clone()),
        }));
        false
    }

    /// A RST before any connection: the answer to a scan probe (an invalid
    /// segment, which a listener drops silently, RFC 9293 3.10.7.2, and a
    /// closed port answers with RST, 3.10.7.1), or a stray RST that implies
    /// nothing.
    fn answer_to_probe(&mut self, seg: &Segment, from: Side) {
        let Some(&probe) = self.probe.as_deref() else {
            return;
        };
        if probe.from != from.peer() || self.probe_refused {
            return;
        }
        self.probe_refused = true;
        self.initial[from.idx()] = State::Closed;
        self.end_mut(from).state = State::Closed;
        self.anomaly(AnomalyCode::Refused, Some(seg.frame), Some(from), || {
            format!(
                "the {from} answered the {} probe of frame {} with RST: nothing listens there (port closed)",
                probe.what, probe.frame
            )
        });
    }

    /// A segment while the connection is unproven: returns whether it is
    /// processed now (it proved the connection, or is a SYN).
    fn prove(&mut self, seg: &Segment, from: Side) -> bool {
        let f = seg.flags;
        let Phase::Unproven(u) = &mut self.phase else {
            return true;
        };
        if f.syn() {
            // A handshake after stray segments: they were not a connection.
            self.phase = Phase::Fresh;
            return self.begin(seg, from);
        }
        if f.rst() {
            // A RST proves nothing (an ACK probe is answered by one).
            return false;
        }
        let acked_more =
            from == u.from && f.ack() && u.first_ack.is_some_and(|a| SeqNum(seg.ack) > a);
        if seg.payload_len == 0 && from == u.from && !acked_more {
            if f.fin() && u.fin.is_none() {
                u.fin = Some(seg.clone());
            }
            return false;
        }
        let (frame, ts, first_from, first_flags) = (u.first_frame, u.first_ts_ns, u.from, u.flags);
        let (first_seq, first_ack, fin) = (u.first_seq, u.first_ack, u.fin.take());
        self.prove_open(frame, ts, seg, first_from, first_flags);
        self.end_mut(first_from).set_snd_nxt(Some(first_seq));
        if let Some(a) = first_ack {
            let peer = self.end_mut(first_from.peer());
            peer.set_snd_nxt(Some(peer.snd_nxt().map_or(a, |n| n.max(a))));
        }
        if let Some(fin) = fin {
            self.process(&fin, first_from);
        }
        true
    }

    /// An open connection is proven at `evidence` (its first segment was
    /// `frame`, a `flags` segment from `first_from`): both sides went through
    /// the handshake before the capture.
    fn prove_open(
        &mut self,
        frame: u64,
        ts_ns: i64,
        evidence: &Segment,
        first_from: Side,
        flags: TcpFlags,
    ) {
        self.phase = Phase::Live;
        let at = (frame, ts_ns);
        let cause = Cause::MidstreamStart;
        let ev = evidence.frame;
        for (side, opening) in [
            (Side::Client, [Event::SendSyn, Event::RecvSynAck]),
            (Side::Server, [Event::RecvSyn, Event::RecvAckOfSyn]),
        ] {
            for event in opening {
                self.infer(side, event, at, cause, ev);
            }
        }
        if evidence.frame == frame {
            let from = first_from;
            let (seq, ack) = (SeqNum(evidence.seq), SeqNum(evidence.ack));
            self.end_mut(from).set_snd_nxt(Some(seq));
            if flags.ack() {
                self.end_mut(from.peer()).set_snd_nxt(Some(ack));
            }
        }
        self.anomaly(AnomalyCode::Midstream, Some(frame), None, || {
            let mut d = format!(
                "capture starts mid-connection with a {flags} segment from the {first_from}"
            );
            if ev != frame {
                d.push_str(&format!(
                    "; frame {ev} proves the connection open, so the states are inferred"
                ));
            }
            d
        });
    }

    /// One segment of a live connection, in RFC 9293 3.10.7's order: RST,
    /// acceptability, SYN, ACK, data, FIN.
    fn process(&mut self, seg: &Segment, from: Side) {
        let f = seg.flags;
        if f.rst() {
            self.on_rst(seg, from);
            return;
        }
        if f.syn() && !f.ack() && self.both_done() {
            self.reincarnate(seg, from);
        }
        if self.ahead_of_window(seg, from) {
            return;
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
            seg_len > 0 && same_kind && matches!(sender.snd_nxt(), Some(n) if seg_end <= n);
        if retransmission && (f.syn() || f.fin()) {
            self.on_retransmitted_control(seg, from, seg_end);
        }
        self.check_after_close(seg, from);
        if f.syn() {
            self.on_syn(seg, from, retransmission);
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

    /// RFC 9293 3.10.7.4, first: a segment that starts beyond the right edge
    /// of the window its receiver advertised cannot be accepted; it is
    /// reported and changes no state. (Old duplicates below the window are
    /// retransmissions, handled as such.)
    fn ahead_of_window(&mut self, seg: &Segment, from: Side) -> bool {
        let to = from.peer();
        let r = self.end(to);
        if !(r.state == State::SynRcvd || r.state.is_synchronized()) {
            return false;
        }
        let Some(edge) = r.wnd_edge() else {
            return false;
        };
        let seq = SeqNum(seg.seq);
        if seq <= edge {
            return false;
        }
        let rcv_nxt = self.rcv_nxt(to);
        let window = r.window;
        self.anomaly(
            AnomalyCode::OutOfWindowSegment,
            Some(seg.frame),
            Some(from),
            || {
                let what = if seg.flags.fin() { "FIN" } else { "segment" };
                let past = rcv_nxt.map_or(String::new(), |n| {
                    format!(", {} bytes past the {to}'s RCV.NXT {n}", seq.offset_from(n))
                });
                format!(
                    "{what} from the {from} at seq {seq} ({} bytes){past}: beyond the {window}-byte window it advertised (right edge {edge}); ignored",
                    seg.payload_len
                )
            },
        );
        true
    }

    /// A retransmitted SYN or FIN: evidence that an earlier copy, or its ACK, was lost.
    fn on_retransmitted_control(&mut self, seg: &Segment, from: Side, seg_end: SeqNum) {
        let to = from.peer();
        // The receiver's transition waits for the copy that got through, unless
        // the receiver already acknowledged the earlier one.
        if let Some((idx, after)) = self.end(to).received_control() {
            let acked = matches!(self.end(to).ack_sent(), Some(a) if after <= a);
            if after == seg_end && !acked && self.last_transition_of(to) == Some(idx) {
                let t = &mut self.steps_mut()[idx];
                t.frame = MaybeFrame::new(Some(seg.frame));
                t.ts_ns = seg.ts_ns;
                let e = self.end_mut(to);
                e.entered_ns = seg.ts_ns;
                e.entered_frame = MaybeFrame::new(Some(seg.frame));
                if e.state == State::TimeWait {
                    e.timer_ns = seg.ts_ns;
                }
            }
        }
        // The sender retransmits what the peer acknowledged: that ACK never arrived.
        if let Some((idx, ctrl)) = self.end(from).acked_control() {
            if ctrl + 1 == seg_end && self.last_transition_of(from) == Some(idx) {
                self.withdraw(idx);
                self.end_mut(from).set_acked_control(None);
            }
        }
        if seg.flags.fin() && self.state(to) == State::TimeWait {
            // RFC 9293 3.10.7.4, eighth: TIME-WAIT acknowledges the FIN again
            // and restarts its 2*MSL timer.
            self.end_mut(to).timer_ns = seg.ts_ns;
            self.anomaly(
                AnomalyCode::FinRetransmittedInTimeWait,
                Some(seg.frame),
                Some(from),
                || {
                    format!(
                        "{from} retransmitted its FIN; the {to} in TIME_WAIT acknowledges it again and restarts its 2*MSL timer"
                    )
                },
            );
        }
    }

    /// Both sides closed (or waiting out TIME_WAIT) after having been open.
    pub(super) fn both_done(&self) -> bool {
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
        for side in Side::BOTH {
            if self.state(side) == State::TimeWait {
                in_time_wait = Some(side);
                self.apply(side, Event::Reuse, seg);
            }
        }
        self.incarnation_start = self.steps.len();
        self.apply(from.peer(), Event::Reuse, seg);
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
        self.syn_unanswered = false;
        self.reset_by = None;
        self.first_syn_frame = MaybeFrame::NONE;
        self.first_syn_ack_frame = MaybeFrame::NONE;
        if let Some(side) = in_time_wait {
            self.anomaly(
                AnomalyCode::PortReuseInTimeWait,
                Some(seg.frame),
                Some(from),
                || format!("a new SYN reuses the pair while the {side} is in TIME_WAIT"),
            );
        }
    }

    /// Segments sent by, or to, a side that has closed (a bare SYN from it is
    /// a new attempt, not a stray).
    fn check_after_close(&mut self, seg: &Segment, from: Side) {
        let opens = seg.flags.syn() && !seg.flags.ack();
        for (side, role) in [(from, "sent by"), (from.peer(), "sent to")] {
            let e = self.end(side);
            if e.state == State::Closed && e.closed_after_open && !(opens && side == from) {
                self.anomaly(
                    AnomalyCode::SegmentAfterClose,
                    Some(seg.frame),
                    Some(side),
                    || format!("{} segment {role} the {side}, which is CLOSED", seg.flags),
                );
                return;
            }
        }
    }

    fn on_syn(&mut self, seg: &Segment, from: Side, retransmission: bool) {
        let to = from.peer();
        if seg.flags.ack() {
            if !retransmission {
                self.on_syn_ack(seg, from);
            }
            return;
        }
        let syn_end = SeqNum(seg.seq) + 1;
        if retransmission {
            // A client that gave up (its RST) tries again with the same SYN.
            if self.apply(from, Event::SendSyn, seg).is_some() && from == Side::Client {
                self.syn_unanswered = false;
            }
            // A listener again (its SYN_RCVD was undone by the RST answering a
            // bogus SYN-ACK, by a new SYN, or never happened) receives this copy.
            if self.state(to) == State::Listen {
                if let Some(idx) = self.apply(to, Event::RecvSyn, seg) {
                    self.end_mut(to).set_received_control(Some((idx, syn_end)));
                }
            }
            return;
        }
        // A bare SYN from a side that "received" the peer's SYN but never answered:
        // the SYNs crossed, so that reception had not happened yet.
        let crossed = self.state(from) == State::SynRcvd && !self.end(from).sent_any;
        if crossed {
            if let Some((idx, _)) = self.end(from).received_control() {
                self.withdraw(idx);
                self.end_mut(from).set_received_control(None);
            }
            // An active opener, not a listener: it was CLOSED before its SYN.
            if self.standing().all(|t| t.side != from) {
                self.initial[from.idx()] = State::Closed;
                self.end_mut(from).state = State::Closed;
            }
        }
        let opened = self.apply(from, Event::SendSyn, seg).is_some();
        if opened && from == Side::Client {
            // A new attempt: whether it gets an answer is judged afresh.
            self.syn_unanswered = false;
        }
        if opened || self.end(from).iss().is_none() {
            self.end_mut(from).set_iss(Some(SeqNum(seg.seq)));
            if let Some((tsval, _)) = seg.options.timestamp {
                self.end_mut(from).set_syn_tsval(Some(tsval));
            }
            if seg.payload_len > 0 && self.end(from).syn_data().is_none() {
                self.end_mut(from)
                    .set_syn_data(Some((seg.frame, seg.payload_len)));
                let n = seg.payload_len;
                self.anomaly(
                    AnomalyCode::SynWithData,
                    Some(seg.frame),
                    Some(from),
                    || format!("{n} bytes of data on the {from}'s SYN; no SYN-ACK seen"),
                );
            }
        }
        if from == Side::Client && self.first_syn_frame.get().is_none() {
            self.first_syn_frame = MaybeFrame::new(Some(seg.frame));
        }
        if crossed {
            // Our SYN now meets the peer's, which was waiting on the wire.
            let peer_syn_end = self.end(to).iss().map(|i| i + 1);
            if let Some(idx) = self.apply(from, Event::RecvSyn, seg) {
                if let Some(end) = peer_syn_end {
                    self.end_mut(from).set_received_control(Some((idx, end)));
                }
            }
        }
        match self.state(to) {
            State::Listen => {
                if let Some(idx) = self.apply(to, Event::RecvSyn, seg) {
                    self.end_mut(to).set_received_control(Some((idx, syn_end)));
                }
            }
            State::SynSent => {
                if let Some(idx) = self.apply(to, Event::RecvSyn, seg) {
                    self.end_mut(to).set_received_control(Some((idx, syn_end)));
                }
                self.anomaly(AnomalyCode::SimultaneousOpen, Some(seg.frame), None, || {
                    "both sides sent SYN; the SYNs crossed"
                });
            }
            // RFC 9293 3.10.7.4, fourth: a new SYN inside the window returns
            // a passive SYN_RCVD to LISTEN (Linux drops the request); any
            // other state answers it with a challenge ACK.
            State::SynRcvd => {
                let back_to_listen = self.apply(to, Event::RecvSyn, seg).is_some();
                if back_to_listen {
                    self.end_mut(to).set_received_control(None);
                }
            }
            _ => {}
        }
    }

    /// Is a SYN-ACK (or a RST) acceptable to `to` in SYN_SENT (RFC 9293
    /// 3.10.7.3): its ACK must cover the SYN and nothing unsent, and (Linux,
    /// RFC 7323) a timestamp echo must be one `to` sent on this attempt.
    fn synsent_acceptable(&self, seg: &Segment, to: Side) -> Result<(), Detail> {
        let e = self.end(to);
        let ack = SeqNum(seg.ack);
        if let (Some(iss), Some(nxt)) = (e.iss(), e.snd_nxt()) {
            if !(ack > iss && ack <= nxt) {
                // All three numbers are in the SYN sender's numbering.
                return Err(Detail::new()
                    .text("it acknowledges ")
                    .seq(to, ack)
                    .text(format_args!(" but the {to}'s SYN was "))
                    .seq(to, iss)
                    .text(" (expected ")
                    .seq(to, iss + 1)
                    .text(")"));
            }
        }
        if let (Some((_, tsecr)), Some(first), Some(last)) =
            (seg.options.timestamp, e.syn_tsval(), e.max_tsval())
        {
            if tsecr != 0 && !between(first, tsecr, last) {
                return Err(format!(
                    "it echoes timestamp {tsecr}, which the {to} never sent (its SYN's TSval {first}, latest {last})"
                )
                .into());
            }
        }
        Ok(())
    }

    fn on_syn_ack(&mut self, seg: &Segment, from: Side) {
        let to = from.peer();
        if self.state(from) == State::Listen {
            // The SYN it answers was not captured.
            self.infer(
                from,
                Event::RecvSyn,
                (seg.frame, seg.ts_ns),
                Cause::SynNotCaptured,
                seg.frame,
            );
        }
        self.end_mut(from).set_iss(Some(SeqNum(seg.seq)));
        if from == Side::Server && self.first_syn_ack_frame.get().is_none() {
            self.first_syn_ack_frame = MaybeFrame::new(Some(seg.frame));
        }
        match self.state(to) {
            State::SynSent => {
                if let Err(why) = self.synsent_acceptable(seg, to) {
                    self.end_mut(to).set_bad_syn_ack(Some(SeqNum(seg.ack)));
                    self.anomaly(
                        AnomalyCode::SynAckBadAck,
                        Some(seg.frame),
                        Some(from),
                        || {
                            Detail::new()
                                .text(format_args!("SYN-ACK not acceptable to the {to}: "))
                                .then(why)
                        },
                    );
                    return;
                }
            }
            State::SynRcvd => {
                // Simultaneous open: the SYN-ACK acknowledges its SYN.
                let e = self.end(to);
                let ok = match (e.iss(), e.snd_nxt()) {
                    (Some(iss), Some(nxt)) => SeqNum(seg.ack) > iss && SeqNum(seg.ack) <= nxt,
                    _ => true,
                };
                if !ok {
                    let iss = e.iss().unwrap_or_default();
                    self.anomaly(
                        AnomalyCode::SynAckBadAck,
                        Some(seg.frame),
                        Some(from),
                        || {
                            format!(
                            "SYN-ACK acknowledges {} but the {to}'s SYN was {iss} (expected {})",
                            seg.ack,
                            iss + 1
                        )
                        },
                    );
                    return;
                }
            }
            _ => return,
        }
        if let Some(idx) = self.apply(to, Event::RecvSynAck, seg) {
            let end = SeqNum(seg.seq) + 1;
            self.end_mut(to).set_received_control(Some((idx, end)));
        }
        if let Some((syn_frame, n)) = self.end(to).syn_data() {
            let covered = self
                .end(to)
                .iss()
                .map(|iss| SeqNum(seg.ack).offset_from(iss + 1));
            let detail = match covered {
                Some(c) if c >= n => format!(
                    "{n} bytes of data on the {to}'s SYN; the SYN-ACK (frame {}) acknowledges them: accepted (TCP Fast Open)",
                    seg.frame
                ),
                _ => format!(
                    "{n} bytes of data on the {to}'s SYN; the SYN-ACK (frame {}) acknowledges only the SYN: not accepted, sent again after the handshake",
                    seg.frame
                ),
            };
            self.anomalies
                .set_detail(AnomalyCode::SynWithData, syn_frame, detail);
        }
    }

    /// The ACK field of a non-SYN segment; returns true when it also consumed
    /// the segment's FIN for the receiver (FIN_WAIT_1 -> TIME_WAIT).
    fn on_ack(&mut self, seg: &Segment, from: Side) -> bool {
        let to = from.peer();
        let ack = SeqNum(seg.ack);
        if self.state(from) == State::SynSent {
            // It acknowledges a SYN-ACK: it must have received one.
            self.infer(
                from,
                Event::RecvSynAck,
                (seg.frame, seg.ts_ns),
                Cause::SynAckNotCaptured,
                seg.frame,
            );
            if self.end(to).iss().is_none() {
                self.end_mut(to).set_iss(Some(ack - 1));
                self.end_mut(to).set_snd_nxt(Some(ack));
            }
        }
        // An ACK past what the capture saw the peer send: the capture missed
        // it (sequence analysis reports it as `ack_lost_segment`).
        if let Some(nxt) = self.end(to).snd_nxt() {
            if ack > nxt {
                self.end_mut(to).set_snd_nxt(Some(ack));
            }
        }
        let e = self.end(to);
        // The ACK covers the SYN (FIN) when `end <= ack`; not `iss < ack`,
        // which differs when `ack` is exactly 2^31 past `end`.
        let acks_syn = e.iss().map(|iss| iss + 1).is_none_or(|end| end <= ack);
        let acks_fin = e.fin_seq().map(|fs| fs + 1).is_some_and(|end| end <= ack);
        let (event, control) = match e.state {
            State::SynRcvd if acks_syn => (Event::RecvAckOfSyn, e.iss()),
            State::FinWait1 if acks_fin && seg.flags.fin() => {
                (Event::RecvFinWithAckOfFin, e.fin_seq())
            }
            State::FinWait1 | State::Closing | State::LastAck if acks_fin => {
                (Event::RecvAckOfFin, e.fin_seq())
            }
            _ => return false,
        };
        let Some(idx) = self.apply(to, event, seg) else {
            return false;
        };
        if let Some(c) = control {
            self.end_mut(to).set_acked_control(Some((idx, c)));
        }
        if event == Event::RecvFinWithAckOfFin {
            let fin_end = SeqNum(seg.seq) + (seg.payload_len + 1);
            self.end_mut(to).set_received_control(Some((idx, fin_end)));
            return true;
        }
        false
    }

    fn on_data(&mut self, seg: &Segment, from: Side, retransmission: bool) {
        let e = self.end(from);
        let unopened = e.state == State::Closed && !e.closed_after_open;
        if !seg.flags.syn() && (matches!(e.state, State::SynSent | State::Listen) || unopened) {
            let state = e.state;
            self.anomaly(
                AnomalyCode::DataBeforeHandshake,
                Some(seg.frame),
                Some(from),
                || {
                    format!(
                        "{} bytes from the {from} while it is {state}",
                        seg.payload_len
                    )
                },
            );
        }
        let e = self.end(from);
        if let Some(fs) = e.fin_seq() {
            let end = SeqNum(seg.seq) + seg.payload_len;
            if !retransmission && end > fs {
                self.anomaly(
                    AnomalyCode::DataAfterFin,
                    Some(seg.frame),
                    Some(from),
                    || {
                        format!(
                            "{} bytes from the {from} after its FIN (seq {fs})",
                            seg.payload_len
                        )
                    },
                );
            }
        }
    }

    fn on_fin(&mut self, seg: &Segment, from: Side, receiver_took_fin: bool) {
        let to = from.peer();
        let fin_seq = SeqNum(seg.seq) + (seg.payload_len + seg.flags.syn() as u32);
        {
            let e = self.end_mut(from);
            if e.fin_seq().is_none() {
                e.set_fin_seq(Some(fin_seq));
            }
        }
        // A FIN that does not acknowledge the peer's FIN, from a side we thought
        // had received it: the FINs crossed, so that reception comes after.
        let peer_fin_end = self.end(to).fin_seq().map(|f| f + 1);
        let acks_peer_fin = seg.flags.ack() && peer_fin_end.is_some_and(|e| e <= SeqNum(seg.ack));
        let mut crossed = false;
        if let (Some((idx, end)), Some(pfe)) = (self.end(from).received_control(), peer_fin_end) {
            if self.state(from) == State::CloseWait
                && end == pfe
                && !acks_peer_fin
                && self.last_transition_of(from) == Some(idx)
            {
                self.withdraw(idx);
                self.end_mut(from).set_received_control(None);
                crossed = true;
            }
        }
        if self.apply(from, Event::SendFin, seg).is_some() && crossed {
            if let Some(idx) = self.apply(from, Event::RecvFin, seg) {
                if let Some(pfe) = peer_fin_end {
                    self.end_mut(from).set_received_control(Some((idx, pfe)));
                }
            }
        }
        if receiver_took_fin {
            return;
        }
        let fin_end = fin_seq + 1;
        if !matches!(
            self.state(to),
            State::Established | State::FinWait1 | State::FinWait2
        ) {
            return;
        }
        if self.state(to) == State::FinWait1 {
            self.anomaly(
                AnomalyCode::SimultaneousClose,
                Some(seg.frame),
                None,
                || "both sides sent FIN before receiving the other's",
            );
        }
        if let Some(idx) = self.apply(to, Event::RecvFin, seg) {
            self.end_mut(to).set_received_control(Some((idx, fin_end)));
        }
    }

    /// Is a RST from the peer acceptable to `to` (RFC 9293 3.10.7, RFC 5961)?
    fn judge_rst(&self, seg: &Segment, to: Side) -> RstVerdict {
        let e = self.end(to);
        match e.state {
            State::SynSent => {
                // 3.10.7.3: only a RST whose ACK acknowledges the SYN.
                if !seg.flags.ack() {
                    return RstVerdict::Unacceptable(
                        format!("it has no ACK, and the {to} is in SYN_SENT").into(),
                    );
                }
                match self.synsent_acceptable(seg, to) {
                    Ok(()) => RstVerdict::Exact,
                    Err(why) => RstVerdict::Unacceptable(why),
                }
            }
            State::Closed | State::Listen => RstVerdict::Exact,
            _ => {
                let Some(left) = self.rcv_nxt(to) else {
                    return RstVerdict::Exact;
                };
                let seq = SeqNum(seg.seq);
                if seq == left {
                    return RstVerdict::Exact;
                }
                let wnd = self.receive_window(to).max(1);
                if seq.in_window(left, wnd) {
                    RstVerdict::InWindow
                } else {
                    // The RST's and the window's numbers are its sender's,
                    // so `show` can print them relative as the ladder does.
                    let sender = to.peer();
                    let why = Detail::new().text("seq ").seq(sender, seq);
                    RstVerdict::Unacceptable(if seq < left {
                        why.text(format_args!(
                            " is below what the {to} has received (RCV.NXT "
                        ))
                        .seq(sender, left)
                        .text(")")
                    } else {
                        why.text(format_args!(" is outside the {to}'s window ["))
                            .seq(sender, left)
                            .text(", ")
                            .seq(sender, left + wnd)
                            .text(")")
                    })
                }
            }
        }
    }

    /// The window `side` last advertised, in bytes; without the handshake
    /// the scale is unknown, so the largest one is assumed.
    fn receive_window(&self, side: Side) -> u32 {
        self.end(side).window
    }

    fn on_rst(&mut self, seg: &Segment, from: Side) {
        let to = from.peer();
        let (from_state, to_state) = (self.state(from), self.state(to));
        let (c, s) = (Side::Client, Side::Server);
        // RFC 9293 3.10.7.3: SYN_SENT answers an unacceptable SYN-ACK with
        // <SEQ=SEG.ACK><CTL=RST> and stays in SYN_SENT; the SYN-ACK's
        // sender, whose RCV.NXT that number is, accepts it.
        if from_state == State::SynSent
            && !seg.flags.ack()
            && self.end(from).bad_syn_ack() == Some(SeqNum(seg.seq))
        {
            self.end_mut(from).set_bad_syn_ack(None);
            self.end_mut(from).sent_any = true;
            self.apply(to, Event::RecvRst, seg);
            self.forget_answer(to);
            return;
        }
        // A client giving up on a SYN nobody answered: the server's SYN_RCVD
        // is withdrawn, as when the client just stops retransmitting.
        if from == c && from_state == State::SynSent && !self.end(s).sent_any {
            self.end_mut(from).sent_any = true;
            self.end_mut(from).sent_rst = true;
            self.withdraw_incarnation(s, false);
            self.apply(from, Event::SendRst, seg);
            self.syn_unanswered = true;
            let syn = self.first_syn_frame.get();
            self.anomaly(AnomalyCode::SynUnanswered, syn, Some(c), || {
                format!(
                    "the client's SYN got no answer; the client gave up with RST at frame {}",
                    seg.frame
                )
            });
            return;
        }
        let exact = match self.judge_rst(seg, to) {
            RstVerdict::Exact => true,
            RstVerdict::InWindow => false,
            RstVerdict::Unacceptable(why) => {
                self.anomaly(
                    AnomalyCode::OutOfWindowRst,
                    Some(seg.frame),
                    Some(from),
                    || {
                        Detail::new()
                            .text(format_args!("RST from the {from} ignored: "))
                            .then(why)
                    },
                );
                return;
            }
        };
        self.end_mut(from).sent_any = true;
        let never_answered = !self.end(s).sent_beyond_syn;
        if from == s && to_state == State::SynSent && never_answered {
            // RST answering a SYN: nobody listened. The server's SYN_RCVD never
            // was, nor its LISTEN: it was CLOSED.
            self.withdraw_incarnation(s, true);
            if self.incarnation_start == 0 {
                self.initial[s.idx()] = State::Closed;
            }
            self.end_mut(s).state = State::Closed;
            self.apply(to, Event::RecvRst, seg);
            self.refused = true;
            self.end_mut(from).sent_rst = true;
            self.anomaly(AnomalyCode::Refused, Some(seg.frame), Some(from), || {
                "the server answered the SYN with RST"
            });
            return;
        }
        if self.both_done() {
            // Both sides had closed (RFC 9293 3.10.7.4: TIME-WAIT takes the
            // RST and closes, Linux's default): not an abort of anything.
            self.anomaly(
                AnomalyCode::SegmentAfterClose,
                Some(seg.frame),
                Some(if from_state == State::Closed { from } else { to }),
                || {
                    format!(
                        "RST from the {from} ({from_state}) to the {to} ({to_state}) after both sides had closed"
                    )
                },
            );
            self.apply(from, Event::SendRst, seg);
            self.apply(to, Event::RecvRst, seg);
            return;
        }
        if from_state == State::Closed && to_state == State::Closed {
            return;
        }
        let transitions_before = self.steps.len();
        let anomalies_before = self.anomalies.mark();
        let reset_by_before = self.reset_by;
        self.end_mut(from).sent_rst = true;
        self.apply(from, Event::SendRst, seg);
        self.apply(to, Event::RecvRst, seg);
        let in_handshake = |s: State| matches!(s, State::SynSent | State::SynRcvd);
        if in_handshake(from_state) || in_handshake(to_state) {
            self.handshake_reset = true;
            self.anomaly(
                AnomalyCode::HandshakeReset,
                Some(seg.frame),
                Some(from),
                || format!("the {from} sent RST in {from_state}; the {to} was {to_state}"),
            );
        } else {
            if self.reset_by.is_none() {
                self.reset_by = Some(from);
            }
            self.anomaly(AnomalyCode::Reset, Some(seg.frame), Some(from), || {
                format!("the {from} sent RST in {from_state}; the {to} was {to_state}")
            });
        }
        if !exact {
            // Obeyed for now; a challenge ACK from the receiver will undo it.
            self.pending_inexact_rst = Some(Box::new(InexactRst {
                receiver: to,
                frame: seg.frame,
                seq: SeqNum(seg.seq),
                transitions_before,
                anomalies_before,
                reset_by_before,
            }));
        }
    }

    /// A side's answer in the handshake was refused (a bogus SYN-ACK reset by
    /// the client): its sequence numbers are forgotten, so the next SYN-ACK
    /// starts afresh; that it answered is remembered.
    fn forget_answer(&mut self, side: Side) {
        let e = self.end_mut(side);
        *e = SideState {
            state: e.state,
            open: e.open,
            entered_ns: e.entered_ns,
            entered_frame: e.entered_frame,
            timer_ns: e.timer_ns,
            sent_any: e.sent_any,
            sent_beyond_syn: e.sent_beyond_syn,
            ..SideState::default()
        };
    }

    /// The receiver of an inexact RST answered with a non-RST segment: it
    /// challenged the RST instead of closing (RFC 5961), so the RST's effects
    /// are undone.
    fn undo_challenged_rst(&mut self, p: InexactRst) {
        let from = p.receiver;
        for i in (p.transitions_before..self.steps.len()).rev() {
            if !self.steps[i].withdrawn {
                self.withdraw(i);
            }
        }
        self.anomalies.rewind(&p.anomalies_before);
        self.reset_by = p.reset_by_before;
        self.handshake_reset = self.anomalies.contains(AnomalyCode::HandshakeReset);
        self.anomaly(
            AnomalyCode::RstChallenged,
            Some(p.frame),
            Some(from.peer()),
            || {
                format!(
                    "RST with seq {} was inside the {from}'s window but not at the expected number; the {from} answered with a challenge ACK and stayed open",
                    p.seq
                )
            },
        );
    }

    /// Remembers what the sender has now sent and acknowledged.
    #[inline(always)]
    fn note_sent(&mut self, seg: &Segment, from: Side, seg_end: SeqNum) {
        let f = seg.flags;
        let peer = self.end(from.peer());
        let peer_syn = PeerSyn::of(peer.sent_bare_syn || peer.sent_syn_ack, peer.window_scale);
        let known_scale = self.handshake_seen();
        let e = self.end_mut(from);
        e.sent_any = true;
        if !f.syn() || f.ack() {
            e.sent_beyond_syn = true;
        }
        if f.fin() {
            e.sent_fin = true;
        }
        if f.syn() {
            if f.ack() {
                e.sent_syn_ack = true;
            } else {
                e.sent_bare_syn = true;
            }
            if seg.options.window_scale.is_some() {
                e.window_scale = seg.options.window_scale;
            }
        }
        if let Some((tsval, _)) = seg.options.timestamp {
            let max = match e.max_tsval() {
                Some(m) if SeqNum(m) >= SeqNum(tsval) => m,
                _ => tsval,
            };
            e.set_max_tsval(Some(max));
        }
        e.set_snd_nxt(Some(e.snd_nxt().map_or(seg_end, |n| seg_end.max(n))));
        e.window = if known_scale || f.syn() {
            scaled_window(seg.window, f.syn(), e.window_scale, peer_syn)
        } else {
            u32::from(seg.window) << MAX_WINDOW_SHIFT
        };
        if f.ack() {
            let ack = SeqNum(seg.ack);
            e.set_ack_sent(Some(e.ack_sent().map_or(ack, |a| ack.max(a))));
            let edge = ack + e.window;
            e.set_wnd_edge(Some(e.wnd_edge().map_or(edge, |w| edge.max(w))));
        }
    }
}
