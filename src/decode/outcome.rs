//! What decoding tells about a frame: a TCP segment, or why it is not one
//! ([`Decoded`]), or an IP fragment waiting for the others ([`Fragment`]),
//! and the encapsulations seen on the way ([`Frame`]).

use std::fmt;
use std::net::IpAddr;

use etherparse::IpNumber;

use crate::capture::linktype;
use crate::model::{Encap, EncapSet, Segment, TunnelHop, VlanStack};

/// Why a frame that is not a TCP segment could not be analysed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Undecodable {
    /// A link type the decoder does not read (the capture's LINKTYPE_ number).
    UnsupportedLinkType(u16),
    /// The link-layer header (Ethernet, VLAN tag, cooked, loopback) is cut
    /// short, or nothing follows it.
    TruncatedLink,
    /// An IPv4 or IPv6 header that does not parse; the text says why.
    BadIp(String),
    /// An IPv6 extension header (or IPv4 AH) cut short or malformed.
    BadIpExtension,
    /// A TCP packet split into IP fragments, seen by [`decode`](super::decode),
    /// which looks at one frame alone and so cannot reassemble.
    TcpFragment,
    /// Fewer than the 16 bytes of TCP header needed to place the segment in a stream.
    TruncatedTcp,
    /// An encapsulation header (GRE, VXLAN...) cut short.
    TruncatedEncap(Encap),
    /// More nested tunnels than [`MAX_TUNNELS`]: a loop or an attack, not traffic.
    TooDeep,
    /// An IPv4 header whose checksum was verified (only on request) and is
    /// wrong: Zeek without `-C` drops such packets before any transport
    /// analysis (`IPAnalyzer::AnalyzePacket`, weird `bad_IP_checksum`).
    BadIpChecksum,
    /// An 802.11 data frame with the Protected Frame bit: its body is
    /// encrypted, so what it carries cannot be told.
    WlanProtected,
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
            Undecodable::WlanProtected => f.write_str("802.11 protected (encrypted) frame"),
        }
    }
}

/// What a frame that is not IP carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NonIp {
    /// ARP (ethertype 0x0806).
    Arp,
    /// 802.3 frames with a length instead of an ethertype (STP, CDP...).
    Llc,
    /// An ethertype the decoder does not follow (LLDP, IPX...).
    EtherType(u16),
    /// Linux netlink messages in a cooked capture (hardware type ARPHRD_NETLINK).
    Netlink,
    /// A BSD loopback frame of an address family other than IPv4 and IPv6.
    LoopbackFamily(u32),
    /// A raw-IP frame whose version nibble is neither 4 nor 6.
    RawIpVersion(u8),
    /// pcapng systemd journal entries, which Wireshark numbers as frames.
    JournalEntry,
    /// An MPLS payload whose first nibble is neither 4 nor 6.
    MplsPayload(u8),
    /// A PPP (over PPPoE or PPTP) protocol other than IPv4 and IPv6 (LCP, IPCP...).
    Ppp(u16),
    /// An 802.11 frame that is not a data frame: its type (0 management,
    /// 1 control, 3 extension).
    WlanFrame(u8),
    /// An 802.11 data frame of a subtype without a body (null function,
    /// CF-Ack, CF-Poll...): the subtype.
    WlanNoData(u8),
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
            NonIp::WlanFrame(0) => f.write_str("802.11 management frame"),
            NonIp::WlanFrame(1) => f.write_str("802.11 control frame"),
            NonIp::WlanFrame(t) => write!(f, "802.11 frame of type {t}"),
            NonIp::WlanNoData(s) => write!(f, "802.11 data frame without data (subtype {s})"),
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
    /// A TCP segment, the innermost one when the frame is tunnelled.
    Tcp(Segment),
    /// IP, but not TCP (nor a tunnel the decoder follows).
    OtherIp(IpProtocol),
    /// Not IP: what it was instead.
    NonIp(NonIp),
    /// Could not be decoded far enough to tell what it carries: the reason.
    Undecodable(Undecodable),
}

/// Tunnels nested deeper than this are refused, so a crafted frame cannot
/// keep the decoder walking layers without bound.
pub const MAX_TUNNELS: usize = 8;

/// What decoding is asked to do beyond reading headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Verify TCP checksums (capture hosts with checksum offload write bad
    /// ones, so this is off unless asked for).
    pub verify_checksums: bool,
    /// Read the facts two captures are compared on (`model::WireFacts`'s
    /// TCP option kinds and payload digest; the IP header's facts are
    /// always kept): off unless asked for, as they cost a pass over the
    /// first bytes of every payload.
    pub wire_facts: bool,
}

/// One frame decoded as far as it alone allows, and the encapsulations it revealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// What the frame is: decoded, or a fragment waiting for the others.
    pub content: Content,
    /// The frame's further packets, when it carries several: the subframes
    /// of an 802.11 A-MSDU after the first, in order. Each is a packet of
    /// its own (as in Zeek and Wireshark), under the frame's number.
    pub more: Vec<Content>,
    /// Encapsulations seen on the way to TCP, by any of the frame's packets.
    pub encaps: EncapSet,
}

/// A frame is either understood on its own, or an IP fragment waiting for the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// What the frame is, decoded from it alone.
    Decoded(Decoded),
    /// An IP fragment: what it carries is known once its datagram is reassembled.
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
    pub(super) verify_checksums: bool,
    pub(super) wire_facts: bool,
}

/// Identifies the datagram a fragment belongs to (RFC 791 / RFC 8200), within its layers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    /// The datagram's source address.
    pub src: IpAddr,
    /// The datagram's destination address.
    pub dst: IpAddr,
    /// IPv4's 16-bit identification, or the IPv6 fragment header's 32-bit one.
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
    /// The fragment's part of the datagram's payload, as captured.
    pub data: Vec<u8>,
    /// The capture cut the fragment (snaplen): its datagram cannot be rebuilt.
    pub cut: bool,
    /// Length of the IP header (with extension headers) of the fragment
    /// that completes the datagram, for the segment's `ip_len`.
    pub header_len: usize,
    /// Layers decoded on the way.
    pub layers: Layers,
}
