//! IEEE 802.11 data frames, as Aruba access points tunnel them in GRE: the
//! MAC header (the To DS / From DS address layouts, QoS control, HT
//! control), LLC/SNAP, and A-MSDU aggregates, whose subframes are each a
//! packet of their own.
//!
//! The rules are Zeek's (src/packet_analysis/protocol/ieee802_11/
//! IEEE802_11.cc, `IEEE802_11Analyzer::AnalyzePacket` and
//! `HandleInnerPacket`) and Wireshark's (epan/dissectors/packet-ieee80211.c,
//! `dissect_ieee80211_common`); where they differ the comment says which is
//! followed.

use super::outcome::{NonIp, Undecodable};
use super::step::{non_ip, undecodable, Ctx, Next};
use crate::model::Encap;

/// The frame control's To DS and From DS bits: both set is the
/// four-address (WDS, mesh) layout, with a fourth address after the
/// sequence control.
const TO_DS_FROM_DS: u8 = 0x03;
/// The frame control's Protected Frame bit: the body is encrypted.
const PROTECTED: u8 = 0x40;
/// The frame control's +HTC/Order bit: in a QoS data frame, an HT control
/// field (4 bytes) follows QoS control (802.11-2020 9.2.4.1.10).
const ORDER: u8 = 0x80;
/// QoS control's A-MSDU Present bit (first byte, bit 7).
const AMSDU_PRESENT: u8 = 0x80;

/// An 802.11 frame without FCS, from its frame control on. Data frames lead
/// on to what their LLC/SNAP header names, or to an A-MSDU's subframes;
/// management, control and extension frames, data frames without data (null
/// function) and protected (encrypted) frames end the walk, each counted
/// under its own kind.
///
/// Zeek skips protected frames only when they are QoS data frames (a
/// protected plain data frame fails its LLC check); here every protected
/// frame is counted as protected, as Wireshark shows them without keys.
/// Zeek reads any frame whose type has bit 1 set (types 2 and 3) as data;
/// type 3 is the extension type (802.11ad), no data here or in Wireshark.
/// Zeek ignores the HT control field; Wireshark and the standard skip it.
pub(super) fn wlan<'a>(ctx: &mut Ctx, f: &'a [u8]) -> Next<'a> {
    const DATA: u8 = 2;
    ctx.saw(Encap::Ieee80211);
    let truncated = || undecodable(Undecodable::TruncatedEncap(Encap::Ieee80211));
    let [fc, flags, ..] = *f else {
        return truncated();
    };
    let (frame_type, subtype) = ((fc >> 2) & 0x03, fc >> 4);
    if frame_type != DATA {
        return non_ip(NonIp::WlanFrame(frame_type));
    }
    // Subtypes 4 to 7 and 12 to 15 carry no frame body (null function, CF-Ack, CF-Poll...).
    if subtype & 0x04 != 0 {
        return non_ip(NonIp::WlanNoData(subtype));
    }
    let mut header = 24;
    if flags & TO_DS_FROM_DS == TO_DS_FROM_DS {
        header += 6;
    }
    let mut amsdu = false;
    if subtype & 0x08 != 0 {
        let Some(&qos) = f.get(header) else {
            return truncated();
        };
        amsdu = qos & AMSDU_PRESENT != 0;
        header += if flags & ORDER != 0 { 6 } else { 2 };
    }
    let Some(body) = f.get(header..) else {
        return truncated();
    };
    if flags & PROTECTED != 0 {
        return undecodable(Undecodable::WlanProtected);
    }
    if amsdu {
        Next::Amsdu(body)
    } else {
        llc(body)
    }
}

