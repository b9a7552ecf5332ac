//! What only the end of the capture reveals: timers that ran out, handshakes
//! nobody answered or completed, sides stuck in CLOSE_WAIT or FIN_WAIT_2,
//! captures that saw one direction only, and how the connection ended.

use std::fmt;

use serde::Serialize;

use super::observer::{PairedMachines, Phase};
use super::rules::State;
use crate::anomaly::AnomalyCode;
use crate::model::Side;

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
    /// The SYN got no answer the client could accept.
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

impl PairedMachines {
    /// Ends the connection at capture end: timers, and conditions only the end reveals.
    pub fn finish(&mut self, capture_end_ns: i64) {
        self.finished_ns = Some(capture_end_ns);
        self.expire_timers(capture_end_ns);
        if !matches!(self.phase, Phase::Live) {
            return;
        }
        let (c, s) = (Side::Client, Side::Server);
        if self.state(c) == State::SynSent
            && !self.end(s).sent_any
            && !self.refused
            && !self.syn_unanswered
        {
            // No answer at all: the SYN never reached the listener.
            self.withdraw_incarnation(s, false);
            self.syn_unanswered = true;
            self.anomaly(
                AnomalyCode::SynUnanswered,
                self.first_syn_frame.get(),
                Some(c),
                || "the client's SYN got no answer",
            );
        }
        self.judge_one_sided();
        let one_sided = self.one_sided.is_some();
        for side in [c, s] {
            let e = self.end(side);
            let (state, entered_frame, sent_any) = (e.state, e.entered_frame.get(), e.sent_any);
            let stuck_for = capture_end_ns - e.entered_ns;
            match state {
                State::SynRcvd if sent_any && !one_sided => {
                    self.half_open = true;
                    let frame = self.first_syn_ack_frame.get().or(entered_frame);
                    self.anomaly(AnomalyCode::HalfOpen, frame, Some(side), || {
                        format!("the {side} is still in SYN_RCVD at capture end")
                    });
                }
                State::CloseWait if stuck_for >= self.cfg.close_wait_threshold_ns && !one_sided => {
                    self.anomaly(
                        AnomalyCode::CloseWaitStuck,
                        entered_frame,
                        Some(side),
                        || {
                            format!(
                                "the {side} stayed in CLOSE_WAIT for {:.3} s without closing",
                                stuck_for as f64 / 1e9
                            )
                        },
                    );
                }
                State::FinWait2 if stuck_for >= self.cfg.fin_wait_2_threshold_ns && !one_sided => {
                    self.anomaly(
                        AnomalyCode::FinWait2Stuck,
                        entered_frame,
                        Some(side),
                        || {
                            format!(
                            "the {side} stayed in FIN_WAIT_2 for {:.3} s; the {} never sent FIN",
                            stuck_for as f64 / 1e9,
                            side.peer()
                        )
                        },
                    );
                }
                _ => {}
            }
        }
        let ended = |st: State| matches!(st, State::Closed | State::TimeWait | State::Listen);
        let handshake_done = self.ends.iter().any(|e| e.reached_established);
        let no_fin_or_rst = self.ends.iter().all(|e| !e.sent_fin && !e.sent_rst);
        let open = !ended(self.state(c)) && !ended(self.state(s));
        if handshake_done && no_fin_or_rst && open && !self.half_open && !one_sided {
            let (cs, ss) = (self.state(c), self.state(s));
            self.anomaly(AnomalyCode::NoClose, None, None, || {
                format!("still open at capture end (client {cs}, server {ss})")
            });
        }
    }

    /// Only one direction was captured (asymmetric routing, a tap on one
    /// direction): a side that never sent a segment although the other's
    /// show it took part (they answer it, or acknowledge what it sent). Its
    /// transitions are then inferences, and marked so.
    fn judge_one_sided(&mut self) {
        let Some(silent) = Side::BOTH.into_iter().find(|s| !self.end(*s).sent_any) else {
            return;
        };
        let seen = silent.peer();
        if !self.end(seen).sent_beyond_syn || self.refused || self.probe_refused {
            return;
        }
        self.one_sided = Some(silent);
        let start = self.incarnation_start;
        for t in &mut self.steps_mut()[start..] {
            if t.side == silent && !t.withdrawn && !t.inferred && t.frame.get().is_some() {
                t.inferred = true;
                t.evidence_frame = t.frame;
            }
        }
        self.anomaly(AnomalyCode::OneSided, None, Some(silent), || {
            format!(
                "only the {seen}->{silent} direction was captured (asymmetric routing or a one-way tap): \
                 no segment from the {silent}, so its states, and what the {seen} received, are inferred"
            )
        });
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
        } else if self.standing().next().is_none() {
            Outcome::NoConnection
        } else if self.state(Side::Client) == State::SynSent {
            // Its SYN was answered, but not acceptably (`syn_ack_bad_ack`).
            Outcome::SynUnanswered
        } else {
            Outcome::Open
        }
    }
}
