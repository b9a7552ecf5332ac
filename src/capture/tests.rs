use super::limits::MAX_BLOCK_LEN;
use super::pcapng::{ticks_to_ns, ts_units_per_sec};
use super::window::INITIAL_BUF;
use super::*;

#[test]
fn ticks_convert_exactly() {
    assert_eq!(ticks_to_ns(1_500_000, 1_000_000, 0), 1_500_000_000);
    assert_eq!(ticks_to_ns(3, 1 << 1, 10), 11_500_000_000);
    assert_eq!(ticks_to_ns(7, 1_000_000_000, 0), 7);
}

#[test]
fn timestamps_are_clamped_so_differences_fit() {
    assert_eq!(ticks_to_ns(0, 1, -(1 << 62)), MIN_TS_NS);
    assert_eq!(ticks_to_ns(0, 1, i64::MIN), MIN_TS_NS);
    assert_eq!(ticks_to_ns(u64::MAX, 1, i64::MAX), MAX_TS_NS);
    assert_eq!(ticks_to_ns(u64::MAX, 1 << 63, 0), 1_999_999_999);
    assert!(MAX_TS_NS.checked_sub(MIN_TS_NS).is_some());
}

#[test]
fn tsresol_decimal_and_binary() {
    assert_eq!(ts_units_per_sec(6), Some(1_000_000));
    assert_eq!(ts_units_per_sec(9), Some(1_000_000_000));
    assert_eq!(ts_units_per_sec(0x80 | 20), Some(1 << 20));
    assert_eq!(ts_units_per_sec(20), None);
}

#[test]
fn empty_input_is_an_error() {
    let e = CaptureReader::from_reader("x".into(), Box::new(io::empty())).unwrap_err();
    assert!(matches!(e.kind, CaptureErrorKind::Empty));
}

fn testdata(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// Reads to the end; returns the frames read and the error.
fn read_to_error(r: &mut CaptureReader) -> (u64, Option<CaptureError>) {
    loop {
        match r.next_packet() {
            Ok(Some(_)) => {}
            Ok(None) => return (r.frames_read(), None),
            Err(e) => return (r.frames_read(), Some(e)),
        }
    }
}

/// testdata/synth/bad/max_caplen.pcap: 282 bytes whose fourth record claims
/// 256 MiB, the largest length the reader believes. Nothing may be allocated
/// for the claim: a mapped file checks it against the file's length, a stream
/// grows its buffer only with bytes that arrive.
#[test]
fn a_record_claiming_256_mib_in_a_282_byte_file_allocates_nothing() {
    let path = testdata("synth/bad/max_caplen.pcap");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 282);
    let expected = "byte 234: truncated: a record starts here but the input ends at byte 282";

    let mut mapped = CaptureReader::open(&Input::Path(path.clone())).unwrap();
    assert!(mapped.cur.win().is_mapped());
    let (frames, e) = read_to_error(&mut mapped);
    let e = e.unwrap();
    assert_eq!((frames, e.offset), (3, 234));
    assert_eq!(e.to_string(), format!("{}: {expected}", path.display()));

    let mut stream =
        CaptureReader::from_reader("s".into(), Box::new(io::Cursor::new(bytes))).unwrap();
    assert!(!stream.cur.win().is_mapped());
    let (frames, e) = read_to_error(&mut stream);
    assert_eq!(frames, 3);
    assert_eq!(e.unwrap().to_string(), format!("s: {expected}"));
    assert_eq!(stream.cur.win().buffer_len(), INITIAL_BUF);
}

