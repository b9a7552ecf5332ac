//! The outputs of `tcpstate diff`: the terminal table (summary first), JSON
//! lines (one object per connection, then `{"summary": ...}`), CSV (one row
//! per connection) and the HTML section. JSON and CSV stream: each
//! connection is written as the comparison finishes it.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use crate::diff::{ConnDiff, DelayStats, DiffSummary, Direction};

/// The CSV columns, in order.
pub const DIFF_CSV_COLUMNS: [&str; 22] = [
    "a_stream",
    "b_stream",
    "matched_by",
    "confidence",
    "a_client",
    "a_server",
    "b_client",
    "b_server",
    "matched_segments",
    "a_segments",
    "b_segments",
    "missing_in_b",
    "missing_in_a",
    "c2s_upstream",
    "c2s_delay_min_s",
    "c2s_delay_median_s",
    "c2s_delay_p99_s",
    "s2c_upstream",
    "s2c_delay_min_s",
    "s2c_delay_median_s",
    "s2c_delay_p99_s",
    "changes",
];

/// One JSON line for a connection.
pub fn write_json_conn(out: &mut dyn Write, c: &ConnDiff) -> io::Result<()> {
    serde_json::to_writer(&mut *out, c)?;
    out.write_all(b"\n")
}

/// The closing `{"summary": ...}` line.
pub fn write_json_summary(out: &mut dyn Write, s: &DiffSummary) -> io::Result<()> {
    #[derive(Serialize)]
    struct Line<'a> {
        summary: &'a DiffSummary,
    }
    serde_json::to_writer(&mut *out, &Line { summary: s })?;
    out.write_all(b"\n")
}

