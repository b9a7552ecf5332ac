//! Throughput of the whole library pipeline (read, decode, split into
//! connections) on an in-memory synthetic capture, pcap and pcapng.
//! Whole-process timings against peers are in scripts/bench.sh.

use std::io::Cursor;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tcpstate::capture::CaptureReader;
use tcpstate::Analyzer;
use tcpstate_synth::{workload, ByteOrder, Interface, Link, PcapFormat, PcapNgWriter, PcapWriter};

fn pcap_bytes(n: u32) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), Link::Ethernet, PcapFormat::default()).unwrap();
    for p in workload(n) {
        w.write_packet(&p).unwrap();
    }
    w.into_inner().unwrap()
}

fn pcapng_bytes(n: u32) -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new(), ByteOrder::Little).unwrap();
    let iface = w.add_interface(Interface::new(Link::Ethernet)).unwrap();
    for p in workload(n) {
        w.write_packet(iface, &p).unwrap();
    }
    w.into_inner().unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    for (name, bytes) in [
        ("pcap", pcap_bytes(20_000)),
        ("pcapng", pcapng_bytes(20_000)),
    ] {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| {
            b.iter_batched(
                || bytes.clone(),
                |data| {
                    let r = CaptureReader::from_reader(name.into(), Box::new(Cursor::new(data)))
                        .unwrap();
                    let a = Analyzer::new().analyze_source(Box::new(r));
                    assert_eq!(a.connections.len(), 20_000);
                    a
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
