//! One row per edge of the RFC 9293 diagram and per anomaly, in the spirit of
//! smoltcp's TCP tests, and a table of every state against the events that
//! can happen in it, from machines driven there by `in_states`. Each row is a
//! short script of segments written with the project's generator (which keeps
//! sequence and acknowledgement numbers right), encoded to bytes and decoded
//! back, so the real decoder feeds the machines.

use super::*;
use crate::anomaly::AnomalyCode as A;
use crate::model::{SeqNum, Side};
use crate::test_support::decoded_segments;
use tcpstate_synth::{Conv, Side as S, TcpFlags as F};
use State::*;

const C: S = S::Client;
const SV: S = S::Server;
const SEC: u64 = 1_000_000_000;

fn conv() -> Conv {
    Conv::new(
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        1000,
        5000,
    )
}

fn segments(c: &Conv) -> Vec<(crate::model::Segment, Side)> {
    decoded_segments(c)
}

/// Runs a script through fresh machines, finishing at the last segment's time
/// plus `extra_ns`.
fn run_with(c: &Conv, cfg: Config, extra_ns: i64) -> PairedMachines {
    let mut m = PairedMachines::new(cfg);
    let segs = segments(c);
    for (seg, side) in &segs {
        m.on_segment(seg, *side);
    }
    let end = segs.last().map_or(0, |(s, _)| s.ts_ns) + extra_ns;
    m.finish(end);
    assert!(m.all_transitions_are_rfc_edges(), "{:#?}", m.steps);
    m
}

fn run(c: &Conv) -> PairedMachines {
    run_with(c, Config::default(), 0)
}

fn codes(m: &PairedMachines) -> Vec<A> {
    m.anomalies().iter().map(|a| a.code).collect()
}

/// (frame, side, from, to) of every standing transition.
fn edges(m: &PairedMachines) -> Vec<(Option<u64>, Side, State, State)> {
    m.transitions()
        .map(|t| (t.frame, t.side, t.from, t.to))
        .collect()
}

struct Row {
    name: &'static str,
    script: fn(&mut Conv),
    client: &'static [State],
    server: &'static [State],
    anomalies: &'static [A],
}

fn handshake(c: &mut Conv) {
    c.handshake();
}

#[test]
fn every_rfc_path() {
    let rows = [
        Row {
            name: "three-way handshake",
            script: handshake,
            client: &[Closed, SynSent, Established],
            server: &[Listen, SynRcvd, Established],
            anomalies: &[A::NoClose],
        },
        Row {
            name: "SYN retransmitted",
            script: |c| {
                c.syn();
                c.retransmit_last(C);
                c.syn_ack();
                c.ack(C);
            },
            client: &[Closed, SynSent, Established],
            server: &[Listen, SynRcvd, Established],
            anomalies: &[A::NoClose],
        },
        Row {
            name: "SYN-ACK retransmitted",
            script: |c| {
                c.syn();
                c.syn_ack();
                c.retransmit_last(SV);
                c.ack(C);
            },
            client: &[Closed, SynSent, Established],
            server: &[Listen, SynRcvd, Established],
            anomalies: &[A::NoClose],
        },
        Row {
            name: "data on the SYN (TCP Fast Open)",
            script: |c| {
                c.send(C, F::SYN, 100);
                c.syn_ack();
                c.ack(C);
            },
            client: &[Closed, SynSent, Established],
            server: &[Listen, SynRcvd, Established],
            anomalies: &[A::SynWithData, A::NoClose],
        },
        Row {
            name: "simultaneous open",
            script: |c| {
                c.simultaneous_open();
                c.ack(C);
            },
            client: &[Closed, SynSent, SynRcvd, Established],
            server: &[Closed, SynSent, SynRcvd, Established],
            anomalies: &[A::SimultaneousOpen, A::NoClose],
        },
        Row {
            name: "active close by the client",
            script: |c| {
                c.handshake();
                c.fin(C);
                c.ack(SV);
                c.fin(SV);
                c.ack(C);
            },
            client: &[Closed, SynSent, Established, FinWait1, FinWait2, TimeWait],
            server: &[Listen, SynRcvd, Established, CloseWait, LastAck, Closed],
            anomalies: &[],
        },
        Row {
            name: "active close by the server",
            script: |c| {
                c.handshake();
                c.fin(SV);
                c.ack(C);
                c.fin(C);
                c.ack(SV);
            },
            client: &[Closed, SynSent, Established, CloseWait, LastAck, Closed],
            server: &[Listen, SynRcvd, Established, FinWait1, FinWait2, TimeWait],
            anomalies: &[],
        },
        Row {
            name: "FIN_WAIT_1 -> TIME_WAIT when the peer's FIN acks ours",
            script: |c| {
                c.handshake();
                c.fin(C);
                c.fin(SV);
                c.ack(C);
            },
            client: &[Closed, SynSent, Established, FinWait1, TimeWait],
            server: &[Listen, SynRcvd, Established, CloseWait, LastAck, Closed],
            anomalies: &[],
        },
        Row {
            name: "simultaneous close",
            script: |c| {
                c.handshake();
                c.simultaneous_close();
            },
            client: &[Closed, SynSent, Established, FinWait1, Closing, TimeWait],
            server: &[Listen, SynRcvd, Established, FinWait1, Closing, TimeWait],
            anomalies: &[A::SimultaneousClose],
        },
        Row {
            name: "half-close: data from the CLOSE_WAIT side",
            script: |c| {
                c.handshake();
                c.fin(C);
                c.ack(SV);
                c.data(SV, 500);
                c.data(SV, 500);
                c.ack(C);
                c.fin(SV);
                c.ack(C);
            },
            client: &[Closed, SynSent, Established, FinWait1, FinWait2, TimeWait],
            server: &[Listen, SynRcvd, Established, CloseWait, LastAck, Closed],
            anomalies: &[],
        },
        Row {
            name: "RST by the client in ESTABLISHED",
            script: |c| {
                c.handshake();
                c.data(C, 10);
                c.rst(C);
            },
            client: &[Closed, SynSent, Established, Closed],
            server: &[Listen, SynRcvd, Established, Closed],
            anomalies: &[A::Reset],
        },
        Row {
            name: "RST by the server in CLOSE_WAIT (close with unread data)",
            script: |c| {
                c.handshake();
                c.fin(C);
                c.rst(SV);
            },
            client: &[Closed, SynSent, Established, FinWait1, Closed],
            server: &[Listen, SynRcvd, Established, CloseWait, Closed],
            anomalies: &[A::Reset],
        },
        Row {
            name: "out-of-window RST is reported, not obeyed",
            script: |c| {
                c.handshake();
                let seq = (SeqNum(c.next_seq(C)) + 10_000_000).0;
                c.raw(C, F::RST, seq, 0, 0);
            },
            client: &[Closed, SynSent, Established],
            server: &[Listen, SynRcvd, Established],
            anomalies: &[A::OutOfWindowRst, A::NoClose],
        },
        Row {
            name: "refused: RST answering a SYN",
            script: |c| {
                c.syn();
                c.refuse();
            },
            client: &[Closed, SynSent, Closed],
            server: &[Closed],
            anomalies: &[A::Refused],
        },
        Row {
            name: "SYN unanswered",
            script: |c| {
                c.syn();
                c.retransmit_last(C);
            },
            client: &[Closed, SynSent],
            server: &[Listen],
            anomalies: &[A::SynUnanswered],
        },
        Row {
            name: "half-open: SYN_RCVD never completed",
            script: |c| {
                c.syn();
                c.syn_ack();
            },
            client: &[Closed, SynSent, Established],
            server: &[Listen, SynRcvd],
            anomalies: &[A::HalfOpen],
        },
        Row {
            name: "RST in SYN_RCVD returns a passive server to LISTEN",
            script: |c| {
                c.syn();
                c.syn_ack();
                c.rst(C);
            },
            client: &[Closed, SynSent, Established, Closed],
            server: &[Listen, SynRcvd, Listen],
            anomalies: &[A::HandshakeReset],
        },
        Row {
            name: "capture starts mid-connection",
            script: |c| {
                *c = Conv::established(c.addr(C), c.addr(SV), 7000, 9000);
                c.data(C, 100);
                c.data(SV, 200);
                c.fin(C);
                c.fin(SV);
                c.ack(C);
            },
            client: &[Closed, SynSent, Established, FinWait1, TimeWait],
            server: &[Listen, SynRcvd, Established, CloseWait, LastAck, Closed],
            anomalies: &[A::Midstream],
        },
        Row {
            name: "SYN-ACK without its SYN",
            script: |c| {
                c.syn();
                c.syn_ack();
                c.ack(C);
                c.segments_mut().remove(0);
            },
            client: &[Closed, SynSent, Established],
            server: &[Listen, SynRcvd, Established],
            anomalies: &[A::Midstream, A::NoClose],
        },
        Row {
            name: "sequence numbers wrap around 2^32",
            script: |c| {
                *c = Conv::new(c.addr(C), c.addr(SV), u32::MAX - 50, u32::MAX - 10);
                c.handshake();
                c.data(C, 100);
                c.data(SV, 100);
                c.fin(C);
                c.fin(SV);
                c.ack(C);
            },
            client: &[Closed, SynSent, Established, FinWait1, TimeWait],
            server: &[Listen, SynRcvd, Established, CloseWait, LastAck, Closed],
            anomalies: &[],
        },
        Row {
            name: "keep-alives and window probes do not move states",
            script: |c| {
                c.handshake();
                c.data(C, 10);
                c.ack(SV);
                let seq = (SeqNum(c.next_seq(C)) - 1).0;
                let ack = c.rcv_nxt(C).unwrap();
                c.raw(C, F::ACK, seq, ack, 0);
                c.raw(C, F::ACK, seq, ack, 1);
                c.ack(SV);
            },
            client: &[Closed, SynSent, Established],
            server: &[Listen, SynRcvd, Established],
            anomalies: &[A::NoClose],
        },
    ];
    for row in rows {
        let mut c = conv();
        (row.script)(&mut c);
        let m = run(&c);
        assert_eq!(m.states(Side::Client), row.client, "{}: client", row.name);
        assert_eq!(m.states(Side::Server), row.server, "{}: server", row.name);
        assert_eq!(
            codes(&m),
            row.anomalies,
            "{}: anomalies {:#?}",
            row.name,
            m.anomalies()
        );
    }
}

