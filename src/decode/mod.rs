//! Decoding: link layer, encapsulations, IP and TCP headers of one frame into a
//! compact, owned [`Segment`], or into the reason the frame is not an analysable
//! TCP segment.
//!
//! A frame is read layer by layer in one loop, [`walk`]: each layer function
//! reads its header and returns the [`Next`] step (the next header and where
//! it starts, or the end of the walk; the IP layer returns its payload, an
//! [`IpNext`]), and the loop hands that to the layer that reads it. So the
//! layer files never call each other, even though tunnels lead back to
//! Ethernet or IP: `link` (Ethernet, VLAN, MPLS, PPPoE, cooked, loopback),
//! `ip` (IPv4/IPv6, fragments), `tunnel` (GRE, PPTP, ERSPAN, VXLAN, Geneve,
//! GTPv1-U, AYIYA, IP-in-IP, Teredo) and `wlan` (802.11 data frames inside
//! Aruba's GRE, LLC/SNAP, A-MSDU). They share the walk's vocabulary in `step` and the
//! results in `outcome`. Every tunnel is entered through `Ctx::enter`, which
//! refuses more than [`MAX_TUNNELS`], so the walk ends.
//!
//! A frame may carry several packets: an 802.11 A-MSDU's subframes are
//! each one. The walk follows the first and leaves the others pending with
//! the layers outside them; each is then walked on its own, and the frame
//! lists them in [`Frame::more`].
//!
//! A frame that is an IP fragment comes back as a [`Fragment`]: reassembly
//! needs the frames in order, so it happens in `defrag`, and the datagram it
//! completes is decoded with [`decode_reassembled`].
//!
//! Header parsing is etherparse's (lax slices, so packets cut by the snaplen still
//! decode), except on the hot path: Ethernet with at most two VLAN tags and a
//! plain IPv4 or IPv6 header is read straight from the bytes first (a test
//! checks it against the walk on every shipped capture), and TCP options are
//! read by a loop of our own that answers as etherparse's iterator did. The
//! TCP fixed header is read by hand because it must work with as
//! few bytes as Wireshark needs to place a packet in a stream (16), and a
//! segment's payload length comes from the IP header, never from the captured
//! length.

pub(crate) mod defrag;
mod ip;
mod link;
mod outcome;
mod step;
mod tunnel;
mod wlan;

use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::Arc;

use etherparse::IpNumber;

pub use outcome::{
    Content, DecodeOptions, Decoded, Fragment, FragmentKey, Frame, IpProtocol, Layers, NonIp,
    Undecodable, MAX_TUNNELS,
};
use step::{Ctx, Found, IpNext, Meta, Next, Pending, Transport};

use crate::capture::{linktype, RawPacket};
use crate::model::{
    EncapSet, Endpoint, Path, Segment, TcpFlags, TcpOptions, TunnelPath, WireFacts,
};

const TCP: u8 = IpNumber::TCP.0;

/// Reads a frame's layers from `next` on until the walk ends. Tunnels lead
/// back to Ethernet or IP; every one goes through `Ctx::enter`, which
/// refuses more than [`MAX_TUNNELS`], so the loop ends. An A-MSDU's
/// subframes after the first are left in `pending`, each with the layers
/// outside it, for walks of their own.
#[inline(always)]
fn walk<'a>(ctx: &mut Ctx, mut next: Next<'a>, pending: &mut Vec<Pending<'a>>) -> Found<'a> {
    loop {
        next = match next {
            Next::Link(lt, data) => link::link(lt, data),
            Next::Ethernet(data) => link::ethernet(data),
            Next::EtherPayload(et, data) => link::ether_payload(ctx, et, data),
            Next::Wlan(data) => wlan::wlan(ctx, data),
            Next::Amsdu(body) => {
                let mut subframes = wlan::amsdu(ctx, body).into_iter();
                let Some(first) = subframes.next() else {
                    return Found::Stop(step::Stop::Undecodable(Undecodable::TruncatedEncap(
                        crate::model::Encap::Amsdu,
                    )));
                };
                pending.extend(subframes.map(|next| Pending {
                    layers: ctx.layers.clone(),
                    next,
                }));
                first
            }
            Next::Ip(data) => match ip::ip(ctx, data) {
                IpNext::Payload(t) => match transport(ctx, t) {
                    ControlFlow::Continue(next) => next,
                    ControlFlow::Break(found) => return found,
                },
                IpNext::Fragment(f) => return Found::Fragment(f),
                IpNext::Done(stop) => return Found::Stop(stop),
            },
            Next::Done(stop) => return Found::Stop(stop),
        }
    }
}

