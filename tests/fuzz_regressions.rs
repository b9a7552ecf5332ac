//! Replays what the fuzzers found, with the fuzzers' own checks.
//!
//! Every input in testdata/fuzz/TARGET/ (a minimised input that once failed the
//! fuzz target TARGET, described in testdata/README.md) is run through the
//! same check function the target runs (fuzz/src/lib.rs, included here), so a
//! fixed bug stays fixed. The shipped captures go through the checks too,
//! which keeps the checks honest: they must accept every good capture.

use std::fs;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use tcpstate::capture::{CaptureReader, Input};

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod checks;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let mut files = Vec::new();
    files_under(&root().join("testdata/fuzz").join(target), &mut files);
    for f in &files {
        let data = fs::read(f).unwrap();
        let r = std::panic::catch_unwind(|| check(&data));
        assert!(r.is_ok(), "{} fails the {target} check again", f.display());
    }
    files.len()
}

#[test]
fn capture_findings_stay_fixed() {
    replay("capture", checks::check_capture);
}

#[test]
fn decode_findings_stay_fixed() {
    replay("decode", checks::check_decode);
}

#[test]
fn pipeline_findings_stay_fixed() {
    replay("pipeline", checks::check_pipeline);
}

/// The seeds: every shipped capture, good or deliberately broken.
fn shipped_captures() -> Vec<PathBuf> {
    let mut files = Vec::new();
    files_under(&root().join("testdata"), &mut files);
    files.retain(|p| {
        let name = p.file_name().unwrap().to_string_lossy();
        !(name.ends_with(".md")
            || name.ends_with(".ss.txt")
            || p.starts_with(root().join("testdata/fuzz")))
    });
    assert!(files.len() > 40, "testdata/ has lost its captures");
    files
}

#[test]
fn every_shipped_capture_passes_the_capture_and_pipeline_checks() {
    for f in shipped_captures() {
        let data = fs::read(&f).unwrap();
        let r = std::panic::catch_unwind(|| {
            checks::check_capture(&data);
            checks::check_pipeline(&data);
        });
        assert!(r.is_ok(), "{}", f.display());
    }
}

#[test]
fn every_shipped_frame_passes_the_decode_check_under_every_link_type() {
    let mut frames = 0;
    for f in shipped_captures() {
        let Ok(mut reader) = CaptureReader::open(&Input::Path(f.clone())) else {
            continue;
        };
        while let Ok(Some(p)) = reader.next_packet() {
            for lt in 0..checks::DECODE_LINKTYPES.len() as u8 {
                let mut input = vec![lt, 0];
                input.extend_from_slice(p.data);
                checks::check_decode(&input);
            }
            frames += 1;
        }
    }
    assert!(frames > 500, "{frames}");
}

/// A source that hands out one byte per read, like a slow pipe.
struct OneByte(Cursor<Vec<u8>>);

impl Read for OneByte {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(1);
        self.0.read(&mut buf[..n])
    }
}

fn frames_before_error(source: Box<dyn Read + Send>) -> u64 {
    let Ok(mut r) = CaptureReader::from_reader("x".into(), source) else {
        return 0;
    };
    while let Ok(Some(_)) = r.next_packet() {}
    r.frames_read()
}

/// Found by the capture target (testdata/fuzz/capture/gzip_frames_before_corruption.bin):
/// a gzip stream of a good capture whose deflate data turns corrupt after
/// ten frames. flate2's GzDecoder dropped the output of the read call that met
/// the corruption, so read one byte at a time (a slow pipe) the ten frames came
/// out, read at once (a file) none did. The reader's own gzip decoder
/// (src/capture/gunzip.rs) delivers every byte inflated before the corruption,
/// however the bytes arrive, from a stream or a mapped file; errors name the
/// decompressed offset.
#[test]
fn corrupt_gzip_keeps_the_frames_before_the_corruption() {
    let path = root().join("testdata/fuzz/capture/gzip_frames_before_corruption.bin");
    let data = fs::read(&path).unwrap();
    let trickled = frames_before_error(Box::new(OneByte(Cursor::new(data.clone()))));
    assert_eq!(trickled, 10);
    let whole = frames_before_error(Box::new(Cursor::new(data)));
    assert_eq!(whole, 10, "reading the whole file at once loses the frames");
    let mut mapped = CaptureReader::open(&Input::Path(path.clone())).unwrap();
    let mut frames = 0;
    let err = loop {
        match mapped.next_packet() {
            Ok(Some(_)) => frames += 1,
            Ok(None) => panic!("the corruption is not reported"),
            Err(e) => break e,
        }
    };
    assert_eq!(frames, 10);
    assert!(err.compressed);
    // What the damaged bits inflate to before the decoder notices is garbage,
    // and the reader stops at the first bad record header in it.
    assert_eq!(
        err.to_string(),
        format!(
            "{}: byte 635 (of decompressed data): record claims a captured length of 4229048 bytes, more than the file's snaplen (262144)",
            path.display(),
        )
    );
}
