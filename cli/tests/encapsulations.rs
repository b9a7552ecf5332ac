//! Tunnels, encapsulations, IP fragments and checksums: exact connections,
//! states, paths and frame accounting for every capture in
//! testdata/synth/encap, testdata/synth/fragments.pcap and checksums.pcap.
//! (Frame-by-frame agreement with tshark is in tests/wireshark_streams.rs.)

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use tcpstate::capture::Input;
use tcpstate::Side;
use tcpstate::{Analysis, Analyzer};

fn path(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(rel)
}

fn run(rel: &str, analyzer: &Analyzer) -> Analysis {
    let a = analyzer.analyze_inputs(&[Input::Path(path(rel))]);
    assert!(a.errors.is_empty(), "{rel}: {:?}", a.errors);
    assert!(a.accounting.is_balanced(), "{rel}: {:?}", a.accounting);
    a
}

/// (client, server, vlan, tunnel) per connection.
type Row = (&'static str, &'static str, &'static str, &'static str);

fn rows(a: &Analysis) -> Vec<(String, String, String, String)> {
    a.connections
        .iter()
        .map(|c| {
            let f = &c.flow;
            (
                f.client().to_string(),
                f.server().to_string(),
                f.path.vlans.to_string(),
                f.path
                    .tunnel
                    .as_ref()
                    .map_or(String::new(), |t| t.to_string()),
            )
        })
        .collect()
}

fn encaps(a: &Analysis) -> Vec<(String, u64)> {
    a.accounting
        .encapsulations
        .iter()
        .map(|(e, n)| (e.to_string(), *n))
        .collect()
}

const V4C: &str = "10.0.1.1";
const S4: &str = "10.0.2.1:80";
const S6: &str = "[2001:db8:2::1]:80";

/// Client ports of the captures where two tenants use one 4-tuple at once
/// in two tunnels (GRE keys, VXLAN and Geneve VNIs).
const TUNNEL_TENANTS: [u16; 4] = [40831, 40851, 40861, 40921];

