//! Decoding: link layer, encapsulations, IP and TCP headers of one frame into a
//! compact, owned [`Segment`], or into the reason the frame is not an analysable
//! TCP segment.
//!
//! One file per layer family: `link` (Ethernet, VLAN, MPLS, PPPoE, cooked,
//! loopback), `ip` (IPv4/IPv6, fragments, the transport dispatch) and
//! `tunnel` (GRE, ERSPAN, VXLAN, Geneve, IP-in-IP, Teredo). A frame that is an
//! IP fragment comes back as a [`Fragment`]: reassembly needs the frames in order,
//! so it happens in `defrag`, and the datagram it completes is decoded with
//! [`decode_reassembled`].
//!
//! Header parsing is etherparse's (lax slices, so packets cut by the snaplen still
//! decode). The TCP fixed header is read by hand because it must work with as
//! few bytes as Wireshark needs to place a packet in a stream (16), and a
//! segment's payload length comes from the IP header, never from the captured
//! length.

pub mod defrag;
mod ip;
mod link;
mod tunnel;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use etherparse::{IpNumber, TcpOptionElement, TcpOptionsIterator};

use crate::capture::{linktype, RawPacket};
use crate::model::{
    Encap, EncapSet, Endpoint, Path, Segment, TcpFlags, TcpOptions, TunnelHop, TunnelPath,
    VlanStack,
};

/// Why a frame that is not a TCP segment could not be analysed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Undecodable {
    /// Unsupported link type.
    UnsupportedLinkType(u16),
    /// Truncated link.
    TruncatedLink,
    /// Bad ip.
    BadIp(String),
    /// An IPv6 extension header (or IPv4 AH) cut short or malformed.
    BadIpExtension,
    /// A TCP packet split into IP fragments, seen by [`decode`], which
    /// looks at one frame alone and so cannot reassemble.
    TcpFragment,
    /// Truncated tcp.
    TruncatedTcp,
    /// An encapsulation header (GRE, VXLAN...) cut short.
    TruncatedEncap(Encap),
    /// More nested tunnels than [`MAX_TUNNELS`]: a loop or an attack, not traffic.
    TooDeep,
    /// An IPv4 header whose checksum was verified (only on request) and is
    /// wrong: Zeek without `-C` drops such packets before any transport
    /// analysis (`IPAnalyzer::AnalyzePacket`, weird `bad_IP_checksum`).
    BadIpChecksum,
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
            Undecodable::TruncatedEncap(e) => write!(f, "{e} header cut short"),
            Undecodable::TooDeep => write!(f, "more than {MAX_TUNNELS} nested tunnels"),
            Undecodable::BadIpChecksum => f.write_str("bad IPv4 header checksum"),
        }
    }
}

/// What a frame that is not IP carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NonIp {
    /// Arp.
    Arp,
    /// 802.3 frames with a length instead of an ethertype (STP, CDP...).
    Llc,
    /// Ether type.
    EtherType(u16),
    /// Netlink.
    Netlink,
    /// Loopback family.
    LoopbackFamily(u32),
    /// Raw ip version.
    RawIpVersion(u8),
    /// pcapng systemd journal entries, which Wireshark numbers as frames.
    JournalEntry,
    /// An MPLS payload whose first nibble is neither 4 nor 6.
    MplsPayload(u8),
    /// A PPP (over PPPoE) protocol other than IPv4 and IPv6 (LCP, IPCP...).
    Ppp(u16),
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
            NonIp::MplsPayload(n) => write!(f, "MPLS payload starting with nibble {n}"),
            NonIp::Ppp(p) => write!(f, "PPP protocol 0x{p:04x}"),
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

/// What one frame turned out to be. Every frame gets exactly one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Tcp.
    Tcp(Segment),
    /// IP, but not TCP.
    OtherIp(IpProtocol),
    /// Not IP.
    NonIp(NonIp),
    /// Undecodable.
    Undecodable(Undecodable),
}

/// Tunnels nested deeper than this are refused, so a crafted frame cannot
/// make the decoder recurse without bound.
pub const MAX_TUNNELS: usize = 8;

/// What decoding is asked to do beyond reading headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Verify TCP and IPv4 header checksums (capture hosts with checksum
    /// offload write bad ones, so this is off unless asked for).
    pub verify_checksums: bool,
}