#[test]
fn handshake_frames_follow_the_vantage_rule() {
    let mut c = conv();
    c.handshake();
    let m = run(&c);
    assert_eq!(
        edges(&m),
        [
            (Some(1), Side::Client, Closed, SynSent),
            (Some(1), Side::Server, Listen, SynRcvd),
            (Some(2), Side::Client, SynSent, Established),
            (Some(3), Side::Server, SynRcvd, Established),
        ]
    );
}

#[test]
fn retransmitted_syn_moves_the_servers_transition() {
    let mut c = conv();
    c.syn();
    c.retransmit_last(C);
    c.syn_ack();
    let m = run(&c);
    let t: Vec<_> = m.transitions().filter(|t| t.side == Side::Server).collect();
    assert_eq!(t.len(), 1);
    assert_eq!((t[0].frame, t[0].to), (Some(2), SynRcvd));
}

#[test]
fn lost_final_ack_withdraws_and_redoes_last_ack_to_closed() {
    let mut c = conv();
    c.handshake();
    c.fin(C); // 4
    c.ack(SV); // 5
    c.fin(SV); // 6
    c.ack(C); // 7: lost on its way
    c.retransmit_last(SV); // 8: server retransmits FIN
    c.retransmit_last(C); // 9: client re-ACKs from TIME_WAIT
    let m = run(&c);
    let server: Vec<_> = m
        .transitions()
        .filter(|t| t.side == Side::Server && t.to == Closed)
        .map(|t| t.frame)
        .collect();
    assert_eq!(server, [Some(9)]);
    assert_eq!(codes(&m), [A::FinRetransmittedInTimeWait]);
    assert_eq!(m.anomalies()[0].frame, Some(8));
    assert_eq!(m.state(Side::Server), Closed);
}

#[test]
fn time_wait_lasts_two_msl_of_capture_time() {
    let mut c = conv();
    c.handshake();
    c.fin(C);
    c.fin(SV);
    c.ack(C);
    let cfg = Config {
        msl_ns: 5 * SEC as i64,
        ..Config::default()
    };
    let m = run_with(&c, cfg, 9 * SEC as i64);
    assert_eq!(m.state(Side::Client), TimeWait);
    let m = run_with(&c, cfg, 11 * SEC as i64);
    assert_eq!(m.state(Side::Client), Closed);
    let last = m.transitions().last().unwrap();
    assert_eq!((last.frame, last.cause), (None, Cause::TimeWaitExpired));
    assert_eq!(last.ts_ns, segments(&c)[4].0.ts_ns + 10 * SEC as i64);
}

/// An MSL too large for 2 * MSL to fit in an i64 (`--msl 1e10`) means TIME_WAIT
/// never expires within the capture, instead of overflowing.
#[test]
fn huge_msl_keeps_time_wait_without_overflow() {
    let mut c = conv();
    c.handshake();
    c.fin(C);
    c.fin(SV);
    c.ack(C);
    let cfg = Config {
        msl_ns: i64::MAX / 2 + 1,
        ..Config::default()
    };
    let m = run_with(&c, cfg, 1_000_000 * SEC as i64);
    assert_eq!(m.state(Side::Client), TimeWait);
}

#[test]
fn anomalies_each_with_frame_and_side() {
    type Script = fn(&mut Conv);
    /// (name, script, extra time at the end, code, frame, side)
    type AnomalyRow = (&'static str, Script, i64, A, Option<u64>, Option<Side>);
    let rows: [AnomalyRow; 9] = [
        (
            "SYN-ACK acknowledging the wrong number",
            |c| {
                c.syn();
                c.raw(SV, F::SYN | F::ACK, 5000, 4242, 0);
            },
            0,
            A::SynAckBadAck,
            Some(2),
            Some(Side::Server),
        ),
        (
            "data before the handshake completes",
            |c| {
                c.syn();
                c.send(C, F::PSH, 20);
            },
            0,
            A::DataBeforeHandshake,
            Some(2),
            Some(Side::Client),
        ),
        (
            "data after FIN",
            |c| {
                c.handshake();
                c.fin(C);
                c.data(C, 30);
            },
            0,
            A::DataAfterFin,
            Some(5),
            Some(Side::Client),
        ),
        (
            "segment after close",
            |c| {
                c.handshake();
                c.rst(C);
                c.data(SV, 30);
            },
            0,
            A::SegmentAfterClose,
            Some(5),
            Some(Side::Server),
        ),
        (
            "CLOSE_WAIT past the threshold",
            |c| {
                c.handshake();
                c.fin(C);
                c.ack(SV);
            },
            61 * SEC as i64,
            A::CloseWaitStuck,
            Some(4),
            Some(Side::Server),
        ),
        (
            "FIN_WAIT_2 past the threshold",
            |c| {
                c.handshake();
                c.fin(C);
                c.ack(SV);
            },
            61 * SEC as i64,
            A::FinWait2Stuck,
            Some(5),
            Some(Side::Client),
        ),
        (
            "SYN+FIN",
            |c| {
                c.raw(C, F::SYN | F::FIN, 1, 0, 0);
            },
            0,
            A::InvalidFlags,
            Some(1),
            Some(Side::Client),
        ),
        (
            "a FIN far beyond the receiver's window",
            |c| {
                c.handshake();
                let seq = (SeqNum(c.next_seq(C)) + 5_000_000).0;
                let ack = c.rcv_nxt(C).unwrap();
                c.raw(C, F::FIN | F::ACK, seq, ack, 0);
            },
            0,
            A::OutOfWindowSegment,
            Some(4),
            Some(Side::Client),
        ),
        (
            "still open at the end",
            handshake,
            0,
            A::NoClose,
            None,
            None,
        ),
    ];
    for (name, script, extra, code, frame, side) in rows {
        let mut c = conv();
        script(&mut c);
        let m = run_with(&c, Config::default(), extra);
        let found = m.anomalies().iter().find(|a| a.code == code);
        let a = found.unwrap_or_else(|| panic!("{name}: no {code} in {:#?}", m.anomalies()));
        assert_eq!((a.frame, a.side), (frame, side), "{name}: {a:?}");
        assert!(!a.detail.is_empty());
    }
}

#[test]
fn invalid_flag_combinations_are_each_named() {
    for (flags, what) in [
        (F::SYN | F::FIN, "SYN+FIN"),
        (F::SYN | F::RST, "SYN+RST"),
        (F::NONE, "no flags"),
        (F::FIN, "FIN without ACK"),
        (F::FIN | F::PSH | F::URG, "XMAS"),
    ] {
        let mut c = conv();
        c.raw(C, flags, 1, 0, 0);
        let m = run(&c);
        assert_eq!(codes(&m), [A::InvalidFlags], "{what}");
        assert!(
            m.anomalies()[0].detail.contains(what),
            "{what}: {}",
            m.anomalies()[0].detail
        );
        assert_eq!(m.states(Side::Client), [Closed], "{what}: no state moves");
        assert_eq!(m.states(Side::Server), [Listen], "{what}: no state moves");
    }
}

#[test]
fn outcomes() {
    type Script = fn(&mut Conv);
    let rows: [(Script, Outcome); 6] = [
        (
            |c| {
                c.handshake();
                c.fin(C);
                c.fin(SV);
                c.ack(C);
            },
            Outcome::Closed,
        ),
        (
            |c| {
                c.handshake();
                c.fin(C);
                c.ack(SV);
            },
            Outcome::HalfClosed,
        ),
        (
            |c| {
                c.handshake();
                c.rst(SV);
            },
            Outcome::ResetByServer,
        ),
        (
            |c| {
                c.syn();
                c.refuse();
            },
            Outcome::Refused,
        ),
        (
            |c| {
                c.syn();
            },
            Outcome::SynUnanswered,
        ),
        (handshake, Outcome::Open),
    ];
    for (script, want) in rows {
        let mut c = conv();
        script(&mut c);
        assert_eq!(run(&c).outcome(), want);
    }
}

#[test]
fn state_names_are_the_rfc_names() {
    let names: Vec<&str> = State::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "CLOSED",
            "LISTEN",
            "SYN_SENT",
            "SYN_RCVD",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "CLOSING",
            "TIME_WAIT",
            "CLOSE_WAIT",
            "LAST_ACK"
        ]
    );
    assert_eq!(State::from_name("time-wait"), Some(TimeWait));
    assert_eq!(TimeWait.to_string(), "TIME_WAIT");
}

