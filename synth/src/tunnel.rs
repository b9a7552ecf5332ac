//! Tunnels and other encapsulations between the link layer and the IP header
//! ([`Wrap`]), and the frame of a packet inside them ([`wrapped_frame`]).

use std::net::{IpAddr, SocketAddr};

use etherparse::{
    EtherType, Ethernet2Header, IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, PacketBuilder,
};

use crate::frame::{
    encapsulate, ether_type_of, ip_headers, mac_for, special_packet, tcp_ip_packet, Link,
    NetPacket, Packet, ETHERTYPE_IPV4, ETHERTYPE_IPV6,
};
use crate::pcap::ByteOrder;
use crate::segment::IpExtras;

/// An encapsulation wrapped around a packet between the link layer and its
/// IP header, so decoders can be tested on tunnelled traffic. Outer
/// addresses must be of one family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wrap {
    /// One 802.1Q tag (TPID 0x8100) with this VLAN id.
    Vlan(u16),
    /// A VN-Tag (ethertype 0x8926) with these destination and source
    /// virtual interface ids (14 and 12 bits).
    VnTag(u16, u16),
    /// Provider backbone bridging (802.1ah, ethertype 0x88E7): an I-TAG
    /// with this 24-bit service id, then the packet's own Ethernet frame.
    Pbb(u32),
    /// An MPLS label stack (outermost first; bottom-of-stack set on the last).
    Mpls(Vec<u32>),
    /// An Ethernet pseudowire (RFC 4448): the MPLS label stack, a control
    /// word with this sequence number, then the packet's own Ethernet frame.
    MplsPw(Vec<u32>, u16),
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
    /// GRE-in-UDP (RFC 8086) on UDP 4754, carrying the IP packet directly.
    GreUdp {
        /// Outer source.
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
        /// GRE key.
        key: Option<u32>,
    },
    /// AYIYA (anything in anything, UDP 5072) forwarding the packet: a
    /// 16-byte IPv6 identity and a 20-byte SHA-1 signature (zeros).
    Ayiya {
        /// Outer source (address and port).
        src: SocketAddr,
        /// Outer destination (address and port).
        dst: SocketAddr,
    },
    /// Aruba's GRE (no key) carrying the packet in an 802.11 data frame
    /// (no FCS) with LLC/SNAP, as an access point sends it to its
    /// controller. [`aggregated_frame`] puts several packets in one A-MSDU.
    Aruba {
        /// Outer source (the access point or the controller).
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
        /// GRE protocol type (0x8200 to 0x8370, 0x9000).
        protocol: u16,
        /// The frame control's To DS (1) and From DS (2) bits: 1 from a
        /// station, 2 to one, 3 the four-address (WDS) layout, 0 neither.
        ds: u8,
        /// A QoS data frame (QoS control, TID 0) instead of plain data.
        qos: bool,
        /// Set the Protected Frame bit (the body stays plain: a stand-in
        /// for ciphertext, which no decoder here can read either way).
        protected: bool,
    },
    /// PPTP's enhanced GRE (GRE version 1, RFC 2637) carrying the packet
    /// in PPP, with a sequence number. `full`: an acknowledgement number and
    /// the uncompressed PPP header (FF 03, 2-byte protocol); otherwise no
    /// acknowledgement and both compressions (ACFC, 1-byte protocol). The
    /// other end uses its own call ID and the other form.
    Pptp {
        /// Outer source.
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
        /// The call ID this direction carries (the receiver's).
        call_id: u16,
        /// The call ID of the other direction (for [`Wrap::reversed`]).
        reply_call_id: u16,
        /// Acknowledgement number and uncompressed PPP header.
        full: bool,
    },
    /// GTPv1-U (3GPP TS 29.281) G-PDU on UDP 2152, carrying IPv4 or IPv6.
    /// Each direction has its own TEID, as a mobile core assigns them.
    GtpU {
        /// Outer source.
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
        /// TEID of this direction.
        teid: u32,
        /// TEID of the other direction (for [`Wrap::reversed`]).
        reply_teid: u32,
        /// Use the long header: sequence number 0x1234 and one PDU session
        /// container extension header (type 0x85, QFI 9), as 5G access
        /// sends uplink; otherwise the 8-byte header.
        long: bool,
    },
}

