//! One row per flag, on short generated conversations decoded by the real
//! decoder; plus the same flags across the 2^32 wrap. The captures in
//! testdata/ are compared with tshark in tests/wireshark_analysis.rs.

use super::*;
use crate::test_support::decoded_segments;
use tcpstate_synth::{Conv, Side as S, TcpFlags as F};

const MS: u64 = 1_000_000;

fn conv(isn_c: u32, isn_s: u32) -> Conv {
    Conv::new(
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        isn_c,
        isn_s,
    )
}

/// (frame, flags) for every flagged frame.
fn flagged(c: &Conv) -> Expected {
    let mut a = SeqAnalyzer::new();
    decoded_segments(c)
        .iter()
        .filter_map(|(seg, side)| {
            let found = a.on_segment(seg, *side, false);
            (!found.flags.is_empty()).then(|| (seg.frame, flag_names(found.flags)))
        })
        .collect()
}

fn server_ack(c: &mut Conv, ack: u32, window: u16) {
    let seq = c.next_seq(S::Server);
    c.raw(S::Server, F::ACK, seq, ack, 0).window = window;
}

type Script = fn(&mut Conv);
/// Frames with their flags.
type Expected = Vec<(u64, Vec<&'static str>)>;

fn rows() -> Vec<(&'static str, Script, Expected)> {
    vec![
        (
            "clean exchange has no flags",
            |c| {
                c.handshake();
                c.data(S::Client, 100);
                c.ack(S::Server);
                c.fin(S::Client);
                c.fin(S::Server);
                c.ack(S::Client);
            },
            vec![],
        ),
        (
            "retransmission, slow",
            |c| {
                c.handshake();
                c.data(S::Client, 100);
                c.wait(500 * MS);
                c.retransmit_last(S::Client);
            },
            vec![(5, vec!["retransmission"])],
        ),
        (
            "spurious after the ACK",
            |c| {
                c.handshake();
                c.data(S::Client, 100);
                c.ack(S::Server);
                c.wait(500 * MS);
                let seq = (SeqNum(c.next_seq(S::Client)) - 100).0;
                let ack = c.rcv_nxt(S::Client).unwrap();
                c.raw(S::Client, F::ACK | F::PSH, seq, ack, 100);
            },
            vec![(6, vec!["retransmission", "spurious_retransmission"])],
        ),
        (
            "lost segment, its ACK, duplicate ACKs, fast retransmission",
            |c| {
                c.handshake();
                let lost = c.next_seq(S::Client);
                c.data(S::Client, 100);
                c.segments_mut().pop();
                c.data(S::Client, 100);
                server_ack(c, lost, 64240);
                server_ack(c, lost, 64240);
                server_ack(c, lost, 64240);
                let ack = c.rcv_nxt(S::Client).unwrap();
                c.raw(S::Client, F::ACK | F::PSH, lost, ack, 100);
            },
            vec![
                (4, vec!["lost_segment"]),
                (5, vec!["duplicate_ack"]),
                (6, vec!["duplicate_ack"]),
                (7, vec!["duplicate_ack"]),
                (8, vec!["retransmission", "fast_retransmission"]),
            ],
        ),
        (
            "keep-alive and its ACK",
            |c| {
                c.handshake();
                c.data(S::Client, 10);
                c.ack(S::Server);
                c.wait(2_000 * MS);
                let seq = (SeqNum(c.next_seq(S::Client)) - 1).0;
                let ack = c.rcv_nxt(S::Client).unwrap();
                c.raw(S::Client, F::ACK, seq, ack, 0);
                let acked = c.next_seq(S::Client);
                server_ack(c, acked, 64240);
            },
            vec![(6, vec!["keep_alive"]), (7, vec!["keep_alive_ack"])],
        ),
        (
            "zero window, probe, probe ACK, window update",
            |c| {
                c.handshake();
                c.data(S::Client, 100);
                let acked = c.next_seq(S::Client);
                server_ack(c, acked, 0);
                let ack = c.rcv_nxt(S::Client).unwrap();
                c.raw(S::Client, F::ACK, acked, ack, 1);
                server_ack(c, acked, 0);
                server_ack(c, acked, 64240);
            },
            vec![
                (5, vec!["zero_window"]),
                (6, vec!["zero_window_probe"]),
                (7, vec!["zero_window", "zero_window_probe_ack"]),
                (8, vec!["window_update"]),
            ],
        ),
        (
            // tshark 4.0 (seq_perturbed.pcap frames 219-220): the ACK is
            // reported once; the server's next segment, with data and the
            // same ACK, is not, as the client sent nothing in between.
            "ACKed unseen segment, repeated before the peer speaks: once",
            |c| {
                c.handshake();
                c.data(S::Client, 100);
                c.segments_mut().pop();
                let all = c.next_seq(S::Client);
                server_ack(c, all, 64240);
                c.data(S::Server, 50);
            },
            vec![(4, vec!["ack_lost_segment"])],
        ),
        (
            // seq_perturbed.pcap frames 13-32: once the client has sent a
            // segment (not a duplicate ACK), a later ACK past what it sent is
            // reported again, though the client's ACK number never changed.
            "ACKed unseen segment, again after the peer spoke",
            |c| {
                c.handshake();
                c.data(S::Client, 100);
                c.segments_mut().pop();
                c.data(S::Client, 100);
                let all = c.next_seq(S::Client);
                server_ack(c, all, 64240);
                c.data(S::Client, 100);
                let all = c.next_seq(S::Client);
                server_ack(c, all, 64240);
                c.data(S::Client, 100);
                c.segments_mut().pop();
                let all = c.next_seq(S::Client);
                server_ack(c, all, 64240);
            },
            vec![
                (4, vec!["lost_segment"]),
                (5, vec!["ack_lost_segment"]),
                (8, vec!["ack_lost_segment"]),
            ],
        ),
    ]
}

#[test]
fn each_flag_on_a_short_conversation() {
    for (name, script, want) in rows() {
        let mut c = conv(1000, 5000);
        script(&mut c);
        assert_eq!(flagged(&c), want, "{name}");
    }
}

#[test]
fn flags_are_the_same_across_the_2_32_wrap() {
    for (name, script, want) in rows() {
        // Both directions cross 2^32 in the middle of the conversation.
        let mut c = conv(u32::MAX - 60, u32::MAX - 2);
        script(&mut c);
        assert_eq!(flagged(&c), want, "{name} (wrapping)");
    }
}

#[test]
fn handshake_rtt_halves_and_total() {
    let mut c = conv(1, 2).with_step(3 * MS);
    c.handshake();
    let mut a = SeqAnalyzer::new();
    for (seg, side) in decoded_segments(&c) {
        a.on_segment(&seg, side, false);
    }
    let rtt = a.handshake_rtt();
    assert_eq!(rtt.server_side_ns, Some(3_000_000));
    assert_eq!(rtt.client_side_ns, Some(3_000_000));
    assert_eq!(rtt.total_ns, Some(6_000_000));
}

#[test]
fn flags_list_in_catalogue_order() {
    // `Flags::iter` walks bits: catalogue order must be bit order.
    for (i, f) in Flag::ALL.iter().enumerate() {
        assert_eq!(f.bit(), 1 << i, "{f}");
    }
    let mut all = Flags::default();
    Flag::ALL.iter().for_each(|&f| all.set(f));
    assert_eq!(all.iter().collect::<Vec<_>>(), Flag::ALL);
    let mut some = Flags::default();
    some.set(Flag::KeepAlive);
    some.set(Flag::Retransmission);
    assert_eq!(
        some.iter().collect::<Vec<_>>(),
        [Flag::Retransmission, Flag::KeepAlive]
    );
    assert_eq!(Flags::default().iter().count(), 0);
}

/// The in-order path gives every segment the same analysis (flags,
/// duplicate-ACK number, ACK RTT) and leaves the analyser in the same state
/// (every field, compared after every segment: RTT samples, unacknowledged
/// segments, counters, anomalies) as the full rules, on every connection of
/// every shipped capture and on random segment streams.
#[test]
fn in_order_path_equals_the_full_rules() {
    let (streams, from_captures) = crate::test_support::equivalence_streams();
    let (mut fast_taken, mut total) = ([0usize; 2], [0usize; 2]);
    for (n, stream) in streams.iter().enumerate() {
        let kind = usize::from(n >= from_captures);
        let mut fast = SeqAnalyzer::new();
        let mut full = SeqAnalyzer::new();
        for (k, (seg, side, reused)) in stream.iter().enumerate() {
            total[kind] += 1;
            let got = match (!reused).then(|| fast.in_order(seg, *side)).flatten() {
                Some(out) => {
                    fast_taken[kind] += 1;
                    out
                }
                None => fast.analyse(seg, *side, *reused),
            };
            let want = full.analyse(seg, *side, *reused);
            assert_eq!(got, want, "stream {n}, segment {k} (frame {})", seg.frame);
            assert_eq!(
                format!("{fast:?}"),
                format!("{full:?}"),
                "stream {n}, segment {k} (frame {})",
                seg.frame
            );
        }
    }
    for kind in 0..2 {
        assert!(
            fast_taken[kind] > total[kind] / 10,
            "{fast_taken:?} of {total:?}"
        );
        assert!(
            fast_taken[kind] < total[kind],
            "{fast_taken:?} of {total:?}"
        );
    }
}