#[test]
fn inexact_rst_is_undone_by_a_challenge_ack() {
    let mut c = conv();
    c.handshake();
    c.data(C, 10);
    let seq = (SeqNum(c.next_seq(SV)) + 100).0;
    c.raw(SV, F::RST, seq, 0, 0);
    c.ack(C); // challenge ACK
    let seq = c.next_seq(SV);
    let ack = c.rcv_nxt(SV).unwrap();
    c.raw(SV, F::RST | F::ACK, seq, ack, 0);
    let m = run(&c);
    assert_eq!(
        codes(&m),
        [A::RstChallenged, A::Reset],
        "{:#?}",
        m.anomalies()
    );
    assert_eq!(
        m.states(Side::Client),
        [Closed, SynSent, Established, Closed]
    );
    let closed_at: Vec<_> = m
        .transitions()
        .filter(|t| t.to == Closed)
        .map(|t| t.frame)
        .collect();
    assert_eq!(closed_at, [Some(7), Some(7)]);
}

/// Machines fed a script up to some pair of states, with the conversation, so a
/// test can add segments and feed only those.
struct Scene {
    m: PairedMachines,
    c: Conv,
    /// Segments of `c` already fed to `m`.
    fed: usize,
}

impl Scene {
    /// Feeds the machines the segments added to the conversation since last time.
    fn feed(&mut self) {
        let segs = segments(&self.c);
        for (seg, side) in &segs[self.fed..] {
            self.m.on_segment(seg, *side);
        }
        self.fed = segs.len();
    }

    fn states(&self) -> (State, State) {
        (self.m.state(Side::Client), self.m.state(Side::Server))
    }
}

/// Appends the shortest realistic script that takes fresh machines to
/// `(client, server)`; false when there is none.
fn script_to(c: &mut Conv, client: State, server: State) -> bool {
    match (client, server) {
        (Closed, Listen) => {}
        (SynSent, SynRcvd) => {
            c.syn();
        }
        (Established, SynRcvd) => {
            c.syn();
            c.syn_ack();
        }
        // Simultaneous open, stopped before one or both SYN-ACKs.
        (SynRcvd, SynRcvd) | (SynRcvd, Established) => {
            c.simultaneous_open();
            let keep = if server == SynRcvd { 2 } else { 3 };
            c.segments_mut().truncate(keep);
        }
        (Established, Established) => {
            c.handshake();
        }
        (Closed, Closed) => {
            c.handshake();
            c.rst(C);
        }
        // Simultaneous close, stopped before one or both final ACKs.
        (Closing, Closing) | (Closing, TimeWait) | (TimeWait, TimeWait) => {
            c.handshake();
            c.simultaneous_close();
            let unsent_acks = match (client, server) {
                (Closing, Closing) => 2,
                (Closing, TimeWait) => 1,
                _ => 0,
            };
            let keep = c.segments().len() - unsent_acks;
            c.segments_mut().truncate(keep);
        }
        // An active close by either side, as far as it got.
        _ => {
            let (active, passive, closer) = if matches!(server, CloseWait | LastAck | Closed) {
                (client, server, C)
            } else {
                (server, client, SV)
            };
            // (active, passive) after each step: FIN, its ACK, the peer's FIN, its ACK.
            let steps = [
                (FinWait1, CloseWait),
                (FinWait2, CloseWait),
                (TimeWait, LastAck),
                (TimeWait, Closed),
            ];
            let Some(last) = steps.iter().position(|&p| p == (active, passive)) else {
                return false;
            };
            c.handshake();
            c.fin(closer);
            if last >= 1 {
                c.ack(closer.peer());
            }
            if last >= 2 {
                c.fin(closer.peer());
            }
            if last >= 3 {
                c.ack(closer);
            }
        }
    }
    true
}

/// Fresh machines driven into `(client, server)` by a minimal realistic script
/// (see [`script_to`]), checked to be there, with the conversation so far.
fn in_states(client: State, server: State) -> Scene {
    let mut c = conv();
    assert!(
        script_to(&mut c, client, server),
        "no script reaches ({client}, {server})"
    );
    let mut scene = Scene {
        m: PairedMachines::new(Config::default()),
        c,
        fed: 0,
    };
    scene.feed();
    assert_eq!(scene.states(), (client, server), "{:#?}", scene.m.steps);
    assert!(scene.m.all_transitions_are_rfc_edges());
    scene
}

/// What happens to one side in a row of [`every_state_and_event`]: it sends
/// something, it receives something from its peer, or time passes. Every
/// segment comes from the conversation's own numbering unless said otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    /// It sends a bare SYN at its next sequence number (a new SYN once it has
    /// sent one).
    SendSyn,
    /// It sends its SYN-ACK.
    SendSynAck,
    /// It closes: FIN, acknowledging all it received.
    SendFin,
    /// It aborts: RST at its next sequence number.
    SendRst,
    /// The peer sends a bare SYN at its next sequence number.
    RecvSyn,
    /// The peer retransmits its SYN.
    RecvSynAgain,
    /// The peer sends its SYN-ACK, or repeats it.
    RecvSynAck,
    /// The peer's pure ACK of everything it received: of the side's SYN, of
    /// its FIN, or of nothing new. Three names for one segment, so each row
    /// says which it is.
    RecvAckOfSyn,
    RecvAckOfFin,
    RecvAck,
    /// The peer's FIN; when the side's own FIN is still unacknowledged
    /// (FIN_WAIT_1), it does not acknowledge it either: the FINs crossed.
    RecvFin,
    /// The peer's FIN, acknowledging the side's FIN.
    RecvFinAckOfFin,
    /// The peer retransmits its FIN.
    RecvFinAgain,
    /// The peer's RST at the peer's next sequence number.
    RecvRst,
    /// It sends 100 bytes at its next sequence number.
    SendData,
    /// The peer sends 100 bytes at its next sequence number.
    RecvData,
    /// 2*MSL of capture time passes without a segment.
    Timer,
}

/// The generator's side for the library's.
fn synth(side: Side) -> S {
    match side {
        Side::Client => C,
        Side::Server => SV,
    }
}

/// The library's side for the generator's.
fn lib(side: S) -> Side {
    match side {
        S::Client => Side::Client,
        S::Server => Side::Server,
    }
}

/// A SYN-ACK from `side`: its first, or a repeat of the one it sent (the
/// generator's `send` would put a repeat at the next sequence number).
fn syn_ack_from(c: &mut Conv, side: S) {
    if c.next_seq(side) == c.isn(side) {
        c.send(side, F::SYN | F::ACK, 0);
    } else {
        let (isn, ack) = (c.isn(side), c.rcv_nxt(side).unwrap_or(0));
        c.raw(side, F::SYN | F::ACK, isn, ack, 0);
    }
}

