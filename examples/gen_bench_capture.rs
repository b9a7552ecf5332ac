//! Writes a large synthetic capture for whole-process benchmarks:
//! `cargo run --release --example gen_bench_capture -- OUT.pcap CONNECTIONS [pcapng]`.

use std::fs::File;
use std::io::BufWriter;

use tcpstate::synth::{workload, ByteOrder, Interface, Link, PcapFormat, PcapNgWriter, PcapWriter};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).map_or("bench.pcap", String::as_str);
    let n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let ng = args.get(3).is_some_and(|s| s == "pcapng");
    let file = BufWriter::new(File::create(out)?);
    let packets = workload(n);
    if ng {
        let mut w = PcapNgWriter::new(file, ByteOrder::Little)?;
        let iface = w.add_interface(Interface::new(Link::Ethernet))?;
        for p in &packets {
            w.write_packet(iface, p)?;
        }
        w.into_inner()?;
    } else {
        let mut w = PcapWriter::new(file, Link::Ethernet, PcapFormat::default())?;
        w.write_packets(&packets)?;
        w.into_inner()?;
    }
    eprintln!("{out}: {n} connections, {} packets", packets.len());
    Ok(())
}
