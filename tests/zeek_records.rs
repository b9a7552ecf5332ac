//! Zeek's view on capture files: the exact conn.log rows Zeek's rules give
//! (src/tcp/zeek cites the Zeek source of each), one capture per family of
//! rules (testdata/synth/zeek_*.pcap, described in testdata/README.md), and
//! the rules on older captures where they change what Wireshark's view says.

use std::path::PathBuf;

use tcpstate::{Analysis, Analyzer};

fn analyze(rel: &str, analyzer: &Analyzer) -> Analysis {
    analyzer
        .analyze_path(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap()
}

/// A conn.log row: orig port, resp port, start (ms after the capture's
/// first packet), duration in ms (None: unset), conn_state, history
/// ("-": unset), orig and resp packets, missed bytes.
type Row = (
    u16,
    u16,
    i64,
    Option<i64>,
    &'static str,
    String,
    u64,
    u64,
    u64,
);

/// The rows conn.log writes, in its order.
fn conn_log(a: &Analysis) -> Vec<Row> {
    let t0 = a.first_ts_ns.unwrap();
    a.connections
        .iter()
        .flat_map(|c| c.zeek.owned())
        .chain(&a.zeek_unattached)
        .map(|r| {
            let duration = r.duration_ns();
            (
                r.orig.port,
                r.resp.port,
                (r.start_ns - t0) / 1_000_000,
                (duration > 0).then_some(duration / 1_000_000),
                r.conn_state,
                if r.history.is_empty() {
                    "-".to_string()
                } else {
                    r.history.clone()
                },
                r.orig_pkts,
                r.resp_pkts,
                r.missed_bytes,
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn row(
    orig: u16,
    resp: u16,
    start_ms: i64,
    duration_ms: Option<i64>,
    state: &'static str,
    history: &str,
    pkts: (u64, u64),
    missed: u64,
) -> Row {
    (
        orig,
        resp,
        start_ms,
        duration_ms,
        state,
        history.to_string(),
        pkts.0,
        pkts.1,
        missed,
    )
}

#[test]
fn lifetimes_follow_zeeks_timers_and_reuse_rule() {
    let a = analyze("testdata/synth/zeek_lifetimes.pcap", &Analyzer::new());
    // Seven streams, as Wireshark numbers them. The two idle for 301 s
    // (past `--idle-timeout`) are reported in two parts each; Zeek's
    // inactivity timer cuts the port-80 one too, but keeps the ssh one an
    // hour: its one record is written with the stream's second part, and
    // the first part lists it as it stood (not written twice).
    let streams: std::collections::BTreeSet<u64> =
        a.connections.iter().map(|c| c.flow.stream).collect();
    assert_eq!(streams.len(), 7, "Wireshark's view is unchanged");
    assert_eq!(a.connections.len(), 9);
    let ssh: Vec<_> = a
        .connections
        .iter()
        .filter(|c| c.flow.server().port == 22)
        .collect();
    assert_eq!(ssh.len(), 2);
    assert_eq!(
        ssh.iter()
            .map(|c| (c.zeek.records().len(), c.zeek.owned().count()))
            .collect::<Vec<_>>(),
        [(1, 0), (1, 1)]
    );
    assert_eq!(
        conn_log(&a),
        [
            // AttemptTimer: the SYN unanswered for 5 s; the one at 7 s is new.
            row(41001, 80, 0, Some(3000), "S0", "S", (3, 0), 0),
            row(41001, 80, 7000, None, "S0", "S", (1, 0), 0),
            // A one-sided capture: still SYN_SENT when the attempt timer fires.
            row(41002, 80, 20_000, Some(4000), "S0", "SAD", (4, 0), 0),
            row(41002, 80, 25_000, Some(5000), "OTH", "D", (6, 0), 0),
            // Close delay: the ACK 4 s after the close is in, the FIN 6 s
            // after is a new record (Zeek's guess: the port-80 side answers).
            row(41003, 80, 40_000, Some(6), "SF", "ShADdFf", (6, 3), 0),
            row(41003, 80, 46_009, None, "SHR", "^f", (0, 1), 0),
            // SYN after close: the same ISN, one Wireshark stream, two records.
            row(41004, 80, 60_000, Some(1), "REJ", "Sr", (1, 1), 0),
            row(41004, 80, 61_002, None, "S0", "S", (1, 0), 0),
            // tcp_inactivity_timeout: 301 s of silence splits.
            row(41005, 80, 80_000, Some(4), "S1", "ShADa", (3, 2), 0),
            row(41005, 80, 381_005, Some(1), "OTH", "Da", (1, 1), 0),
            // ssh: an hour (base/protocols/conn/inactivity.zeek).
            row(41006, 22, 80_500, Some(301_006), "S1", "ShADa", (4, 3), 0),
            // A simultaneous open: the second SYN is a reuse for Zeek.
            row(41007, 80, 90_000, None, "S0", "S", (1, 0), 0),
            row(80, 41007, 90_001, Some(6), "SF", "ShdDfFa", (4, 4), 0),
        ]
    );
    // The JSON lists every record of a stream; conn_state and history are
    // the first one's.
    let c41004 = &a.connections[3];
    assert_eq!(c41004.zeek.records().len(), 2);
    assert_eq!(
        (c41004.zeek.conn_state(), c41004.zeek.history()),
        ("REJ", "Sr")
    );
}

#[test]
fn timers_are_options() {
    let a = analyze(
        "testdata/synth/zeek_lifetimes.pcap",
        &Analyzer::new()
            .zeek_attempt_delay(std::time::Duration::ZERO)
            .zeek_close_delay(std::time::Duration::from_secs(10))
            .zeek_inactivity_timeout(std::time::Duration::from_secs(400)),
    );
    let rows = conn_log(&a);
    let of = |port: u16| rows.iter().filter(|r| r.0 == port || r.1 == port).count();
    assert_eq!(
        [41001, 41002, 41003, 41004, 41005].map(of),
        [1, 1, 1, 2, 1],
        "no attempt timer, a longer close delay and inactivity timeout"
    );
}

#[test]
fn payloads_cut_by_the_snaplen_are_content_gaps() {
    let a = analyze("testdata/synth/zeek_snaplen.pcap", &Analyzer::new());
    assert_eq!(
        conn_log(&a),
        [
            // 13 gaps (the 13th request's two segments are one range): G at
            // the 1st and 10th, all 7000 bytes missed.
            row(41011, 80, 0, Some(31), "SF", "ShADaGGFf", (17, 15), 7000),
            // No gap while a side is only partial, or when a RST reveals it.
            row(41012, 80, 1000, Some(5), "OTH", "Da", (3, 3), 0),
            row(41013, 80, 2000, Some(4), "RSTR", "ShADr", (3, 2), 0),
        ]
    );
    assert_eq!(a.connections[0].zeek.missed_bytes(), 7000);
}

#[test]
fn tunnels_are_not_in_zeeks_key_and_their_changes_give_x() {
    let a = analyze("testdata/synth/zeek_tunnels.pcap", &Analyzer::new());
    assert_eq!(
        a.connections.len(),
        2,
        "41021's directions, each in its own tunnel, are one connection"
    );
    assert_eq!(
        conn_log(&a),
        [
            row(41021, 80, 0, Some(12), "SF", "ShADdXFf", (8, 6), 0),
            row(41022, 80, 1000, Some(12), "SF", "ShADdFf", (8, 6), 0),
        ]
    );
    // One connection, one record, as Wireshark numbers it (one stream).
    assert_eq!(a.connections[0].zeek.records().len(), 1);
    assert_eq!(a.connections[0].flow.packets, [8, 6]);
    let unlimited = analyze(
        "testdata/synth/zeek_tunnels.pcap",
        &Analyzer::new().zeek_max_tunnel_changes(0),
    );
    assert_eq!(conn_log(&unlimited)[0].5, "ShADdFf");
}

#[test]
fn bad_checksums_as_zeek_without_dash_c() {
    let file = "testdata/synth/zeek_checksums.pcap";
    let plain = analyze(file, &Analyzer::new());
    assert_eq!(
        conn_log(&plain),
        [
            row(41031, 80, 0, Some(7), "SF", "ShADaFf", (6, 3), 0),
            row(41032, 81, 1000, Some(1001), "S0", "S", (2, 0), 0),
        ]
    );
    let verify = analyze(file, &Analyzer::new().verify_checksums(true));
    assert_eq!(verify.accounting.undecodable, 1, "the bad IPv4 header");
    assert_eq!(verify.connections.len(), 1);
    assert_eq!(
        conn_log(&verify),
        [
            // The dropped request is a content gap once acknowledged.
            row(41031, 80, 0, Some(7), "SF", "ShADaGFf", (5, 3), 100),
            // SYNs with bad TCP checksums: only Zeek's view has them.
            row(41032, 81, 1000, None, "OTH", "C", (0, 0), 0),
            row(41032, 81, 2001, None, "OTH", "C", (0, 0), 0),
        ]
    );
    // Such records are kept up to --max-connections, the rest counted.
    let bounded = analyze(
        file,
        &Analyzer::new().verify_checksums(true).max_connections(1),
    );
    assert_eq!(
        (
            bounded.zeek_unattached.len(),
            bounded.zeek_unattached_dropped
        ),
        (1, 1)
    );
}

/// Older captures where Zeek's rules and Wireshark's differ.
#[test]
fn zeeks_rules_on_the_older_captures() {
    // reuse.pcap: Wireshark has 2 streams; Zeek 3 connections, the third
    // being a SYN with the closed second one's ISN.
    let a = analyze("testdata/synth/reuse.pcap", &Analyzer::new());
    assert_eq!(a.connections.len(), 2);
    let states: Vec<(&str, String)> = conn_log(&a).into_iter().map(|r| (r.4, r.5)).collect();
    assert_eq!(
        states,
        [
            ("SF", "ShADdFaf".to_string()),
            ("SF", "ShADadFf".to_string()),
            ("SF", "ShADfFa".to_string()),
        ]
    );
    // snaplen64.pcap: both directions' payloads cut.
    let a = analyze("testdata/synth/snaplen64.pcap", &Analyzer::new());
    let r = &conn_log(&a)[0];
    assert_eq!((r.4, r.5.as_str(), r.8), ("SF", "ShADdGFgaf", 500));
    // lossy_bulk.pcap (snaplen 96): 100 KB never captured whole.
    let a = analyze("testdata/real/lossy_bulk.pcap", &Analyzer::new());
    assert_eq!(conn_log(&a)[0].8, 102_400);
}
