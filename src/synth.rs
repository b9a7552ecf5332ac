//! Deterministic synthetic capture generator, used to build the test captures.
//!
//! Real captures are large, often private, and rarely contain the exact corner
//! cases a TCP state tracker has to get right, so the test suite writes its own:
//!
//! * [`Conv`] scripts one TCP connection and keeps the sequence and
//!   acknowledgement numbers consistent, so a scenario is a few lines long;
//! * [`frame`] / [`packet_frame`] turn a [`Segment`] (or a non-TCP [`Special`]
//!   frame) into link-layer bytes for any [`Link`], using etherparse's
//!   `PacketBuilder` so lengths and checksums are right;
//! * [`PcapWriter`] and [`PcapNgWriter`] store frames in either capture format,
//!   including the odd variants readers must cope with (big-endian files,
//!   nanosecond and binary timestamp resolutions, snaplen truncation, simple
//!   and obsolete pcapng packet blocks, unknown blocks, several sections).
//!
//! Nothing here reads a clock or a random source: the same calls always give
//! the same bytes, so generated files can be committed and compared.
//! This is test-support code: invalid requests (e.g. an IPv4 source with an
//! IPv6 destination) panic instead of returning errors.

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::{BitOr, BitOrAssign};

use etherparse::{
    ip_number, ArpEthIpv4Packet, ArpOperation, EtherType, Ethernet2Header, IpFragOffset, IpHeaders,
    IpNumber, Ipv4Extensions, Ipv4Header, Ipv4Options, Ipv6Extensions, Ipv6FlowLabel, Ipv6Header,
    Ipv6RawExtHeader, LinuxSllHeader, LinuxSllPacketType, LinuxSllProtocolType, PacketBuilder,
    SingleVlanHeader, TcpHeader, TcpOptionElement, VlanId,
};

/// 2026-01-01T00:00:00Z in nanoseconds since the Unix epoch: the fixed start
/// time of every generated capture, so output never depends on the clock.
pub const EPOCH_2026_NS: u64 = 1_767_225_600 * 1_000_000_000;

/// Nanoseconds per second, spelled out once.
const NS_PER_S: u64 = 1_000_000_000;

/// BSD `AF_INET`, as found in LINKTYPE_NULL / LINKTYPE_LOOP headers.
pub const AF_INET: u32 = 2;
/// BSD `AF_INET6` (24, the value NetBSD/OpenBSD use and every reader accepts).
pub const AF_INET6: u32 = 24;

/// Byte order of a capture file; both pcap and pcapng files may be written in
/// either, and readers must handle both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ByteOrder {
    /// Little-endian (what x86 capture hosts write).
    #[default]
    Little,
    /// Big-endian (SPARC/PowerPC era captures, some appliances).
    Big,
}

impl ByteOrder {
    fn u16(self, v: u16) -> [u8; 2] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }

    fn u32(self, v: u32) -> [u8; 4] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }

    fn u64(self, v: u64) -> [u8; 8] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }
}

/// The link layer a frame is wrapped in; each maps to one LINKTYPE_* value.
///
/// Covers every encapsulation the reader is expected to decode, plus
/// [`Link::Other`] for link types it must reject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// Ethernet II (LINKTYPE_ETHERNET 1).
    Ethernet,
    /// Ethernet with VLAN tags, outermost first (LINKTYPE_ETHERNET 1). One tag
    /// uses TPID 0x8100 (802.1Q); two or more are QinQ: the outer tag has TPID
    /// 0x88a8 and every inner tag 0x8100. An empty list is plain Ethernet.
    EthernetVlan(Vec<u16>),
    /// Linux cooked capture v1, 16-byte header (LINKTYPE_LINUX_SLL 113).
    LinuxSll,
    /// Linux cooked capture v2, 20-byte header (LINKTYPE_LINUX_SLL2 276).
    LinuxSll2,
    /// Bare IPv4 or IPv6 packet, version taken from the first nibble
    /// (LINKTYPE_RAW 101).
    Raw,
    /// Bare IPv4 packet (LINKTYPE_IPV4 228).
    Ipv4,
    /// Bare IPv6 packet (LINKTYPE_IPV6 229).
    Ipv6,
    /// BSD loopback: 4-byte address family in the *capturing host's* byte order
    /// (LINKTYPE_NULL 0). Writers use the file's byte order for it.
    Null,
    /// OpenBSD loopback: 4-byte address family in network byte order
    /// (LINKTYPE_LOOP 108).
    Loop,
    /// Any other LINKTYPE value, for "unsupported link type" tests. The frame
    /// bytes are an Ethernet frame, so a reader that ignores the link type
    /// would wrongly find TCP in them.
    Other(u16),
}

impl Link {
    /// The LINKTYPE_* number written into pcap headers and pcapng IDBs.
    pub fn linktype(&self) -> u16 {
        match self {
            Link::Ethernet | Link::EthernetVlan(_) => 1,
            Link::LinuxSll => 113,
            Link::LinuxSll2 => 276,
            Link::Raw => 101,
            Link::Ipv4 => 228,
            Link::Ipv6 => 229,
            Link::Null => 0,
            Link::Loop => 108,
            Link::Other(linktype) => *linktype,
        }
    }
}

/// TCP header flags, combined with `|` (e.g. `TcpFlags::SYN | TcpFlags::ACK`).
///
/// A plain bit set rather than nine booleans so scenarios read like tcpdump
/// output and arbitrary (even nonsensical) combinations are easy to build.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No flags at all (a "null" segment, invalid but useful in tests).
    pub const NONE: TcpFlags = TcpFlags(0);
    /// FIN: sender has no more data.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// SYN: synchronise sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// RST: reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// PSH: push buffered data to the application.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// ACK: the acknowledgement number is valid.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// URG: the urgent pointer is valid.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECE: ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// CWR: congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// NS: ECN nonce (historic, RFC 3540).
    pub const NS: TcpFlags = TcpFlags(0x100);

    /// True if every flag in `other` is set in `self`.
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, &str); 9] = [
            (TcpFlags::NS, "NS"),
            (TcpFlags::CWR, "CWR"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
        ];
        let set: Vec<&str> = NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect();
        if set.is_empty() {
            f.write_str("NONE")
        } else {
            f.write_str(&set.join("|"))
        }
    }
}

/// Extra IP-layer headers placed between the IP header and TCP, used to push
/// the TCP header further into the packet (snaplen tests, extension-header
/// walking tests).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum IpExtras {
    /// Plain IP header.
    #[default]
    None,
    /// IPv4 options (multiple of 4 bytes, at most 40). IPv4 segments only.
    Ipv4Options(Vec<u8>),
    /// An IPv6 hop-by-hop options header followed by a destination options
    /// header (8 bytes each, PadN only). IPv6 segments only.
    Ipv6HopByHopAndDestOpts,
}

/// One TCP segment to synthesise. Fields are public so tests can tweak any
/// of them (e.g. a bogus ack number) after [`Conv`] produced the segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Sender address; IPv4 vs IPv6 must match `dst`.
    pub src: SocketAddr,
    /// Receiver address.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (written even if ACK is not set).
    pub ack: u32,
    /// TCP flags.
    pub flags: TcpFlags,
    /// Receive window (unscaled, as on the wire).
    pub window: u16,
    /// TCP options (MSS, window scale, SACK, timestamps...), at most 40 bytes.
    pub options: Vec<TcpOptionElement>,
    /// Payload bytes after the TCP header.
    pub payload: Vec<u8>,
    /// Optional IPv4 options / IPv6 extension headers before TCP.
    pub ip_extras: IpExtras,
}

impl Segment {
    /// A segment with no options, no payload and a typical 64240-byte window.
    pub fn new(
        ts_ns: u64,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
    ) -> Segment {
        Segment {
            ts_ns,
            src,
            dst,
            seq,
            ack,
            flags,
            window: 64240,
            options: Vec::new(),
            payload: Vec::new(),
            ip_extras: IpExtras::None,
        }
    }
}

