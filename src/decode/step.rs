//! The vocabulary of the walk through a frame's layers: the state it carries
//! ([`Ctx`]), the step each layer hands back ([`Next`]), and where the walk
//! ends ([`Found`]). Every layer file speaks it; none calls another.

use std::net::IpAddr;

use super::outcome::{Decoded, Fragment, IpProtocol, Layers, NonIp, Undecodable, MAX_TUNNELS};
use crate::model::{Encap, TunnelHop, WireFacts};

/// PPP protocol numbers of IPv4 and IPv6 (RFC 1332, RFC 5072), in PPPoE and PPTP.
pub(super) const PPP_IPV4: u16 = 0x0021;
pub(super) const PPP_IPV6: u16 = 0x0057;

/// Frame facts the TCP decoder needs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Meta {
    pub(super) frame: u64,
    pub(super) ts_ns: i64,
    /// Bytes of the frame the capture did not keep (orig_len - caplen).
    pub(super) missing: usize,
}

/// Decoding state of one frame, layer by layer.
#[derive(Debug)]
pub(super) struct Ctx {
    pub(super) layers: Layers,
    pub(super) meta: Meta,
}

impl Ctx {
    /// Counts an encapsulation the frame went through.
    #[inline]
    pub(super) fn saw(&mut self, e: Encap) {
        self.layers.encaps.insert(e);
    }

    /// Enters a tunnel whose outer IP payload is `t`: records the hop, or
    /// refuses to go deeper than [`MAX_TUNNELS`]. Every tunnel passes here,
    /// so this bounds the walk.
    #[inline]
    pub(super) fn enter(
        &mut self,
        t: &Transport<'_>,
        encap: Encap,
        id: Option<u32>,
    ) -> Result<(), Undecodable> {
        if self.layers.hops.len() >= MAX_TUNNELS {
            return Err(Undecodable::TooDeep);
        }
        self.saw(encap);
        self.layers.hops.push(TunnelHop {
            encap,
            src: t.src,
            dst: t.dst,
            id,
        });
        Ok(())
    }
}

/// The next layer to read, as the one just read found it; the walk in
/// `decode/mod.rs` hands it to the layer file that reads it. Small on
/// purpose (the IP layer's bigger answer is [`IpNext`]): the walk moves it
/// at every step.
pub(super) enum Next<'a> {
    /// A frame of this link type (LINKTYPE_ number).
    Link(u16, &'a [u8]),
    /// An Ethernet II frame, from its destination address on.
    Ethernet(&'a [u8]),
    /// What follows an ethertype: VLAN tags, MPLS, PPPoE, IP...
    EtherPayload(u16, &'a [u8]),
    /// An IPv4 or IPv6 packet.
    Ip(&'a [u8]),
    /// An IEEE 802.11 frame without FCS, from its frame control on.
    Wlan(&'a [u8]),
    /// The body of an 802.11 frame that is an A-MSDU: several packets.
    Amsdu(&'a [u8]),
    /// The walk ends: the frame does not lead to TCP.
    Done(Stop),
}

// Four words: a larger `Next` costs every step of every tunnelled frame.
const _: () = assert!(std::mem::size_of::<Next<'static>>() <= 32);

/// What the IP layer hands back: the packet's payload, for the walk to end
/// at TCP or to hand to the tunnel layer, or the end of the walk.
pub(super) enum IpNext<'a> {
    /// The payload of an IP packet that is whole.
    Payload(Transport<'a>),
    /// An IP fragment: the walk ends until its datagram is reassembled.
    Fragment(Box<Fragment>),
    /// The walk ends: the packet is unreadable.
    Done(Stop),
}

/// An IP payload and what the IP header said about it.
pub(super) struct Transport<'a> {
    pub(super) protocol: u8,
    pub(super) src: IpAddr,
    pub(super) dst: IpAddr,
    /// The payload bytes the capture holds.
    pub(super) payload: &'a [u8],
    /// The payload length the IP header reports (Wireshark's basis for `tcp.len`).
    pub(super) reported: usize,
    /// Length of the IP header and its extension headers (for Zeek's ip_bytes).
    pub(super) header_len: usize,
    /// The IP header's ID, TTL and TOS (the TCP decoder adds the rest).
    pub(super) wire: WireFacts,
}

/// A packet of the frame still to be walked (an A-MSDU subframe after the
/// first): the layers outside it, and where its own layers start.
pub(super) struct Pending<'a> {
    pub(super) layers: Layers,
    pub(super) next: Next<'a>,
}

/// Where the walk through a frame's layers ended.
pub(super) enum Found<'a> {
    Tcp(Transport<'a>),
    Stop(Stop),
    Fragment(Box<Fragment>),
}

/// A frame that does not lead to TCP.
pub(super) enum Stop {
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

/// The walk ends: the frame is undecodable.
pub(super) fn undecodable<'a>(u: Undecodable) -> Next<'a> {
    Next::Done(Stop::Undecodable(u))
}

/// The walk ends: the frame is not IP.
pub(super) fn non_ip<'a>(k: NonIp) -> Next<'a> {
    Next::Done(Stop::NonIp(k))
}

/// The walk ends: IP, but neither TCP nor a tunnel.
pub(super) fn other_ip<'a>(protocol: u8) -> Next<'a> {
    Next::Done(Stop::OtherIp(IpProtocol(protocol)))
}