/// One frame decoded as far as it alone allows, and the encapsulations it revealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// What the frame is: decoded, or a fragment waiting for the others.
    pub content: Content,
    /// Encapsulations seen on the way to TCP.
    pub encaps: EncapSet,
}

/// A frame is either understood on its own, or an IP fragment waiting for the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// Decoded.
    Decoded(Decoded),
    /// Fragment.
    Fragment(Box<Fragment>),
}

/// The layers outside the current one: what a fragment needs to resume
/// decoding once its datagram is complete.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Layers {
    /// VLAN IDs, outermost first.
    pub vlans: VlanStack,
    /// Tunnel hops, outermost first.
    pub hops: Vec<TunnelHop>,
    /// Encapsulations seen on the way to TCP.
    pub encaps: EncapSet,
    verify_checksums: bool,
}

/// Identifies the datagram a fragment belongs to (RFC 791 / RFC 8200), within its layers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    /// Source.
    pub src: IpAddr,
    /// Destination.
    pub dst: IpAddr,
    /// Identifier.
    pub id: u32,
    /// IP protocol (IPv4) or the fragment header's next header (IPv6).
    pub protocol: u8,
    /// VLAN IDs, outermost first.
    pub vlans: VlanStack,
    /// Tunnel hops, outermost first.
    pub hops: Vec<TunnelHop>,
}

/// One IP fragment, owned, as the reassembler needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Wireshark frame number.
    pub frame: u64,
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: i64,
    /// Which datagram the fragment belongs to.
    pub key: FragmentKey,
    /// Byte offset of `data` in the datagram's payload.
    pub offset: u32,
    /// More fragments follow (MF).
    pub more: bool,
    /// The bytes.
    pub data: Vec<u8>,
    /// The capture cut the fragment (snaplen): its datagram cannot be rebuilt.
    pub cut: bool,
    /// Length of the IP header (with extension headers) of the fragment
    /// that completes the datagram, for the segment's `ip_len`.
    pub header_len: usize,
    /// Layers decoded on the way.
    pub layers: Layers,
}

/// Frame facts the TCP decoder needs.
#[derive(Clone, Copy, Debug)]
struct Meta {
    frame: u64,
    ts_ns: i64,
    /// Bytes of the frame the capture did not keep (orig_len - caplen).
    missing: usize,
}

/// Decoding state of one frame, layer by layer.
#[derive(Debug)]
struct Ctx {
    layers: Layers,
    meta: Meta,
}

impl Ctx {
    fn saw(&mut self, e: Encap) {
        self.layers.encaps.insert(e);
    }

    /// What the layers found, as the public outcome. The segment is built
    /// here, once, straight into its place: passing it up through every
    /// layer would copy it each time.
    #[inline(always)]
    fn finish(&self, found: Found<'_>) -> Content {
        match found {
            Found::Tcp(t) => Content::Decoded(decode_tcp(self, &t)),
            Found::Stop(stop) => Content::Decoded(stop.into()),
            Found::Fragment(f) => Content::Fragment(f),
        }
    }
}

/// How far a frame's layers led; small, since each layer hands it back up.
enum Found<'a> {
    Tcp(ip::Transport<'a>),
    Stop(Stop),
    Fragment(Box<Fragment>),
}

/// A frame that does not lead to TCP.
enum Stop {
    OtherIp(IpProtocol),
    NonIp(NonIp),
    Undecodable(Undecodable),
}

impl From<Stop> for Decoded {
    fn from(stop: Stop) -> Decoded {
        match stop {
            Stop::OtherIp(p) => Decoded::OtherIp(p),
            Stop::NonIp(k) => Decoded::NonIp(k),
            Stop::Undecodable(u) => Decoded::Undecodable(u),
        }
    }
}

fn undecodable<'a>(u: Undecodable) -> Found<'a> {
    Found::Stop(Stop::Undecodable(u))
}

fn non_ip<'a>(k: NonIp) -> Found<'a> {
    Found::Stop(Stop::NonIp(k))
}