/// Non-TCP and deliberately odd frames, so readers can be tested on traffic
/// they must skip or count as undecodable rather than track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Special {
    /// A UDP datagram.
    Udp {
        /// Sender.
        src: SocketAddr,
        /// Receiver.
        dst: SocketAddr,
        /// Datagram payload.
        payload: Vec<u8>,
    },
    /// An ICMP (v4) or ICMPv6 echo request or reply with 16 filler bytes.
    IcmpEcho {
        /// Sender.
        src: IpAddr,
        /// Receiver.
        dst: IpAddr,
        /// Echo identifier.
        id: u16,
        /// Echo sequence number.
        seq: u16,
        /// Reply instead of request.
        reply: bool,
    },
    /// An ARP who-has request (broadcast); Ethernet-family links only.
    Arp {
        /// Who asks.
        sender: Ipv4Addr,
        /// Who is being looked for.
        target: Ipv4Addr,
    },
    /// Any other non-IP frame (e.g. 0x88b5, IEEE local experimental) with
    /// filler payload; Ethernet-family links only.
    NonIp {
        /// Ethertype of the payload.
        ether_type: u16,
        /// Number of payload bytes.
        payload_len: usize,
    },
    /// One IPv4 fragment with a hand-set offset and MF bit; see
    /// [`fragment_tcp`] for splitting a TCP segment.
    Ipv4Fragment {
        /// Sender.
        src: Ipv4Addr,
        /// Receiver.
        dst: Ipv4Addr,
        /// IP identification shared by all fragments of a datagram.
        id: u16,
        /// IP protocol of the reassembled datagram (6 = TCP).
        protocol: u8,
        /// Offset of `data` in the datagram, in bytes (multiple of 8).
        offset: u16,
        /// More-fragments flag.
        more_fragments: bool,
        /// Fragment data.
        data: Vec<u8>,
    },
    /// One IPv6 fragment (a fragment extension header, RFC 8200 section 4.5);
    /// see [`fragment_tcp_v6`].
    Ipv6Fragment {
        /// Sender.
        src: std::net::Ipv6Addr,
        /// Receiver.
        dst: std::net::Ipv6Addr,
        /// Identification shared by all fragments of a datagram.
        id: u32,
        /// Next header of the reassembled datagram (6 = TCP).
        next_header: u8,
        /// Offset of `data` in the fragmentable part, in bytes (multiple of 8).
        offset: u16,
        /// More-fragments flag.
        more_fragments: bool,
        /// Fragment data.
        data: Vec<u8>,
    },
    /// A frame that announces IPv4 but carries only the first 12 bytes of
    /// the IPv4 header: undecodable.
    TruncatedIpv4 {
        /// Source written into the partial header.
        src: Ipv4Addr,
        /// Destination (not actually present: the header is cut before it).
        dst: Ipv4Addr,
    },
    /// A TCP segment whose checksum field is wrong (inverted), as a capture
    /// host with checksum offload, or a corrupting link, would record it.
    BadTcpChecksum {
        /// The segment to damage.
        seg: Segment,
    },
    /// A TCP segment whose data-offset nibble is overwritten (values below 5
    /// are invalid: the header would be shorter than its fixed part).
    BadTcpDataOffset {
        /// The segment to damage.
        seg: Segment,
        /// Data offset in 32-bit words written into the header (0..=15).
        data_offset: u8,
    },
}

/// One capture record: a TCP segment or a [`Special`] frame with its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// A TCP segment (carries its own timestamp).
    Tcp(Segment),
    /// A non-TCP or malformed frame.
    Other {
        /// Capture timestamp, nanoseconds since the Unix epoch.
        ts_ns: u64,
        /// What to put in the frame.
        special: Special,
    },
}

impl Packet {
    /// Capture timestamp in nanoseconds; sort by this to interleave
    /// several conversations.
    pub fn ts_ns(&self) -> u64 {
        match self {
            Packet::Tcp(seg) => seg.ts_ns,
            Packet::Other { ts_ns, .. } => *ts_ns,
        }
    }
}

impl From<Segment> for Packet {
    fn from(seg: Segment) -> Packet {
        Packet::Tcp(seg)
    }
}

/// Deterministic payload bytes: lowercase letters keyed by sequence number,
/// so a retransmission carries the same bytes as the original and payloads
/// are readable in a hex dump.
pub fn filler(first_seq: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b'a' + (first_seq.wrapping_add(i as u32) % 26) as u8)
        .collect()
}

/// Locally administered MAC derived from an IP address, so frames of one
/// host always carry the same MAC without a lookup table.
fn mac_for(ip: IpAddr) -> [u8; 6] {
    let tail = match ip {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => {
            // Fold all 16 bytes so 2001:db8:1::1 and 2001:db8:2::1 differ.
            let o = v6.octets();
            std::array::from_fn(|i| o[i] ^ o[i + 4] ^ o[i + 8] ^ o[i + 12])
        }
    };
    [0x02, 0x00, tail[0], tail[1], tail[2], tail[3]]
}

const BROADCAST_MAC: [u8; 6] = [0xff; 6];
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_ARP: u16 = 0x0806;

/// A network-layer packet plus what the link header needs to know about it.
struct NetPacket {
    ether_type: u16,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    bytes: Vec<u8>,
}

/// IPv4 or IPv6 header for `src -> dst` (protocol and lengths are filled in
/// by `PacketBuilder`). Panics on mixed address families.
fn ip_headers(src: IpAddr, dst: IpAddr, extras: &IpExtras) -> IpHeaders {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut header = Ipv4Header::new(0, 64, ip_number::TCP, s.octets(), d.octets())
                .expect("empty payload always fits");
            match extras {
                IpExtras::None => {}
                IpExtras::Ipv4Options(options) => {
                    header.options = Ipv4Options::try_from(&options[..])
                        .expect("IPv4 options must be a multiple of 4 bytes, at most 40")
                }
                IpExtras::Ipv6HopByHopAndDestOpts => {
                    panic!("IPv6 extension headers requested on an IPv4 packet")
                }
            }
            IpHeaders::Ipv4(header, Ipv4Extensions::default())
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let header = Ipv6Header {
                traffic_class: 0,
                flow_label: Ipv6FlowLabel::ZERO,
                payload_length: 0,
                next_header: ip_number::TCP,
                hop_limit: 64,
                source: s.octets(),
                destination: d.octets(),
            };
            let mut exts = Ipv6Extensions::default();
            match extras {
                IpExtras::None => {}
                IpExtras::Ipv4Options(_) => panic!("IPv4 options requested on an IPv6 packet"),
                IpExtras::Ipv6HopByHopAndDestOpts => {
                    // PadN option filling the 6 bytes after next-header/length.
                    const PADN: [u8; 6] = [1, 4, 0, 0, 0, 0];
                    // next_header values are rewritten by PacketBuilder.
                    exts.hop_by_hop_options =
                        Some(Ipv6RawExtHeader::new_raw(ip_number::TCP, &PADN).expect("valid"));
                    exts.destination_options =
                        Some(Ipv6RawExtHeader::new_raw(ip_number::TCP, &PADN).expect("valid"));
                }
            }
            IpHeaders::Ipv6(header, exts)
        }
        _ => panic!("mixed IPv4/IPv6 addresses: {src} -> {dst}"),
    }
}

fn ether_type_of(ip: IpAddr) -> u16 {
    match ip {
        IpAddr::V4(_) => ETHERTYPE_IPV4,
        IpAddr::V6(_) => ETHERTYPE_IPV6,
    }
}

/// IP packet carrying `seg`, and the offset of the TCP header inside it.
fn tcp_ip_packet(seg: &Segment) -> (NetPacket, usize) {
    let mut tcp = TcpHeader::new(seg.src.port(), seg.dst.port(), seg.seq, seg.window);
    tcp.acknowledgment_number = seg.ack;
    let f = seg.flags;
    tcp.fin = f.contains(TcpFlags::FIN);
    tcp.syn = f.contains(TcpFlags::SYN);
    tcp.rst = f.contains(TcpFlags::RST);
    tcp.psh = f.contains(TcpFlags::PSH);
    tcp.ack = f.contains(TcpFlags::ACK);
    tcp.urg = f.contains(TcpFlags::URG);
    tcp.ece = f.contains(TcpFlags::ECE);
    tcp.cwr = f.contains(TcpFlags::CWR);
    tcp.ns = f.contains(TcpFlags::NS);
    tcp.set_options(&seg.options)
        .expect("TCP options longer than 40 bytes");
    let ip = ip_headers(seg.src.ip(), seg.dst.ip(), &seg.ip_extras);
    let tcp_offset = match &ip {
        IpHeaders::Ipv4(h, _) => h.header_len(),
        IpHeaders::Ipv6(_, exts) => Ipv6Header::LEN + exts.header_len(),
    };
    let mut bytes = Vec::new();
    PacketBuilder::ip(ip)
        .tcp_header(tcp)
        .write(&mut bytes, &seg.payload)
        .expect("segment fits in an IP packet");
    let net = NetPacket {
        ether_type: ether_type_of(seg.src.ip()),
        src_mac: mac_for(seg.src.ip()),
        dst_mac: mac_for(seg.dst.ip()),
        bytes,
    };
    (net, tcp_offset)
}

