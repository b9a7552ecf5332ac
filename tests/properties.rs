//! Property tests: whatever segments arrive, in whatever order, with whatever
//! flags and numbers, the machines never panic, every recorded transition is
//! an edge of the RFC 9293 table (`step`) and every inferred one names its
//! evidence, each side's transitions chain from its initial state, and decoding and reading arbitrary bytes never panic and
//! always account for every frame.

use proptest::prelude::*;

use tcpstate::capture::{linktype, CaptureReader, RawPacket};
use tcpstate::flow::KeyOptions;
use tcpstate::internals::{decode, decode_frame, DecodeOptions, Fragment, FragmentKey, Layers};
use tcpstate::internals::{DefragLimits, Reassembler};
use tcpstate::model::{Endpoint, Segment, TcpFlags, TcpOptions};
use tcpstate::pipeline::accounting::FrameAccounting;
use tcpstate::tcp::machine::{is_rfc_edge, Config, PairedMachines};
use tcpstate::tcp::zeek::{ZeekConfig, ZeekSessions};
use tcpstate::Analyzer;
use tcpstate::Side;

const COMMON_FLAGS: [u16; 8] = [
    TcpFlags::SYN,
    TcpFlags::SYN | TcpFlags::ACK,
    TcpFlags::ACK,
    TcpFlags::ACK | TcpFlags::PSH,
    TcpFlags::FIN | TcpFlags::ACK,
    TcpFlags::RST,
    TcpFlags::RST | TcpFlags::ACK,
    TcpFlags::ACK | TcpFlags::FIN | TcpFlags::PSH,
];

/// (from client, flags, seq offset, ack offset, payload length, window, time step)
type RawSeg = (bool, u16, u32, u32, u32, u16, u32);

fn raw_segment() -> impl Strategy<Value = RawSeg> {
    (
        any::<bool>(),
        prop_oneof![4 => proptest::sample::select(COMMON_FLAGS.to_vec()), 1 => 0u16..0x200],
        prop_oneof![4 => 0u32..4000, 1 => any::<u32>()],
        prop_oneof![4 => 0u32..4000, 1 => any::<u32>()],
        prop_oneof![3 => Just(0u32), 1 => 0u32..2000],
        prop_oneof![3 => Just(1000u16), 1 => any::<u16>()],
        prop_oneof![3 => 0u32..1_000_000, 1 => 0u32..u32::MAX],
    )
}

fn segments(raw: &[RawSeg], isn: (u32, u32)) -> Vec<(Segment, Side)> {
    let client = Endpoint {
        addr: "10.0.0.1".parse().unwrap(),
        port: 40000,
    };
    let server = Endpoint {
        addr: "10.0.0.2".parse().unwrap(),
        port: 80,
    };
    let mut ts = 0i64;
    raw.iter()
        .enumerate()
        .map(|(i, &(from_client, flags, seq, ack, len, window, step))| {
            ts += step as i64 * 1000;
            let (src, dst, base, peer) = if from_client {
                (client, server, isn.0, isn.1)
            } else {
                (server, client, isn.1, isn.0)
            };
            let seg = Segment {
                frame: i as u64 + 1,
                ts_ns: ts,
                src,
                dst,
                seq: base.wrapping_add(seq),
                ack: peer.wrapping_add(ack),
                flags: TcpFlags(flags),
                window,
                payload_len: len,
                captured_payload_len: len,
                ip_len: 40 + len,
                options: TcpOptions::default(),
                bad_header_len: false,
                short_segment: false,
                header_cut: false,
                path: Default::default(),
                bad_checksum: false,
                wire: Default::default(),
            };
            (
                seg,
                if from_client {
                    Side::Client
                } else {
                    Side::Server
                },
            )
        })
        .collect()
}

