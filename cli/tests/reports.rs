//! Issue 5's reports end to end: the summary-first table, `show`, Zeek's
//! conn.log, `--out-dir`, filters, directories and globs, `--merge`, and the
//! `check` CI gate's exit codes. Report text is compared with golden files in
//! tests/golden/report (TCPSTATE_BLESS=1 rewrites them).

use std::fs;
use std::path::Path;

use assert_cmd::Command;

mod common;
use common::{golden, root};

fn tcpstate() -> Command {
    let mut c = Command::cargo_bin("tcpstate").unwrap();
    c.current_dir(root());
    c
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = tcpstate().args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    stdout
}

#[test]
fn table_starts_with_a_summary() {
    let out = ok(&[
        "testdata/synth/anomalies.pcap",
        "testdata/real/lossy_bulk.pcap",
    ]);
    let first: Vec<&str> = out.lines().take(3).collect();
    assert_eq!(
        first[0],
        "2 captures, 249 frames (tcp 249, other IP 0, non-IP 0, undecodable 0), 15 connections"
    );
    assert!(
        first[1].starts_with("outcomes: closed 5, half_closed 1,"),
        "{}",
        first[1]
    );
    assert!(
        first[2].starts_with("anomalies: invalid_flags 5, "),
        "errors first: {}",
        first[2]
    );
    assert!(
        !out.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn show_tells_one_connections_story() {
    golden(
        "show_several_conns_3.txt",
        &ok(&["show", "3", "testdata/real/several_conns.pcap"]),
    );
    golden(
        "show_seq_analysis_0.txt",
        &ok(&["show", "0", "testdata/synth/seq_analysis.pcap"]),
    );
    let (code, out, _) = run(&["show", "99", "testdata/real/refused.pcap"]);
    assert_eq!(code, 1);
    assert!(out.contains("no stream 99 (the capture has 2 connections)"));
}

#[test]
fn zeek_conn_log_tsv_and_json() {
    let tsv = ok(&[
        "--format",
        "zeek",
        "testdata/real/several_conns.pcap",
        "testdata/real/refused.pcap",
    ]);
    golden("conn.log", &tsv);
    let lines: Vec<&str> = tsv.lines().collect();
    assert_eq!(lines[0], "#separator \\x09");
    let fields = lines.iter().find(|l| l.starts_with("#fields")).unwrap();
    assert_eq!(
        fields.split('\t').skip(1).collect::<Vec<_>>(),
        [
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "proto",
            "service",
            "duration",
            "orig_bytes",
            "resp_bytes",
            "conn_state",
            "local_orig",
            "local_resp",
            "missed_bytes",
            "history",
            "orig_pkts",
            "orig_ip_bytes",
            "resp_pkts",
            "resp_ip_bytes",
            "tunnel_parents",
            "community_id"
        ]
    );
    let rows: Vec<Vec<&str>> = lines
        .iter()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 9);
    // Stream 0: normal close, 6/5 packets, 16 payload bytes each way, 52-byte loopback IPs + timestamps.
    assert_eq!(
        &rows[0][2..8],
        ["127.0.0.1", "30111", "127.0.0.1", "5011", "tcp", "-"]
    );
    assert_eq!(&rows[0][9..12], ["16", "16", "SF"]);
    assert_eq!(rows[0][15], "ShADadFf");
    assert_eq!(rows[0][16], "6");
    assert_eq!(rows[0][18], "5");
    // Zeek's community-id-logging.zeek field; the value is tshark's
    // `communityid` for stream 0 (tests/golden/tshark/several_conns.pcap.cid.tsv).
    assert_eq!(rows[0][21], "1:3TOvhhdaXYoQ7KJgHrOzmdZp+nE=");
    // A refused connection: REJ, Zeek's Sr.
    assert_eq!((rows[7][11], rows[7][15]), ("REJ", "Sr"));
    let json = ok(&["--format", "zeek-json", "testdata/real/refused.pcap"]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["conn_state"], "REJ");
    assert_eq!(first["id.resp_p"], 5005);
    assert_eq!(first["community_id"], "1:112Y0USkSDwaSroKUXLN78PNHac=");
    assert!(
        first.get("service").is_none(),
        "unset fields are omitted, as Zeek's JSON writer does"
    );
}

/// Zeek's timers are options with Zeek's defaults.
#[test]
fn zeek_timers_are_options() {
    let rows = |args: &[&str]| {
        let mut all = vec!["--format", "zeek", "testdata/synth/zeek_lifetimes.pcap"];
        all.extend(args);
        ok(&all).lines().filter(|l| !l.starts_with('#')).count()
    };
    assert_eq!(rows(&[]), 13);
    assert_eq!(rows(&["--zeek-attempt-delay", "0"]), 11);
    assert_eq!(rows(&["--zeek-close-delay", "10"]), 12);
    assert_eq!(rows(&["--zeek-inactivity-timeout", "400"]), 12);
    let tunnels = |args: &[&str]| {
        let mut all = vec!["--format", "zeek", "testdata/synth/zeek_tunnels.pcap"];
        all.extend(args);
        ok(&all).contains("ShADdXFf")
    };
    assert!(tunnels(&[]));
    assert!(!tunnels(&["--zeek-max-tunnel-changes", "20"]));
}

/// Issue 16: uids come from what the records are, not from how the input
/// was named: the same capture gives the same uids by any path or from
/// stdin, two different captures from stdin never share one.
#[test]
fn zeek_uids_come_from_the_content_not_the_path() {
    let uids = |out: &str| -> Vec<String> {
        out.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["uid"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let file = "testdata/real/several_conns.pcap";
    let plain = uids(&ok(&["--format", "zeek-json", file]));
    assert_eq!(plain.len(), 7);
    let dotted = format!("./{file}");
    let absolute = root().join(file).canonicalize().unwrap();
    for spelling in [dotted.as_str(), absolute.to_str().unwrap()] {
        assert_eq!(
            uids(&ok(&["--format", "zeek-json", spelling])),
            plain,
            "{spelling}"
        );
    }
    let stdin = |f: &str| {
        let out = tcpstate()
            .args(["--format", "zeek-json", "-"])
            .write_stdin(fs::read(root().join(f)).unwrap())
            .output()
            .unwrap();
        assert!(out.status.success());
        uids(&String::from_utf8(out.stdout).unwrap())
    };
    assert_eq!(stdin(file), plain);
    let other = stdin("testdata/real/refused.pcap");
    assert!(!other.is_empty() && other.iter().all(|u| !plain.contains(u)));
    let mut all = plain.clone();
    all.extend(other);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 9, "no uid twice");
}

#[test]
fn out_dir_writes_the_four_batch_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = ok(&[
        "--out-dir",
        d,
        "testdata/synth/anomalies.pcap",
        "testdata/real/half_close.pcap",
    ]);
    assert_eq!(out, "");
    let read = |n: &str| fs::read_to_string(dir.path().join(n)).unwrap();
    let conns = read("connections.csv");
    assert_eq!(conns.lines().count(), 1 + 14 + 1);
    // Rows come as connections finish; the stream number leads each one.
    assert!(conns
        .lines()
        .any(|l| l.starts_with("0,testdata/synth/anomalies.pcap,")));
    let anomalies = read("anomalies.csv");
    assert_eq!(
        anomalies.lines().next().unwrap(),
        "stream,file,code,severity,frame,side,detail"
    );
    assert!(anomalies.contains("5,testdata/synth/anomalies.pcap,close_wait_stuck,error,"));
    let transitions = read("transitions.csv");
    assert!(transitions
        .lines()
        .next()
        .unwrap()
        .starts_with("stream,file,frame,time,side,from,to"));
    let summary: serde_json::Value = serde_json::from_str(&read("summary.json")).unwrap();
    assert_eq!(summary["connections"], 15);
    assert!(fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".tmp")));
}