fn special_packet(special: &Special) -> NetPacket {
    match special {
        Special::Udp { src, dst, payload } => {
            let mut bytes = Vec::new();
            PacketBuilder::ip(ip_headers(src.ip(), dst.ip(), &IpExtras::None))
                .udp(src.port(), dst.port())
                .write(&mut bytes, payload)
                .expect("UDP datagram fits");
            NetPacket {
                ether_type: ether_type_of(src.ip()),
                src_mac: mac_for(src.ip()),
                dst_mac: mac_for(dst.ip()),
                bytes,
            }
        }
        Special::IcmpEcho {
            src,
            dst,
            id,
            seq,
            reply,
        } => {
            let mut bytes = Vec::new();
            let ip = PacketBuilder::ip(ip_headers(*src, *dst, &IpExtras::None));
            let payload = filler(0, 16);
            let written = match (src, reply) {
                (IpAddr::V4(_), false) => ip
                    .icmpv4_echo_request(*id, *seq)
                    .write(&mut bytes, &payload),
                (IpAddr::V4(_), true) => {
                    ip.icmpv4_echo_reply(*id, *seq).write(&mut bytes, &payload)
                }
                (IpAddr::V6(_), false) => ip
                    .icmpv6_echo_request(*id, *seq)
                    .write(&mut bytes, &payload),
                (IpAddr::V6(_), true) => {
                    ip.icmpv6_echo_reply(*id, *seq).write(&mut bytes, &payload)
                }
            };
            written.expect("ICMP echo fits");
            NetPacket {
                ether_type: ether_type_of(*src),
                src_mac: mac_for(*src),
                dst_mac: mac_for(*dst),
                bytes,
            }
        }
        Special::Arp { sender, target } => {
            let sender_mac = mac_for(IpAddr::V4(*sender));
            let arp = ArpEthIpv4Packet {
                operation: ArpOperation::REQUEST,
                sender_mac,
                sender_ipv4: sender.octets(),
                target_mac: [0; 6],
                target_ipv4: target.octets(),
            };
            NetPacket {
                ether_type: ETHERTYPE_ARP,
                src_mac: sender_mac,
                dst_mac: BROADCAST_MAC,
                bytes: arp.to_bytes().to_vec(),
            }
        }
        Special::NonIp {
            ether_type,
            payload_len,
        } => NetPacket {
            ether_type: *ether_type,
            src_mac: [0x02, 0, 0, 0, 0, 0xfe],
            dst_mac: BROADCAST_MAC,
            bytes: filler(0, *payload_len),
        },
        Special::Ipv4Fragment {
            src,
            dst,
            id,
            protocol,
            offset,
            more_fragments,
            data,
        } => {
            assert!(offset % 8 == 0, "fragment offset must be a multiple of 8");
            let mut header = Ipv4Header::new(
                u16::try_from(data.len()).expect("fragment too long"),
                64,
                IpNumber(*protocol),
                src.octets(),
                dst.octets(),
            )
            .expect("fragment too long");
            header.identification = *id;
            header.dont_fragment = false;
            header.more_fragments = *more_fragments;
            header.fragment_offset = IpFragOffset::try_new(offset / 8).expect("offset fits");
            header.header_checksum = header.calc_header_checksum();
            let mut bytes = header.to_bytes().to_vec();
            bytes.extend_from_slice(data);
            NetPacket {
                ether_type: ETHERTYPE_IPV4,
                src_mac: mac_for(IpAddr::V4(*src)),
                dst_mac: mac_for(IpAddr::V4(*dst)),
                bytes,
            }
        }
        Special::Ipv6Fragment {
            src,
            dst,
            id,
            next_header,
            offset,
            more_fragments,
            data,
        } => {
            assert!(offset % 8 == 0, "fragment offset must be a multiple of 8");
            let mut bytes = Vec::with_capacity(48 + data.len());
            bytes.extend_from_slice(&[0x60, 0, 0, 0]);
            let payload_len = u16::try_from(8 + data.len()).expect("fragment too long");
            bytes.extend_from_slice(&payload_len.to_be_bytes());
            bytes.push(44); // next header: fragment
            bytes.push(64); // hop limit
            bytes.extend_from_slice(&src.octets());
            bytes.extend_from_slice(&dst.octets());
            bytes.push(*next_header);
            bytes.push(0);
            bytes.extend_from_slice(&(offset | u16::from(*more_fragments)).to_be_bytes());
            bytes.extend_from_slice(&id.to_be_bytes());
            bytes.extend_from_slice(data);
            NetPacket {
                ether_type: ETHERTYPE_IPV6,
                src_mac: mac_for(IpAddr::V6(*src)),
                dst_mac: mac_for(IpAddr::V6(*dst)),
                bytes,
            }
        }
        Special::TruncatedIpv4 { src, dst } => {
            let mut header =
                Ipv4Header::new(20, 64, ip_number::TCP, src.octets(), dst.octets()).expect("fits");
            header.header_checksum = header.calc_header_checksum();
            NetPacket {
                ether_type: ETHERTYPE_IPV4,
                src_mac: mac_for(IpAddr::V4(*src)),
                dst_mac: mac_for(IpAddr::V4(*dst)),
                bytes: header.to_bytes()[..12].to_vec(),
            }
        }
        Special::BadTcpChecksum { seg } => {
            let (mut net, tcp_offset) = tcp_ip_packet(seg);
            for b in &mut net.bytes[tcp_offset + 16..tcp_offset + 18] {
                *b = !*b;
            }
            net
        }
        Special::BadTcpDataOffset { seg, data_offset } => {
            assert!(*data_offset < 16, "data offset is a 4-bit field");
            let (mut net, tcp_offset) = tcp_ip_packet(seg);
            let byte = &mut net.bytes[tcp_offset + 12];
            *byte = (data_offset << 4) | (*byte & 0x0f);
            net
        }
    }
}

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
    assert!(first_len % 8 == 0 && first_len < transport.len());
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

/// An encapsulation wrapped around a packet between the link layer and its
/// IP header, so decoders can be tested on tunnelled traffic. Outer
/// addresses must be of one family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wrap {
    /// One 802.1Q tag (TPID 0x8100) with this VLAN id.
    Vlan(u16),
    /// An MPLS label stack (outermost first; bottom-of-stack set on the last).
    Mpls(Vec<u32>),
    /// A PPPoE session (RFC 2516) with PPP protocol IPv4 or IPv6.
    Pppoe(u16),
    /// GRE (RFC 2784/2890) carrying the IP packet directly, with the
    /// optional checksum, key and sequence number fields.
    Gre {
        /// Outer source.
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
        /// Write the checksum field (value 0: nobody checks it here).
        checksum: bool,
        /// GRE key.
        key: Option<u32>,
        /// GRE sequence number.
        seq: Option<u32>,
    },
    /// GRE transparent Ethernet bridging (0x6558): a whole Ethernet frame.
    GreEthernet {
        /// Outer source.
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
        /// GRE key.
        key: Option<u32>,
    },
    /// ERSPAN over GRE: type 1 (no header, no GRE sequence), 2 or 3, with
    /// an Ethernet frame inside.
    Erspan {
        /// Outer source.
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
        /// 1, 2 or 3.
        version: u8,
        /// 10-bit session id (types 2 and 3).
        session: u16,
    },
    /// VXLAN (RFC 7348) on UDP 4789, with an Ethernet frame inside.
    Vxlan {
        /// Outer source.
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
        /// 24-bit network identifier.
        vni: u32,
    },
    /// Geneve (RFC 8926) on UDP 6081 with one 8-byte option, Ethernet inside.
    Geneve {
        /// Outer source.
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
        /// 24-bit network identifier.
        vni: u32,
    },
    /// IPv4 or IPv6 directly inside IPv4 or IPv6 (protocol 4 or 41).
    IpInIp {
        /// Outer source.
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
    },
    /// Teredo (RFC 4380): IPv6 in UDP/IPv4, port 3544 on the server side,
    /// optionally after an origin indication.
    Teredo {
        /// Outer source (address and port).
        src: SocketAddr,
        /// Outer destination (address and port).
        dst: SocketAddr,
        /// Prefix an origin indication (as a relay does towards a client).
        origin: bool,
    },
}

