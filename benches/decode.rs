//! Decoding cost per frame, by encapsulation: the plain Ethernet path must not
//! pay for the tunnel layers the decoder also understands; and the capture
//! reader's cost of walking every record of a file (mapped), a stream and a
//! gzip stream.
//!
//! `cargo bench --bench decode -- read` runs the reader benchmarks alone, on
//! captures of 20 000 connections written to a temporary directory;
//! `TCPSTATE_BENCH_CAPTURE=/tmp/x.pcap` walks that file instead (written by
//! `cargo run --release --example gen_bench_capture -- /tmp/x.pcap 100000`).

use std::fs::File;
use std::io::{BufWriter, Cursor, Write};
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tcpstate::capture::{CaptureReader, Input, RawPacket};
use tcpstate::internals::{decode, Decoded};
use tcpstate_synth::{
    packet_frame, workload, wrapped_frame, ByteOrder, Interface, Link, PcapFormat, PcapNgWriter,
    PcapWriter, Wrap,
};

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

/// Reads every record, touching each one's length and first byte.
fn walk(mut r: CaptureReader) -> (u64, u64) {
    let mut bytes = 0u64;
    let mut sum = 0u64;
    while let Some(p) = r.next_packet().unwrap() {
        bytes += p.data.len() as u64;
        sum += u64::from(p.data.first().copied().unwrap_or(0));
    }
    (r.frames_read(), bytes + sum)
}

fn write_capture(path: &Path, connections: u32, ng: bool) {
    let file = BufWriter::new(File::create(path).unwrap());
    let packets = workload(connections);
    if ng {
        let mut w = PcapNgWriter::new(file, ByteOrder::Little).unwrap();
        let iface = w.add_interface(Interface::new(Link::Ethernet)).unwrap();
        for p in &packets {
            w.write_packet(iface, p).unwrap();
        }
        w.into_inner().unwrap().flush().unwrap();
    } else {
        let mut w = PcapWriter::new(file, Link::Ethernet, PcapFormat::default()).unwrap();
        w.write_packets(&packets).unwrap();
        w.into_inner().unwrap().flush().unwrap();
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn bench_read(c: &mut Criterion) {
    let files: Vec<(String, PathBuf)> = match std::env::var_os("TCPSTATE_BENCH_CAPTURE") {
        Some(p) => {
            let p = PathBuf::from(p);
            let name = p.file_name().unwrap().to_string_lossy().replace('.', "_");
            vec![(name, p)]
        }
        None => {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
            let pcap = dir.join("bench_read.pcap");
            let pcapng = dir.join("bench_read.pcapng");
            write_capture(&pcap, 20_000, false);
            write_capture(&pcapng, 20_000, true);
            vec![("pcap".into(), pcap), ("pcapng".into(), pcapng)]
        }
    };
    let mut g = c.benchmark_group("read");
    g.sample_size(10);
    for (name, path) in &files {
        let len = std::fs::metadata(path).unwrap().len();
        g.throughput(Throughput::Bytes(len));
        let input = Input::Path(path.clone());
        g.bench_function(format!("{name}_file"), |b| {
            b.iter(|| walk(CaptureReader::open(&input).unwrap()))
        });
        g.bench_function(format!("{name}_stream"), |b| {
            b.iter(|| {
                let f = File::open(path).unwrap();
                walk(CaptureReader::from_reader(name.clone(), Box::new(f)).unwrap())
            })
        });
    }
    // gzip: a smaller capture, decompressed from memory.
    let (_, first) = &files[0];
    let mut data = std::fs::read(first).unwrap();
    data.truncate(64 << 20);
    let gz = gzip(&data);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("gzip_stream", |b| {
        b.iter(|| {
            let mut r =
                CaptureReader::from_reader("gz".into(), Box::new(Cursor::new(gz.clone()))).unwrap();
            let mut n = 0u64;
            // The cut at 64 MiB ends in a truncated record: count what precedes it.
            while let Ok(Some(p)) = r.next_packet() {
                n += p.data.len() as u64;
            }
            n
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_group!(read, bench_read);
criterion_main!(benches, read);
