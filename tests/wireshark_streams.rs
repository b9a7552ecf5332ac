//! Stream numbering, per-stream packet and byte counts, checked frame by frame
//! against what tshark printed for every capture in testdata/ (golden files in
//! tests/golden/tshark, made by scripts/tshark_golden.sh).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

mod common;
use common::captures;

use tcpstate::capture::Input;
use tcpstate::Analyzer;

/// frame -> (tcp.stream, tcp.len) of each TCP segment in it, for frames
/// where tshark gave a stream. A frame carrying several segments (an 802.11
/// A-MSDU) has comma-separated values, one per segment, in frame order.
fn tshark_view(golden: &Path) -> BTreeMap<u64, Vec<(u64, u64)>> {
    let text = fs::read_to_string(golden).unwrap();
    let mut m = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let frame: u64 = cols[0].parse().unwrap();
        if let Some(streams) = cols.get(1).filter(|s| !s.is_empty()) {
            let mut lens = cols.get(2).map_or("", |l| l).split(',');
            let segments = streams
                .split(',')
                .map(|s| {
                    let len = lens.next().and_then(|l| l.parse().ok()).unwrap_or(0);
                    (s.parse().unwrap(), len)
                })
                .collect();
            m.insert(frame, segments);
        }
    }
    m
}

/// Frames where tshark sees TCP that we deliberately do not. Each entry is
/// checked to still differ, so the list cannot rot.
const KNOWN_DIFFERENCES: &[(&str, u64, &str)] = &[
    (
        "fragments.pcap",
        29,
        "overlapping IPv4 fragments: Wireshark reassembles them, tcpstate drops the datagram (RFC 5722, Linux)",
    ),
    (
        "teredo_ports.pcap",
        10,
        "Wireshark's Teredo heuristic takes any IPv6 in UDP; away from port 3544 tcpstate (as the issue's rule) wants a Teredo address",
    ),
    (
        "teredo_ports.pcapng",
        10,
        "Wireshark's Teredo heuristic takes any IPv6 in UDP; away from port 3544 tcpstate (as the issue's rule) wants a Teredo address",
    ),
];

/// Captures where the same inner 4-tuple runs at once in two VLANs or
/// tunnels: Wireshark keys on the 4-tuple alone, so they are compared with
/// `--vlan-key off --tunnel-key off`; with the defaults tcpstate finds the
/// second number of connections.
const KEYED_APART: &[(&str, usize)] = &[
    ("gre_udp.pcap", 3),
    ("gre_udp.pcapng", 3),
    ("vlan_tenants.pcap", 2),
    ("vlan_tenants.pcapng", 2),
    ("gre.pcap", 4),
    ("gre.pcapng", 4),
    ("vxlan.pcap", 3),
    ("vxlan.pcapng", 3),
    ("geneve.pcap", 3),
    ("geneve.pcapng", 3),
];

#[test]
fn every_capture_matches_tshark_frame_by_frame() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    captures(&root.join("testdata"), &mut files);
    assert!(
        files.len() >= 10,
        "expected the testdata captures, found {files:?}"
    );
    let mut checked_frames = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let golden = root
            .join("tests/golden/tshark")
            .join(format!("{name}.streams.tsv"));
        assert!(
            golden.exists(),
            "no tshark golden data for {} (run scripts/tshark_golden.sh)",
            f.display()
        );
        let mut want = tshark_view(&golden);
        for &(file, frame, why) in KNOWN_DIFFERENCES.iter().filter(|k| k.0 == name) {
            assert!(
                want.remove(&frame).is_some(),
                "{file} frame {frame} ({why}) no longer in tshark's view"
            );
        }

        let mut options = Analyzer::new();
        if let Some(&(_, keyed)) = KEYED_APART.iter().find(|k| k.0 == name) {
            let by_default = Analyzer::new().analyze_inputs(&[Input::Path(f.clone())]);
            assert_eq!(by_default.connections.len(), keyed, "{name} with keys on");
            options = options.vlan_key(false).tunnel_key(false);
        }
        let mut got: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
        let analysis = options.observe_inputs(&[Input::Path(f.clone())], &mut |seg, stream, _| {
            got.entry(seg.frame)
                .or_default()
                .push((stream, seg.payload_len as u64));
        });
        assert!(
            analysis.errors.is_empty(),
            "{}: {:?}",
            f.display(),
            analysis.errors
        );
        assert_eq!(
            got,
            want,
            "{}: frame -> (tcp.stream, tcp.len) differs from tshark",
            f.display()
        );

        // The connection table must agree with the per-frame view. A stream
        // idle past the idle timeout (5 min) is reported in parts that share
        // its number (`continues`), so parts are added up per stream.
        let mut per_stream: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for (stream, len) in want.values().flatten() {
            let e = per_stream.entry(*stream).or_default();
            e.0 += 1;
            e.1 += len;
        }
        let mut parts: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for c in analysis.connections.iter().map(|c| &c.flow) {
            let e = parts.entry(c.stream).or_default();
            e.0 += c.packets[0] + c.packets[1];
            e.1 += c.bytes[0] + c.bytes[1];
        }
        assert_eq!(
            parts,
            per_stream,
            "{}: (packets, bytes) per stream",
            f.display()
        );
        assert!(analysis.accounting.is_balanced());
        let segments = want.values().map(Vec::len).sum::<usize>();
        assert_eq!(analysis.accounting.tcp, segments as u64, "{}", f.display());
        checked_frames += want.len();
    }
    assert!(checked_frames > 200);
}