#[inline]
fn start(pkt: &RawPacket<'_>, options: DecodeOptions) -> Ctx {
    Ctx {
        layers: Layers {
            verify_checksums: options.verify_checksums,
            ..Layers::default()
        },
        meta: Meta {
            frame: pkt.frame,
            ts_ns: pkt.ts_ns,
            missing: pkt.orig_len.saturating_sub(pkt.data.len() as u32) as usize,
        },
    }
}

/// Walks a frame's layers, taking the shortcut when it is plain Ethernet TCP.
#[inline(always)]
fn layers<'a>(ctx: &mut Ctx, pkt: &RawPacket<'a>) -> Found<'a> {
    // The shortcut reads no checksum, so verification takes the general path.
    if pkt.linktype == linktype::ETHERNET && !ctx.layers.verify_checksums {
        if let Some(t) = ip::plain_ethernet_tcp(pkt.data) {
            return Found::Tcp(t);
        }
    }
    link::link(ctx, pkt.linktype, pkt.data)
}

/// Decodes one captured frame on its own: IP fragments are reported as such
/// (a TCP fragment as [`Undecodable::TcpFragment`]), never reassembled.
pub fn decode(pkt: &RawPacket<'_>) -> Decoded {
    let mut ctx = start(pkt, DecodeOptions::default());
    match layers(&mut ctx, pkt) {
        Found::Tcp(t) => decode_tcp(&ctx, &t),
        Found::Stop(stop) => stop.into(),
        Found::Fragment(f) if f.key.protocol == IpNumber::TCP.0 => {
            Decoded::Undecodable(Undecodable::TcpFragment)
        }
        Found::Fragment(f) => Decoded::OtherIp(IpProtocol(f.key.protocol)),
    }
}

/// Decodes one captured frame down to its innermost TCP segment or fragment.
pub fn decode_frame(pkt: &RawPacket<'_>, options: DecodeOptions) -> Frame {
    let mut ctx = start(pkt, options);
    let found = layers(&mut ctx, pkt);
    Frame {
        content: ctx.finish(found),
        encaps: ctx.layers.encaps,
    }
}

/// Decodes a datagram rebuilt from fragments, as if the last fragment's frame
/// had carried it whole. `encaps` holds only what the datagram itself revealed
/// (the fragments' frames already showed the outer layers).
pub fn decode_reassembled(last: &Fragment, payload: &[u8]) -> Frame {
    let mut layers = last.layers.clone();
    layers.encaps = EncapSet::default();
    let mut ctx = Ctx {
        layers,
        meta: Meta {
            frame: last.frame,
            ts_ns: last.ts_ns,
            missing: 0,
        },
    };
    let found = ip::transport(
        &mut ctx,
        ip::Transport {
            protocol: last.key.protocol,
            src: last.key.src,
            dst: last.key.dst,
            payload,
            reported: payload.len(),
            header_len: last.header_len,
        },
    );
    Frame {
        content: ctx.finish(found),
        encaps: ctx.layers.encaps,
    }
}

#[inline(always)]
fn decode_tcp(ctx: &Ctx, t: &ip::Transport<'_>) -> Decoded {
    let tcp = t.payload;
    // Wireshark places a packet in a stream once ports, numbers, flags and window are read.
    if tcp.len() < 16 {
        return Decoded::Undecodable(Undecodable::TruncatedTcp);
    }
    let be16 = |o: usize| u16::from_be_bytes([tcp[o], tcp[o + 1]]);
    let be32 = |o: usize| u32::from_be_bytes([tcp[o], tcp[o + 1], tcp[o + 2], tcp[o + 3]]);
    let header_len = (tcp[12] >> 4) as usize * 4;
    let bad_header_len = header_len < 20;
    // The frame itself may be shorter on the wire than the IP header claims.
    let reported_len = t.reported.min(tcp.len() + ctx.meta.missing);
    let short_segment = reported_len < header_len;
    let header_cut = tcp.len() < header_len;
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
    // Only a segment captured whole can be checked; a cut one is given the benefit of the doubt.
    let bad_checksum = ctx.layers.verify_checksums
        && tcp.len() >= reported_len
        && !checksum_ok(t.src, t.dst, &tcp[..reported_len]);
    let tunnel = if ctx.layers.hops.is_empty() {
        None
    } else {
        Some(Arc::new(TunnelPath(ctx.layers.hops.clone())))
    };
    Decoded::Tcp(Segment {
        frame: ctx.meta.frame,
        ts_ns: ctx.meta.ts_ns,
        src: Endpoint {
            addr: t.src,
            port: be16(0),
        },
        dst: Endpoint {
            addr: t.dst,
            port: be16(2),
        },
        seq: be32(4),
        ack: be32(8),
        flags: TcpFlags(be16(12) & 0x01ff),
        window: be16(14),
        payload_len: payload_len as u32,
        captured_payload_len: captured_payload_len as u32,
        ip_len: (t.header_len + reported_len) as u32,
        options,
        bad_header_len,
        short_segment,
        header_cut,
        path: Path {
            vlans: ctx.layers.vlans,
            tunnel,
        },
        bad_checksum,
    })
}

