//! `tcpstate diff A B` as a user runs it: the table (summary first), JSON
//! lines and CSV of the synthetic two-vantage-point pair against golden
//! files in tests/golden/report (TCPSTATE_BLESS=1 rewrites them), the HTML
//! page, and the exit statuses.

mod common;

use std::fs;

use common::{golden, ok, run};

const A: &str = "testdata/synth/diff_a.pcap";
const B: &str = "testdata/synth/diff_b.pcap";

#[test]
fn the_table_starts_with_the_summary() {
    let out = ok(&["diff", A, B]);
    assert!(out.starts_with("clock offset (B - A)            2.500000 s ± 0.004000 s\n"));
    golden("diff.table.txt", &out);
}

#[test]
fn json_lines_name_frames_in_both_captures() {
    let out = ok(&["diff", "--format", "json", A, B]);
    golden("diff.jsonl", &out);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_stream = |a: Option<u64>, b: Option<u64>| {
        lines
            .iter()
            .find(|l| l["a_stream"].as_u64() == a && l["b_stream"].as_u64() == b)
            .unwrap_or_else(|| panic!("no line for {a:?} {b:?}"))
    };
    // The lost segment (A frame 5), the injected RST (B frame 21), the
    // reordered segment (A frame 9 = B frame 7).
    let first = by_stream(Some(0), Some(0));
    assert_eq!(first["missing_in_b"], serde_json::json!([5]));
    assert_eq!(
        first["reordered"]["s2c"],
        serde_json::json!([{"a_frame": 9, "b_frame": 7}])
    );
    let second = by_stream(Some(1), Some(1));
    assert_eq!(second["missing_in_a"], serde_json::json!([21]));
    assert_eq!(second["states_agree"], false);
    assert_eq!(by_stream(Some(2), None)["matched_by"], "only_a");
    assert_eq!(by_stream(None, Some(2))["matched_by"], "only_b");
    let s = &lines.last().unwrap()["summary"];
    assert_eq!(s["offset_s"], 2.5);
    assert_eq!(s["path_delay_s"], 0.004);
    assert_eq!(
        (s["only_a"].as_u64(), s["only_b"].as_u64()),
        (Some(1), Some(1))
    );
}

#[test]
fn csv_has_one_row_per_connection() {
    let out = ok(&["diff", "--format", "csv", A, B]);
    golden("diff.csv", &out);
    assert_eq!(out.lines().count(), 5);
}

#[test]
fn the_html_page_holds_the_section() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("diff.html");
    let page_arg = page.to_str().unwrap();
    ok(&["diff", "--html", page_arg, A, B]);
    let html = fs::read_to_string(&page).unwrap();
    assert!(html.contains("<section id=\"diff\"><h2>Two vantage points</h2>"));
    assert!(html.contains("missing in B: A frames 5"));
    assert!(html.contains("reordered s2c: A 9 = B 7"));
}

/// A given offset is only a start: the traffic refines it.
#[test]
fn a_given_offset_is_refined() {
    let out = ok(&["diff", "--offset", "2.4", "--format", "json", A, B]);
    let s: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(s["summary"]["offset_s"], 2.5);
}

#[test]
fn unreadable_input_exits_2_and_still_reports() {
    let (code, out, err) = run(&[
        "diff",
        "--format",
        "json",
        "testdata/synth/bad/bad_crc.pcap.gz",
        B,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad_crc.pcap.gz: byte "), "{err}");
    assert!(out.lines().last().unwrap().starts_with("{\"summary\""));
    let (code, _, err) = run(&["diff", "-", B]);
    assert_eq!(code, 2);
    assert!(err.contains("standard input"), "{err}");
    let (code, _, err) = run(&["diff", "nothere.pcap", B]);
    assert_eq!(code, 2);
    assert!(err.contains("nothere.pcap: cannot open"), "{err}");
}
