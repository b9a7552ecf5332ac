//! Where the bytes come from changes nothing: a mapped file, stdin, a FIFO and
//! gzip (one member or several) give the same report.

use std::io::Write;

use assert_cmd::Command;

fn root() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/..")
}

/// The JSON report of `arg` (stdin given), without the summary's file name
/// and compression flag, which differ by design.
fn report(arg: &str, stdin: Option<Vec<u8>>) -> (i32, Vec<serde_json::Value>) {
    let mut cmd = Command::cargo_bin("tcpstate").unwrap();
    cmd.current_dir(root()).args(["--format", "json", arg]);
    if let Some(bytes) = stdin {
        cmd.write_stdin(bytes);
    }
    let out = cmd.output().unwrap();
    let mut lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last_mut().unwrap();
    for f in summary["summary"]["files"].as_array_mut().unwrap() {
        f.as_object_mut().unwrap().remove("file");
        f.as_object_mut().unwrap().remove("compressed");
    }
    for l in &mut lines {
        if let Some(o) = l.as_object_mut() {
            o.remove("file");
        }
    }
    (out.status.code().unwrap(), lines)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn file_stdin_and_gzip_members_read_alike() {
    let path = "testdata/real/several_conns.pcapng";
    let bytes = std::fs::read(format!("{}/{path}", root())).unwrap();
    let (code, expected) = report(path, None);
    assert_eq!(code, 0);
    assert!(expected.len() > 5);
    assert_eq!(report("-", Some(bytes.clone())), (0, expected.clone()));

    // Several gzip members (as `cat a.gz b.gz` or pigz make them), cut at
    // arbitrary bytes of the capture, and an empty member among them.
    let mut members = Vec::new();
    for part in [&bytes[..100], &bytes[100..101], &[][..], &bytes[101..]] {
        members.extend(gzip(part));
    }
    assert_eq!(report("-", Some(members.clone())), (0, expected.clone()));
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("members.pcapng.gz");
    std::fs::write(&gz, &members).unwrap();
    assert_eq!(report(gz.to_str().unwrap(), None), (0, expected));
}

/// A named pipe cannot be mapped; it is read as a stream.
#[cfg(unix)]
#[test]
fn a_fifo_reads_like_the_file() {
    let path = "testdata/real/normal_close_client.pcap.gz";
    let (code, expected) = report(path, None);
    assert_eq!(code, 0);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("capture");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("mkfifo unavailable; skipped");
        return;
    }
    let writer = {
        let fifo = fifo.clone();
        let bytes = std::fs::read(format!("{}/{path}", root())).unwrap();
        std::thread::spawn(move || std::fs::write(fifo, bytes).unwrap())
    };
    let got = report(fifo.to_str().unwrap(), None);
    writer.join().unwrap();
    assert_eq!(got, (0, expected));
}