/// A GTPv1-U message of type `msg_type` with TEID `teid` around `payload`,
/// the 8-byte header or (`long`) the 12-byte one with an extension header.
pub fn gtpu_message(msg_type: u8, teid: u32, long: bool, payload: &[u8]) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut flags = 0x30u8; // version 1, protocol type GTP
    if long {
        flags |= 0x06; // E and S
        tail.extend_from_slice(&0x1234u16.to_be_bytes());
        tail.extend_from_slice(&[0, 0x85]); // N-PDU number, next: PDU session container
        tail.extend_from_slice(&[1, 0x10, 0x09, 0]); // 1 unit: uplink, QFI 9; no next
    }
    tail.extend_from_slice(payload);
    let mut g = vec![flags, msg_type];
    g.extend_from_slice(&u16::try_from(tail.len()).expect("fits").to_be_bytes());
    g.extend_from_slice(&teid.to_be_bytes());
    g.extend_from_slice(&tail);
    g
}

/// An AYIYA message with opcode `opcode` and next header `next_header`
/// around `payload`: identity length 2^4 (type 1, an IPv6 address), 5
/// words of SHA-1 signature (hash method 2), shared-secret authentication
/// (method 1), epoch time 0, identity 2001:db8::1, signature zeros.
pub fn ayiya_message(opcode: u8, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut a = vec![0x41, 0x52, 0x10 | (opcode & 0x0f), next_header, 0, 0, 0, 0];
    a.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a.extend_from_slice(&[0; 11]);
    a.push(1);
    a.extend_from_slice(&[0; 20]);
    a.extend_from_slice(payload);
    a
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

/// An MPLS label stack, outermost first, bottom-of-stack set on the last, TTL 64.
fn mpls_labels(labels: &[u32]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let bottom = u32::from(i + 1 == labels.len());
        bytes.extend_from_slice(&((label << 12) | (bottom << 8) | 64).to_be_bytes());
    }
    bytes
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
        Wrap::VnTag(dst_vif, src_vif) => {
            // d=0, p=0, dst_vif (14 bits), l=0, r=0, version 0, src_vif (12 bits).
            let tag = (u32::from(dst_vif & 0x3fff) << 16) | u32::from(src_vif & 0x0fff);
            let mut bytes = tag.to_be_bytes().to_vec();
            bytes.extend_from_slice(&net.ether_type.to_be_bytes());
            bytes.extend_from_slice(&net.bytes);
            NetPacket {
                ether_type: 0x8926,
                bytes,
                ..net
            }
        }
        Wrap::Pbb(isid) => {
            let mut bytes = (isid & 0x00ff_ffff).to_be_bytes().to_vec();
            bytes.extend_from_slice(&ethernet_bytes(&net));
            NetPacket {
                ether_type: 0x88e7,
                bytes,
                ..net
            }
        }
        Wrap::Mpls(labels) => {
            let mut bytes = mpls_labels(labels);
            bytes.extend_from_slice(&net.bytes);
            NetPacket {
                ether_type: 0x8847,
                bytes,
                ..net
            }
        }
        Wrap::MplsPw(labels, seq) => {
            let mut bytes = mpls_labels(labels);
            bytes.extend_from_slice(&[0, 0]); // nibble 0, flags, fragment bits, length 0
            bytes.extend_from_slice(&seq.to_be_bytes());
            bytes.extend_from_slice(&ethernet_bytes(&net));
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
        Wrap::GreUdp { src, dst, key } => {
            let mut gre = Vec::new();
            gre.extend_from_slice(&(if key.is_some() { 0x2000u16 } else { 0 }).to_be_bytes());
            gre.extend_from_slice(&net.ether_type.to_be_bytes());
            if let Some(k) = key {
                gre.extend_from_slice(&k.to_be_bytes());
            }
            gre.extend_from_slice(&net.bytes);
            let (s, d) = (
                SocketAddr::new(*src, tunnel_port(*src)),
                SocketAddr::new(*dst, 4754),
            );
            outer(*src, *dst, udp_ip(s, d, &gre))
        }
        Wrap::Aruba { .. } => aruba(&[net], wrap, false),
        Wrap::Ayiya { src, dst } => {
            let next = if net.ether_type == ETHERTYPE_IPV6 {
                41
            } else {
                4
            };
            let a = ayiya_message(1, next, &net.bytes);
            outer(src.ip(), dst.ip(), udp_ip(*src, *dst, &a))
        }
        Wrap::Pptp {
            src,
            dst,
            call_id,
            full,
            ..
        } => {
            let (protocol, compressed) = match net.ether_type {
                ETHERTYPE_IPV4 => (0x0021u16, 0x21u8),
                ETHERTYPE_IPV6 => (0x0057, 0x57),
                other => panic!("PPTP here carries IP only, not {other:#06x}"),
            };
            let mut ppp = Vec::new();
            if *full {
                ppp.extend_from_slice(&[0xff, 0x03]);
                ppp.extend_from_slice(&protocol.to_be_bytes());
            } else {
                ppp.push(compressed);
            }
            ppp.extend_from_slice(&net.bytes);
            // Version 1, K and S; A with the acknowledgement number.
            let flags: u16 = if *full { 0x3081 } else { 0x3001 };
            let mut gre = flags.to_be_bytes().to_vec();
            gre.extend_from_slice(&0x880bu16.to_be_bytes());
            gre.extend_from_slice(&u16::try_from(ppp.len()).expect("fits").to_be_bytes());
            gre.extend_from_slice(&call_id.to_be_bytes());
            gre.extend_from_slice(&1u32.to_be_bytes()); // sequence number
            if *full {
                gre.extend_from_slice(&1u32.to_be_bytes()); // acknowledgement number
            }
            gre.extend_from_slice(&ppp);
            outer(*src, *dst, raw_ip(*src, *dst, 47, &gre))
        }
        Wrap::GtpU {
            src,
            dst,
            teid,
            long,
            ..
        } => {
            let g = gtpu_message(0xff, *teid, *long, &net.bytes);
            let (s, d) = (SocketAddr::new(*src, 2152), SocketAddr::new(*dst, 2152));
            outer(*src, *dst, udp_ip(s, d, &g))
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
    /// ports, GTP TEIDs) swapped. ERSPAN mirrors both directions from one switch to one
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
            Wrap::GreUdp { src, dst, key } => Wrap::GreUdp {
                src: dst,
                dst: src,
                key,
            },
            Wrap::Teredo { src, dst, origin } => Wrap::Teredo {
                src: dst,
                dst: src,
                origin: !origin,
            },
            Wrap::Ayiya { src, dst } => Wrap::Ayiya { src: dst, dst: src },
            Wrap::Aruba {
                src,
                dst,
                protocol,
                ds,
                qos,
                protected,
            } => Wrap::Aruba {
                src: dst,
                dst: src,
                protocol,
                protected,
                // A station's frames go to the distribution system, the replies come from it.
                ds: match ds {
                    1 => 2,
                    2 => 1,
                    other => other,
                },
                qos,
            },
            Wrap::Pptp {
                src,
                dst,
                call_id,
                reply_call_id,
                full,
            } => Wrap::Pptp {
                src: dst,
                dst: src,
                call_id: reply_call_id,
                reply_call_id: call_id,
                full: !full,
            },
            Wrap::GtpU {
                src,
                dst,
                teid,
                reply_teid,
                long,
            } => Wrap::GtpU {
                src: dst,
                dst: src,
                teid: reply_teid,
                reply_teid: teid,
                long: !long,
            },
            other => other,
        }
    }
}

