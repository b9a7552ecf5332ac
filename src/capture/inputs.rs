//! What to read: command-line arguments turned into inputs (stdin, files,
//! directories searched for recordings, globs), and the time order that
//! merges rotated files.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use pcap_parser::SHB_MAGIC;

use super::CaptureReader;

/// Where the bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file, by its path.
    Path(std::path::PathBuf),
    /// Standard input (`-`), read as a stream.
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
/// (pcap, pcapng or gzip).
pub fn looks_like_capture(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    let ok = File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok();
    ok && is_capture_magic(magic)
}

fn is_capture_magic(magic: [u8; 4]) -> bool {
    let le = u32::from_le_bytes(magic);
    magic[..2] == [0x1f, 0x8b]
        || le == SHB_MAGIC
        || matches!(
            le,
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1
        )
}

/// True when a file name says capture: `.pcap`, `.pcapng` or `.cap`, with
/// the numbers `tcpdump -C`/`-W` append (`x.pcap1`, `x.pcap12`) and an
/// optional `.gz`.
pub fn has_capture_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let name = name.to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let Some((_, ext)) = name.rsplit_once('.') else {
        return false;
    };
    let ext = ext.trim_end_matches(|c: char| c.is_ascii_digit());
    matches!(ext, "pcap" | "pcapng" | "cap")
}

/// Whether a file found in a directory is a recording: its first bytes
/// are a capture's, its name says capture, it is empty or shorter than any
/// capture header (a recording that captured nothing), or it cannot be read
/// (so the error is reported rather than the file passed over).
fn is_recording(path: &Path) -> bool {
    if has_capture_name(path) {
        return true;
    }
    let mut magic = [0u8; 4];
    match File::open(path).and_then(|mut f| f.read_exact(&mut magic)) {
        Ok(()) => is_capture_magic(magic),
        Err(_) => true,
    }
}

/// The inputs the arguments name, and the files directories held that are
/// not recordings (left out, for a note).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// What to read, in argument order (a directory's or a glob's files in
    /// name order).
    pub inputs: Vec<Input>,
    /// Files inside directories that are not recordings by name or content
    /// (`notes.txt`, `policy.toml`), and hidden entries: not read.
    pub skipped: Vec<PathBuf>,
}

/// Turns command-line arguments into inputs (see [`expand`]).
pub fn expand_inputs(args: &[String]) -> Result<Vec<Input>, String> {
    expand(args).map(|e| e.inputs)
}

/// Turns command-line arguments into inputs: `-` is stdin; a directory is
/// searched recursively for recordings (files whose first bytes are a
/// capture's, whose name ends in `.pcap`, `.pcapng`, `.cap`, with `tcpdump
/// -C` numbers or `.gz`, or that are empty or unreadable, so a broken
/// recording fails instead of vanishing), in name order, hidden entries
/// left out; a pattern with `*`, `?` or `[` that names no file is expanded
/// as a glob (as the shell does: `*` does not match a leading dot; a
/// matching directory is searched like one given by name); anything else is
/// a path (a missing one fails later, when opened, with its name).
pub fn expand(args: &[String]) -> Result<Expansion, String> {
    let mut out = Expansion::default();
    for arg in args {
        let path = Path::new(arg);
        if arg == "-" {
            out.inputs.push(Input::Stdin);
        } else if path.is_dir() {
            search_dir(arg, path, &mut out)?;
        } else if !path.exists() && arg.contains(['*', '?', '[']) {
            let matches = glob::glob(arg).map_err(|e| format!("{arg}: bad pattern: {e}"))?;
            // As in the shell, a wildcard does not match a leading dot: a
            // hidden file is matched only by a pattern that spells its dot.
            // (glob's own require_literal_leading_dot also drops hidden
            // files that the pattern does spell.)
            let dot_spelled = Path::new(arg)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            // A path the pattern could not look into is an input too: opening
            // it names the error.
            let mut found: Vec<PathBuf> = matches
                .map(|m| m.unwrap_or_else(|e| e.path().to_path_buf()))
                .filter(|p| dot_spelled || !is_hidden(p))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{arg}: no file matches this pattern"));
            }
            for p in found {
                if p.is_dir() {
                    search_dir(&p.display().to_string(), &p, &mut out)?;
                } else {
                    out.inputs.push(Input::Path(p));
                }
            }
        } else {
            out.inputs.push(Input::Path(path.to_path_buf()));
        }
    }
    Ok(out)
}

fn search_dir(arg: &str, dir: &Path, out: &mut Expansion) -> Result<(), String> {
    let before = out.inputs.len();
    let mut seen = BTreeSet::new();
    walk_dir(dir, out, &mut seen).map_err(|e| format!("{arg}: cannot read directory: {e}"))?;
    if out.inputs.len() == before {
        return Err(format!(
            "{arg}: no pcap, pcapng or gzip capture in this directory"
        ));
    }
    Ok(())
}

fn walk_dir(dir: &Path, out: &mut Expansion, seen: &mut BTreeSet<PathBuf>) -> io::Result<()> {
    // A symbolic link back up the tree is searched once, not forever.
    if !seen.insert(dir.canonicalize()?) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for p in entries {
        if is_hidden(&p) {
            out.skipped.push(p);
        } else if p.is_dir() {
            walk_dir(&p, out, seen)?;
        } else if is_recording(&p) {
            out.inputs.push(Input::Path(p));
        } else {
            out.skipped.push(p);
        }
    }
    Ok(())
}

fn is_hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// The time of an input's first packet, read by opening it on its own;
/// None for stdin (it can be read only once), an input that cannot be
/// opened, or one without packets.
pub fn first_packet_time(input: &Input) -> Option<i64> {
    if *input == Input::Stdin {
        return None;
    }
    let mut reader = CaptureReader::open(input).ok()?;
    reader.next_packet().ok().flatten().map(|p| p.ts_ns)
}

/// Files in the order their first packets were captured, for merging
/// rotated files whose names sort otherwise (`tcpdump -C` names `x.pcap`,
/// `x.pcap1` ... `x.pcap10`, which a glob lists as `x.pcap10` before
/// `x.pcap2`). Inputs without a first packet time (unreadable, empty,
/// stdin) keep their place relative to each other, after the others; ties
/// keep argument order.
pub fn in_time_order(inputs: &[Input]) -> Vec<Input> {
    let mut keyed: Vec<(Option<i64>, usize, &Input)> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| (first_packet_time(input), i, input))
        .collect();
    keyed.sort_by_key(|&(t, i, _)| (t.is_none(), t, i));
    keyed
        .into_iter()
        .map(|(_, _, input)| input.clone())
        .collect()
}
