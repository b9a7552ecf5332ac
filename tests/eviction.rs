//! Bounded memory: connections that closed and passed 2*MSL, that idled past
//! the idle timeout, or that overflowed the flow-table limit are finished,
//! handed out and counted, and each connection is still reported once.

use std::io::Cursor;
use std::net::SocketAddr;

use tcpstate::capture::Input;
use tcpstate::pipeline::{Analyzer, Connection, Evictions};
use tcpstate::tcp::machine::{Cause, Outcome, State};
use tcpstate::Side;
use tcpstate_synth::{
    Conv, Link, Packet, PcapFormat, PcapWriter, Side as S, TcpFlags, EPOCH_2026_NS,
};

const SECOND: u64 = 1_000_000_000;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn pcap(mut packets: Vec<Packet>) -> Vec<u8> {
    packets.sort_by_key(Packet::ts_ns);
    let mut w = PcapWriter::new(Vec::new(), Link::Ethernet, PcapFormat::default()).unwrap();
    w.write_packets(&packets).unwrap();
    w.into_inner().unwrap()
}

/// The library's streaming analysis: connections in the order handed out.
fn stream(bytes: Vec<u8>, analyzer: &Analyzer) -> (Vec<Connection>, Evictions) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.pcap");
    std::fs::write(&path, bytes).unwrap();
    let mut got = Vec::new();
    let a = analyzer.stream_inputs(&[Input::Path(path)], &mut |batch| {
        got.extend(batch.connections)
    });
    assert!(a.errors.is_empty(), "{:?}", a.errors);
    (got, a.evictions)
}

/// A closed connection at `start_s`, client port `port`.
fn closed(port: u16, start_s: u64) -> Vec<Packet> {
    let mut c = left_open(port, start_s);
    c.data(S::Client, 10);
    c.ack(S::Server);
    c.fin(S::Client);
    c.fin(S::Server);
    c.ack(S::Client);
    c.into_packets()
}

/// An established connection that goes quiet, at `start_s`.
fn left_open(port: u16, start_s: u64) -> Conv {
    let mut c = Conv::new(
        addr(&format!("10.0.0.1:{port}")),
        addr("10.0.0.2:80"),
        1000,
        5000,
    )
    .starting_at(EPOCH_2026_NS + start_s * SECOND);
    c.handshake();
    c
}

#[test]
fn a_closed_connection_is_freed_once_time_wait_has_passed() {
    // Default MSL 30 s: TIME_WAIT lasts 60 s. The second connection comes
    // 200 s later, so the first is over and quiet for 2*MSL by then.
    let bytes = pcap([closed(1001, 0), closed(1002, 200)].concat());
    let (conns, ev) = stream(bytes.clone(), &Analyzer::new());
    assert_eq!(
        ev,
        Evictions {
            closed: 1,
            idle: 0,
            limit: 0
        }
    );
    let streams: Vec<u64> = conns.iter().map(|c| c.flow.stream).collect();
    assert_eq!(streams, [0, 1]);
    // The evicted connection's TIME_WAIT expired at its own 2*MSL, as it
    // would have without eviction.
    let first = &conns[0];
    assert_eq!(first.tcp.state(Side::Client), State::Closed);
    let expiry = first
        .tcp
        .transitions()
        .find(|t| t.cause == Cause::TimeWaitExpired)
        .unwrap();
    let entered = first
        .tcp
        .transitions()
        .find(|t| t.to == State::TimeWait)
        .unwrap();
    assert_eq!(expiry.ts_ns - entered.ts_ns, 60 * SECOND as i64);
    assert_eq!(first.tcp.outcome(), Outcome::Closed);
    // The same as the whole-capture analysis, connection for connection.
    let whole = Analyzer::new()
        .analyze_reader("c", Cursor::new(bytes))
        .unwrap();
    assert_eq!(whole.connections.len(), 2);
    for (a, b) in whole.connections.iter().zip(&conns) {
        assert_eq!(a.flow.stream, b.flow.stream);
        let ta: Vec<_> = a.tcp.transitions().collect();
        let tb: Vec<_> = b.tcp.transitions().collect();
        assert_eq!(ta, tb);
    }
}

