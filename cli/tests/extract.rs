//! `tcpstate extract`: the frames written are tshark's own `-Y 'tcp.stream
//! eq N'` selection (times to the nanosecond, lengths, bytes), and the
//! comments of `--annotate` are what tshark 4.0 showed as `frame.comment`
//! when it read the extract (tests/golden/extract/, made by
//! scripts/extract_golden.sh; its README says how).

use std::fs;
use std::path::Path;

mod common;
use common::{root, run};

use tcpstate::capture::{CaptureReader, Input};

/// The captures and streams of tests/golden/extract/.
const CASES: &[(&str, u64)] = &[
    ("testdata/real/several_conns.pcapng", 0),
    ("testdata/real/several_conns.pcapng", 3),
    ("testdata/real/out_of_window.pcap", 0),
    ("testdata/real/injected_rst.pcap", 1),
    ("testdata/real/normal_close_client.pcap.gz", 0),
    ("testdata/synth/multi_if.pcapng", 1),
    ("testdata/synth/multi_if.pcapng", 3),
    ("testdata/synth/multi_if_be.pcapng", 1),
];

/// "1795570941.892373000" -> ns.
fn epoch_ns(s: &str) -> i64 {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    secs.parse::<i64>().unwrap() * 1_000_000_000
        + format!("{frac:0<9}")[..9].parse::<i64>().unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The comment of each Enhanced Packet Block of a little-endian pcapng
/// file (as tcpstate writes it), in order; `None` for a block without one.
fn comments(bytes: &[u8]) -> Vec<Option<String>> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let u16_at = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (kind, len) = (u32_at(at), u32_at(at + 4));
        if kind == 6 {
            let caplen = u32_at(at + 20);
            let mut opt = at + 28 + caplen.next_multiple_of(4);
            let mut comment = None;
            while opt < at + len - 4 {
                let (code, olen) = (u16_at(opt), u16_at(opt + 2));
                if code == 0 {
                    break;
                }
                if code == 1 {
                    comment =
                        Some(String::from_utf8(bytes[opt + 4..opt + 4 + olen].to_vec()).unwrap());
                }
                opt += 4 + olen.next_multiple_of(4);
            }
            out.push(comment);
        }
        at += len;
    }
    out
}

#[test]
fn extracts_are_tsharks_stream_selection_with_its_comments() {
    let dir = tempfile::tempdir().unwrap();
    let golden = root().join("tests/golden/extract");
    for &(file, stream) in CASES {
        let name = format!(
            "{}.s{stream}",
            Path::new(file).file_name().unwrap().to_string_lossy()
        );
        let out = dir.path().join(format!("{name}.pcapng"));
        let out_arg = out.to_str().unwrap();
        let s = stream.to_string();
        let (code, _, err) = run(&["extract", "--annotate", "--stream", &s, file, "-w", out_arg]);
        assert_eq!(code, 0, "{name}: {err}");

        let mut r = CaptureReader::open(&Input::Path(out.clone())).unwrap();
        let mut got = Vec::new();
        while let Some(p) = r.next_packet().unwrap() {
            got.push((p.ts_ns, p.data.len(), p.orig_len as usize, hex(p.data)));
        }
        let tshark = fs::read_to_string(golden.join(format!("{name}.tshark.tsv"))).unwrap();
        let want: Vec<(i64, usize, usize, String)> = tshark
            .lines()
            .map(|l| {
                let c: Vec<&str> = l.split('\t').collect();
                (
                    epoch_ns(c[1]),
                    c[2].parse().unwrap(),
                    c[3].parse().unwrap(),
                    c[4].to_string(),
                )
            })
            .collect();
        assert!(!want.is_empty(), "{name}");
        assert_eq!(got, want, "{name}: frames (time ns, caplen, len, bytes)");

        let shown = fs::read_to_string(golden.join(format!("{name}.comments.tsv"))).unwrap();
        let want: Vec<(i64, Option<String>)> = shown
            .lines()
            .map(|l| {
                let c: Vec<&str> = l.splitn(3, '\t').collect();
                (
                    epoch_ns(c[1]),
                    Some(c[2].to_string()).filter(|s| !s.is_empty()),
                )
            })
            .collect();
        let written = comments(&fs::read(&out).unwrap());
        let got: Vec<(i64, Option<String>)> = got.iter().map(|g| g.0).zip(written).collect();
        assert_eq!(got, want, "{name}: frame.comment as tshark showed it");
        assert!(got.iter().any(|g| g.1.is_some()), "{name}: no comment");
    }
}

#[test]
fn comments_name_transitions_and_anomalies() {
    let shown =
        fs::read_to_string(root().join("tests/golden/extract/out_of_window.pcap.s0.comments.tsv"))
            .unwrap();
    assert!(shown.contains("\tclient CLOSED -> SYN_SENT; server LISTEN -> SYN_RCVD\n"));
    assert!(shown.contains("client FIN_WAIT_1 -> FIN_WAIT_2"));
    assert!(shown.contains("out_of_window_segment: "));
    let shown =
        fs::read_to_string(root().join("tests/golden/extract/injected_rst.pcap.s1.comments.tsv"))
            .unwrap();
    assert!(shown.contains("out_of_window_rst: RST from the server ignored"));
}

#[test]
fn filters_select_connections_and_no_match_is_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.pcapng");
    let o = out.to_str().unwrap();
    let frames = |args: &[&str]| {
        let mut a = vec!["extract"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-w", o]);
        let (code, _, err) = run(&a);
        let mut r = CaptureReader::open(&Input::Path(out.clone())).unwrap();
        let mut n = 0;
        while r.next_packet().unwrap().is_some() {
            n += 1;
        }
        (code, n, err)
    };
    // several_conns.pcap: 7 connections, 77 frames, all TCP; stream 3 is
    // the one the server reset.
    assert_eq!(frames(&["testdata/real/several_conns.pcap"]).1, 77);
    let (code, n, err) = frames(&[
        "--outcome",
        "reset_by_server",
        "testdata/real/several_conns.pcap",
    ]);
    assert_eq!((code, n), (0, 8), "{err}");
    assert!(err.contains("wrote 8 frames of 1 connections"), "{err}");
    let (code, n, err) = frames(&["--stream", "99", "testdata/real/several_conns.pcap"]);
    assert_eq!((code, n), (1, 0));
    assert!(err.contains("no connection matched"), "{err}");
}

#[test]
fn stdin_is_refused_and_bad_input_is_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.pcapng");
    let o = out.to_str().unwrap();
    let (code, _, err) = run(&["extract", "-", "-w", o]);
    assert_eq!(code, 2);
    assert!(err.contains("reads its input twice"), "{err}");
    assert!(!out.exists());

    // Cut short: the error names the file and the byte offset; the frames
    // read before it are still written.
    let (code, _, err) = run(&[
        "extract",
        "testdata/synth/bad/truncated_record.pcap",
        "-w",
        o,
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("testdata/synth/bad/truncated_record.pcap: byte 234: truncated"),
        "{err}"
    );
    let mut r = CaptureReader::open(&Input::Path(out.clone())).unwrap();
    let mut n = 0;
    while r.next_packet().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 3);

    // Not a capture at all: status 2, and no output file.
    let other = dir.path().join("y.pcapng");
    let (code, _, err) = run(&[
        "extract",
        "testdata/synth/bad/not_a_capture.txt",
        "-w",
        other.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("not_a_capture.txt: byte 0: not a pcap or pcapng file"),
        "{err}"
    );
    assert!(!other.exists());
}