/// An IP packet's payload: TCP ends the walk; anything else goes to the
/// tunnel layer, which leads on or ends the walk too.
#[inline(always)]
fn transport<'a>(ctx: &mut Ctx, t: Transport<'a>) -> ControlFlow<Found<'a>, Next<'a>> {
    if t.protocol == TCP {
        ControlFlow::Break(Found::Tcp(t))
    } else {
        ControlFlow::Continue(tunnel::tunnel(ctx, &t))
    }
}

/// What the layers found, as the public outcome. The segment is built
/// here, once, straight into its place: passing it along the walk would
/// copy it at each step.
#[inline(always)]
fn finish(ctx: &Ctx, found: Found<'_>) -> Content {
    match found {
        Found::Tcp(t) => Content::Decoded(decode_tcp(ctx, &t)),
        Found::Stop(stop) => Content::Decoded(stop.into()),
        Found::Fragment(f) => Content::Fragment(f),
    }
}

#[inline]
fn start(pkt: &RawPacket<'_>, options: DecodeOptions) -> Ctx {
    Ctx {
        layers: Layers {
            verify_checksums: options.verify_checksums,
            wire_facts: options.wire_facts,
            ..Layers::default()
        },
        meta: Meta {
            frame: pkt.frame,
            ts_ns: pkt.ts_ns,
            missing: pkt.orig_len.saturating_sub(pkt.data.len() as u32) as usize,
        },
    }
}

/// The shortcut for the common case, Ethernet TCP with at most two VLAN
/// tags (see `ip::plain_ethernet_tcp`), which records the tags in `ctx` as
/// the walk would; None sends the frame on the walk. Each caller builds the
/// shortcut's segment on a path of its own: merged with the walk's, the
/// segment went through memory, which costs the plain frame.
#[inline(always)]
fn shortcut<'a>(ctx: &mut Ctx, pkt: &RawPacket<'a>) -> Option<Transport<'a>> {
    if pkt.linktype != linktype::ETHERNET {
        return None;
    }
    let (t, vlans) = ip::plain_ethernet_tcp(pkt.data)?;
    if !vlans.is_empty() {
        ctx.layers.vlans = vlans;
        ctx.saw(crate::model::Encap::Vlan);
    }
    Some(t)
}

/// Walks a frame from `next` on, then each packet that walk left pending
/// (A-MSDU subframes after the first), in the order they lie in the frame,
/// each from the layers outside it. The frame's encapsulations are those of
/// every walk.
fn walk_frame(ctx: &mut Ctx, next: Next<'_>) -> Frame {
    let mut pending = Vec::new();
    let found = walk(ctx, next, &mut pending);
    let content = finish(ctx, found);
    let mut encaps = ctx.layers.encaps;
    let mut more = Vec::new();
    // A stack, so a subframe's own subframes (an A-MSDU tunnelled in an
    // A-MSDU) come before the next subframe.
    pending.reverse();
    while let Some(p) = pending.pop() {
        let mut sub = Ctx {
            layers: p.layers,
            meta: ctx.meta,
        };
        let mut nested = Vec::new();
        let found = walk(&mut sub, p.next, &mut nested);
        more.push(finish(&sub, found));
        encaps.add_all(sub.layers.encaps);
        pending.extend(nested.into_iter().rev());
    }
    Frame {
        content,
        more,
        encaps,
    }
}