#[test]
fn filters_combine() {
    let streams = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["--format", "csv"];
        a.extend_from_slice(args);
        a.push("testdata/synth/anomalies.pcap");
        ok(&a)
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        streams(&["--anomaly", "invalid_flags"]),
        ["6", "7", "8", "9", "10"]
    );
    assert_eq!(streams(&["--state", "CLOSE_WAIT"]), ["5"]);
    assert_eq!(streams(&["--port", "51013"]), ["12"]);
    assert_eq!(streams(&["--stream", "3", "--stream", "4"]), ["3", "4"]);
    assert_eq!(
        streams(&["--anomaly", "invalid_flags", "--port", "51009"]),
        ["8"]
    );
    assert_eq!(streams(&["--host", "10.9.9.9"]), Vec::<String>::new());
    let (code, _, err) = run(&["--anomaly", "bogus", "testdata/synth/anomalies.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown anomaly code \"bogus\""), "{err}");
}

#[test]
fn directories_and_globs_with_a_corrupt_file_in_them() {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "testdata/real/refused.pcap",
        "testdata/real/ipv6.pcap",
        "testdata/synth/bad/truncated_record.pcap",
    ] {
        let name = Path::new(f).file_name().unwrap();
        fs::copy(root().join(f), dir.path().join(name)).unwrap();
    }
    fs::write(
        dir.path().join("notes.txt"),
        "not a capture, skipped by content",
    )
    .unwrap();
    let (code, out, err) = run(&["--format", "csv", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "the corrupt file is reported");
    assert!(
        err.contains("truncated_record.pcap: byte 234: truncated"),
        "{err}"
    );
    let files: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(
        files.len(),
        2 + 1 + 1,
        "refused 2, ipv6 1, and the truncated file's one connection"
    );
    let pattern = format!("{}/*.pcap", dir.path().display());
    let (_, globbed, _) = run(&["--format", "csv", &pattern]);
    assert_eq!(globbed, out);
}

