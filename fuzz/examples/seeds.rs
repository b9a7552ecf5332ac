//! Writes the fuzzers' seed corpora from the project's captures:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds -- CORPUS_DIR FILE...`
//!
//! The capture and pipeline targets take whole captures, so each file is
//! copied as it is. The decoder target takes one frame behind a link-type
//! byte and an "extra bytes on the wire" byte (see `check_decode`), so every
//! frame the reader finds in the files becomes one seed. Names are content
//! hashes, so running it again adds nothing twice.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::Path;

use tcpstate::capture::{CaptureReader, Input};
use tcpstate_fuzz::DECODE_LINKTYPES;

fn put(dir: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    let path = dir.join(format!("{:016x}", h.finish()));
    if path.exists() {
        return Ok(false);
    }
    fs::write(path, bytes)?;
    Ok(true)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (corpus, files) = args.split_first().expect("usage: seeds CORPUS_DIR FILE...");
    let corpus = Path::new(corpus);
    let dirs = ["capture", "pipeline", "decode"].map(|t| corpus.join(t));
    for d in &dirs {
        fs::create_dir_all(d)?;
    }
    let mut counts = [0usize; 3];
    for f in files {
        let bytes = fs::read(f)?;
        for (d, n) in dirs[..2].iter().zip(&mut counts) {
            *n += put(d, &bytes)? as usize;
        }
        let Ok(mut reader) = CaptureReader::open(&Input::from_arg(f)) else {
            continue;
        };
        while let Ok(Some(p)) = reader.next_packet() {
            let Some(lt) = DECODE_LINKTYPES.iter().position(|&l| l == p.linktype) else {
                continue;
            };
            let extra = (p.orig_len as usize).saturating_sub(p.data.len()).min(254) as u8;
            let mut seed = vec![lt as u8, extra];
            seed.extend_from_slice(p.data);
            counts[2] += put(&dirs[2], &seed)? as usize;
        }
    }
    eprintln!(
        "seeds added: capture {}, pipeline {}, decode {}",
        counts[0], counts[1], counts[2]
    );
    Ok(())
}