#[test]
fn an_idle_connection_is_finished_at_its_timeout() {
    // Quiet from t=0; another connection at t=400 s moves capture time past
    // the 300 s idle timeout.
    let quiet = left_open(1001, 0).into_packets();
    let bytes = pcap([quiet, closed(1002, 400)].concat());
    let (conns, ev) = stream(bytes, &Analyzer::new());
    assert_eq!(
        ev,
        Evictions {
            closed: 0,
            idle: 1,
            limit: 0
        }
    );
    assert_eq!(conns.len(), 2);
    assert_eq!(conns[0].flow.packets.iter().sum::<u64>(), 3);
    assert_eq!(conns[0].tcp.state(Side::Client), State::Established);
    assert_eq!(conns[0].tcp.outcome(), Outcome::Open);
    // With a longer timeout nothing is evicted.
    let options = Analyzer::new().idle_timeout(std::time::Duration::from_secs(500));
    let quiet = left_open(1001, 0).into_packets();
    let (conns, ev) = stream(pcap([quiet, closed(1002, 400)].concat()), &options);
    assert_eq!((conns.len(), ev.total()), (2, 0));
}

#[test]
fn an_idle_timeout_splits_a_stream_even_in_a_capture_of_a_few_frames() {
    // Six frames: a handshake at 0 s, data at 1 s, then data after 20 s of
    // silence. With a 5 s idle timeout the silence ends the first part, and
    // the late segment starts the stream's second part.
    let mut c = left_open(1001, 0);
    c.wait(SECOND);
    c.data(S::Client, 10);
    c.wait(20 * SECOND);
    c.data(S::Client, 10);
    let options = Analyzer::new().idle_timeout(std::time::Duration::from_secs(5));
    let bytes = pcap(c.into_packets());
    let (conns, ev) = stream(bytes.clone(), &options);
    assert_eq!(
        ev,
        Evictions {
            closed: 0,
            idle: 1,
            limit: 0
        }
    );
    let parts: Vec<(u64, bool, u64, i64)> = conns
        .iter()
        .map(|c| {
            (
                c.flow.stream,
                c.flow.continues,
                c.flow.packets.iter().sum(),
                c.flow.duration_ns(),
            )
        })
        .collect();
    let step = 1_000_000; // the generator's time between segments
    assert_eq!(
        parts,
        [(0, false, 4, (SECOND + 3 * step) as i64), (0, true, 1, 0)]
    );
    // The collected analysis has the same two parts.
    let a = options.analyze_reader("c", Cursor::new(bytes)).unwrap();
    let parts: Vec<(u64, bool)> = a
        .connections()
        .map(|c| (c.flow.stream, c.flow.continues))
        .collect();
    assert_eq!(parts, [(0, false), (0, true)]);
}

#[test]
fn a_packet_after_its_connection_was_evicted_continues_the_same_stream() {
    // 20 000 frames between, so the eviction and the late packets fall in
    // different batches of the reader too.
    let build = |late_syn: Option<u32>| {
        let mut quiet = left_open(1001, 0);
        let mut busy = Conv::new(addr("10.0.0.9:2000"), addr("10.0.0.2:80"), 1, 1)
            .starting_at(EPOCH_2026_NS + 400 * SECOND)
            .with_step(1000);
        busy.handshake();
        for _ in 0..20_000 {
            busy.data(S::Client, 1);
        }
        quiet.wait(401 * SECOND);
        let mut packets = busy.into_packets();
        match late_syn {
            None => {
                quiet.data(S::Client, 5);
                packets.extend(quiet.into_packets());
            }
            Some(isn) => {
                let mut again = Conv::new(addr("10.0.0.1:1001"), addr("10.0.0.2:80"), isn, 9)
                    .starting_at(quiet.now());
                again.syn();
                packets.extend(quiet.into_packets());
                packets.extend(again.into_packets());
            }
        }
        pcap(packets)
    };
    // A data segment: Wireshark keeps it in stream 0, and so do we, as a
    // second part of stream 0 that `continues` it.
    let (mut conns, ev) = stream(build(None), &Analyzer::new());
    assert_eq!(ev.idle, 1);
    conns.sort_by_key(|c| (c.flow.stream, c.flow.first_frame));
    let parts: Vec<(u64, bool, u64)> = conns
        .iter()
        .map(|c| (c.flow.stream, c.flow.continues, c.flow.packets.iter().sum()))
        .collect();
    assert_eq!(parts, [(0, false, 3), (0, true, 1), (1, false, 20_003)]);
    let late = &conns[1];
    assert_eq!(
        late.flow.client().port,
        1001,
        "roles kept from the first part"
    );
    // A SYN with a new ISN: Wireshark starts a new stream (port reuse).
    let (mut conns, _) = stream(build(Some(777)), &Analyzer::new());
    conns.sort_by_key(|c| (c.flow.stream, c.flow.first_frame));
    let parts: Vec<(u64, bool)> = conns
        .iter()
        .map(|c| (c.flow.stream, c.flow.continues))
        .collect();
    assert_eq!(parts, [(0, false), (1, false), (2, false)]);
    // A SYN repeating the first ISN stays in stream 0, as in Wireshark.
    let (mut conns, _) = stream(build(Some(1000)), &Analyzer::new());
    conns.sort_by_key(|c| (c.flow.stream, c.flow.first_frame));
    let parts: Vec<(u64, bool)> = conns
        .iter()
        .map(|c| (c.flow.stream, c.flow.continues))
        .collect();
    assert_eq!(parts, [(0, false), (0, true), (1, false)]);
}

