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