#[test]
fn every_encapsulation_gives_exact_connections_states_and_paths() {
    let c4 = |p: u16| -> &'static str { Box::leak(format!("{V4C}:{p}").into_boxed_str()) };
    let c6 =
        |p: u16| -> &'static str { Box::leak(format!("[2001:db8:1::1]:{p}").into_boxed_str()) };
    type Case = (&'static str, Vec<Row>, Vec<(&'static str, u64)>);
    let cases: Vec<Case> = vec![
        (
            "vlan_tenants",
            vec![(c4(40801), S4, "10", ""), (c4(40801), S4, "20", "")],
            vec![("802.1Q/802.1ad VLAN", 18)],
        ),
        (
            "vntag",
            vec![(c4(40931), S4, "10", ""), (c6(40932), S6, "20", "")],
            vec![("802.1Q/802.1ad VLAN", 18), ("VN-Tag", 18)],
        ),
        (
            "pbb",
            vec![(c4(40941), S4, "", ""), (c6(40942), S6, "30.40", "")],
            vec![("802.1Q/802.1ad VLAN", 9), ("PBB 802.1ah", 18)],
        ),
        (
            "mpls",
            vec![(c4(40811), S4, "", ""), (c6(40812), S6, "", "")],
            vec![("MPLS", 18)],
        ),
        (
            "mpls_pw",
            vec![(c4(40951), S4, "", ""), (c6(40952), S6, "60.50", "")],
            vec![
                ("802.1Q/802.1ad VLAN", 9),
                ("MPLS", 18),
                ("MPLS pseudowire", 18),
            ],
        ),
        (
            "pppoe",
            vec![(c4(40821), S4, "", ""), (c6(40822), S6, "", "")],
            vec![("PPPoE", 18)],
        ),
        (
            "gre",
            vec![
                (c4(40831), S4, "", "gre 172.16.0.1>172.16.0.2 key=1001"),
                (c4(40831), S4, "", "gre 172.16.0.1>172.16.0.2 key=1002"),
                (c6(40832), S6, "", "gre fd00::1>fd00::2"),
                (c4(40833), S4, "", "gre 172.16.0.1>172.16.0.2 key=7"),
            ],
            vec![("GRE", 36)],
        ),
        (
            "erspan",
            vec![
                (c4(40841), S4, "", "erspan1 172.16.0.1>172.16.0.2"),
                (c4(40842), S4, "", "erspan2 172.16.0.1>172.16.0.2 session=5"),
                (c4(40843), S4, "", "erspan3 172.16.0.1>172.16.0.2 session=6"),
            ],
            vec![
                ("GRE", 27),
                ("ERSPAN type I", 9),
                ("ERSPAN type II", 9),
                ("ERSPAN type III", 9),
            ],
        ),
        (
            "gre_udp",
            vec![
                (c4(40921), S4, "", "greudp 172.16.0.1>172.16.0.2 key=11"),
                (c4(40921), S4, "", "greudp 172.16.0.1>172.16.0.2 key=12"),
                (c6(40922), S6, "", "greudp fd00::1>fd00::2"),
            ],
            vec![("GRE-in-UDP", 27)],
        ),
        (
            "pptp",
            vec![
                (c4(40961), S4, "", "pptp 172.16.0.1>172.16.0.2"),
                (c6(40962), S6, "", "pptp 172.16.0.1>172.16.0.2"),
            ],
            vec![("GRE", 18), ("PPTP GRE", 18)],
        ),
        (
            "vxlan",
            vec![
                (c4(40851), S4, "", "vxlan 172.16.0.1>172.16.0.2 vni=100"),
                (c4(40851), S4, "", "vxlan 172.16.0.1>172.16.0.2 vni=200"),
                (c6(40852), S6, "", "vxlan fd00::1>fd00::2 vni=100"),
            ],
            vec![("VXLAN", 27)],
        ),
        (
            "geneve",
            vec![
                (c4(40861), S4, "", "geneve 172.16.0.1>172.16.0.2 vni=300"),
                (c4(40861), S4, "", "geneve 172.16.0.1>172.16.0.2 vni=301"),
                (c6(40862), S6, "", "geneve 172.16.0.1>172.16.0.2 vni=300"),
            ],
            vec![("Geneve", 27)],
        ),
        (
            "ipip",
            vec![
                (c4(40871), S4, "", "ip4in4 172.16.0.1>172.16.0.2"),
                (c6(40872), S6, "", "ip6in4 172.16.0.1>172.16.0.2"),
                (c4(40873), S4, "", "ip4in6 fd00::1>fd00::2"),
                (c6(40874), S6, "", "ip6in6 fd00::1>fd00::2"),
            ],
            vec![
                ("IPv4-in-IPv4", 9),
                ("IPv6-in-IPv4", 9),
                ("IPv4-in-IPv6", 9),
                ("IPv6-in-IPv6", 9),
            ],
        ),
        (
            "teredo",
            vec![(
                "[2001:0:4136:e378:8000:63bf:3fff:fdd2]:40881",
                S6,
                "",
                "teredo 192.0.2.45>198.51.100.1",
            )],
            vec![("Teredo", 9)],
        ),
        (
            "nested",
            vec![(
                c4(40891),
                S4,
                "100.30",
                "gre 172.16.0.1>172.16.0.2 key=9 / vxlan 172.16.1.1>172.16.1.2 vni=77",
            )],
            vec![
                ("802.1Q/802.1ad VLAN", 9),
                ("MPLS", 9),
                ("GRE", 9),
                ("VXLAN", 9),
            ],
        ),
    ];
    for (name, want_rows, want_encaps) in cases {
        for ext in ["pcap", "pcapng"] {
            let file = format!("testdata/synth/encap/{name}.{ext}");
            let a = run(&file, &Analyzer::new());
            let want: Vec<_> = want_rows
                .iter()
                .map(|r| {
                    (
                        r.0.to_string(),
                        r.1.to_string(),
                        r.2.to_string(),
                        r.3.to_string(),
                    )
                })
                .collect();
            assert_eq!(rows(&a), want, "{file}");
            let want_e: Vec<_> = want_encaps
                .iter()
                .map(|(e, n)| (e.to_string(), *n))
                .collect();
            assert_eq!(encaps(&a), want_e, "{file}");
            assert_eq!(
                a.accounting.tcp, a.accounting.frames,
                "{file}: every frame is TCP"
            );
            for c in &a.connections {
                assert_eq!(c.tcp.state(Side::Client).to_string(), "TIME_WAIT", "{file}");
                assert_eq!(c.tcp.state(Side::Server).to_string(), "CLOSED", "{file}");
                let zeek: Vec<String> = c
                    .zeek
                    .records()
                    .iter()
                    .map(|r| format!("{} {}", r.conn_state, r.history))
                    .collect();
                if TUNNEL_TENANTS.contains(&c.flow.client().port) {
                    // Zeek's key ignores tunnels: the two tenants' packets
                    // meet in one Zeek connection, which the second
                    // tenant's SYN ends (a reuse); the rest is one record
                    // over both tenants' streams, the tunnel changing at
                    // every packet (X past the 5th change).
                    let mixed = "SF SAhDTdtXFaFff";
                    let first_tenant = c.flow.first_frame == 1;
                    let want: &[&str] = if first_tenant {
                        &["S1 Sh", mixed]
                    } else {
                        &[mixed]
                    };
                    assert_eq!(zeek, want, "{file}");
                } else {
                    assert_eq!(zeek, ["SF ShADdFaf"], "{file}");
                }
                assert!(c.anomalies().is_empty(), "{file}: {:?}", c.anomalies());
            }
        }
    }
}

