//! Writes a large, realistic, deterministic capture for whole-process benchmarks
//! (benches/compare.sh):
//!
//! ```text
//! cargo run --release --example gen_bench_capture -- OUT [--connections N] [--bytes SIZE]
//!     [--format pcap|pcapng] [--seed S] [--gap-us US] [--max-live N]
//! ```
//!
//! * `OUT`: the capture file, or `-` for standard output (e.g. to pipe into gzip);
//! * `--connections N`: connections in the capture (default 200000);
//! * `--bytes SIZE`: about SIZE bytes of classic pcap instead: the number of
//!   connections is derived from it (5390 bytes of pcap per connection on
//!   average, so the pcapng of the same packets is about 15 % larger), which
//!   keeps the packets independent of the format; suffixes k, M, G (powers of
//!   1000) and Ki, Mi, Gi. With `--connections` too, the smaller count wins;
//! * `--format`: classic pcap (µs, the default) or pcapng (one Ethernet
//!   interface, Enhanced Packet Blocks); both hold the same packets for a seed;
//! * `--seed S`: every random choice derives from it (default 1);
//! * `--gap-us US`: mean time between connection starts (default 1500 µs, so
//!   200 000 connections span about five minutes of capture time);
//! * `--max-live N`: bound on simultaneously live connections (default 20000).
//!
//! The older positional form `OUT CONNECTIONS [pcapng]` still works.
//!
//! The default shape is the one of issue 6: about 1.08 GB of classic pcap, 9.2 M
//! packets, 200 k connections, about 101 bytes per frame. The traffic model is in
//! `examples/bench_traffic/mod.rs` (also used by benches/state_machine.rs). The
//! generator streams: memory depends on the live connections only. It prints
//! what it wrote to standard error.

#[path = "bench_traffic/mod.rs"]
#[allow(dead_code)] // the benchmark reads fields this example does not
mod bench_traffic;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use bench_traffic::{Kind, Params, Traffic};
use tcpstate_synth::{frame, ByteOrder, Interface, Link, PcapFormat, PcapNgWriter, PcapWriter};

struct Args {
    out: String,
    params: Params,
    pcapng: bool,
}

/// Average classic-pcap bytes per connection of the default traffic (1.078 GB
/// for 200 000 connections with seed 1), for `--bytes`.
const PCAP_BYTES_PER_CONNECTION: u64 = 5390;

fn parse_size(s: &str) -> Result<u64, String> {
    let units: [(&str, u64); 7] = [
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
        ("G", 1_000_000_000),
        ("M", 1_000_000),
        ("k", 1_000),
        ("K", 1_000),
    ];
    let (num, mult) = units
        .iter()
        .find_map(|(suffix, m)| s.strip_suffix(suffix).map(|n| (n, *m)))
        .unwrap_or((s.strip_suffix('B').unwrap_or(s), 1));
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad size {s:?} (e.g. 1G, 100M, 512Ki)"))?;
    Ok((value * mult as f64) as u64)
}

fn parse_args() -> Result<Args, String> {
    let mut out = None;
    let mut params = Params::default();
    let mut connections = None;
    let mut max_bytes = None;
    let mut pcapng = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |v: String, name: &str| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("{name}: not a number: {v}"))
        };
        match arg.as_str() {
            "--connections" | "-n" => connections = Some(number(value(&arg)?, &arg)?),
            "--bytes" => max_bytes = Some(parse_size(&value(&arg)?)?),
            "--seed" => params.seed = number(value(&arg)?, &arg)?,
            "--gap-us" => params.mean_gap_ns = number(value(&arg)?, &arg)? * 1000,
            "--max-live" => params.max_live = number(value(&arg)?, &arg)? as usize,
            "--format" => match value(&arg)?.as_str() {
                "pcap" => pcapng = false,
                "pcapng" => pcapng = true,
                other => return Err(format!("--format: pcap or pcapng, not {other}")),
            },
            "-h" | "--help" => {
                return Err(
                    "usage: gen_bench_capture OUT [--connections N] [--bytes SIZE] \
                     [--format pcap|pcapng] [--seed S] [--gap-us US] [--max-live N]"
                        .into(),
                )
            }
            _ if out.is_none() && (arg == "-" || !arg.starts_with('-')) => out = Some(arg),
            // The old interface, `OUT CONNECTIONS [pcapng]` (scripts/html_browser_test.sh).
            "pcapng" if connections.is_some() => pcapng = true,
            _ if connections.is_none() && arg.bytes().all(|b| b.is_ascii_digit()) => {
                connections = Some(number(arg.clone(), "CONNECTIONS")?)
            }
            _ => return Err(format!("unexpected argument {arg:?} (see --help)")),
        }
    }
    let from_bytes = max_bytes.map(|b| (b / PCAP_BYTES_PER_CONNECTION).max(1));
    params.connections = match (connections, from_bytes) {
        (Some(n), Some(m)) => n.min(m),
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) => Params::default().connections,
    };
    Ok(Args {
        out: out.ok_or("missing OUT (a file name, or - for stdout)")?,
        params,
        pcapng,
    })
}

