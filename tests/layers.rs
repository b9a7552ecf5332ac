//! The library's layers go one way. Read from the source's `use crate::...`,
//! `use super::...` and inline `crate::...` paths (test code excluded):
//!
//! * between the top-level modules, every arrow points down the line
//!   model -> anomaly -> capture -> decode -> flow -> tcp -> pipeline -> diff -> report
//!   (a module may use the ones before it, never one after it);
//! * inside a module folder, the files (siblings) form no cycle: shared types
//!   live in the folder's mod.rs or in a file below the others.
//!
//! docs/ARCHITECTURE.md draws the same picture.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, bottom first.
const LAYERS: [&str; 9] = [
    "model", "anomaly", "capture", "decode", "flow", "tcp", "pipeline", "diff", "report",
];

/// Modules outside the line: test support and the re-exports for tests.
const OUTSIDE: [&str; 2] = ["test_support", "internals"];

/// A module path such as `decode::ip`, from a file under src/.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its test module(s) and comments: test-only
/// files (`tests.rs`) count for nothing; a `#[cfg(test)]` item ends the
/// scan (test modules sit at the end of files, by convention here).
fn production_code(file: &Path) -> String {
    if file.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = fs::read_to_string(file).unwrap();
    let mut code = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// Every module path the code names: `crate::a::b::...` and, resolved
/// against `here`, `super::a::...` and `use a::...` of child modules.
fn referenced_paths(code: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &code[i..];
        let prefix_ok = i == 0 || !ident(bytes[i - 1]) && bytes[i - 1] != b':';
        let (base, skip): (Vec<String>, usize) = if prefix_ok && rest.starts_with("crate::") {
            (Vec::new(), 7)
        } else if prefix_ok && rest.starts_with("super::") {
            let mut b = here.to_vec();
            b.pop();
            (b, 7)
        } else {
            i += 1;
            continue;
        };
        i += skip;
        let mut path = base;
        // Follow `a::b::c`, and into one level of `{x, y::z}` groups.
        let mut j = i;
        loop {
            let start = j;
            while j < bytes.len() && ident(bytes[j]) {
                j += 1;
            }
            if j == start {
                if j < bytes.len() && bytes[j] == b'{' {
                    let end = code[j..].find('}').map_or(bytes.len(), |e| j + e);
                    for item in code[j + 1..end].split(',') {
                        let mut p = path.clone();
                        p.extend(
                            item.trim()
                                .split("::")
                                .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
                                .filter(|s| !s.is_empty() && s != "self" && s != "*"),
                        );
                        out.push(p);
                    }
                    j = end;
                }
                break;
            }
            path.push(code[start..j].to_string());
            if code[j..].starts_with("::") {
                j += 2;
            } else {
                break;
            }
        }
        if !path.is_empty() {
            out.push(path);
        }
        i = j.max(i + 1);
    }
    out
}

/// The longest known module that `path` starts with.
fn resolve(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

struct Graph {
    /// module -> the modules it uses
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for f in &files {
        let here = module_of(&src, f);
        // A mod.rs's `super::` is its parent; a file's `super::` is its folder.
        let here_for_super = if f.file_name().is_some_and(|n| n == "mod.rs") {
            let mut h = here.clone();
            h.push("mod".into());
            h
        } else {
            here.clone()
        };
        for p in referenced_paths(&production_code(f), &here_for_super) {
            if let Some(m) = resolve(&p, &modules) {
                if m != here {
                    edges.entry(here.clone()).or_default().insert(m);
                }
            }
        }
    }
    Graph { edges }
}

#[test]
fn top_level_modules_use_only_the_layers_below_them() {
    let g = graph();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    for (from, tos) in &g.edges {
        let Some(top) = from.first() else { continue };
        if OUTSIDE.contains(&top.as_str()) {
            continue;
        }
        let Some(r_from) = rank(top) else {
            wrong.push(format!("{} is not a known layer", from.join("::")));
            continue;
        };
        for to in tos {
            let Some(t) = to.first() else { continue };
            if t == top {
                continue;
            }
            match rank(t) {
                Some(r_to) if r_to < r_from => {}
                _ => wrong.push(format!("{} uses {}", from.join("::"), to.join("::"))),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "arrows going up or sideways the line {LAYERS:?}:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn files_of_one_folder_form_no_cycle() {
    let g = graph();
    // Sibling edges only: a -> b where both are children of the same folder.
    let mut sib: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, tos) in &g.edges {
        for to in tos {
            if from.len() >= 2
                && to.len() == from.len()
                && from[..from.len() - 1] == to[..to.len() - 1]
            {
                sib.entry(from.clone()).or_default().insert(to.clone());
            }
            // A child using a sibling's grandchild counts as using the sibling.
            if from.len() >= 2
                && to.len() > from.len()
                && from[..from.len() - 1] == to[..from.len() - 1]
                && to[from.len() - 1] != from[from.len() - 1]
            {
                sib.entry(from.clone())
                    .or_default()
                    .insert(to[..from.len()].to_vec());
            }
        }
    }
    // Depth-first search for a cycle.
    fn visit(
        n: &Vec<String>,
        sib: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.clone());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.clone());
        for m in sib.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, sib, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.clone());
        None
    }
    let mut cycles = BTreeSet::new();
    for n in sib.keys() {
        if let Some(mut c) = visit(n, &sib, &mut Vec::new(), &mut BTreeSet::new()) {
            // One spelling per cycle: start at its smallest module.
            c.pop();
            let first = (0..c.len()).min_by_key(|&i| &c[i]).unwrap_or(0);
            c.rotate_left(first);
            c.push(c[0].clone());
            let names: Vec<String> = c.iter().map(|m| m.join("::")).collect();
            cycles.insert(names.join(" -> "));
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles:\n{}",
        cycles.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_checker_sees_arrows() {
    // The checker must find the arrows that are there, or it proves nothing.
    let g = graph();
    let uses = |a: &str, b: &str| {
        let a: Vec<String> = a.split("::").map(String::from).collect();
        let b: Vec<String> = b.split("::").map(String::from).collect();
        g.edges.get(&a).is_some_and(|t| t.contains(&b))
    };
    assert!(uses("pipeline::engine", "decode::defrag"));
    assert!(uses("tcp::machine::observer", "model"));
    assert!(uses("report", "pipeline"));
    assert!(!uses("model", "pipeline"));
}

#[test]
fn the_library_carries_no_command_line_crates() {
    // What a program that depends on tcpstate compiles: the library's normal
    // dependency tree. The command-line crates belong to cli/ alone.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "-p",
            "tcpstate",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: BTreeSet<&str> = tree.lines().filter_map(|l| l.split(' ').next()).collect();
    assert!(names.contains("rayon"), "the tree was read: {names:?}");
    for cli in [
        "clap",
        "clap_complete",
        "clap_mangen",
        "indicatif",
        "terminal_size",
    ] {
        assert!(!names.contains(cli), "the library depends on {cli}");
    }
    // Parquet is a feature (`parquet`, which the CLI enables): a program that
    // only wants the analysis compiles no arrow.
    for heavy in ["parquet", "arrow-array", "arrow-schema", "arrow-buffer"] {
        assert!(
            !names.contains(heavy),
            "the library depends on {heavy} without its parquet feature"
        );
    }
}
