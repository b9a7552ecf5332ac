//! Link layers and the layer-2 encapsulations below them: Ethernet with VLAN
//! stacks, VN-Tags, 802.1ah I-TAGs, MPLS label stacks (and the Ethernet
//! pseudowires after them), PPPoE sessions, Linux cooked captures, BSD loopback.

use etherparse::EtherType;

use super::outcome::{NonIp, Undecodable};
use super::step::{non_ip, undecodable, Ctx, Next, PPP_IPV4, PPP_IPV6};
use crate::capture::linktype;
use crate::model::Encap;

const MPLS_UNICAST: u16 = 0x8847;
const MPLS_MULTICAST: u16 = 0x8848;
const PPPOE_SESSION: u16 = 0x8864;
const VN_TAG: u16 = 0x8926;
const PBB_I_TAG: u16 = 0x88e7;

/// The link-layer header of a frame of link type `lt`.
#[inline(always)]
pub(super) fn link(lt: u16, data: &[u8]) -> Next<'_> {
    use linktype::*;
    match lt {
        ETHERNET => Next::Ethernet(data),
        // Cooked headers are read by hand: etherparse's SLL parser rejects
        // hardware types such as ARPHRD_LOOPBACK, which `tcpdump -i any` writes.
        LINUX_SLL => cooked(data, 16, 14, 2),
        LINUX_SLL2 => cooked(data, 20, 0, 8),
        RAW | RAW_BSD12 | RAW_BSD14 => match data.first().map(|b| b >> 4) {
            Some(4) | Some(6) => Next::Ip(data),
            Some(v) => non_ip(NonIp::RawIpVersion(v)),
            None => undecodable(Undecodable::TruncatedLink),
        },
        IPV4 | IPV6 => Next::Ip(data),
        NULL | LOOP => bsd_loopback(lt, data),
        NOT_A_PACKET => non_ip(NonIp::JournalEntry),
        other => undecodable(Undecodable::UnsupportedLinkType(other)),
    }
}

/// Linux cooked capture (SLL or SLL2): a fixed header with the protocol and
/// hardware type at known offsets.
fn cooked(data: &[u8], len: usize, proto_at: usize, hatype_at: usize) -> Next<'_> {
    if data.len() < len {
        return undecodable(Undecodable::TruncatedLink);
    }
    let hatype = u16::from_be_bytes([data[hatype_at], data[hatype_at + 1]]);
    let proto = u16::from_be_bytes([data[proto_at], data[proto_at + 1]]);
    const ARPHRD_NETLINK: u16 = 824;
    if hatype == ARPHRD_NETLINK {
        return non_ip(NonIp::Netlink);
    }
    Next::EtherPayload(proto, &data[len..])
}

/// An Ethernet II frame: on the wire, or inside VXLAN, Geneve, GRE or ERSPAN.
#[inline(always)]
pub(super) fn ethernet(data: &[u8]) -> Next<'_> {
    if data.len() < 14 {
        return undecodable(Undecodable::TruncatedLink);
    }
    let et = u16::from_be_bytes([data[12], data[13]]);
    if et < 0x0600 {
        // An 802.3 length field, not an ethertype: LLC/SNAP frames (STP, CDP...).
        return non_ip(NonIp::Llc);
    }
    Next::EtherPayload(et, &data[14..])
}

/// Follows VLAN tags of any depth, MPLS and PPPoE down to IP.
#[inline(always)]
pub(super) fn ether_payload<'a>(ctx: &mut Ctx, mut et: u16, mut rest: &'a [u8]) -> Next<'a> {
    loop {
        match EtherType(et) {
            EtherType::IPV4 | EtherType::IPV6 => return Next::Ip(rest),
            EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME => {
                let [t0, t1, e0, e1, ..] = *rest else {
                    return undecodable(Undecodable::TruncatedLink);
                };
                ctx.saw(Encap::Vlan);
                ctx.layers.vlans.push(u16::from_be_bytes([t0, t1]) & 0x0fff);
                et = u16::from_be_bytes([e0, e1]);
                rest = &rest[4..];
            }
            EtherType::ARP => return non_ip(NonIp::Arp),
            // VN-Tag (IEEE 802.1Qbh draft, Cisco FEX): 4 bytes of direction,
            // pointer and virtual interface ids, then the next ethertype, the
            // shape of a VLAN tag; it may sit outside or inside VLAN tags.
            // As Zeek's src/packet_analysis/protocol/vntag (`VNTagAnalyzer::
            // AnalyzePacket`) and Wireshark's packet-vntag.c (`dissect_vntag`).
            _ if et == VN_TAG => {
                let [_, _, _, _, e0, e1, ..] = *rest else {
                    return undecodable(Undecodable::TruncatedEncap(Encap::VnTag));
                };
                ctx.saw(Encap::VnTag);
                et = u16::from_be_bytes([e0, e1]);
                rest = &rest[6..];
            }
            // Provider backbone bridging (802.1ah): a 4-byte I-TAG (priority,
            // flags, 24-bit service id), then the customer's whole Ethernet
            // frame. As Zeek's src/packet_analysis/protocol/pbb
            // (`PBBAnalyzer::AnalyzePacket`) and Wireshark's
            // packet-ieee8021ah.c (`dissect_ieee8021ah`).
            _ if et == PBB_I_TAG => {
                let Some(inner) = rest.get(4..) else {
                    return undecodable(Undecodable::TruncatedEncap(Encap::Pbb));
                };
                ctx.saw(Encap::Pbb);
                return Next::Ethernet(inner);
            }
            _ if et == MPLS_UNICAST || et == MPLS_MULTICAST => return mpls(ctx, rest),
            _ if et == PPPOE_SESSION => return pppoe(ctx, rest),
            _ => return non_ip(NonIp::EtherType(et)),
        }
    }
}

