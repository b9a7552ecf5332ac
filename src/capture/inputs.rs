//! What to read: command-line arguments turned into inputs (stdin, files,
//! directories searched by content, globs).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use pcap_parser::SHB_MAGIC;

/// Where the bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Path.
    Path(std::path::PathBuf),
    /// Stdin.
    Stdin,
}

impl Input {
    /// `-` means standard input, anything else a path.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(arg.into())
        }
    }

    /// The name used in reports and error messages.
    pub fn display_name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Stdin => "-".to_string(),
        }
    }
}

/// True when the first bytes look like a capture this reader accepts
/// (pcap, pcapng or gzip): how directories are searched, by content not name.
pub fn looks_like_capture(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    let ok = File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok();
    if !ok {
        return false;
    }
    let le = u32::from_le_bytes(magic);
    magic[..2] == [0x1f, 0x8b]
        || le == SHB_MAGIC
        || matches!(
            le,
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1
        )
}

/// Turns command-line arguments into inputs: `-` is stdin, a directory is
/// searched recursively for captures (by content, in name order), a pattern
/// with `*`, `?` or `[` that names no file is expanded as a glob, anything
/// else is a path (a missing one fails later, when opened, with its name).
pub fn expand_inputs(args: &[String]) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    for arg in args {
        let path = Path::new(arg);
        if arg == "-" {
            out.push(Input::Stdin);
        } else if path.is_dir() {
            let before = out.len();
            walk_dir(path, &mut out).map_err(|e| format!("{arg}: cannot read directory: {e}"))?;
            if out.len() == before {
                return Err(format!(
                    "{arg}: no pcap, pcapng or gzip capture in this directory"
                ));
            }
        } else if !path.exists() && arg.contains(['*', '?', '[']) {
            let matches = glob::glob(arg).map_err(|e| format!("{arg}: bad pattern: {e}"))?;
            let mut found: Vec<std::path::PathBuf> = matches.filter_map(Result::ok).collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{arg}: no file matches this pattern"));
            }
            out.extend(found.into_iter().map(Input::Path));
        } else {
            out.push(Input::Path(path.to_path_buf()));
        }
    }
    Ok(out)
}

fn walk_dir(dir: &Path, out: &mut Vec<Input>) -> io::Result<()> {
    let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk_dir(&p, out)?;
        } else if looks_like_capture(&p) {
            out.push(Input::Path(p));
        }
    }
    Ok(())
}
