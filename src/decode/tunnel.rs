//! Tunnels: GRE (with key and sequence number, ERSPAN types I, II and III),
//! VXLAN, Geneve, IP-in-IP (IPv4 and IPv6 in either) and Teredo, and the
//! compact record of where a segment was found ([`Path`]), which the
//! connection key may include so two tenants' identical inner 4-tuples stay
//! two connections.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::ip::{self, Transport};
use super::link::{ether_payload, ethernet};
use super::{undecodable, Ctx, Found, IpProtocol, Stop, Undecodable, MAX_TUNNELS};

/// An encapsulation the decoder looks through; the frame accounting counts
/// frames per encapsulation seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encap {
    /// Vlan.
    Vlan,
    /// Mpls.
    Mpls,
    /// Pppoe.
    Pppoe,
    /// Gre.
    Gre,
    /// Erspan i.
    ErspanI,
    /// Erspan i i.
    ErspanII,
    /// Erspan i i i.
    ErspanIII,
    /// Vxlan.
    Vxlan,
    /// Geneve.
    Geneve,
    /// Ipv4 in ipv4.
    Ipv4InIpv4,
    /// Ipv6 in ipv4.
    Ipv6InIpv4,
    /// Ipv4 in ipv6.
    Ipv4InIpv6,
    /// Ipv6 in ipv6.
    Ipv6InIpv6,
    /// Teredo.
    Teredo,
}

impl Encap {
    const ALL: [Encap; 14] = [
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
        })
    }
}

/// The encapsulations one frame went through: a bit set, so the plain
/// Ethernet path carries one zero word and allocates nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EncapSet(u16);

impl EncapSet {
    /// Adds one.
    pub fn insert(&mut self, e: Encap) {
        self.0 |= 1 << e as u16;
    }
    /// Whether it is in the set.
    pub fn contains(self, e: Encap) -> bool {
        self.0 & (1 << e as u16) != 0
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
    /// Encapsulation.
    pub encap: Encap,
    /// Source.
    pub src: IpAddr,
    /// Destination.
    pub dst: IpAddr,
    /// Identifier.
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

const VXLAN_PORT: u16 = 4789;
const GENEVE_PORT: u16 = 6081;
const TEREDO_PORT: u16 = 3544;
const ETH_BRIDGING: u16 = 0x6558;
const ERSPAN_I_II: u16 = 0x88be;
const ERSPAN_III: u16 = 0x22eb;

/// Records a hop; refuses to go deeper than [`MAX_TUNNELS`].
fn enter(
    ctx: &mut Ctx,
    t: &Transport<'_>,
    encap: Encap,
    id: Option<u32>,
) -> Result<(), Undecodable> {
    if ctx.layers.hops.len() >= MAX_TUNNELS {
        return Err(Undecodable::TooDeep);
    }
    ctx.saw(encap);
    ctx.layers.hops.push(TunnelHop {
        encap,
        src: t.src,
        dst: t.dst,
        id,
    });
    Ok(())
}

fn other_ip<'a>(protocol: u8) -> Found<'a> {
    Found::Stop(Stop::OtherIp(IpProtocol(protocol)))
}

/// IPv4 or IPv6 carried directly in IPv4 or IPv6 (protocols 4 and 41; 6in4 is RFC 4213).
pub(super) fn ip_in_ip<'a>(ctx: &mut Ctx, t: &Transport<'a>) -> Found<'a> {
    let inner_v6 = match t.payload.first().map(|b| b >> 4) {
        Some(4) => false,
        Some(6) => true,
        _ => return other_ip(t.protocol),
    };
    let encap = match (t.src.is_ipv6(), inner_v6) {
        (false, false) => Encap::Ipv4InIpv4,
        (false, true) => Encap::Ipv6InIpv4,
        (true, false) => Encap::Ipv4InIpv6,
        (true, true) => Encap::Ipv6InIpv6,
    };
    if let Err(u) = enter(ctx, t, encap, None) {
        return undecodable(u);
    }
    ip::ip(ctx, t.payload)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// GRE (RFC 2784 / 2890): optional checksum, key and sequence number, then
/// the payload's ethertype; ERSPAN rides on GRE too.
pub(super) fn gre<'a>(ctx: &mut Ctx, t: &Transport<'a>) -> Found<'a> {
    let g = t.payload;
    if g.len() < 4 {
        return undecodable(Undecodable::TruncatedEncap(Encap::Gre));
    }
    let flags = be16(g, 0);
    // Version 1 is PPTP's enhanced GRE; routing (RFC 1701) is long obsolete.
    if flags & 0x0007 != 0 || flags & 0x4000 != 0 {
        return other_ip(t.protocol);
    }
    let proto = be16(g, 2);
    let (has_csum, has_key, has_seq) = (
        flags & 0x8000 != 0,
        flags & 0x2000 != 0,
        flags & 0x1000 != 0,
    );
    let mut at = 4 + if has_csum { 4 } else { 0 };
    let key = if has_key {
        if g.len() < at + 4 {
            return undecodable(Undecodable::TruncatedEncap(Encap::Gre));
        }
        at += 4;
        Some(be32(g, at - 4))
    } else {
        None
    };
    if has_seq {
        at += 4;
    }
    let Some(inner) = g.get(at..) else {
        return undecodable(Undecodable::TruncatedEncap(Encap::Gre));
    };
    ctx.saw(Encap::Gre);
    match proto {
        // Type I has no header of its own; type II is told apart by GRE's sequence number.
        ERSPAN_I_II if !has_seq => {
            if let Err(u) = enter(ctx, t, Encap::ErspanI, None) {
                return undecodable(u);
            }
            ethernet(ctx, inner)
        }
        ERSPAN_I_II => {
            if inner.len() < 8 {
                return undecodable(Undecodable::TruncatedEncap(Encap::ErspanII));
            }
            let session = u32::from(be16(inner, 2) & 0x03ff);
            if let Err(u) = enter(ctx, t, Encap::ErspanII, Some(session)) {
                return undecodable(u);
            }
            ethernet(ctx, &inner[8..])
        }
        ERSPAN_III => {
            if inner.len() < 12 {
                return undecodable(Undecodable::TruncatedEncap(Encap::ErspanIII));
            }
            let session = u32::from(be16(inner, 2) & 0x03ff);
            let frame_type = (inner[10] >> 2) & 0x1f;
            let optional = inner[11] & 0x01 != 0;
            let start = if optional { 20 } else { 12 };
            let Some(frame) = inner.get(start..) else {
                return undecodable(Undecodable::TruncatedEncap(Encap::ErspanIII));
            };
            if let Err(u) = enter(ctx, t, Encap::ErspanIII, Some(session)) {
                return undecodable(u);
            }
            match frame_type {
                0 => ethernet(ctx, frame),
                _ => ip::ip(ctx, frame),
            }
        }
        _ => {
            if let Err(u) = enter(ctx, t, Encap::Gre, key) {
                return undecodable(u);
            }
            if proto == ETH_BRIDGING {
                ethernet(ctx, inner)
            } else {
                ether_payload(ctx, proto, inner)
            }
        }
    }
}