/// `side` retransmits its last segment, which carries `flag`.
fn retransmit(c: &mut Conv, side: S, flag: F) {
    let again = c.retransmit_last(side);
    assert!(
        again.flags.contains(flag),
        "{side:?} last sent {:?}",
        again.flags
    );
}

impl Scene {
    /// `ev` happens to `side`; returns the standing transitions it added, as
    /// (side moved, state entered, cause).
    fn apply(&mut self, side: S, ev: Ev) -> Vec<(S, State, Cause)> {
        let before = self.m.steps.len();
        let peer = side.peer();
        let c = &mut self.c;
        match ev {
            Ev::SendSyn => {
                c.send(side, F::SYN, 0);
            }
            Ev::SendSynAck => syn_ack_from(c, side),
            Ev::SendFin => {
                c.fin(side);
            }
            Ev::SendRst => {
                c.rst(side);
            }
            Ev::RecvSyn => {
                c.send(peer, F::SYN, 0);
            }
            Ev::RecvSynAgain => retransmit(c, peer, F::SYN),
            Ev::RecvSynAck => syn_ack_from(c, peer),
            Ev::RecvAckOfSyn | Ev::RecvAckOfFin | Ev::RecvAck => {
                c.ack(peer);
            }
            Ev::RecvFin => {
                let crossing = self.m.state(lib(side)) == FinWait1;
                let fin = c.fin(peer);
                if crossing {
                    fin.ack = (SeqNum(fin.ack) - 1).0;
                }
            }
            Ev::RecvFinAckOfFin => {
                c.fin(peer);
            }
            Ev::RecvFinAgain => retransmit(c, peer, F::FIN),
            Ev::RecvRst => {
                c.rst(peer);
            }
            Ev::SendData => {
                c.data(side, 100);
            }
            Ev::RecvData => {
                c.data(peer, 100);
            }
            Ev::Timer => {
                let now = c.now() as i64 + 2 * Config::default().msl_ns;
                self.m.expire_timers(now);
            }
        }
        self.feed();
        self.m.steps[before..]
            .iter()
            .filter(|t| !t.withdrawn)
            .map(|t| (synth(t.side), t.to, t.cause))
            .collect()
    }
}

/// One row of [`every_state_and_event`].
#[derive(Debug)]
struct EdgeRow {
    /// The side the row is about, and the event that happens to it.
    side: S,
    event: Ev,
    /// (client, server) before, reached with [`in_states`].
    at: (State, State),
    /// (client, server) after.
    want: (State, State),
    /// The standing transitions the event added: (side, state entered, cause).
    moves: &'static [(S, State, Cause)],
}

/// `side in (client, server): event => (client, server) [moves]`, each move
/// written `side > state entered (cause)`.
macro_rules! edge_rows {
    ($(
        $side:ident in ($c:ident, $s:ident): $ev:ident => ($c2:ident, $s2:ident)
            [$($by:ident > $to:ident ($cause:ident)),*];
    )*) => {
        [$(EdgeRow {
            side: $side,
            event: Ev::$ev,
            at: ($c, $s),
            want: ($c2, $s2),
            moves: &[$(($by, $to, Cause::$cause)),*],
        },)*]
    };
}

