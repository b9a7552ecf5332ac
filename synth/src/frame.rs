//! Frame building: a [`Segment`] or a non-TCP [`Special`] frame as
//! network-layer bytes (etherparse's `PacketBuilder`, so lengths and checksums
//! are right), then wrapped in the link header of any [`Link`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use etherparse::{
    ip_number, ArpEthIpv4Packet, ArpOperation, EtherType, Ethernet2Header, IpFragOffset, IpHeaders,
    IpNumber, Ipv4Extensions, Ipv4Header, Ipv4Options, Ipv6Extensions, Ipv6FlowLabel, Ipv6Header,
    Ipv6RawExtHeader, LinuxSllHeader, LinuxSllPacketType, LinuxSllProtocolType, PacketBuilder,
    SingleVlanHeader, TcpHeader, VlanId,
};

use crate::conv::filler;
use crate::pcap::ByteOrder;
use crate::segment::{IpExtras, Segment, TcpFlags};

/// BSD `AF_INET`, as found in LINKTYPE_NULL / LINKTYPE_LOOP headers.
pub const AF_INET: u32 = 2;
/// BSD `AF_INET6` (24, the value NetBSD/OpenBSD use and every reader accepts).
pub const AF_INET6: u32 = 24;

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
    /// [`fragment_tcp`](crate::fragment_tcp) for splitting a TCP segment.
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
    /// see [`fragment_tcp_v6`](crate::fragment_tcp_v6).
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

/// Locally administered MAC derived from an IP address, so frames of one
/// host always carry the same MAC without a lookup table.
pub(crate) fn mac_for(ip: IpAddr) -> [u8; 6] {
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

pub(crate) const BROADCAST_MAC: [u8; 6] = [0xff; 6];
pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
pub(crate) const ETHERTYPE_ARP: u16 = 0x0806;

/// A network-layer packet plus what the link header needs to know about it.
pub(crate) struct NetPacket {
    pub(crate) ether_type: u16,
    pub(crate) src_mac: [u8; 6],
    pub(crate) dst_mac: [u8; 6],
    pub(crate) bytes: Vec<u8>,
}

/// IPv4 or IPv6 header for `src -> dst` (protocol and lengths are filled in
/// by `PacketBuilder`). Panics on mixed address families.
pub(crate) fn ip_headers(src: IpAddr, dst: IpAddr, extras: &IpExtras) -> IpHeaders {
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

pub(crate) fn ether_type_of(ip: IpAddr) -> u16 {
    match ip {
        IpAddr::V4(_) => ETHERTYPE_IPV4,
        IpAddr::V6(_) => ETHERTYPE_IPV6,
    }
}

/// IP packet carrying `seg`, and the offset of the TCP header inside it.
pub(crate) fn tcp_ip_packet(seg: &Segment) -> (NetPacket, usize) {
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

pub(crate) fn special_packet(special: &Special) -> NetPacket {
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

/// Wraps a network-layer packet in the link header of `link`. `order` only
/// matters for [`Link::Null`], whose address family is in host byte order.
pub(crate) fn encapsulate(link: &Link, order: ByteOrder, net: NetPacket) -> Vec<u8> {
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
