//! Where a segment was found: its VLAN tags and the tunnels around it, and
//! the set of encapsulations a frame went through. The connection key may
//! include the path, so two tenants' identical inner 4-tuples stay two
//! connections.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// An encapsulation the decoder looks through; the frame accounting counts
/// frames per encapsulation seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encap {
    /// 802.1Q or 802.1ad VLAN tags (ethertypes 0x8100, 0x88A8, 0x9100).
    Vlan,
    /// An MPLS label stack (ethertypes 0x8847 and 0x8848).
    Mpls,
    /// A PPPoE session (ethertype 0x8864) carrying PPP.
    Pppoe,
    /// GRE (IP protocol 47), with or without checksum, key and sequence number.
    Gre,
    /// ERSPAN type I (GRE protocol 0x88BE, no sequence number, no ERSPAN header).
    ErspanI,
    /// ERSPAN type II (GRE protocol 0x88BE, with a sequence number).
    ErspanII,
    /// ERSPAN type III (GRE protocol 0x22EB).
    ErspanIII,
    /// VXLAN (UDP port 4789), carrying Ethernet.
    Vxlan,
    /// Geneve (UDP port 6081), carrying Ethernet or what its protocol field names.
    Geneve,
    /// IPv4 carried in IPv4 (IP protocol 4).
    Ipv4InIpv4,
    /// IPv6 carried in IPv4 (IP protocol 41, 6in4).
    Ipv6InIpv4,
    /// IPv4 carried in IPv6 (next header 4).
    Ipv4InIpv6,
    /// IPv6 carried in IPv6 (next header 41).
    Ipv6InIpv6,
    /// Teredo (RFC 4380): IPv6 carried in UDP over IPv4, on port 3544 or on
    /// any port when the IPv6 header has a Teredo address (2001:0::/32).
    Teredo,
    /// GTPv1-U (UDP port 2152, 3GPP TS 29.281): a mobile core's user-plane
    /// tunnel; only G-PDU messages carry a packet.
    Gtpv1U,
    /// GRE-in-UDP (UDP port 4754, RFC 8086): a GRE header after UDP.
    GreInUdp,
    /// A VN-Tag (ethertype 0x8926, Cisco fabric extenders), outside or
    /// inside VLAN tags.
    VnTag,
    /// Provider backbone bridging (802.1ah, ethertype 0x88E7): an I-TAG,
    /// then the customer's Ethernet frame.
    Pbb,
    /// An Ethernet pseudowire over MPLS (RFC 4448): after the label stack,
    /// a control word (first nibble 0), then an Ethernet frame.
    MplsPw,
    /// PPTP's enhanced GRE (GRE version 1, RFC 2637) carrying PPP.
    Pptp,
    /// AYIYA (UDP port 5072): IPv4 or IPv6 forwarded in UDP.
    Ayiya,
    /// Aruba's GRE (protocol types 0x8200 to 0x8370 and 0x9000) carrying
    /// 802.11 frames from access points to their controller.
    Aruba,
    /// An IEEE 802.11 frame (inside Aruba's GRE).
    Ieee80211,
    /// An 802.11 A-MSDU: several packets in one 802.11 data frame.
    Amsdu,
}

impl Encap {
    const ALL: [Encap; 24] = [
        Encap::Vlan,
        Encap::Mpls,
        Encap::Pppoe,
        Encap::Gre,
        Encap::ErspanI,
        Encap::ErspanII,
        Encap::ErspanIII,
        Encap::Vxlan,
        Encap::Geneve,
        Encap::Ipv4InIpv4,
        Encap::Ipv6InIpv4,
        Encap::Ipv4InIpv6,
        Encap::Ipv6InIpv6,
        Encap::Teredo,
        Encap::Gtpv1U,
        Encap::GreInUdp,
        Encap::VnTag,
        Encap::Pbb,
        Encap::MplsPw,
        Encap::Pptp,
        Encap::Ayiya,
        Encap::Aruba,
        Encap::Ieee80211,
        Encap::Amsdu,
    ];

    /// Short lower-case name, as in the `tunnel` output field.
    pub fn name(self) -> &'static str {
        match self {
            Encap::Vlan => "vlan",
            Encap::Mpls => "mpls",
            Encap::Pppoe => "pppoe",
            Encap::Gre => "gre",
            Encap::ErspanI => "erspan1",
            Encap::ErspanII => "erspan2",
            Encap::ErspanIII => "erspan3",
            Encap::Vxlan => "vxlan",
            Encap::Geneve => "geneve",
            Encap::Ipv4InIpv4 => "ip4in4",
            Encap::Ipv6InIpv4 => "ip6in4",
            Encap::Ipv4InIpv6 => "ip4in6",
            Encap::Ipv6InIpv6 => "ip6in6",
            Encap::Teredo => "teredo",
            Encap::Gtpv1U => "gtpu",
            Encap::GreInUdp => "greudp",
            Encap::VnTag => "vntag",
            Encap::Pbb => "pbb",
            Encap::MplsPw => "mplspw",
            Encap::Pptp => "pptp",
            Encap::Ayiya => "ayiya",
            Encap::Aruba => "aruba",
            Encap::Ieee80211 => "wlan",
            Encap::Amsdu => "amsdu",
        }
    }
}

