//! Decoding cost per frame, by encapsulation: the plain Ethernet path must not
//! pay for the tunnel layers the decoder also understands.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tcpstate::capture::RawPacket;
use tcpstate::decode::{decode, Decoded};
use tcpstate::synth::{packet_frame, workload, wrapped_frame, ByteOrder, Link, Wrap};

fn frames(link: &Link, n: u32) -> Vec<Vec<u8>> {
    workload(n)
        .iter()
        .map(|p| packet_frame(link, ByteOrder::Little, p))
        .collect()
}

fn bench_frames(c: &mut Criterion, name: &str, linktype: u16, frames: &[Vec<u8>]) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut tcp = 0u32;
            for (i, f) in frames.iter().enumerate() {
                let pkt = RawPacket {
                    frame: i as u64 + 1,
                    ts_ns: 0,
                    linktype,
                    data: f,
                    orig_len: f.len() as u32,
                };
                if matches!(decode(&pkt), Decoded::Tcp(_)) {
                    tcp += 1;
                }
            }
            assert_eq!(tcp as usize, frames.len());
            tcp
        })
    });
    g.finish();
}

fn wrapped(wraps: &[Wrap], n: u32) -> Vec<Vec<u8>> {
    let back: Vec<Wrap> = wraps.iter().map(Wrap::reversed).collect();
    workload(n)
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let w = if i % 2 == 0 { wraps } else { &back[..] };
            wrapped_frame(&Link::Ethernet, ByteOrder::Little, p, w)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    bench_frames(c, "ethernet", 1, &frames(&Link::Ethernet, 2_000));
    let (a, b) = ("172.16.0.1".parse().unwrap(), "172.16.0.2".parse().unwrap());
    let cases = [
        ("vlan", vec![Wrap::Vlan(100)]),
        ("mpls", vec![Wrap::Mpls(vec![16, 17])]),
        (
            "gre",
            vec![Wrap::Gre {
                src: a,
                dst: b,
                checksum: false,
                key: Some(1),
                seq: None,
            }],
        ),
        (
            "vxlan",
            vec![Wrap::Vxlan {
                src: a,
                dst: b,
                vni: 100,
            }],
        ),
    ];
    for (name, wraps) in cases {
        bench_frames(c, name, 1, &wrapped(&wraps, 2_000));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
