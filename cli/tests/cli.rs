//! The binary end to end: formats, output file, stdin, several files, exit
//! statuses. Report text is compared with golden files in tests/golden/report;
//! run with TCPSTATE_BLESS=1 to rewrite them after a deliberate change.

use std::fs;
use std::path::Path;

use assert_cmd::Command;

mod common;
use common::golden;

fn tcpstate() -> Command {
    let mut c = Command::cargo_bin("tcpstate").unwrap();
    c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    c
}

fn stdout_of(args: &[&str]) -> String {
    let out = tcpstate().args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const MIXED: &str = "testdata/real/several_conns.pcapng";

#[test]
fn table_report_is_stable() {
    golden("several_conns.table.txt", &stdout_of(&[MIXED]));
}

#[test]
fn csv_report_is_stable() {
    golden("several_conns.csv", &stdout_of(&["--format", "csv", MIXED]));
}

#[test]
fn json_report_is_stable_and_parses() {
    let out = stdout_of(&["--format", "json", MIXED]);
    golden("several_conns.jsonl", &out);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8, "7 connections and a summary");
    let schema = [
        "stream",
        "client",
        "server",
        "client_reason",
        "first_frame",
        "last_frame",
        "start",
        "end",
        "packets",
        "bytes",
        "client_states",
        "server_states",
        "client_state",
        "server_state",
        "conn_state",
        "history",
        "anomalies",
        "transitions",
    ];
    for (i, c) in lines[..7].iter().enumerate() {
        assert_eq!(c["stream"], i as u64);
        for key in schema {
            assert!(!c[key].is_null(), "missing {key}");
        }
        assert!(c["packets"]["client"].is_u64() && c["bytes"]["server"].is_u64());
        assert!(c["client_states"][0] == "CLOSED" && c["server_states"][0] == "LISTEN");
        assert!(c["transitions"].as_array().unwrap().len() >= 4);
        for t in c["transitions"].as_array().unwrap() {
            for key in ["frame", "time", "side", "from", "to", "inferred"] {
                assert!(t.get(key).is_some(), "transition without {key}: {t}");
            }
        }
    }
    let s = &lines[7]["summary"];
    assert_eq!(s["frames"], 77);
    assert_eq!(s["tcp"], 77);
    assert_eq!(s["connections"], 7);
}

#[test]
fn output_file_gets_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conns.csv");
    tcpstate()
        .args(["--format", "csv", "-o", path.to_str().unwrap(), MIXED])
        .assert()
        .code(0)
        .stdout("");
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        stdout_of(&["--format", "csv", MIXED])
    );
    assert!(!dir.path().join("conns.csv.tmp").exists());
}

#[test]
fn stdin_is_read_as_a_stream_plain_and_gzip() {
    for file in [
        "testdata/real/normal_close_client.pcap",
        "testdata/real/normal_close_client.pcap.gz",
    ] {
        let bytes =
            fs::read(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(file)).unwrap();
        let out = tcpstate()
            .args(["--format", "csv", "-"])
            .write_stdin(bytes)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 2, "{file}: {text}");
        assert!(
            rows[1].starts_with("0,-,false,127.0.0.1:30011,127.0.0.1:5001,syn,1,11,"),
            "{}",
            rows[1]
        );
        assert!(rows[1].contains(",6,5,16,16,APSF,APSF"), "{}", rows[1]);
    }
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let plain = stdout_of(&["--format", "csv", "testdata/real/normal_close_client.pcap"]);
    let odd_name = stdout_of(&["--format", "csv", "testdata/real/gz_without_suffix.cap"]);
    let strip = |s: &str| {
        s.lines()
            .skip(1)
            .map(|l| l.split_once(',').unwrap().1.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&plain).len(), 1);
    assert_eq!(strip(&odd_name).len(), 1);
}

#[test]
fn several_files_keep_their_own_stream_numbers() {
    let out = stdout_of(&[
        "--format",
        "csv",
        "testdata/real/refused.pcap",
        "testdata/real/ipv6.pcap",
    ]);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 3);
    assert!(rows[0].starts_with("0,testdata/real/refused.pcap,"));
    assert!(rows[1].starts_with("1,testdata/real/refused.pcap,"));
    assert!(rows[2].starts_with("0,testdata/real/ipv6.pcap,false,[::1]:30071,[::1]:5007,"));
}

#[test]
fn missing_file_is_exit_2_and_other_files_still_reported() {
    let out = tcpstate()
        .args([
            "--format",
            "csv",
            "no/such/file.pcap",
            "testdata/real/refused.pcap",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no/such/file.pcap: cannot open: No such file"),
        "{err}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
}

#[test]
fn help_has_examples() {
    let out = stdout_of(&["--help"]);
    assert!(out.contains("Examples:"));
    assert!(out.contains("tcp.stream eq N"));
}

#[test]
fn history_reports_are_stable() {
    golden(
        "several_conns.history.txt",
        &stdout_of(&["--history", MIXED]),
    );
    golden(
        "several_conns.history.csv",
        &stdout_of(&["--history", "--format", "csv", MIXED]),
    );
}

#[test]
fn scenario_history_is_stable() {
    golden(
        "scenarios.history.txt",
        &stdout_of(&["--history", "testdata/synth/scenarios.pcap"]),
    );
}

#[test]
fn list_anomalies_prints_the_catalogue() {
    let out = stdout_of(&["--list-anomalies"]);
    for code in [
        "syn_unanswered",
        "refused",
        "half_open",
        "close_wait_stuck",
        "port_reuse_in_time_wait",
        "no_close",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(code)),
            "{code} missing:\n{out}"
        );
    }
    golden("anomalies.txt", &out);
}

#[test]
fn empty_csv_reports_still_have_their_header() {
    let conns = stdout_of(&["--format", "csv", "testdata/synth/link_unknown.pcap"]);
    let full = stdout_of(&["--format", "csv", MIXED]);
    assert_eq!(conns.lines().next(), full.lines().next());
    let hist = stdout_of(&[
        "--history",
        "--format",
        "csv",
        "testdata/synth/link_unknown.pcap",
    ]);
    let full = stdout_of(&["--history", "--format", "csv", MIXED]);
    assert_eq!(hist.lines().next(), full.lines().next());
}

#[test]
fn readme_documents_every_anomaly_code_and_json_key() {
    let readme =
        fs::read_to_string(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("README.md"))
            .unwrap();
    for code in tcpstate::anomaly::AnomalyCode::ALL {
        let row = format!(
            "| `{}` | {} | {} |",
            code.code(),
            code.severity(),
            code.meaning()
        );
        assert!(
            readme.contains(&row),
            "README lacks the catalogue row {row}"
        );
    }
    let out = stdout_of(&["--format", "json", MIXED]);
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    for key in first.as_object().unwrap().keys() {
        assert!(
            readme.contains(&format!("`{key}`")),
            "README does not document JSON key {key}"
        );
    }
}