/// The BSSID of the generated 802.11 frames.
const BSSID: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x0b, 0x55];

/// An LLC/SNAP header (RFC 1042) and the packet after it: an MSDU.
fn msdu(net: &NetPacket) -> Vec<u8> {
    let mut m = vec![0xaa, 0xaa, 0x03, 0, 0, 0];
    m.extend_from_slice(&net.ether_type.to_be_bytes());
    m.extend_from_slice(&net.bytes);
    m
}

/// `nets` in an 802.11 data frame inside Aruba's GRE (`wrap` is a
/// [`Wrap::Aruba`]): one MSDU, or with `amsdu` an A-MSDU of one subframe
/// per packet (each padded to 4 bytes but the last).
fn aruba(nets: &[NetPacket], wrap: &Wrap, amsdu: bool) -> NetPacket {
    let Wrap::Aruba {
        src,
        dst,
        protocol,
        ds,
        qos,
        protected,
    } = *wrap
    else {
        panic!("not an Aruba wrap: {wrap:?}");
    };
    assert!(qos || !amsdu, "an A-MSDU is flagged in QoS control");
    let (sa, da) = (nets[0].src_mac, nets[0].dst_mac);
    // Address 1 to 3 by To DS / From DS (802.11-2020 table 9-30); the fourth (WDS) is the source.
    let (a1, a2, a3) = match ds & 3 {
        0 => (da, sa, BSSID),
        1 => (BSSID, sa, da),
        2 => (da, BSSID, sa),
        _ => (BSSID, BSSID, da),
    };
    let flags = (ds & 3) | if protected { 0x40 } else { 0 };
    let mut w = vec![if qos { 0x88 } else { 0x08 }, flags, 0, 0];
    for a in [a1, a2, a3] {
        w.extend_from_slice(&a);
    }
    w.extend_from_slice(&[0x10, 0x00]); // sequence control: sequence number 1
    if ds & 3 == 3 {
        w.extend_from_slice(&sa);
    }
    if qos {
        w.extend_from_slice(&[if amsdu { 0x80 } else { 0 }, 0]);
    }
    if amsdu {
        for (i, net) in nets.iter().enumerate() {
            let m = msdu(net);
            let start = w.len();
            w.extend_from_slice(&net.dst_mac);
            w.extend_from_slice(&net.src_mac);
            w.extend_from_slice(&u16::try_from(m.len()).expect("fits").to_be_bytes());
            w.extend_from_slice(&m);
            if i + 1 < nets.len() {
                let padded = (w.len() - start).next_multiple_of(4);
                w.resize(start + padded, 0);
            }
        }
    } else {
        assert_eq!(nets.len(), 1, "one packet per frame without A-MSDU");
        w.extend_from_slice(&msdu(&nets[0]));
    }
    let mut gre = vec![0, 0];
    gre.extend_from_slice(&protocol.to_be_bytes());
    gre.extend_from_slice(&w);
    outer(src, dst, raw_ip(src, dst, 47, &gre))
}