/// GTPv1-U: TEIDs differ per direction and stay out of the key; an outer
/// IPv4 packet split in two fragments is reassembled before GTP is read; an
/// echo request is GTP without a packet inside.
#[test]
fn gtpu_sessions_reassemble_outer_fragments_and_ignore_teids() {
    for ext in ["pcap", "pcapng"] {
        let file = format!("testdata/synth/encap/gtpu.{ext}");
        let a = run(&file, &Analyzer::new());
        assert_eq!(
            rows(&a),
            vec![
                (
                    "10.0.1.1:40911".to_string(),
                    S4.to_string(),
                    String::new(),
                    "gtpu 172.16.0.1>172.16.0.2".to_string()
                ),
                (
                    "[2001:db8:1::1]:40912".to_string(),
                    S6.to_string(),
                    String::new(),
                    "gtpu 172.16.0.1>172.16.0.2".to_string()
                ),
            ],
            "{file}"
        );
        let acc = &a.accounting;
        assert_eq!(
            (acc.frames, acc.tcp, acc.ip_fragments),
            (20, 18, 1),
            "{file}"
        );
        assert_eq!(acc.reassembled_datagrams, 1, "{file}");
        // 18 TCP frames (the reassembled one counted once) and the echo request.
        assert_eq!(encaps(&a), vec![("GTPv1-U".into(), 19)], "{file}");
        for c in &a.connections {
            assert_eq!(c.flow.packets, [5, 4], "{file}");
            assert_eq!(c.flow.bytes, [40, 120], "{file}");
            assert_eq!(c.tcp.state(Side::Client).to_string(), "TIME_WAIT", "{file}");
            assert_eq!(c.tcp.state(Side::Server).to_string(), "CLOSED", "{file}");
            assert_eq!(c.zeek.conn_state(), "SF", "{file}");
            assert_eq!(c.zeek.history(), "ShADdFaf", "{file}");
            assert!(c.anomalies().is_empty(), "{file}: {:?}", c.anomalies());
        }
    }
}

