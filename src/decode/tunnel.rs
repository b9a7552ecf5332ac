//! What an IP payload other than TCP may carry: a tunnel the decoder
//! follows, GRE (with key and sequence number, ERSPAN types I, II and III;
//! version 1, PPTP's enhanced GRE carrying PPP),
//! GRE-in-UDP, VXLAN, Geneve, GTPv1-U, AYIYA, IP-in-IP (IPv4 and IPv6 in either) and Teredo. Each tunnel
//! is recorded as a hop of the segment's [`Path`](crate::model::Path), which
//! the connection key may include so two tenants' identical inner 4-tuples
//! stay two connections.

use super::outcome::{NonIp, Undecodable};
use super::step::{non_ip, other_ip, undecodable, Ctx, Next, Transport, PPP_IPV4, PPP_IPV6};
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
const AYIYA_PORT: u16 = 5072;
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
    // Routing (RFC 1701) is long obsolete; Zeek gives up on it too (weird `gre_routing`).
    if flags & 0x4000 != 0 {
        return other_ip(t.protocol);
    }
    match flags & 0x0007 {
        0 => {}
        1 => return pptp(ctx, t, g, flags, encap),
        // Zeek: weird `unknown_gre_version`; Wireshark shows the header only.
        _ => return other_ip(t.protocol),
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
        _ if is_aruba(proto) => {
            if let Err(u) = ctx.enter(t, Encap::Aruba, key) {
                return undecodable(u);
            }
            Next::Wlan(inner)
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

/// GRE protocol types of Aruba access points tunnelling 802.11 frames to
/// their controller: Zeek's test (src/packet_analysis/protocol/gre/GRE.cc,
/// `GREAnalyzer::AnalyzePacket`), which takes 0x9000 and any type with bits
/// 0x8200 set and a zero low nibble (its second clause, 0x8300 to 0x8370, is
/// inside the first). Wireshark (packet-gre.h, `GRE_ARUBA_8200`...,
/// registered by packet-ieee80211.c) takes only 0x8200 to 0x8370 in steps of
/// 0x10 and 0x9000, so types such as 0x8600 or 0xA200 are Aruba to Zeek and
/// here, data to Wireshark.
fn is_aruba(proto: u16) -> bool {
    (proto & 0x8200 == 0x8200 && proto & 0x000f == 0) || proto == 0x9000
}

/// PPTP's enhanced GRE (GRE version 1, RFC 2637 section 4.1): protocol
/// 0x880B (PPP), the key field always there (payload length and the peer's
/// call ID), a sequence number when S is set, an acknowledgement number when
/// A (0x0080) is set; then a PPP frame: address and control (FF 03) unless
/// compressed away (ACFC), a protocol field of 2 bytes or, compressed (PFC,
/// RFC 1661 section 6.5), of 1 byte when its first byte is odd. IPv4 (0x21)
/// and IPv6 (0x57) lead on; other PPP protocols (LCP, CCP, compressed data)
/// end the walk as PPP; a packet with no payload is an acknowledgement only,
/// counted as GRE and PPTP and ending there. Zeek
/// (src/packet_analysis/protocol/gre/GRE.cc, `GREAnalyzer::AnalyzePacket`)
/// reads the same header but wants the 4-byte uncompressed PPP header
/// (weird `non_ip_packet_in_encap` otherwise); Wireshark's packet-gre.c and
/// packet-ppp.c take both forms. The call ID is not the hop's id: each side
/// names the call by the other's call ID, so it differs per direction.
fn pptp<'a>(ctx: &mut Ctx, t: &Transport<'a>, g: &'a [u8], flags: u16, encap: Encap) -> Next<'a> {
    const PPP: u16 = 0x880b;
    // Zeek: weird `egre_protocol_type`; RFC 2637 requires the key.
    if be16(g, 2) != PPP || flags & 0x2000 == 0 {
        return other_ip(t.protocol);
    }
    ctx.saw(encap);
    ctx.saw(Encap::Pptp);
    let truncated = || undecodable(Undecodable::TruncatedEncap(Encap::Pptp));
    let optional = |bit: u16| if flags & bit != 0 { 4 } else { 0 };
    let at = 8 + optional(0x8000) + optional(0x1000) + optional(0x0080);
    let Some(ppp) = g.get(at..) else {
        return truncated();
    };
    if ppp.is_empty() {
        return other_ip(t.protocol);
    }
    let ppp = ppp.strip_prefix(&[0xff, 0x03]).unwrap_or(ppp);
    let (protocol, inner) = match *ppp {
        [p, ref rest @ ..] if p & 1 == 1 => (u16::from(p), rest),
        [p0, p1, ref rest @ ..] => (u16::from_be_bytes([p0, p1]), rest),
        _ => return truncated(),
    };
    match protocol {
        PPP_IPV4 | PPP_IPV6 => {
            if let Err(u) = ctx.enter(t, Encap::Pptp, None) {
                return undecodable(u);
            }
            Next::Ip(inner)
        }
        other => non_ip(NonIp::Ppp(other)),
    }
}

/// UDP: GTPv1-U, GRE-in-UDP, VXLAN, AYIYA, Geneve or Teredo by port (the lower port is tried first, as
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
            AYIYA_PORT => return ayiya(ctx, t, body),
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

/// AYIYA ("anything in anything", draft-massar-v6ops-ayiya; UDP 5072): 8
/// bytes (identity length and type, signature length and hash method,
/// authentication method and opcode, next header, epoch time), then the
/// identity (2^n bytes for a length nibble n) and the signature (4 bytes per
/// unit of its nibble). Only opcode 1 (forward) carries a packet, IPv4 or
/// IPv6 as the next header says (4 or 41); other opcodes (heartbeats,
/// echo) and other next headers are counted as AYIYA and end as UDP. As
/// Zeek's src/packet_analysis/protocol/ayiya/AYIYA.cc
/// (`AYIYAAnalyzer::AnalyzePacket`, weird `ayiya_empty_packet` for a
/// forward without a packet, here a cut header) and Wireshark's
/// packet-ayiya.c (`dissect_ayiya`). Zeek's port is the same; its
/// detection by content (bytes 0x52 0x11) is not used here.
fn ayiya<'a>(ctx: &mut Ctx, t: &Transport<'a>, a: &'a [u8]) -> Next<'a> {
    const FORWARD: u8 = 1;
    let truncated = || undecodable(Undecodable::TruncatedEncap(Encap::Ayiya));
    ctx.saw(Encap::Ayiya);
    let [id, sig, op, next_header, _, _, _, _, ..] = *a else {
        return truncated();
    };
    let header = 8 + (1usize << (id >> 4)) + usize::from(sig >> 4) * 4;
    let Some(inner) = a.get(header..) else {
        return truncated();
    };
    if op & 0x0f != FORWARD || !matches!(next_header, IPV4_IN_IP | IPV6_IN_IP) {
        return other_ip(t.protocol);
    }
    if inner.is_empty() {
        return truncated();
    }
    if let Err(u) = ctx.enter(t, Encap::Ayiya, None) {
        return undecodable(u);
    }
    Next::Ip(inner)
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

#[cfg(test)]
mod tests {
    use crate::capture::{linktype, RawPacket};
    use crate::decode::{decode, Decoded, IpProtocol, NonIp, Undecodable};
    use crate::model::Encap;

    /// A raw IPv4 packet 172.16.0.1 -> 172.16.0.2 of `protocol` around `payload`.
    fn ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
        let len = u16::try_from(20 + payload.len()).unwrap().to_be_bytes();
        let mut p = vec![0x45, 0, len[0], len[1], 0, 0, 0x40, 0, 64, protocol, 0, 0];
        p.extend_from_slice(&[172, 16, 0, 1, 172, 16, 0, 2]);
        p.extend_from_slice(payload);
        p
    }

    fn decoded(packet: &[u8]) -> Decoded {
        decode(&RawPacket {
            frame: 1,
            ts_ns: 0,
            linktype: linktype::RAW,
            data: packet,
            orig_len: packet.len() as u32,
        })
    }

    /// A TCP SYN 10.0.0.1:1000 -> 10.0.0.2:80 in IPv4.
    fn syn() -> Vec<u8> {
        let mut t = vec![
            0x03, 0xe8, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff,
        ];
        t.extend_from_slice(&[0, 0, 0, 0]);
        let mut p = ipv4(6, &t);
        p[12..20].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        p
    }

    fn tcp_port(d: &Decoded) -> Option<u16> {
        match d {
            Decoded::Tcp(s) => Some(s.src.port),
            _ => None,
        }
    }

    #[test]
    fn ayiya_forwards_by_next_header_and_stops_cleanly() {
        let udp = |a: &[u8]| {
            let len = u16::try_from(8 + a.len()).unwrap().to_be_bytes();
            let mut u = vec![0x9c, 0x40, 0x13, 0xd0, len[0], len[1], 0, 0];
            u.extend_from_slice(a);
            ipv4(17, &u)
        };
        // Identity 2 bytes (nibble 1), signature 4 bytes (nibble 1), forward.
        let ayiya = |op: u8, next: u8, inner: &[u8]| {
            let mut a = vec![
                0x11,
                0x12,
                0x10 | op,
                next,
                0,
                0,
                0,
                0,
                0xaa,
                0xbb,
                1,
                2,
                3,
                4,
            ];
            a.extend_from_slice(inner);
            udp(&a)
        };
        assert_eq!(tcp_port(&decoded(&ayiya(1, 4, &syn()))), Some(1000));
        // A heartbeat, or a next header other than IP, is AYIYA ending as UDP.
        let udp17 = Decoded::OtherIp(IpProtocol(17));
        assert_eq!(decoded(&ayiya(0, 59, &[])), udp17);
        assert_eq!(decoded(&ayiya(1, 17, &syn())), udp17);
        // Cut in the fixed header, in the signature, or a forward with nothing.
        let cut = Decoded::Undecodable(Undecodable::TruncatedEncap(Encap::Ayiya));
        assert_eq!(decoded(&udp(&[0x11, 0x12, 0x11])), cut);
        assert_eq!(
            decoded(&udp(&[0x11, 0x12, 0x11, 4, 0, 0, 0, 0, 0, 0, 1])),
            cut
        );
        assert_eq!(decoded(&ayiya(1, 4, &[])), cut);
        // The largest identity nibble (2^15 bytes) is only a length to check.
        assert_eq!(decoded(&udp(&[0xf1, 0xf2, 0x11, 4, 0, 0, 0, 0])), cut);
    }

    #[test]
    fn pptp_reads_both_ppp_header_forms_and_stops_cleanly() {
        let gre = |flags: u16, extra: &[u8], ppp: &[u8]| {
            let mut g = flags.to_be_bytes().to_vec();
            g.extend_from_slice(&[0x88, 0x0b, 0, 0, 0x12, 0x34]); // protocol, length, call ID
            g.extend_from_slice(extra);
            g.extend_from_slice(ppp);
            ipv4(47, &g)
        };
        let full: Vec<u8> = [&[0xff, 0x03, 0x00, 0x21][..], &syn()].concat();
        let short: Vec<u8> = [&[0x21][..], &syn()].concat();
        // S and A: sequence and acknowledgement numbers, full PPP header.
        assert_eq!(tcp_port(&decoded(&gre(0x3081, &[0; 8], &full))), Some(1000));
        // S only, address/control and protocol compressed.
        assert_eq!(
            tcp_port(&decoded(&gre(0x3001, &[0; 4], &short))),
            Some(1000)
        );
        // An acknowledgement alone carries nothing.
        assert_eq!(
            decoded(&gre(0x2081, &[0; 4], &[])),
            Decoded::OtherIp(IpProtocol(47))
        );
        // LCP is PPP, not IP.
        assert_eq!(
            decoded(&gre(0x3001, &[0; 4], &[0xff, 0x03, 0xc0, 0x21, 1])),
            Decoded::NonIp(NonIp::Ppp(0xc021))
        );
        // Cut in the sequence number, or after the address and control bytes.
        let cut = Decoded::Undecodable(Undecodable::TruncatedEncap(Encap::Pptp));
        assert_eq!(decoded(&gre(0x3081, &[0; 6], &[])), cut);
        assert_eq!(decoded(&gre(0x3001, &[0; 4], &[0xff, 0x03, 0x00])), cut);
        // Without the key, or with another protocol, it is not PPTP.
        assert_eq!(
            decoded(&gre(0x1001, &[0; 4], &full)),
            Decoded::OtherIp(IpProtocol(47))
        );
        let mut not_ppp = gre(0x3001, &[0; 4], &short);
        not_ppp[23] = 0x00;
        assert_eq!(decoded(&not_ppp), Decoded::OtherIp(IpProtocol(47)));
        // Version 2 is unknown; only three bytes of GRE are cut.
        assert_eq!(
            decoded(&gre(0x3002, &[0; 4], &short)),
            Decoded::OtherIp(IpProtocol(47))
        );
        assert_eq!(
            decoded(&ipv4(47, &[0x30, 0x01, 0x88])),
            Decoded::Undecodable(Undecodable::TruncatedEncap(Encap::Gre))
        );
    }
}
