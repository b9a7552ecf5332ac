//! Per-segment cost of the three per-connection trackers that see every TCP
//! segment: the RFC 9293 machines (`PairedMachines`), the sequence analysis
//! (`SeqAnalyzer`, Wireshark's tcp.analysis flags) and Zeek's view
//! (`ZeekSessions`: Zeek's own connection table, keyed as Zeek keys
//! connections, with its timers), alone and together.
//!
//! The input is the benchmark capture's traffic model (examples/bench_traffic,
//! the one examples/gen_bench_capture.rs writes): a few thousand interleaved
//! connections, encoded to Ethernet frames and decoded back by the real decoder,
//! then fed in capture order to one tracker per connection, as the analysis
//! does after the flow table has placed each segment (Zeek's view finds its
//! connection itself, by the segment's key, computed beforehand). Reading,
//! decoding and the flow table are not measured here (benches/decode.rs,
//! benches/pipeline.rs).

#[path = "../examples/bench_traffic/mod.rs"]
#[allow(dead_code)] // the generator's statistics are not used here
mod bench_traffic;

use std::hint::black_box;

use bench_traffic::{Params, Traffic};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tcpstate::capture::{linktype, RawPacket};
use tcpstate::flow::{FlowKey, KeyOptions, Keyer};
use tcpstate::internals::{decode, Decoded};
use tcpstate::model::Segment;
use tcpstate::tcp::machine::{Config, PairedMachines};
use tcpstate::tcp::sequence::SeqAnalyzer;
use tcpstate::tcp::zeek::{ZeekConfig, ZeekSessions};
use tcpstate::Side;
use tcpstate_synth::frame;

const CONNECTIONS: u64 = 3_000;

/// Decoded segments in capture order, each with its connection and sender,
/// and each one's Zeek key.
struct Input {
    segments: Vec<(usize, Side, Segment)>,
    zeek_keys: Vec<FlowKey>,
    connections: usize,
}

fn input() -> Input {
    let traffic = Traffic::new(Params {
        connections: CONNECTIONS,
        ..Params::default()
    });
    let mut segments = Vec::new();
    for (i, e) in traffic.enumerate() {
        let bytes = frame(&e.link, &e.seg);
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
        let side = match e.side {
            tcpstate_synth::Side::Client => Side::Client,
            tcpstate_synth::Side::Server => Side::Server,
        };
        segments.push((e.conn as usize, side, seg));
    }
    let connections = segments.iter().map(|(c, _, _)| c + 1).max().unwrap_or(0);
    let mut keyer = Keyer::new(KeyOptions::default());
    let zeek_keys = segments
        .iter()
        .map(|(_, _, s)| keyer.key(s).without_tunnel())
        .collect();
    Input {
        segments,
        zeek_keys,
        connections,
    }
}

fn bench(c: &mut Criterion) {
    let input = input();
    let segs = &input.segments;
    let n = input.connections;
    eprintln!(
        "state_machine bench: {} segments of {} connections",
        segs.len(),
        n
    );
    let mut g = c.benchmark_group("per_segment");
    g.throughput(Throughput::Elements(segs.len() as u64));

    g.bench_function("paired_machines", |b| {
        b.iter_batched(
            || vec![PairedMachines::new(Config::default()); n],
            |mut machines| {
                for (conn, side, seg) in segs {
                    machines[*conn].on_segment(seg, *side);
                }
                machines
            },
            BatchSize::LargeInput,
        )
    });

    g.bench_function("seq_analyzer", |b| {
        b.iter_batched(
            || vec![SeqAnalyzer::new(); n],
            |mut analyzers| {
                for (conn, side, seg) in segs {
                    black_box(analyzers[*conn].on_segment(seg, *side, false));
                }
                analyzers
            },
            BatchSize::LargeInput,
        )
    });

    let keys = &input.zeek_keys;
    // As a shard does: the Zeek connection a stream's packets went to last
    // is tried first.
    let zeek_one = |table: &mut ZeekSessions, last: &mut [Option<u32>], i: usize| {
        let (conn, _, seg) = &segs[i];
        let touch = table.packet(keys[i], seg, seg.ts_ns, Some(*conn as u32), last[*conn]);
        last[*conn] = Some(touch.session);
        while let Some(done) = table.pop_finished() {
            black_box(done);
        }
    };
    g.bench_function("zeek_view", |b| {
        b.iter_batched(
            || (ZeekSessions::new(ZeekConfig::default()), vec![None; n]),
            |(mut table, mut last)| {
                for i in 0..segs.len() {
                    zeek_one(&mut table, &mut last, i);
                }
                table
            },
            BatchSize::LargeInput,
        )
    });

    g.bench_function("all_three", |b| {
        b.iter_batched(
            || {
                (
                    vec![PairedMachines::new(Config::default()); n],
                    vec![SeqAnalyzer::new(); n],
                    ZeekSessions::new(ZeekConfig::default()),
                    vec![None; n],
                )
            },
            |(mut machines, mut analyzers, mut table, mut last)| {
                for (i, (conn, side, seg)) in segs.iter().enumerate() {
                    machines[*conn].on_segment(seg, *side);
                    black_box(analyzers[*conn].on_segment(seg, *side, false));
                    zeek_one(&mut table, &mut last, i);
                }
                (machines, analyzers, table)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