/// Decodes one captured frame on its own: IP fragments are reported as such
/// (a TCP fragment as [`Undecodable::TcpFragment`]), never reassembled; of
/// an A-MSDU, only the first packet ([`decode_frame`] gives them all).
pub fn decode(pkt: &RawPacket<'_>) -> Decoded {
    let mut ctx = start(pkt, DecodeOptions::default());
    if let Some(t) = shortcut(&mut ctx, pkt) {
        return decode_tcp(&ctx, &t);
    }
    match walk(
        &mut ctx,
        Next::Link(pkt.linktype, pkt.data),
        &mut Vec::new(),
    ) {
        Found::Tcp(t) => decode_tcp(&ctx, &t),
        Found::Stop(stop) => stop.into(),
        Found::Fragment(f) if f.key.protocol == TCP => {
            Decoded::Undecodable(Undecodable::TcpFragment)
        }
        Found::Fragment(f) => Decoded::OtherIp(IpProtocol(f.key.protocol)),
    }
}

/// Decodes one captured frame down to its innermost TCP segment or fragment.
pub fn decode_frame(pkt: &RawPacket<'_>, options: DecodeOptions) -> Frame {
    let mut ctx = start(pkt, options);
    // The shortcut reads no checksum, so verification takes the general path.
    if !options.verify_checksums {
        if let Some(t) = shortcut(&mut ctx, pkt) {
            return Frame {
                content: Content::Decoded(decode_tcp(&ctx, &t)),
                more: Vec::new(),
                encaps: ctx.layers.encaps,
            };
        }
    }
    decode_frame_walk(pkt, options)
}

/// [`decode_frame`] into `out`, over the frame it held. A batch's slot
/// mostly holds a segment from the last batch: the common frame's segment
/// is then written field by field where it stays, once, rather than built
/// in temporaries and moved there (moves of a 168-byte segment, assembled
/// piecemeal, stalled on store forwarding and cost a memcpy per frame).
#[inline]
pub fn decode_frame_into(pkt: &RawPacket<'_>, options: DecodeOptions, out: &mut Frame) {
    // The shortcut reads no checksum, so verification takes the general path.
    if !options.verify_checksums {
        let mut ctx = start(pkt, options);
        if let Some(t) = shortcut(&mut ctx, pkt) {
            if !out.more.is_empty() {
                out.more = Vec::new();
            }
            out.encaps = ctx.layers.encaps;
            match &mut out.content {
                Content::Decoded(Decoded::Tcp(seg)) if t.payload.len() >= 16 => {
                    fill_segment(&ctx, &t, seg);
                }
                content => *content = Content::Decoded(decode_tcp(&ctx, &t)),
            }
            return;
        }
    }
    *out = decode_frame_walk(pkt, options);
}

/// [`decode_frame`]'s general path: the walk through every layer.
#[inline(never)]
fn decode_frame_walk(pkt: &RawPacket<'_>, options: DecodeOptions) -> Frame {
    let mut ctx = start(pkt, options);
    walk_frame(&mut ctx, Next::Link(pkt.linktype, pkt.data))
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
    let datagram = Transport {
        protocol: last.key.protocol,
        src: last.key.src,
        dst: last.key.dst,
        payload,
        reported: payload.len(),
        header_len: last.header_len,
        // The fragments' TTL and TOS are not kept; the ID is the datagram's.
        wire: WireFacts {
            ip_id: match last.key.src {
                IpAddr::V4(_) => u16::try_from(last.key.id).ok(),
                IpAddr::V6(_) => None,
            },
            ..WireFacts::default()
        },
    };
    match transport(&mut ctx, datagram) {
        ControlFlow::Continue(next) => walk_frame(&mut ctx, next),
        ControlFlow::Break(found) => Frame {
            content: finish(&ctx, found),
            more: Vec::new(),
            encaps: ctx.layers.encaps,
        },
    }
}

#[inline(always)]
fn decode_tcp(ctx: &Ctx, t: &Transport<'_>) -> Decoded {
    // Wireshark places a packet in a stream once ports, numbers, flags and window are read.
    if t.payload.len() < 16 {
        return Decoded::Undecodable(Undecodable::TruncatedTcp);
    }
    let mut seg = blank_segment();
    fill_segment(ctx, t, &mut seg);
    Decoded::Tcp(seg)
}