/// A pcapng block claiming the largest believed length (256 MiB + 64 KiB),
/// plain and gzip-compressed: neither reserves it.
#[test]
fn a_pcapng_block_claiming_256_mib_allocates_nothing() {
    let mut bytes = std::fs::read(testdata("synth/bad/pcapng_truncated.pcapng")).unwrap();
    bytes.truncate(352 + 8);
    bytes[356..360].copy_from_slice(&MAX_BLOCK_LEN.to_le_bytes());
    bytes.extend([0u8; 100]);
    let expected = "byte 352: truncated: a pcapng block starts here but the input ends at byte 460";
    let mut plain =
        CaptureReader::from_reader("p".into(), Box::new(io::Cursor::new(bytes.clone()))).unwrap();
    let (frames, e) = read_to_error(&mut plain);
    assert_eq!(frames, 3);
    assert_eq!(e.unwrap().to_string(), format!("p: {expected}"));
    assert_eq!(plain.cur.win().buffer_len(), INITIAL_BUF);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    io::Write::write_all(&mut gz, &bytes).unwrap();
    let gz = gz.finish().unwrap();
    let mut compressed =
        CaptureReader::from_reader("z".into(), Box::new(io::Cursor::new(gz))).unwrap();
    let (frames, e) = read_to_error(&mut compressed);
    assert_eq!(frames, 3);
    let e = e.unwrap();
    assert_eq!(
        e.to_string(),
        "z: byte 352 (of decompressed data): truncated: a pcapng block starts here but the input ends at byte 460"
    );
    assert_eq!(compressed.cur.win().buffer_len(), INITIAL_BUF);
}

/// Regular files are mapped, and read exactly as the same bytes from a stream:
/// every shipped capture, good or bad, gzip or not.
#[test]
fn mapped_and_streamed_readings_agree() {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if !p.to_string_lossy().ends_with(".md") {
                out.push(p);
            }
        }
    }
    type Reading = (Vec<(u64, i64, u16, Vec<u8>, u32)>, Option<String>);
    fn read(r: Result<CaptureReader, CaptureError>) -> Reading {
        let mut r = match r {
            Ok(r) => r,
            Err(e) => return (Vec::new(), Some(format!("{} {}", e.offset, e.kind_text()))),
        };
        let mut records = Vec::new();
        loop {
            match r.next_packet() {
                Ok(Some(p)) => {
                    records.push((p.frame, p.ts_ns, p.linktype, p.data.to_vec(), p.orig_len))
                }
                Ok(None) => return (records, None),
                Err(e) => return (records, Some(format!("{} {}", e.offset, e.kind_text()))),
            }
        }
    }
    let mut files = Vec::new();
    walk(&testdata(""), &mut files);
    let mut mapped = 0;
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let opened = CaptureReader::open(&Input::Path(f.clone()));
        if let Ok(r) = &opened {
            mapped += r.cur.win().is_mapped() as usize;
        }
        let a = read(opened);
        let b = read(CaptureReader::from_reader(
            "x".into(),
            Box::new(io::Cursor::new(bytes)),
        ));
        assert_eq!(a, b, "{}", f.display());
    }
    assert!(mapped > 40, "{mapped}");
}

impl CaptureError {
    /// The message without the file name, which differs between the readings.
    fn kind_text(&self) -> String {
        let s = self.to_string();
        s[self.file.len()..].to_string()
    }
}

/// A FIFO cannot be mapped: it is read as a stream.
#[cfg(unix)]
#[test]
fn a_fifo_is_read_as_a_stream() {
    let dir = std::env::temp_dir().join(format!("tcpstate-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("capture.pcap");
    let _ = std::fs::remove_file(&fifo);
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("mkfifo unavailable; skipped");
        return;
    }
    let src = testdata("real/refused.pcap");
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let bytes = std::fs::read(src).unwrap();
            std::fs::write(fifo, bytes).unwrap();
        })
    };
    let mut r = CaptureReader::open(&Input::Path(fifo.clone())).unwrap();
    assert!(!r.cur.win().is_mapped());
    let (frames, e) = read_to_error(&mut r);
    writer.join().unwrap();
    assert!(e.is_none(), "{e:?}");
    assert_eq!(frames, 4);
    std::fs::remove_dir_all(&dir).unwrap();
}
