//! One row per edge of the RFC 9293 diagram and per anomaly, in the spirit of
//! smoltcp's TCP tests. Each row is a short script of segments written with the
//! project's generator (which keeps sequence and acknowledgement numbers right),
//! encoded to bytes and decoded back, so the real decoder feeds the machines.

use super::*;
use crate::anomaly::AnomalyCode as A;
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
    assert!(m.all_transitions_are_rfc_edges(), "{:#?}", m.transitions);
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
            anomalies: &[A::NoClose],
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
            "ACK of a segment the capture missed",
            |c| {
                c.handshake();
                let ack = (SeqNum(c.next_seq(SV)) + 500).0;
                let seq = c.next_seq(C);
                c.raw(C, F::ACK, seq, ack, 0);
            },
            0,
            A::AckUnseenSegment,
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
