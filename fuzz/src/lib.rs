//! The checks behind the fuzz targets, one function per target.
//!
//! Each takes the fuzzer's bytes, runs one part of tcpstate on them and
//! asserts the invariants that must hold for any input; a panic is a finding.
//! The same functions replay the minimised inputs in testdata/fuzz as
//! regression tests: tests/fuzz_regressions.rs includes this file by path,
//! so the fuzzers and `cargo test` check exactly the same things.

use std::io::{self, Cursor, Read, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use tcpstate::capture::{linktype, CaptureReader, RawPacket, MAX_RECORD_LEN, MAX_TS_NS, MIN_TS_NS};
use tcpstate::internals::{
    decode, decode_frame, decode_reassembled, Content, DecodeOptions, Decoded, Undecodable,
};
use tcpstate::pipeline::accounting::FrameAccounting;
use tcpstate::report::check::Policy;
use tcpstate::report::{write_report, Column, Format, Report, Style};
use tcpstate::{Analysis, Analyzer};

/// The link types the decoder fuzz target picks from with its first byte:
/// every type the decoder handles, its "not a packet" marker, and one it does not know.
pub const DECODE_LINKTYPES: [u16; 12] = [
    linktype::NULL,
    linktype::ETHERNET,
    linktype::RAW_BSD12,
    linktype::RAW_BSD14,
    linktype::RAW,
    linktype::LOOP,
    linktype::LINUX_SLL,
    linktype::IPV4,
    linktype::IPV6,
    linktype::LINUX_SLL2,
    linktype::NOT_A_PACKET,
    147,
];

/// One record as the reader returned it, owned.
#[derive(Debug, PartialEq, Eq)]
struct Record {
    frame: u64,
    ts_ns: i64,
    linktype: u16,
    data: Vec<u8>,
    orig_len: u32,
}

/// What reading a whole capture gave: its records, then the error (as
/// displayed) that stopped it, if any.
#[derive(Debug, PartialEq, Eq)]
struct Reading {
    records: Vec<Record>,
    error: Option<String>,
    /// The offset of the error, which must not depend on how the bytes arrived.
    error_offset: Option<u64>,
}

/// A source that hands out at most `chunk` bytes per read, as a pipe may.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    chunk: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.data[self.at..];
        let n = rest.len().min(self.chunk).min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

fn read_all(source: Box<dyn Read + Send>, input_len: usize) -> Reading {
    match CaptureReader::from_reader("fuzz".into(), source) {
        Ok(r) => read_all_from(r, input_len, "fuzz"),
        Err(e) => Reading {
            records: Vec::new(),
            error_offset: Some(e.offset),
            error: Some(e.to_string()),
        },
    }
}

fn read_all_from(mut reader: CaptureReader, input_len: usize, name: &str) -> Reading {
    let mut records = Vec::new();
    let mut error = None;
    let mut error_offset = None;
    loop {
        match reader.next_packet() {
            Ok(Some(p)) => {
                assert_eq!(
                    p.frame,
                    records.len() as u64 + 1,
                    "frames are numbered 1, 2, 3..."
                );
                assert!(p.data.len() <= MAX_RECORD_LEN as usize);
                assert!((MIN_TS_NS..=MAX_TS_NS).contains(&p.ts_ns), "{}", p.ts_ns);
                records.push(Record {
                    frame: p.frame,
                    ts_ns: p.ts_ns,
                    linktype: p.linktype,
                    data: p.data.to_vec(),
                    orig_len: p.orig_len,
                });
                // Every record consumes at least 12 bytes (a pcapng block's
                // minimum; a pcap record header is 16), so a reader that returns
                // more records than that allows is looping without progress.
                // For gzip input the bound is on decompressed bytes, which the
                // offset counts.
                let consumed = reader.offset().max(input_len as u64);
                assert!(
                    records.len() as u64 <= consumed / 12 + 1,
                    "more records than bytes allow: the reader is not making progress"
                );
            }
            Ok(None) => break,
            Err(e) => {
                // The message is one line and names the file.
                let msg = e.to_string();
                assert!(msg.starts_with(&format!("{name}: ")), "{msg}");
                assert!(!msg.contains('\n'), "{msg}");
                error_offset = Some(e.offset);
                error = Some(msg);
                // After an error the reader stays stopped.
                assert!(matches!(reader.next_packet(), Ok(None)));
                break;
            }
        }
    }
    assert_eq!(reader.frames_read(), records.len() as u64);
    Reading {
        records,
        error,
        error_offset,
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Reads `data` from a regular file, which the reader memory-maps.
fn read_file(data: &[u8]) -> Reading {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "tcpstate-fuzz-{}-{}.cap",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, data).unwrap();
    let reader = CaptureReader::open(&tcpstate::capture::Input::Path(path.clone()));
    let name = path.display().to_string();
    let reading = match reader {
        Ok(r) => read_all_from(r, data.len(), &name),
        Err(e) => Reading {
            records: Vec::new(),
            error_offset: Some(e.offset),
            error: Some(e.to_string()),
        },
    };
    std::fs::remove_file(&path).unwrap();
    // The same message as from a stream named "fuzz".
    Reading {
        error: reading.error.map(|m| m.replacen(&name, "fuzz", 1)),
        ..reading
    }
}

/// Capture reader target: the bytes are a capture (pcap, pcapng, or gzip of
/// either). They are read four ways, which must agree: all at once from a
/// stream; trickled a few bytes per read, as from a pipe (this moves every
/// buffer boundary); from a file, which the reader maps; and, unless they
/// already are gzip, gzip-compressed. For gzip input, trickling moves every
/// boundary of the compressed bytes too: the frames inflated before a
/// corruption come out however the bytes arrive
/// (testdata/fuzz/capture/gzip_frames_before_corruption.bin).
pub fn check_capture(data: &[u8]) {
    let whole = read_all(Box::new(Cursor::new(data.to_vec())), data.len());
    let chunk = 1 + data.len() % 7;
    let trickle = Trickle {
        data: data.to_vec(),
        at: 0,
        chunk,
    };
    let trickled = read_all(Box::new(trickle), data.len());
    assert_eq!(
        whole, trickled,
        "reading in {chunk}-byte pieces changed the result"
    );
    let mapped = read_file(data);
    assert_eq!(whole, mapped, "reading a mapped file changed the result");
    if data.starts_with(&[0x1f, 0x8b]) {
        return;
    }

    let compressed = read_all(Box::new(Cursor::new(gzip(data))), data.len());
    assert_eq!(
        whole.records, compressed.records,
        "gzip changed the records"
    );
    assert_eq!(whole.error.is_some(), compressed.error.is_some());
    // Offsets of gzip input count decompressed bytes, so they are the same.
    assert_eq!(whole.error_offset, compressed.error_offset);
}

/// Decoder target: the first byte picks a link type from [`DECODE_LINKTYPES`]
/// (modulo their number), the second how many bytes the frame had on the
/// wire beyond those captured (255: the largest possible), the rest is the frame.
pub fn check_decode(data: &[u8]) {
    let Some((&lt, rest)) = data.split_first() else {
        return;
    };
    let (extra, frame) = match rest.split_first() {
        Some((&e, f)) => (e, f),
        None => (0, rest),
    };
    let linktype = DECODE_LINKTYPES[lt as usize % DECODE_LINKTYPES.len()];
    let orig_len = if extra == 255 {
        u32::MAX
    } else {
        frame.len() as u32 + extra as u32
    };
    let pkt = RawPacket {
        frame: 1,
        ts_ns: 0,
        linktype,
        data: frame,
        orig_len,
    };
    let d = decode(&pkt);
    match &d {
        Decoded::Tcp(s) => {
            assert!(s.captured_payload_len <= s.payload_len);
            assert!(s.captured_payload_len as usize <= frame.len());
            assert!(s.options.sack_count <= 4);
            assert_eq!(s.flags.0 & !0x01ff, 0, "only the nine flag bits");
            if s.short_segment {
                assert_eq!(s.payload_len, 0);
            }
            let _ = (s.src.to_string(), s.dst.to_string(), s.flags.to_string());
        }
        Decoded::OtherIp(p) => {
            let _ = p.to_string();
        }
        Decoded::NonIp(k) => {
            let _ = k.to_string();
        }
        Decoded::Undecodable(u) => {
            let _ = u.to_string();
        }
    }
    let mut a = FrameAccounting::default();
    a.count_frame(0);
    a.count(&d);
    assert!(a.is_balanced());
    assert_eq!(a.frames, 1);

    // The analysis's entry point: the same answer unless the frame is an IP
    // fragment (kept for reassembly) or checksums are verified (odd `extra`).
    let options = DecodeOptions {
        verify_checksums: extra & 1 == 1,
        wire_facts: extra & 2 == 2,
    };
    let whole = decode_frame(&pkt, options);
    // An A-MSDU's further packets: each a packet of its own, never empty of meaning.
    for more in &whole.more {
        if let Content::Decoded(m) = more {
            let _ = format!("{m:?}");
        }
    }
    match whole.content {
        Content::Decoded(Decoded::Tcp(s)) if options.verify_checksums => {
            let Decoded::Tcp(plain) = &d else {
                panic!("TCP only when checking checksums: {d:?}");
            };
            assert_eq!(
                (s.src, s.dst, s.seq, s.payload_len),
                (plain.src, plain.dst, plain.seq, plain.payload_len)
            );
        }
        Content::Decoded(other) => {
            if !options.verify_checksums {
                assert_eq!(other, d, "decode and decode_frame disagree");
            }
        }
        Content::Fragment(f) => {
            assert!(
                matches!(
                    d,
                    Decoded::Undecodable(Undecodable::TcpFragment) | Decoded::OtherIp(_)
                ),
                "a fragment for decode_frame, {d:?} for decode"
            );
            let _ = decode_reassembled(&f, frame);
        }
    }
}

/// Whole-pipeline target: the bytes are a capture; it is analysed and written
/// in every format, and the report must be consistent.
pub fn check_pipeline(data: &[u8]) {
    let Ok(reader) =
        CaptureReader::from_reader("fuzz".into(), Box::new(Cursor::new(data.to_vec())))
    else {
        return;
    };
    let a = Analyzer::new().analyze_source(Box::new(reader));
    check_analysis(&a);
    // The CI gate's policy and `show`'s display filters, on every connection.
    let policy = Policy {
        require_closed: true,
        ..Policy::default()
    }
    .or_default();
    for c in &a.connections {
        let _ = policy.connection_failures(c);
        let _ = tcpstate::report::show::display_filters(c);
    }
    let analyses = [a];
    let warnings = analyses[0]
        .connections
        .iter()
        .flat_map(|c| c.anomalies())
        .filter(|x| x.code.severity() >= tcpstate::Severity::Warning)
        .count() as u64;
    let check = tcpstate::report::check::CheckReport::new(
        &policy,
        &tcpstate::report::filter::Filter::default(),
        &analyses,
    );
    assert_eq!(check.counted_anomalies(), warnings);
    // Every form of the gate's result can be written.
    check.write_text(&mut std::io::sink()).unwrap();
    check.write_json(&mut std::io::sink()).unwrap();
    check.write_junit(&mut std::io::sink()).unwrap();
    let styles = [
        Style::default(),
        Style {
            color: true,
            width: Some(60),
            columns: None,
        },
        Style {
            color: false,
            width: Some(1 + data.len() % 200),
            columns: Some(vec![Column::Anomalies, Column::Stream, Column::Path]),
        },
    ];
    let formats = [
        Format::Table,
        Format::Csv,
        Format::Json,
        Format::Zeek,
        Format::ZeekJson,
    ];
    for format in formats {
        for report in [Report::Connections, Report::History] {
            let mut out = Vec::new();
            let style = styles[(data.len() + report as usize) % 3].clone();
            write_report(&mut out, format, report, style, &analyses).expect("writing to memory");
            let text = String::from_utf8(out).expect("reports are UTF-8");
            if format == Format::Json {
                check_json(&text, &analyses[0]);
            }
        }
    }
    let mut html = Vec::new();
    tcpstate::report::html::write_html(&mut html, &analyses).expect("writing to memory");
    assert!(String::from_utf8(html).is_ok(), "the HTML report is UTF-8");
}

fn check_analysis(a: &Analysis) {
    assert!(a.accounting.is_balanced(), "{:?}", a.accounting);
    let streams = a.connections.len() as u64;
    let mut next = 0;
    for c in &a.connections {
        // A later part of a stream (idle past the timeout, or evicted) follows its earlier part.
        if c.flow.continues {
            assert_eq!(c.flow.stream + 1, next, "a stream's parts are together");
        } else {
            assert_eq!(c.flow.stream, next, "streams are numbered 0, 1, 2...");
            next += 1;
        }
        assert!(c.tcp.all_transitions_are_rfc_edges());
        assert!(c.flow.first_frame <= c.flow.last_frame);
        assert!(c.flow.last_frame <= a.accounting.frames);
    }
    // Every TCP frame is in exactly one connection.
    let placed: u64 = a
        .connections
        .iter()
        .map(|c| c.flow.packets[0] + c.flow.packets[1])
        .sum();
    assert_eq!(placed, a.accounting.tcp);
    assert!(streams <= a.accounting.tcp);
}

fn check_json(text: &str, a: &Analysis) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        a.connections.len() + 1,
        "one line per connection, then the summary"
    );
    for line in &lines[..lines.len() - 1] {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(v["stream"].is_u64());
    }
    let last: serde_json::Value =
        serde_json::from_str(lines[lines.len() - 1]).expect("summary is JSON");
    assert_eq!(last["summary"]["frames"], a.accounting.frames);
}