/// AYIYA: the forward opcode carries IPv6 or IPv4 by its next header; a
/// heartbeat is AYIYA without a packet inside, plain UDP.
#[test]
fn ayiya_forwards_ipv4_and_ipv6_and_heartbeats_stay_udp() {
    for ext in ["pcap", "pcapng"] {
        let file = format!("testdata/synth/encap/ayiya.{ext}");
        let a = run(&file, &Analyzer::new());
        let hop = "ayiya 192.0.2.60>198.51.100.60".to_string();
        assert_eq!(
            rows(&a),
            vec![
                (
                    "[2001:db8:1::1]:40971".to_string(),
                    S6.to_string(),
                    String::new(),
                    hop.clone()
                ),
                (
                    "10.0.1.1:40972".to_string(),
                    S4.to_string(),
                    String::new(),
                    hop
                ),
            ],
            "{file}"
        );
        let acc = &a.accounting;
        assert_eq!((acc.frames, acc.tcp, acc.other_ip), (19, 18, 1), "{file}");
        assert_eq!(encaps(&a), vec![("AYIYA".into(), 19)], "{file}");
        for c in &a.connections {
            assert_eq!(c.tcp.state(Side::Client).to_string(), "TIME_WAIT", "{file}");
            assert_eq!(c.tcp.state(Side::Server).to_string(), "CLOSED", "{file}");
            assert_eq!(c.zeek.history(), "ShADdFaf", "{file}");
            assert!(c.anomalies().is_empty(), "{file}: {:?}", c.anomalies());
        }
    }
}

/// Aruba's GRE with 802.11 data frames: QoS and plain, To DS, From DS and
/// four-address layouts; an A-MSDU's subframes are each a segment under the
/// frame's number (frame 22 carries three of stream 2, frame 25 one of
/// stream 2 and the SYN that starts stream 3, as tshark numbers them); a
/// protected frame is counted as such. Every packet is accounted for.
#[test]
fn aruba_wlan_frames_and_amsdu_subframes_are_each_a_packet() {
    for ext in ["pcap", "pcapng"] {
        let file = format!("testdata/synth/encap/aruba.{ext}");
        let a = run(&file, &Analyzer::new());
        let hop = "aruba 172.16.0.1>172.16.0.2";
        assert_eq!(
            rows(&a),
            [
                ("10.0.1.1:40981", S4),
                ("[2001:db8:1::1]:40982", S6),
                ("10.0.1.1:40983", S4),
                ("10.0.1.1:40984", S4),
            ]
            .map(|(c, s)| (
                c.to_string(),
                s.to_string(),
                String::new(),
                hop.to_string()
            )),
            "{file}"
        );
        let acc = &a.accounting;
        assert_eq!(
            (acc.frames, acc.amsdu_subframes, acc.tcp, acc.undecodable),
            (39, 3, 41, 1),
            "{file}"
        );
        assert_eq!(
            acc.undecodable_by_reason
                .keys()
                .map(|r| r.to_string())
                .collect::<Vec<_>>(),
            ["802.11 protected (encrypted) frame"],
            "{file}"
        );
        assert_eq!(
            encaps(&a),
            vec![
                ("GRE".into(), 39),
                ("Aruba GRE".into(), 39),
                ("802.11".into(), 39),
                ("802.11 A-MSDU".into(), 2),
            ],
            "{file}"
        );
        let mut by_frame: BTreeMap<u64, Vec<(u64, u32)>> = BTreeMap::new();
        Analyzer::new().observe_inputs(&[Input::Path(path(&file))], &mut |seg, stream, _| {
            by_frame
                .entry(seg.frame)
                .or_default()
                .push((stream, seg.payload_len));
        });
        assert_eq!(by_frame[&22], [(2, 41), (2, 43), (2, 45)], "{file}");
        assert_eq!(by_frame[&25], [(2, 47), (3, 0)], "{file}");
        let third = &a.connections[2];
        assert_eq!(third.flow.packets, [8, 6], "{file}");
        assert_eq!(third.flow.bytes, [176, 121], "{file}");
        assert_eq!(a.connections[3].flow.first_frame, 25, "{file}");
        for c in &a.connections {
            assert_eq!(c.tcp.state(Side::Client).to_string(), "TIME_WAIT", "{file}");
            assert_eq!(c.tcp.state(Side::Server).to_string(), "CLOSED", "{file}");
            assert_eq!(c.zeek.conn_state(), "SF", "{file}");
            assert!(c.anomalies().is_empty(), "{file}: {:?}", c.anomalies());
        }
    }
}

