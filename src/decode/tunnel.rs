//! What an IP payload other than TCP may carry: a tunnel the decoder
//! follows, GRE (with key and sequence number, ERSPAN types I, II and III),
//! GRE-in-UDP, VXLAN, Geneve, GTPv1-U, IP-in-IP (IPv4 and IPv6 in either) and Teredo. Each tunnel
//! is recorded as a hop of the segment's [`Path`](crate::model::Path), which
//! the connection key may include so two tenants' identical inner 4-tuples
//! stay two connections.

use super::outcome::Undecodable;
use super::step::{other_ip, undecodable, Ctx, Next, Transport};
use crate::model::Encap;

const UDP: u8 = 17;
const IPV4_IN_IP: u8 = 4;
const IPV6_IN_IP: u8 = 41;
const GRE: u8 = 47;

const VXLAN_PORT: u16 = 4789;
const GENEVE_PORT: u16 = 6081;
const TEREDO_PORT: u16 = 3544;
const GTPV1_U_PORT: u16 = 2152;
const GRE_IN_UDP_PORT: u16 = 4754;
const ETH_BRIDGING: u16 = 0x6558;
const ERSPAN_I_II: u16 = 0x88be;
const ERSPAN_III: u16 = 0x22eb;

/// An IP payload that is not TCP: the tunnel it is, or the end of the walk.
#[inline(always)]
pub(super) fn tunnel<'a>(ctx: &mut Ctx, t: &Transport<'a>) -> Next<'a> {
    match t.protocol {
        IPV4_IN_IP | IPV6_IN_IP => ip_in_ip(ctx, t),
        GRE => gre(ctx, t, t.payload, Encap::Gre),
        UDP => udp(ctx, t),
        p => other_ip(p),
    }
}

/// IPv4 or IPv6 carried directly in IPv4 or IPv6 (protocols 4 and 41; 6in4 is RFC 4213).
fn ip_in_ip<'a>(ctx: &mut Ctx, t: &Transport<'a>) -> Next<'a> {
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
    if let Err(u) = ctx.enter(t, encap, None) {
        return undecodable(u);
    }
    Next::Ip(t.payload)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// GRE (RFC 2784 / 2890): optional checksum, key and sequence number, then
/// the payload's ethertype; ERSPAN rides on GRE too. `g` is the GRE header:
/// the IP payload (`encap` [`Encap::Gre`]) or a UDP payload
/// ([`Encap::GreInUdp`], RFC 8086, the same header after UDP).
fn gre<'a>(ctx: &mut Ctx, t: &Transport<'a>, g: &'a [u8], encap: Encap) -> Next<'a> {
    if g.len() < 4 {
        return undecodable(Undecodable::TruncatedEncap(encap));
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
            return undecodable(Undecodable::TruncatedEncap(encap));
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
        return undecodable(Undecodable::TruncatedEncap(encap));
    };
    ctx.saw(encap);
    match proto {
        // Type I has no header of its own; type II is told apart by GRE's sequence number.
        ERSPAN_I_II if !has_seq => {
            if let Err(u) = ctx.enter(t, Encap::ErspanI, None) {
                return undecodable(u);
            }
            Next::Ethernet(inner)
        }
        ERSPAN_I_II => {
            if inner.len() < 8 {
                return undecodable(Undecodable::TruncatedEncap(Encap::ErspanII));
            }
            let session = u32::from(be16(inner, 2) & 0x03ff);
            if let Err(u) = ctx.enter(t, Encap::ErspanII, Some(session)) {
                return undecodable(u);
            }
            Next::Ethernet(&inner[8..])
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
            if let Err(u) = ctx.enter(t, Encap::ErspanIII, Some(session)) {
                return undecodable(u);
            }
            match frame_type {
                0 => Next::Ethernet(frame),
                _ => Next::Ip(frame),
            }
        }
        _ => {
            if let Err(u) = ctx.enter(t, encap, key) {
                return undecodable(u);
            }
            if proto == ETH_BRIDGING {
                Next::Ethernet(inner)
            } else {
                Next::EtherPayload(proto, inner)
            }
        }
    }
}

/// UDP: GTPv1-U, GRE-in-UDP, VXLAN, Geneve or Teredo by port (the lower port is tried first, as
/// Wireshark does), otherwise plain UDP.
fn udp<'a>(ctx: &mut Ctx, t: &Transport<'a>) -> Next<'a> {
    let u = t.payload;
    if u.len() < 8 {
        return other_ip(t.protocol);
    }
    let (sport, dport) = (be16(u, 0), be16(u, 2));
    let body = &u[8..];
    for port in [sport.min(dport), sport.max(dport)] {
        match port {
            GTPV1_U_PORT => {
                if let Some(o) = gtpv1_u(ctx, t, body) {
                    return o;
                }
            }
            // RFC 8086; Wireshark's packet-gre.c registers the same port (GRE_IN_UDP_PORT).
            GRE_IN_UDP_PORT => return gre(ctx, t, body, Encap::GreInUdp),
            VXLAN_PORT => return vxlan(ctx, t, body),
            GENEVE_PORT => return geneve(ctx, t, body),
            TEREDO_PORT => {
                if let Some(o) = teredo(ctx, t, body, false) {
                    return o;
                }
            }
            _ => {}
        }
    }
    // Teredo clients and relays use any port: found by what the datagram holds.
    teredo(ctx, t, body, true).unwrap_or_else(|| other_ip(t.protocol))
}