/// Raw IP packet `src -> dst` of protocol `protocol` around `payload`.
fn raw_ip(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + payload.len());
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = Ipv4Header::new(
                u16::try_from(payload.len()).expect("payload fits"),
                64,
                IpNumber(protocol),
                s.octets(),
                d.octets(),
            )
            .expect("payload fits");
            h.header_checksum = h.calc_header_checksum();
            out.extend_from_slice(&h.to_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let h = Ipv6Header {
                traffic_class: 0,
                flow_label: Ipv6FlowLabel::ZERO,
                payload_length: u16::try_from(payload.len()).expect("payload fits"),
                next_header: IpNumber(protocol),
                hop_limit: 64,
                source: s.octets(),
                destination: d.octets(),
            };
            out.extend_from_slice(&h.to_bytes());
        }
        _ => panic!("mixed IPv4/IPv6 outer addresses: {src} -> {dst}"),
    }
    out.extend_from_slice(payload);
    out
}

/// UDP datagram `src -> dst` around `payload`, with its IP header.
fn udp_ip(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ip(ip_headers(src.ip(), dst.ip(), &IpExtras::None))
        .udp(src.port(), dst.port())
        .write(&mut bytes, payload)
        .expect("UDP datagram fits");
    bytes
}

/// The Ethernet frame of a network packet (for tunnels that carry Ethernet).
fn ethernet_bytes(net: &NetPacket) -> Vec<u8> {
    let eth = Ethernet2Header {
        source: net.src_mac,
        destination: net.dst_mac,
        ether_type: EtherType(net.ether_type),
    };
    let mut out = eth.to_bytes().to_vec();
    out.extend_from_slice(&net.bytes);
    out
}

/// Entropy source port of a UDP tunnel, fixed per outer address pair so
/// generated files are stable.
fn tunnel_port(src: IpAddr) -> u16 {
    49152 + (mac_for(src)[5] as u16)
}

fn outer(src: IpAddr, dst: IpAddr, bytes: Vec<u8>) -> NetPacket {
    NetPacket {
        ether_type: ether_type_of(src),
        src_mac: mac_for(src),
        dst_mac: mac_for(dst),
        bytes,
    }
}

/// Applies one wrapper around a network packet.
fn wrap_once(net: NetPacket, wrap: &Wrap) -> NetPacket {
    match wrap {
        Wrap::Vlan(vid) => {
            let mut bytes = (vid & 0x0fff).to_be_bytes().to_vec();
            bytes.extend_from_slice(&net.ether_type.to_be_bytes());
            bytes.extend_from_slice(&net.bytes);
            NetPacket {
                ether_type: 0x8100,
                bytes,
                ..net
            }
        }
        Wrap::Mpls(labels) => {
            let mut bytes = Vec::new();
            for (i, label) in labels.iter().enumerate() {
                let bottom = u32::from(i + 1 == labels.len());
                bytes.extend_from_slice(&((label << 12) | (bottom << 8) | 64).to_be_bytes());
            }
            bytes.extend_from_slice(&net.bytes);
            NetPacket {
                ether_type: 0x8847,
                bytes,
                ..net
            }
        }
        Wrap::Pppoe(session) => {
            let ppp = match net.ether_type {
                ETHERTYPE_IPV4 => 0x0021u16,
                ETHERTYPE_IPV6 => 0x0057,
                other => panic!("PPPoE carries IP only, not {other:#06x}"),
            };
            let len = u16::try_from(net.bytes.len() + 2).expect("fits");
            let mut bytes = vec![0x11, 0x00];
            bytes.extend_from_slice(&session.to_be_bytes());
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&ppp.to_be_bytes());
            bytes.extend_from_slice(&net.bytes);
            NetPacket {
                ether_type: 0x8864,
                bytes,
                ..net
            }
        }
        Wrap::Gre {
            src,
            dst,
            checksum,
            key,
            seq,
        } => {
            let mut flags = 0u16;
            let mut fields = Vec::new();
            if *checksum {
                flags |= 0x8000;
                fields.extend_from_slice(&[0; 4]);
            }
            if let Some(k) = key {
                flags |= 0x2000;
                fields.extend_from_slice(&k.to_be_bytes());
            }
            if let Some(s) = seq {
                flags |= 0x1000;
                fields.extend_from_slice(&s.to_be_bytes());
            }
            let mut gre = flags.to_be_bytes().to_vec();
            gre.extend_from_slice(&net.ether_type.to_be_bytes());
            gre.extend_from_slice(&fields);
            gre.extend_from_slice(&net.bytes);
            outer(*src, *dst, raw_ip(*src, *dst, 47, &gre))
        }
        Wrap::GreEthernet { src, dst, key } => {
            let mut gre = Vec::new();
            gre.extend_from_slice(&(if key.is_some() { 0x2000u16 } else { 0 }).to_be_bytes());
            gre.extend_from_slice(&0x6558u16.to_be_bytes());
            if let Some(k) = key {
                gre.extend_from_slice(&k.to_be_bytes());
            }
            gre.extend_from_slice(&ethernet_bytes(&net));
            outer(*src, *dst, raw_ip(*src, *dst, 47, &gre))
        }
        Wrap::Erspan {
            src,
            dst,
            version,
            session,
        } => {
            let mut gre = Vec::new();
            match version {
                1 => {
                    gre.extend_from_slice(&[0x00, 0x00, 0x88, 0xbe]);
                }
                2 => {
                    gre.extend_from_slice(&[0x10, 0x00, 0x88, 0xbe]);
                    gre.extend_from_slice(&1u32.to_be_bytes()); // GRE sequence
                    gre.extend_from_slice(&0x1000u16.to_be_bytes()); // ver 1, VLAN 0
                    gre.extend_from_slice(&(session & 0x03ff).to_be_bytes());
                    gre.extend_from_slice(&[0; 4]); // reserved, index
                }
                3 => {
                    gre.extend_from_slice(&[0x10, 0x00, 0x22, 0xeb]);
                    gre.extend_from_slice(&1u32.to_be_bytes()); // GRE sequence
                    gre.extend_from_slice(&0x2000u16.to_be_bytes()); // ver 2, VLAN 0
                    gre.extend_from_slice(&(session & 0x03ff).to_be_bytes());
                    gre.extend_from_slice(&[0; 4]); // timestamp
                    gre.extend_from_slice(&[0; 4]); // SGT, P, FT 0 (Ethernet), HW id, D, Gra, O 0
                }
                v => panic!("ERSPAN type {v} does not exist"),
            }
            gre.extend_from_slice(&ethernet_bytes(&net));
            outer(*src, *dst, raw_ip(*src, *dst, 47, &gre))
        }
        Wrap::Vxlan { src, dst, vni } => {
            let mut v = vec![0x08, 0, 0, 0];
            v.extend_from_slice(&(vni << 8).to_be_bytes());
            v.extend_from_slice(&ethernet_bytes(&net));
            let (s, d) = (
                SocketAddr::new(*src, tunnel_port(*src)),
                SocketAddr::new(*dst, 4789),
            );
            outer(*src, *dst, udp_ip(s, d, &v))
        }
        Wrap::Geneve { src, dst, vni } => {
            // Version 0, one option of 8 bytes (length 2 words): class 0x0101, type 1.
            let mut g = vec![0x02, 0x00, 0x65, 0x58];
            g.extend_from_slice(&(vni << 8).to_be_bytes());
            g.extend_from_slice(&[0x01, 0x01, 0x01, 0x01, 0, 0, 0, 7]);
            g.extend_from_slice(&ethernet_bytes(&net));
            let (s, d) = (
                SocketAddr::new(*src, tunnel_port(*src)),
                SocketAddr::new(*dst, 6081),
            );
            outer(*src, *dst, udp_ip(s, d, &g))
        }
        Wrap::IpInIp { src, dst } => {
            let protocol = if net.ether_type == ETHERTYPE_IPV6 {
                41
            } else {
                4
            };
            outer(*src, *dst, raw_ip(*src, *dst, protocol, &net.bytes))
        }
        Wrap::Teredo { src, dst, origin } => {
            assert_eq!(net.ether_type, ETHERTYPE_IPV6, "Teredo carries IPv6");
            let mut t = Vec::new();
            if *origin {
                t.extend_from_slice(&[0, 0]);
                t.extend_from_slice(&(!src.port()).to_be_bytes());
                if let IpAddr::V4(a) = src.ip() {
                    t.extend(a.octets().iter().map(|b| !b));
                }
            }
            t.extend_from_slice(&net.bytes);
            outer(src.ip(), dst.ip(), udp_ip(*src, *dst, &t))
        }
    }
}

