//! The minimum Rust version we declare (every workspace member's
//! `rust-version` and the README's "Rust toolchain (X or newer)") must be
//! at least what every locked dependency declares, from `cargo metadata`;
//! otherwise `cargo build --locked` on the declared version fails. .ci/run
//! runs this first and then builds with that toolchain where it can.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// `1.88` or `1.88.0` as (1, 88, 0).
fn version(s: &str) -> (u64, u64, u64) {
    let mut parts = s.split('.').map(|p| p.parse::<u64>().unwrap());
    (
        parts.next().unwrap(),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

#[test]
fn declared_rust_version_covers_every_locked_dependency() {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let resolved: Vec<&str> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let packages = meta["packages"].as_array().unwrap();
    let (needed, by) = packages
        .iter()
        .filter(|p| resolved.contains(&p["id"].as_str().unwrap()))
        .filter(|p| !members.contains(&p["id"].as_str().unwrap()))
        .filter_map(|p| {
            let v = p["rust_version"].as_str()?;
            Some((
                version(v),
                format!(
                    "{} {}",
                    p["name"].as_str().unwrap(),
                    p["version"].as_str().unwrap()
                ),
            ))
        })
        .max()
        .unwrap();
    for p in packages
        .iter()
        .filter(|p| members.contains(&p["id"].as_str().unwrap()))
    {
        let ours = version(p["rust_version"].as_str().unwrap());
        assert!(
            ours >= needed,
            "{} declares rust-version {ours:?}, but the lockfile's {by} needs {needed:?}",
            p["name"]
        );
    }
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let declared = readme
        .split("Rust toolchain (")
        .nth(1)
        .and_then(|s| s.split(" or newer)").next())
        .expect("README names the minimum Rust version as \"Rust toolchain (X or newer)\"");
    assert!(
        version(declared) >= needed,
        "README says Rust {declared}, but the lockfile's {by} needs {needed:?}"
    );
    let workspace = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(
        workspace.contains(&format!("rust-version = \"{declared}\"")),
        "README's {declared} is the crates' rust-version"
    );
}
