//! Issue 16's contracts end to end: the CI gate never passes what it could
//! not read, its summary adds up, JUnit and JSON results, filters on every
//! job, `--merge` in time order with overlap and gap warnings, options that
//! cannot combine, checksum offload, `report --html` and `man`. Golden files
//! in tests/golden/report (TCPSTATE_BLESS=1 rewrites them).

use std::fs;
use std::path::{Path, PathBuf};

mod common;
use common::{golden, root, run};

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

/// A recordings directory: one good capture, an empty file, a file that is
/// not a capture though named like one, and notes that are no recording.
fn recordings() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        root().join("testdata/real/several_conns.pcap"),
        dir.path().join("good.pcap"),
    )
    .unwrap();
    fs::write(dir.path().join("empty.pcap"), b"").unwrap();
    fs::copy(
        root().join("testdata/synth/bad/not_a_capture.txt"),
        dir.path().join("corrupt.pcap"),
    )
    .unwrap();
    fs::write(dir.path().join("notes.txt"), "how these were recorded\n").unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    (dir, d)
}

#[test]
fn check_fails_with_2_on_a_directory_holding_empty_and_corrupt_files() {
    let (_dir, d) = recordings();
    let (code, out, err) = run(&["check", "--fail-on", "refused", &d]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!(
            "{d}/empty.pcap: byte 0: file is empty, not a pcap or pcapng capture"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{d}/corrupt.pcap: byte 0: not a pcap or pcapng file (starts with"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "note: 1 file not read, neither named nor starting like a capture (or hidden): {d}/notes.txt"
        )),
        "{err}"
    );
    assert!(!out.contains("passed"), "{out}");
    assert_eq!(
        last_line(&out),
        "check failed: 2 of 3 captures unreadable or cut short (errors on stderr); \
         0 of 7 connections break a connection rule; 2 anomalies counted, no limit"
    );
    // An empty file is a recording whatever its name.
    fs::write(Path::new(&d).join("rec-0042"), b"").unwrap();
    let (code, _, err) = run(&["check", "--fail-on", "refused", &d]);
    assert_eq!(code, 2);
    assert!(err.contains("rec-0042: byte 0: file is empty"), "{err}");
}

#[test]
fn the_default_command_and_globs_follow_the_same_rules() {
    let (_dir, d) = recordings();
    let (code, out, err) = run(&[&d]);
    assert_eq!(code, 2);
    assert!(err.contains("empty.pcap: byte 0: file is empty"), "{err}");
    assert!(err.contains("corrupt.pcap: byte 0: not a pcap"), "{err}");
    assert!(out.starts_with("3 captures, 77 frames"), "{out}");
    assert!(out.contains("read errors: 2 (see below)"), "{out}");
    let pattern = format!("{d}/*.pcap");
    let (code, out, err) = run(&["check", "--fail-on", "refused", &pattern]);
    assert_eq!(code, 2, "{err}");
    assert!(!out.contains("passed"), "{out}");
    assert!(last_line(&out).starts_with("check failed: 2 of 3 captures unreadable"));
    // A directory that a glob matches is searched like one given by name.
    let (code, out, _) = run(&["check", "--fail-on", "refused", &format!("{d}*")]);
    assert_eq!(code, 2);
    assert!(last_line(&out).starts_with("check failed: 2 of 3 captures unreadable"));
}

#[test]
fn a_truncated_capture_fails_the_gate_but_what_was_read_is_checked() {
    let (code, out, _) = run(&[
        "check",
        "--require-closed",
        "testdata/synth/bad/truncated_record.pcap",
    ]);
    assert_eq!(code, 2);
    assert!(out.contains("tcp.stream eq 0"), "{out}");
    assert_eq!(
        last_line(&out),
        "check failed: 1 of 1 captures unreadable or cut short (errors on stderr); \
         1 of 1 connections break a connection rule; 0 anomalies counted, no limit"
    );
}

