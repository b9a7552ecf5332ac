//! IPv4 and IPv6 (with extension headers) and their fragments: an IP packet
//! becomes its payload and what the header said about it, or a fragment.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{Ipv6ExtensionSlice, LaxIpSlice};

use super::outcome::{Fragment, FragmentKey, Undecodable};
use super::step::{Ctx, IpNext, Stop, Transport};
use crate::model::WireFacts;

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

/// The common case read straight from the bytes: untagged Ethernet, IPv4
/// without options or IPv6 without extension headers, unfragmented TCP. None
/// sends the frame through the general path, which gives the same answer for
/// these frames (checked by a test) but pays for the layers it understands.
#[inline]
pub(super) fn plain_ethernet_tcp(data: &[u8]) -> Option<Transport<'_>> {
    let be16 = |at: usize| u16::from_be_bytes([data[at], data[at + 1]]);
    if data.len() < 54 {
        return None;
    }
    match be16(12) {
        0x0800 if data[14] == 0x45 && data[23] == TCP && be16(20) & 0x3fff == 0 => {
            let total = usize::from(be16(16));
            let reported = total.checked_sub(20)?;
            let end = data.len().min(14 + total);
            let mut a = [0u8; 8];
            a.copy_from_slice(&data[26..34]);
            Some(Transport {
                protocol: TCP,
                src: IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
                dst: IpAddr::V4(Ipv4Addr::new(a[4], a[5], a[6], a[7])),
                payload: data.get(34..end)?,
                reported,
                header_len: 20,
                wire: ip_facts(Some(be16(18)), data[22], data[15]),
            })
        }
        0x86dd if data[14] >> 4 == 6 && data[20] == TCP => {
            let reported = usize::from(be16(18));
            if reported == 0 {
                return None;
            }
            let end = data.len().min(54 + reported);
            let addr = |at: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&data[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(o))
            };
            Some(Transport {
                protocol: TCP,
                src: addr(22),
                dst: addr(38),
                payload: &data[54..end],
                reported,
                header_len: 40,
                wire: ip_facts(None, data[21], (be16(14) >> 4) as u8),
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
