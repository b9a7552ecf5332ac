//! Decoding: link layer, IP and TCP headers of one frame into a compact, owned
//! [`Segment`], or into the reason the frame is not an analysable TCP segment.
//!
//! Header parsing is etherparse's (lax slices, so packets cut by the snaplen still
//! decode). The TCP fixed header is read by hand because it must work with as
//! few bytes as Wireshark needs to place a packet in a stream (16), and a
//! segment's payload length comes from the IP header, never from the captured
//! length.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    EtherType, Ethernet2HeaderSlice, IpNumber, LaxIpSlice, SingleVlanHeaderSlice, TcpOptionElement,
    TcpOptionsIterator,
};

use crate::capture::{linktype, RawPacket};

/// TCP flag bits, as they sit in the 12 low bits of header bytes 12-13.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const NS: u16 = 0x100;

    /// Flag names in Wireshark's order, high bit first.
    pub const NAMES: [(u16, &'static str); 9] = [
        (Self::NS, "NS"),
        (Self::CWR, "CWR"),
        (Self::ECE, "ECE"),
        (Self::URG, "URG"),
        (Self::ACK, "ACK"),
        (Self::PSH, "PSH"),
        (Self::RST, "RST"),
        (Self::SYN, "SYN"),
        (Self::FIN, "FIN"),
    ];

    pub fn has(self, bits: u16) -> bool {
        self.0 & bits == bits
    }
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }

    /// Names of the set flags, Wireshark's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(b, _)| self.0 & b != 0)
            .map(|(_, n)| n)
    }
}

impl fmt::Display for TcpFlags {
    /// `SYN,ACK` style; `<none>` when no flag is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for n in self.names() {
            if !first {
                f.write_str(",")?;
            }
            f.write_str(n)?;
            first = false;
        }
        if first {
            f.write_str("<none>")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The TCP options later analysis needs; everything else is skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// SACK blocks (left edge, right edge); `sack_count` of them are valid.
    pub sack: [(u32, u32); 4],
    pub sack_count: u8,
    /// (TSval, TSecr)
    pub timestamp: Option<(u32, u32)>,
}

impl TcpOptions {
    /// The valid SACK blocks.
    pub fn sack_blocks(&self) -> &[(u32, u32)] {
        &self.sack[..self.sack_count as usize]
    }
}

/// An IP address and port.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    /// `192.0.2.1:80` or `[2001:db8::1]:443`, as in URLs and Wireshark's conversation table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// One TCP packet, decoded and owned; what the flow layer and state machines consume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// 1-based frame number in the capture (Wireshark's `frame.number`).
    pub frame: u64,
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: i64,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// The raw window field; scaling is applied by the flow, which knows the SYN options.
    pub window: u16,
    /// Payload bytes as the IP header reports them (Wireshark's `tcp.len`).
    pub payload_len: u32,
    /// Payload bytes actually present in the capture.
    pub captured_payload_len: u32,
    /// Length of the IP packet on the wire (headers included): Zeek's ip_bytes.
    pub ip_len: u32,
    pub options: TcpOptions,
    /// The data offset was below 5 words: header fields past byte 16 are meaningless.
    pub bad_header_len: bool,
    /// The IP header reports fewer bytes than the TCP header needs, so the
    /// segment length is unknown (Wireshark's "short segment").
    pub short_segment: bool,
}

/// Why a frame that is not a TCP segment could not be analysed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Undecodable {
    UnsupportedLinkType(u16),
    TruncatedLink,
    BadIp(String),
    /// An IPv6 extension header (or IPv4 AH) cut short or malformed.
    BadIpExtension,
    /// A TCP packet split into IP fragments; reassembly is not done yet.
    TcpFragment,
    TruncatedTcp,
}

impl fmt::Display for Undecodable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undecodable::UnsupportedLinkType(lt) => {
                write!(f, "unsupported link type {}", linktype::name(*lt))
            }
            Undecodable::TruncatedLink => f.write_str("truncated link-layer header"),
            Undecodable::BadIp(why) => write!(f, "bad IP header: {why}"),
            Undecodable::BadIpExtension => {
                f.write_str("IP extension header cut short or malformed")
            }
            Undecodable::TcpFragment => f.write_str("TCP in an IP fragment (not reassembled)"),
            Undecodable::TruncatedTcp => f.write_str("TCP header cut short by the snaplen"),
        }
    }
}

