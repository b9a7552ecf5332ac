//! `tcpstate show` (issue 16): globs and `--merge` as the main command,
//! `--format json`, the advertised window, and anomaly details in the same
//! relative sequence numbers as the ladder.

use std::fs;
use std::path::Path;

mod common;
use common::{ok, root, run};

/// The ladder line of `frame`, split into its columns.
fn rung(story: &str, frame: &str) -> Vec<String> {
    story
        .lines()
        .find(|l| l.split_whitespace().next() == Some(frame) && l.contains("--"))
        .unwrap_or_else(|| panic!("no frame {frame}:\n{story}"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn anomaly_details_use_the_ladders_relative_numbers() {
    // scenarios.pcap stream 7: a RST far outside the window (frame 71).
    let story = ok(&["show", "7", "testdata/synth/scenarios.pcap"]);
    let header: Vec<&str> = story
        .lines()
        .find(|l| l.starts_with("FRAME  TIME"))
        .unwrap()
        .split_whitespace()
        .collect();
    let seq = header.iter().position(|h| *h == "SEQ").unwrap() - 2; // "CLIENT -> SERVER" is three words
    assert_eq!(rung(&story, "71")[seq], "1000011");
    assert!(
        story.contains(
            "71     client  out_of_window_rst  warning   RST from the client ignored: \
             seq 1000011 is outside the server's window [11, 64251)"
        ),
        "{story}"
    );
    // Numbers of both sides, and of the side that did not send the frame.
    let story = ok(&["show", "0", "testdata/synth/anomalies.pcap"]);
    assert!(
        story.contains(
            "SYN-ACK not acceptable to the client: it acknowledges 1000 but the client's SYN was 0 (expected 1)"
        ),
        "{story}"
    );
    let story = ok(&["show", "11", "testdata/synth/anomalies.pcap"]);
    assert!(
        story.contains("49     server  lost_segment      warning   0 bytes at seq 101"),
        "{story}"
    );
    // The machine-readable reports keep the numbers as on the wire.
    let history = ok(&["--history", "testdata/synth/scenarios.pcap"]);
    assert!(history.contains("seq 1800011 is outside the server's window [800011, 864251)"));
}

#[test]
fn the_ladder_shows_the_advertised_window_scaled() {
    // seq_analysis.pcap: both SYNs announce window scale 7; SYNs are never scaled.
    let story = ok(&["show", "0", "testdata/synth/seq_analysis.pcap"]);
    assert!(story.contains("  SEQ  ACK  WIN      LEN  "), "{story}");
    assert!(rung(&story, "1").contains(&"64240".to_string()));
    assert!(rung(&story, "3").contains(&(64240u32 << 7).to_string()));
}

#[test]
fn show_takes_globs_and_merge_like_the_main_command() {
    // testdata/real/split: several_conns.pcap cut every 20 frames.
    let (code, each, _) = run(&["show", "2", "testdata/real/split/several_conns_part_*.pcap"]);
    assert_eq!(code, 0);
    let headings: Vec<&str> = each
        .lines()
        .filter(|l| l.starts_with("testdata/real/split/"))
        .collect();
    assert_eq!(
        headings.len(),
        4,
        "a story or a no-stream line per file:\n{each}"
    );
    assert_eq!(
        headings
            .iter()
            .filter(|l| l.contains(": no stream 2"))
            .count(),
        2
    );
    // Merged, the files are the whole capture again.
    let merged = ok(&["show", "2", "--merge", "testdata/real/split"]);
    let whole = ok(&["show", "2", "testdata/real/several_conns.pcap"]);
    let body = |s: &str| s.split_once('\n').unwrap().1.to_string();
    assert_eq!(body(&merged), body(&whole));
    assert!(merged.starts_with("testdata/real/split/several_conns_part_00000_20261125014220.pcap+"));
    // No input has the stream: exit 1.
    let (code, _, _) = run(&["show", "9", "testdata/real/split/*.pcap"]);
    assert_eq!(code, 1);
}

#[test]
fn show_writes_one_json_object_per_capture_with_the_stream() {
    let json = ok(&[
        "show",
        "-f",
        "json",
        "0",
        "testdata/synth/seq_analysis.pcap",
    ]);
    let golden = root().join("tests/golden/report/show_seq_analysis_0.jsonl");
    if std::env::var_os("TCPSTATE_BLESS").is_some() {
        fs::write(&golden, &json).unwrap();
    }
    assert_eq!(json, fs::read_to_string(&golden).unwrap());
    let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
    let frame3 = &v["segments"][2];
    assert_eq!(frame3["frame"], 3);
    assert_eq!(frame3["seq"], 1);
    assert_eq!(frame3["ack"], 1);
    assert_eq!(frame3["window"], 64240 << 7);
    assert_eq!(frame3["server_state"], "ESTABLISHED");
    assert_eq!(v["anomalies"][0]["detail"], "100 bytes at seq 101");
    assert_eq!(v["display_filter"], "tcp.stream eq 0");
    // One object per capture that has the stream; the others on stderr.
    let (code, out, err) = run(&[
        "show",
        "--format",
        "json",
        "2",
        "testdata/real/split/several_conns_part_*.pcap",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(err.matches(": no stream 2").count(), 2, "{err}");
    let (code, out, _) = run(&["show", "-f", "json", "99", "testdata/real/refused.pcap"]);
    assert_eq!((code, out.as_str()), (1, ""));
}

/// `show --format json` against tshark's `tcp.seq`, `tcp.ack` and
/// `tcp.window_size` (tests/golden/tshark/*.seq.tsv) on the captures that
/// exercise the rules: window scaling on both SYNs, a capture starting at
/// the SYN-ACK (the peer's scale unknown), SYN-ACKs with a new ISN
/// (Wireshark restarts the sender's relative numbers), tenants mixed in one
/// Wireshark stream (compared with the keys off, as Wireshark keys).
#[test]
fn show_numbers_and_windows_are_tsharks() {
    let cases: [(&str, &[&str]); 5] = [
        ("testdata/synth/seq_analysis.pcap", &[]),
        (
            "testdata/real/split/several_conns_part_00002_20261125014221.pcap",
            &[],
        ),
        ("testdata/synth/reuse.pcap", &[]),
        ("testdata/real/port_reuse.pcap", &[]),
        (
            "testdata/synth/encap/geneve.pcap",
            &["--vlan-key", "off", "--tunnel-key", "off"],
        ),
    ];
    for (capture, keys) in cases {
        let name = Path::new(capture).file_name().unwrap().to_string_lossy();
        let golden =
            fs::read_to_string(root().join(format!("tests/golden/tshark/{name}.seq.tsv"))).unwrap();
        let want: Vec<Vec<&str>> = golden.lines().map(|l| l.split('\t').collect()).collect();
        let mut checked = 0;
        for stream in 0.. {
            let s = stream.to_string();
            let mut args = vec!["show", "-f", "json", s.as_str(), capture];
            args.extend(keys);
            let (code, out, _) = run(&args);
            if code == 1 {
                break;
            }
            let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
            for seg in v["segments"].as_array().unwrap() {
                let frame = seg["frame"].to_string();
                let t = want.iter().find(|w| w[0] == frame).unwrap();
                let ack = if t[3] == "1" {
                    t[2].to_string()
                } else {
                    "null".into()
                };
                assert_eq!(
                    [
                        seg["seq"].to_string(),
                        seg["ack"].to_string(),
                        seg["window"].to_string()
                    ],
                    [t[1].to_string(), ack, t[4].to_string()],
                    "{capture} frame {frame}: seq, ack, window"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, want.len(), "{capture}: every TCP frame");
    }
}
