//! Unit tests of the generator: exact bytes of tiny files, and frames parsed
//! back with etherparse.

use std::net::{Ipv4Addr, SocketAddr};

use etherparse::TcpOptionElement;

use crate::pcap::NS_PER_S;
use crate::*;
use etherparse::{LinkSlice, NetSlice, SlicedPacket, TransportSlice};

fn v4(a: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((a, port))
}

fn v6(last: u16, port: u16) -> SocketAddr {
    SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, last], port))
}

fn sample_segment() -> Segment {
    let mut seg = Segment::new(
        EPOCH_2026_NS,
        v4([10, 0, 0, 1], 40000),
        v4([10, 0, 0, 2], 80),
        1000,
        2000,
        TcpFlags::PSH | TcpFlags::ACK,
    );
    seg.options = vec![
        TcpOptionElement::Noop,
        TcpOptionElement::Noop,
        TcpOptionElement::Timestamp(7, 9),
    ];
    seg.payload = b"hello".to_vec();
    seg
}

/// Checks the TCP layer of a sliced packet against the segment.
fn assert_tcp_matches(sliced: &SlicedPacket<'_>, seg: &Segment) {
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        panic!("no TCP in {sliced:?}");
    };
    assert_eq!(tcp.source_port(), seg.src.port());
    assert_eq!(tcp.destination_port(), seg.dst.port());
    assert_eq!(tcp.sequence_number(), seg.seq);
    assert_eq!(tcp.acknowledgment_number(), seg.ack);
    assert_eq!(tcp.psh(), seg.flags.contains(TcpFlags::PSH));
    assert_eq!(tcp.ack(), seg.flags.contains(TcpFlags::ACK));
    assert_eq!(tcp.syn(), seg.flags.contains(TcpFlags::SYN));
    assert_eq!(tcp.payload(), &seg.payload[..]);
    let options: Vec<_> = tcp.options_iterator().map(|o| o.unwrap()).collect();
    assert_eq!(options, seg.options);
}

#[test]
fn pcap_bytes_are_exact_for_a_tiny_file() {
    let mut w = PcapWriter::new(
        Vec::new(),
        Link::Raw,
        PcapFormat {
            snaplen: 4,
            ..Default::default()
        },
    )
    .unwrap();
    w.write_frame(EPOCH_2026_NS + 1_234_567, &[0x45, 1, 2, 3, 4, 5])
        .unwrap();
    assert_eq!(w.position(), 24 + 16 + 4);
    let bytes = w.into_inner().unwrap();
    let expected: Vec<u8> = [
        &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0][..], // magic, version 2.4
        &[0; 8],                                   // thiszone, sigfigs
        &[4, 0, 0, 0],                             // snaplen
        &[101, 0, 0, 0],                           // LINKTYPE_RAW
        &1_767_225_600u32.to_le_bytes(),           // ts seconds
        &1234u32.to_le_bytes(),                    // ts microseconds
        &[4, 0, 0, 0],                             // caplen (cut to snaplen)
        &[6, 0, 0, 0],                             // origlen
        &[0x45, 1, 2, 3],
    ]
    .concat();
    assert_eq!(bytes, expected);
}

#[test]
fn pcap_big_endian_nanos_header_and_timestamp() {
    let format = PcapFormat {
        order: ByteOrder::Big,
        precision: TsPrecision::Nanos,
        snaplen: 65535,
    };
    let mut w = PcapWriter::new(Vec::new(), Link::Null, format).unwrap();
    let seg = sample_segment();
    w.write_packet(&Packet::Tcp(seg.clone())).unwrap();
    let bytes = w.into_inner().unwrap();
    assert_eq!(&bytes[..4], &[0xa1, 0xb2, 0x3c, 0x4d]);
    assert_eq!(&bytes[20..24], &[0, 0, 0, 0]); // LINKTYPE_NULL
    assert_eq!(&bytes[28..32], &[0, 0, 0, 0]); // 0 ns into the second

    // The Null header follows the file's (big-endian) byte order.
    assert_eq!(&bytes[40..44], &[0, 0, 0, 2]);
    let sliced = SlicedPacket::from_ip(&bytes[44..]).unwrap();
    assert_tcp_matches(&sliced, &seg);
}