/// Found by the property below: a FIN at the first sequence number, then an
/// ACK beyond it, made Zeek's view add a gap reaching the top of its 64-bit
/// sequence space to `missed_bytes` (an overflow panic in debug builds).
#[test]
fn a_fin_at_relative_zero_acknowledged_does_not_overflow_missed_bytes() {
    let raw: [RawSeg; 4] = [
        (false, 18, 0, 0, 0, 1000, 0),
        (true, 16, 3182, 0, 0, 1000, 0),
        (true, 25, 3180, 3, 0, 1000, 0),
        (false, 18, 0, 0, 0, 1000, 0),
    ];
    let segs = segments(&raw, (0, 0));
    let zeek = ZeekSessions::run(
        ZeekConfig::default(),
        KeyOptions::default(),
        segs.iter().map(|(s, _)| s),
    );
    let counted: u64 = zeek.iter().map(|r| r.orig_pkts + r.resp_pkts).sum();
    assert_eq!(counted, 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)))]

    #[test]
    fn machines_never_panic_and_only_take_rfc_edges(
        raw in proptest::collection::vec(raw_segment(), 0..40),
        isn in (any::<u32>(), any::<u32>()),
        msl_s in 0i64..100,
    ) {
        let cfg = Config { msl_ns: msl_s * 1_000_000_000, ..Config::default() };
        let mut m = PairedMachines::new(cfg);
        let segs = segments(&raw, isn);
        for (seg, side) in &segs {
            m.on_segment(seg, *side);
        }
        // Zeek's view: every packet counted in exactly one record, records
        // in order of their first packet, each created by a packet.
        let zeek = ZeekSessions::run(ZeekConfig::default(), KeyOptions::default(), segs.iter().map(|(s, _)| s));
        let counted: u64 = zeek.iter().map(|r| r.orig_pkts + r.resp_pkts).sum();
        prop_assert_eq!(counted, segs.len() as u64);
        prop_assert!(zeek.windows(2).all(|w| w[0].first_frame < w[1].first_frame));
        prop_assert!(zeek.iter().all(|r| !r.conn_state.is_empty() && r.orig != r.resp));
        m.finish(segs.last().map_or(0, |(s, _)| s.ts_ns) + 1_000_000_000);
        for side in [Side::Client, Side::Server] {
            let states = m.states(side);
            let mut current = states[0];
            for t in m.transitions().filter(|t| t.side == side) {
                prop_assert!(is_rfc_edge(t.from, t.to), "{:?} -> {:?} is not an RFC edge", t.from, t.to);
                prop_assert!(!t.inferred || t.evidence_frame.is_some(), "inferred without evidence: {:?}", t);
                prop_assert_eq!(t.from, current, "transitions of the {} do not chain", side);
                current = t.to;
            }
            prop_assert_eq!(current, m.state(side));
        }
        // The summary functions never panic either.
        let _ = m.outcome();
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        lt in proptest::sample::select(vec![
            linktype::NULL, linktype::ETHERNET, linktype::RAW, linktype::LOOP,
            linktype::LINUX_SLL, linktype::IPV4, linktype::IPV6, linktype::LINUX_SLL2, 147,
        ]),
        orig_extra in 0u32..100,
    ) {
        let p = RawPacket { frame: 1, ts_ns: 0, linktype: lt, data: &bytes, orig_len: bytes.len() as u32 + orig_extra };
        let _ = decode(&p);
    }

    /// Noise behind real encapsulation headers reaches every tunnel decoder.
    #[test]
    fn noise_inside_tunnels_never_panics(
        prefix in proptest::sample::select(vec![
            // Ethernet, IPv4 (protocol 47), GRE with checksum+key+sequence, IPv4 inside
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00\x45\0\0\x60\0\0\0\0\x40\x2f\0\0\xac\x10\0\x01\xac\x10\0\x02\xb0\0\x08\x00"[..],
            // ... GRE ERSPAN II / III
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00\x45\0\0\x60\0\0\0\0\x40\x2f\0\0\xac\x10\0\x01\xac\x10\0\x02\x10\0\x88\xbe"[..],
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00\x45\0\0\x60\0\0\0\0\x40\x2f\0\0\xac\x10\0\x01\xac\x10\0\x02\x10\0\x22\xeb"[..],
            // ... UDP to 4789 (VXLAN), 6081 (Geneve), 3544 (Teredo)
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00\x45\0\0\x60\0\0\0\0\x40\x11\0\0\xac\x10\0\x01\xac\x10\0\x02\xc0\0\x12\xb5\0\x4c\0\0"[..],
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00\x45\0\0\x60\0\0\0\0\x40\x11\0\0\xac\x10\0\x01\xac\x10\0\x02\xc0\0\x17\xc1\0\x4c\0\0"[..],
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00\x45\0\0\x60\0\0\0\0\x40\x11\0\0\xac\x10\0\x01\xac\x10\0\x02\xc0\0\x0d\xd8\0\x4c\0\0"[..],
            // ... GRE version 1 (PPTP) with sequence and acknowledgement numbers
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00\x45\0\0\x60\0\0\0\0\x40\x2f\0\0\xac\x10\0\x01\xac\x10\0\x02\x30\x81\x88\x0b"[..],
            // ... UDP to 5072 (AYIYA)
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00\x45\0\0\x60\0\0\0\0\x40\x11\0\0\xac\x10\0\x01\xac\x10\0\x02\xc0\0\x13\xd0\0\x4c\0\0"[..],
            // ... Aruba GRE (0x8210), 802.11 data, To DS; and QoS data with A-MSDU present
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00\x45\0\0\x60\0\0\0\0\x40\x2f\0\0\xac\x10\0\x01\xac\x10\0\x02\0\0\x82\x10\x08\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"[..],
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00\x45\0\0\x60\0\0\0\0\x40\x2f\0\0\xac\x10\0\x01\xac\x10\0\x02\0\0\x82\x10\x88\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x80\0"[..],
            // Ethernet MPLS, PPPoE session, IPv4 protocol 41
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x88\x47"[..],
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x88\x64\x11\0\0\x01\0\x40\0\x57"[..],
            &b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00\x45\0\0\x60\0\0\0\0\x40\x29\0\0\xac\x10\0\x01\xac\x10\0\x02"[..],
        ]),
        noise in proptest::collection::vec(any::<u8>(), 0..120),
        verify in any::<bool>(),
    ) {
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&noise);
        let p = RawPacket { frame: 1, ts_ns: 0, linktype: linktype::ETHERNET, data: &bytes, orig_len: bytes.len() as u32 };
        let _ = decode(&p);
        let _ = decode_frame(&p, DecodeOptions { verify_checksums: verify, ..DecodeOptions::default() });
    }

    /// Whatever fragments arrive, reassembly never panics and every fragment
    /// frame is accounted for exactly once.
    #[test]
    fn reassembly_accounts_every_fragment(
        frags in proptest::collection::vec((0u32..3, 0u32..40, any::<bool>(), 0usize..48, 0i64..50), 0..40),
    ) {
        let mut r = Reassembler::new(DefragLimits { max_bytes: 256, max_datagrams_per_pair: 2, ..DefragLimits::default() });
        let mut acc = FrameAccounting::default();
        let mut completed = 0u64;
        let mut ts = 0i64;
        let n = frags.len() as u64;
        for (i, (id, off8, more, len, step)) in frags.into_iter().enumerate() {
            ts += step * 1_000_000_000;
            let f = Fragment {
                frame: i as u64 + 1,
                ts_ns: ts,
                key: FragmentKey { src: "10.0.0.1".parse().unwrap(), dst: "10.0.0.2".parse().unwrap(), id, protocol: 6, vlans: Default::default(), hops: Vec::new() },
                offset: off8 * 8,
                more,
                data: vec![0; len],
                cut: false,
                header_len: 20,
                layers: Layers::default(),
            };
            let got = r.resolve(Box::new(f));
            for encaps in got.revealed {
                acc.count_encaps(encaps);
            }
            // No A-MSDU here: at most one packet per fragment.
            prop_assert!(got.decoded.len() <= 1 && got.extra == 0);
            completed += got.decoded.len() as u64;
        }
        acc.count_fragments(r.finish());
        // Each frame either completed a datagram (and counts as what it carried) or has a fate.
        prop_assert_eq!(completed + acc.ip_fragments, n);
        let total: u64 = acc.ip_fragments_by_fate.values().sum();
        prop_assert_eq!(total, acc.ip_fragments);
    }

    /// A-MSDUs of noise subframes (some of them TCP SYNs) through the whole
    /// analyzer: every subframe is one packet, all accounted for.
    #[test]
    fn amsdu_subframes_are_all_accounted(
        frames in proptest::collection::vec(
            proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..6),
            1..6,
        ),
        cut in 0usize..8,
    ) {
        let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 101, 0, 0, 0];
        for (i, subframes) in frames.iter().enumerate() {
            let mut body = Vec::new();
            for (syn, noise) in subframes {
                body.resize(body.len().next_multiple_of(4), 0);
                let mut msdu = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
                if *syn {
                    msdu.extend_from_slice(&[0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
                    msdu.extend_from_slice(&[0x9c, 0x40 + i as u8, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
                } else {
                    msdu.extend_from_slice(noise);
                }
                body.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
                body.extend_from_slice(&(msdu.len() as u16).to_be_bytes());
                body.extend_from_slice(&msdu);
            }
            body.truncate(body.len().saturating_sub(cut));
            let mut wlan = vec![0x88, 0x01];
            wlan.resize(24, 0);
            wlan.extend_from_slice(&[0x80, 0]);
            wlan.extend_from_slice(&body);
            let total = (24 + wlan.len()) as u16;
            let mut ip = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 47, 0, 0, 172, 16, 0, 1, 172, 16, 0, 2, 0, 0, 0x82, 0x10];
            ip.extend_from_slice(&wlan);
            pcap.extend_from_slice(&[i as u8, 0, 0, 0, 0, 0, 0, 0]);
            pcap.extend_from_slice(&(ip.len() as u32).to_le_bytes());
            pcap.extend_from_slice(&(ip.len() as u32).to_le_bytes());
            pcap.extend_from_slice(&ip);
        }
        let reader = CaptureReader::from_reader("amsdu".into(), Box::new(std::io::Cursor::new(pcap))).unwrap();
        let a = Analyzer::new().analyze_source(Box::new(reader));
        let acc = &a.accounting;
        prop_assert!(acc.is_balanced(), "{:?}", acc);
        prop_assert_eq!(acc.frames, frames.len() as u64);
        prop_assert_eq!(acc.encapsulations.get(&tcpstate::model::Encap::Amsdu).copied(), Some(frames.len() as u64));
    }

    #[test]
    fn reading_arbitrary_captures_never_panics_and_accounts_every_frame(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        header in proptest::sample::select(vec![0usize, 1, 2]),
    ) {
        // A valid header (classic LE, classic BE, pcapng SHB) followed by noise.
        let mut bytes = match header {
            0 => vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0],
            1 => vec![0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1],
            _ => vec![0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0],
        };
        bytes.extend_from_slice(&body);
        if let Ok(reader) = CaptureReader::from_reader("fuzz".into(), Box::new(std::io::Cursor::new(bytes))) {
            let a = Analyzer::new().analyze_source(Box::new(reader));
            prop_assert!(a.accounting.is_balanced());
            for c in &a.connections {
                prop_assert!(c.tcp.all_transitions_are_rfc_edges());
            }
        }
    }
}

/// Found by the property above: an inexact RST left pending while both sides
/// started a new incarnation, then undone across it, broke the chain.
#[test]
fn regression_reincarnation_after_reset_then_crossing_syns() {
    let raw: Vec<RawSeg> = vec![
        (false, 17, 0, 0, 0, 1000, 0),
        (true, 25, 0, 1, 0, 1000, 0),
        (true, 4, 0, 0, 0, 1000, 0),
        (true, 2, 0, 0, 0, 1106, 0),
        (false, 2, 612, 0, 0, 1000, 0),
        (false, 508, 614, 0, 0, 1000, 0),
        (false, 2, 0, 0, 0, 1000, 0),
        (true, 2, 0, 0, 0, 1000, 0),
    ];
    let mut m = PairedMachines::new(Config {
        msl_ns: 0,
        ..Config::default()
    });
    for (seg, side) in segments(&raw, (0, 0)) {
        m.on_segment(&seg, side);
    }
    for side in [Side::Client, Side::Server] {
        let mut current = m.states(side)[0];
        for t in m.transitions().filter(|t| t.side == side) {
            assert_eq!(t.from, current, "{side}");
            current = t.to;
        }
    }
}