/// The network packet of `packet`, before any wrapping.
fn net_packet(packet: &Packet) -> NetPacket {
    match packet {
        Packet::Tcp(seg) => tcp_ip_packet(seg).0,
        Packet::Other { special, .. } => special_packet(special),
    }
}

/// Full link-layer frame for `packet` inside `wraps` (outermost first).
pub fn wrapped_frame(link: &Link, order: ByteOrder, packet: &Packet, wraps: &[Wrap]) -> Vec<u8> {
    let mut net = net_packet(packet);
    for w in wraps.iter().rev() {
        net = wrap_once(net, w);
    }
    encapsulate(link, order, net)
}

/// One link-layer frame carrying all of `packets` as the subframes of an
/// 802.11 A-MSDU, in order: the innermost of `wraps` (outermost first)
/// must be a [`Wrap::Aruba`] with `qos`.
pub fn aggregated_frame(
    link: &Link,
    order: ByteOrder,
    packets: &[Packet],
    wraps: &[Wrap],
) -> Vec<u8> {
    let (inner, outside) = wraps.split_last().expect("an Aruba wrap");
    let nets: Vec<NetPacket> = packets.iter().map(net_packet).collect();
    let mut net = aruba(&nets, inner, true);
    for w in outside.iter().rev() {
        net = wrap_once(net, w);
    }
    encapsulate(link, order, net)
}
