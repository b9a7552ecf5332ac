//! `tcpstate diff`: two captures of the same traffic compared. Against
//! itself nothing is lost; against copies edited by editcap exactly the
//! deleted frames are missing and the shift is the offset; through a NAT
//! that also rewrites sequence numbers (the generator writes both views)
//! the connection is still matched.

use std::path::{Path, PathBuf};
use std::process::Command;

use tcpstate::capture::Input;
use tcpstate::diff::{diff, ConnDiff, DiffOptions, DiffOutcome, MatchedBy};
use tcpstate::Analyzer;
use tcpstate_synth::{
    frame, typical_syn_options, Conv, Link, PcapFormat, PcapWriter, Side, Translation,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(a: &Path, b: &Path) -> (Vec<ConnDiff>, DiffOutcome) {
    let mut conns = Vec::new();
    let outcome = diff(
        &Analyzer::new(),
        &[Input::Path(a.to_path_buf())],
        &[Input::Path(b.to_path_buf())],
        &DiffOptions::default(),
        &mut |c| conns.push(c),
    )
    .unwrap();
    conns.sort_by_key(|c| (c.a_stream, c.b_stream));
    (conns, outcome)
}

fn editcap(args: &[&str]) {
    let st = Command::new("editcap")
        .args(args)
        .status()
        .expect("editcap is installed");
    assert!(st.success(), "editcap {args:?}");
}

#[test]
fn a_capture_against_itself_loses_nothing() {
    let a = root().join("testdata/real/several_conns.pcap");
    let (conns, out) = run(&a, &a);
    let s = &out.summary;
    assert_eq!((s.matched, s.only_a, s.only_b), (7, 0, 0));
    assert_eq!((s.missing_in_a, s.missing_in_b, s.reordered), (0, 0, 0));
    assert_eq!((s.matched_segments, s.segments_a), (77, 77));
    assert_eq!(s.offset_s, Some(0.0));
    assert_eq!(s.offset_uncertainty_s, Some(0.0));
    for (i, c) in conns.iter().enumerate() {
        assert_eq!((c.a_stream, c.b_stream), (Some(i as u64), Some(i as u64)));
        assert_eq!(c.matched_by, MatchedBy::Tuple);
        assert!(c.changes.is_empty(), "{:?}", c.changes);
        assert_eq!(c.states_agree, Some(true));
    }
}

#[test]
fn deleted_and_shifted_frames_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let a = root().join("testdata/real/several_conns.pcap");
    let cut = dir.path().join("cut.pcap");
    let b = dir.path().join("cut_shifted.pcap");
    // The frame numbers after the file names are the frames editcap deletes.
    editcap(&[
        a.to_str().unwrap(),
        cut.to_str().unwrap(),
        "3",
        "7",
        "12",
        "40",
    ]);
    editcap(&["-t", "5.25", cut.to_str().unwrap(), b.to_str().unwrap()]);
    let (conns, out) = run(&a, &b);
    let s = &out.summary;
    assert_eq!((s.matched, s.only_a, s.only_b), (7, 0, 0));
    assert_eq!((s.missing_in_b, s.missing_in_a), (4, 0));
    let offset = s.offset_s.unwrap();
    assert!((offset - 5.25).abs() < 1e-6, "{offset}");
    assert!(s.drift_ppm.unwrap().abs() < 1e-3, "{:?}", s.drift_ppm);
    let mut lost: Vec<u64> = conns.iter().flat_map(|c| c.missing_in_b.clone()).collect();
    lost.sort_unstable();
    assert_eq!(lost, [3, 7, 12, 40]);
    // Delays are corrected: zero after removing the shift.
    for c in &conns {
        for d in [&c.delay.c2s, &c.delay.s2c].into_iter().flatten() {
            assert!(d.min_s.abs() < 1e-6 && d.p99_s.abs() < 1e-6, "{d:?}");
        }
    }
}

fn write(path: &Path, segments: &[tcpstate_synth::Segment]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(file, Link::Ethernet, PcapFormat::default()).unwrap();
    for s in segments {
        w.write_frame(s.ts_ns, &frame(&Link::Ethernet, s)).unwrap();
    }
    w.into_inner().unwrap();
}