impl Wrap {
    /// The same tunnel used by the other end: outer addresses (and Teredo
    /// ports) swapped. ERSPAN mirrors both directions from one switch to one
    /// collector, so it stays as it is; Teredo's origin indication only goes
    /// towards the client.
    pub fn reversed(&self) -> Wrap {
        match self.clone() {
            Wrap::Gre {
                src,
                dst,
                checksum,
                key,
                seq,
            } => Wrap::Gre {
                src: dst,
                dst: src,
                checksum,
                key,
                seq,
            },
            Wrap::GreEthernet { src, dst, key } => Wrap::GreEthernet {
                src: dst,
                dst: src,
                key,
            },
            Wrap::Vxlan { src, dst, vni } => Wrap::Vxlan {
                src: dst,
                dst: src,
                vni,
            },
            Wrap::Geneve { src, dst, vni } => Wrap::Geneve {
                src: dst,
                dst: src,
                vni,
            },
            Wrap::IpInIp { src, dst } => Wrap::IpInIp { src: dst, dst: src },
            Wrap::Teredo { src, dst, origin } => Wrap::Teredo {
                src: dst,
                dst: src,
                origin: !origin,
            },
            other => other,
        }
    }
}

/// Splits a whole IPv4 packet (20-byte header) into two fragments after
/// `first_len` payload bytes (a multiple of 8), keeping its protocol: for
/// fragmenting a tunnel's outer packet.
pub fn fragment_ipv4_packet(ip: &[u8], first_len: usize, id: u16) -> (Special, Special) {
    assert!(ip.len() > 20 && ip[0] == 0x45, "plain IPv4 header expected");
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let payload = &ip[20..];
    assert!(first_len % 8 == 0 && first_len < payload.len());
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

/// Full link-layer frame for `packet` inside `wraps` (outermost first).
pub fn wrapped_frame(link: &Link, order: ByteOrder, packet: &Packet, wraps: &[Wrap]) -> Vec<u8> {
    let mut net = match packet {
        Packet::Tcp(seg) => tcp_ip_packet(seg).0,
        Packet::Other { special, .. } => special_packet(special),
    };
    for w in wraps.iter().rev() {
        net = wrap_once(net, w);
    }
    encapsulate(link, order, net)
}

/// Wraps a network-layer packet in the link header of `link`. `order` only
/// matters for [`Link::Null`], whose address family is in host byte order.
fn encapsulate(link: &Link, order: ByteOrder, net: NetPacket) -> Vec<u8> {
    let is_ip = net.ether_type == ETHERTYPE_IPV4 || net.ether_type == ETHERTYPE_IPV6;
    let af = || -> u32 {
        match net.ether_type {
            ETHERTYPE_IPV4 => AF_INET,
            ETHERTYPE_IPV6 => AF_INET6,
            other => panic!("ethertype {other:#06x} cannot be carried on {link:?}"),
        }
    };
    let mut out = Vec::with_capacity(net.bytes.len() + 24);
    match link {
        Link::Ethernet | Link::Other(_) => {
            let eth = Ethernet2Header {
                source: net.src_mac,
                destination: net.dst_mac,
                ether_type: EtherType(net.ether_type),
            };
            out.extend_from_slice(&eth.to_bytes());
        }
        Link::EthernetVlan(tags) => {
            let first_tpid = match tags.len() {
                0 => net.ether_type,
                1 => 0x8100,
                _ => 0x88a8,
            };
            let eth = Ethernet2Header {
                source: net.src_mac,
                destination: net.dst_mac,
                ether_type: EtherType(first_tpid),
            };
            out.extend_from_slice(&eth.to_bytes());
            for (i, &tag) in tags.iter().enumerate() {
                let next = if i + 1 < tags.len() {
                    0x8100
                } else {
                    net.ether_type
                };
                let vlan = SingleVlanHeader {
                    vlan_id: VlanId::try_new(tag).expect("VLAN id is 12 bits"),
                    ether_type: EtherType(next),
                    ..Default::default()
                };
                out.extend_from_slice(&vlan.to_bytes());
            }
        }
        Link::LinuxSll => {
            let mut address = [0u8; 8];
            address[..6].copy_from_slice(&net.src_mac);
            let sll = LinuxSllHeader {
                packet_type: LinuxSllPacketType::HOST,
                arp_hrd_type: etherparse::ArpHardwareId::ETHERNET,
                sender_address_valid_length: 6,
                sender_address: address,
                protocol_type: LinuxSllProtocolType::EtherType(EtherType(net.ether_type)),
            };
            out.extend_from_slice(&sll.to_bytes());
        }
        Link::LinuxSll2 => {
            // etherparse has no SLL2 type; the layout is fixed and simple.
            out.extend_from_slice(&net.ether_type.to_be_bytes()); // protocol type
            out.extend_from_slice(&0u16.to_be_bytes()); // reserved
            out.extend_from_slice(&1u32.to_be_bytes()); // interface index
            out.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
            out.push(0); // packet type: PACKET_HOST
            out.push(6); // address length
            out.extend_from_slice(&net.src_mac);
            out.extend_from_slice(&[0, 0]); // address padding to 8 bytes
        }
        Link::Raw => assert!(is_ip, "LINKTYPE_RAW carries IP only"),
        Link::Ipv4 => assert_eq!(net.ether_type, ETHERTYPE_IPV4, "LINKTYPE_IPV4 is IPv4 only"),
        Link::Ipv6 => assert_eq!(net.ether_type, ETHERTYPE_IPV6, "LINKTYPE_IPV6 is IPv6 only"),
        Link::Null => out.extend_from_slice(&order.u32(af())),
        Link::Loop => out.extend_from_slice(&af().to_be_bytes()),
    }
    out.extend_from_slice(&net.bytes);
    out
}

/// Full link-layer frame for a TCP segment. A [`Link::Null`] header is
/// written little-endian here; the writers use their file's byte order.
pub fn frame(link: &Link, seg: &Segment) -> Vec<u8> {
    encapsulate(link, ByteOrder::Little, tcp_ip_packet(seg).0)
}

/// Full link-layer frame for any [`Packet`]; `order` is the byte order of
/// the file it goes into (only used by [`Link::Null`]).
pub fn packet_frame(link: &Link, order: ByteOrder, packet: &Packet) -> Vec<u8> {
    let net = match packet {
        Packet::Tcp(seg) => tcp_ip_packet(seg).0,
        Packet::Other { special, .. } => special_packet(special),
    };
    encapsulate(link, order, net)
}

/// Timestamp resolution of a classic pcap file (selected by its magic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TsPrecision {
    /// Magic 0xa1b2c3d4: the fraction field counts microseconds.
    #[default]
    Micros,
    /// Magic 0xa1b23c4d: the fraction field counts nanoseconds.
    Nanos,
}

/// Layout choices of a classic pcap file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapFormat {
    /// File byte order.
    pub order: ByteOrder,
    /// Timestamp resolution.
    pub precision: TsPrecision,
    /// Snapshot length: longer frames are cut to this, keeping origlen.
    pub snaplen: u32,
}

impl Default for PcapFormat {
    /// Little-endian, microseconds, snaplen 262144 (tcpdump's default).
    fn default() -> PcapFormat {
        PcapFormat {
            order: ByteOrder::Little,
            precision: TsPrecision::Micros,
            snaplen: 262_144,
        }
    }
}

/// Classic libpcap file writer (one link type per file).
pub struct PcapWriter<W: Write> {
    out: W,
    link: Link,
    format: PcapFormat,
    position: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte global header.
    pub fn new(out: W, link: Link, format: PcapFormat) -> io::Result<PcapWriter<W>> {
        let mut writer = PcapWriter {
            out,
            link,
            format,
            position: 0,
        };
        let order = format.order;
        let magic: u32 = match format.precision {
            TsPrecision::Micros => 0xa1b2_c3d4,
            TsPrecision::Nanos => 0xa1b2_3c4d,
        };
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&order.u32(magic));
        header.extend_from_slice(&order.u16(2)); // version major
        header.extend_from_slice(&order.u16(4)); // version minor
        header.extend_from_slice(&order.u32(0)); // thiszone
        header.extend_from_slice(&order.u32(0)); // sigfigs
        header.extend_from_slice(&order.u32(format.snaplen));
        header.extend_from_slice(&order.u32(u32::from(writer.link.linktype())));
        writer.emit(&header)?;
        Ok(writer)
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Writes one record; the stored bytes are cut to the snaplen while the
    /// record's original length stays `frame.len()`.
    pub fn write_frame(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let caplen = frame.len().min(self.format.snaplen as usize);
        let origlen = u32::try_from(frame.len()).expect("frame too long");
        self.write_raw_record(ts_ns, caplen as u32, origlen, &frame[..caplen])
    }

    /// Builds the frame for `packet` on this file's link and writes it.
    pub fn write_packet(&mut self, packet: &Packet) -> io::Result<()> {
        let frame = packet_frame(&self.link, self.format.order, packet);
        self.write_frame(packet.ts_ns(), &frame)
    }

