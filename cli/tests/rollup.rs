//! Rollups (`--group-by`): numbers checked by hand against tshark on small
//! captures, golden outputs of the table, CSV and JSON, the `other` group
//! that bounds memory, and the keys' spelling.

#![recursion_limit = "256"]

mod common;

use serde_json::{json, Value};

use common::{golden, ok, run};

fn groups(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--format", "json"];
    all.extend(args);
    ok(&all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn several_conns_by_hand() {
    // testdata/real/several_conns.pcap: 7 connections from 127.0.0.1 to port
    // 5011. Checked with tshark:
    //   handshake RTTs (tcp.analysis.initial_rtt) 29 29 30 30 31 32 35 µs:
    //     nearest-rank median = 4th = 30 µs, p95 = 7th = 35 µs;
    //   segments with payload, SYN or FIN: client 19, server 22, none
    //     flagged as a retransmission;
    //   CLOSE_WAIT, first FIN to the other side's FIN, streams 0 1 2 5 6:
    //     0.100342 + 0.100358 + 0.501291 + 0.100193 + 0.100296 = 0.902480 s;
    //   TIME_WAIT, second FIN to the capture's last frame (1795570942.867210):
    //     2.279618 + 1.877926 + 1.175690 + 0.068120 + 0.000022 = 5.401376 s,
    //     still in it at the end (the capture is shorter than 2*MSL);
    //   one RST each in streams 3 (server's) and 4 (client's);
    //   tcp.analysis.ack_rtt on the ACKs the clients sent: 22 samples, min
    //   5 µs, nearest-rank median (11th) 22 µs, p95 (21st) 41.451 ms, max
    //   43.492 ms; on the servers' ACKs: 19, 14 µs, 22 µs, 47.467 ms (19th),
    //   47.467 ms.
    let g = groups(&[
        "--group-by",
        "server-port",
        "testdata/real/several_conns.pcap",
    ]);
    assert_eq!(g.len(), 1);
    let g = &g[0];
    let expect = json!({
        "schema_version": 1,
        "group": "5011",
        "server_port": 5011,
        "connections": 7,
        "outcome_closed": 5,
        "outcome_reset_by_client": 1,
        "outcome_reset_by_server": 1,
        "anomalies": 2,
        "connections_with_anomalies": 2,
        "anomaly_counts": {"reset": 2},
        "client_data_segments": 19,
        "client_retransmitted_segments": 0,
        "client_retransmission_rate": 0.0,
        "server_data_segments": 22,
        "server_retransmitted_segments": 0,
        "server_retransmission_rate": 0.0,
        "irtt_samples": 7,
        "irtt_min": 0.000029,
        "irtt_median": 0.00003,
        "irtt_p95": 0.000035,
        "irtt_max": 0.000035,
        "client_ack_rtt_samples": 22,
        "client_ack_rtt_min": 0.000005,
        "client_ack_rtt_median": 0.000022,
        "client_ack_rtt_p95": 0.041451,
        "client_ack_rtt_max": 0.043492,
        "server_ack_rtt_samples": 19,
        "server_ack_rtt_min": 0.000014,
        "server_ack_rtt_median": 0.000022,
        "server_ack_rtt_p95": 0.047467,
        "server_ack_rtt_max": 0.047467,
        "close_wait_connections": 5,
        "close_wait_at_end": 0,
        "close_wait_max": 0.501291,
        "time_wait_connections": 5,
        "time_wait_at_end": 5,
        "time_wait_max": 2.279618,
        "top_anomalies": [
            {"file": "testdata/real/several_conns.pcap", "stream": 3, "count": 1},
            {"file": "testdata/real/several_conns.pcap", "stream": 4, "count": 1}
        ],
        "top_retransmissions": []
    });
    for (k, v) in expect.as_object().unwrap() {
        assert_eq!(&g[k], v, "{k}");
    }
    let close = |k: &str, want: f64| {
        let got = g[k].as_f64().unwrap();
        assert!((got - want).abs() < 1e-9, "{k}: {got} != {want}");
    };
    close("close_wait_seconds", 0.902480);
    close("time_wait_seconds", 5.401376);
}

#[test]
fn lossy_bulk_retransmits_by_hand() {
    // tshark -Y 'tcp.analysis.retransmission or tcp.analysis.fast_retransmission
    // or tcp.analysis.spurious_retransmission': 5 segments, all from the
    // client (port 31101), which sent 111 segments with payload, SYN or FIN;
    // the server sent 2 (SYN-ACK, FIN).
    let g = groups(&["--group-by", "client", "testdata/real/lossy_bulk.pcap"]);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0]["client"], "127.0.0.1");
    assert_eq!(g[0]["client_data_segments"], 111);
    assert_eq!(g[0]["client_retransmitted_segments"], 5);
    assert_eq!(g[0]["client_retransmission_rate"], json!(5.0 / 111.0));
    assert_eq!(g[0]["server_data_segments"], 2);
    assert_eq!(g[0]["server_retransmission_rate"], 0.0);
    assert_eq!(
        g[0]["top_retransmissions"],
        json!([{"file": "testdata/real/lossy_bulk.pcap", "stream": 0, "count": 5}])
    );
}

