//! Zeek's rules, one row each: a scenario from the generator and the exact
//! conn.log records Zeek's source says it gives.

use std::sync::Arc;

use tcpstate_synth::{Conv, Side as S, TcpFlags as F};

use super::*;
use crate::flow::KeyOptions;
use crate::model::{Encap, Segment, TunnelHop, TunnelPath};
use crate::test_support::decoded_segments;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

fn conv() -> Conv {
    Conv::new(
        "10.0.0.1:50000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        1000,
        5000,
    )
}

/// The segments of several conversations in time order, frames renumbered.
fn segments(convs: &[&Conv]) -> Vec<Segment> {
    let mut all: Vec<Segment> = convs
        .iter()
        .flat_map(|c| decoded_segments(c).into_iter().map(|(s, _)| s))
        .collect();
    all.sort_by_key(|s| s.ts_ns);
    for (i, s) in all.iter_mut().enumerate() {
        s.frame = i as u64 + 1;
    }
    all
}

fn records_with(config: ZeekConfig, segs: &[Segment]) -> Vec<ZeekRecord> {
    ZeekSessions::run(config, KeyOptions::default(), segs)
}

fn records(segs: &[Segment]) -> Vec<ZeekRecord> {
    records_with(ZeekConfig::default(), segs)
}

/// A record as a conn.log reader sees it: conn_state, history, orig and
/// resp packets, missed bytes, first frame, duration in ms.
type Row = (&'static str, String, u64, u64, u64, u64, i64);

fn row(r: &ZeekRecord) -> Row {
    (
        r.conn_state,
        r.history.clone(),
        r.orig_pkts,
        r.resp_pkts,
        r.missed_bytes,
        r.first_frame,
        r.duration_ns() / MS as i64,
    )
}

fn rows(segs: &[Segment]) -> Vec<Row> {
    records(segs).iter().map(row).collect()
}

fn r(
    state: &'static str,
    history: &str,
    pkts: (u64, u64),
    missed: u64,
    first_frame: u64,
    duration_ms: i64,
) -> Row {
    (
        state,
        history.to_string(),
        pkts.0,
        pkts.1,
        missed,
        first_frame,
        duration_ms,
    )
}

/// The worked examples of one record each: (name, script, history, conn_state).
#[test]
fn history_and_conn_state() {
    type Script = fn(&mut Conv);
    let table: Vec<(&str, Script, &str, &str)> = vec![
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
            "mid-stream data only: the sender of the first packet originates",
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
            "a segment lost by the capture: one gap when the peer acknowledges past it",
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
            "SYN-ACK first, from a likely server port: Zeek flips at creation (WantConnection)",
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
    for (name, script, history, state) in table {
        let mut c = conv();
        script(&mut c);
        let recs = records(&segments(&[&c]));
        assert_eq!(recs.len(), 1, "{name}");
        assert_eq!(
            (recs[0].history.as_str(), recs[0].conn_state),
            (history, state),
            "{name}"
        );
    }
}

/// TCPSessionAdapter::UpdateInactiveState: a SYN read after its SYN-ACK,
/// between ports Zeek does not know, flips the roles mid-history.
#[test]
fn syn_after_its_syn_ack_flips_the_roles() {
    let mut c = Conv::new(
        "10.0.0.1:30111".parse().unwrap(),
        "10.0.0.2:5011".parse().unwrap(),
        1000,
        5000,
    );
    c.syn();
    c.syn_ack();
    c.ack(S::Client);
    let mut segs = segments(&[&c]);
    // The capture has the SYN-ACK first.
    segs.swap(0, 1);
    (segs[0].ts_ns, segs[1].ts_ns) = (segs[1].ts_ns, segs[0].ts_ns);
    (segs[0].frame, segs[1].frame) = (1, 2);
    let recs = records(&segs);
    assert_eq!(
        recs.iter().map(row).collect::<Vec<_>>(),
        [r("S1", "Hs^A", (1, 2), 0, 1, 2)],
        "the SYN is counted with the server, as ConnSize counts it"
    );
    assert_eq!(recs[0].orig.port, 30111);
}

/// TCPSessionAdapter::AttemptTimer: 5 s after the originator's SYN, a
/// connection whose responder never spoke is removed; a later SYN starts a
/// new one (one Wireshark stream, two conn.log records).
#[test]
fn the_attempt_timer_ends_an_unanswered_connection() {
    let mut c = conv();
    c.syn();
    for wait in [1, 2, 4, 8] {
        c.wait(wait * SEC - MS);
        c.retransmit_last(S::Client);
    }
    // SYNs at 0, 1, 3, 7, 15 s.
    assert_eq!(
        rows(&segments(&[&c])),
        [
            r("S0", "S", (3, 0), 0, 1, 3000),
            r("S0", "S", (1, 0), 0, 4, 0),
            r("S0", "S", (1, 0), 0, 5, 0),
        ]
    );
    // With the timer off, one record (the 60 s handshake timeout is not reached).
    let off = ZeekConfig {
        attempt_delay_ns: 0,
        ..ZeekConfig::default()
    };
    let recs = records_with(off, &segments(&[&c]));
    assert_eq!(
        recs.iter().map(row).collect::<Vec<_>>(),
        [r("S0", "S", (5, 0), 0, 1, 15000)]
    );
}

/// In a one-sided capture the originator stays SYN_SENT, so the attempt
/// timer removes the connection even though data flows; the rest is a new
/// partial record.
#[test]
fn one_sided_capture_splits_at_the_attempt_timer() {
    let mut c = conv().with_step(SEC);
    c.handshake();
    for _ in 0..8 {
        c.data(S::Client, 100);
    }
    c.segments_mut().retain(|s| s.src.port() == 50000);
    // SYN at 0, ACK at 2 s, data at 3..10 s.
    assert_eq!(
        rows(&segments(&[&c])),
        [
            r("S0", "SAD", (4, 0), 0, 1, 4000),
            r("OTH", "D", (6, 0), 0, 5, 5000),
        ]
    );
}

/// TCPSessionAdapter::ConnectionClosed: a closed connection lives on for
/// tcp_close_delay after its last packet; a packet after that starts a new
/// record, with Zeek's guess of the originator. Packets after both FINs
/// are in the history and counts but not in the duration.
#[test]
fn the_close_delay_ends_a_closed_connection() {
    let mut c = conv();
    c.handshake();
    c.fin(S::Client);
    c.fin(S::Server);
    c.ack(S::Client);
    c.wait(4 * SEC);
    c.retransmit_last(S::Client);
    c.wait(2 * SEC);
    c.raw(S::Server, F::ACK, 5002, 1002, 0);
    assert_eq!(
        rows(&segments(&[&c])),
        [
            r("SF", "ShAFf", (5, 2), 0, 1, 4),
            r("OTH", "^a", (0, 1), 0, 8, 0),
        ]
    );
    let longer = ZeekConfig {
        close_delay_ns: 10 * SEC as i64,
        ..ZeekConfig::default()
    };
    assert_eq!(records_with(longer, &segments(&[&c])).len(), 1);
}

/// TCPSessionAdapter::IsReuse: once either side has closed, a SYN is a new
/// connection even with the first one's ISN (Wireshark keeps it in the
/// stream: tests in flow.rs).
#[test]
fn a_syn_after_a_close_is_a_new_connection() {
    let mut c = conv();
    c.syn();
    c.refuse();
    c.retransmit_last(S::Client); // SYN, RST, SYN again with the same ISN
    let segs = segments(&[&c]);
    assert_eq!(segs[2].seq, segs[0].seq);
    assert_eq!(
        rows(&segs),
        [
            r("REJ", "Sr", (1, 1), 0, 1, 1),
            r("S0", "S", (1, 0), 0, 3, 0)
        ]
    );
}

/// Connection::InactivityTimer: tcp_inactivity_timeout splits an idle
/// connection (5 min by default, an option).
#[test]
fn inactivity_splits_an_idle_connection() {
    let mut c = conv();
    c.handshake();
    c.data(S::Client, 10);
    c.ack(S::Server);
    c.wait(299 * SEC);
    c.data(S::Client, 10);
    c.ack(S::Server);
    c.wait(301 * SEC);
    c.data(S::Client, 10);
    c.ack(S::Server);
    let segs = segments(&[&c]);
    assert_eq!(
        rows(&segs),
        [
            r("S1", "ShADa", (4, 3), 0, 1, 299_006),
            r("OTH", "Da", (1, 1), 0, 8, 1),
        ]
    );
    let short = ZeekConfig {
        inactivity_timeout_ns: 60 * SEC as i64,
        ..ZeekConfig::default()
    };
    assert_eq!(records_with(short, &segs).len(), 3);
}

/// base/protocols/conn/inactivity.zeek: ssh, telnet, rlogin and ftp get an
/// hour of inactivity once established.
#[test]
fn interactive_services_wait_an_hour() {
    let mut c = Conv::new(
        "10.0.0.1:50000".parse().unwrap(),
        "10.0.0.2:22".parse().unwrap(),
        1000,
        5000,
    );
    c.handshake();
    c.wait(1800 * SEC);
    c.data(S::Client, 10);
    assert_eq!(records(&segments(&[&c])).len(), 1);
}

/// Every data segment cut by the snaplen: each acknowledgement past it
/// reveals a content gap (TCP_Endpoint::DataSent never hands a short
/// payload to the reassembler); G at the 1st and 10th, missed_bytes all.
#[test]
fn snaplen_cut_payloads_are_content_gaps() {
    let mut c = conv();
    c.handshake();
    for _ in 0..12 {
        c.data(S::Client, 100);
        c.ack(S::Server);
    }
    c.fin(S::Client);
    c.fin(S::Server);
    c.ack(S::Client);
    let mut segs = segments(&[&c]);
    for s in &mut segs {
        s.captured_payload_len = s.captured_payload_len.min(10);
    }
    assert_eq!(rows(&segs), [r("SF", "ShADaGGFf", (16, 14), 1200, 1, 28)]);
}

/// A cut segment never fills a hole; data below the acknowledged point is
/// trimmed; acknowledging two separate holes at once gives two gaps.
#[test]
fn gaps_are_one_per_missing_range() {
    let mut c = conv();
    c.handshake();
    c.data(S::Client, 100); // 4: delivered
    c.data(S::Client, 100); // 5: lost
    c.data(S::Client, 100); // 6: held above the hole
    c.data(S::Client, 100); // 7: lost
    c.data(S::Client, 100); // 8: held
    c.retransmit_last(S::Client); // 9: the last one again, cut
    c.ack(S::Server); // acknowledges all 500 bytes
    let mut segs = segments(&[&c]);
    segs[8].captured_payload_len = 0;
    segs.retain(|s| s.frame != 5 && s.frame != 7);
    let recs = records(&segs);
    assert_eq!(recs[0].missed_bytes, 200);
    assert_eq!(recs[0].history, "ShADTaG", "two gaps: one G, scaled");
}

/// TCP_Reassembler::Gap: gaps are logged only while both sides are
/// established or cleanly closing: not in a partial connection, not when a
/// RST reveals them.
#[test]
fn gaps_count_only_between_established_sides() {
    let mut c = Conv::established(
        "10.0.0.1:50000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        20000,
        90000,
    );
    c.data(S::Client, 100);
    c.data(S::Client, 100);
    c.ack(S::Server);
    let mut segs = segments(&[&c]);
    segs.remove(1);
    assert_eq!(rows(&segs), [r("OTH", "Da", (1, 1), 0, 1, 2)]);

    let mut c = conv();
    c.handshake();
    c.data(S::Client, 100);
    c.data(S::Client, 100);
    c.rst(S::Server);
    let mut segs = segments(&[&c]);
    segs.remove(4);
    assert_eq!(rows(&segs), [r("RSTR", "ShADr", (3, 2), 0, 1, 5)]);
}

fn tunnel(outer: [&str; 2], id: u32) -> Arc<TunnelPath> {
    Arc::new(TunnelPath(vec![TunnelHop {
        encap: Encap::Vxlan,
        src: outer[0].parse().unwrap(),
        dst: outer[1].parse().unwrap(),
        id: Some(id),
    }]))
}

/// Connection::CheckEncapsulation: Zeek's key ignores tunnels, so the two
/// directions in different tunnels are one connection; each change of
/// tunnel is counted and the first past Tunnel::max_changes_per_connection
/// adds X, once.
#[test]
fn tunnel_changes_and_the_x_letter() {
    let mut c = conv();
    c.handshake();
    for _ in 0..5 {
        c.data(S::Client, 10);
        c.data(S::Server, 10);
    }
    let up = tunnel(["192.0.2.1", "192.0.2.2"], 7);
    let down = tunnel(["192.0.2.2", "192.0.2.1"], 8);
    let mut segs = segments(&[&c]);
    for s in &mut segs {
        let from_client = s.src.port == 50000;
        s.path.tunnel = Some(if from_client {
            up.clone()
        } else {
            down.clone()
        });
    }
    // 13 packets, the direction changing 11 times.
    let recs = records(&segs);
    assert_eq!(recs.len(), 1, "one connection whatever the tunnels");
    assert_eq!(recs[0].history, "ShADdX");
    assert_eq!(records(&segs[..8])[0].history, "ShADdX", "the 6th change");
    assert_eq!(
        records(&segs[..7])[0].history,
        "ShADd",
        "5 changes: at the limit"
    );
    let unlimited = ZeekConfig {
        max_tunnel_changes: 0,
        ..ZeekConfig::default()
    };
    assert_eq!(records_with(unlimited, &segs)[0].history, "ShADd");
    // The same hop seen from the other side is the same tunnel.
    for s in &mut segs {
        s.path.tunnel = Some(if s.src.port == 50000 {
            up.clone()
        } else {
            tunnel(["192.0.2.2", "192.0.2.1"], 7)
        });
    }
    assert_eq!(records(&segs)[0].history, "ShADd");
}

/// TCPAnalyzer::ValidateChecksum: a bad checksum adds the scaled C and the
/// packet is otherwise dropped (not counted, not in the state machine).
#[test]
fn bad_checksums_only_add_c() {
    let mut c = conv();
    c.handshake();
    c.data(S::Client, 100);
    c.retransmit_last(S::Client);
    c.ack(S::Server);
    let mut segs = segments(&[&c]);
    segs[3].bad_checksum = true;
    assert_eq!(rows(&segs), [r("S1", "ShACDa", (3, 2), 0, 1, 5)]);
}

/// TCPSessionAdapter::ConnectionClosed: a FIN while data is missing below
/// it is not yet a close (DataPending): the same SYN again is then no reuse
/// (IsReuse sees no side closed), where after a reported close it would be.
/// Once the peer's acknowledgement gives the data up as a gap, the close
/// happens (EndpointEOF).
#[test]
fn a_close_waits_for_missing_data() {
    let mut c = conv();
    c.handshake();
    c.data(S::Client, 100);
    c.data(S::Client, 100);
    c.data(S::Client, 100);
    c.fin(S::Client);
    let mut segs = segments(&[&c]);
    segs.retain(|s| s.frame != 5);
    let mut syn = segs[0].clone();
    syn.ts_ns += 10 * MS as i64;
    syn.frame = 9;
    let mut pending = segs.clone();
    pending.push(syn.clone());
    assert_eq!(
        rows(&pending),
        [r("S2", "ShADF", (6, 1), 0, 1, 10)],
        "the FIN waits for the missing 100 bytes: one connection"
    );
    let mut whole = segments(&[&c]);
    whole.push(syn);
    assert_eq!(
        rows(&whole).len(),
        2,
        "nothing missing: the FIN closes, the SYN is new"
    );

    c.fin(S::Server); // acknowledges everything, the client's FIN too
    c.ack(S::Client);
    c.wait(4 * SEC);
    c.data(S::Server, 10); // within the close delay of the server's FIN
    let mut segs = segments(&[&c]);
    segs.retain(|s| s.frame != 5);
    assert_eq!(
        rows(&segs),
        [r("SF", "ShADFfGd", (6, 3), 100, 1, 7)],
        "the gap is the client's, given up at the server's FIN"
    );
}

/// TCPSessionAdapter::ResetTimer: a RST after a side's own FIN, while the
/// peer is still open, ends the connection tcp_reset_delay (5 s) later,
/// before the expire timer would.
#[test]
fn a_reset_after_a_fin_ends_the_connection_5_s_later() {
    let mut c = conv();
    c.handshake();
    c.fin(S::Client);
    c.ack(S::Server);
    c.rst(S::Client);
    c.wait(5 * SEC + 500 * MS);
    c.data(S::Server, 10);
    assert_eq!(
        rows(&segments(&[&c])),
        [
            r("RSTO", "ShAFaR", (4, 2), 0, 1, 5),
            r("OTH", "^d", (0, 1), 0, 7, 0),
        ]
    );
}

/// A closed connection is ended by a sweep once its close delay has
/// passed (not kept until its caller connection ends), with the record a
/// later packet or the capture's end would have given it.
#[test]
fn a_sweep_ends_a_closed_connection_when_zeek_would() {
    let mut c = conv();
    c.handshake();
    c.send(S::Client, F::ACK | F::PSH, 100);
    c.fin(S::Client);
    c.fin(S::Server);
    c.ack(S::Client);
    c.wait(4 * SEC);
    c.retransmit_last(S::Client);
    c.wait(2 * SEC);
    c.raw(S::Server, F::ACK, 5002, 1102, 0);
    let segs = segments(&[&c]);
    let want = records(&segs);
    assert_eq!(want.len(), 2);

    // As the shard runs it: a sweep before each packet, the caller's
    // connection 0, the hint its last Zeek connection.
    let mut table = ZeekSessions::new(ZeekConfig::default());
    let mut keyer = crate::flow::Keyer::new(KeyOptions::default());
    let (mut got, mut hint) = (Vec::new(), None);
    let mut ended_by_sweep = Vec::new();
    for seg in &segs {
        table.sweep(seg.ts_ns);
        while let Some(f) = table.pop_finished() {
            ended_by_sweep.push(f.record.first_frame);
            if hint == Some(f.session) {
                hint = None;
            }
            got.push(f.record);
        }
        let key = keyer.key(seg).without_tunnel();
        let touch = table.packet(key, seg, seg.ts_ns, Some(0), hint);
        hint = Some(touch.session);
        got.extend(std::iter::from_fn(|| table.pop_finished()).map(|f| f.record));
    }
    // Just before its deadline a sweep leaves it.
    assert_eq!(
        ended_by_sweep,
        [1],
        "the first record, before the last packet"
    );
    table.finish_all();
    got.extend(std::iter::from_fn(|| table.pop_finished()).map(|f| f.record));
    got.sort_by_key(|r| r.first_frame);
    assert_eq!(got, want);

    // A sweep before the close delay is over ends nothing.
    let mut table = ZeekSessions::new(ZeekConfig::default());
    let mut keyer = crate::flow::Keyer::new(KeyOptions::default());
    let mut hint = None;
    let closed = segs.len() - 1;
    for seg in &segs[..closed] {
        let key = keyer.key(seg).without_tunnel();
        hint = Some(table.packet(key, seg, seg.ts_ns, Some(0), hint).session);
    }
    // The delete timer runs from the last packet that counted (the second FIN).
    let last = want[0].last_ns;
    table.sweep(last + 5 * SEC as i64 - 1);
    assert!(table.pop_finished().is_none());
    assert_eq!(table.len(), 1);
    table.sweep(last + 5 * SEC as i64);
    let f = table.pop_finished().expect("ended by the sweep");
    assert_eq!(f.conns, [0]);
    assert_eq!(f.record, want[0]);
    assert!(table.is_empty());
}

/// A small deterministic generator (SplitMix64) for the random conversations below.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 0..n.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True one time in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// A random conversation of `count` segments between two endpoints:
/// mostly in-order data and accurate ACKs (the steady state), mixed with
/// every kind of unusual segment Zeek's rules turn on (handshake flags,
/// FIN, RST, retransmissions, holes, overlaps, ACKs of unseen data or far
/// off, zero windows, cut payloads, bad checksums, bare segments without
/// ACK, sequence numbers about to wrap).
fn random_conversation(dice: &mut Dice, count: usize) -> Vec<Segment> {
    use crate::model::{Endpoint as Addr, TcpFlags as Flags};
    let ports = [80u16, 443, 22, 50000, 50001];
    let client = Addr {
        addr: "10.0.0.1".parse().unwrap(),
        port: ports[dice.below(5) as usize],
    };
    let server = Addr {
        addr: "10.0.0.2".parse().unwrap(),
        port: ports[dice.below(5) as usize],
    };
    // Next sequence number of each side; often close to the wrap.
    let mut next = [0u32; 2];
    for n in &mut next {
        *n = if dice.one_in(3) {
            u32::MAX - dice.below(5000) as u32
        } else {
            dice.next() as u32
        };
    }
    let mut ts = 1_000_000_000i64;
    let mut segs = Vec::with_capacity(count);
    // Half the conversations open with a handshake; the others start
    // at once (partial). Some are calm, some full of trouble.
    let opening = dice.below(2);
    let trouble = [40, 150, 600][dice.below(3) as usize];
    for i in 0..count {
        let from = if i < 3 && opening == 0 {
            [0, 1, 0][i]
        } else {
            dice.below(2) as usize
        };
        let to = 1 - from;
        let mut flags = Flags::ACK;
        let mut len: u32 = match dice.below(4) {
            0 => 0,
            1 => 1 + dice.below(100) as u32,
            _ => 1448,
        };
        let mut seq = next[from];
        let mut ack = next[to];
        if i < 3 && opening == 0 {
            flags = [Flags::SYN, Flags::SYN | Flags::ACK, Flags::ACK][i];
            len = 0;
        } else {
            match dice.below(trouble) {
                0 => flags = Flags::SYN,
                1 => flags = Flags::SYN | Flags::ACK,
                2 | 3 => flags |= Flags::FIN,
                4 => flags |= Flags::RST,
                5 => flags = Flags::RST,
                6 => flags = dice.below(0x200) as u16,
                7 => flags &= !Flags::ACK,
                8 => flags |= Flags::PSH | Flags::URG,
                9 | 10 => seq = seq.wrapping_sub(dice.below(3000) as u32), // retransmission or overlap
                11 | 12 => seq = seq.wrapping_add(dice.below(3000) as u32), // a hole
                13 => ack = ack.wrapping_add(dice.below(5000) as u32),     // ACK of unseen data
                14 => ack = ack.wrapping_sub(dice.below(5000) as u32),     // an old ACK
                15 => ack = dice.next() as u32,
                16 => seq = dice.next() as u32,
                17 => ack = 0,
                _ => {}
            }
        }
        if flags & Flags::SYN != 0 && dice.one_in(2) {
            len = 0;
        }
        let window = if dice.one_in(trouble) { 0 } else { 1000 };
        let captured = if dice.one_in(trouble) { len / 2 } else { len };
        let bad_checksum = dice.one_in(2 * trouble);
        let bad_header_len = dice.one_in(4 * trouble);
        ts += dice.below(50_000_000) as i64;
        let (src, dst) = if from == 0 {
            (client, server)
        } else {
            (server, client)
        };
        segs.push(Segment {
            frame: i as u64 + 1,
            ts_ns: ts,
            src,
            dst,
            seq,
            ack,
            flags: Flags(flags),
            window,
            payload_len: len,
            captured_payload_len: captured,
            ip_len: 40 + len,
            options: Default::default(),
            bad_header_len,
            short_segment: false,
            header_cut: false,
            path: Default::default(),
            bad_checksum,
            wire: Default::default(),
        });
        // What the side sent moves its next number on (a retransmission
        // does not; a hole does).
        let sent = seq
            .wrapping_add(len)
            .wrapping_add(u32::from(flags & (Flags::SYN | Flags::FIN) != 0));
        if crate::model::SeqNum(sent) > crate::model::SeqNum(next[from]) {
            next[from] = sent;
        }
    }
    segs
}

/// The steady-state shortcut ([`tracker::ZeekTracker::steady_packet`])
/// leaves a connection exactly as Zeek's rules do: random conversations
/// go packet by packet through a tracker that takes the shortcut when it
/// can and through one that always follows the rules, and the two must
/// agree on every field (sequence spaces, reassemblers, history, timers,
/// counts) after every packet, and on the record at the end.
#[test]
fn the_steady_state_shortcut_agrees_with_the_rules() {
    let config = ZeekConfig::default();
    let mut dice = Dice(17);
    let (mut steady, mut total) = (0usize, 0usize);
    for conv in 0..3000 {
        let count = 5 + dice.below(120) as usize;
        let segs = random_conversation(&mut dice, count);
        let mut fast = tracker::ZeekTracker::new(&segs[0], segs[0].ts_ns);
        let mut rules = fast.clone();
        for (i, seg) in segs.iter().enumerate() {
            let slot = rules.slot_of(seg);
            if fast.steady_packet(seg, slot) {
                steady += 1;
            } else {
                fast.packet_by_rules(seg, slot, &config);
            }
            rules.packet_by_rules(seg, slot, &config);
            total += 1;
            assert_eq!(
                format!("{fast:?}"),
                format!("{rules:?}"),
                "conversation {conv}, packet {i}: {seg:?}"
            );
        }
        assert_eq!(fast.record(0), rules.record(0), "conversation {conv}");
    }
    // Both ways were taken often enough to mean something.
    assert!(steady > total / 4, "{steady} of {total} steady");
    assert!(total - steady > total / 4, "{steady} of {total} steady");
}