impl fmt::Display for Encap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encap::Vlan => "802.1Q/802.1ad VLAN",
            Encap::Mpls => "MPLS",
            Encap::Pppoe => "PPPoE",
            Encap::Gre => "GRE",
            Encap::ErspanI => "ERSPAN type I",
            Encap::ErspanII => "ERSPAN type II",
            Encap::ErspanIII => "ERSPAN type III",
            Encap::Vxlan => "VXLAN",
            Encap::Geneve => "Geneve",
            Encap::Ipv4InIpv4 => "IPv4-in-IPv4",
            Encap::Ipv6InIpv4 => "IPv6-in-IPv4",
            Encap::Ipv4InIpv6 => "IPv4-in-IPv6",
            Encap::Ipv6InIpv6 => "IPv6-in-IPv6",
            Encap::Teredo => "Teredo",
            Encap::Gtpv1U => "GTPv1-U",
            Encap::GreInUdp => "GRE-in-UDP",
            Encap::VnTag => "VN-Tag",
            Encap::Pbb => "PBB 802.1ah",
            Encap::MplsPw => "MPLS pseudowire",
            Encap::Pptp => "PPTP GRE",
            Encap::Ayiya => "AYIYA",
            Encap::Aruba => "Aruba GRE",
            Encap::Ieee80211 => "802.11",
            Encap::Amsdu => "802.11 A-MSDU",
        })
    }
}

/// The encapsulations one frame went through: a bit set, so the plain
/// Ethernet path carries one zero word and allocates nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EncapSet(u32);

impl EncapSet {
    /// Adds an encapsulation.
    pub fn insert(&mut self, e: Encap) {
        self.0 |= 1 << e as u32;
    }
    /// Adds every member of `other`.
    pub fn add_all(&mut self, other: EncapSet) {
        self.0 |= other.0;
    }
    /// Whether the frame went through `e`.
    pub fn contains(self, e: Encap) -> bool {
        self.0 & (1 << e as u32) != 0
    }
    /// True when empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The members, in order.
    pub fn iter(self) -> impl Iterator<Item = Encap> {
        Encap::ALL.into_iter().filter(move |e| self.contains(*e))
    }
}

/// VLAN IDs of a frame, outermost first. Four slots: deeper stacks decode
/// but only their outer four tags tell connections apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VlanStack([u16; 4]);

impl VlanStack {
    /// The four slots in one word, for hashing.
    pub fn bits(&self) -> u64 {
        self.0.iter().fold(0, |acc, &v| acc << 16 | u64::from(v))
    }

    /// Marks a used slot, so VLAN 0 (priority tag) differs from no tag.
    const USED: u16 = 0x8000;

    /// Adds an inner tag.
    pub fn push(&mut self, vid: u16) {
        if let Some(slot) = self.0.iter_mut().find(|s| **s == 0) {
            *slot = vid | Self::USED;
        }
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0[0] == 0
    }
    /// The IDs, outermost first.
    pub fn ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.0
            .iter()
            .take_while(|s| **s != 0)
            .map(|s| s & !Self::USED)
    }
}

impl fmt::Display for VlanStack {
    /// `100` or `200.300` (outer first), as in the `vlan` CSV field.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.ids().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

/// One tunnel a segment came through: its kind, outer addresses and
/// identifier (GRE key, VNI, ERSPAN session).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TunnelHop {
    /// The kind of tunnel.
    pub encap: Encap,
    /// The outer packet's source address.
    pub src: IpAddr,
    /// The outer packet's destination address.
    pub dst: IpAddr,
    /// The tunnel's identifier when it has one: GRE key, VXLAN or Geneve
    /// VNI, ERSPAN session ID.
    pub id: Option<u32>,
}

impl TunnelHop {
    /// The same hop seen from the other direction compares equal.
    pub fn unordered(&self) -> TunnelHop {
        let (lo, hi) = if self.src <= self.dst {
            (self.src, self.dst)
        } else {
            (self.dst, self.src)
        };
        TunnelHop {
            src: lo,
            dst: hi,
            ..self.clone()
        }
    }
}

impl fmt::Display for TunnelHop {
    /// `vxlan 192.0.2.1>192.0.2.2 vni=7001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}>{}", self.encap.name(), self.src, self.dst)?;
        if let Some(id) = self.id {
            let name = match self.encap {
                Encap::Vxlan | Encap::Geneve => "vni",
                Encap::ErspanI | Encap::ErspanII | Encap::ErspanIII => "session",
                _ => "key",
            };
            write!(f, " {name}={id}")?;
        }
        Ok(())
    }
}

/// The tunnels of a segment, outermost first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TunnelPath(pub Vec<TunnelHop>);

impl TunnelPath {
    /// Whether two paths are one encapsulation seen from either end: the
    /// same hops, each the same kind between the same two outer hosts
    /// (either way round) with the same identifier (Zeek's
    /// `EncapsulationStack` equality).
    pub fn same_tunnels(&self, other: &TunnelPath) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|(x, y)| x.unordered() == y.unordered())
    }
}

impl fmt::Display for TunnelPath {
    /// Hops joined by ` / `, outermost first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, hop) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" / ")?;
            }
            write!(f, "{hop}")?;
        }
        Ok(())
    }
}

/// Where a segment was found: its VLAN tags and tunnels. Empty for plain traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Path {
    /// VLAN IDs, outermost first.
    pub vlans: VlanStack,
    /// Shared, so cloning a segment does not copy the hops.
    pub tunnel: Option<Arc<TunnelPath>>,
}

impl Path {
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.vlans.is_empty() && self.tunnel.is_none()
    }
}

impl fmt::Display for Path {
    /// `vlan 100 / vxlan 192.0.2.1>192.0.2.2 vni=7001`; `-` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        if !self.vlans.is_empty() {
            write!(f, "vlan {}", self.vlans)?;
            if self.tunnel.is_some() {
                f.write_str(" / ")?;
            }
        }
        if let Some(t) = &self.tunnel {
            write!(f, "{t}")?;
        }
        Ok(())
    }
}