/// One row per (state, event) for every state a side can be in: both sides'
/// states after the event and the transitions it caused. Rows on fresh
/// machines (`(Closed, Listen)`) whose first segment is not a SYN show the
/// capture-start inference (the vantage-point rule), not RFC event
/// processing.
#[test]
fn every_state_and_event() {
    let rows = edge_rows! {
        // CLOSED: a client before anything was captured. A SYN-ACK first
        // means its SYN was not captured; data first, that the capture
        // started mid-connection. A lone ACK, FIN or RST proves no connection
        // (a scan probe or its answer): nothing is inferred from it.
        C in (Closed, Listen): SendSyn => (SynSent, SynRcvd)
            [C > SynSent (SentSyn), SV > SynRcvd (ReceivedSyn)];
        C in (Closed, Listen): RecvSyn => (Closed, SynSent) [SV > SynSent (SentSyn)];
        C in (Closed, Listen): RecvSynAck => (Established, SynRcvd)
            [C > SynSent (SynNotCaptured), SV > SynRcvd (SynNotCaptured),
             C > Established (ReceivedSynAck)];
        C in (Closed, Listen): RecvData => (Established, Established)
            [C > SynSent (MidstreamStart), C > Established (MidstreamStart),
             SV > SynRcvd (MidstreamStart), SV > Established (MidstreamStart)];
        C in (Closed, Listen): SendData => (Established, Established)
            [C > SynSent (MidstreamStart), C > Established (MidstreamStart),
             SV > SynRcvd (MidstreamStart), SV > Established (MidstreamStart)];
        C in (Closed, Listen): RecvAck => (Closed, Listen) [];
        C in (Closed, Listen): RecvFin => (Closed, Listen) [];
        C in (Closed, Listen): RecvRst => (Closed, Listen) [];
        C in (Closed, Listen): SendRst => (Closed, Listen) [];
        C in (Closed, Listen): Timer => (Closed, Listen) [];
        // CLOSED after a reset: a new SYN is a new incarnation, its receiver
        // listens again.
        C in (Closed, Closed): SendSyn => (SynSent, SynRcvd)
            [SV > Listen (PortReused), C > SynSent (SentSyn), SV > SynRcvd (ReceivedSyn)];
        C in (Closed, Closed): RecvSyn => (SynRcvd, SynSent)
            [C > Listen (PortReused), SV > SynSent (SentSyn), C > SynRcvd (ReceivedSyn)];
        C in (Closed, Closed): RecvAck => (Closed, Closed) [];
        C in (Closed, Closed): RecvFin => (Closed, Closed) [];
        C in (Closed, Closed): RecvRst => (Closed, Closed) [];
        C in (Closed, Closed): Timer => (Closed, Closed) [];
        // CLOSED after LAST_ACK, the peer in TIME_WAIT.
        SV in (TimeWait, Closed): RecvSyn => (SynSent, SynRcvd)
            [C > Closed (PortReused), SV > Listen (PortReused), C > SynSent (SentSyn),
             SV > SynRcvd (ReceivedSyn)];
        SV in (TimeWait, Closed): RecvAck => (TimeWait, Closed) [];
        SV in (TimeWait, Closed): RecvRst => (Closed, Closed) [C > Closed (SentRst)];
        SV in (TimeWait, Closed): SendSyn => (SynRcvd, SynSent)
            [C > Closed (PortReused), C > Listen (PortReused), SV > SynSent (SentSyn),
             C > SynRcvd (ReceivedSyn)];
        SV in (TimeWait, Closed): Timer => (Closed, Closed) [C > Closed (TimeWaitExpired)];

        // LISTEN: a server before anything was captured. Data first means
        // the capture started mid-connection; a lone ACK, FIN or RST
        // proves nothing.
        SV in (Closed, Listen): RecvSyn => (SynSent, SynRcvd)
            [C > SynSent (SentSyn), SV > SynRcvd (ReceivedSyn)];
        SV in (Closed, Listen): RecvData => (Established, Established)
            [C > SynSent (MidstreamStart), C > Established (MidstreamStart),
             SV > SynRcvd (MidstreamStart), SV > Established (MidstreamStart)];
        SV in (Closed, Listen): RecvAck => (Closed, Listen) [];
        SV in (Closed, Listen): RecvFin => (Closed, Listen) [];
        SV in (Closed, Listen): RecvRst => (Closed, Listen) [];
        SV in (Closed, Listen): SendSyn => (Closed, SynSent) [SV > SynSent (SentSyn)];
        SV in (Closed, Listen): SendRst => (Closed, Listen) [];
        SV in (Closed, Listen): Timer => (Closed, Listen) [];

        // SYN_SENT
        C in (SynSent, SynRcvd): RecvSynAck => (Established, SynRcvd)
            [C > Established (ReceivedSynAck)];
        // The SYNs crossed: the server's reception of the client's SYN moves
        // after its own SYN, and it opened actively (it was CLOSED).
        C in (SynSent, SynRcvd): RecvSyn => (SynRcvd, SynRcvd)
            [SV > SynSent (SentSyn), SV > SynRcvd (ReceivedSyn), C > SynRcvd (ReceivedSyn)];
        C in (SynSent, SynRcvd): RecvAck => (SynSent, SynRcvd) [];
        C in (SynSent, SynRcvd): RecvFin => (SynSent, FinWait1) [SV > FinWait1 (SentFin)];
        // Refused: the server never answered, so it was CLOSED all along.
        C in (SynSent, SynRcvd): RecvRst => (Closed, Closed) [C > Closed (ReceivedRst)];
        // The client gives up on a SYN nobody answered: the server's
        // SYN_RCVD is withdrawn, it stayed in LISTEN (as when the client just
        // stops retransmitting).
        C in (SynSent, SynRcvd): SendRst => (Closed, Listen) [C > Closed (SentRst)];
        C in (SynSent, SynRcvd): Timer => (SynSent, SynRcvd) [];

        // SYN_RCVD of a listener, before and after its SYN-ACK.
        SV in (SynSent, SynRcvd): SendSynAck => (Established, SynRcvd)
            [C > Established (ReceivedSynAck)];
        SV in (SynSent, SynRcvd): RecvSynAgain => (SynSent, SynRcvd) [];
        SV in (SynSent, SynRcvd): SendRst => (Closed, Closed) [C > Closed (ReceivedRst)];
        SV in (SynSent, SynRcvd): Timer => (SynSent, SynRcvd) [];
        SV in (Established, SynRcvd): RecvAckOfSyn => (Established, Established)
            [SV > Established (ReceivedAckOfSyn)];
        SV in (Established, SynRcvd): RecvFin => (FinWait1, CloseWait)
            [SV > Established (ReceivedAckOfSyn), C > FinWait1 (SentFin),
             SV > CloseWait (ReceivedFin)];
        SV in (Established, SynRcvd): RecvRst => (Closed, Listen)
            [C > Closed (SentRst), SV > Listen (ReceivedRst)];
        // RFC 9293 3.10.7.4, fourth: an in-window SYN returns a SYN_RCVD
        // reached from LISTEN to LISTEN.
        SV in (Established, SynRcvd): RecvSyn => (Established, Listen)
            [SV > Listen (ReceivedSyn)];
        SV in (Established, SynRcvd): SendFin => (CloseWait, FinWait1)
            [SV > FinWait1 (SentFin), C > CloseWait (ReceivedFin)];
        SV in (Established, SynRcvd): SendRst => (Closed, Closed)
            [SV > Closed (SentRst), C > Closed (ReceivedRst)];
        SV in (Established, SynRcvd): Timer => (Established, SynRcvd) [];
        // SYN_RCVD of an active opener: simultaneous open.
        C in (SynRcvd, SynRcvd): RecvSynAck => (Established, SynRcvd)
            [C > Established (ReceivedSynAck)];
        C in (SynRcvd, SynRcvd): SendSynAck => (SynRcvd, Established)
            [SV > Established (ReceivedSynAck)];
        C in (SynRcvd, SynRcvd): RecvAckOfSyn => (Established, SynRcvd)
            [C > Established (ReceivedAckOfSyn)];
        C in (SynRcvd, SynRcvd): RecvRst => (Closed, Closed)
            [SV > Closed (SentRst), C > Closed (ReceivedRst)];
        // RFC 9293 3.10.7.4, second: a SYN_RCVD reached from SYN_SENT goes
        // to CLOSED on RST (connection refused), not to LISTEN.
        C in (SynRcvd, SynRcvd): SendRst => (Closed, Closed)
            [C > Closed (SentRst), SV > Closed (ReceivedRst)];
        C in (SynRcvd, SynRcvd): SendFin => (FinWait1, CloseWait)
            [SV > Established (ReceivedAckOfSyn), C > FinWait1 (SentFin),
             SV > CloseWait (ReceivedFin)];
        C in (SynRcvd, SynRcvd): RecvFin => (CloseWait, FinWait1)
            [C > Established (ReceivedAckOfSyn), SV > FinWait1 (SentFin),
             C > CloseWait (ReceivedFin)];
        C in (SynRcvd, Established): RecvSynAck => (Established, Established)
            [C > Established (ReceivedSynAck)];

        // ESTABLISHED
        C in (Established, Established): SendFin => (FinWait1, CloseWait)
            [C > FinWait1 (SentFin), SV > CloseWait (ReceivedFin)];
        C in (Established, Established): SendRst => (Closed, Closed)
            [C > Closed (SentRst), SV > Closed (ReceivedRst)];
        C in (Established, Established): RecvFin => (CloseWait, FinWait1)
            [SV > FinWait1 (SentFin), C > CloseWait (ReceivedFin)];
        C in (Established, Established): RecvRst => (Closed, Closed)
            [SV > Closed (SentRst), C > Closed (ReceivedRst)];
        C in (Established, Established): RecvSyn => (Established, Established) [];
        // A repeated SYN-ACK: the client's ACK of it was lost, so the server's
        // move to ESTABLISHED is withdrawn until the next ACK.
        C in (Established, Established): RecvSynAck => (Established, SynRcvd) [];
        C in (Established, Established): RecvAck => (Established, Established) [];
        C in (Established, Established): Timer => (Established, Established) [];

        // FIN_WAIT_1
        C in (FinWait1, CloseWait): RecvAckOfFin => (FinWait2, CloseWait)
            [C > FinWait2 (ReceivedAckOfFin)];
        // Simultaneous close: the server's reception of the client's FIN
        // moves after its own FIN.
        C in (FinWait1, CloseWait): RecvFin => (Closing, Closing)
            [SV > FinWait1 (SentFin), SV > Closing (ReceivedFin), C > Closing (ReceivedFin)];
        C in (FinWait1, CloseWait): RecvFinAckOfFin => (TimeWait, LastAck)
            [C > TimeWait (ReceivedFinAndAckOfFin), SV > LastAck (SentFin)];
        C in (FinWait1, CloseWait): RecvRst => (Closed, Closed)
            [SV > Closed (SentRst), C > Closed (ReceivedRst)];
        C in (FinWait1, CloseWait): SendRst => (Closed, Closed)
            [C > Closed (SentRst), SV > Closed (ReceivedRst)];
        C in (FinWait1, CloseWait): RecvSyn => (FinWait1, CloseWait) [];
        C in (FinWait1, CloseWait): Timer => (FinWait1, CloseWait) [];
        SV in (CloseWait, FinWait1): RecvAckOfFin => (CloseWait, FinWait2)
            [SV > FinWait2 (ReceivedAckOfFin)];
        SV in (CloseWait, FinWait1): RecvFin => (Closing, Closing)
            [C > FinWait1 (SentFin), C > Closing (ReceivedFin), SV > Closing (ReceivedFin)];
        SV in (CloseWait, FinWait1): RecvFinAckOfFin => (LastAck, TimeWait)
            [SV > TimeWait (ReceivedFinAndAckOfFin), C > LastAck (SentFin)];

        // FIN_WAIT_2
        C in (FinWait2, CloseWait): RecvFin => (TimeWait, LastAck)
            [SV > LastAck (SentFin), C > TimeWait (ReceivedFin)];
        C in (FinWait2, CloseWait): RecvRst => (Closed, Closed)
            [SV > Closed (SentRst), C > Closed (ReceivedRst)];
        C in (FinWait2, CloseWait): SendRst => (Closed, Closed)
            [C > Closed (SentRst), SV > Closed (ReceivedRst)];
        C in (FinWait2, CloseWait): RecvAck => (FinWait2, CloseWait) [];
        C in (FinWait2, CloseWait): RecvSyn => (FinWait2, CloseWait) [];
        C in (FinWait2, CloseWait): Timer => (FinWait2, CloseWait) [];

        // CLOSING
        C in (Closing, Closing): RecvAckOfFin => (TimeWait, Closing)
            [C > TimeWait (ReceivedAckOfFin)];
        C in (Closing, Closing): RecvFinAgain => (Closing, Closing) [];
        C in (Closing, Closing): RecvRst => (Closed, Closed)
            [SV > Closed (SentRst), C > Closed (ReceivedRst)];
        C in (Closing, Closing): SendRst => (Closed, Closed)
            [C > Closed (SentRst), SV > Closed (ReceivedRst)];
        C in (Closing, Closing): Timer => (Closing, Closing) [];
        C in (Closing, TimeWait): RecvAckOfFin => (TimeWait, TimeWait)
            [C > TimeWait (ReceivedAckOfFin)];
        C in (Closing, TimeWait): RecvRst => (Closed, Closed)
            [SV > Closed (SentRst), C > Closed (ReceivedRst)];
        C in (Closing, TimeWait): Timer => (Closing, Closed) [SV > Closed (TimeWaitExpired)];

        // TIME_WAIT, before and after its ACK of the peer's FIN.
        C in (TimeWait, LastAck): RecvFinAgain => (TimeWait, LastAck) [];
        C in (TimeWait, LastAck): RecvAck => (TimeWait, LastAck) [];
        C in (TimeWait, LastAck): RecvRst => (Closed, Closed)
            [SV > Closed (SentRst), C > Closed (ReceivedRst)];
        C in (TimeWait, LastAck): SendRst => (Closed, Closed)
            [C > Closed (SentRst), SV > Closed (ReceivedRst)];
        C in (TimeWait, LastAck): Timer => (Closed, LastAck) [C > Closed (TimeWaitExpired)];
        C in (TimeWait, Closed): Timer => (Closed, Closed) [C > Closed (TimeWaitExpired)];
        C in (TimeWait, Closed): SendSyn => (SynSent, SynRcvd)
            [C > Closed (PortReused), SV > Listen (PortReused), C > SynSent (SentSyn),
             SV > SynRcvd (ReceivedSyn)];
        C in (TimeWait, Closed): RecvSyn => (SynRcvd, SynSent)
            [C > Closed (PortReused), C > Listen (PortReused), SV > SynSent (SentSyn),
             C > SynRcvd (ReceivedSyn)];
        // The server repeats the FIN the client acknowledged: that ACK was
        // lost, so the server's move to CLOSED is withdrawn.
        C in (TimeWait, Closed): RecvFinAgain => (TimeWait, LastAck) [];
        C in (TimeWait, Closed): RecvAck => (TimeWait, Closed) [];
        C in (TimeWait, Closed): RecvRst => (Closed, Closed) [C > Closed (ReceivedRst)];
        C in (TimeWait, TimeWait): Timer => (Closed, Closed)
            [C > Closed (TimeWaitExpired), SV > Closed (TimeWaitExpired)];
        C in (TimeWait, TimeWait): SendSyn => (SynSent, SynRcvd)
            [C > Closed (PortReused), SV > Closed (PortReused), SV > Listen (PortReused),
             C > SynSent (SentSyn), SV > SynRcvd (ReceivedSyn)];

        // CLOSE_WAIT, the peer in FIN_WAIT_1 or FIN_WAIT_2.
        SV in (FinWait1, CloseWait): SendFin => (TimeWait, LastAck)
            [C > TimeWait (ReceivedFinAndAckOfFin), SV > LastAck (SentFin)];
        SV in (FinWait1, CloseWait): RecvFinAgain => (FinWait1, CloseWait) [];
        SV in (FinWait1, CloseWait): RecvRst => (Closed, Closed)
            [C > Closed (SentRst), SV > Closed (ReceivedRst)];
        SV in (FinWait1, CloseWait): SendRst => (Closed, Closed)
            [SV > Closed (SentRst), C > Closed (ReceivedRst)];
        SV in (FinWait1, CloseWait): Timer => (FinWait1, CloseWait) [];
        SV in (FinWait2, CloseWait): SendFin => (TimeWait, LastAck)
            [SV > LastAck (SentFin), C > TimeWait (ReceivedFin)];
        // The client repeats the FIN the server acknowledged: that ACK was
        // lost, so the client's move to FIN_WAIT_2 is withdrawn.
        SV in (FinWait2, CloseWait): RecvFinAgain => (FinWait1, CloseWait) [];
        SV in (FinWait2, CloseWait): RecvAck => (FinWait2, CloseWait) [];
        SV in (FinWait2, CloseWait): RecvSyn => (FinWait2, CloseWait) [];
        SV in (FinWait2, CloseWait): RecvRst => (Closed, Closed)
            [C > Closed (SentRst), SV > Closed (ReceivedRst)];
        SV in (FinWait2, CloseWait): SendRst => (Closed, Closed)
            [SV > Closed (SentRst), C > Closed (ReceivedRst)];
        SV in (FinWait2, CloseWait): Timer => (FinWait2, CloseWait) [];

        // LAST_ACK
        SV in (TimeWait, LastAck): RecvAckOfFin => (TimeWait, Closed)
            [SV > Closed (ReceivedAckOfFin)];
        SV in (TimeWait, LastAck): RecvFinAgain => (TimeWait, LastAck) [];
        SV in (TimeWait, LastAck): RecvSyn => (TimeWait, LastAck) [];
        SV in (TimeWait, LastAck): RecvRst => (Closed, Closed)
            [C > Closed (SentRst), SV > Closed (ReceivedRst)];
        SV in (TimeWait, LastAck): SendRst => (Closed, Closed)
            [SV > Closed (SentRst), C > Closed (ReceivedRst)];
        SV in (TimeWait, LastAck): Timer => (Closed, LastAck) [C > Closed (TimeWaitExpired)];
        C in (LastAck, TimeWait): RecvAckOfFin => (Closed, TimeWait)
            [C > Closed (ReceivedAckOfFin)];
    };
    let mut covered = std::collections::BTreeSet::new();
    for row in &rows {
        let mut scene = in_states(row.at.0, row.at.1);
        covered.insert(scene.m.state(lib(row.side)));
        let moves = scene.apply(row.side, row.event);
        assert_eq!(scene.states(), row.want, "{row:?}");
        assert_eq!(moves, row.moves, "{row:?}");
        assert!(
            scene.m.all_transitions_are_rfc_edges(),
            "{row:?}: {:#?}",
            scene.m.steps
        );
    }
    assert_eq!(covered.into_iter().collect::<Vec<_>>(), State::ALL);
}

