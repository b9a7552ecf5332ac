//! Property tests of the input side, on generated captures that are valid
//! containers (pcap in both byte orders and precisions, pcapng with several
//! interfaces of different link types, sections, Simple and obsolete Packet
//! Blocks), holding a mix of real TCP segments and arbitrary bytes as frames:
//!
//! - every frame of a valid container is read, without error, and the frame
//!   accounting adds up; the same capture gzip-compressed gives the same analysis;
//! - damaged copies (a byte flipped, a 32-bit field overwritten, the file cut)
//!   pass the fuzz targets' checks (fuzz/src/lib.rs), which read them whole, a
//!   few bytes at a time, from a mapped file and gzip-wrapped and compare, then
//!   write every report; so do gzip captures damaged in their compressed bytes;
//! - a TCP segment encoded on any link type decodes to exactly its fields, and
//!   when the snaplen cuts it the payload length is still the IP header's.

use std::io::{Cursor, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use etherparse::{TcpHeader, TcpOptionElement};
use proptest::prelude::*;

use tcpstate::capture::{CaptureReader, RawPacket};
use tcpstate::internals::{decode, Decoded};
use tcpstate::report::{write_report, Format, Report, Style};
use tcpstate::{Analysis, Analyzer};
use tcpstate_synth::{
    frame, typical_syn_options, ByteOrder, Interface, IpExtras, Link, PcapFormat, PcapNgWriter,
    PcapWriter, Segment, TcpFlags, TsPrecision, EPOCH_2026_NS,
};

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod checks;

fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(n)
}

/// Every link type the decoder handles, VLAN stacks included.
fn decodable_link() -> impl Strategy<Value = Link> {
    prop_oneof![
        Just(Link::Ethernet),
        proptest::collection::vec(0u16..4096, 1..4).prop_map(Link::EthernetVlan),
        Just(Link::LinuxSll),
        Just(Link::LinuxSll2),
        Just(Link::Raw),
        Just(Link::Ipv4),
        Just(Link::Ipv6),
        Just(Link::Null),
        Just(Link::Loop),
    ]
}

/// Link types for capture files: the decodable ones and one the decoder does not know.
fn any_link() -> impl Strategy<Value = Link> {
    prop_oneof![9 => decodable_link(), 1 => Just(Link::Other(147))]
}

fn options() -> impl Strategy<Value = Vec<TcpOptionElement>> {
    prop_oneof![
        Just(Vec::new()),
        Just(typical_syn_options()),
        (any::<u32>(), any::<u32>()).prop_map(|(v, e)| vec![
            TcpOptionElement::Noop,
            TcpOptionElement::Noop,
            TcpOptionElement::Timestamp(v, e)
        ]),
        (any::<u32>(), any::<u32>()).prop_map(|(l, r)| vec![
            TcpOptionElement::Noop,
            TcpOptionElement::Noop,
            TcpOptionElement::SelectiveAcknowledgement((l, r), [Some((r, l)), None, None])
        ]),
    ]
}

/// A TCP segment whose addresses suit `link` (bare IPv4/IPv6 links force the version).
fn segment_on(link: Link) -> impl Strategy<Value = (Link, Segment)> {
    let v6 = match link {
        Link::Ipv4 => Just(false).boxed(),
        Link::Ipv6 => Just(true).boxed(),
        _ => any::<bool>().boxed(),
    };
    (
        v6,
        (any::<u32>(), any::<u32>(), any::<u16>(), any::<u16>()),
        (any::<u32>(), any::<u32>(), 0u16..0x200, any::<u16>()),
        proptest::collection::vec(any::<u8>(), 0..64),
        options(),
        0usize..4,
    )
        .prop_map(
            move |(v6, (a, b, sport, dport), (seq, ack, flags, window), payload, opts, extras)| {
                let (src, dst) = if v6 {
                    (
                        IpAddr::V6(Ipv6Addr::from(((a as u128) << 64) | 1)),
                        IpAddr::V6(Ipv6Addr::from(((b as u128) << 64) | 2)),
                    )
                } else {
                    (IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b)))
                };
                let mut s = Segment::new(
                    EPOCH_2026_NS,
                    SocketAddr::new(src, sport),
                    SocketAddr::new(dst, dport),
                    seq,
                    ack,
                    TcpFlags(flags),
                );
                s.window = window;
                s.payload = payload;
                s.options = opts;
                s.ip_extras = match (v6, extras) {
                    (_, 0 | 1) => IpExtras::None,
                    (false, n) => IpExtras::Ipv4Options(vec![1; 4 * n]),
                    (true, _) => IpExtras::Ipv6HopByHopAndDestOpts,
                };
                (link.clone(), s)
            },
        )
}

