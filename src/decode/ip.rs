//! IPv4 and IPv6 (with extension headers) and their fragments: an IP packet
//! becomes its payload and what the header said about it, or a fragment.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{Ipv6ExtensionSlice, LaxIpSlice};

use super::outcome::{Fragment, FragmentKey, Undecodable};
use super::step::{Ctx, IpNext, Stop, Transport};
use crate::model::{VlanStack, WireFacts};

const TCP: u8 = 6;

/// An IP packet: its payload, or the fragment it is.
#[inline(always)]
pub(super) fn ip<'a>(ctx: &mut Ctx, bytes: &'a [u8]) -> IpNext<'a> {
    let (slice, ext_err) = match LaxIpSlice::from_slice(bytes) {
        Ok(s) => s,
        Err(e) => {
            if bytes.is_empty() {
                return undecodable(Undecodable::TruncatedLink);
            }
            return undecodable(Undecodable::BadIp(short_ip_error(&e)));
        }
    };
    if let (true, LaxIpSlice::Ipv4(v4)) = (ctx.layers.verify_checksums, &slice) {
        if !ipv4_header_checksum_ok(v4.header().slice()) {
            return undecodable(Undecodable::BadIpChecksum);
        }
    }
    let payload = slice.payload();
    if ext_err.is_some() {
        // The payload's protocol is hidden behind an extension header we could not read.
        return undecodable(Undecodable::BadIpExtension);
    }
    let (src, dst) = match &slice {
        LaxIpSlice::Ipv4(s) => (
            IpAddr::V4(Ipv4Addr::from(s.header().source())),
            IpAddr::V4(Ipv4Addr::from(s.header().destination())),
        ),
        LaxIpSlice::Ipv6(s) => (
            IpAddr::V6(Ipv6Addr::from(s.header().source())),
            IpAddr::V6(Ipv6Addr::from(s.header().destination())),
        ),
    };
    if payload.fragmented {
        let (id, offset, more) = match &slice {
            LaxIpSlice::Ipv4(s) => {
                let h = s.header();
                (
                    u32::from(h.identification()),
                    u32::from(h.fragments_offset().value()) * 8,
                    h.more_fragments(),
                )
            }
            LaxIpSlice::Ipv6(s) => {
                let frag = s.extensions().clone().into_iter().find_map(|e| match e {
                    Ipv6ExtensionSlice::Fragment(f) => Some(f),
                    _ => None,
                });
                let Some(f) = frag else {
                    return undecodable(Undecodable::BadIpExtension);
                };
                (
                    f.identification(),
                    u32::from(f.fragment_offset().value()) * 8,
                    f.more_fragments(),
                )
            }
        };
        return IpNext::Fragment(Box::new(Fragment {
            frame: ctx.meta.frame,
            ts_ns: ctx.meta.ts_ns,
            key: FragmentKey {
                src,
                dst,
                id,
                protocol: payload.ip_number.0,
                vlans: ctx.layers.vlans,
                hops: ctx.layers.hops.clone(),
            },
            offset,
            more,
            data: payload.payload.to_vec(),
            cut: payload.incomplete,
            header_len: ip_header_len(&slice),
            layers: ctx.layers.clone(),
        }));
    }
    // The payload length the IP header reports, whatever the snaplen kept. A zero
    // length field (TSO on the capture host, IPv6 jumbograms) falls back to the frame.
    let from_header = match &slice {
        LaxIpSlice::Ipv4(s) => {
            let h = s.header();
            let headers = h.slice().len() + s.extensions().auth.map_or(0, |a| a.slice().len());
            (h.total_len() as usize).checked_sub(headers)
        }
        LaxIpSlice::Ipv6(s) => match s.header().payload_length() {
            0 => None,
            n => (n as usize).checked_sub(s.extensions().slice().len()),
        },
    };
    let wire = match &slice {
        LaxIpSlice::Ipv4(s) => {
            let h = s.header();
            ip_facts(Some(h.identification()), h.ttl(), h.slice()[1])
        }
        LaxIpSlice::Ipv6(s) => {
            let h = s.header();
            ip_facts(None, h.hop_limit(), h.traffic_class())
        }
    };
    IpNext::Payload(Transport {
        protocol: payload.ip_number.0,
        src,
        dst,
        payload: payload.payload,
        reported: from_header.unwrap_or(payload.payload.len()),
        header_len: ip_header_len(&slice),
        wire,
    })
}

