//! Helpers shared by the integration tests that walk every capture in testdata/.

use std::fs;
use std::path::{Path, PathBuf};

/// Every capture under `dir`, recursively, in sorted order. Deliberately
/// broken files (the `bad` directories) are left to tests/bad_input.rs.
pub fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if p.is_dir() {
            if name != "bad" {
                captures(&p, out);
            }
        } else if [".pcap", ".pcapng", ".gz", ".cap"]
            .iter()
            .any(|s| name.ends_with(s))
        {
            out.push(p);
        }
    }
}