/// One row of [`corners`]: a script, where it leaves the two sides, whether
/// their final states rest on inference, the outcome and the anomalies.
struct Corner {
    name: &'static str,
    script: fn(&mut Conv),
    client: &'static [State],
    server: &'static [State],
    inferred: (bool, bool),
    outcome: Outcome,
    anomalies: &'static [A],
}

/// The client's SYN-ACK-acknowledging ACK, and the closing sequence every
/// corner that completes runs: client FIN, server FIN acknowledging it,
/// client ACK.
fn close_client_first(c: &mut Conv) {
    c.fin(C);
    c.fin(SV);
    c.ack(C);
}

/// The corners of RFC 9293 that issue 14 lists, one row each; every row has a
/// real capture beside it in tests/corners.rs.
#[test]
fn corners() {
    const NONE: (bool, bool) = (false, false);
    let rows = [
        Corner {
            name: "1. an unacceptable SYN-ACK, the client's RST <SEQ=SEG.ACK>, then the real handshake",
            script: |c| {
                c.syn();
                let bad_ack = c.isn(C).wrapping_add(1001);
                c.raw(SV, F::SYN | F::ACK, 9_000_000, bad_ack, 0);
                c.raw(C, F::RST, bad_ack, 0, 0);
                let isn = c.isn(C);
                c.raw(C, F::SYN, isn, 0, 0);
                c.syn_ack();
                c.ack(C);
                close_client_first(c);
            },
            client: &[Closed, SynSent, Established, FinWait1, TimeWait],
            server: &[Listen, SynRcvd, Listen, SynRcvd, Established, CloseWait, LastAck, Closed],
            inferred: NONE,
            outcome: Outcome::Closed,
            anomalies: &[A::SynAckBadAck],
        },
        Corner {
            name: "1. an unacceptable SYN-ACK and nothing after: the client stays SYN_SENT",
            script: |c| {
                c.syn();
                let bad_ack = c.isn(C).wrapping_add(1001);
                c.raw(SV, F::SYN | F::ACK, 9_000_000, bad_ack, 0);
                c.raw(C, F::RST, bad_ack, 0, 0);
            },
            client: &[Closed, SynSent],
            server: &[Listen, SynRcvd, Listen],
            inferred: NONE,
            outcome: Outcome::SynUnanswered,
            anomalies: &[A::SynAckBadAck],
        },
        Corner {
            name: "2. a null-scan probe to a closed port, answered by RST",
            script: |c| {
                c.raw(C, F::NONE, 1000, 0, 0);
                c.raw(SV, F::RST | F::ACK, 0, 1000, 0);
            },
            client: &[Closed],
            server: &[Closed],
            inferred: NONE,
            outcome: Outcome::NoConnection,
            anomalies: &[A::InvalidFlags, A::Refused],
        },
        Corner {
            name: "2. an XMAS probe to an open port: dropped, no answer",
            script: |c| {
                c.raw(C, F::FIN | F::PSH | F::URG, 1000, 0, 0);
            },
            client: &[Closed],
            server: &[Listen],
            inferred: NONE,
            outcome: Outcome::NoConnection,
            anomalies: &[A::InvalidFlags],
        },
        Corner {
            name: "2. an ACK probe answered by RST implies no connection",
            script: |c| {
                c.raw(C, F::ACK, 1000, 7777, 0);
                c.raw(SV, F::RST, 7777, 0, 0);
            },
            client: &[Closed],
            server: &[Listen],
            inferred: NONE,
            outcome: Outcome::NoConnection,
            anomalies: &[],
        },
        Corner {
            name: "2. a lone FIN-ACK (a Maimon probe, or the tail of an uncaptured connection)",
            script: |c| {
                c.raw(C, F::FIN | F::ACK, 1000, 7777, 0);
            },
            client: &[Closed],
            server: &[Listen],
            inferred: NONE,
            outcome: Outcome::NoConnection,
            anomalies: &[],
        },
        Corner {
            name: "3. SYN, silence, the client gives up with RST: the server stays LISTEN",
            script: |c| {
                c.syn();
                c.retransmit_last(C);
                let seq = c.isn(C).wrapping_add(1);
                c.raw(C, F::RST, seq, 0, 0);
            },
            client: &[Closed, SynSent, Closed],
            server: &[Listen],
            inferred: NONE,
            outcome: Outcome::SynUnanswered,
            anomalies: &[A::SynUnanswered],
        },
        Corner {
            name: "3. SYN, silence, the client gives up silently: the same server",
            script: |c| {
                c.syn();
                c.retransmit_last(C);
            },
            client: &[Closed, SynSent],
            server: &[Listen],
            inferred: NONE,
            outcome: Outcome::SynUnanswered,
            anomalies: &[A::SynUnanswered],
        },
        Corner {
            name: "4. a RST after both FINs were exchanged and acknowledged",
            script: |c| {
                c.handshake();
                c.fin(C);
                c.ack(SV);
                c.fin(SV);
                c.ack(C);
                let seq = c.next_seq(SV);
                c.raw(SV, F::RST, seq, 0, 0);
            },
            client: &[Closed, SynSent, Established, FinWait1, FinWait2, TimeWait, Closed],
            server: &[Listen, SynRcvd, Established, CloseWait, LastAck, Closed],
            inferred: NONE,
            outcome: Outcome::Closed,
            anomalies: &[A::SegmentAfterClose],
        },
        Corner {
            name: "5. data on the SYN the SYN-ACK does not acknowledge (TFO not accepted)",
            script: |c| {
                let isn = c.isn(C);
                c.raw(C, F::SYN, isn, 0, 100);
                c.syn();
                c.segments_mut().pop();
                c.syn_ack();
                c.ack(C);
                c.data(C, 100);
                close_client_first(c);
            },
            client: &[Closed, SynSent, Established, FinWait1, TimeWait],
            server: &[Listen, SynRcvd, Established, CloseWait, LastAck, Closed],
            inferred: NONE,
            outcome: Outcome::Closed,
            anomalies: &[A::SynWithData],
        },
        Corner {
            name: "6. only the client->server direction captured",
            script: |c| {
                c.handshake();
                c.data(C, 10);
                c.data(SV, 10);
                c.ack(C);
                close_client_first(c);
                let client = c.addr(C);
                c.segments_mut().retain(|s| s.src == client);
            },
            client: &[Closed, SynSent, Established, FinWait1],
            server: &[Listen, SynRcvd, Established, CloseWait],
            inferred: (true, true),
            outcome: Outcome::HalfClosed,
            anomalies: &[A::OneSided],
        },
        Corner {
            name: "7. the capture starts after the client's FIN: the close is a guess",
            script: |c| {
                c.handshake();
                c.data(C, 10);
                c.fin(C);
                c.ack(SV);
                c.fin(SV);
                c.ack(C);
                c.segments_mut().drain(..5);
            },
            client: &[Closed, SynSent, Established, CloseWait],
            server: &[Listen, SynRcvd, Established, FinWait1, FinWait2],
            inferred: (true, true),
            outcome: Outcome::HalfClosed,
            anomalies: &[A::Midstream],
        },
        Corner {
            name: "8. the handshake's ACK 100,000 bytes past a 256-byte window, then the right one",
            script: |c| {
                *c = Conv::new(c.addr(C), c.addr(SV), 1000, 5000).with_window(256);
                c.syn();
                c.syn_ack();
                let (seq, ack) = (c.next_seq(C).wrapping_add(100_000), c.rcv_nxt(C).unwrap());
                c.raw(C, F::ACK, seq, ack, 0);
                c.ack(C);
                close_client_first(c);
            },
            client: &[Closed, SynSent, Established, FinWait1, TimeWait],
            server: &[Listen, SynRcvd, Established, CloseWait, LastAck, Closed],
            inferred: NONE,
            outcome: Outcome::Closed,
            anomalies: &[A::OutOfWindowSegment],
        },
        Corner {
            name: "8. a FIN megabytes beyond a 64 KB window is not the peer's FIN",
            script: |c| {
                c.handshake();
                let (seq, ack) = (c.next_seq(C).wrapping_add(5_000_000), c.rcv_nxt(C).unwrap());
                c.raw(C, F::FIN | F::ACK, seq, ack, 0);
            },
            client: &[Closed, SynSent, Established],
            server: &[Listen, SynRcvd, Established],
            inferred: NONE,
            outcome: Outcome::Open,
            anomalies: &[A::OutOfWindowSegment, A::NoClose],
        },
        Corner {
            name: "9. a RST below data already delivered (at the receiver's last ACK) is ignored",
            script: |c| {
                c.handshake();
                let stale = c.next_seq(C);
                c.data(C, 100);
                c.raw(C, F::RST, stale, 0, 0);
                c.ack(SV);
                close_client_first(c);
            },
            client: &[Closed, SynSent, Established, FinWait1, TimeWait],
            server: &[Listen, SynRcvd, Established, CloseWait, LastAck, Closed],
            inferred: NONE,
            outcome: Outcome::Closed,
            anomalies: &[A::OutOfWindowRst],
        },
        Corner {
            name: "10. a RST in SYN_SENT that does not acknowledge the SYN is ignored",
            script: |c| {
                c.syn();
                let ack = c.isn(C).wrapping_add(5);
                c.raw(SV, F::RST | F::ACK, 0, ack, 0);
                c.syn_ack();
                c.ack(C);
                close_client_first(c);
            },
            client: &[Closed, SynSent, Established, FinWait1, TimeWait],
            server: &[Listen, SynRcvd, Established, CloseWait, LastAck, Closed],
            inferred: NONE,
            outcome: Outcome::Closed,
            anomalies: &[A::OutOfWindowRst],
        },
        Corner {
            name: "10. a RST/ACK in SYN_SENT echoing a timestamp the client never sent is ignored",
            script: |c| {
                *c = Conv::new(c.addr(C), c.addr(SV), 1000, 5000).with_timestamps();
                c.syn();
                let ack = c.isn(C).wrapping_add(1);
                let rst = c.raw(SV, F::RST | F::ACK, 0, ack, 0);
                for o in &mut rst.options {
                    if let etherparse::TcpOptionElement::Timestamp(_, tsecr) = o {
                        *tsecr = 12345;
                    }
                }
                c.syn_ack();
                c.ack(C);
                close_client_first(c);
            },
            client: &[Closed, SynSent, Established, FinWait1, TimeWait],
            server: &[Listen, SynRcvd, Established, CloseWait, LastAck, Closed],
            inferred: NONE,
            outcome: Outcome::Closed,
            anomalies: &[A::OutOfWindowRst],
        },
        Corner {
            name: "10. a RST/ACK in SYN_SENT acknowledging the SYN and echoing its timestamp refuses",
            script: |c| {
                *c = Conv::new(c.addr(C), c.addr(SV), 1000, 5000).with_timestamps();
                c.syn();
                let ack = c.isn(C).wrapping_add(1);
                c.raw(SV, F::RST | F::ACK, 0, ack, 0);
            },
            client: &[Closed, SynSent, Closed],
            server: &[Closed],
            inferred: NONE,
            outcome: Outcome::Refused,
            anomalies: &[A::Refused],
        },
    ];
    for row in rows {
        let mut c = conv();
        (row.script)(&mut c);
        let m = run(&c);
        let name = row.name;
        assert_eq!(m.states(Side::Client), row.client, "{name}: client");
        assert_eq!(m.states(Side::Server), row.server, "{name}: server");
        let inferred = (
            m.state_inferred(Side::Client),
            m.state_inferred(Side::Server),
        );
        assert_eq!(inferred, row.inferred, "{name}: inferred");
        assert_eq!(m.outcome(), row.outcome, "{name}: outcome");
        assert_eq!(codes(&m), row.anomalies, "{name}: {:#?}", m.anomalies());
    }
}