/// What a frame that is not IP carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NonIp {
    Arp,
    /// 802.3 frames with a length instead of an ethertype (STP, CDP...).
    Llc,
    EtherType(u16),
    Netlink,
    LoopbackFamily(u32),
    RawIpVersion(u8),
    /// pcapng systemd journal entries, which Wireshark numbers as frames.
    JournalEntry,
}

impl fmt::Display for NonIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NonIp::Arp => f.write_str("ARP"),
            NonIp::Llc => f.write_str("802.3 LLC"),
            NonIp::EtherType(t) => write!(f, "ethertype 0x{t:04x}"),
            NonIp::Netlink => f.write_str("netlink"),
            NonIp::LoopbackFamily(af) => write!(f, "loopback address family {af}"),
            NonIp::RawIpVersion(v) => write!(f, "raw frame of IP version {v}"),
            NonIp::JournalEntry => f.write_str("pcapng systemd journal entry"),
        }
    }
}

/// An IP protocol other than TCP, displayed by its keyword (UDP, ICMP...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match IpNumber(self.0).keyword_str() {
            Some(k) => f.write_str(k),
            None => write!(f, "IP protocol {}", self.0),
        }
    }
}

/// Why a frame stopped decoding before reaching a TCP segment.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stop {
    NonIp(NonIp),
    Undecodable(Undecodable),
}

/// What one frame turned out to be. Every frame gets exactly one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    Tcp(Segment),
    /// IP, but not TCP.
    OtherIp(IpProtocol),
    /// Not IP.
    NonIp(NonIp),
    Undecodable(Undecodable),
}

/// Decodes one captured frame.
pub fn decode(pkt: &RawPacket<'_>) -> Decoded {
    use linktype::*;
    let data = pkt.data;
    let l3 = match pkt.linktype {
        ETHERNET => ethernet(data),
        // Cooked headers are read by hand: etherparse's SLL parser rejects
        // hardware types such as ARPHRD_LOOPBACK, which `tcpdump -i any` writes.
        LINUX_SLL => cooked(data, 16, 14, 2),
        LINUX_SLL2 => cooked(data, 20, 0, 8),
        RAW | RAW_BSD12 | RAW_BSD14 => match data.first().map(|b| b >> 4) {
            Some(4) | Some(6) => Ok(data),
            Some(v) => Err(Stop::NonIp(NonIp::RawIpVersion(v))),
            None => Err(Stop::Undecodable(Undecodable::TruncatedLink)),
        },
        IPV4 | IPV6 => Ok(data),
        NULL | LOOP => bsd_loopback(pkt.linktype, data),
        NOT_A_PACKET => Err(Stop::NonIp(NonIp::JournalEntry)),
        other => Err(Stop::Undecodable(Undecodable::UnsupportedLinkType(other))),
    };
    match l3 {
        Ok(ip) => decode_ip(ip, pkt),
        Err(Stop::NonIp(k)) => Decoded::NonIp(k),
        Err(Stop::Undecodable(u)) => Decoded::Undecodable(u),
    }
}

/// Linux cooked capture (SLL or SLL2): a fixed header with the protocol and
/// hardware type at known offsets.
fn cooked(data: &[u8], len: usize, proto_at: usize, hatype_at: usize) -> Result<&[u8], Stop> {
    if data.len() < len {
        return Err(Stop::Undecodable(Undecodable::TruncatedLink));
    }
    let hatype = u16::from_be_bytes([data[hatype_at], data[hatype_at + 1]]);
    let proto = u16::from_be_bytes([data[proto_at], data[proto_at + 1]]);
    const ARPHRD_NETLINK: u16 = 824;
    if hatype == ARPHRD_NETLINK {
        return Err(Stop::NonIp(NonIp::Netlink));
    }
    ether_payload(EtherType(proto), &data[len..])
}

fn ethernet(data: &[u8]) -> Result<&[u8], Stop> {
    let eth = Ethernet2HeaderSlice::from_slice(data)
        .map_err(|_| Stop::Undecodable(Undecodable::TruncatedLink))?;
    let et = eth.ether_type();
    if et.0 < 0x0600 {
        // An 802.3 length field, not an ethertype: LLC/SNAP frames (STP, CDP...).
        return Err(Stop::NonIp(NonIp::Llc));
    }
    ether_payload(et, &data[14..])
}

