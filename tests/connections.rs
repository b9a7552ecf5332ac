//! Exact connection rows and frame accounting on real and synthetic captures.
//! Per-direction packets and bytes were cross-checked with tshark
//! (`-e tcp.stream -e ip.src -e tcp.srcport -e tcp.len`, summed per direction).

use std::collections::BTreeMap;
use std::path::PathBuf;

use tcpstate::capture::Input;
use tcpstate::flow::ClientReason;
use tcpstate::{Analysis, Analyzer};

fn analysis(file: &str) -> Analysis {
    let a = Analyzer::new().analyze_inputs(&[Input::Path(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file),
    )]);
    assert!(a.errors.is_empty(), "{file}: {:?}", a.errors);
    assert!(a.accounting.is_balanced(), "{file}");
    a
}

/// (stream, client, server, client packets, server packets, client bytes, server bytes)
type Row = (u64, &'static str, &'static str, u64, u64, u64, u64);

fn rows(a: &Analysis) -> Vec<Row> {
    a.connections
        .iter()
        .map(|c| &c.flow)
        .map(|c| {
            let [cp, sp] = c.packets;
            let [cb, sb] = c.bytes;
            let leak = |s: String| &*Box::leak(s.into_boxed_str());
            (
                c.stream,
                leak(c.client().to_string()),
                leak(c.server().to_string()),
                cp,
                sp,
                cb,
                sb,
            )
        })
        .collect()
}

#[test]
fn exact_rows_per_capture() {
    let cases: Vec<(&str, Vec<Row>)> = vec![
        (
            "testdata/real/half_close.pcap",
            vec![(0, "127.0.0.1:30031", "127.0.0.1:5003", 9, 8, 16, 64)],
        ),
        (
            "testdata/real/unread_data_rst.pcap",
            vec![(0, "127.0.0.1:30061", "127.0.0.1:5006", 3, 3, 32, 0)],
        ),
        (
            "testdata/real/refused.pcap",
            vec![
                (0, "127.0.0.1:30051", "127.0.0.1:5005", 1, 1, 0, 0),
                (1, "127.0.0.1:30052", "127.0.0.1:5005", 1, 1, 0, 0),
            ],
        ),
        (
            "testdata/real/port_reuse.pcap",
            vec![
                (0, "127.0.0.1:30101", "127.0.0.1:5010", 6, 5, 16, 16),
                (1, "127.0.0.1:30101", "127.0.0.1:5010", 6, 5, 16, 16),
            ],
        ),
        (
            "testdata/real/any_sll2.pcap",
            vec![
                (0, "127.0.0.1:30091", "127.0.0.1:5009", 6, 5, 16, 16),
                (1, "[::1]:30092", "[::1]:5009", 6, 5, 16, 16),
            ],
        ),
        (
            "testdata/synth/basic_v4.pcap",
            vec![
                (0, "10.0.1.1:40001", "10.0.2.1:80", 6, 4, 120, 400),
                (1, "10.0.1.1:40002", "10.0.2.1:80", 3, 2, 50, 0),
                (2, "10.0.1.1:40003", "10.0.2.1:81", 1, 1, 0, 0),
            ],
        ),
        (
            "testdata/synth/multi_if_be.pcapng",
            vec![
                (0, "10.0.1.1:40501", "10.0.2.1:80", 6, 4, 60, 200),
                (
                    1,
                    "[2001:db8:1::1]:40502",
                    "[2001:db8:2::1]:80",
                    5,
                    4,
                    40,
                    120,
                ),
                (2, "10.0.1.2:40503", "10.0.2.1:80", 5, 4, 30, 30),
                (3, "10.0.1.3:40504", "10.0.2.1:80", 4, 2, 300, 20),
            ],
        ),
        (
            "testdata/synth/snaplen64.pcap",
            vec![(0, "10.0.1.1:40401", "10.0.2.1:80", 5, 4, 200, 300)],
        ),
    ];
    for (file, want) in cases {
        assert_eq!(rows(&analysis(file)), want, "{file}");
    }
}