#[test]
fn a_syn_flood_is_held_to_the_table_limit_and_every_connection_is_reported_once() {
    let packets: Vec<Packet> = (0..3000u32)
        .flat_map(|i| {
            let mut c = Conv::new(
                addr(&format!("10.1.{}.{}:{}", i / 250, i % 250, 1024 + i)),
                addr("10.0.0.2:80"),
                i,
                0,
            )
            .starting_at(EPOCH_2026_NS + u64::from(i) * 1000);
            c.syn();
            c.into_packets()
        })
        .collect();
    let options = Analyzer::new().max_connections(640); // 10 per shard
    let (conns, ev) = stream(pcap(packets), &options);
    assert_eq!(conns.len(), 3000);
    let mut streams: Vec<u64> = conns.iter().map(|c| c.flow.stream).collect();
    streams.sort_unstable();
    assert_eq!(streams, (0..3000).collect::<Vec<u64>>());
    assert_eq!((ev.closed, ev.idle), (0, 0));
    // Never more than the limit live after a batch: all but those still
    // live at the end were evicted for the limit.
    assert!(ev.limit >= 3000 - 640, "{ev:?}");
    assert!(conns
        .iter()
        .all(|c| c.tcp.outcome() == Outcome::SynUnanswered));
}

#[test]
fn a_flood_of_one_anomaly_lists_a_hundred_and_counts_them_all() {
    use tcpstate::anomaly::{AnomalyCode, LISTED_PER_CODE};
    let mut c = left_open(1001, 0);
    for _ in 0..1000 {
        c.send(S::Client, TcpFlags::NONE, 0);
    }
    let (conns, _) = stream(pcap(c.into_packets()), &Analyzer::new());
    assert_eq!(conns.len(), 1);
    let invalid = conns[0]
        .anomalies()
        .iter()
        .filter(|a| a.code == AnomalyCode::InvalidFlags)
        .count() as u64;
    assert_eq!(invalid, LISTED_PER_CODE);
    assert!(conns[0]
        .anomaly_counts()
        .contains(&(AnomalyCode::InvalidFlags, 1000)));
    let unlisted: u64 = conns[0]
        .anomaly_counts()
        .iter()
        .map(|&(_, n)| n.saturating_sub(LISTED_PER_CODE))
        .sum();
    assert_eq!(conns[0].unlisted_anomalies(), unlisted);
    assert!(unlisted >= 1000 - LISTED_PER_CODE);
}

#[test]
fn port_reuse_names_the_stream_it_took_over_even_within_one_batch() {
    // Both connections start in the first batch of frames, so the earlier
    // one's number is given only after the batch is placed.
    let a = Analyzer::new().analyze_inputs(&[Input::Path(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/synth/reuse.pcap"),
    )]);
    let details: Vec<&str> = a
        .connections
        .iter()
        .flat_map(|c| c.anomalies())
        .filter(|an| an.code == tcpstate::anomaly::AnomalyCode::PortReuseInTimeWait)
        .map(|an| an.detail.as_str())
        .collect();
    assert!(
        details.contains(&"the client of stream 0 was still in TIME_WAIT"),
        "{details:?}"
    );
}
