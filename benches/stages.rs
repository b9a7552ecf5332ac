//! The stages of issue 17's table that the other benches leave out: flow
//! placement (the flow table's key, lookup and counters per segment) and
//! report formatting (one connection's CSV record and JSON line). With
//! benches/decode.rs (reading, decoding) and benches/state_machine.rs (the
//! machines, the sequence analysis, Zeek's view) they give a cost per stage;
//! benches/compare.sh times the whole program against examples/floor.rs.
//!
//! Input: the benchmark capture's traffic model (examples/bench_traffic), a
//! few thousand interleaved connections encoded and decoded by the real
//! decoder, in capture order.

#[path = "../examples/bench_traffic/mod.rs"]
#[allow(dead_code)] // the generator's statistics are not used here
mod bench_traffic;

use std::hint::black_box;

use bench_traffic::{Params, Traffic};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tcpstate::capture::{linktype, RawPacket};
use tcpstate::flow::{FlowTable, KeyOptions, Keyer};
use tcpstate::internals::{decode, Decoded};
use tcpstate::model::Segment;
use tcpstate::report::{Part, StreamingReport};
use tcpstate::Analyzer;
use tcpstate_synth::{frame, PcapFormat, PcapWriter};

const CONNECTIONS: u64 = 3_000;

/// The model's segments, decoded, in capture order; and the same traffic as
/// classic pcap bytes.
fn input() -> (Vec<Segment>, Vec<u8>) {
    let traffic = Traffic::new(Params {
        connections: CONNECTIONS,
        ..Params::default()
    });
    let mut segments = Vec::new();
    let mut pcap = PcapWriter::new(
        Vec::new(),
        tcpstate_synth::Link::Ethernet,
        PcapFormat::default(),
    )
    .unwrap();
    for (i, e) in traffic.enumerate() {
        let bytes = frame(&e.link, &e.seg);
        pcap.write_frame(e.seg.ts_ns, &bytes).unwrap();
        let raw = RawPacket {
            frame: i as u64 + 1,
            ts_ns: e.seg.ts_ns as i64,
            linktype: linktype::ETHERNET,
            data: &bytes,
            orig_len: bytes.len() as u32,
        };
        let Decoded::Tcp(seg) = decode(&raw) else {
            panic!("frame {} did not decode as TCP", i + 1);
        };
        segments.push(seg);
    }
    (segments, pcap.into_inner().unwrap())
}

fn place(c: &mut Criterion, segments: &[Segment]) {
    let mut g = c.benchmark_group("place");
    g.throughput(Throughput::Elements(segments.len() as u64));
    // Key, find or start the connection, count: what the shards do per
    // segment before the trackers run.
    g.bench_function("flow_table", |b| {
        b.iter_batched(
            || (Keyer::new(KeyOptions::default()), FlowTable::<u64>::new()),
            |(mut keyer, mut table)| {
                let mut next = 0u64;
                for seg in segments {
                    let key = keyer.key(seg);
                    let p = table.add(key, seg, || 0);
                    if p.new {
                        table.set_stream(p.slot, next);
                        next += 1;
                    }
                    *table.data_mut(p.slot) += 1;
                }
                black_box(table.len())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn format(c: &mut Criterion, pcap: Vec<u8>) {
    let analysis = Analyzer::new()
        .analyze_reader("bench.pcap", std::io::Cursor::new(pcap))
        .unwrap();
    let conns = analysis.connections.as_slice();
    let mut g = c.benchmark_group("format");
    g.throughput(Throughput::Elements(conns.len() as u64));
    for (name, part) in [
        ("csv", Part::ConnectionsCsv),
        ("json", Part::ConnectionsJson),
        ("zeek_json", Part::ZeekJson),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(1 << 20);
                let mut report = StreamingReport::new();
                report.add(part, &mut out);
                for chunk in conns.chunks(4096) {
                    report.connections(0, "bench.pcap", chunk).unwrap();
                }
                drop(report);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let (segments, pcap) = input();
    place(c, &segments);
    format(c, pcap);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
