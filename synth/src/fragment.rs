//! IP fragmentation helpers: a TCP segment, or a whole IPv4 packet (a tunnel's
//! outer packet), split into [`Special::Ipv4Fragment`] / [`Special::Ipv6Fragment`]
//! frames.

use std::net::{IpAddr, Ipv4Addr};

use crate::frame::{tcp_ip_packet, Special};
use crate::segment::Segment;

/// Splits `seg` (IPv4, no IP options) into two IPv4 fragments: the first
/// carries the TCP header and `first_len` bytes of the TCP segment (a
/// multiple of 8), the second the rest. Checksums are those of the unfragmented
/// segment, so a reassembling reader sees a valid TCP segment.
pub fn fragment_tcp(seg: &Segment, first_len: usize, id: u16) -> (Special, Special) {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (seg.src.ip(), seg.dst.ip()) else {
        panic!("fragment_tcp needs an IPv4 segment");
    };
    let (net, tcp_offset) = tcp_ip_packet(seg);
    let transport = &net.bytes[tcp_offset..];
    assert!(first_len.is_multiple_of(8) && first_len < transport.len());
    let first = Special::Ipv4Fragment {
        src,
        dst,
        id,
        protocol: 6,
        offset: 0,
        more_fragments: true,
        data: transport[..first_len].to_vec(),
    };
    let second = Special::Ipv4Fragment {
        src,
        dst,
        id,
        protocol: 6,
        offset: u16::try_from(first_len).expect("offset fits"),
        more_fragments: false,
        data: transport[first_len..].to_vec(),
    };
    (first, second)
}

/// Splits `seg` (IPv6, no extension headers) into IPv6 fragments at the
/// given byte offsets of the TCP segment (multiples of 8, ascending), in
/// order. Checksums are those of the unfragmented segment.
pub fn fragment_tcp_v6(seg: &Segment, cuts: &[usize], id: u32) -> Vec<Special> {
    let (IpAddr::V6(src), IpAddr::V6(dst)) = (seg.src.ip(), seg.dst.ip()) else {
        panic!("fragment_tcp_v6 needs an IPv6 segment");
    };
    let (net, tcp_offset) = tcp_ip_packet(seg);
    let transport = &net.bytes[tcp_offset..];
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(transport.len());
    bounds
        .windows(2)
        .map(|w| {
            assert!(w[0] % 8 == 0 && w[0] < w[1]);
            Special::Ipv6Fragment {
                src,
                dst,
                id,
                next_header: 6,
                offset: u16::try_from(w[0]).expect("offset fits"),
                more_fragments: w[1] < transport.len(),
                data: transport[w[0]..w[1]].to_vec(),
            }
        })
        .collect()
}

/// The TCP segment `seg` as IPv4 fragment data: the TCP header and payload
/// that [`Special::Ipv4Fragment`] frames carry slices of.
pub fn tcp_transport_bytes(seg: &Segment) -> Vec<u8> {
    let (net, tcp_offset) = tcp_ip_packet(seg);
    net.bytes[tcp_offset..].to_vec()
}

/// Splits a whole IPv4 packet (20-byte header) into two fragments after
/// `first_len` payload bytes (a multiple of 8), keeping its protocol: for
/// fragmenting a tunnel's outer packet.
pub fn fragment_ipv4_packet(ip: &[u8], first_len: usize, id: u16) -> (Special, Special) {
    assert!(ip.len() > 20 && ip[0] == 0x45, "plain IPv4 header expected");
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let payload = &ip[20..];
    assert!(first_len.is_multiple_of(8) && first_len < payload.len());
    let part = |offset: usize, more: bool, data: &[u8]| Special::Ipv4Fragment {
        src,
        dst,
        id,
        protocol: ip[9],
        offset: u16::try_from(offset).expect("offset fits"),
        more_fragments: more,
        data: data.to_vec(),
    };
    (
        part(0, true, &payload[..first_len]),
        part(first_len, false, &payload[first_len..]),
    )
}