/// RFC 9293 3.10.7.4, eighth: a FIN retransmitted into TIME_WAIT restarts
/// its 2*MSL timer, so TIME_WAIT ends 2*MSL after that FIN, not after the
/// state was entered.
#[test]
fn a_fin_retransmitted_into_time_wait_restarts_its_timer() {
    let mut c = conv();
    c.handshake();
    c.fin(C);
    c.ack(SV);
    c.fin(SV); // 6: the client enters TIME_WAIT
    c.ack(C); // 7: lost
    c.wait(20 * SEC);
    c.retransmit_last(SV); // 8: the server's FIN again, 20 s later
    c.retransmit_last(C); // 9
    let cfg = Config {
        msl_ns: 30 * SEC as i64,
        ..Config::default()
    };
    let segs = segments(&c);
    let (entered, again) = (segs[5].0.ts_ns, segs[7].0.ts_ns);
    // 61 s after entering TIME_WAIT but 41 s after the retransmitted FIN.
    let mut m = PairedMachines::new(cfg);
    for (seg, side) in &segs {
        m.on_segment(seg, *side);
    }
    m.finish(entered + 61 * SEC as i64);
    assert_eq!(m.state(Side::Client), TimeWait, "{:#?}", m.steps);
    let mut m = PairedMachines::new(cfg);
    for (seg, side) in &segs {
        m.on_segment(seg, *side);
    }
    m.finish(again + 60 * SEC as i64);
    let last = m.transitions().last().unwrap();
    assert_eq!(
        (last.side, last.to, last.cause, last.ts_ns),
        (
            Side::Client,
            Closed,
            Cause::TimeWaitExpired,
            again + 60 * SEC as i64
        )
    );
}