fn tcp_header_len(s: &Segment) -> usize {
    let mut h = TcpHeader::default();
    h.set_options(&s.options).unwrap();
    h.header_len()
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn segments_decode_to_their_fields_on_every_link_even_when_cut(
        (link, seg) in decodable_link().prop_flat_map(segment_on),
        cut_at in any::<prop::sample::Index>(),
    ) {
        let bytes = frame(&link, &seg);
        let tcp_start = bytes.len() - seg.payload.len() - tcp_header_len(&seg);
        // Cut anywhere, the whole frame included.
        let cut = cut_at.index(bytes.len() + 1);
        let pkt = RawPacket {
            frame: 7,
            ts_ns: 42,
            linktype: link.linktype(),
            data: &bytes[..cut],
            orig_len: bytes.len() as u32,
        };
        match decode(&pkt) {
            Decoded::Tcp(s) => {
                prop_assert!(cut >= tcp_start + 16, "TCP decoded from {cut} of {} bytes", bytes.len());
                prop_assert_eq!(s.frame, 7);
                prop_assert_eq!(s.ts_ns, 42);
                prop_assert_eq!((s.src.addr, s.src.port), (seg.src.ip(), seg.src.port()));
                prop_assert_eq!((s.dst.addr, s.dst.port), (seg.dst.ip(), seg.dst.port()));
                prop_assert_eq!(s.seq, seg.seq);
                prop_assert_eq!(s.ack, seg.ack);
                prop_assert_eq!(s.flags.0, seg.flags.0);
                prop_assert_eq!(s.window, seg.window);
                // The IP header's length, however much the snaplen kept.
                prop_assert_eq!(s.payload_len as usize, seg.payload.len());
                let captured = cut.saturating_sub(tcp_start + tcp_header_len(&seg));
                prop_assert_eq!(s.captured_payload_len as usize, captured.min(seg.payload.len()));
                prop_assert!(!s.bad_header_len && !s.short_segment);
                if cut == bytes.len() {
                    for o in &seg.options {
                        match *o {
                            TcpOptionElement::MaximumSegmentSize(m) => prop_assert_eq!(s.options.mss, Some(m)),
                            TcpOptionElement::WindowScale(w) => prop_assert_eq!(s.options.window_scale, Some(w)),
                            TcpOptionElement::SelectiveAcknowledgementPermitted => prop_assert!(s.options.sack_permitted),
                            TcpOptionElement::Timestamp(v, e) => prop_assert_eq!(s.options.timestamp, Some((v, e))),
                            TcpOptionElement::SelectiveAcknowledgement(first, _) => {
                                prop_assert_eq!(s.options.sack_blocks().first(), Some(&first))
                            }
                            TcpOptionElement::Noop => {}
                        }
                    }
                }
            }
            Decoded::Undecodable(_) => prop_assert!(cut < tcp_start + 16, "{cut} bytes of {} undecodable", bytes.len()),
            other => prop_assert!(false, "{other:?} from a TCP segment cut at {cut}"),
        }
    }
}

/// One frame of a generated capture: on which interface (pcapng), and either
/// a real TCP segment between a few endpoints (so connections form) or noise.
#[derive(Clone, Debug)]
enum FrameSpec {
    Tcp {
        iface: usize,
        client: u8,
        server: u8,
        flags: u16,
        seq: u32,
        ack: u32,
        len: u8,
    },
    Noise {
        iface: usize,
        bytes: Vec<u8>,
    },
}

fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    prop_oneof![
        3 => (0usize..3, 0u8..3, 0u8..2, prop::sample::select(vec![0x002u16, 0x012, 0x010, 0x018, 0x011, 0x004, 0x014]), 0u32..3000, 0u32..3000, 0u8..40)
            .prop_map(|(iface, client, server, flags, seq, ack, len)| FrameSpec::Tcp { iface, client, server, flags, seq, ack, len }),
        1 => (0usize..3, proptest::collection::vec(any::<u8>(), 0..80))
            .prop_map(|(iface, bytes)| FrameSpec::Noise { iface, bytes }),
    ]
}