#[test]
fn a_policy_positional_is_read_as_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("pol.toml");
    fs::write(&policy, "fail_on = [\"reset\"]\n").unwrap();
    let p = policy.to_str().unwrap();
    let (code, out, err) = run(&["check", p, "testdata/real/rst_abort.pcap"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("reset (frame 8)"), "{out}");
    assert_eq!(
        last_line(&out),
        "check failed: 1 capture read; 1 of 1 connections break a connection rule; \
         1 anomaly counted, no limit"
    );
    // Flags add to it, as to --policy.
    assert_eq!(
        run(&[
            "check",
            p,
            "--allow",
            "reset",
            "testdata/real/rst_abort.pcap"
        ])
        .0,
        0
    );
    let (code, _, err) = run(&["check", "--policy", p, p, "testdata/real/rst_abort.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("one policy file at most"), "{err}");
    let (code, _, err) = run(&["check", p]);
    assert_eq!(code, 2);
    assert!(err.contains("check needs captures to read"), "{err}");
}

#[test]
fn the_summary_line_adds_up() {
    let (code, out, _) = run(&[
        "check",
        "--max-anomalies",
        "1",
        "testdata/real/several_conns.pcap",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "check failed: 1 capture read; 0 of 7 connections break a connection rule; \
         2 anomalies counted, more than the 1 allowed\n"
    );
    let (code, out, _) = run(&[
        "check",
        "--max-anomalies",
        "2",
        "testdata/real/several_conns.pcap",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "check passed: 1 capture read; 0 of 7 connections break a connection rule; \
         2 anomalies counted, at most 2 allowed\n"
    );
}

/// Every rule in force, two captures (one breaking fail_on and
/// require_closed) and an unreadable one.
fn check_args(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "check",
        "--fail-on",
        "reset,refused",
        "--require-closed",
        "--max-anomalies",
        "0",
        "testdata/real/rst_abort.pcap",
        "testdata/real/half_close.pcap",
        "testdata/synth/bad/empty.pcap",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[test]
fn check_writes_junit_xml_a_suite_per_capture_and_a_case_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let mut args = check_args(&["--junit"]);
    args.push(junit.to_str().unwrap().into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, _) = run(&args);
    assert_eq!(code, 2);
    let xml = fs::read_to_string(&junit).unwrap();
    golden("check.junit.xml", &xml);
    assert_eq!(
        xml.matches("<testsuite ").count(),
        4,
        "3 captures and max_anomalies"
    );
    assert!(xml.contains(
        r#"<testsuites name="tcpstate check" tests="13" failures="3" errors="1" skipped="3">"#
    ));
    assert!(xml.contains("testdata/real/rst_abort.pcap stream 0: 127.0.0.1:30041 -&gt; 127.0.0.1:5004 (reset_by_client): tcp.stream eq 0"));
    // Without a writable place the check reports it and fails.
    let (code, out, err) = run(&[
        "check",
        "--junit",
        "/nonexistent-dir/junit.xml",
        "testdata/real/half_close.pcap",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot write /nonexistent-dir/junit.xml"),
        "{err}"
    );
    assert_eq!(
        out,
        "check failed: 1 capture read; 0 of 1 connections break a connection rule; \
         0 anomalies counted, no limit; cannot write /nonexistent-dir/junit.xml: \
         No such file or directory (os error 2)\n"
    );
}

#[test]
fn check_writes_one_json_object() {
    let args = check_args(&["--format", "json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, _) = run(&args);
    assert_eq!(code, 2);
    golden("check.json", &out);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["result"], "unreadable");
    assert_eq!(v["exit_status"], 2);
    assert_eq!(v["unreadable"], 1);
    assert_eq!(v["offending"], 1);
    assert_eq!(
        v["captures"][0]["offending"][0]["filter"],
        "tcp.stream eq 0"
    );
    assert_eq!(v["captures"][2]["readable"], false);
}

#[test]
fn filters_apply_to_check_and_report() {
    let f = "testdata/real/several_conns.pcap";
    let (code, out, err) = run(&["check", "--fail-on", "reset", "--client-port", "30114", f]);
    assert_eq!(code, 1);
    assert!(
        err.contains("1 of 7 connections match the filters"),
        "{err}"
    );
    assert_eq!(
        last_line(&out),
        "check failed: 1 capture read; 1 of 1 connections break a connection rule \
         (6 left out by the filters); 1 anomaly counted, no limit"
    );
    let (code, _, _) = run(&["check", "--fail-on", "reset", "--outcome", "closed", f]);
    assert_eq!(code, 0);
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    let (code, _, err) = run(&[
        "report",
        "--html",
        html.to_str().unwrap(),
        "--stream",
        "3",
        f,
    ]);
    assert_eq!(code, 0, "{err}");
    let page = fs::read_to_string(&html).unwrap();
    assert!(page.contains("tcp.stream eq 3"));
    assert!(!page.contains("tcp.stream eq 4"));
}

fn streams(args: &[&str]) -> Vec<String> {
    let mut all = vec!["--format", "csv"];
    all.extend_from_slice(args);
    all.push("testdata/real/several_conns.pcap");
    let (code, out, err) = run(&all);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

#[test]
fn host_prefixes_ports_by_role_and_outcomes_filter() {
    assert_eq!(streams(&["--host", "127.0.0.0/8"]).len(), 7);
    assert_eq!(streams(&["--host", "127.0.0.1/32"]).len(), 7);
    assert!(streams(&["--host", "10.0.0.0/8"]).is_empty());
    assert!(streams(&["--host", "::/0"]).is_empty());
    assert_eq!(streams(&["--server-port", "5011"]).len(), 7);
    assert!(streams(&["--client-port", "5011"]).is_empty());
    assert_eq!(streams(&["--client-port", "30113"]), ["2"]);
    assert_eq!(
        streams(&["--outcome", "reset_by_client,reset_by_server"]),
        ["3", "4"]
    );
    assert_eq!(streams(&["--outcome", "reset_by_server"]), ["3"]);
    let (code, _, err) = run(&["--outcome", "gone", "testdata/real/refused.pcap"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown outcome \"gone\" (one of closed, half_closed"),
        "{err}"
    );
    let (code, _, err) = run(&["--host", "127.0.0.1/8", "testdata/real/refused.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean 127.0.0.0/8?"), "{err}");
}

/// The rotated files in the order a shell glob lists them.
fn rotated_in_glob_order() -> Vec<String> {
    let mut names: Vec<PathBuf> = fs::read_dir(root().join("testdata/real/rotated"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| {
            format!(
                "testdata/real/rotated/{}",
                p.file_name().unwrap().to_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn merge_reads_tcpdump_rotated_files_in_time_order() {
    let files = rotated_in_glob_order();
    assert_eq!(files.len(), 12);
    assert_eq!(files[2], "testdata/real/rotated/rot.pcap10", "glob order");
    let mut args = vec!["--format", "json", "--merge"];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "", "consecutive files: no warning");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "two connections and the summary");
    let mut names = vec!["testdata/real/rotated/rot.pcap".to_string()];
    names.extend((1..12).map(|i| format!("testdata/real/rotated/rot.pcap{i}")));
    for c in &lines[..2] {
        assert_eq!(c["outcome"], "closed");
        assert_eq!(c["anomalies"], serde_json::json!([]), "{c}");
        assert_eq!(c["file"], names.join("+"));
    }
    assert_eq!(lines[0]["client"], "127.0.0.1:31301");
    assert_eq!(lines[0]["first_frame"], 1);
    assert_eq!(lines[0]["last_frame"], 138);
    assert_eq!(lines[1]["client"], "127.0.0.1:31302");
    assert_eq!(lines[0]["bytes"]["server"], 4000, "40 chunks of 100 bytes");
    assert_eq!(lines[1]["bytes"]["server"], 2000, "20 chunks of 100 bytes");
    let packets = |c: &serde_json::Value| {
        c["packets"]["client"].as_u64().unwrap() + c["packets"]["server"].as_u64().unwrap()
    };
    assert_eq!(packets(&lines[0]) + packets(&lines[1]), 138);
    assert_eq!(lines[2]["summary"]["frames"], 138);
    // The glob itself, and the files in any order, give the same report.
    let (_, globbed, _) = run(&[
        "--format",
        "json",
        "--merge",
        "testdata/real/rotated/rot.pcap*",
    ]);
    assert_eq!(globbed, out);
    let mut reversed = vec!["--format", "json", "--merge"];
    reversed.extend(files.iter().rev().map(String::as_str));
    assert_eq!(run(&reversed).1, out);
}

#[test]
fn merged_files_that_overlap_or_leave_a_gap_are_warned_about() {
    let part = |n: u32| {
        let dir = root().join("testdata/real/split");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_str().unwrap().to_string())
            .collect();
        names.sort();
        format!("testdata/real/split/{}", names[n as usize])
    };
    // The whole capture and its first part overlap.
    let (code, out, err) = run(&["--merge", "testdata/real/several_conns.pcap", &part(1)]);
    assert_eq!(code, 0);
    assert!(
        err.contains(&format!(
            "tcpstate: warning: --merge: {} starts 1.877926 s before testdata/real/several_conns.pcap ends",
            part(1)
        )),
        "{err}"
    );
    assert!(out.contains("warnings: 1 (see below)"), "{out}");
    assert!(out.contains("\nwarning: --merge: "), "{out}");
    // Parts 0 and 3 without 1 and 2: a gap longer than any pause inside.
    let (_, out, err) = run(&["--merge", "--format", "json", &part(3), &part(0)]);
    let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(summary["summary"]["warnings"], 1);
    let w = &summary["summary"]["files"][0]["warnings"][0];
    assert_eq!(w["kind"], "merge_gap");
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .contains("a file may be missing"),
        "{w}"
    );
    assert!(err.contains("a file may be missing"), "{err}");
}

#[test]
fn merged_start_times_are_never_negative() {
    let mut files: Vec<String> = fs::read_dir(root().join("testdata/real/split"))
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_string())
        .collect();
    files.sort();
    files.reverse();
    let mut args = vec!["--merge"];
    args.extend(files.iter().map(String::as_str));
    let (code, out, _) = run(&args);
    assert_eq!(code, 0);
    let starts: Vec<f64> = out
        .lines()
        .skip_while(|l| !l.starts_with("STREAM"))
        .skip(1)
        .take_while(|l| !l.starts_with("frames:"))
        .map(|l| l.split_whitespace().nth(5).unwrap().parse().unwrap())
        .collect();
    assert_eq!(starts.len(), 7);
    assert!(starts.iter().all(|&s| s >= 0.0), "{starts:?}");
    assert_eq!(starts[0], 0.0);
}

#[test]
fn options_that_cannot_combine_are_rejected() {
    let f = "testdata/real/refused.pcap";
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["-f", "zeek", "--history", f],
            "--history cannot be combined with --format zeek or zeek-json",
        ),
        (
            vec!["-f", "zeek-json", "--history", f],
            "--history cannot be combined with --format zeek or zeek-json",
        ),
        (
            vec!["--out-dir", out_dir.to_str().unwrap(), "-f", "json", f],
            "--out-dir writes connections.csv, transitions.csv, anomalies.csv and summary.json, so --format json has nothing to apply to",
        ),
        (vec!["--list-anomalies", f], "cannot be used with"),
        (vec!["--msl", "-1", f], "seconds must be a finite number, 0 or more"),
        (vec!["--idle-timeout", "nan", f], "seconds must be a finite number, 0 or more"),
        (vec!["--max-connections", "0", f], "must be a whole number, at least 1"),
        (vec!["--merge", "-", f], "--merge orders files by their first packet"),
    ];
    for (args, message) in cases {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert_eq!(out, "", "{args:?}");
    }
    assert!(!out_dir.exists(), "a rejected run writes nothing");
    // What does combine still works: JSON always carries the history.
    assert_eq!(run(&["-f", "json", "--history", f]).0, 0);
    assert_eq!(run(&["-f", "csv", "--history", f]).0, 0);
}

#[test]
fn verify_checksums_on_an_offloading_capture_says_what_it_dropped() {
    // Recorded between two namespaces: 10.200.16.1 (the capturing side,
    // TX checksum offload on) and 10.200.16.2 (offload off).
    let (code, out, err) = run(&["--verify-checksums", "testdata/real/offload_netns.pcap"]);
    assert_eq!(code, 0);
    let warning = "--verify-checksums dropped 16 TCP segments with bad checksums: 16 of the 16 \
                   sent by 10.200.16.1 (the other hosts' 14 are all good). This is checksum \
                   offload, not corruption";
    assert!(
        err.contains(&format!("tcpstate: warning: {warning}")),
        "{err}"
    );
    assert!(out.contains(&format!("\nwarning: {warning}")), "{out}");
    assert!(out.contains("warnings: 1 (see below)"), "{out}");
    let (_, json, _) = run(&[
        "--verify-checksums",
        "-f",
        "json",
        "testdata/real/offload_netns.pcap",
    ]);
    let summary: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    assert_eq!(
        summary["summary"]["files"][0]["warnings"][0]["kind"],
        "checksum_offload"
    );
    // A loopback recording: every segment is the capturing host's own.
    let (_, _, err) = run(&["--verify-checksums", "testdata/real/several_conns.pcap"]);
    assert!(
        err.contains("sent by 127.0.0.1 (no other host sent any)"),
        "{err}"
    );
    // Two corrupted segments, one per host: corruption, no warning.
    let (_, _, err) = run(&["--verify-checksums", "testdata/synth/checksums.pcap"]);
    assert_eq!(err, "");
    // Without verification nothing is dropped and nothing is said.
    let (_, _, err) = run(&["testdata/real/offload_netns.pcap"]);
    assert_eq!(err, "");
}

#[test]
fn report_html_to_an_unwritable_path_exits_1() {
    let (code, _, err) = run(&[
        "report",
        "--html",
        "/nonexistent-dir/r.html",
        "testdata/real/refused.pcap",
    ]);
    assert_eq!(code, 1, "the documented status of an unwritable report");
    assert!(
        err.contains("tcpstate: cannot write /nonexistent-dir/r.html: No such file or directory"),
        "{err}"
    );
}

#[test]
fn man_ships_every_page_it_refers_to() {
    let (code, page, _) = run(&["man"]);
    assert_eq!(code, 0);
    let referred: Vec<String> = page
        .split("tcpstate\\-")
        .skip(1)
        .filter_map(|s| s.split_once("(1)").map(|(name, _)| name.to_string()))
        .collect();
    assert_eq!(
        referred,
        [
            "show",
            "extract",
            "check",
            "report",
            "diff",
            "completions",
            "man"
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(dir.path().join("tcpstate.1").exists());
    for name in &referred {
        let (code, sub, err) = run(&["man", name]);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(
            sub.contains(&format!(".TH tcpstate-{name} 1")),
            "{name}: {}",
            &sub[..200.min(sub.len())]
        );
        let file = fs::read_to_string(dir.path().join(format!("tcpstate-{name}.1"))).unwrap();
        assert_eq!(file, sub);
    }
    let (code, _, err) = run(&["man", "nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the subcommands are show, extract, check, report, diff, completions, man")
    );
}

#[test]
fn the_library_merges_rotated_files_in_time_order_too() {
    let paths: Vec<PathBuf> = rotated_in_glob_order()
        .iter()
        .map(|f| root().join(f))
        .collect();
    let a = tcpstate::Analyzer::new().analyze_merged(&paths);
    assert!(a.file.ends_with("rot.pcap11"), "{}", a.file);
    let conns: Vec<_> = a.connections().collect();
    assert_eq!(conns.len(), 2);
    for c in conns {
        assert_eq!(c.tcp.outcome(), tcpstate::Outcome::Closed);
        assert!(c.anomalies().is_empty(), "{:?}", c.anomalies());
    }
    assert!(a.warnings.is_empty());
    assert!(a.errors().is_empty());
}