#[test]
fn merge_over_a_split_capture_equals_the_whole() {
    // testdata/real/split: several_conns.pcap cut every 20 frames by `editcap -c 20`.
    // Every column but the file (the second).
    let strip = |csv: String| -> Vec<String> {
        csv.lines()
            .skip(1)
            .map(|l| {
                let (stream, rest) = l.split_once(',').unwrap();
                format!("{stream},{}", rest.split_once(',').unwrap().1)
            })
            .collect()
    };
    let whole = strip(ok(&["--format", "csv", "testdata/real/several_conns.pcap"]));
    let merged = strip(ok(&["--format", "csv", "--merge", "testdata/real/split"]));
    assert_eq!(merged, whole);
    assert_eq!(merged.len(), 7);
    let unmerged = strip(ok(&["--format", "csv", "testdata/real/split"]));
    assert!(
        unmerged.len() > 7,
        "without --merge, connections spanning files are cut"
    );
}

#[test]
fn check_gate_exit_codes() {
    // A clean capture passes the default policy (error-severity codes).
    let (code, out, _) = run(&["check", "testdata/real/several_conns.pcap"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.ends_with(
            "check passed: 1 capture read; 0 of 7 connections break a connection rule; \
             2 anomalies counted, no limit\n"
        ),
        "{out}"
    );
    // anomalies.pcap has error-severity anomalies.
    let (code, out, _) = run(&["check", "testdata/synth/anomalies.pcap"]);
    assert_eq!(code, 1);
    assert!(out.contains("testdata/synth/anomalies.pcap stream 2: 10.0.1.1:51003 -> 10.0.2.1:80 (closed): tcp.stream eq 2"), "{out}");
    assert!(
        out.contains(
            "  data_after_fin (frame 15): 30 bytes from the client after its FIN (seq 300001)"
        ),
        "{out}"
    );
    // Explicit codes, allowances and limits.
    assert_eq!(
        run(&[
            "check",
            "--fail-on",
            "refused",
            "testdata/real/refused.pcap"
        ])
        .0,
        1
    );
    assert_eq!(
        run(&[
            "check",
            "--fail-on",
            "refused",
            "--allow",
            "refused",
            "testdata/real/refused.pcap"
        ])
        .0,
        0
    );
    assert_eq!(
        run(&["check", "--require-closed", "testdata/real/half_close.pcap"]).0,
        0
    );
    assert_eq!(
        run(&["check", "--require-closed", "testdata/real/rst_abort.pcap"]).0,
        1
    );
    assert_eq!(
        run(&[
            "check",
            "--max-anomalies",
            "2",
            "testdata/real/several_conns.pcap"
        ])
        .0,
        0
    );
    assert_eq!(
        run(&[
            "check",
            "--max-anomalies",
            "1",
            "testdata/real/several_conns.pcap"
        ])
        .0,
        1
    );
    // Unreadable input stays 2.
    assert_eq!(run(&["check", "testdata/synth/bad/huge_caplen.pcap"]).0, 2);
    // A policy file, with flags adding to it.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("tcpstate.toml");
    fs::write(
        &policy,
        "fail_on = [\"reset\"]\nrequire_closed = false\nallow = []\n",
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    assert_eq!(
        run(&["check", "--policy", p, "testdata/real/rst_abort.pcap"]).0,
        1
    );
    assert_eq!(
        run(&[
            "check",
            "--policy",
            p,
            "--allow",
            "reset",
            "testdata/real/rst_abort.pcap"
        ])
        .0,
        0
    );
    fs::write(&policy, "fail_on = [\"no_such_code\"]\n").unwrap();
    let (code, _, err) = run(&["check", "--policy", p, "testdata/real/rst_abort.pcap"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown anomaly code \"no_such_code\""),
        "{err}"
    );
}

#[test]
fn report_html_subcommand_writes_one_self_contained_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.html");
    let (code, _, err) = run(&[
        "report",
        "--html",
        out.to_str().unwrap(),
        "testdata/synth/scenarios.pcap",
    ]);
    assert_eq!(code, 0, "{err}");
    let page = fs::read_to_string(&out).unwrap();
    assert!(
        page.starts_with("<!DOCTYPE html>") || page.starts_with("<!doctype html>"),
        "{}",
        &page[..40]
    );
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(page.contains("tcp.stream eq 17"));
}

#[test]
fn community_id_seed_reaches_rows_and_conn_log() {
    let id = |args: &[&str], key: &str| -> String {
        let out = ok(args);
        let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        first[key].as_str().unwrap().to_string()
    };
    let file = "testdata/real/refused.pcap";
    let seed0 = id(&["--format", "json", file], "community_id");
    let seed1 = id(
        &["--format", "json", "--community-id-seed", "1", file],
        "community_id",
    );
    // tshark's communityid for stream 0, seed 0 (tests/golden/tshark/refused.pcap.cid.tsv).
    assert_eq!(seed0, "1:112Y0USkSDwaSroKUXLN78PNHac=");
    assert_ne!(seed1, seed0);
    assert_eq!(
        id(
            &["--format", "zeek-json", "--community-id-seed", "1", file],
            "community_id"
        ),
        seed1
    );
}
