//! Writes the captures of the resource-bound benchmark (scripts/resource_bench.sh),
//! streaming, so the generator itself stays small whatever the size:
//!
//! ```text
//! cargo run --release --example gen_resource_captures -- synflood OUT.pcap N
//!     N SYNs, each from its own client port (10.x.y.z:p) to its own server
//!     port on 10.255.0.1: N connections that never complete (a SYN flood
//!     or port scan), 1 µs apart
//! cargo run --release --example gen_resource_captures -- longconn OUT.pcap N
//!     one connection: handshake, N one-byte segments from the client (the
//!     server ACKs every tenth), FIN close: about 1.1 N + 7 frames
//! cargo run --release --example gen_resource_captures -- nullflood OUT.pcap N
//!     one endpoint pair, N segments with no flag set (a null scan run long):
//!     each is an invalid_flags anomaly of the same connection
//! cargo run --release --example gen_resource_captures -- fragflood OUT.pcap N
//!     N first fragments of TCP segments (1 KiB each, distinct sources and IP
//!     ids) whose second fragment never comes, 1 µs apart: the reassembler
//!     must give them up within its byte limit
//! cargo run --release --example gen_resource_captures -- maxblock OUT.pcapng
//!     a pcapng whose third block claims the largest length the reader
//!     accepts (256 MiB + 64 KiB) and then ends
//! ```

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tcpstate_synth::{
    fragment_tcp, frame, ByteOrder, Interface, Link, Packet, PcapFormat, PcapNgWriter, PcapWriter,
    Segment, TcpFlags, EPOCH_2026_NS,
};

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
}

fn synflood(out: &str, n: u64) -> io::Result<()> {
    let file = BufWriter::with_capacity(1 << 20, File::create(out)?);
    let mut w = PcapWriter::new(file, Link::Ethernet, PcapFormat::default())?;
    for i in 0..n {
        // Client address and port from i: distinct 4-tuples for 2^40 SYNs.
        let client = v4(
            10,
            (i >> 32) as u8,
            (i >> 24) as u8,
            (i >> 16) as u8,
            i as u16,
        );
        let server = v4(10, 255, 0, 1, (i as u16).wrapping_mul(40503));
        let seg = Segment::new(
            EPOCH_2026_NS + i * 1000,
            client,
            server,
            (i as u32).wrapping_mul(2_654_435_761),
            0,
            TcpFlags::SYN,
        );
        w.write_frame(seg.ts_ns, &frame(&Link::Ethernet, &seg))?;
    }
    w.into_inner()?.flush()
}

fn longconn(out: &str, n: u64) -> io::Result<()> {
    let file = BufWriter::with_capacity(1 << 20, File::create(out)?);
    let mut w = PcapWriter::new(file, Link::Ethernet, PcapFormat::default())?;
    let (c, s) = (v4(10, 0, 1, 1, 40000), v4(10, 0, 2, 1, 80));
    let (c_isn, s_isn) = (1_000u32, 5_000_000u32);
    let mut ts = EPOCH_2026_NS;
    let mut put = |w: &mut PcapWriter<BufWriter<File>>, seg: Segment| -> io::Result<()> {
        ts += 1000;
        let mut seg = seg;
        seg.ts_ns = ts;
        w.write_frame(ts, &frame(&Link::Ethernet, &seg))
    };
    let seg = |src, dst, seq, ack, flags| Segment::new(0, src, dst, seq, ack, flags);
    let ack = TcpFlags::ACK;
    put(&mut w, seg(c, s, c_isn, 0, TcpFlags::SYN))?;
    put(&mut w, seg(s, c, s_isn, c_isn + 1, TcpFlags::SYN | ack))?;
    put(&mut w, seg(c, s, c_isn + 1, s_isn + 1, ack))?;
    let mut next = c_isn.wrapping_add(1);
    for i in 0..n {
        let mut d = seg(c, s, next, s_isn + 1, ack | TcpFlags::PSH);
        d.payload = vec![b'x'];
        put(&mut w, d)?;
        next = next.wrapping_add(1);
        if i % 10 == 9 {
            put(&mut w, seg(s, c, s_isn + 1, next, ack))?;
        }
    }
    put(&mut w, seg(c, s, next, s_isn + 1, ack | TcpFlags::FIN))?;
    put(
        &mut w,
        seg(s, c, s_isn + 1, next.wrapping_add(1), ack | TcpFlags::FIN),
    )?;
    put(&mut w, seg(c, s, next.wrapping_add(1), s_isn + 2, ack))?;
    w.into_inner()?.flush()
}

fn nullflood(out: &str, n: u64) -> io::Result<()> {
    let file = BufWriter::with_capacity(1 << 20, File::create(out)?);
    let mut w = PcapWriter::new(file, Link::Ethernet, PcapFormat::default())?;
    let (c, s) = (v4(10, 0, 1, 1, 40000), v4(10, 0, 2, 1, 80));
    for i in 0..n {
        let seg = Segment::new(EPOCH_2026_NS + i * 1000, c, s, i as u32, 0, TcpFlags::NONE);
        w.write_frame(seg.ts_ns, &frame(&Link::Ethernet, &seg))?;
    }
    w.into_inner()?.flush()
}

fn fragflood(out: &str, n: u64) -> io::Result<()> {
    let file = BufWriter::with_capacity(1 << 20, File::create(out)?);
    let mut w = PcapWriter::new(file, Link::Ethernet, PcapFormat::default())?;
    for i in 0..n {
        let client = v4(10, 1, (i >> 16) as u8, (i >> 8) as u8, 40000);
        let ts_ns = EPOCH_2026_NS + i * 1000;
        let mut seg = Segment::new(ts_ns, client, v4(10, 255, 0, 1, 80), 1, 1, TcpFlags::ACK);
        seg.payload = vec![b'f'; 1100];
        let (first, _never_sent) = fragment_tcp(&seg, 1024, i as u16);
        w.write_packet(&Packet::Other {
            ts_ns,
            special: first,
        })?;
    }
    w.into_inner()?.flush()
}

fn maxblock(out: &str) -> io::Result<()> {
    let mut w = PcapNgWriter::new(BufWriter::new(File::create(out)?), ByteOrder::Little)?;
    w.add_interface(Interface::new(Link::Ethernet))?;
    let claim: u32 = 256 * 1024 * 1024 + 64 * 1024;
    let mut header = 6u32.to_le_bytes().to_vec();
    header.extend_from_slice(&claim.to_le_bytes());
    header.extend_from_slice(&[0; 24]);
    w.write_raw(&header)?;
    w.into_inner()?.flush()
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let n = || arg(2).and_then(|s| s.parse().ok()).expect("a count");
    match (arg(0), arg(1)) {
        (Some("synflood"), Some(out)) => synflood(out, n()),
        (Some("longconn"), Some(out)) => longconn(out, n()),
        (Some("nullflood"), Some(out)) => nullflood(out, n()),
        (Some("fragflood"), Some(out)) => fragflood(out, n()),
        (Some("maxblock"), Some(out)) => maxblock(out),
        _ => {
            eprintln!(
                "usage: gen_resource_captures synflood|longconn|nullflood|fragflood OUT N | maxblock OUT"
            );
            std::process::exit(2)
        }
    }
}