/// UDP: VXLAN, Geneve or Teredo by port (the lower port is tried first, as
/// Wireshark does), otherwise plain UDP.
pub(super) fn udp<'a>(ctx: &mut Ctx, t: &Transport<'a>) -> Found<'a> {
    let u = t.payload;
    if u.len() < 8 {
        return other_ip(t.protocol);
    }
    let (sport, dport) = (be16(u, 0), be16(u, 2));
    let body = &u[8..];
    for port in [sport.min(dport), sport.max(dport)] {
        match port {
            VXLAN_PORT => return vxlan(ctx, t, body),
            GENEVE_PORT => return geneve(ctx, t, body),
            TEREDO_PORT => {
                if let Some(o) = teredo(ctx, t, body) {
                    return o;
                }
            }
            _ => {}
        }
    }
    other_ip(t.protocol)
}

/// VXLAN (RFC 7348): 8 bytes with a 24-bit VNI, then an Ethernet frame.
fn vxlan<'a>(ctx: &mut Ctx, t: &Transport<'a>, v: &'a [u8]) -> Found<'a> {
    if v.len() < 8 {
        return undecodable(Undecodable::TruncatedEncap(Encap::Vxlan));
    }
    let vni = be32(v, 4) >> 8;
    if let Err(u) = enter(ctx, t, Encap::Vxlan, Some(vni)) {
        return undecodable(u);
    }
    ethernet(ctx, &v[8..])
}

/// Geneve (RFC 8926): 8 bytes plus options, a 24-bit VNI and the payload's ethertype.
fn geneve<'a>(ctx: &mut Ctx, t: &Transport<'a>, g: &'a [u8]) -> Found<'a> {
    if g.len() < 8 {
        return undecodable(Undecodable::TruncatedEncap(Encap::Geneve));
    }
    let options = usize::from(g[0] & 0x3f) * 4;
    let proto = be16(g, 2);
    let vni = be32(g, 4) >> 8;
    let Some(inner) = g.get(8 + options..) else {
        return undecodable(Undecodable::TruncatedEncap(Encap::Geneve));
    };
    if let Err(u) = enter(ctx, t, Encap::Geneve, Some(vni)) {
        return undecodable(u);
    }
    if proto == ETH_BRIDGING {
        ethernet(ctx, inner)
    } else {
        ether_payload(ctx, proto, inner)
    }
}

/// Teredo (RFC 4380): optional authentication and origin indication, then
/// IPv6. None when the datagram is not IPv6 after all (plain UDP on the port).
fn teredo<'a>(ctx: &mut Ctx, t: &Transport<'a>, mut d: &'a [u8]) -> Option<Found<'a>> {
    if let [0, 1, id_len, auth_len, ..] = *d {
        // Authentication: lengths, client id, value, 8-byte nonce, confirmation byte.
        d = d.get(4 + usize::from(id_len) + usize::from(auth_len) + 9..)?;
    }
    if let [0, 0, ..] = *d {
        d = d.get(8..)?; // origin indication
    }
    if d.len() < 40 || d[0] >> 4 != 6 {
        return None;
    }
    if let Err(u) = enter(ctx, t, Encap::Teredo, None) {
        return Some(undecodable(u));
    }
    Some(ip::ip(ctx, d))
}