/// One conversation seen at the client and behind a NAT that also
/// rewrites both ISNs: B's clock 100 s ahead, 3 ms between the points, the
/// client's second data segment lost between them (and retransmitted).
#[test]
fn nat_and_isn_rewriting_are_seen_through() {
    let mut c = Conv::new(
        "10.0.1.1:40000".parse().unwrap(),
        "10.0.2.1:80".parse().unwrap(),
        1000,
        5000,
    )
    .with_syn_options(Side::Client, typical_syn_options())
    .with_timestamps()
    .with_step(10_000_000);
    c.handshake();
    c.data(Side::Client, 100);
    c.data(Side::Client, 200);
    c.ack(Side::Server);
    c.data(Side::Server, 300);
    c.retransmit_last(Side::Client);
    c.ack(Side::Client);
    c.fin(Side::Client);
    c.fin(Side::Server);
    c.ack(Side::Client);
    let t = Translation {
        client: "192.168.7.7:61000".parse().unwrap(),
        server: "10.0.2.1:80".parse().unwrap(),
        seq_offset: [0x1000_0000, 0],
        delay_ns: 3_000_000,
        clock_offset_ns: 100_000_000_000,
    };
    let mut far = c.view_through(&t);
    // Frame 5 in A (the client's 200 bytes) never reaches B.
    let lost_ts = c.segments()[4].ts_ns + t.delay_ns + t.clock_offset_ns as u64;
    far.retain(|s| s.ts_ns != lost_ts);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("near.pcap"), dir.path().join("far.pcap"));
    write(&a, c.segments());
    write(&b, &far);
    let (conns, out) = run(&a, &b);
    assert_eq!(conns.len(), 1, "{conns:?}");
    let m = &conns[0];
    assert_eq!(m.matched_by, MatchedBy::NatIsnRewrite);
    assert_eq!(m.missing_in_b, [5]);
    assert!(m.missing_in_a.is_empty());
    assert_eq!(m.b_client.unwrap().to_string(), "192.168.7.7:61000");
    let fields: Vec<(&str, &str)> = m.changes.iter().map(|c| (c.field, c.dir)).collect();
    assert!(fields.contains(&("nat", "c2s")), "{fields:?}");
    assert!(fields.contains(&("seq_offset", "c2s")), "{fields:?}");
    assert!(!fields.iter().any(|f| f.1 == "s2c" && f.0 == "seq_offset"));
    let s = &out.summary;
    let offset = s.offset_s.unwrap();
    assert!((offset - 100.0).abs() < 1e-6, "{offset}");
    assert!(
        (s.path_delay_s.unwrap() - 0.003).abs() < 1e-6,
        "{:?}",
        s.path_delay_s
    );
    let c2s = m.delay.c2s.as_ref().unwrap();
    assert_eq!(c2s.upstream, "a");
    assert!((c2s.min_s - 0.003).abs() < 1e-6 && (c2s.p99_s - 0.003).abs() < 1e-6);
    assert_eq!(m.delay.s2c.as_ref().unwrap().upstream, "b");
    assert_eq!(m.states_agree, Some(true));
}

/// The router's counters and NAT table saved by scripts/record_two_points.py.
struct Truth {
    /// Segments dropped client->server and server->client.
    dropped: [u64; 2],
    /// Client address:port -> its address:port behind the NAT.
    nat: Vec<(String, String)>,
}

fn truth() -> Truth {
    let text = std::fs::read_to_string(root().join("testdata/real/two_points.truth.txt")).unwrap();
    let mut dropped = [0; 2];
    let mut nat = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.get(2) == Some(&"DROP") {
            let n: u64 = words[0].parse().unwrap();
            match words[5] {
                "d18r0" => dropped[0] = n,
                "d18r1" => dropped[1] = n,
                other => panic!("{other}"),
            }
        }
        if line.starts_with("ipv4") {
            let field = |k: &str, nth: usize| {
                words
                    .iter()
                    .filter_map(|w| w.strip_prefix(k))
                    .nth(nth)
                    .unwrap()
                    .to_string()
            };
            // Original direction src:sport, reply direction dst:dport.
            nat.push((
                format!("{}:{}", field("src=", 0), field("sport=", 0)),
                format!("{}:{}", field("dst=", 1), field("dport=", 1)),
            ));
        }
    }
    Truth { dropped, nat }
}