fn ip_facts(ip_id: Option<u16>, hop_limit: u8, tos: u8) -> WireFacts {
    WireFacts {
        ip_id,
        hop_limit: Some(hop_limit),
        tos: Some(tos),
        ..WireFacts::default()
    }
}

fn undecodable<'a>(u: Undecodable) -> IpNext<'a> {
    IpNext::Done(Stop::Undecodable(u))
}

/// RFC 791: the ones'-complement sum of the header's 16-bit words, checksum
/// field included, is all ones.
fn ipv4_header_checksum_ok(header: &[u8]) -> bool {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

fn ip_header_len(slice: &LaxIpSlice<'_>) -> usize {
    match slice {
        LaxIpSlice::Ipv4(s) => {
            s.header().slice().len() + s.extensions().auth.map_or(0, |a| a.slice().len())
        }
        LaxIpSlice::Ipv6(s) => s.header().slice().len() + s.extensions().slice().len(),
    }
}

/// The common case read straight from the bytes: Ethernet with up to two
/// VLAN tags (802.1Q, 802.1ad, the old 0x9100), IPv4 without options or IPv6
/// without extension headers, unfragmented TCP; with the VLAN IDs, outermost
/// first. None sends the frame through the general path, which gives the same
/// answer for these frames (checked by a test) but pays for the layers it
/// understands.
#[inline(always)]
pub(super) fn plain_ethernet_tcp(data: &[u8]) -> Option<(Transport<'_>, VlanStack)> {
    let be16 = |at: usize| u16::from_be_bytes([data[at], data[at + 1]]);
    // Room for the Ethernet header, two tags and an IPv6 header: every
    // fixed offset read below is inside it.
    if data.len() < 62 {
        return plain_untagged(data);
    }
    let mut vlans = VlanStack::default();
    let mut et = be16(12);
    let mut at = 14;
    while matches!(et, 0x8100 | 0x88a8 | 0x9100) {
        if at == 22 {
            return None;
        }
        vlans.push(be16(at) & 0x0fff);
        et = be16(at + 2);
        at += 4;
    }
    Some((plain_ip_tcp(data, et, at)?, vlans))
}

/// A short untagged frame: the IP header must still be whole.
#[cold]
fn plain_untagged(data: &[u8]) -> Option<(Transport<'_>, VlanStack)> {
    if data.len() < 54 {
        return None;
    }
    let et = u16::from_be_bytes([data[12], data[13]]);
    Some((plain_ip_tcp(data, et, 14)?, VlanStack::default()))
}

/// The IP header of ethertype `et` at `at`, when it is the common case
/// (`data` holds at least `at + 40` bytes).
#[inline(always)]
fn plain_ip_tcp(data: &[u8], et: u16, at: usize) -> Option<Transport<'_>> {
    let be16 = |at: usize| u16::from_be_bytes([data[at], data[at + 1]]);
    let ip = &data[at..at + 40];
    match et {
        0x0800 if ip[0] == 0x45 && ip[9] == TCP && be16(at + 6) & 0x3fff == 0 => {
            let total = usize::from(be16(at + 2));
            let reported = total.checked_sub(20)?;
            let end = data.len().min(at + total);
            Some(Transport {
                protocol: TCP,
                src: IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15])),
                dst: IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19])),
                payload: data.get(at + 20..end)?,
                reported,
                header_len: 20,
                wire: ip_facts(Some(be16(at + 4)), ip[8], ip[1]),
            })
        }
        0x86dd if ip[0] >> 4 == 6 && ip[6] == TCP => {
            let reported = usize::from(be16(at + 4));
            if reported == 0 {
                return None;
            }
            let end = data.len().min(at + 40 + reported);
            let addr = |from: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&ip[from..from + 16]);
                IpAddr::V6(Ipv6Addr::from(o))
            };
            Some(Transport {
                protocol: TCP,
                src: addr(8),
                dst: addr(24),
                payload: &data[at + 40..end],
                reported,
                header_len: 40,
                wire: ip_facts(None, ip[7], (be16(at) >> 4) as u8),
            })
        }
        _ => None,
    }
}

fn short_ip_error(e: &etherparse::err::ip::LaxHeaderSliceError) -> String {
    use etherparse::err::ip::LaxHeaderSliceError as E;
    match e {
        E::Len(l) => format!("truncated ({} of {} bytes)", l.len, l.required_len),
        E::Content(c) => c.to_string(),
    }
}