/// RFC 793 checksum over the pseudo-header and the whole segment: the
/// ones'-complement sum including the checksum field must be all ones.
fn checksum_ok(src: IpAddr, dst: IpAddr, segment: &[u8]) -> bool {
    fn add(sum: &mut u64, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            *sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            *sum += u64::from(*last) << 8;
        }
    }
    let mut sum = 0u64;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            add(&mut sum, &s.octets());
            add(&mut sum, &d.octets());
        }
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                IpAddr::V6(a) => a.octets(),
            };
            add(&mut sum, &v6(s));
            add(&mut sum, &v6(d));
        }
    }
    sum += u64::from(IpNumber::TCP.0) + segment.len() as u64;
    add(&mut sum, segment);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
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

    /// The plain-Ethernet shortcut must answer exactly as the general path,
    /// on every frame of every capture in testdata/.
    #[test]
    fn shortcut_agrees_with_the_general_path() {
        use crate::capture::{CaptureReader, Input};
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata"),
            &mut files,
        );
        let mut shortcut = 0;
        for f in files {
            let Ok(mut r) = CaptureReader::open(&Input::Path(f.clone())) else {
                continue;
            };
            while let Ok(Some(pkt)) = r.next_packet() {
                let mut ctx = start(&pkt, DecodeOptions::default());
                let found = link::link(&mut ctx, pkt.linktype, pkt.data);
                let general = ctx.finish(found);
                assert_eq!(
                    decode_frame(&pkt, DecodeOptions::default()).content,
                    general,
                    "{} frame {}",
                    f.display(),
                    pkt.frame
                );
                if pkt.linktype == linktype::ETHERNET && ip::plain_ethernet_tcp(pkt.data).is_some()
                {
                    shortcut += 1;
                }
            }
        }
        assert!(shortcut > 500, "{shortcut}");
    }

    /// Zeek without -C (`IPAnalyzer::AnalyzePacket`): with verification on,
    /// a packet whose IPv4 header checksum is wrong is not analysed; a cut
    /// TCP header is marked (Zeek's `truncated_header`).
    #[test]
    fn verification_checks_the_ipv4_header_checksum() {
        use tcpstate_synth::{frame, Conv, Link};
        let mut c = Conv::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            1,
            2,
        );
        c.handshake();
        let good = frame(&Link::Ethernet, &c.segments()[0]);
        let mut bad = good.clone();
        bad[24] ^= 0xff; // IPv4 header checksum
        let verify = DecodeOptions {
            verify_checksums: true,
        };
        let tcp = |f: &[u8], o| {
            matches!(
                decode_frame(&raw(linktype::ETHERNET, f), o).content,
                Content::Decoded(Decoded::Tcp(_))
            )
        };
        assert!(tcp(&good, verify) && tcp(&bad, DecodeOptions::default()));
        assert_eq!(
            decode_frame(&raw(linktype::ETHERNET, &bad), verify).content,
            Content::Decoded(Decoded::Undecodable(Undecodable::BadIpChecksum))
        );
        // A snaplen of 53 bytes cuts the SYN's 20-byte TCP header.
        let mut snap = raw(linktype::ETHERNET, &good[..53]);
        snap.orig_len = good.len() as u32;
        let Decoded::Tcp(cut) = decode(&snap) else {
            panic!("still TCP");
        };
        assert!(cut.header_cut && !cut.short_segment);
        let Decoded::Tcp(whole) = decode(&raw(linktype::ETHERNET, &good)) else {
            panic!("TCP");
        };
        assert!(!whole.header_cut);
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
