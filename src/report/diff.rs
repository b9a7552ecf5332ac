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

/// `field dir a->b` for each change, `;`-separated.
fn changes_text(c: &ConnDiff) -> String {
    c.changes
        .iter()
        .map(|ch| format!("{} {} {}->{}", ch.field, ch.dir, ch.a, ch.b))
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

fn secs(s: f64) -> String {
    format!("{s:.6}")
}

fn ms(s: f64) -> String {
    format!("{:.3}", s * 1e3)
}

/// The summary as `name: value` lines, for the table and the HTML section.
fn summary_lines(s: &DiffSummary) -> Vec<(&'static str, String)> {
    let pm = |v: Option<f64>, f: &dyn Fn(f64) -> String| {
        v.map_or("unknown".into(), |v| format!(" ± {}", f(v)))
    };
    vec![
        (
            "clock offset (B - A)",
            format!(
                "{:.6} s{}",
                s.offset_s,
                pm(s.offset_uncertainty_s, &|v| format!("{v:.6} s"))
                    .replace("unknown", " (one direction only: includes its delay)")
            ),
        ),
        (
            "clock drift",
            format!(
                "{:.3} ppm{}",
                s.drift_ppm,
                pm(s.drift_uncertainty_ppm, &|v| format!("{v:.3} ppm"))
                    .replace("unknown", " (too short to tell)")
            ),
        ),
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
        ("changed by the path", format!("{} connections", s.changed)),
        (
            "state histories differ",
            format!("{} connections", s.states_disagree),
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

fn missing_cell(v: &[u64]) -> String {
    const SHOWN: usize = 8;
    let mut s = frames(&v[..v.len().min(SHOWN)]);
    if v.len() > SHOWN {
        let _ = write!(s, " +{}", v.len() - SHOWN);
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

/// The table's cells of one connection.
fn table_row(c: &ConnDiff) -> Vec<String> {
    let stream = |s: Option<u64>| s.map_or("-".into(), |s| s.to_string());
    let conf = c.confidence.map_or("", |x| x.name());
    vec![
        stream(c.a_stream),
        stream(c.b_stream),
        format!("{} {}", c.matched_by.name(), conf)
            .trim()
            .to_string(),
        format!(
            "{} -> {}",
            opt(c.a_client.or(c.b_client)),
            opt(c.a_server.or(c.b_server))
        ),
        missing_cell(&c.missing_in_b),
        missing_cell(&c.missing_in_a),
        delay_cell(&c.delay.c2s),
        delay_cell(&c.delay.s2c),
        (c.reordered.c2s.len() + c.reordered.s2c.len()).to_string(),
        match c.states_agree {
            Some(true) => "yes".into(),
            Some(false) => "NO".into(),
            None => "-".into(),
        },
        if c.changes.is_empty() {
            "-".into()
        } else {
            changes_text(c)
        },
    ]
}

const TABLE_HEADER: [&str; 11] = [
    "A_STREAM",
    "B_STREAM",
    "MATCHED_BY",
    "A: CLIENT -> SERVER",
    "MISSING_IN_B (A frames)",
    "MISSING_IN_A (B frames)",
    "C2S DELAY ms min/med/p99",
    "S2C DELAY ms min/med/p99",
    "REORD",
    "STATES_AGREE",
    "CHANGES",
];

/// The terminal table: the summary, then one row per connection.
pub fn write_table(out: &mut dyn Write, s: &DiffSummary, conns: &[ConnDiff]) -> io::Result<()> {
    for (k, v) in summary_lines(s) {
        writeln!(out, "{k:<32}{v}")?;
    }
    writeln!(out)?;
    let rows: Vec<Vec<String>> = conns.iter().map(table_row).collect();
    let mut widths: Vec<usize> = TABLE_HEADER.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = String>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            if i + 1 == widths.len() {
                l.push_str(&c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = widths[i]);
            }
        }
        l.trim_end().to_string()
    };
    writeln!(
        out,
        "{}",
        line(&mut TABLE_HEADER.iter().map(|h| h.to_string()))
    )?;
    for r in rows {
        writeln!(out, "{}", line(&mut r.into_iter()))?;
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
    for h in TABLE_HEADER {
        write!(out, "<th>{}</th>", esc(h))?;
    }
    writeln!(out, "</tr></thead><tbody>")?;
    for c in conns {
        let bad = !c.missing_in_a.is_empty()
            || !c.missing_in_b.is_empty()
            || c.states_agree == Some(false)
            || c.a_stream.is_none()
            || c.b_stream.is_none();
        write!(out, "<tr{}>", if bad { " class=\"bad\"" } else { "" })?;
        for cell in table_row(c) {
            write!(out, "<td>{}</td>", esc(&cell))?;
        }
        writeln!(out, "</tr>")?;
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
