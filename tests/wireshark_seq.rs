//! Relative sequence and acknowledgement numbers and the advertised window,
//! as `show` prints them, checked frame by frame against tshark's default
//! `tcp.seq`, `tcp.ack` and `tcp.window_size` for every capture in testdata/
//! (tests/golden/tshark/*.seq.tsv, made by scripts/tshark_golden.sh). Both
//! come from one rule each: `flow::SeqBases` (Wireshark's base sequence
//! numbers, which also split streams) and `model::scaled_window` (through
//! `Flow::scaled_window`).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

mod common;
use common::captures;

use tcpstate::capture::Input;
use tcpstate::flow::SeqBases;
use tcpstate::model::Segment;
use tcpstate::{Analyzer, Side};

/// tshark's view of one TCP frame.
#[derive(Debug, PartialEq, Eq)]
struct Numbers {
    seq: u32,
    /// Only when the ACK flag is set.
    ack: Option<u32>,
    window: u32,
}

/// Frames whose TCP header tshark could not read whole (a bogus header
/// length, a header cut by the snap length) have no window: left out. A
/// frame carrying several segments (an 802.11 A-MSDU) has comma-separated
/// values, one per segment, in frame order.
fn tshark_view(golden: &Path) -> BTreeMap<u64, Vec<Numbers>> {
    let text = fs::read_to_string(golden).unwrap();
    let mut m = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < 5 || c[1..].iter().any(|f| f.is_empty()) {
            continue;
        }
        let column = |i: usize| -> Vec<u32> {
            c[i].split(',')
                .map(|v| v.parse().unwrap_or_else(|_| panic!("{line}")))
                .collect()
        };
        let (seq, ack, has_ack, window) = (column(1), column(2), column(3), column(4));
        let segments = (0..seq.len())
            .map(|i| Numbers {
                seq: seq[i],
                ack: (has_ack[i] == 1).then(|| ack[i]),
                window: window[i],
            })
            .collect();
        m.insert(c[0].parse().unwrap(), segments);
    }
    m
}

/// Captures whose tenants share a 4-tuple: compared as Wireshark keys them
/// (see tests/wireshark_streams.rs).
const KEYED_APART: &[&str] = &[
    "gre_udp.pcap",
    "gre_udp.pcapng",
    "vlan_tenants.pcap",
    "vlan_tenants.pcapng",
    "gre.pcap",
    "gre.pcapng",
    "vxlan.pcap",
    "vxlan.pcapng",
    "geneve.pcap",
    "geneve.pcapng",
];

/// Frames where tshark sees TCP that tcpstate deliberately does not.
const NOT_SEEN: &[(&str, u64)] = &[("fragments.pcap", 29)];

#[test]
fn relative_numbers_and_windows_match_tshark_frame_by_frame() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    captures(&root.join("testdata"), &mut files);
    let mut checked = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let golden = root
            .join("tests/golden/tshark")
            .join(format!("{name}.seq.tsv"));
        assert!(
            golden.exists(),
            "no {} (run scripts/tshark_golden.sh)",
            golden.display()
        );
        let mut want = tshark_view(&golden);
        for (_, frame) in NOT_SEEN.iter().filter(|k| k.0 == name) {
            assert!(want.remove(frame).is_some(), "{name} frame {frame}");
        }
        let mut analyzer = Analyzer::new();
        if KEYED_APART.contains(&name.as_str()) {
            analyzer = analyzer.vlan_key(false).tunnel_key(false);
        }
        let mut segments: Vec<(Segment, u64, Side)> = Vec::new();
        let analysis =
            analyzer.observe_inputs(&[Input::Path(f.clone())], &mut |seg, stream, side| {
                segments.push((seg.clone(), stream, side));
            });
        // Each stream's bases followed segment by segment, as show does.
        let mut bases: BTreeMap<u64, SeqBases> = BTreeMap::new();
        let mut got: BTreeMap<u64, Vec<Numbers>> = BTreeMap::new();
        for (seg, stream, side) in &segments {
            let c = analysis
                .connections
                .iter()
                .find(|c| c.flow.stream == *stream)
                .unwrap();
            let b = bases.entry(*stream).or_default();
            b.observe(seg, *side);
            let (seq, ack) = b.relative_numbers(seg, *side);
            got.entry(seg.frame).or_default().push(Numbers {
                seq,
                ack,
                window: c.flow.scaled_window(seg),
            });
            if !seg.short_segment {
                assert_eq!(ack.is_some(), seg.flags.ack());
            }
        }
        // The flow layer ends each stream with the bases show arrives at.
        for c in &analysis.connections {
            assert_eq!(Some(c.flow.bases()), bases.get(&c.flow.stream), "{name}");
        }
        for (frame, numbers) in &want {
            assert_eq!(
                got.get(frame),
                Some(numbers),
                "{} frame {frame}: relative seq/ack or window differ from tshark",
                f.display()
            );
        }
        checked += want.len();
    }
    assert!(checked > 1500, "only {checked} frames checked");
}