    /// Writes every packet, in the given order.
    pub fn write_packets<'a>(
        &mut self,
        packets: impl IntoIterator<Item = &'a Packet>,
    ) -> io::Result<()> {
        packets.into_iter().try_for_each(|p| self.write_packet(p))
    }

    /// Writes a record header with exactly the given lengths followed by
    /// `data`, without any consistency check: for deliberately broken files.
    pub fn write_raw_record(
        &mut self,
        ts_ns: u64,
        caplen: u32,
        origlen: u32,
        data: &[u8],
    ) -> io::Result<()> {
        let order = self.format.order;
        let secs = u32::try_from(ts_ns / NS_PER_S).expect("timestamp beyond 2106");
        let frac = match self.format.precision {
            TsPrecision::Micros => (ts_ns % NS_PER_S) / 1_000,
            TsPrecision::Nanos => ts_ns % NS_PER_S,
        } as u32;
        let mut header = Vec::with_capacity(16);
        header.extend_from_slice(&order.u32(secs));
        header.extend_from_slice(&order.u32(frac));
        header.extend_from_slice(&order.u32(caplen));
        header.extend_from_slice(&order.u32(origlen));
        self.emit(&header)?;
        self.emit(data)
    }

    /// Bytes written so far: the offset of the next record, used to report
    /// where a deliberately broken part of a file starts.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One pcapng interface (Interface Description Block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Link type of every packet on this interface.
    pub link: Link,
    /// Snapshot length; 0 means unlimited (pcapng convention).
    pub snaplen: u32,
    /// `if_tsresol`: 6 = µs (default, then the option is omitted), 9 = ns,
    /// `0x80 | n` = 2^-n seconds.
    pub tsresol: u8,
    /// `if_tsoffset` in seconds, added by readers to every stored
    /// timestamp; 0 omits the option.
    pub tsoffset_s: i64,
}

impl Interface {
    /// Interface with µs timestamps, no offset and no snaplen limit.
    pub fn new(link: Link) -> Interface {
        Interface {
            link,
            snaplen: 0,
            tsresol: 6,
            tsoffset_s: 0,
        }
    }

    /// Timestamp units per second for this interface's `if_tsresol`.
    fn units_per_second(&self) -> u128 {
        if self.tsresol & 0x80 != 0 {
            1u128 << (self.tsresol & 0x7f)
        } else {
            10u128.pow(u32::from(self.tsresol))
        }
    }

    /// Stored 64-bit timestamp for absolute time `ts_ns`: offset removed,
    /// then converted to interface units (rounded down).
    pub fn ticks(&self, ts_ns: u64) -> u64 {
        let relative_ns = i128::from(ts_ns) - i128::from(self.tsoffset_s) * i128::from(NS_PER_S);
        let relative_ns = u128::try_from(relative_ns).expect("timestamp before if_tsoffset");
        u64::try_from(relative_ns * self.units_per_second() / u128::from(NS_PER_S))
            .expect("timestamp overflows 64 bits")
    }

    fn captured<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        if self.snaplen == 0 {
            frame
        } else {
            &frame[..frame.len().min(self.snaplen as usize)]
        }
    }
}

/// pcapng block type numbers used by the writer.
const BLOCK_SHB: u32 = 0x0A0D_0D0A;
const BLOCK_IDB: u32 = 1;
const BLOCK_OBSOLETE_PB: u32 = 2;
const BLOCK_SPB: u32 = 3;
const BLOCK_EPB: u32 = 6;

/// pcapng writer: sections, interfaces and the three packet block kinds.
pub struct PcapNgWriter<W: Write> {
    out: W,
    order: ByteOrder,
    interfaces: Vec<Interface>,
    /// Number of sections started (1-based), used in interface names.
    section: u32,
    position: u64,
}

impl<W: Write> PcapNgWriter<W> {
    /// Writes the first Section Header Block.
    pub fn new(out: W, order: ByteOrder) -> io::Result<PcapNgWriter<W>> {
        let mut writer = PcapNgWriter {
            out,
            order,
            interfaces: Vec::new(),
            section: 0,
            position: 0,
        };
        writer.new_section()?;
        Ok(writer)
    }

    /// Starts a new section (new SHB); interface ids restart at 0, so
    /// readers must forget the previous section's interfaces.
    pub fn new_section(&mut self) -> io::Result<()> {
        self.interfaces.clear();
        self.section += 1;
        let o = self.order;
        let mut body = Vec::new();
        body.extend_from_slice(&o.u32(0x1A2B_3C4D)); // byte-order magic
        body.extend_from_slice(&o.u16(1)); // major
        body.extend_from_slice(&o.u16(0)); // minor
        body.extend_from_slice(&o.u64(u64::MAX)); // section length: unknown (-1)
        self.push_option(&mut body, 4, b"tcpstate synth"); // shb_userappl
        self.push_option(&mut body, 0, &[]); // opt_endofopt
        self.write_block(BLOCK_SHB, &body)
    }

    /// Adds an Interface Description Block; returns the interface id.
    pub fn add_interface(&mut self, iface: Interface) -> io::Result<u32> {
        let o = self.order;
        let mut body = Vec::new();
        body.extend_from_slice(&o.u16(iface.link.linktype()));
        body.extend_from_slice(&o.u16(0)); // reserved
        body.extend_from_slice(&o.u32(iface.snaplen));
        let id = self.interfaces.len() as u32;
        let name = format!("s{}if{id}", self.section);
        self.push_option(&mut body, 2, name.as_bytes()); // if_name
        if iface.tsresol != 6 {
            self.push_option(&mut body, 9, &[iface.tsresol]);
        }
        if iface.tsoffset_s != 0 {
            self.push_option(&mut body, 14, &o.u64(iface.tsoffset_s as u64));
        }
        self.push_option(&mut body, 0, &[]);
        self.write_block(BLOCK_IDB, &body)?;
        self.interfaces.push(iface);
        Ok(id)
    }

    fn interface(&self, id: u32) -> &Interface {
        self.interfaces
            .get(id as usize)
            .unwrap_or_else(|| panic!("interface {id} not defined in this section"))
    }

    /// Frame for `packet` on interface `iface` (its link, this file's order).
    pub fn frame_for(&self, iface: u32, packet: &Packet) -> Vec<u8> {
        packet_frame(&self.interface(iface).link, self.order, packet)
    }

    /// Writes an Enhanced Packet Block; data is cut to the interface snaplen.
    pub fn write_epb(&mut self, iface: u32, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let o = self.order;
        let interface = self.interface(iface);
        let ticks = interface.ticks(ts_ns);
        let data = interface.captured(frame);
        let mut body = Vec::with_capacity(20 + data.len());
        body.extend_from_slice(&o.u32(iface));
        body.extend_from_slice(&o.u32((ticks >> 32) as u32));
        body.extend_from_slice(&o.u32(ticks as u32));
        body.extend_from_slice(&o.u32(data.len() as u32));
        body.extend_from_slice(&o.u32(frame.len() as u32));
        body.extend_from_slice(data);
        self.write_block(BLOCK_EPB, &body)
    }

    /// Builds the frame for `packet` on interface `iface` and writes it as an
    /// Enhanced Packet Block (the common case).
    pub fn write_packet(&mut self, iface: u32, packet: &Packet) -> io::Result<()> {
        let frame = self.frame_for(iface, packet);
        self.write_epb(iface, packet.ts_ns(), &frame)
    }

    /// Writes a Simple Packet Block: no timestamp, implicitly interface 0,
    /// data cut to interface 0's snaplen (readers derive the captured length
    /// from original length and snaplen, not from the padded block length).
    pub fn write_spb(&mut self, frame: &[u8]) -> io::Result<()> {
        let data = self.interface(0).captured(frame);
        let mut body = Vec::with_capacity(4 + data.len());
        body.extend_from_slice(&self.order.u32(frame.len() as u32));
        body.extend_from_slice(data);
        self.write_block(BLOCK_SPB, &body)
    }

    /// Writes an obsolete Packet Block (type 2), which old writers produced
    /// and readers should still accept.
    pub fn write_obsolete_pb(&mut self, iface: u16, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let o = self.order;
        let interface = self.interface(u32::from(iface));
        let ticks = interface.ticks(ts_ns);
        let data = interface.captured(frame);
        let mut body = Vec::with_capacity(20 + data.len());
        body.extend_from_slice(&o.u16(iface));
        body.extend_from_slice(&o.u16(0)); // drops count
        body.extend_from_slice(&o.u32((ticks >> 32) as u32));
        body.extend_from_slice(&o.u32(ticks as u32));
        body.extend_from_slice(&o.u32(data.len() as u32));
        body.extend_from_slice(&o.u32(frame.len() as u32));
        body.extend_from_slice(data);
        self.write_block(BLOCK_OBSOLETE_PB, &body)
    }