/// An 802.2 LLC header with SNAP: DSAP and SSAP 0xAA, control 0x03 (UI),
/// an organisation code, then an ethertype. Zeek accepts only organisation
/// code 0 (RFC 1042); Wireshark any; here 0 and 00-00-F8 (802.1H bridge
/// tunnelling, which access points use for a few ethertypes). Other LLC
/// frames (STP, NetBIOS...) are 802.3 LLC, not IP.
pub(super) fn llc(msdu: &[u8]) -> Next<'_> {
    match *msdu {
        [0xaa, 0xaa, 0x03, 0, 0, 0 | 0xf8, e0, e1, ..] => {
            Next::EtherPayload(u16::from_be_bytes([e0, e1]), &msdu[8..])
        }
        [_, _, _, _, _, _, _, _, ..] => non_ip(NonIp::Llc),
        _ => undecodable(Undecodable::TruncatedEncap(Encap::Ieee80211)),
    }
}

/// The subframes of an A-MSDU (802.11-2020 9.3.2.2.2), each one packet:
/// destination, source, a length, the MSDU (LLC/SNAP and a packet), and
/// padding to a multiple of 4 bytes except after the last. Returns where
/// each subframe leads; a subframe cut short ends the list, as one
/// undecodable packet. Zeek (`IEEE802_11Analyzer::AnalyzePacket`) skips
/// `length % 4` padding bytes instead of padding the whole subframe, which
/// agrees with the standard (and Wireshark's `dissect_ieee80211_common`)
/// only for odd lengths; it also stops at the first bad subframe.
pub(super) fn amsdu<'a>(ctx: &mut Ctx, body: &'a [u8]) -> Vec<Next<'a>> {
    ctx.saw(Encap::Amsdu);
    let mut subframes = Vec::new();
    let mut rest = body;
    loop {
        let Some(&[l0, l1]) = rest.get(12..14) else {
            subframes.push(undecodable(Undecodable::TruncatedEncap(Encap::Amsdu)));
            break;
        };
        let end = 14 + usize::from(u16::from_be_bytes([l0, l1]));
        let Some(msdu) = rest.get(14..end) else {
            subframes.push(undecodable(Undecodable::TruncatedEncap(Encap::Amsdu)));
            break;
        };
        subframes.push(llc(msdu));
        rest = rest.get(end.next_multiple_of(4)..).unwrap_or_default();
        if rest.is_empty() {
            break;
        }
    }
    subframes
}

#[cfg(test)]
mod tests {
    use crate::capture::{linktype, RawPacket};
    use crate::decode::{decode_frame, Content, DecodeOptions, Decoded, NonIp, Undecodable};
    use crate::model::Encap;

    /// What one packet of a frame is: TCP from this source port, or not TCP.
    #[derive(Clone, Debug, PartialEq)]
    enum P {
        Tcp(u16),
        Not(Decoded),
    }