/// How the capture is laid out.
#[derive(Clone, Debug)]
struct Layout {
    /// 0-3: pcap (LE µs, BE ns, LE with snaplen 60, BE µs); 4-5: pcapng (LE, BE).
    container: u8,
    links: [Link; 3],
    /// pcapng only: start a new section (same interfaces again) before this frame.
    new_section_at: Option<usize>,
    /// pcapng only: write interface-0 frames of these indices as Simple / obsolete Packet Blocks.
    spb_every: usize,
    obsolete_every: usize,
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        0u8..6,
        [any_link(), any_link(), any_link()],
        proptest::option::of(0usize..30),
        2usize..6,
        2usize..6,
    )
        .prop_map(
            |(container, links, new_section_at, spb_every, obsolete_every)| Layout {
                container,
                links,
                new_section_at,
                spb_every,
                obsolete_every,
            },
        )
}

fn tcp_frame(link: &Link, spec: &FrameSpec, ts: u64) -> Vec<u8> {
    let FrameSpec::Tcp {
        client,
        server,
        flags,
        seq,
        ack,
        len,
        ..
    } = *spec
    else {
        unreachable!()
    };
    let v6 = matches!(link, Link::Ipv6);
    let (c, s): (IpAddr, IpAddr) = if v6 {
        (
            Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, client as u16 + 1).into(),
            Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, server as u16 + 1).into(),
        )
    } else {
        (
            Ipv4Addr::new(10, 0, 1, client + 1).into(),
            Ipv4Addr::new(10, 0, 2, server + 1).into(),
        )
    };
    // Even sequence numbers go client -> server, odd ones back.
    let (src, dst) = if seq % 2 == 0 {
        (
            SocketAddr::new(c, 40000 + client as u16),
            SocketAddr::new(s, 80),
        )
    } else {
        (
            SocketAddr::new(s, 80),
            SocketAddr::new(c, 40000 + client as u16),
        )
    };
    let mut seg = Segment::new(ts, src, dst, seq, ack, TcpFlags(flags));
    seg.payload = vec![0x61; len as usize];
    frame(link, &seg)
}

/// Writes the capture; returns its bytes and the number of frames in it.
fn write_capture(layout: &Layout, frames: &[FrameSpec]) -> (Vec<u8>, u64) {
    let ts = |i: usize| EPOCH_2026_NS + i as u64 * 1_000_037;
    let bytes_of = |spec: &FrameSpec, link: &Link, i: usize| match spec {
        FrameSpec::Tcp { .. } => tcp_frame(link, spec, ts(i)),
        FrameSpec::Noise { bytes, .. } => bytes.clone(),
    };
    let iface_of = |spec: &FrameSpec| match spec {
        FrameSpec::Tcp { iface, .. } | FrameSpec::Noise { iface, .. } => *iface,
    };
    if layout.container < 4 {
        let format = match layout.container {
            0 => PcapFormat::default(),
            1 => PcapFormat {
                order: ByteOrder::Big,
                precision: TsPrecision::Nanos,
                ..PcapFormat::default()
            },
            2 => PcapFormat {
                snaplen: 60,
                ..PcapFormat::default()
            },
            _ => PcapFormat {
                order: ByteOrder::Big,
                ..PcapFormat::default()
            },
        };
        let link = &layout.links[0];
        let mut w = PcapWriter::new(Vec::new(), link.clone(), format).unwrap();
        for (i, f) in frames.iter().enumerate() {
            w.write_frame(ts(i), &bytes_of(f, link, i)).unwrap();
        }
        return (w.into_inner().unwrap(), frames.len() as u64);
    }
    let order = if layout.container == 4 {
        ByteOrder::Little
    } else {
        ByteOrder::Big
    };
    let mut w = PcapNgWriter::new(Vec::new(), order).unwrap();
    let add_interfaces = |w: &mut PcapNgWriter<Vec<u8>>| {
        for (n, link) in layout.links.iter().enumerate() {
            let iface = Interface {
                tsresol: [6, 9, 0x94][n],
                tsoffset_s: [0, 1000, 0][n],
                ..Interface::new(link.clone())
            };
            w.add_interface(iface).unwrap();
        }
    };
    add_interfaces(&mut w);
    w.write_custom_block(0x0BAD_0BAD, b"skip me").unwrap();
    for (i, f) in frames.iter().enumerate() {
        if layout.new_section_at == Some(i) {
            w.new_section().unwrap();
            add_interfaces(&mut w);
        }
        let iface = iface_of(f);
        let link = &layout.links[iface];
        let bytes = bytes_of(f, link, i);
        if iface == 0 && i % layout.spb_every == 0 {
            w.write_spb(&bytes).unwrap();
        } else if iface == 0 && i % layout.obsolete_every == 0 {
            w.write_obsolete_pb(0, ts(i), &bytes).unwrap();
        } else {
            w.write_epb(iface as u32, ts(i), &bytes).unwrap();
        }
    }
    (w.into_inner().unwrap(), frames.len() as u64)
}