/// (frames, tcp, other IP by protocol, non-IP by kind, undecodable by reason, bad TCP header length)
#[test]
fn frame_accounting_adds_up_with_reasons() {
    type Counts = Vec<(&'static str, u64)>;
    let cases: Vec<(&str, u64, u64, Counts, Counts, Counts, u64)> = vec![
        (
            "testdata/synth/basic_v4.pcap",
            19,
            17,
            vec![("UDP", 1)],
            vec![("ARP", 1)],
            vec![],
            0,
        ),
        (
            "testdata/synth/odd_frames.pcap",
            15,
            9,
            vec![("ICMP", 2)],
            vec![("ARP", 1), ("ethertype 0x88b5", 1)],
            vec![("bad IP header: truncated (12 of 20 bytes)", 1)],
            1,
        ),
        (
            "testdata/synth/snaplen64.pcap",
            17,
            9,
            vec![],
            vec![],
            vec![
                ("IP extension header cut short or malformed", 1),
                ("TCP header cut short by the snaplen", 7),
            ],
            0,
        ),
        (
            "testdata/synth/link_unknown.pcap",
            9,
            0,
            vec![],
            vec![],
            vec![("unsupported link type USER (147)", 9)],
            0,
        ),
        (
            "testdata/synth/multi_if.pcapng",
            34,
            34,
            vec![],
            vec![],
            vec![],
            0,
        ),
    ];
    let named = |m: BTreeMap<String, u64>| m.into_iter().collect::<Vec<_>>();
    for (file, frames, tcp, other, non_ip, undecodable, bad_hlen) in cases {
        let acc = analysis(file).accounting;
        let json = serde_json::to_value(&acc).unwrap();
        let map =
            |k: &str| -> BTreeMap<String, u64> { serde_json::from_value(json[k].clone()).unwrap() };
        assert_eq!(acc.frames, frames, "{file}");
        assert_eq!(acc.tcp, tcp, "{file}");
        let own = |v: Counts| {
            v.into_iter()
                .map(|(k, n)| (k.to_string(), n))
                .collect::<Vec<_>>()
        };
        assert_eq!(named(map("other_ip_by_protocol")), own(other), "{file}");
        assert_eq!(named(map("non_ip_by_kind")), own(non_ip), "{file}");
        assert_eq!(
            named(map("undecodable_by_reason")),
            own(undecodable),
            "{file}"
        );
        assert_eq!(acc.tcp_bad_header_len, bad_hlen, "{file}");
    }
}

#[test]
fn timestamps_survive_every_precision_and_byte_order() {
    let starts: Vec<Vec<i64>> = ["be_nanos.pcap", "le_nanos.pcap"]
        .iter()
        .map(|f| {
            analysis(&format!("testdata/synth/{f}"))
                .connections
                .iter()
                .map(|c| c.flow.start_ns)
                .collect()
        })
        .collect();
    assert_eq!(starts[0], starts[1]);
    assert!(
        starts[0][0] % 1000 != 0,
        "nanosecond part kept: {}",
        starts[0][0]
    );
    let micros: Vec<i64> = analysis("testdata/synth/be_micros.pcap")
        .connections
        .iter()
        .map(|c| c.flow.start_ns)
        .collect();
    assert_eq!(
        micros.iter().map(|t| t / 1000).collect::<Vec<_>>(),
        starts[0].iter().map(|t| t / 1000).collect::<Vec<_>>()
    );
}

#[test]
fn pcapng_interfaces_apply_their_own_resolution_and_offset() {
    let le = analysis("testdata/synth/multi_if.pcapng");
    let be = analysis("testdata/synth/multi_if_be.pcapng");
    let times = |a: &Analysis| {
        a.connections
            .iter()
            .map(|c| (c.flow.start_ns, c.flow.end_ns))
            .collect::<Vec<_>>()
    };
    assert_eq!(times(&le), times(&be));
    // All connections lie within a few seconds of 2026-01-01 despite the 1000 s if_tsoffset
    // and the 2^-20 s resolution on some interfaces.
    let epoch_2026 = 1_767_225_600_000_000_000i64;
    for (s, e) in times(&le) {
        assert!(
            s >= epoch_2026 && e - epoch_2026 < 60_000_000_000,
            "{s} {e}"
        );
    }
}

#[test]
fn client_reason_without_a_syn_is_marked() {
    let a = analysis("testdata/synth/scenarios.pcap");
    let reasons: Vec<ClientReason> = a.connections.iter().map(|c| c.flow.client_reason).collect();
    assert!(reasons.contains(&ClientReason::Syn));
    assert!(
        reasons.iter().any(|r| *r != ClientReason::Syn),
        "mid-stream scenario has no SYN: {reasons:?}"
    );
}

/// Time in each state, from the transitions, on several_conns.pcap stream 3
/// (reset by the server). Frame times from `tshark -T fields -e
/// frame.number -e frame.time_epoch`: SYN 40 at .892373, SYN-ACK 41 at
/// .892388, ACK 42 at .892402, RST 47 at 1795570942.093060; the capture's
/// last frame (77) at 1795570942.867210, where CLOSED ends open-ended.
#[test]
fn time_in_state_runs_from_transition_to_transition() {
    use tcpstate::{Side, State};
    let a = analysis("testdata/real/several_conns.pcap");
    let c = a.connections.iter().find(|c| c.flow.stream == 3).unwrap();
    let start = c.flow.start_ns;
    assert_eq!(
        c.tcp.time_in_state(Side::Client, start),
        [
            // Before the SYN (0), then after the RST until the capture's end.
            (State::Closed, 2_867_210_000 - 2_093_060_000),
            (State::SynSent, 15_000),
            (State::Established, 2_093_060_000 - 1_892_388_000),
        ]
    );
    assert_eq!(
        c.tcp.time_in_state(Side::Server, start),
        [
            (State::Listen, 0),
            (State::SynRcvd, 29_000),
            (State::Established, 2_093_060_000 - 1_892_402_000),
            (State::Closed, 2_867_210_000 - 2_093_060_000),
        ]
    );
}