/// The real recording through a lossy NATing, MSS-clamping, DSCP-marking,
/// option-stripping router: the segments found missing are exactly the
/// router's drop counters, the NAT mappings its conntrack table, and a
/// shift of B by editcap is recovered.
#[test]
fn a_real_router_s_drops_nat_and_mss_clamp_are_found() {
    let t = truth();
    assert_eq!(t.dropped, [8, 3]);
    assert_eq!(t.nat.len(), 3);
    let a = root().join("testdata/real/two_points_a.pcap");
    let b = root().join("testdata/real/two_points_b.pcap");
    let dir = tempfile::tempdir().unwrap();
    let shifted = dir.path().join("b_shifted.pcap");
    editcap(&["-t", "-3.5", b.to_str().unwrap(), shifted.to_str().unwrap()]);
    for (b, shift) in [(b, 0.0), (shifted, -3.5)] {
        let (conns, out) = run(&a, &b);
        let s = &out.summary;
        assert_eq!((s.matched, s.only_a, s.only_b), (3, 0, 0));
        // A is the client side: client->server losses are missing in B.
        assert_eq!([s.missing_in_b, s.missing_in_a], t.dropped);
        assert_eq!(s.segments_a - s.missing_in_b, s.matched_segments);
        assert_eq!(s.segments_b - s.missing_in_a, s.matched_segments);
        // Same host clock: the offset is the shift, within microseconds.
        let unc = s.offset_uncertainty_s.unwrap();
        assert!(unc < 50e-6, "{unc}");
        let offset = s.offset_s.unwrap();
        assert!((offset - shift).abs() <= unc + 1e-6, "{offset} vs {shift}");
        for c in &conns {
            assert_eq!(c.matched_by, MatchedBy::Nat);
            let client = (
                c.a_client.unwrap().to_string(),
                c.b_client.unwrap().to_string(),
            );
            assert!(t.nat.contains(&client), "{client:?} not in {:?}", t.nat);
            let change = |field: &str, dir: &str| {
                c.changes
                    .iter()
                    .find(|ch| ch.field == field && ch.dir == dir)
                    .map(|ch| (ch.a.clone(), ch.b.clone()))
            };
            assert_eq!(change("mss", "c2s"), Some((1460.into(), 1200.into())));
            assert_eq!(change("ttl", "c2s"), Some((64.into(), 63.into())));
            assert_eq!(change("ttl", "s2c"), Some((63.into(), 64.into())));
            // DSCP 10 set client->server; SACK-permitted (kind 4) stripped
            // from the client's SYN (TCPOPTSTRIP leaves NOPs, kind 1).
            assert_eq!(change("dscp", "c2s"), Some((0.into(), 10.into())));
            assert_eq!(change("dscp", "s2c"), None);
            assert_eq!(
                change("options", "c2s"),
                Some((
                    serde_json::json!([1, 2, 3, 4, 8]),
                    serde_json::json!([1, 2, 3, 8])
                ))
            );
            assert_eq!(c.delay.c2s.as_ref().unwrap().upstream, "a");
            assert_eq!(c.delay.s2c.as_ref().unwrap().upstream, "b");
        }
    }
}