fn analyse(bytes: Vec<u8>) -> Analysis {
    let reader = CaptureReader::from_reader("x".into(), Box::new(Cursor::new(bytes))).unwrap();
    Analyzer::new().analyze_source(Box::new(reader))
}

fn json_connections(a: Analysis) -> (String, tcpstate::pipeline::accounting::FrameAccounting) {
    let accounting = a.accounting.clone();
    let mut out = Vec::new();
    write_report(
        &mut out,
        Format::Json,
        Report::Connections,
        Style::default(),
        &[a],
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    // Everything but the summary line, which names the compression.
    let body = text
        .lines()
        .filter(|l| !l.starts_with("{\"summary\""))
        .collect::<Vec<_>>()
        .join("\n");
    (body, accounting)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn valid_captures_are_read_to_the_end_and_every_frame_is_accounted_for(
        layout in layout(),
        frames in proptest::collection::vec(frame_spec(), 0..40),
    ) {
        let (bytes, n) = write_capture(&layout, &frames);
        let a = analyse(bytes.clone());
        prop_assert!(a.errors.is_empty(), "{:?}", a.error().map(|e| e.to_string()));
        prop_assert_eq!(a.accounting.frames, n);
        prop_assert!(a.accounting.is_balanced());
        let tcp_frames = frames.iter().filter(|f| matches!(f, FrameSpec::Tcp { .. })).count() as u64;
        let decodable = layout.links.iter().all(|l| !matches!(l, Link::Other(_)));
        if layout.container != 2 && decodable && layout.container < 4 {
            // One decodable link and no snaplen cut: every TCP frame is TCP
            // (noise can look like TCP too, so at least).
            prop_assert!(a.accounting.tcp >= tcp_frames);
        }
        for c in &a.connections {
            prop_assert!(c.tcp.all_transitions_are_rfc_edges());
        }
        // gzip changes nothing but the summary's mention of it.
        let plain = json_connections(a);
        let zipped = json_connections(analyse(gzip(&bytes)));
        prop_assert_eq!(plain, zipped);
    }

    #[test]
    fn damaged_captures_pass_the_fuzz_checks(
        layout in layout(),
        frames in proptest::collection::vec(frame_spec(), 1..20),
        damage in 0u8..3,
        at in any::<prop::sample::Index>(),
        value in prop_oneof![Just(0u32), Just(u32::MAX), Just(0x8000_0000), 0u32..2000, any::<u32>()],
    ) {
        let (mut bytes, _) = write_capture(&layout, &frames);
        let i = at.index(bytes.len());
        match damage {
            0 => bytes[i] ^= value as u8 | 1,
            1 => {
                let end = (i + 4).min(bytes.len());
                let v = value.to_le_bytes();
                bytes[i..end].copy_from_slice(&v[..end - i]);
            }
            _ => bytes.truncate(i),
        }
        checks::check_capture(&bytes);
        checks::check_pipeline(&bytes);
    }

    /// Damage to the compressed bytes of a gzip capture: whatever inflates
    /// before the damage is read the same whole, trickled and mapped.
    #[test]
    fn damaged_gzip_captures_pass_the_capture_check(
        layout in layout(),
        frames in proptest::collection::vec(frame_spec(), 1..20),
        damage in 0u8..3,
        at in any::<prop::sample::Index>(),
        value in any::<u32>(),
    ) {
        let (bytes, _) = write_capture(&layout, &frames);
        let mut gz = gzip(&bytes);
        let i = at.index(gz.len());
        match damage {
            0 => gz[i] ^= value as u8 | 1,
            1 => {
                let end = (i + 4).min(gz.len());
                let v = value.to_le_bytes();
                gz[i..end].copy_from_slice(&v[..end - i]);
            }
            _ => gz.truncate(i.max(2)),
        }
        checks::check_capture(&gz);
    }
}