/// Teredo away from port 3544 is found by its Teredo address; IPv6 in UDP
/// without one stays plain UDP.
#[test]
fn teredo_is_found_by_payload_on_any_port() {
    for ext in ["pcap", "pcapng"] {
        let file = format!("testdata/synth/encap/teredo_ports.{ext}");
        let a = run(&file, &Analyzer::new());
        assert_eq!(
            rows(&a),
            vec![(
                "[2001:0:4136:e378:8000:63bf:3fff:fdd2]:40882".to_string(),
                S6.to_string(),
                String::new(),
                "teredo 192.0.2.45>203.0.113.9".to_string()
            )],
            "{file}"
        );
        let acc = &a.accounting;
        assert_eq!((acc.frames, acc.tcp), (10, 9), "{file}");
        let other: Vec<(String, u64)> = acc
            .other_ip_by_protocol
            .iter()
            .map(|(p, n)| (p.to_string(), *n))
            .collect();
        assert_eq!(other, vec![("UDP".to_string(), 1)], "{file}");
        assert_eq!(encaps(&a), vec![("Teredo".into(), 9)], "{file}");
        let c = &a.connections[0];
        assert_eq!(c.tcp.state(Side::Client).to_string(), "TIME_WAIT", "{file}");
        assert_eq!(c.tcp.state(Side::Server).to_string(), "CLOSED", "{file}");
        assert_eq!(c.zeek.history(), "ShADdFaf", "{file}");
        assert!(c.anomalies().is_empty(), "{file}: {:?}", c.anomalies());
    }
}

#[test]
fn keys_off_merge_tenants_as_wireshark_does() {
    let off = Analyzer::new().vlan_key(false).tunnel_key(false);
    // One 4-tuple in two tunnels at once. Keyed apart: two clean connections.
    // Merged: Wireshark's SYN rule starts a second stream at the second
    // tenant's SYN, which then takes every later frame of both.
    for (file, n) in [
        ("vlan_tenants.pcap", 2),
        ("gre.pcap", 4),
        ("vxlan.pcap", 3),
        ("geneve.pcap", 3),
        ("gre_udp.pcap", 3),
    ] {
        let file = format!("testdata/synth/encap/{file}");
        let apart = run(&file, &Analyzer::new());
        let packets: Vec<u64> = apart.connections[..2]
            .iter()
            .map(|c| c.flow.packets[0] + c.flow.packets[1])
            .collect();
        assert_eq!(packets, vec![9, 9], "{file}");
        let a = run(&file, &off);
        assert_eq!(a.connections.len(), n, "{file}");
        let packets: Vec<u64> = a.connections[..2]
            .iter()
            .map(|c| c.flow.packets[0] + c.flow.packets[1])
            .collect();
        assert_eq!(packets, vec![2, 16], "{file}");
    }
    // Only the VLAN key off: the GRE tenants stay apart.
    let vlan_off = Analyzer::new().vlan_key(false);
    let gre = run("testdata/synth/encap/gre.pcap", &vlan_off);
    assert_eq!(gre.connections[0].flow.packets, [5, 4]);
}

#[test]
fn fragments_are_reassembled_and_overlaps_dropped() {
    let a = run("testdata/synth/fragments.pcap", &Analyzer::new());
    let got: Vec<(String, u64, u64, u64)> = a
        .connections
        .iter()
        .map(|c| {
            let [cb, sb] = c.flow.bytes;
            (c.flow.client().to_string(), c.flow.last_frame, cb, sb)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("10.0.1.1:40901".into(), 13, 600, 300),
            ("[2001:db8:1::1]:40902".into(), 24, 40, 120),
            ("10.0.1.1:40903".into(), 35, 100, 0),
            ("10.0.1.1:40905".into(), 46, 40, 120),
        ]
    );
    // Reassembled segments carry the frame of their last fragment, as in tshark.
    let mut data_frames = Vec::new();
    Analyzer::new().observe_inputs(
        &[Input::Path(path("testdata/synth/fragments.pcap"))],
        &mut |seg, _, _| {
            if seg.payload_len > 0 {
                data_frames.push((seg.frame, seg.payload_len));
            }
        },
    );
    assert_eq!(
        data_frames,
        vec![
            (6, 600),
            (9, 300),
            (19, 40),
            (20, 120),
            (30, 100),
            (41, 40),
            (42, 120)
        ]
    );
    for c in &a.connections {
        assert_eq!(c.tcp.state(Side::Client).to_string(), "TIME_WAIT");
        assert_eq!(c.tcp.state(Side::Server).to_string(), "CLOSED");
        assert!(c.anomalies().is_empty(), "{:?}", c.anomalies());
    }
    assert_eq!(
        a.connections[3]
            .flow
            .path
            .tunnel
            .as_ref()
            .map(|t| t.to_string()),
        Some("vxlan 172.16.0.1>172.16.0.2 vni=42".into())
    );
    let acc = &a.accounting;
    assert_eq!((acc.frames, acc.tcp, acc.ip_fragments), (46, 36, 10));
    let fates: BTreeMap<String, u64> = acc
        .ip_fragments_by_fate
        .iter()
        .map(|(f, n)| (f.to_string(), *n))
        .collect();
    assert_eq!(
        fates,
        BTreeMap::from([
            ("reassembled".into(), 6),
            ("incomplete".into(), 1),
            ("overlapping (datagram dropped)".into(), 2),
            ("duplicate".into(), 1),
        ])
    );
    assert_eq!(
        (acc.reassembled_datagrams, acc.overlapping_datagrams),
        (4, 1)
    );
    assert_eq!(encaps(&a), vec![("VXLAN".into(), 9)]);
}