/// Follows VLAN tags of any depth down to IP.
fn ether_payload(mut et: EtherType, mut rest: &[u8]) -> Result<&[u8], Stop> {
    loop {
        match et {
            EtherType::IPV4 | EtherType::IPV6 => return Ok(rest),
            EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME => {
                let tag = SingleVlanHeaderSlice::from_slice(rest)
                    .map_err(|_| Stop::Undecodable(Undecodable::TruncatedLink))?;
                et = tag.ether_type();
                rest = &rest[4..];
            }
            EtherType::ARP => return Err(Stop::NonIp(NonIp::Arp)),
            other => return Err(Stop::NonIp(NonIp::EtherType(other.0))),
        }
    }
}

/// BSD loopback: a 4-byte address family, host order for NULL, network order for LOOP.
fn bsd_loopback(lt: u16, data: &[u8]) -> Result<&[u8], Stop> {
    if data.len() < 4 {
        return Err(Stop::Undecodable(Undecodable::TruncatedLink));
    }
    let raw = [data[0], data[1], data[2], data[3]];
    let family = if lt == linktype::LOOP {
        u32::from_be_bytes(raw)
    } else {
        // The writer's byte order is unknown; families are small, so the
        // non-zero half tells (Wireshark does the same).
        let le = u32::from_le_bytes(raw);
        if le & 0xffff_0000 != 0 {
            le.swap_bytes()
        } else {
            le
        }
    };
    match family {
        2 => Ok(&data[4..]),
        // AF_INET6 differs by OS: Linux 10, BSDs 24, FreeBSD 28, macOS 30.
        10 | 24 | 28 | 30 => Ok(&data[4..]),
        f => Err(Stop::NonIp(NonIp::LoopbackFamily(f))),
    }
}

fn decode_ip(ip: &[u8], pkt: &RawPacket<'_>) -> Decoded {
    let (slice, ext_err) = match LaxIpSlice::from_slice(ip) {
        Ok(s) => s,
        Err(e) => {
            if ip.is_empty() {
                return Decoded::Undecodable(Undecodable::TruncatedLink);
            }
            return Decoded::Undecodable(Undecodable::BadIp(short_ip_error(&e)));
        }
    };
    let payload = slice.payload();
    if ext_err.is_some() {
        // The payload's protocol is hidden behind an extension header we could not read.
        return Decoded::Undecodable(Undecodable::BadIpExtension);
    }
    if payload.ip_number != IpNumber::TCP {
        return Decoded::OtherIp(IpProtocol(payload.ip_number.0));
    }
    if payload.fragmented {
        return Decoded::Undecodable(Undecodable::TcpFragment);
    }
    let (src, dst) = match &slice {
        LaxIpSlice::Ipv4(s) => (
            IpAddr::V4(Ipv4Addr::from(s.header().source())),
            IpAddr::V4(Ipv4Addr::from(s.header().destination())),
        ),
        LaxIpSlice::Ipv6(s) => (
            IpAddr::V6(Ipv6Addr::from(s.header().source())),
            IpAddr::V6(Ipv6Addr::from(s.header().destination())),
        ),
    };
    // The TCP length the IP header reports, whatever the snaplen kept. A zero
    // length field (TSO on the capture host, IPv6 jumbograms) falls back to the frame.
    let from_header = match &slice {
        LaxIpSlice::Ipv4(s) => {
            let h = s.header();
            let headers = h.slice().len() + s.extensions().auth.map_or(0, |a| a.slice().len());
            (h.total_len() as usize).checked_sub(headers)
        }
        LaxIpSlice::Ipv6(s) => match s.header().payload_length() {
            0 => None,
            n => (n as usize).checked_sub(s.extensions().slice().len()),
        },
    };
    let reported = from_header.unwrap_or(payload.payload.len());
    let ip_header_len = match &slice {
        LaxIpSlice::Ipv4(s) => {
            s.header().slice().len() + s.extensions().auth.map_or(0, |a| a.slice().len())
        }
        LaxIpSlice::Ipv6(s) => s.header().slice().len() + s.extensions().slice().len(),
    };
    decode_tcp(payload.payload, reported, ip_header_len, src, dst, pkt)
}