    /// Writes a block of any type (e.g. an unknown 0x0BAD0BAD that readers
    /// must skip); the body is zero-padded to 32 bits.
    pub fn write_custom_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        self.write_block(block_type, body)
    }

    /// Raw bytes appended as-is, for hand-made broken blocks.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.emit(bytes)
    }

    /// Bytes written so far: the offset of the next block.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Byte order of the current section.
    pub fn order(&self) -> ByteOrder {
        self.order
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    fn push_option(&self, body: &mut Vec<u8>, code: u16, value: &[u8]) {
        body.extend_from_slice(&self.order.u16(code));
        body.extend_from_slice(&self.order.u16(value.len() as u16));
        body.extend_from_slice(value);
        body.resize(body.len().next_multiple_of(4), 0);
    }

    fn write_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        let padded = body.len().next_multiple_of(4);
        let total = u32::try_from(12 + padded).expect("block too long");
        let mut block = Vec::with_capacity(total as usize);
        block.extend_from_slice(&self.order.u32(block_type));
        block.extend_from_slice(&self.order.u32(total));
        block.extend_from_slice(body);
        block.resize(8 + padded, 0);
        block.extend_from_slice(&self.order.u32(total));
        self.emit(&block)
    }
}

/// Which end of a [`Conv`] sends a segment: the same sides the state machines use.
pub use crate::model::Side;

/// The generator's segments as a capture would deliver them to the machines:
/// each one encoded to a raw-IP frame, decoded back by the real decoder, and
/// paired with its sender. For tests of everything downstream of decoding.
pub fn decoded_segments(conv: &Conv) -> Vec<(crate::model::Segment, Side)> {
    use crate::capture::{linktype, RawPacket};
    use crate::decode::{decode, Decoded};
    let client = conv.addr(Side::Client);
    conv.segments()
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let bytes = frame(&Link::Raw, s);
            let raw = RawPacket {
                frame: i as u64 + 1,
                ts_ns: s.ts_ns as i64,
                linktype: linktype::RAW,
                data: &bytes,
                orig_len: bytes.len() as u32,
            };
            let Decoded::Tcp(seg) = decode(&raw) else {
                return None;
            };
            let side = if s.src == client {
                Side::Client
            } else {
                Side::Server
            };
            Some((seg, side))
        })
        .collect()
}

/// Options a modern Linux stack puts on a SYN (MSS 1460, SACK permitted,
/// window scale 7); combine with [`Conv::with_timestamps`] for the full set.
pub fn typical_syn_options() -> Vec<TcpOptionElement> {
    vec![
        TcpOptionElement::MaximumSegmentSize(1460),
        TcpOptionElement::SelectiveAcknowledgementPermitted,
        TcpOptionElement::Noop,
        TcpOptionElement::WindowScale(7),
    ]
}

/// Scripted TCP conversation that tracks both ends' sequence numbers, so
/// scenario code says *what* happens and the numbers come out right.
///
/// Model: every segment produced by [`Conv::send`] (and the helpers built on
/// it) is delivered at once, so the peer's next acknowledgement covers it;
/// [`Conv::raw`] and [`Conv::retransmit_last`] change no state; the two
/// `simultaneous_*` helpers produce crossing segments. SYN and FIN each
/// consume one sequence number; all arithmetic wraps at 2^32. Each segment
/// gets the current time, which then advances by the step (default 1 ms).
#[derive(Clone, Debug)]
pub struct Conv {
    addr: [SocketAddr; 2],
    isn: [u32; 2],
    snd_nxt: [u32; 2],
    rcv_nxt: [Option<u32>; 2],
    syn_options: [Vec<TcpOptionElement>; 2],
    timestamps: bool,
    last_tsval: [u32; 2],
    window: u16,
    now_ns: u64,
    step_ns: u64,
    segments: Vec<Segment>,
}

impl Conv {
    /// New connection before any packet: the client will start with ISN
    /// `isn_client` (the SYN carries it), the server with `isn_server`.
    /// Time starts at [`EPOCH_2026_NS`].
    pub fn new(client: SocketAddr, server: SocketAddr, isn_client: u32, isn_server: u32) -> Conv {
        assert_eq!(
            client.is_ipv4(),
            server.is_ipv4(),
            "client and server must both be IPv4 or both IPv6"
        );
        Conv {
            addr: [client, server],
            isn: [isn_client, isn_server],
            snd_nxt: [isn_client, isn_server],
            rcv_nxt: [None, None],
            syn_options: [Vec::new(), Vec::new()],
            timestamps: false,
            last_tsval: [0, 0],
            window: 64240,
            now_ns: EPOCH_2026_NS,
            step_ns: 1_000_000,
            segments: Vec::new(),
        }
    }

    /// A connection already established before the capture started
    /// (mid-stream start): the next client byte is `seq_client`, the next
    /// server byte `seq_server`, and both ends have seen everything so far.
    pub fn established(
        client: SocketAddr,
        server: SocketAddr,
        seq_client: u32,
        seq_server: u32,
    ) -> Conv {
        let mut conv = Conv::new(client, server, seq_client, seq_server);
        conv.rcv_nxt = [Some(seq_server), Some(seq_client)];
        conv
    }

    /// Sets the time of the next segment.
    pub fn starting_at(mut self, ts_ns: u64) -> Conv {
        self.now_ns = ts_ns;
        self
    }

    /// Sets the time between consecutive segments.
    pub fn with_step(mut self, step_ns: u64) -> Conv {
        self.step_ns = step_ns;
        self
    }

    /// Sets the window field of every following segment.
    pub fn with_window(mut self, window: u16) -> Conv {
        self.window = window;
        self
    }

    /// Options put on `side`'s SYN (or SYN-ACK).
    pub fn with_syn_options(mut self, side: Side, options: Vec<TcpOptionElement>) -> Conv {
        self.syn_options[side.idx()] = options;
        self
    }

    /// Puts [`typical_syn_options`] on both SYNs and enables timestamps.
    pub fn with_typical_options(self) -> Conv {
        self.with_syn_options(Side::Client, typical_syn_options())
            .with_syn_options(Side::Server, typical_syn_options())
            .with_timestamps()
    }

    /// Adds a TCP timestamp option (RFC 7323) to every segment: TSval is the
    /// sender's clock in ms, TSecr echoes the last TSval the sender saw.
    pub fn with_timestamps(mut self) -> Conv {
        self.timestamps = true;
        self
    }

    /// Advances the clock (e.g. to model a retransmission timeout).
    pub fn wait(&mut self, ns: u64) -> &mut Conv {
        self.now_ns += ns;
        self
    }

    /// Time the next segment will get.
    pub fn now(&self) -> u64 {
        self.now_ns
    }

    /// Address of one end.
    pub fn addr(&self, side: Side) -> SocketAddr {
        self.addr[side.idx()]
    }

    /// Initial sequence number of one end.
    pub fn isn(&self, side: Side) -> u32 {
        self.isn[side.idx()]
    }

    /// Next sequence number `side` will send (SND.NXT).
    pub fn next_seq(&self, side: Side) -> u32 {
        self.snd_nxt[side.idx()]
    }

    /// What `side` acknowledges next (RCV.NXT), if it has synchronised.
    pub fn rcv_nxt(&self, side: Side) -> Option<u32> {
        self.rcv_nxt[side.idx()]
    }

    /// Segments produced so far.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The segments so far, for tests that drop or reorder some (capture loss).
    pub fn segments_mut(&mut self) -> &mut Vec<Segment> {
        &mut self.segments
    }

    /// The segments as capture packets.
    pub fn into_packets(self) -> Vec<Packet> {
        self.segments.into_iter().map(Packet::Tcp).collect()
    }

    /// Appends a segment with explicit numbers and no state change.
    fn push(
        &mut self,
        side: Side,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
        len: usize,
    ) -> &mut Segment {
        let i = side.idx();
        let mut options = if flags.contains(TcpFlags::SYN) {
            self.syn_options[i].clone()
        } else {
            Vec::new()
        };
        if self.timestamps {
            // Clock in ms with a per-side offset so the two ends differ.
            let tsval = (self.now_ns / 1_000_000) as u32 + 1_000_000 * (i as u32 + 1);
            let tsecr = if flags == TcpFlags::SYN {
                0
            } else {
                self.last_tsval[side.peer().idx()]
            };
            if options.is_empty() {
                options.extend([TcpOptionElement::Noop, TcpOptionElement::Noop]);
            }
            options.push(TcpOptionElement::Timestamp(tsval, tsecr));
            self.last_tsval[i] = tsval;
        }
        let first_data_seq = seq.wrapping_add(u32::from(flags.contains(TcpFlags::SYN)));
        let segment = Segment {
            ts_ns: self.now_ns,
            src: self.addr[i],
            dst: self.addr[side.peer().idx()],
            seq,
            ack,
            flags,
            window: self.window,
            options,
            payload: filler(first_data_seq, len),
            ip_extras: IpExtras::None,
        };
        self.now_ns += self.step_ns;
        self.segments.push(segment);
        self.segments.last_mut().expect("just pushed")
    }