#[test]
fn bad_checksums_get_zeek_c_and_skip_the_machines_only_when_asked() {
    let file = "testdata/synth/checksums.pcap";
    let plain = run(file, &Analyzer::new());
    assert_eq!(plain.accounting.tcp_bad_checksum, 0);
    assert_eq!(plain.connections[0].zeek.history(), "ShADTdFaf");

    let verify = Analyzer::new().verify_checksums(true);
    let a = run(file, &verify);
    assert_eq!(a.accounting.tcp, 10, "bad segments are still TCP frames");
    assert_eq!(a.accounting.tcp_bad_checksum, 2);
    let c = &a.connections[0];
    assert_eq!(c.flow.packets, [5, 3]);
    assert_eq!(c.flow.bytes, [50, 0]);
    assert_eq!(c.zeek.history(), "ShACDcFgaf");
    assert_eq!(c.tcp.state(Side::Client).to_string(), "TIME_WAIT");
    let codes: Vec<&str> = c.anomalies().iter().map(|a| a.code.code()).collect();
    // The server's data was never seen: the client's ACK of it shows the loss
    // (once: Wireshark's flag, issue 16).
    assert_eq!(
        codes,
        vec!["ack_lost_segment", "lost_segment", "ack_lost_segment"]
    );
}

#[test]
fn cli_flags_switch_keys_and_checksums() {
    let tcpstate = |args: &[&str]| -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_tcpstate"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .args(["--format", "json"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        serde_json::from_str(text.lines().last().unwrap()).unwrap()
    };
    let vx = "testdata/synth/encap/vxlan.pcapng";
    let first_stream_packets = |args: &[&str]| -> u64 {
        let out = Command::new(env!("CARGO_BIN_EXE_tcpstate"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .args(["--format", "json"])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        first["packets"]["client"].as_u64().unwrap() + first["packets"]["server"].as_u64().unwrap()
    };
    assert_eq!(tcpstate(&[vx])["summary"]["connections"], 3);
    assert_eq!(first_stream_packets(&[vx]), 9);
    assert_eq!(first_stream_packets(&["--tunnel-key", "off", vx]), 2);
    assert_eq!(first_stream_packets(&["--vlan-key", "off", vx]), 9);
    let vl = "testdata/synth/encap/vlan_tenants.pcap";
    assert_eq!(first_stream_packets(&["--vlan-key", "off", vl]), 2);
    assert_eq!(first_stream_packets(&["--tunnel-key", "off", vl]), 9);
    let s = tcpstate(&["--verify-checksums", "testdata/synth/checksums.pcap"]);
    assert_eq!(s["summary"]["files"][0]["tcp_bad_checksum"], 2);
    let f = tcpstate(&["testdata/synth/fragments.pcap"]);
    assert_eq!(f["summary"]["ip_fragments"], 10);
    assert_eq!(f["summary"]["files"][0]["encapsulations"]["VXLAN"], 9);
}
