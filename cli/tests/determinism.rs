//! Determinism: the same capture gives byte-identical output with one rayon
//! thread and with many, run after run, in every output format, in `show`
//! and in the HTML report.
//!
//! Inputs: the largest capture in testdata/ (too small for the parallel decoder
//! to split its single batch, so it checks run-to-run stability), a generated
//! capture large enough that every batch of frames is decoded by several
//! threads (pcap and pcapng), and every shipped good capture at once (files are
//! analysed in parallel and must still be reported in command-line order).

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tcpstate_synth::{workload, ByteOrder, Interface, Link, PcapFormat, PcapNgWriter, PcapWriter};

/// Connections in the generated capture: about 33 000 frames, three batches
/// of 16384 frames, each split by rayon into chunks of at least 512.
const GENERATED_CONNECTIONS: u32 = 3000;

const FORMATS: [&[&str]; 8] = [
    &["--format", "table"],
    &["--format", "table", "--history"],
    &["--format", "csv"],
    &["--format", "csv", "--history"],
    &["--format", "json"],
    &["--format", "json", "--history"],
    &["--format", "zeek"],
    &["--format", "zeek-json"],
];

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Good captures under testdata/ (not the deliberately broken ones), sorted.
fn good_captures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                if name != "bad" && name != "fuzz" {
                    walk(&p, out);
                }
            } else if [".pcap", ".pcapng", ".gz", ".cap"]
                .iter()
                .any(|s| name.ends_with(s))
            {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&root().join("testdata"), &mut v);
    v.sort();
    v
}

fn run(threads: usize, args: &[&str], files: &[PathBuf]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpstate"))
        .current_dir(root())
        .env("RAYON_NUM_THREADS", threads.to_string())
        .args(args)
        .args(files)
        .output()
        .unwrap();
    assert!(!out.stdout.is_empty(), "{args:?} {files:?}: no output");
    out
}

/// One thread once, then many threads (and one thread again) several times:
/// every run must give the same bytes on stdout and stderr and the same status.
fn assert_same_output(args: &[&str], files: &[PathBuf]) {
    let reference = run(1, args, files);
    for (i, threads) in [4, 1, 8, 4].into_iter().enumerate() {
        let again = run(threads, args, files);
        let what = format!(
            "{args:?} on {files:?}, run {} with {threads} threads",
            i + 2
        );
        assert_eq!(reference.status.code(), again.status.code(), "{what}");
        assert!(reference.stdout == again.stdout, "{what}: stdout differs");
        assert!(reference.stderr == again.stderr, "{what}: stderr differs");
    }
}

/// Every output format, and for a single capture also `show` of its first
/// and last connection and the HTML report.
fn assert_deterministic(files: &[PathBuf]) {
    for args in FORMATS {
        assert_same_output(args, files);
    }
    if files.len() == 1 {
        let conns = String::from_utf8(run(1, &["--format", "csv"], files).stdout)
            .unwrap()
            .lines()
            .count()
            - 1;
        for stream in [0, conns.saturating_sub(1)] {
            assert_same_output(&["show", &stream.to_string()], files);
        }
        let dir = tempfile::tempdir().unwrap();
        let html = |threads: usize| {
            let path = dir.path().join(format!("r{threads}.html"));
            let out = Command::new(env!("CARGO_BIN_EXE_tcpstate"))
                .current_dir(root())
                .env("RAYON_NUM_THREADS", threads.to_string())
                .args(["report", "--html", path.to_str().unwrap()])
                .args(files)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{out:?}");
            fs::read(path).unwrap()
        };
        let reference = html(1);
        for threads in [4, 1, 8] {
            assert!(
                html(threads) == reference,
                "HTML report differs with {threads} threads"
            );
        }
    }
}

#[test]
fn largest_testdata_capture_is_deterministic() {
    let largest = good_captures()
        .into_iter()
        .max_by_key(|p| (fs::metadata(p).unwrap().len(), p.clone()))
        .unwrap();
    assert_deterministic(&[largest]);
}

#[test]
fn generated_capture_decoded_by_many_threads_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let packets = workload(GENERATED_CONNECTIONS);
    assert!(packets.len() > 4 * 8192, "{} packets", packets.len());
    let pcap = dir.path().join("many.pcap");
    let mut w = PcapWriter::new(
        BufWriter::new(File::create(&pcap).unwrap()),
        Link::Ethernet,
        PcapFormat::default(),
    )
    .unwrap();
    w.write_packets(&packets).unwrap();
    w.into_inner().unwrap();
    let pcapng = dir.path().join("many.pcapng");
    let mut w = PcapNgWriter::new(
        BufWriter::new(File::create(&pcapng).unwrap()),
        ByteOrder::Big,
    )
    .unwrap();
    let iface = w.add_interface(Interface::new(Link::Ethernet)).unwrap();
    for p in &packets {
        w.write_packet(iface, p).unwrap();
    }
    w.into_inner().unwrap();
    assert_deterministic(std::slice::from_ref(&pcap));
    assert_deterministic(&[pcapng]);
    // With every kind of eviction at work: closed connections freed after
    // 2 ms, idle ones after 1 ms, and at most 128 live (2 per shard).
    for format in ["json", "csv"] {
        let args = [
            "--format",
            format,
            "--msl",
            "0.001",
            "--idle-timeout",
            "0.001",
            "--max-connections",
            "128",
        ];
        assert_same_output(&args, std::slice::from_ref(&pcap));
        let out = run(1, &args, std::slice::from_ref(&pcap));
        if format == "json" {
            let text = String::from_utf8(out.stdout).unwrap();
            let summary: serde_json::Value =
                serde_json::from_str(text.lines().last().unwrap()).unwrap();
            let ev = &summary["summary"]["evicted"];
            for kind in ["closed", "idle", "limit"] {
                assert!(ev[kind].as_u64().unwrap() > 0, "no {kind} evictions: {ev}");
            }
            // Timeouts this short also split some connections in two.
            let conns = summary["summary"]["connections"].as_u64().unwrap();
            assert!(conns >= u64::from(GENERATED_CONNECTIONS), "{conns}");
        }
    }
}

#[test]
fn many_files_at_once_are_deterministic_and_in_order() {
    let files = good_captures();
    assert!(files.len() > 30);
    assert_deterministic(&files);
    // All of them as one capture.
    assert_same_output(&["--format", "json", "--merge"], &files);
    // Files are reported in command-line order whatever thread finished first.
    let csv = run(8, &["--format", "csv"], &files);
    let text = String::from_utf8(csv.stdout).unwrap();
    let mut seen: Vec<&str> = Vec::new();
    for row in text.lines().skip(1) {
        let file = row.split(',').nth(1).unwrap();
        if seen.last() != Some(&file) {
            assert!(!seen.contains(&file), "{file} reported in two places");
            seen.push(file);
        }
    }
    let given: Vec<String> = files
        .iter()
        .map(|f| f.display().to_string())
        .filter(|f| seen.iter().any(|s| s == f))
        .collect();
    assert_eq!(seen, given);
}