/// IPv6 (no IP ID) without TCP timestamps: a handshake carries nothing but
/// headers. The SYN-ACK still matches through the pair the SYN made (its
/// sequence offset unknown until then), and behind a NAT that rewrites
/// ISNs the handshake matches once the data has paired the connection.
#[test]
fn segments_without_ip_id_or_timestamps_match_through_the_pair() {
    let mut c = Conv::new(
        "[2001:db8:1::1]:40000".parse().unwrap(),
        "[2001:db8:2::1]:443".parse().unwrap(),
        7,
        9,
    );
    c.handshake();
    c.data(Side::Client, 50);
    c.data(Side::Server, 70);
    c.ack(Side::Client);
    c.fin(Side::Client);
    c.fin(Side::Server);
    c.ack(Side::Client);
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("near.pcap");
    write(&a, c.segments());
    for (t, by) in [
        (
            Translation {
                client: "[2001:db8:1::1]:40000".parse().unwrap(),
                server: "[2001:db8:2::1]:443".parse().unwrap(),
                seq_offset: [0, 0],
                delay_ns: 1_000,
                clock_offset_ns: 0,
            },
            MatchedBy::Tuple,
        ),
        (
            Translation {
                client: "[2001:db8:9::9]:50000".parse().unwrap(),
                server: "[2001:db8:2::1]:443".parse().unwrap(),
                seq_offset: [12345, 678],
                delay_ns: 1_000,
                clock_offset_ns: -7_000_000_000,
            },
            MatchedBy::NatIsnRewrite,
        ),
    ] {
        let b = dir.path().join("far.pcap");
        write(&b, &c.view_through(&t));
        let (conns, out) = run(&a, &b);
        assert_eq!(conns.len(), 1, "{conns:?}");
        assert_eq!(conns[0].matched_by, by);
        assert_eq!(out.summary.matched_segments, 9, "{:?}", conns[0]);
        assert_eq!((out.summary.missing_in_a, out.summary.missing_in_b), (0, 0));
    }
}

/// Beyond the window: copies further apart than `--window` (after the
/// clock correction; the clocks agree, as `--offset 0` says) are not
/// matched; here nothing matches, so each capture's connection is its own.
#[test]
fn copies_further_apart_than_the_window_are_not_matched() {
    let mut c = Conv::new(
        "10.0.1.1:40000".parse().unwrap(),
        "10.0.2.1:80".parse().unwrap(),
        1,
        2,
    )
    .with_timestamps();
    c.handshake();
    c.data(Side::Client, 10);
    c.data(Side::Server, 10);
    let far = c.view_through(&Translation {
        client: "10.0.1.1:40000".parse().unwrap(),
        server: "10.0.2.1:80".parse().unwrap(),
        seq_offset: [0, 0],
        delay_ns: 1_500_000_000,
        clock_offset_ns: 0,
    });
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
    write(&a, c.segments());
    write(&b, &far);
    let input = |p: &Path| [Input::Path(p.to_path_buf())];
    let mut conns = Vec::new();
    let options = DiffOptions {
        window: std::time::Duration::from_secs(1),
        offset: Some(std::time::Duration::ZERO),
        ..DiffOptions::default()
    };
    let out = diff(
        &Analyzer::new(),
        &input(&a),
        &input(&b),
        &options,
        &mut |c| conns.push(c),
    )
    .unwrap();
    let s = &out.summary;
    assert_eq!(
        (s.matched, s.only_a, s.only_b, s.matched_segments),
        (0, 1, 1, 0)
    );
    assert_eq!(s.window_s, 1.0);
    assert!(out
        .warnings
        .iter()
        .any(|w| w.contains("clock offset is unknown")));
    assert_eq!(s.offset_s, None);
    // With the default window of 2 s both directions match, 1.5 s each way,
    // and the offset (found, not given) is 0 within ± 1.5 s.
    let options = DiffOptions::default();
    let mut conns = Vec::new();
    let out = diff(
        &Analyzer::new(),
        &input(&a),
        &input(&b),
        &options,
        &mut |c| conns.push(c),
    )
    .unwrap();
    assert_eq!(out.summary.matched, 1);
    assert_eq!(out.summary.offset_s, Some(0.0));
    assert_eq!(out.summary.offset_uncertainty_s, Some(1.5));
    for d in [&conns[0].delay.c2s, &conns[0].delay.s2c] {
        let d = d.as_ref().unwrap();
        assert!((d.min_s - 1.5).abs() < 1e-6, "{d:?}");
    }
}