#[test]
fn leaked_close_wait_counts_to_the_end_of_the_capture() {
    // testdata/synth/anomalies.pcap stream 5: the server never closes after
    // the client's FIN (close_wait_stuck): in CLOSE_WAIT at the end.
    let g = groups(&[
        "--group-by",
        "server,server-port",
        "testdata/synth/anomalies.pcap",
    ]);
    let leaking: Vec<&Value> = g
        .iter()
        .filter(|g| g["close_wait_at_end"].as_u64().unwrap() > 0)
        .collect();
    assert_eq!(leaking.len(), 1, "{g:?}");
    // close_wait_stuck: at least --close-wait-threshold (60 s) at capture end.
    let stuck = leaking[0]["close_wait_max"].as_f64().unwrap();
    assert!(stuck >= 60.0, "{stuck}");
    assert_eq!(leaking[0]["anomaly_counts"]["close_wait_stuck"], 1);
    // The README's question, one command: the filter keeps the leaking
    // connection, and the capture's end still counts every connection.
    let only = groups(&[
        "--group-by",
        "server,server-port",
        "--state",
        "CLOSE_WAIT",
        "testdata/synth/anomalies.pcap",
    ]);
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["connections"], 1);
    assert_eq!(only[0]["close_wait_at_end"], 1);
    assert_eq!(only[0]["close_wait_max"].as_f64().unwrap(), stuck);
}

#[test]
fn rollup_goldens() {
    let files = [
        "testdata/synth/scenarios.pcap",
        "testdata/synth/anomalies.pcap",
        "testdata/real/several_conns.pcap",
        "testdata/real/lossy_bulk.pcap",
    ];
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(files);
        ok(&args)
    };
    golden(
        "rollup_server_port.table.txt",
        &with(&["--group-by", "server,server-port"]),
    );
    golden(
        "rollup_client_net.csv",
        &with(&["--group-by", "client-net/24", "--format", "csv"]),
    );
    golden(
        "rollup_server.jsonl",
        &with(&["--group-by", "server", "--format", "json"]),
    );
}

#[test]
fn groups_past_the_limit_go_to_other() {
    let files = [
        "testdata/real/rst_abort.pcap",
        "testdata/real/unread_data_rst.pcap",
        "testdata/real/several_conns.pcap",
        "testdata/real/lossy_bulk.pcap",
    ];
    let mut args = vec!["--group-by", "server,server-port"];
    args.extend(files);
    let all = groups(&args);
    assert_eq!(all.len(), 4);
    let mut args = vec!["--group-by", "server,server-port", "--max-groups", "2"];
    args.extend(files);
    let capped = groups(&args);
    assert_eq!(capped.len(), 3);
    let other = &capped[2];
    assert_eq!(other["group"], "other");
    assert_eq!(other["server"], Value::Null);
    assert_eq!(other["server_port"], Value::Null);
    let total = |v: &[Value], k: &str| v.iter().map(|g| g[k].as_u64().unwrap()).sum::<u64>();
    for k in [
        "connections",
        "anomalies",
        "client_data_segments",
        "irtt_samples",
    ] {
        assert_eq!(total(&all, k), total(&capped, k), "{k}");
    }
}

#[test]
fn client_networks_cut_addresses() {
    let g = groups(&[
        "--group-by",
        "client-net/16",
        "testdata/synth/basic_v4.pcap",
    ]);
    assert!(g
        .iter()
        .all(|g| g["client_net"].as_str().unwrap().ends_with(".0.0/16")));
    let g = groups(&[
        "--group-by",
        "client-net/24/48",
        "testdata/synth/basic_v6.pcap",
    ]);
    assert!(g
        .iter()
        .all(|g| g["client_net"].as_str().unwrap().ends_with("/48")));
}

#[test]
fn bad_keys_and_combinations_are_refused() {
    for (args, says) in [
        (&["--group-by", "port"][..], "unknown group key"),
        (&["--group-by", "client-net/33"], "unknown group key"),
        (&["--group-by", "server", "--history"], "--history"),
        (&["--group-by", "server", "--format", "zeek"], "zeek"),
        (&["--group-by", "server", "--out-dir", "x"], "--out-dir"),
    ] {
        let mut all = args.to_vec();
        all.push("testdata/real/refused.pcap");
        let (code, _, err) = run(&all);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
