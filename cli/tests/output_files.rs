//! `-o FILE` is written to a temporary name and renamed into place, so a run
//! that fails while writing never leaves a half-written report under FILE: an
//! older report there stays as it was, and the temporary file is removed.

use std::fs;
use std::process::{Command, Output};

const INPUT: &str = "testdata/real/several_conns.pcapng";

fn tcpstate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcpstate"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn report_lands_complete_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let o = tcpstate(&["--format", "json", "-o", out.to_str().unwrap(), INPUT]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    let text = fs::read_to_string(&out).unwrap();
    assert!(text.lines().last().unwrap().starts_with("{\"summary\":"));
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "only the report, no temporary file");
}

#[test]
fn output_into_a_missing_directory_fails_with_status_1_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no_such_dir/report.csv");
    let o = tcpstate(&["--format", "csv", "-o", out.to_str().unwrap(), INPUT]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(o.stderr).unwrap(),
        format!(
            "tcpstate: cannot write {}: No such file or directory (os error 2)\n",
            out.display()
        )
    );
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// The write fails halfway: the process may write only 2048 bytes to any file
/// (`ulimit -f 4`, in 512-byte blocks; SIGXFSZ ignored so the write returns
/// EFBIG instead of killing the process). The JSON report is about 16 kB, so
/// its first 8 kB flush fails. The previous report must survive untouched.
#[cfg(unix)]
#[test]
fn a_write_failing_halfway_keeps_the_previous_report_and_removes_the_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    fs::write(&out, "previous report\n").unwrap();
    let script = format!(
        "trap '' XFSZ; ulimit -f 4; exec '{}' --format json -o '{}' {INPUT}",
        env!("CARGO_BIN_EXE_tcpstate"),
        out.display()
    );
    let o = Command::new("sh")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        String::from_utf8(o.stderr).unwrap(),
        format!(
            "tcpstate: cannot write {}: File too large (os error 27)\n",
            out.display()
        )
    );
    assert_eq!(fs::read_to_string(&out).unwrap(), "previous report\n");
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "the temporary file was removed");
}

/// A bad input and a failed write: the input's status (2) wins, and both are said.
#[test]
fn bad_input_and_failed_write_report_both() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("missing/report.txt");
    let o = tcpstate(&["-o", out.to_str().unwrap(), "testdata/synth/bad/empty.pcap"]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8(o.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with("tcpstate: testdata/synth/bad/empty.pcap: byte 0: file is empty"));
    assert!(lines[1].starts_with(&format!("tcpstate: cannot write {}:", out.display())));
}