fn decode_tcp(
    tcp: &[u8],
    reported_len: usize,
    ip_header_len: usize,
    src: IpAddr,
    dst: IpAddr,
    pkt: &RawPacket<'_>,
) -> Decoded {
    // Wireshark places a packet in a stream once ports, numbers, flags and window are read.
    if tcp.len() < 16 {
        return Decoded::Undecodable(Undecodable::TruncatedTcp);
    }
    let be16 = |o: usize| u16::from_be_bytes([tcp[o], tcp[o + 1]]);
    let be32 = |o: usize| u32::from_be_bytes([tcp[o], tcp[o + 1], tcp[o + 2], tcp[o + 3]]);
    let header_len = (tcp[12] >> 4) as usize * 4;
    let bad_header_len = header_len < 20;
    // The frame itself may be shorter on the wire than the IP header claims.
    let missing_from_capture = pkt.orig_len.saturating_sub(pkt.data.len() as u32) as usize;
    let reported_len = reported_len.min(tcp.len() + missing_from_capture);
    let short_segment = reported_len < header_len;
    let mut options = TcpOptions::default();
    if !bad_header_len {
        let end = header_len.min(tcp.len());
        if end > 20 {
            options = parse_options(&tcp[20..end]);
        }
    }
    let payload_len = if short_segment {
        0
    } else {
        reported_len - header_len
    };
    let captured_payload_len = tcp.len().saturating_sub(header_len).min(payload_len);
    Decoded::Tcp(Segment {
        frame: pkt.frame,
        ts_ns: pkt.ts_ns,
        src: Endpoint {
            addr: src,
            port: be16(0),
        },
        dst: Endpoint {
            addr: dst,
            port: be16(2),
        },
        seq: be32(4),
        ack: be32(8),
        flags: TcpFlags(be16(12) & 0x01ff),
        window: be16(14),
        payload_len: payload_len as u32,
        captured_payload_len: captured_payload_len as u32,
        ip_len: (ip_header_len + reported_len) as u32,
        options,
        bad_header_len,
        short_segment,
    })
}

fn parse_options(bytes: &[u8]) -> TcpOptions {
    let mut o = TcpOptions::default();
    for opt in TcpOptionsIterator::from_slice(bytes) {
        let Ok(opt) = opt else { break };
        match opt {
            TcpOptionElement::MaximumSegmentSize(m) => o.mss = Some(m),
            TcpOptionElement::WindowScale(s) => o.window_scale = Some(s),
            TcpOptionElement::SelectiveAcknowledgementPermitted => o.sack_permitted = true,
            TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
                o.sack[0] = first;
                o.sack_count = 1;
                for b in rest.into_iter().flatten() {
                    o.sack[o.sack_count as usize] = b;
                    o.sack_count += 1;
                }
            }
            TcpOptionElement::Timestamp(v, e) => o.timestamp = Some((v, e)),
            TcpOptionElement::Noop => {}
        }
    }
    o
}

fn short_ip_error(e: &etherparse::err::ip::LaxHeaderSliceError) -> String {
    use etherparse::err::ip::LaxHeaderSliceError as E;
    match e {
        E::Len(l) => format!("truncated ({} of {} bytes)", l.len, l.required_len),
        E::Content(c) => c.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_in_wireshark_order() {
        let f = TcpFlags(TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE);
        assert_eq!(f.to_string(), "ECE,ACK,SYN");
        assert_eq!(TcpFlags(0).to_string(), "<none>");
    }

    #[test]
    fn endpoints_print_like_urls() {
        let v4 = Endpoint {
            addr: "192.0.2.1".parse().unwrap(),
            port: 80,
        };
        let v6 = Endpoint {
            addr: "2001:db8::1".parse().unwrap(),
            port: 443,
        };
        assert_eq!(v4.to_string(), "192.0.2.1:80");
        assert_eq!(v6.to_string(), "[2001:db8::1]:443");
    }

    fn raw(linktype: u16, data: &[u8]) -> RawPacket<'_> {
        RawPacket {
            frame: 1,
            ts_ns: 0,
            linktype,
            data,
            orig_len: data.len() as u32,
        }
    }

    #[test]
    fn unknown_linktype_is_reported_not_fatal() {
        assert_eq!(
            decode(&raw(147, &[0u8; 40])),
            Decoded::Undecodable(Undecodable::UnsupportedLinkType(147))
        );
    }

    #[test]
    fn snaplen_cut_segment_keeps_ip_reported_length() {
        // IPv4 header claiming 40 + 100 bytes, TCP header of 20 bytes, no payload captured.
        let mut p = vec![
            0x45, 0, 0, 140, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 1, 0]);
        p.extend_from_slice(&[0, 0, 0, 0]);
        let mut pkt = raw(linktype::RAW, &p);
        pkt.orig_len = 140;
        match decode(&pkt) {
            Decoded::Tcp(s) => {
                assert_eq!(s.payload_len, 100);
                assert_eq!(s.captured_payload_len, 0);
                assert_eq!(s.flags.to_string(), "ACK,PSH");
                assert_eq!(s.src.to_string(), "10.0.0.1:12345");
            }
            other => panic!("{other:?}"),
        }
    }
}