/// The CSV header line.
pub fn write_csv_header(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", DIFF_CSV_COLUMNS.join(","))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

fn frames(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
}

/// A change's value as text: strings bare, the rest as JSON.
fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `field dir a->b` for each change, `;`-separated.
fn changes_text(c: &ConnDiff) -> String {
    c.changes
        .iter()
        .map(|ch| {
            format!(
                "{} {} {}->{}",
                ch.field,
                ch.dir,
                value_text(&ch.a),
                value_text(&ch.b)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One CSV row for a connection; missing frames are space-separated.
pub fn write_csv_conn(out: &mut dyn Write, c: &ConnDiff) -> io::Result<()> {
    let mut row: Vec<String> = vec![
        opt(c.a_stream),
        opt(c.b_stream),
        c.matched_by.name().into(),
        opt(c.confidence.map(|x| x.name())),
        opt(c.a_client),
        opt(c.a_server),
        opt(c.b_client),
        opt(c.b_server),
        c.matched_segments.to_string(),
        c.a_segments.to_string(),
        c.b_segments.to_string(),
        frames(&c.missing_in_b),
        frames(&c.missing_in_a),
    ];
    for d in [Direction::ClientToServer, Direction::ServerToClient] {
        match c.delay.get(d) {
            Some(s) => row.extend([
                s.upstream.to_string(),
                secs(s.min_s),
                secs(s.median_s),
                secs(s.p99_s),
            ]),
            None => row.extend(std::iter::repeat_n(String::new(), 4)),
        }
    }
    row.push(changes_text(c));
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(&row).map_err(io::Error::other)?;
    let bytes = w
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    out.write_all(&bytes)
}

fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn secs(s: f64) -> String {
    format!("{s:.6}")
}

fn ms(s: f64) -> String {
    format!("{:.3}", s * 1e3)
}

/// The summary as `name: value` lines, for the table and the HTML section.
fn summary_lines(s: &DiffSummary) -> Vec<(&'static str, String)> {
    let offset = match s.offset_s {
        None => "unknown: no segment of A was found in B".to_string(),
        Some(o) => format!(
            "{o:.6} s{}",
            s.offset_uncertainty_s.map_or(
                " (segments matched one way only: includes that way's delay)".into(),
                |u| format!(" ± {u:.6} s")
            )
        ),
    };
    let drift = match s.drift_ppm {
        None => "unknown".to_string(),
        Some(d) => format!(
            "{d:.3} ppm{}",
            s.drift_uncertainty_ppm
                .map_or(" (too short to tell)".into(), |u| format!(" ± {u:.3} ppm"))
        ),
    };
    vec![
        ("clock offset (B - A)", offset),
        ("clock drift", drift),
        (
            "min one-way delay",
            s.path_delay_s
                .map_or("unknown".into(), |d| format!("{} ms", ms(d))),
        ),
        (
            "connections",
            format!(
                "{} matched, {} only in A, {} only in B",
                s.matched, s.only_a, s.only_b
            ),
        ),
        (
            "segments",
            format!(
                "{} in A, {} in B, {} matched",
                s.segments_a, s.segments_b, s.matched_segments
            ),
        ),
        ("lost between (missing in B)", s.missing_in_b.to_string()),
        ("created between (missing in A)", s.missing_in_a.to_string()),
        ("reordered", s.reordered.to_string()),
        ("changed by the path", plural(s.changed, "connection")),
        (
            "state histories differ",
            plural(s.states_disagree, "connection"),
        ),
        ("matching window", format!("{} s", s.window_s)),
    ]
}

fn delay_cell(d: &Option<DelayStats>) -> String {
    match d {
        Some(d) => format!(
            "{}>{} {}/{}/{}",
            d.upstream,
            if d.upstream == "a" { "b" } else { "a" },
            ms(d.min_s),
            ms(d.median_s),
            ms(d.p99_s)
        ),
        None => "-".into(),
    }
}

fn count(n: Option<usize>) -> String {
    n.map_or("-".into(), |n| n.to_string())
}

/// The table's cells of one connection.
fn table_row(c: &ConnDiff) -> Vec<String> {
    let stream = |s: Option<u64>| s.map_or("-".into(), |s| s.to_string());
    vec![
        stream(c.a_stream),
        stream(c.b_stream),
        c.matched_by.name().into(),
        c.confidence.map_or("-", |x| x.name()).into(),
        format!(
            "{} -> {}",
            opt(c.a_client.or(c.b_client)),
            opt(c.a_server.or(c.b_server))
        ),
        count(c.a_stream.and(c.b_stream).map(|_| c.missing_in_b.len())),
        count(c.a_stream.and(c.b_stream).map(|_| c.missing_in_a.len())),
        delay_cell(&c.delay.c2s),
        delay_cell(&c.delay.s2c),
        (c.reordered.c2s.len() + c.reordered.s2c.len()).to_string(),
        match c.states_agree {
            Some(true) => "yes".into(),
            Some(false) => "NO".into(),
            None => "-".into(),
        },
    ]
}

const TABLE_HEADER: [&str; 11] = [
    "A_STREAM",
    "B_STREAM",
    "MATCHED_BY",
    "CONFIDENCE",
    "CLIENT -> SERVER (A)",
    "MISSING_IN_B",
    "MISSING_IN_A",
    "C2S_DELAY_MS min/med/p99",
    "S2C_DELAY_MS min/med/p99",
    "REORDERED",
    "STATES_AGREE",
];

/// The findings of a connection, one per line, each naming its frames:
/// the lost and created segments, the reordered ones, the changes.
fn finding_lines(c: &ConnDiff) -> Vec<String> {
    let mut v = Vec::new();
    if !c.missing_in_b.is_empty() {
        v.push(format!(
            "missing in B: A frames {}",
            frames(&c.missing_in_b)
        ));
    }
    if !c.missing_in_a.is_empty() {
        v.push(format!(
            "missing in A: B frames {}",
            frames(&c.missing_in_a)
        ));
    }
    for (dir, list) in [("c2s", &c.reordered.c2s), ("s2c", &c.reordered.s2c)] {
        if !list.is_empty() {
            let pairs: Vec<String> = list
                .iter()
                .map(|r| format!("A {} = B {}", r.a_frame, r.b_frame))
                .collect();
            v.push(format!("reordered {dir}: {}", pairs.join(", ")));
        }
    }
    match (c.a_stream, c.b_stream) {
        (Some(_), None) => v.push(format!(
            "seen in A only: {}",
            plural(c.a_segments, "segment")
        )),
        (None, Some(_)) => v.push(format!(
            "seen in B only: {}",
            plural(c.b_segments, "segment")
        )),
        _ => {}
    }
    for ch in &c.changes {
        let show = value_text;
        if ch.field.ends_with("_states") {
            v.push(format!(
                "{} differ: A {} / B {} (they part at A frame {}, B frame {})",
                ch.field.replace('_', " "),
                show(&ch.a),
                show(&ch.b),
                ch.a_frame,
                ch.b_frame
            ));
            continue;
        }
        v.push(format!(
            "{} {}: {} -> {} ({}; first at A frame {}, B frame {})",
            ch.field,
            ch.dir,
            show(&ch.a),
            show(&ch.b),
            plural(ch.count, "segment"),
            ch.a_frame,
            ch.b_frame
        ));
    }
    v
}

/// The terminal table: the summary, then one row per connection (A's
/// streams first, in order, then B's own), each followed by its findings.
pub fn write_table(out: &mut dyn Write, s: &DiffSummary, conns: &[ConnDiff]) -> io::Result<()> {
    for (k, v) in summary_lines(s) {
        writeln!(out, "{k:<32}{v}")?;
    }
    writeln!(out)?;
    let mut order: Vec<&ConnDiff> = conns.iter().collect();
    order.sort_by_key(|c| (c.a_stream.is_none(), c.a_stream, c.b_stream));
    let rows: Vec<Vec<String>> = order.iter().map(|c| table_row(c)).collect();
    let mut widths: Vec<usize> = TABLE_HEADER.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = String>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            let _ = write!(l, "{c:<w$}  ", w = widths[i]);
        }
        l.trim_end().to_string()
    };
    writeln!(
        out,
        "{}",
        line(&mut TABLE_HEADER.iter().map(|h| h.to_string()))
    )?;
    for (c, r) in order.iter().zip(rows) {
        writeln!(out, "{}", line(&mut r.into_iter()))?;
        for f in finding_lines(c) {
            writeln!(out, "    {f}")?;
        }
    }
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The HTML section "Two vantage points": the summary and the table, for
/// a page of its own ([`write_html`]) or inside another.
pub fn write_html_section(
    out: &mut dyn Write,
    names: (&str, &str),
    s: &DiffSummary,
    conns: &[ConnDiff],
) -> io::Result<()> {
    writeln!(out, "<section id=\"diff\"><h2>Two vantage points</h2>")?;
    writeln!(
        out,
        "<p>A: <code>{}</code><br>B: <code>{}</code></p>",
        esc(names.0),
        esc(names.1)
    )?;
    writeln!(out, "<table class=\"summary\">")?;
    for (k, v) in summary_lines(s) {
        writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v))?;
    }
    writeln!(out, "</table>\n<table class=\"conns\"><thead><tr>")?;
    for h in TABLE_HEADER.iter().chain(&["FINDINGS (frames in A and B)"]) {
        write!(out, "<th>{}</th>", esc(h))?;
    }
    writeln!(out, "</tr></thead><tbody>")?;
    let mut order: Vec<&ConnDiff> = conns.iter().collect();
    order.sort_by_key(|c| (c.a_stream.is_none(), c.a_stream, c.b_stream));
    for c in order {
        let bad = !c.missing_in_a.is_empty()
            || !c.missing_in_b.is_empty()
            || c.states_agree == Some(false)
            || c.a_stream.is_none()
            || c.b_stream.is_none();
        write!(out, "<tr{}>", if bad { " class=\"bad\"" } else { "" })?;
        for cell in table_row(c) {
            write!(out, "<td>{}</td>", esc(&cell))?;
        }
        let findings: Vec<String> = finding_lines(c).iter().map(|f| esc(f)).collect();
        writeln!(out, "<td>{}</td></tr>", findings.join("<br>"))?;
    }
    writeln!(out, "</tbody></table></section>")
}

/// A self-contained HTML page holding the section.
pub fn write_html(
    out: &mut dyn Write,
    names: (&str, &str),
    s: &DiffSummary,
    conns: &[ConnDiff],
) -> io::Result<()> {
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>tcpstate diff</title><style>\
         body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse;margin:1em 0}}\
         th,td{{border:1px solid #ccc;padding:2px 6px;text-align:left;font-size:90%}}\
         tr.bad td{{background:#fdecea}}code{{font-size:95%}}</style></head><body>"
    )?;
    write_html_section(out, names, s, conns)?;
    writeln!(out, "</body></html>")
}