    /// A TCP SYN 10.0.0.1:`port` -> 10.0.0.2:80 in IPv4, after LLC/SNAP.
    fn msdu(port: u16) -> Vec<u8> {
        let mut m = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
        m.extend_from_slice(&[0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0]);
        m.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        m.extend_from_slice(&port.to_be_bytes());
        m.extend_from_slice(&[
            0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        m
    }

    /// `wlan` (an 802.11 frame) in Aruba's GRE (type `protocol`) in IPv4.
    fn aruba(protocol: u16, wlan: &[u8]) -> Vec<u8> {
        let len = u16::try_from(24 + wlan.len()).unwrap().to_be_bytes();
        let mut p = vec![0x45, 0, len[0], len[1], 0, 0, 0x40, 0, 64, 47, 0, 0];
        p.extend_from_slice(&[172, 16, 0, 1, 172, 16, 0, 2, 0, 0]);
        p.extend_from_slice(&protocol.to_be_bytes());
        p.extend_from_slice(wlan);
        p
    }

    /// An 802.11 header: frame control, flags, then addresses and sequence
    /// control (24 bytes, 30 with `flags` To DS and From DS both set).
    fn header(fc: u8, flags: u8) -> Vec<u8> {
        let mut h = vec![fc, flags];
        h.resize(if flags & 3 == 3 { 30 } else { 24 }, 0);
        h
    }

    fn frame(packet: &[u8]) -> (Vec<Content>, Vec<Encap>) {
        let f = decode_frame(
            &RawPacket {
                frame: 7,
                ts_ns: 0,
                linktype: linktype::RAW,
                data: packet,
                orig_len: packet.len() as u32,
            },
            DecodeOptions::default(),
        );
        let mut all = vec![f.content];
        all.extend(f.more);
        (all, f.encaps.iter().collect())
    }

    /// The source port of each packet that is TCP, or what it is instead.
    fn ports(packet: &[u8]) -> Vec<P> {
        frame(packet)
            .0
            .into_iter()
            .map(|c| match c {
                Content::Decoded(Decoded::Tcp(s)) => {
                    assert_eq!(s.frame, 7);
                    P::Tcp(s.src.port)
                }
                Content::Decoded(d) => P::Not(d),
                Content::Fragment(f) => panic!("{f:?}"),
            })
            .collect()
    }

    fn cut(e: Encap) -> P {
        P::Not(Decoded::Undecodable(Undecodable::TruncatedEncap(e)))
    }

    #[test]
    fn data_frames_in_every_address_layout_with_and_without_qos() {
        for flags in 0..4 {
            let plain = [header(0x08, flags), msdu(1)].concat();
            assert_eq!(ports(&aruba(0x8210, &plain)), [P::Tcp(1)], "flags {flags}");
            let qos = [header(0x88, flags), vec![0, 0], msdu(2)].concat();
            assert_eq!(ports(&aruba(0x8300, &qos)), [P::Tcp(2)], "flags {flags}");
        }
        // +HTC: an HT control field after QoS control.
        let htc = [header(0x88, 0x81), vec![0, 0, 0, 0, 0, 0], msdu(3)].concat();
        assert_eq!(ports(&aruba(0x9000, &htc)), [P::Tcp(3)]);
        let (_, encaps) = frame(&aruba(0x8370, &htc));
        assert_eq!(encaps, [Encap::Gre, Encap::Aruba, Encap::Ieee80211]);
        // Not Aruba: GRE type 0x8201 (low nibble set) is an ethertype Zeek does not take for Aruba.
        assert_eq!(
            ports(&aruba(0x8201, &htc)),
            [P::Not(Decoded::NonIp(NonIp::EtherType(0x8201)))]
        );
    }

    #[test]
    fn frames_without_a_packet_are_counted_by_kind() {
        let kind = |wlan: Vec<u8>| ports(&aruba(0x8200, &wlan));
        // A beacon (management), an ACK (control), a null function, a QoS null.
        assert_eq!(
            kind(header(0x80, 0)),
            [P::Not(Decoded::NonIp(NonIp::WlanFrame(0)))]
        );
        assert_eq!(
            kind(vec![0xd4, 0, 0, 0, 1, 2, 3, 4, 5, 6]),
            [P::Not(Decoded::NonIp(NonIp::WlanFrame(1)))]
        );
        assert_eq!(
            kind(header(0x48, 1)),
            [P::Not(Decoded::NonIp(NonIp::WlanNoData(4)))]
        );
        assert_eq!(
            kind([header(0xc8, 1), vec![0, 0]].concat()),
            [P::Not(Decoded::NonIp(NonIp::WlanNoData(12)))]
        );
        // Protected, with or without QoS.
        let protected = P::Not(Decoded::Undecodable(Undecodable::WlanProtected));
        assert_eq!(
            kind([header(0x08, 0x41), msdu(1)].concat()),
            std::slice::from_ref(&protected)
        );
        assert_eq!(
            kind([header(0x88, 0x41), vec![0, 0], msdu(1)].concat()),
            [protected]
        );
        // LLC that is not SNAP (spanning tree).
        assert_eq!(
            kind([header(0x08, 1), vec![0x42, 0x42, 0x03, 0, 0, 0, 0, 0]].concat()),
            [P::Not(Decoded::NonIp(NonIp::Llc))]
        );
    }

    #[test]
    fn cut_headers_are_undecodable_not_panics() {
        let wlan = cut(Encap::Ieee80211);
        for wlan_bytes in [
            vec![],
            vec![0x08],
            header(0x08, 1)[..23].to_vec(),
            header(0x08, 3)[..29].to_vec(),
            header(0x88, 1),                           // no QoS control
            [header(0x88, 0x81), vec![0; 4]].concat(), // HT control cut
            [header(0x08, 1), vec![0xaa, 0xaa, 0x03]].concat(),
        ] {
            assert_eq!(
                ports(&aruba(0x8210, &wlan_bytes)),
                std::slice::from_ref(&wlan),
                "{wlan_bytes:?}"
            );
        }
        // A data frame with an empty body is cut too (no LLC).
        assert_eq!(ports(&aruba(0x8210, &header(0x08, 1))), [wlan]);
    }

    /// A-MSDU subframe: destination, source, length, MSDU.
    fn subframe(msdu: &[u8]) -> Vec<u8> {
        let mut s = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        s.extend_from_slice(&u16::try_from(msdu.len()).unwrap().to_be_bytes());
        s.extend_from_slice(msdu);
        s
    }

    #[test]
    fn amsdu_subframes_are_each_a_packet_with_padding_between() {
        let qos_amsdu = [header(0x88, 1), vec![0x80, 0]].concat();
        let mut body = Vec::new();
        for port in [1, 2, 3] {
            if !body.is_empty() {
                body.resize(body.len().next_multiple_of(4), 0);
            }
            body.extend_from_slice(&subframe(&msdu(port)));
        }
        let whole = aruba(0x8210, &[qos_amsdu.clone(), body.clone()].concat());
        assert_eq!(ports(&whole), [P::Tcp(1), P::Tcp(2), P::Tcp(3)]);
        let (_, encaps) = frame(&whole);
        assert_eq!(
            encaps,
            [Encap::Gre, Encap::Aruba, Encap::Ieee80211, Encap::Amsdu]
        );
        // The last subframe cut: the first two stay packets, the rest is one undecodable packet.
        let cut_last = aruba(
            0x8210,
            &[qos_amsdu.clone(), body[..body.len() - 5].to_vec()].concat(),
        );
        assert_eq!(ports(&cut_last), [P::Tcp(1), P::Tcp(2), cut(Encap::Amsdu)]);
        // A subframe header cut short; an empty A-MSDU.
        let short = aruba(0x8210, &[qos_amsdu.clone(), body[..70].to_vec()].concat());
        assert_eq!(ports(&short), [P::Tcp(1), cut(Encap::Amsdu)]);
        assert_eq!(ports(&aruba(0x8210, &qos_amsdu)), [cut(Encap::Amsdu)]);
        // A subframe that is not IP is a packet of its own kind.
        let arp = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x06, 0, 1];
        // 14 + 10 bytes: a multiple of 4 already, no padding.
        let mixed = [subframe(&arp), subframe(&msdu(4))].concat();
        assert_eq!(
            ports(&aruba(0x8210, &[qos_amsdu, mixed].concat())),
            [P::Not(Decoded::NonIp(NonIp::Arp)), P::Tcp(4)]
        );
    }

    #[test]
    fn an_amsdu_tunnelled_in_an_amsdu_keeps_frame_order() {
        let qos_amsdu = [header(0x88, 1), vec![0x80, 0]].concat();
        let inner_ip = aruba(
            0x8210,
            &[
                qos_amsdu.clone(),
                subframe(&msdu(2)),
                vec![0, 0],
                subframe(&msdu(3)),
            ]
            .concat(),
        );
        let mut inner_msdu = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
        inner_msdu.extend_from_slice(&inner_ip);
        let mut body = subframe(&msdu(1));
        body.resize(body.len().next_multiple_of(4), 0);
        body.extend_from_slice(&subframe(&inner_msdu));
        body.resize(body.len().next_multiple_of(4), 0);
        body.extend_from_slice(&subframe(&msdu(4)));
        let outer = aruba(0x8210, &[qos_amsdu, body].concat());
        assert_eq!(ports(&outer), [P::Tcp(1), P::Tcp(2), P::Tcp(3), P::Tcp(4)]);
    }
}