/// The edges `step` allows, listed by hand from RFC 9293's diagram (3.3.2)
/// and text (3.10): a change to the table shows up here for review.
#[test]
fn the_table_has_exactly_the_rfc_edges() {
    let mut edges = Vec::new();
    for from in State::ALL {
        for to in State::ALL {
            if is_rfc_edge(from, to) {
                edges.push((from, to));
            }
        }
    }
    assert_eq!(
        edges,
        [
            (Closed, Listen),
            (Closed, SynSent),
            (Listen, SynSent),
            (Listen, SynRcvd),
            (SynSent, Closed),
            (SynSent, SynRcvd),
            (SynSent, Established),
            (SynRcvd, Closed),
            (SynRcvd, Listen),
            (SynRcvd, Established),
            (SynRcvd, FinWait1),
            (Established, Closed),
            (Established, FinWait1),
            (Established, CloseWait),
            (FinWait1, Closed),
            (FinWait1, FinWait2),
            (FinWait1, Closing),
            (FinWait1, TimeWait),
            (FinWait2, Closed),
            (FinWait2, TimeWait),
            (Closing, Closed),
            (Closing, TimeWait),
            (TimeWait, Closed),
            (CloseWait, Closed),
            (CloseWait, LastAck),
            (LastAck, Closed),
        ]
    );
    // Where the two ways out of SYN_RCVD differ: RFC 9293 3.10.7.4.
    assert_eq!(
        step(SynRcvd, Open::Passive, Event::RecvRst),
        Some((Listen, Cause::ReceivedRst))
    );
    assert_eq!(
        step(SynRcvd, Open::Active, Event::RecvRst),
        Some((Closed, Cause::ReceivedRst))
    );
    assert_eq!(step(SynRcvd, Open::Active, Event::RecvSyn), None);
}

/// A client that gave up with RST and tries again with the same SYN (same
/// stream, as Wireshark numbers it) is judged on the new attempt.
#[test]
fn a_new_attempt_after_giving_up_is_judged_afresh() {
    let mut c = conv();
    c.syn();
    let seq = c.isn(C).wrapping_add(1);
    c.raw(C, F::RST, seq, 0, 0);
    let isn = c.isn(C);
    c.raw(C, F::SYN, isn, 0, 0);
    c.syn_ack();
    c.ack(C);
    close_client_first(&mut c);
    let m = run(&c);
    assert_eq!(m.outcome(), Outcome::Closed);
    assert_eq!(
        m.states(Side::Client),
        [
            Closed,
            SynSent,
            Closed,
            SynSent,
            Established,
            FinWait1,
            TimeWait
        ]
    );
    assert_eq!(codes(&m), [A::SynUnanswered]);
}

/// Transitions are stored in two steps: a handshake that stops early (a
/// SYN flood's connections) keeps the small first room, an ordinary
/// connection fits the second without growing again.
#[test]
fn transition_storage_fits_what_connections_need() {
    let mut c = conv();
    c.syn();
    let m = run(&c);
    // SYN_SENT, and SYN_RCVD (withdrawn at the end: nobody answered).
    assert_eq!(m.steps.len(), 2);
    assert_eq!(m.steps.capacity(), 4);
    let mut c = conv();
    handshake(&mut c);
    c.data(C, 100);
    c.data(SV, 100);
    c.fin(C);
    c.fin(SV);
    c.send(C, F::ACK, 0);
    let m = run_with(&c, Config::default(), 120 * SEC as i64);
    let n = m.steps.len();
    assert!((5..=12).contains(&n), "{:#?}", m.steps);
    assert_eq!(m.outcome(), Outcome::Closed);
    assert_eq!(m.steps.capacity(), 12);
}

/// The transitions shown are those kept at the time of asking: asking
/// after every segment (as transitions are added, moved by a
/// retransmission, withdrawn at a RST) gives what machines that saw the
/// same segments and were asked once give.
#[test]
fn transitions_shown_follow_every_change() {
    let mut c = conv();
    c.syn();
    c.syn_ack();
    c.syn_ack();
    c.send(C, F::ACK, 0);
    c.data(C, 100);
    c.fin(C);
    c.fin(C);
    c.rst(SV);
    let segs = segments(&c);
    let mut m = PairedMachines::new(Config::default());
    for (k, (seg, side)) in segs.iter().enumerate() {
        m.on_segment(seg, *side);
        let mut fresh = PairedMachines::new(Config::default());
        for (seg, side) in &segs[..=k] {
            fresh.on_segment(seg, *side);
        }
        assert_eq!(edges(&m), edges(&fresh), "after segment {k}");
    }
    let end = segs.last().map_or(0, |(s, _)| s.ts_ns) + 1;
    m.finish(end);
    let mut fresh = PairedMachines::new(Config::default());
    for (seg, side) in &segs {
        fresh.on_segment(seg, *side);
    }
    fresh.finish(end);
    assert_eq!(edges(&m), edges(&fresh));
}

/// The steady path (both sides ESTABLISHED, an ACK or data segment without
/// SYN, FIN or RST) changes the machines exactly as the full rules do: on
/// every connection of every shipped capture and on random segment streams,
/// every field is compared after every segment, and the finished machines'
/// states, transitions and anomalies at the end.
#[test]
fn steady_path_equals_the_full_path() {
    let (streams, from_captures) = crate::test_support::equivalence_streams();
    let (mut steady, mut total) = ([0usize; 2], [0usize; 2]);
    for (n, stream) in streams.iter().enumerate() {
        let kind = usize::from(n >= from_captures);
        let mut fast = PairedMachines::new(Config::default());
        let mut full = PairedMachines::new(Config::default());
        for (k, (seg, side, _)) in stream.iter().enumerate() {
            total[kind] += 1;
            if fast.steady(seg, *side) {
                steady[kind] += 1;
            } else {
                fast.take_segment(seg, *side);
            }
            full.take_segment(seg, *side);
            assert_eq!(
                format!("{fast:?}"),
                format!("{full:?}"),
                "stream {n}, segment {k} (frame {})",
                seg.frame
            );
        }
        let end = stream.last().map_or(0, |(s, _, _)| s.ts_ns + 1);
        fast.finish(end);
        full.finish(end);
        assert_eq!(
            format!("{fast:?}"),
            format!("{full:?}"),
            "stream {n} finished"
        );
        assert!(fast.transitions().eq(full.transitions()), "stream {n}");
    }
    // Both kinds of input exercise both paths.
    for kind in 0..2 {
        assert!(steady[kind] > total[kind] / 10, "{steady:?} of {total:?}");
        assert!(steady[kind] < total[kind], "{steady:?} of {total:?}");
    }
}