    /// Sequence space a segment occupies: payload plus one for SYN and FIN.
    fn seq_len(flags: TcpFlags, len: usize) -> u32 {
        len as u32
            + u32::from(flags.contains(TcpFlags::SYN))
            + u32::from(flags.contains(TcpFlags::FIN))
    }

    /// Records that the peer of the sender received `[seq, seq+seq_len)`.
    fn deliver(&mut self, to: Side, flags: TcpFlags, seq: u32, seq_len: u32) {
        let end = seq.wrapping_add(seq_len);
        let slot = &mut self.rcv_nxt[to.idx()];
        match *slot {
            _ if flags.contains(TcpFlags::SYN) => *slot = Some(end),
            None => *slot = Some(end),
            Some(next) if next == seq => *slot = Some(end),
            Some(_) => {} // out of order or old: nothing new acknowledged
        }
    }

    /// The generic in-order segment: seq = SND.NXT, ack = RCV.NXT (if
    /// `flags` has ACK), `len` filler bytes; advances SND.NXT and delivers it
    /// to the peer. All the named helpers below are thin wrappers.
    pub fn send(&mut self, side: Side, flags: TcpFlags, len: usize) -> &mut Segment {
        let i = side.idx();
        let seq = self.snd_nxt[i];
        let ack = if flags.contains(TcpFlags::ACK) {
            self.rcv_nxt[i].unwrap_or(0)
        } else {
            0
        };
        let seq_len = Self::seq_len(flags, len);
        self.snd_nxt[i] = seq.wrapping_add(seq_len);
        self.deliver(side.peer(), flags, seq, seq_len);
        self.push(side, flags, seq, ack, len)
    }

    /// Client SYN.
    pub fn syn(&mut self) -> &mut Segment {
        self.send(Side::Client, TcpFlags::SYN, 0)
    }

    /// Server SYN-ACK.
    pub fn syn_ack(&mut self) -> &mut Segment {
        self.send(Side::Server, TcpFlags::SYN | TcpFlags::ACK, 0)
    }

    /// A pure ACK from `side`.
    pub fn ack(&mut self, side: Side) -> &mut Segment {
        self.send(side, TcpFlags::ACK, 0)
    }

    /// The client's ACK completing the three-way handshake.
    pub fn ack_from_client(&mut self) -> &mut Segment {
        self.ack(Side::Client)
    }

    /// SYN, SYN-ACK, ACK.
    pub fn handshake(&mut self) -> &mut Conv {
        self.syn();
        self.syn_ack();
        self.ack_from_client();
        self
    }

    /// `len` bytes of data from `side` (PSH|ACK).
    pub fn data(&mut self, side: Side, len: usize) -> &mut Segment {
        self.send(side, TcpFlags::PSH | TcpFlags::ACK, len)
    }

    /// FIN|ACK from `side`.
    pub fn fin(&mut self, side: Side) -> &mut Segment {
        self.send(side, TcpFlags::FIN | TcpFlags::ACK, 0)
    }

    /// In-window RST|ACK from `side` at its current sequence number.
    pub fn rst(&mut self, side: Side) -> &mut Segment {
        self.send(side, TcpFlags::RST | TcpFlags::ACK, 0)
    }

    /// The server refuses the client's SYN: RST|ACK with seq 0 acknowledging
    /// the SYN (RFC 9293 reset generation for a segment without ACK).
    pub fn refuse(&mut self) -> &mut Segment {
        let ack = self.rcv_nxt[Side::Server.idx()].expect("refuse() needs a SYN first");
        self.push(Side::Server, TcpFlags::RST | TcpFlags::ACK, 0, ack, 0)
    }

    /// A segment with explicit numbers that changes no state: for
    /// out-of-window, bogus or otherwise hand-made segments.
    pub fn raw(
        &mut self,
        side: Side,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
        len: usize,
    ) -> &mut Segment {
        self.push(side, flags, seq, ack, len)
    }

    /// Sends again the last segment `side` sent (same seq, ack, flags,
    /// payload; new timestamp). Panics if `side` has sent nothing.
    pub fn retransmit_last(&mut self, side: Side) -> &mut Segment {
        let src = self.addr[side.idx()];
        let mut copy = self
            .segments
            .iter()
            .rev()
            .find(|s| s.src == src)
            .expect("nothing to retransmit")
            .clone();
        copy.ts_ns = self.now_ns;
        self.now_ns += self.step_ns;
        self.segments.push(copy);
        self.segments.last_mut().expect("just pushed")
    }

    /// Simultaneous open (RFC 9293 figure 7): both SYNs cross, then each end
    /// sends SYN-ACK for the other's SYN.
    pub fn simultaneous_open(&mut self) -> &mut Conv {
        let (c, s) = (Side::Client, Side::Server);
        let (isn_c, isn_s) = (self.snd_nxt[c.idx()], self.snd_nxt[s.idx()]);
        self.push(c, TcpFlags::SYN, isn_c, 0, 0);
        self.push(s, TcpFlags::SYN, isn_s, 0, 0);
        self.snd_nxt = [isn_c.wrapping_add(1), isn_s.wrapping_add(1)];
        self.rcv_nxt = [Some(isn_s.wrapping_add(1)), Some(isn_c.wrapping_add(1))];
        let syn_ack = TcpFlags::SYN | TcpFlags::ACK;
        self.push(c, syn_ack, isn_c, isn_s.wrapping_add(1), 0);
        self.push(s, syn_ack, isn_s, isn_c.wrapping_add(1), 0);
        self
    }

    /// Simultaneous close (RFC 9293 figure 13): both FINs cross (each acks
    /// only what was seen before the other's FIN), then both ACK the FINs.
    pub fn simultaneous_close(&mut self) -> &mut Conv {
        let (c, s) = (Side::Client, Side::Server);
        let fin_ack = TcpFlags::FIN | TcpFlags::ACK;
        let (seq_c, seq_s) = (self.snd_nxt[c.idx()], self.snd_nxt[s.idx()]);
        let ack_c = self.rcv_nxt[c.idx()].unwrap_or(0);
        let ack_s = self.rcv_nxt[s.idx()].unwrap_or(0);
        self.push(c, fin_ack, seq_c, ack_c, 0);
        self.push(s, fin_ack, seq_s, ack_s, 0);
        self.snd_nxt = [seq_c.wrapping_add(1), seq_s.wrapping_add(1)];
        self.rcv_nxt = [Some(seq_s.wrapping_add(1)), Some(seq_c.wrapping_add(1))];
        self.ack(c);
        self.ack(s);
        self
    }
}

/// A deterministic mixed workload of `connections` interleaved connections,
/// for benchmarks: most close normally with a few kilobytes of data, some
/// reset, some are refused. Connections start 50 µs apart and each lasts a few
/// milliseconds, so many are live at once. Returned in time order.
pub fn workload(connections: u32) -> Vec<Packet> {
    use std::net::{IpAddr, Ipv4Addr};
    let mut packets = Vec::new();
    for i in 0..connections {
        let client = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 1, (i >> 16) as u8, (i >> 8) as u8)),
            1024 + (i % 60000) as u16,
        );
        let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 2, 0, (i % 7) as u8 + 1)), 443);
        let isn = i.wrapping_mul(2_654_435_761);
        let mut c = Conv::new(client, server, isn, isn ^ 0x5555_5555)
            .starting_at(EPOCH_2026_NS + i as u64 * 50_000)
            .with_step(200_000)
            .with_typical_options();
        match i % 10 {
            0 => {
                c.syn();
                c.refuse();
            }
            1 => {
                c.handshake();
                c.data(Side::Client, 300);
                c.rst(Side::Server);
            }
            _ => {
                c.handshake();
                c.data(Side::Client, 400);
                c.ack(Side::Server);
                for _ in 0..(i % 5 + 2) {
                    c.data(Side::Server, 1200);
                }
                c.ack(Side::Client);
                c.fin(Side::Client);
                c.fin(Side::Server);
                c.ack(Side::Client);
            }
        }
        packets.extend(c.into_packets());
    }
    packets.sort_by_key(Packet::ts_ns);
    packets
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