/// An MPLS label stack: labels up to the bottom-of-stack bit, then the
/// payload's type from its first nibble (RFC 4385, RFC 4928): 4 is IPv4, 6 is
/// IPv6, 0 is a pseudowire control word (4 bytes: nibble 0, flags, length,
/// sequence number) and the Ethernet frame it carries (Ethernet over MPLS,
/// RFC 4448).
///
/// Where the tools differ: Wireshark (epan/dissectors/packet-mpls.c,
/// `dissect_mpls`) takes 4 or 6 as IP only when the IP length field fits the
/// rest of the frame, and hands everything else to its pseudowire heuristic
/// (packet-pw-eth.c, `dissect_pw_eth_heuristic`), which reads nibble 0 as a
/// control word unless both MAC addresses after it have a registered vendor
/// prefix (then an Ethernet frame without control word); it needs a
/// manufacturer database tcpstate does not carry, so nibble 0 is always the
/// control word here, the usual case (RFC 4448 asks for the control word so
/// that a MAC address starting with 4 or 6 is not taken for IP). Zeek
/// (src/packet_analysis/protocol/mpls/MPLS.cc, `MPLSAnalyzer::AnalyzePacket`)
/// skips the labels and always hands the rest to its IP analyzer, which reads
/// 4 and 6 and reports anything else as a weird: Zeek does not open
/// pseudowires at all.
fn mpls<'a>(ctx: &mut Ctx, mut rest: &'a [u8]) -> Next<'a> {
    ctx.saw(Encap::Mpls);
    loop {
        let [_, _, tc_s, _, ..] = *rest else {
            return undecodable(Undecodable::TruncatedEncap(Encap::Mpls));
        };
        rest = &rest[4..];
        if tc_s & 0x01 != 0 {
            break;
        }
    }
    match rest.first().map(|b| b >> 4) {
        Some(4) | Some(6) => Next::Ip(rest),
        Some(0) => {
            let Some(frame) = rest.get(4..) else {
                return undecodable(Undecodable::TruncatedEncap(Encap::MplsPw));
            };
            ctx.saw(Encap::MplsPw);
            Next::Ethernet(frame)
        }
        Some(n) => non_ip(NonIp::MplsPayload(n)),
        None => undecodable(Undecodable::TruncatedEncap(Encap::Mpls)),
    }
}

/// A PPPoE session frame (RFC 2516): 6-byte header, then a PPP protocol number.
fn pppoe<'a>(ctx: &mut Ctx, rest: &'a [u8]) -> Next<'a> {
    ctx.saw(Encap::Pppoe);
    let [_, _, _, _, _, _, p0, p1, ..] = *rest else {
        return undecodable(Undecodable::TruncatedEncap(Encap::Pppoe));
    };
    match u16::from_be_bytes([p0, p1]) {
        PPP_IPV4 | PPP_IPV6 => Next::Ip(&rest[8..]),
        other => non_ip(NonIp::Ppp(other)),
    }
}

/// BSD loopback: a 4-byte address family, host order for NULL, network order for LOOP.
fn bsd_loopback(lt: u16, data: &[u8]) -> Next<'_> {
    let [a, b, c, d, ..] = *data else {
        return undecodable(Undecodable::TruncatedLink);
    };
    let raw = [a, b, c, d];
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
        // AF_INET; AF_INET6 differs by OS: Linux 10, BSDs 24, FreeBSD 28, macOS 30.
        2 | 10 | 24 | 28 | 30 => Next::Ip(&data[4..]),
        f => non_ip(NonIp::LoopbackFamily(f)),
    }
}

#[cfg(test)]
mod tests {
    use crate::capture::{linktype, RawPacket};
    use crate::decode::{decode, Decoded, NonIp, Undecodable};
    use crate::model::Encap;

    fn ethernet(et: u16, rest: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(rest);
        f
    }

    fn decoded(frame: &[u8]) -> Decoded {
        decode(&RawPacket {
            frame: 1,
            ts_ns: 0,
            linktype: linktype::ETHERNET,
            data: frame,
            orig_len: frame.len() as u32,
        })
    }

    /// One label (bottom of stack), then what follows it.
    fn mpls(payload: &[u8]) -> Vec<u8> {
        let mut m = vec![0x00, 0x06, 0x41, 64];
        m.extend_from_slice(payload);
        ethernet(0x8847, &m)
    }

    #[test]
    fn mpls_pseudowire_control_word_leads_to_ethernet() {
        // Control word, then an Ethernet frame carrying ARP: the walk went through.
        let arp = ethernet(0x0806, &[0; 28]);
        let mut pw = vec![0, 0, 0, 7];
        pw.extend_from_slice(&arp);
        assert_eq!(decoded(&mpls(&pw)), Decoded::NonIp(NonIp::Arp));
        // Cut inside the control word, or inside the inner Ethernet header.
        assert_eq!(
            decoded(&mpls(&[0, 0])),
            Decoded::Undecodable(Undecodable::TruncatedEncap(Encap::MplsPw))
        );
        assert_eq!(
            decoded(&mpls(&pw[..10])),
            Decoded::Undecodable(Undecodable::TruncatedLink)
        );
        // Nibble 1 (an associated channel) is neither IP nor a pseudowire.
        assert_eq!(
            decoded(&mpls(&[0x10, 0, 0, 0])),
            Decoded::NonIp(NonIp::MplsPayload(1))
        );
        assert_eq!(
            decoded(&mpls(&[])),
            Decoded::Undecodable(Undecodable::TruncatedEncap(Encap::Mpls))
        );
    }
}