/// GTPv1-U (3GPP TS 29.281): flags (version 1, protocol type GTP, E, S
/// and PN bits), message type, length and TEID; when any of E, S, PN is set,
/// 4 more bytes (sequence number, N-PDU number, next extension header type),
/// then a chain of extension headers, each `4 * n` bytes with its own length
/// `n` first and the next type last. Only a G-PDU (type 0xFF) carries a
/// packet, IPv4 or IPv6 by its first nibble; echo, error indication and
/// end marker messages are counted as GTP and end as plain UDP. None when
/// the datagram is not GTPv1 (another version, or GTP' ): plain UDP on the
/// port. Layout as in Wireshark's epan/dissectors/packet-gtp.c
/// (`dissect_gtp_common`) and Zeek's
/// src/packet_analysis/protocol/gtpv1 (`GTPv1_Analyzer::AnalyzePacket` and
/// gtpv1-protocol.pac). The TEID is not the hop's id: uplink and downlink
/// use different TEIDs, and Zeek's connection key ignores tunnels, so a TEID
/// in the key would split every GTP connection in two.
fn gtpv1_u<'a>(ctx: &mut Ctx, t: &Transport<'a>, g: &'a [u8]) -> Option<Next<'a>> {
    const G_PDU: u8 = 0xff;
    let [flags, msg_type, ..] = *g else {
        return None;
    };
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return None;
    }
    let truncated = || undecodable(Undecodable::TruncatedEncap(Encap::Gtpv1U));
    ctx.saw(Encap::Gtpv1U);
    if g.len() < 8 {
        return Some(truncated());
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        let Some(&first) = g.get(11) else {
            return Some(truncated());
        };
        at = 12;
        let mut next_type = first;
        while next_type != 0 {
            // A zero length would never advance: malformed, as Wireshark reports it.
            let units = match g.get(at) {
                Some(&n) if n > 0 => usize::from(n) * 4,
                _ => return Some(truncated()),
            };
            let Some(&next) = g.get(at + units - 1) else {
                return Some(truncated());
            };
            next_type = next;
            at += units;
        }
    }
    if msg_type != G_PDU {
        return Some(other_ip(t.protocol));
    }
    let inner = &g[at..];
    match inner.first().map(|b| b >> 4) {
        Some(4) | Some(6) => {}
        Some(_) => return Some(other_ip(t.protocol)),
        None => return Some(truncated()),
    }
    if let Err(u) = ctx.enter(t, Encap::Gtpv1U, None) {
        return Some(undecodable(u));
    }
    Some(Next::Ip(inner))
}

/// VXLAN (RFC 7348): 8 bytes with a 24-bit VNI, then an Ethernet frame.
fn vxlan<'a>(ctx: &mut Ctx, t: &Transport<'a>, v: &'a [u8]) -> Next<'a> {
    if v.len() < 8 {
        return undecodable(Undecodable::TruncatedEncap(Encap::Vxlan));
    }
    let vni = be32(v, 4) >> 8;
    if let Err(u) = ctx.enter(t, Encap::Vxlan, Some(vni)) {
        return undecodable(u);
    }
    Next::Ethernet(&v[8..])
}

/// Geneve (RFC 8926): 8 bytes plus options, a 24-bit VNI and the payload's ethertype.
fn geneve<'a>(ctx: &mut Ctx, t: &Transport<'a>, g: &'a [u8]) -> Next<'a> {
    if g.len() < 8 {
        return undecodable(Undecodable::TruncatedEncap(Encap::Geneve));
    }
    let options = usize::from(g[0] & 0x3f) * 4;
    let proto = be16(g, 2);
    let vni = be32(g, 4) >> 8;
    let Some(inner) = g.get(8 + options..) else {
        return undecodable(Undecodable::TruncatedEncap(Encap::Geneve));
    };
    if let Err(u) = ctx.enter(t, Encap::Geneve, Some(vni)) {
        return undecodable(u);
    }
    if proto == ETH_BRIDGING {
        Next::Ethernet(inner)
    } else {
        Next::EtherPayload(proto, inner)
    }
}

/// Teredo (RFC 4380): optional authentication and origin indication, then
/// IPv6. None when the datagram is not IPv6 after all (plain UDP on the port).
/// Away from port 3544 (`by_payload`), the IPv6 header must also have a
/// Teredo address (2001:0000::/32, RFC 4380 section 2.14) at one end, so
/// ordinary UDP that happens to start like IPv6 stays UDP; Zeek finds Teredo
/// on any port the same way (src/packet_analysis/protocol/teredo,
/// `TeredoAnalyzer::DetectProtocol`, registered for protocol detection on UDP),
/// and so does Wireshark's `dissect_teredo_heur` (packet-teredo.c) when its
/// heuristic is enabled.
fn teredo<'a>(
    ctx: &mut Ctx,
    t: &Transport<'a>,
    mut d: &'a [u8],
    by_payload: bool,
) -> Option<Next<'a>> {
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
    const TEREDO_PREFIX: [u8; 4] = [0x20, 0x01, 0x00, 0x00];
    if by_payload && d[8..12] != TEREDO_PREFIX && d[24..28] != TEREDO_PREFIX {
        return None;
    }
    if let Err(u) = ctx.enter(t, Encap::Teredo, None) {
        return Some(undecodable(u));
    }
    Some(Next::Ip(d))
}