/// Either capture format behind one call.
enum Writer<W: Write> {
    Pcap(PcapWriter<W>),
    PcapNg(PcapNgWriter<W>),
}

impl<W: Write> Writer<W> {
    fn new(out: W, pcapng: bool) -> io::Result<Writer<W>> {
        Ok(if pcapng {
            let mut w = PcapNgWriter::new(out, ByteOrder::Little)?;
            w.add_interface(Interface::new(Link::Ethernet))?;
            Writer::PcapNg(w)
        } else {
            Writer::Pcap(PcapWriter::new(out, Link::Ethernet, PcapFormat::default())?)
        })
    }

    fn write(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        match self {
            Writer::Pcap(w) => w.write_frame(ts_ns, frame),
            Writer::PcapNg(w) => w.write_epb(0, ts_ns, frame),
        }
    }

    fn position(&self) -> u64 {
        match self {
            Writer::Pcap(w) => w.position(),
            Writer::PcapNg(w) => w.position(),
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Writer::Pcap(w) => w.into_inner()?.flush(),
            Writer::PcapNg(w) => w.into_inner()?.flush(),
        }
    }
}

fn generate(args: &Args) -> io::Result<()> {
    let started = Instant::now();
    let sink: Box<dyn Write> = if args.out == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(&args.out)?)
    };
    let mut w = Writer::new(BufWriter::with_capacity(1 << 20, sink), args.pcapng)?;
    let mut traffic = Traffic::new(args.params.clone());
    let mut frame_bytes = 0u64;
    let (mut first_ts, mut last_ts) = (None, 0);
    for e in traffic.by_ref() {
        let bytes = frame(&e.link, &e.seg);
        frame_bytes += bytes.len() as u64;
        w.write(e.seg.ts_ns, &bytes)?;
        first_ts.get_or_insert(e.seg.ts_ns);
        last_ts = e.seg.ts_ns;
    }
    let file_bytes = w.position();
    w.finish()?;
    let secs = started.elapsed().as_secs_f64();
    let s = traffic.stats();
    let packets = s.packets.max(1) as f64;
    let pct = |x: u64, of: u64| 100.0 * x as f64 / of.max(1) as f64;
    eprintln!(
        "{}: {} connections, {} packets, {} bytes ({}), {:.1} B average frame, {:.1} B average payload",
        args.out,
        s.connections,
        s.packets,
        file_bytes,
        if args.pcapng { "pcapng" } else { "pcap" },
        frame_bytes as f64 / packets,
        s.payload_bytes as f64 / packets,
    );
    let kinds: Vec<String> = Kind::ALL
        .iter()
        .zip(s.kinds)
        .map(|(k, n)| format!("{} {:.1}%", k.name(), pct(n, s.connections)))
        .collect();
    eprintln!("  kinds: {}", kinds.join(", "));
    eprintln!(
        "  IPv6 {:.1}%, VLAN {:.1}% of connections; segments: no payload {:.1}%, full MSS {:.1}%",
        pct(s.ipv6, s.connections),
        pct(s.vlan, s.connections),
        pct(s.empty, s.packets),
        pct(s.full, s.packets),
    );
    eprintln!(
        "  capture spans {:.1} s; at most {} connections live ({} starts skipped); generated in {:.1} s ({:.0} MB/s)",
        (last_ts - first_ts.unwrap_or(last_ts)) as f64 / 1e9,
        s.max_live,
        s.skipped_starts,
        secs,
        file_bytes as f64 / 1e6 / secs,
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gen_bench_capture: {e}");
            return ExitCode::from(2);
        }
    };
    match generate(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_bench_capture: {}: {e}", args.out);
            ExitCode::FAILURE
        }
    }
}
