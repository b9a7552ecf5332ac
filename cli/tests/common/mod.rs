//! What the tests that run the binary share: the repository root (testdata/
//! and tests/golden/ live there) and running `tcpstate` in it.
#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;

/// The repository root, where the binary is run.
pub fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Runs `tcpstate ARGS` at the root: (exit status, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("tcpstate")
        .unwrap()
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs `tcpstate ARGS`, which must exit 0; its stdout.
pub fn ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

/// Compares a report with its golden file in tests/golden/report;
/// `TCPSTATE_BLESS=1` rewrites the file instead (after a deliberate change).
pub fn golden(name: &str, actual: &str) {
    let path = root().join("tests/golden/report").join(name);
    if std::env::var_os("TCPSTATE_BLESS").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {} (TCPSTATE_BLESS=1)", path.display()));
    assert_eq!(actual, want, "output differs from {}", path.display());
}