#[test]
fn pcapng_bytes_are_exact_for_a_tiny_file() {
    let mut w = PcapNgWriter::new(Vec::new(), ByteOrder::Little).unwrap();
    let shb_len = w.position();
    let mut iface = Interface::new(Link::Raw);
    iface.tsresol = 9;
    iface.snaplen = 2;
    w.add_interface(iface).unwrap();
    let idb_len = w.position() - shb_len;
    w.write_epb(0, 5_000_000_123, &[0x45, 0xaa, 0xbb]).unwrap();
    let bytes = w.into_inner().unwrap();
    // SHB: 28 fixed + shb_userappl (4 + 14, padded to 16) + endofopt (4)
    assert_eq!(shb_len, 52);
    assert_eq!(&bytes[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
    assert_eq!(&bytes[8..12], &[0x4d, 0x3c, 0x2b, 0x1a]);
    // IDB: 20 fixed + if_name "s1if0" (12) + if_tsresol (8) + end (4)
    assert_eq!(idb_len, 44);
    let epb = &bytes[(shb_len + idb_len) as usize..];
    let expected: Vec<u8> = [
        &6u32.to_le_bytes()[..],
        &36u32.to_le_bytes(),
        &0u32.to_le_bytes(), // interface 0
        &1u32.to_le_bytes(), // high 32 bits of 5_000_000_123
        &705_032_827u32.to_le_bytes(),
        &2u32.to_le_bytes(), // caplen = snaplen
        &3u32.to_le_bytes(), // origlen
        &[0x45, 0xaa, 0, 0], // data + padding
        &36u32.to_le_bytes(),
    ]
    .concat();
    assert_eq!(epb, &expected[..]);
}

#[test]
fn pcapng_ticks_follow_tsresol_and_tsoffset() {
    let mut iface = Interface::new(Link::Ethernet);
    assert_eq!(iface.ticks(1_500_000_999), 1_500_000);
    iface.tsresol = 0x80 | 20;
    assert_eq!(iface.ticks(2 * NS_PER_S), 2 << 20);
    iface.tsresol = 9;
    iface.tsoffset_s = 1000;
    assert_eq!(iface.ticks(1001 * NS_PER_S + 7), NS_PER_S + 7);
}

#[test]
fn ethernet_vlan_and_sll_frames_parse_back() {
    let seg = sample_segment();
    let eth = frame(&Link::Ethernet, &seg);
    assert_tcp_matches(&SlicedPacket::from_ethernet(&eth).unwrap(), &seg);

    for tags in [vec![100], vec![200, 300]] {
        let bytes = frame(&Link::EthernetVlan(tags.clone()), &seg);
        let expected_tpid: u16 = if tags.len() == 1 { 0x8100 } else { 0x88a8 };
        assert_eq!(u16::from_be_bytes([bytes[12], bytes[13]]), expected_tpid);
        let sliced = SlicedPacket::from_ethernet(&bytes).unwrap();
        assert_eq!(sliced.link_exts.len(), tags.len());
        assert_tcp_matches(&sliced, &seg);
    }

    let sll = frame(&Link::LinuxSll, &seg);
    let sliced = SlicedPacket::from_linux_sll(&sll).unwrap();
    assert!(matches!(sliced.link, Some(LinkSlice::LinuxSll(_))));
    assert_tcp_matches(&sliced, &seg);

    let sll2 = frame(&Link::LinuxSll2, &seg);
    assert_eq!(&sll2[..2], &[0x08, 0x00]);
    assert_eq!(&sll2[8..10], &[0, 1]); // ARPHRD_ETHER
    assert_eq!(sll2[11], 6);
    assert_tcp_matches(&SlicedPacket::from_ip(&sll2[20..]).unwrap(), &seg);
}

#[test]
fn ip_level_links_parse_back() {
    let seg = sample_segment();
    for link in [Link::Raw, Link::Ipv4] {
        assert_tcp_matches(&SlicedPacket::from_ip(&frame(&link, &seg)).unwrap(), &seg);
    }
    let null = frame(&Link::Null, &seg);
    assert_eq!(&null[..4], &[2, 0, 0, 0]);
    assert_tcp_matches(&SlicedPacket::from_ip(&null[4..]).unwrap(), &seg);

    let mut seg6 = sample_segment();
    seg6.src = v6(1, 40000);
    seg6.dst = v6(2, 80);
    let lo = frame(&Link::Loop, &seg6);
    assert_eq!(&lo[..4], &[0, 0, 0, 24]);
    assert_tcp_matches(&SlicedPacket::from_ip(&lo[4..]).unwrap(), &seg6);
    assert_tcp_matches(
        &SlicedPacket::from_ip(&frame(&Link::Ipv6, &seg6)).unwrap(),
        &seg6,
    );
}

#[test]
fn ipv6_extension_headers_precede_tcp() {
    let mut seg = sample_segment();
    seg.src = v6(1, 40000);
    seg.dst = v6(2, 80);
    seg.ip_extras = IpExtras::Ipv6HopByHopAndDestOpts;
    let bytes = frame(&Link::Raw, &seg);
    assert_eq!(bytes[6], 0); // next header: hop-by-hop
    assert_eq!(bytes[40], 60); // then destination options
    assert_eq!(bytes[48], 6); // then TCP
    let sliced = SlicedPacket::from_ip(&bytes).unwrap();
    let Some(NetSlice::Ipv6(ip)) = &sliced.net else {
        panic!("not IPv6")
    };
    assert_eq!(ip.extensions().slice().len(), 16);
    assert_tcp_matches(&sliced, &seg);
}

#[test]
fn special_frames_have_the_intended_shape() {
    let seg = sample_segment();
    let (first, second) = fragment_tcp(&seg, 24, 7);
    let f1 = packet_frame(
        &Link::Raw,
        ByteOrder::Little,
        &Packet::Other {
            ts_ns: 0,
            special: first,
        },
    );
    let f2 = packet_frame(
        &Link::Raw,
        ByteOrder::Little,
        &Packet::Other {
            ts_ns: 0,
            special: second,
        },
    );
    assert_eq!(&f1[6..8], &[0x20, 0x00]); // MF, offset 0
    assert_eq!(&f2[6..8], &[0x00, 0x03]); // offset 24 bytes = 3 units
    assert_eq!(f1.len() - 20 + f2.len() - 20, 20 + 12 + 5);

    let bad = Special::BadTcpDataOffset {
        seg: seg.clone(),
        data_offset: 3,
    };
    let bytes = packet_frame(
        &Link::Ethernet,
        ByteOrder::Little,
        &Packet::Other {
            ts_ns: 0,
            special: bad,
        },
    );
    assert_eq!(bytes[14 + 20 + 12] >> 4, 3);

    let trunc = Special::TruncatedIpv4 {
        src: Ipv4Addr::new(10, 0, 0, 1),
        dst: Ipv4Addr::new(10, 0, 0, 2),
    };
    let bytes = packet_frame(
        &Link::Ethernet,
        ByteOrder::Little,
        &Packet::Other {
            ts_ns: 0,
            special: trunc,
        },
    );
    assert_eq!(bytes.len(), 14 + 12);
    assert!(SlicedPacket::from_ethernet(&bytes).is_err());

    let arp = Special::Arp {
        sender: Ipv4Addr::new(10, 0, 0, 1),
        target: Ipv4Addr::new(10, 0, 0, 2),
    };
    let bytes = packet_frame(
        &Link::Ethernet,
        ByteOrder::Little,
        &Packet::Other {
            ts_ns: 0,
            special: arp,
        },
    );
    assert_eq!(&bytes[12..14], &[0x08, 0x06]);
    assert_eq!(bytes.len(), 14 + 28);
}

#[test]
fn conv_tracks_sequence_numbers() {
    let mut c = Conv::new(v4([10, 0, 0, 1], 40000), v4([10, 0, 0, 2], 80), 100, 500);
    c.handshake();
    c.data(Side::Client, 10);
    c.fin(Side::Client);
    c.fin(Side::Server); // FIN+ACK collapsed
    c.ack(Side::Client);
    let got: Vec<_> = c
        .segments()
        .iter()
        .map(|s| (s.flags, s.seq, s.ack))
        .collect();
    use TcpFlags as F;
    assert_eq!(
        got,
        vec![
            (F::SYN, 100, 0),
            (F::SYN | F::ACK, 500, 101),
            (F::ACK, 101, 501),
            (F::PSH | F::ACK, 101, 501),
            (F::FIN | F::ACK, 111, 501),
            (F::FIN | F::ACK, 501, 112),
            (F::ACK, 112, 502),
        ]
    );
    assert_eq!(c.segments()[1].ts_ns - c.segments()[0].ts_ns, 1_000_000);
    assert_eq!(c.segments()[3].payload, filler(101, 10));
}

#[test]
fn conv_crossing_segments_and_wraparound() {
    let mut c = Conv::new(v4([10, 0, 0, 1], 1), v4([10, 0, 0, 2], 2), u32::MAX - 1, 7);
    c.simultaneous_open();
    c.data(Side::Client, 5);
    c.simultaneous_close();
    let got: Vec<_> = c.segments().iter().map(|s| (s.seq, s.ack)).collect();
    assert_eq!(
        got,
        vec![
            (u32::MAX - 1, 0),
            (7, 0),
            (u32::MAX - 1, 8),
            (7, u32::MAX),
            (u32::MAX, 8),
            (4, 8), // client FIN after 5 bytes wrapped past 0
            (8, 4), // server FIN has not seen the client's FIN
            (5, 9),
            (9, 5),
        ]
    );
}

#[test]
fn conv_retransmit_refuse_and_timestamps() {
    let mut c =
        Conv::new(v4([10, 0, 0, 1], 1), v4([10, 0, 0, 2], 2), 10, 20).with_typical_options();
    c.syn();
    c.retransmit_last(Side::Client);
    c.refuse();
    let s = c.segments();
    assert_eq!(s[1].seq, s[0].seq);
    assert_eq!(s[1].options, s[0].options);
    assert!(s[1].ts_ns > s[0].ts_ns);
    assert_eq!(
        (s[2].flags, s[2].seq, s[2].ack),
        (TcpFlags::RST | TcpFlags::ACK, 0, 11)
    );
    assert!(matches!(
        s[0].options.last(),
        Some(TcpOptionElement::Timestamp(_, 0))
    ));
    // Options must fit and serialise.
    assert!(SlicedPacket::from_ip(&frame(&Link::Raw, &s[0])).is_ok());
}
