//! The floor of issue 17: the least work any TCP connection tool must do on a
//! capture, so benches/compare.sh can say how far above it tcpstate's full
//! analysis is.
//!
//! ```text
//! cargo run --release --example floor -- CAPTURE.pcap
//! ```
//!
//! One thread; the file memory-mapped; classic pcap records walked with
//! pcap-parser; each Ethernet frame sliced by etherparse (VLAN tags, IPv4/IPv6,
//! TCP); one Fx hash map from the unordered endpoint pair to packets, bytes
//! and counts of SYN, FIN and RST per direction. It prints the connections
//! and totals, so the work cannot be optimised away. No state machines, no
//! sequence analysis, no output per connection: a lower bound, not a rival.

use std::fs::File;
use std::net::IpAddr;
use std::process::ExitCode;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use memmap2::Mmap;
use pcap_parser::pcap::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header};
use rustc_hash::FxHashMap;

/// One direction's counters.
#[derive(Default, Clone, Copy)]
struct Dir {
    packets: u64,
    bytes: u64,
    syn: u32,
    fin: u32,
    rst: u32,
}

/// The endpoints in order, so both directions share a key.
type Key = (IpAddr, u16, IpAddr, u16);

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: floor CAPTURE.pcap");
        return ExitCode::from(2);
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("floor: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    // SAFETY: the file is only read; a file changed under the map is the
    // caller's problem, as for any mmap reader.
    let map = match unsafe { Mmap::map(&file) } {
        Ok(m) => m,
        Err(e) => {
            eprintln!("floor: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut rest, header) = match parse_pcap_header(&map) {
        Ok(x) => x,
        Err(_) => {
            eprintln!("floor: {path}: not a classic pcap file");
            return ExitCode::from(2);
        }
    };
    let parse = if header.is_bigendian() {
        parse_pcap_frame_be
    } else {
        parse_pcap_frame
    };
    let mut flows: FxHashMap<Key, [Dir; 2]> = FxHashMap::default();
    let (mut frames, mut tcp) = (0u64, 0u64);
    while !rest.is_empty() {
        let (next, block) = match parse(rest) {
            Ok(x) => x,
            Err(_) => break,
        };
        rest = next;
        frames += 1;
        let Ok(p) = SlicedPacket::from_ethernet(block.data) else {
            continue;
        };
        let (src, dst) = match &p.net {
            Some(NetSlice::Ipv4(ip)) => (
                IpAddr::V4(ip.header().source_addr()),
                IpAddr::V4(ip.header().destination_addr()),
            ),
            Some(NetSlice::Ipv6(ip)) => (
                IpAddr::V6(ip.header().source_addr()),
                IpAddr::V6(ip.header().destination_addr()),
            ),
            _ => continue,
        };
        let Some(TransportSlice::Tcp(t)) = &p.transport else {
            continue;
        };
        tcp += 1;
        let (sp, dp) = (t.source_port(), t.destination_port());
        let (key, d) = if (src, sp) <= (dst, dp) {
            ((src, sp, dst, dp), 0)
        } else {
            ((dst, dp, src, sp), 1)
        };
        let dir = &mut flows.entry(key).or_default()[d];
        dir.packets += 1;
        dir.bytes += t.payload().len() as u64;
        dir.syn += u32::from(t.syn());
        dir.fin += u32::from(t.fin());
        dir.rst += u32::from(t.rst());
    }
    let (mut syn, mut fin, mut rst, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for d in flows.values().flatten() {
        syn += u64::from(d.syn);
        fin += u64::from(d.fin);
        rst += u64::from(d.rst);
        bytes += d.bytes;
    }
    println!(
        "{frames} frames, {tcp} TCP, {} endpoint pairs, {bytes} payload bytes, {syn} SYN, {fin} FIN, {rst} RST",
        flows.len()
    );
    ExitCode::SUCCESS
}