/// A segment to fill in: every field is overwritten by [`fill_segment`].
#[inline(always)]
fn blank_segment() -> Segment {
    let nowhere = Endpoint {
        addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        port: 0,
    };
    Segment {
        frame: 0,
        ts_ns: 0,
        src: nowhere,
        dst: nowhere,
        seq: 0,
        ack: 0,
        flags: TcpFlags(0),
        window: 0,
        payload_len: 0,
        captured_payload_len: 0,
        ip_len: 0,
        options: TcpOptions::default(),
        bad_header_len: false,
        short_segment: false,
        header_cut: false,
        path: Path::default(),
        bad_checksum: false,
        wire: WireFacts::default(),
    }
}

/// Writes every field of `seg` from the TCP header in `t` (at least the
/// 16 bytes [`decode_tcp`] asks for), one field at a time, so a segment
/// in its final place is written there directly.
#[inline(always)]
fn fill_segment(ctx: &Ctx, t: &Transport<'_>, seg: &mut Segment) {
    let tcp = t.payload;
    let be16 = |o: usize| u16::from_be_bytes([tcp[o], tcp[o + 1]]);
    let be32 = |o: usize| u32::from_be_bytes([tcp[o], tcp[o + 1], tcp[o + 2], tcp[o + 3]]);
    let header_len = (tcp[12] >> 4) as usize * 4;
    let bad_header_len = header_len < 20;
    // The frame itself may be shorter on the wire than the IP header claims.
    let reported_len = t.reported.min(tcp.len() + ctx.meta.missing);
    let short_segment = reported_len < header_len;
    let header_cut = tcp.len() < header_len;
    seg.wire = t.wire;
    let end = header_len.min(tcp.len());
    if !bad_header_len && end > 20 {
        parse_options_into(&tcp[20..end], &mut seg.options);
        if ctx.layers.wire_facts {
            seg.wire.option_kinds = WireFacts::option_kinds_of(&tcp[20..end]);
        }
    } else {
        seg.options = TcpOptions::default();
    }
    let payload_len = if short_segment {
        0
    } else {
        reported_len - header_len
    };
    let captured_payload_len = tcp.len().saturating_sub(header_len).min(payload_len);
    if ctx.layers.wire_facts && !bad_header_len && captured_payload_len > 0 {
        seg.wire.payload_digest =
            WireFacts::digest(&tcp[header_len..header_len + captured_payload_len]);
    }
    // Only a segment captured whole can be checked; a cut one is given the benefit of the doubt.
    seg.bad_checksum = ctx.layers.verify_checksums
        && tcp.len() >= reported_len
        && !checksum_ok(t.src, t.dst, &tcp[..reported_len]);
    seg.path.tunnel = if ctx.layers.hops.is_empty() {
        None
    } else {
        Some(Arc::new(TunnelPath(ctx.layers.hops.clone())))
    };
    seg.path.vlans = ctx.layers.vlans;
    seg.frame = ctx.meta.frame;
    seg.ts_ns = ctx.meta.ts_ns;
    seg.src.addr = t.src;
    seg.src.port = be16(0);
    seg.dst.addr = t.dst;
    seg.dst.port = be16(2);
    seg.seq = be32(4);
    seg.ack = be32(8);
    seg.flags = TcpFlags(be16(12) & 0x01ff);
    seg.window = be16(14);
    seg.payload_len = payload_len as u32;
    seg.captured_payload_len = captured_payload_len as u32;
    seg.ip_len = (t.header_len + reported_len) as u32;
    seg.bad_header_len = bad_header_len;
    seg.short_segment = short_segment;
    seg.header_cut = header_cut;
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
    sum += u64::from(TCP) + segment.len() as u64;
    add(&mut sum, segment);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

/// Reads the options the analysis needs, by hand: a loop over kind and
/// length bytes costs a fraction of a general iterator's per-option results.
/// It answers as etherparse's `TcpOptionsIterator` did (a test compares them
/// on random option bytes), and so as tcpstate always has: the walk stops at
/// the end-of-list option, at an option cut short or of a length its kind
/// does not allow (MSS 4, window scale 3, SACK-permitted 2, timestamps 10,
/// SACK 10, 18, 26 or 34), and at any other kind, whose options are then
/// not read (Wireshark reads on by the length byte).
#[inline(always)]
fn parse_options_into(bytes: &[u8], o: &mut TcpOptions) {
    // What Linux and most stacks put on every segment after the handshake:
    // two NOPs and the timestamps.
    if let [NOP, NOP, TIMESTAMP, 10, v0, v1, v2, v3, e0, e1, e2, e3] = *bytes {
        o.mss = None;
        o.window_scale = None;
        o.sack_permitted = false;
        o.sack_count = 0;
        o.sack = [(0, 0); 4];
        o.timestamp = Some((
            u32::from_be_bytes([v0, v1, v2, v3]),
            u32::from_be_bytes([e0, e1, e2, e3]),
        ));
        return;
    }
    *o = parse_options_walk(bytes);
}

/// The general case of [`parse_options_into`].
fn parse_options_walk(mut bytes: &[u8]) -> TcpOptions {
    let be32 = |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let mut o = TcpOptions::default();
    while let Some(&kind) = bytes.first() {
        let len = match kind {
            NOP => {
                bytes = &bytes[1..];
                continue;
            }
            MSS => 4,
            WINDOW_SCALE => 3,
            SACK_PERMITTED => 2,
            TIMESTAMP => 10,
            SACK => match bytes.get(1) {
                Some(&l @ (10 | 18 | 26 | 34)) => usize::from(l),
                _ => break,
            },
            END_OF_LIST => break,
            // A kind we do not read (MPTCP, TCP Fast Open, user timeout...)
            // is skipped by its length, as Linux (`tcp_parse_options`) and
            // Wireshark (`dissect_ip_tcp_options`) skip it, so the options
            // after it still count; a length below 2 or past the end ends
            // the list there, as in both.
            _ => match bytes.get(1).map(|&l| usize::from(l)) {
                Some(l) if l >= 2 && l <= bytes.len() => {
                    bytes = &bytes[l..];
                    continue;
                }
                _ => break,
            },
        };
        let Some(opt) = bytes.get(..len) else { break };
        if usize::from(opt[1]) != len {
            break;
        }
        match kind {
            MSS => o.mss = Some(u16::from_be_bytes([opt[2], opt[3]])),
            WINDOW_SCALE => o.window_scale = Some(opt[2]),
            SACK_PERMITTED => o.sack_permitted = true,
            TIMESTAMP => o.timestamp = Some((be32(opt, 2), be32(opt, 6))),
            _ => {
                let blocks = (len - 2) / 8;
                for (i, block) in o.sack.iter_mut().take(blocks).enumerate() {
                    *block = (be32(opt, 2 + 8 * i), be32(opt, 6 + 8 * i));
                }
                o.sack_count = blocks as u8;
            }
        }
        bytes = &bytes[len..];
    }
    o
}

/// TCP option kinds (RFC 9293, RFC 7323, RFC 2018).
const END_OF_LIST: u8 = 0;
const NOP: u8 = 1;
const MSS: u8 = 2;
const WINDOW_SCALE: u8 = 3;
const SACK_PERMITTED: u8 = 4;
const SACK: u8 = 5;
const TIMESTAMP: u8 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    /// The options of `bytes`, read over a value holding every option
    /// already (as a reused segment's do): nothing of it may show through.
    fn parse_options(bytes: &[u8]) -> TcpOptions {
        let mut o = TcpOptions {
            mss: Some(1),
            window_scale: Some(2),
            sack_permitted: true,
            sack: [(3, 4); 4],
            sack_count: 4,
            timestamp: Some((5, 6)),
        };
        parse_options_into(bytes, &mut o);
        o
    }

    /// The common NOP, NOP, timestamps block takes the shortcut and
    /// answers as the walk does, over a reused value too.
    #[test]
    fn the_timestamp_shortcut_answers_as_the_walk() {
        let bytes = [NOP, NOP, TIMESTAMP, 10, 0, 0, 0, 7, 0, 0, 0, 9];
        assert_eq!(parse_options(&bytes), parse_options_walk(&bytes));
        assert_eq!(parse_options(&bytes).timestamp, Some((7, 9)));
    }

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

    /// The plain-Ethernet shortcut must answer exactly as the general path
    /// (segment and encapsulations), on every frame of every capture in
    /// testdata/, VLAN-tagged ones included; so must decoding in place, over
    /// the frame decoded before (as a batch's slot is reused), whatever that
    /// was.
    #[test]
    fn shortcut_agrees_with_the_general_path() {
        use crate::capture::{CaptureReader, Input};
        fn captures(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    captures(&p, out);
                } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        captures(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata"),
            &mut files,
        );
        let (mut taken, mut tagged) = (0, 0);
        let with_facts = DecodeOptions {
            wire_facts: true,
            ..DecodeOptions::default()
        };
        let mut slots = [(); 2].map(|()| Frame {
            content: Content::Decoded(Decoded::NonIp(NonIp::Arp)),
            more: Vec::new(),
            encaps: EncapSet::default(),
        });
        let mut in_place = 0;
        for f in files {
            let Ok(mut r) = CaptureReader::open(&Input::Path(f.clone())) else {
                continue;
            };
            while let Ok(Some(pkt)) = r.next_packet() {
                for (options, slot) in [DecodeOptions::default(), with_facts]
                    .into_iter()
                    .zip(&mut slots)
                {
                    let mut ctx = start(&pkt, options);
                    let general = walk_frame(&mut ctx, Next::Link(pkt.linktype, pkt.data));
                    assert_eq!(
                        decode_frame(&pkt, options),
                        general,
                        "{} frame {}",
                        f.display(),
                        pkt.frame
                    );
                    in_place +=
                        usize::from(matches!(slot.content, Content::Decoded(Decoded::Tcp(_))));
                    decode_frame_into(&pkt, options, slot);
                    assert_eq!(
                        *slot,
                        general,
                        "{} frame {} in place",
                        f.display(),
                        pkt.frame
                    );
                }
                let mut ctx = start(&pkt, DecodeOptions::default());
                if shortcut(&mut ctx, &pkt).is_some() {
                    taken += 1;
                    tagged += usize::from(!ctx.layers.vlans.is_empty());
                }
            }
        }
        assert!(tagged >= 12, "{tagged}");
        assert!(taken > 500, "{taken}");
        assert!(in_place > 1000, "{in_place}");
    }

    /// The facts `tcpstate diff` compares come from the innermost IP
    /// header and the TCP header: ID, TTL, TOS, option kinds, digest.
    #[test]
    fn wire_facts_are_read_from_the_headers() {
        // IPv4: TOS 0xb9 (DSCP 46, ECN 1), ID 0x1234, TTL 57; TCP header of
        // 28 bytes with MSS and two NOPs and SACK-permitted; 3 payload bytes.
        let mut p = vec![
            0x45, 0xb9, 0, 51, 0x12, 0x34, 0x40, 0, 57, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x70, 0x18, 1, 0]);
        p.extend_from_slice(&[0, 0, 0, 0, 2, 4, 5, 0xb4, 1, 1, 4, 2]);
        p.extend_from_slice(b"abc");
        // Option kinds and the digest only when asked for (`tcpstate diff`).
        let Decoded::Tcp(plain) = decode(&raw(linktype::RAW, &p)) else {
            panic!("TCP");
        };
        assert_eq!((plain.wire.option_kinds, plain.wire.payload_digest), (0, 0));
        let asked = DecodeOptions {
            wire_facts: true,
            ..DecodeOptions::default()
        };
        let Content::Decoded(Decoded::Tcp(s)) =
            decode_frame(&raw(linktype::RAW, &p), asked).content
        else {
            panic!("TCP");
        };
        assert_eq!(
            s.wire,
            WireFacts {
                ip_id: Some(0x1234),
                hop_limit: Some(57),
                tos: Some(0xb9),
                option_kinds: (1 << 1) | (1 << 2) | (1 << 4),
                payload_digest: WireFacts::digest(b"abc"),
            }
        );
        assert_ne!(WireFacts::digest(b"abc"), WireFacts::digest(b"abd"));
    }

    /// etherparse's option iterator, as the decoder used it before the
    /// hand-written loop: the reference the loop must agree with.
    fn options_by_etherparse(bytes: &[u8]) -> TcpOptions {
        use etherparse::{TcpOptionElement, TcpOptionsIterator};
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

    /// The options as etherparse reads them once each option of a kind it
    /// does not know (and has a sane length) is turned into NOPs: what
    /// skipping such an option by its length must give.
    fn options_skipping_unknown_kinds(bytes: &[u8]) -> TcpOptions {
        let mut b = bytes.to_vec();
        let mut i = 0;
        while i < b.len() {
            let len = b.get(i + 1).map(|&l| usize::from(l));
            match b[i] {
                0 => break,
                1 => i += 1,
                2 | 3 | 4 | 5 | 8 => match len {
                    Some(l) if l >= 2 => i += l,
                    _ => break,
                },
                _ => match len {
                    Some(l) if l >= 2 && i + l <= b.len() => {
                        b[i..i + l].fill(1);
                        i += l;
                    }
                    _ => break,
                },
            }
        }
        options_by_etherparse(&b)
    }

    /// A timestamp after an MPTCP option (kind 30) is read: the unknown
    /// kind is skipped by its length, as Linux and Wireshark skip it.
    #[test]
    fn an_unknown_option_is_skipped_by_its_length() {
        let mptcp_then_ts = [30, 4, 0x21, 0x81, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9];
        assert_eq!(parse_options(&mptcp_then_ts).timestamp, Some((7, 9)));
        let tfo_then_mss = [34, 2, 2, 4, 5, 0xb4];
        assert_eq!(parse_options(&tfo_then_mss).mss, Some(1460));
        // A bogus length ends the list, as in both.
        assert_eq!(parse_options(&[28, 1, 2, 4, 5, 0xb4]).mss, None);
        assert_eq!(parse_options(&[28, 9, 2, 4, 5, 0xb4]).mss, None);
        // The end-of-list kind ends it.
        assert_eq!(parse_options(&[0, 0, 2, 4, 5, 0xb4]).mss, None);
    }

    #[test]
    fn options_loop_agrees_with_etherparse() {
        // Options built from plausible pieces (right and wrong lengths, cut
        // ends, unknown kinds), and plain random bytes, from a fixed seed.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pieces: [&[u8]; 15] = [
            &[1],
            &[0],
            &[2, 4, 5, 0xb4],
            &[2, 3, 5],
            &[3, 3, 7],
            &[3, 4, 7, 0],
            &[4, 2],
            &[4, 3, 0],
            &[8, 10, 1, 2, 3, 4, 5, 6, 7, 8],
            &[8, 9, 1, 2, 3, 4, 5, 6, 7],
            &[5, 10, 0, 0, 0, 1, 0, 0, 0, 2],
            &[5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4],
            &[5, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0],
            &[30, 4, 0, 0],
            &[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 8],
        ];
        let mut checked = 0;
        for round in 0..20_000 {
            let mut bytes = Vec::new();
            if round % 4 == 0 {
                let n = next() % 41;
                bytes.extend((0..n).map(|_| (next() % 11) as u8));
            } else {
                for _ in 0..next() % 6 {
                    bytes.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
                }
                if round % 3 == 0 {
                    bytes.truncate((next() % (bytes.len() as u64 + 1)) as usize);
                }
            }
            if round % 7 == 0 {
                // A full four-block SACK.
                let mut sack = vec![5, 34];
                sack.extend((0..32).map(|_| next() as u8));
                bytes.extend(sack);
            }
            bytes.truncate(40);
            assert_eq!(
                parse_options(&bytes),
                options_skipping_unknown_kinds(&bytes),
                "{bytes:?}"
            );
            checked += 1;
        }
        assert_eq!(checked, 20_000);
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
            ..DecodeOptions::default()
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
}
