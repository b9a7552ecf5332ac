//! docs/REFERENCE.md against the code: every list on the page must equal what
//! the program writes, in order, so the page cannot drift.

use std::fs;
use std::path::Path;

use assert_cmd::Command;

fn page() -> String {
    fs::read_to_string(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("docs/REFERENCE.md"),
    )
    .unwrap()
}

/// The backticked first cells of the tables under a heading (to the next one).
fn listed(heading: &str) -> Vec<String> {
    let text = page();
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no heading {heading}"));
    let rest = &text[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    let mut names = Vec::new();
    for line in rest[..end].lines().filter(|l| l.starts_with('|')) {
        let first = line.split('|').nth(1).unwrap_or("").trim();
        if let Some(name) = first.strip_prefix('`').and_then(|s| s.strip_suffix('`')) {
            names.push(name.to_string());
        }
    }
    names
}

fn stdout(args: &[&str]) -> String {
    let out = Command::cargo_bin("tcpstate")
        .unwrap()
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn json_keys_are_documented_in_order() {
    let out = stdout(&["--format", "json", "testdata/real/several_conns.pcap"]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&lines[0]), listed("## JSON: connection object"));
    let summary = &lines.last().unwrap()["summary"];
    let documented = listed("## JSON: summary object");
    let (top, per_file) = documented.split_at(keys(summary).len());
    assert_eq!(keys(summary), top);
    assert_eq!(keys(&summary["files"][0]), per_file);
}

#[test]
fn check_json_keys_are_documented_in_order() {
    let out = stdout(&[
        "check",
        "--format",
        "json",
        "--require-closed",
        "--fail-on",
        "reset",
        "testdata/real/rst_abort.pcap",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let documented = listed("## JSON: check");
    let capture = &v["captures"][0];
    let offence = &capture["offending"][0];
    let failure = &offence["failures"][0];
    let mut actual = keys(&v);
    for nested in [capture, offence, failure] {
        actual.extend(keys(nested));
    }
    assert_eq!(actual, documented);
    assert_eq!(
        keys(&v["policy"]),
        ["fail_on", "max_anomalies", "require_closed", "allow"]
    );
}

#[test]
fn warning_kinds_are_documented() {
    let documented = listed("## Warnings");
    let mut seen = Vec::new();
    for args in [
        &[
            "--verify-checksums",
            "--format",
            "json",
            "testdata/real/offload_netns.pcap",
        ][..],
        &[
            "--merge",
            "--format",
            "json",
            "testdata/real/several_conns.pcap",
            "testdata/real/refused.pcap",
        ],
    ] {
        let out = stdout(args);
        let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        for w in summary["summary"]["files"][0]["warnings"]
            .as_array()
            .unwrap()
        {
            seen.push(w["kind"].as_str().unwrap().to_string());
        }
    }
    for kind in &seen {
        assert!(documented.contains(kind), "{kind} is not in REFERENCE.md");
    }
    assert_eq!(seen, ["checksum_offload", "merge_gap"]);
}

#[test]
fn csv_columns_are_documented_in_order() {
    let header = |args: &[&str]| -> Vec<String> {
        stdout(args)
            .lines()
            .next()
            .unwrap()
            .split(',')
            .map(String::from)
            .collect()
    };
    assert_eq!(
        header(&["--format", "csv", "testdata/real/refused.pcap"]),
        listed("## CSV: connections.csv")
    );
    assert_eq!(
        header(&["--history", "--format", "csv", "testdata/real/refused.pcap"]),
        listed("## CSV: transitions.csv")
    );
    let dir = tempfile::tempdir().unwrap();
    stdout(&[
        "--out-dir",
        dir.path().to_str().unwrap(),
        "testdata/real/refused.pcap",
    ]);
    let anomalies = fs::read_to_string(dir.path().join("anomalies.csv")).unwrap();
    let cols: Vec<String> = anomalies
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    assert_eq!(cols, listed("## CSV: anomalies.csv"));
}

#[test]
fn zeek_fields_are_documented_in_order() {
    let out = stdout(&["--format", "zeek", "testdata/real/refused.pcap"]);
    let fields: Vec<String> = out
        .lines()
        .find(|l| l.starts_with("#fields"))
        .unwrap()
        .split('\t')
        .skip(1)
        .map(String::from)
        .collect();
    assert_eq!(fields, listed("## Zeek conn.log"));
}

#[test]
fn exit_codes_are_the_documented_ones() {
    assert_eq!(listed("## Exit codes"), ["0", "1", "2"]);
    // What the binary really returns: read to the end, a policy broken, an
    // input unreadable.
    let status = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tcpstate"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .args(args)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(status(&["testdata/real/refused.pcap"]), Some(0));
    assert_eq!(
        status(&[
            "check",
            "--fail-on",
            "refused",
            "testdata/real/refused.pcap"
        ]),
        Some(1)
    );
    assert_eq!(status(&["testdata/synth/bad/empty.pcap"]), Some(2));
    // An unwritable report is 1, a bad command line 2.
    assert_eq!(
        status(&[
            "report",
            "--html",
            "/nonexistent-dir/r.html",
            "testdata/real/refused.pcap"
        ]),
        Some(1)
    );
    assert_eq!(
        status(&["-f", "zeek", "--history", "testdata/real/refused.pcap"]),
        Some(2)
    );
}

#[test]
fn table_columns_are_documented_in_order() {
    // The parser lists every name when one is unknown.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcpstate"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["--columns", "?", "testdata/real/refused.pcap"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    let names = err
        .split("the columns are ")
        .nth(1)
        .unwrap_or_else(|| panic!("{err}"))
        .lines()
        .next()
        .unwrap();
    let names: Vec<String> = names.split(", ").map(String::from).collect();
    assert_eq!(names, listed("## Table columns"));
    // And each heading is the one the table prints.
    let table = stdout(&[
        "--columns",
        &names.join(","),
        "testdata/real/several_conns.pcap",
    ]);
    let header = table.lines().find(|l| l.starts_with("STREAM")).unwrap();
    let text = page();
    let section = &text[text.find("## Table columns").unwrap()..];
    // Up to the next section.
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let headings: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.split('|').nth(2).unwrap().trim())
        .collect();
    // Columns are two spaces apart; headings have single spaces.
    let printed: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    assert_eq!(headings, printed);
}

#[test]
fn show_json_keys_are_documented_in_order() {
    let out = stdout(&[
        "show",
        "--format",
        "json",
        "0",
        "testdata/synth/seq_analysis.pcap",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let documented = listed("## JSON: show");
    let (top, per_segment) = documented.split_at(keys(&v).len());
    assert_eq!(keys(&v), top);
    assert_eq!(keys(&v["segments"][0]), per_segment);
}

/// `tcpstate diff --format json`: the connection keys, then those of a
/// delay, a reordered entry and a change, then the summary's, as listed.
#[test]
fn diff_json_keys_are_documented_in_order() {
    let out = stdout(&[
        "diff",
        "--format",
        "json",
        "testdata/synth/diff_a.pcap",
        "testdata/synth/diff_b.pcap",
    ]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    // The connection with a reordered segment and a change.
    let conn = lines
        .iter()
        .find(|l| {
            l["reordered"]["s2c"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        })
        .expect("diff_b.pcap reorders a segment");
    let mut actual = keys(conn);
    actual.extend(keys(&conn["delay"]["c2s"]));
    actual.extend(keys(&conn["reordered"]["s2c"][0]));
    actual.extend(keys(&conn["changes"][0]));
    assert_eq!(actual, listed("## JSON: diff connection object"));
    assert_eq!(keys(&conn["delay"]), ["c2s", "s2c"]);
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!(keys(summary), listed("## JSON: diff summary object"));
}

#[test]
fn diff_csv_columns_are_documented_in_order() {
    let out = stdout(&[
        "diff",
        "--format",
        "csv",
        "testdata/synth/diff_a.pcap",
        "testdata/synth/diff_b.pcap",
    ]);
    let header: Vec<String> = out
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    assert_eq!(header, listed("## CSV: diff"));
}

/// The cells of the table rows under a heading, backticks removed.
fn table_rows(heading: &str) -> Vec<Vec<String>> {
    let text = page();
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no heading {heading}"));
    let rest = &text[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.split('|')
                .skip(1)
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect()
}

/// An Arrow type as the page names it.
fn type_name(t: &arrow_schema::DataType) -> String {
    use arrow_schema::DataType as T;
    match t {
        T::UInt64 => "uint64".into(),
        T::UInt16 => "uint16".into(),
        T::Float64 => "float64".into(),
        T::Boolean => "bool".into(),
        T::Utf8 => "string".into(),
        T::Timestamp(arrow_schema::TimeUnit::Nanosecond, Some(tz)) => {
            format!("timestamp[ns, {tz}]")
        }
        T::Dictionary(k, v) => {
            assert_eq!(**k, T::Int32);
            format!("dictionary<int32, {}>", type_name(v))
        }
        T::List(f) => format!("list<{}>", type_name(f.data_type())),
        T::Map(entries, _) => match entries.data_type() {
            T::Struct(kv) => format!(
                "map<{}, {}>",
                type_name(kv[0].data_type()),
                type_name(kv[1].data_type())
            ),
            other => panic!("map of {other}"),
        },
        T::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), type_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => panic!("undocumented type {other}"),
    }
}

/// (column, type, null) of a Parquet file, as the page writes them.
fn parquet_columns(path: &Path) -> Vec<Vec<String>> {
    let file = fs::File::open(path).unwrap();
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    builder
        .schema()
        .fields()
        .iter()
        .map(|f| {
            vec![
                f.name().clone(),
                type_name(f.data_type()),
                if f.is_nullable() { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect()
}

#[test]
fn parquet_columns_are_documented_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.parquet");
    stdout(&[
        "--format",
        "parquet",
        "-o",
        file.to_str().unwrap(),
        "testdata/real/refused.pcap",
    ]);
    for (heading, path) in [
        ("## Parquet: connections", "r.parquet"),
        ("## Parquet: transitions", "r.transitions.parquet"),
        ("## Parquet: anomalies", "r.anomalies.parquet"),
    ] {
        let documented: Vec<Vec<String>> = table_rows(heading)
            .into_iter()
            .map(|r| r[..3].to_vec())
            .collect();
        assert_eq!(
            parquet_columns(&dir.path().join(path)),
            documented,
            "{heading}"
        );
    }
}

#[test]
fn rollup_columns_are_documented_in_order() {
    let documented = table_rows("## Rollups");
    let out = stdout(&[
        "--group-by",
        "server,server-port",
        "--format",
        "json",
        "testdata/real/several_conns.pcap",
    ]);
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let keys: Vec<String> = first.as_object().unwrap().keys().cloned().collect();
    let mut expected: Vec<String> = ["schema_version", "group", "server", "server_port"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    expected.extend(documented.iter().map(|r| r[0].clone()));
    assert_eq!(keys, expected);
    let csv = stdout(&[
        "--group-by",
        "client-net/24",
        "--format",
        "csv",
        "testdata/real/several_conns.pcap",
    ]);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(&header[..2], ["group", "client_net"]);
    assert_eq!(header[2..], expected[4..]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("g.parquet");
    stdout(&[
        "--group-by",
        "server,server-port",
        "--format",
        "parquet",
        "-o",
        file.to_str().unwrap(),
        "testdata/real/several_conns.pcap",
    ]);
    let columns = parquet_columns(&file);
    assert_eq!(
        columns[..3],
        [
            vec!["group".to_string(), "string".into(), "no".into()],
            vec!["server".to_string(), "string".into(), "yes".into()],
            vec!["server_port".to_string(), "uint16".into(), "yes".into()],
        ]
    );
    let documented: Vec<Vec<String>> = documented.into_iter().map(|r| r[..3].to_vec()).collect();
    assert_eq!(columns[3..], documented[..]);
}
