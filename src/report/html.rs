//! A self-contained HTML report: one file that opens offline in any browser,
//! for people who want to *see* a capture rather than read a table.
//!
//! Everything is inline, because the file must work on an air-gapped laptop
//! and as a CI artefact: the CSS in a `<style>`, the state-transition graph as
//! SVG computed here, each capture's timeline as JSON in a
//! `<script type="application/json">` drawn by a small inline script onto a
//! canvas (only the rows in view, so 10 000 connections stay fast), and the
//! per-connection ladders as plain tables. Nothing refers to the network.
//!
//! The page has five sections, one function each: `write_totals`,
//! `write_graph`, `write_timelines`, `write_anomaly_table` and
//! `write_ladders`. Which connections count as abnormal, the order they are
//! shown in and which get a ladder is decided once, in `Plan`, so the three
//! views that link to each other always agree.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufWriter, Write};

use serde_json::{json, Value};

use crate::anomaly::{Anomaly, AnomalyCode, Severity};
use crate::model::Side;
use crate::pipeline::{Analysis, Connection};
use crate::tcp::machine::{is_rfc_edge, Outcome, State, Transition};

use super::format::{relative, rfc3339_ns};

/// The page's stylesheet, kept in its own file so it reads as CSS.
const STYLE: &str = include_str!("html/report.css");
/// The timeline script, kept in its own file so it reads as JavaScript.
const SCRIPT: &str = include_str!("html/report.js");

/// Normal (not abnormal) connections per capture that still get a ladder.
pub const NORMAL_LADDERS: usize = 200;
/// Abnormal connections per capture that get a ladder; beyond this the page
/// would grow past what a browser opens comfortably.
const MAX_ABNORMAL_LADDERS: usize = 5000;
/// Rows of the anomaly table; the totals still count every occurrence.
const MAX_ANOMALY_ROWS: usize = 5000;

/// Colour of each state, shared by the graph's nodes and the timeline's bars
/// so that one legend explains both. Indexed like [`State::ALL`].
const STATE_COLOURS: [&str; 11] = [
    "#bdbdbd", // CLOSED
    "#d7ccc8", // LISTEN
    "#4fc3f7", // SYN_SENT
    "#0288d1", // SYN_RCVD
    "#43a047", // ESTABLISHED
    "#fdd835", // FIN_WAIT_1
    "#fb8c00", // FIN_WAIT_2
    "#8e24aa", // CLOSING
    "#6d4c41", // TIME_WAIT
    "#e53935", // CLOSE_WAIT
    "#ec407a", // LAST_ACK
];

fn state_index(s: State) -> usize {
    State::ALL.iter().position(|&x| x == s).unwrap_or(0)
}

fn colour(s: State) -> &'static str {
    STATE_COLOURS[state_index(s)]
}

/// Writes the whole report for `analyses` as one HTML document.
pub fn write_html(out: &mut dyn Write, analyses: &[Analysis]) -> io::Result<()> {
    let mut out = BufWriter::new(out);
    let plans: Vec<Plan> = analyses.iter().map(Plan::of).collect();
    write_head(&mut out, analyses)?;
    write_totals(&mut out, analyses, &plans)?;
    write_graph(&mut out, analyses)?;
    write_timelines(&mut out, analyses, &plans)?;
    write_anomaly_table(&mut out, analyses, &plans)?;
    write_ladders(&mut out, analyses, &plans)?;
    write_tail(&mut out)?;
    out.flush()
}

// ---------------------------------------------------------------------------
// Escaping
// ---------------------------------------------------------------------------

/// Displays a value with HTML's five special characters escaped, so that file
/// names, addresses and anomaly details can never become markup. Safe in text
/// and in quoted attribute values.
struct Esc<T>(T);

impl<T: fmt::Display> fmt::Display for Esc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Escaper<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for Escaper<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let mut rest = s;
                while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
                    self.0.write_str(&rest[..i])?;
                    self.0.write_str(match rest.as_bytes()[i] {
                        b'&' => "&amp;",
                        b'<' => "&lt;",
                        b'>' => "&gt;",
                        b'"' => "&quot;",
                        _ => "&#39;",
                    })?;
                    rest = &rest[i + 1..];
                }
                self.0.write_str(rest)
            }
        }
        fmt::write(&mut Escaper(f), format_args!("{}", self.0))
    }
}

/// JSON for a `<script type="application/json">` element: `<`, `>` and `&`
/// (which JSON only allows inside strings) become `\u003c`..., so no data
/// can close the element or open a comment.
fn script_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

// ---------------------------------------------------------------------------
// What to show: abnormal first, and which connections get a ladder
// ---------------------------------------------------------------------------

/// Abnormal: something worth a look. Any anomaly of severity warning or
/// error, or any outcome other than an orderly close by both sides.
fn is_abnormal(c: &Connection) -> bool {
    c.tcp.outcome() != Outcome::Closed
        || c.anomalies()
            .iter()
            .any(|a| a.code.severity() >= Severity::Warning)
}

/// Per capture: the display order and the ladder set, decided once so the
/// timeline, the anomaly table and the ladders agree on every link.
struct Plan {
    /// Indices into `connections`: abnormal ones first, each group by stream.
    order: Vec<usize>,
    abnormal: Vec<bool>,
    ladder: Vec<bool>,
    abnormal_count: usize,
    /// Connections left without a ladder, normal and abnormal.
    omitted_normal: usize,
    omitted_abnormal: usize,
}

impl Plan {
    fn of(a: &Analysis) -> Plan {
        let abnormal: Vec<bool> = a.connections.iter().map(is_abnormal).collect();
        let mut order: Vec<usize> = (0..a.connections.len()).collect();
        order.sort_by_key(|&i| (!abnormal[i], a.connections[i].flow.stream));
        let mut ladder = vec![false; abnormal.len()];
        let (mut seen_abnormal, mut seen_normal) = (0, 0);
        for &i in &order {
            let seen = if abnormal[i] {
                &mut seen_abnormal
            } else {
                &mut seen_normal
            };
            let limit = if abnormal[i] {
                MAX_ABNORMAL_LADDERS
            } else {
                NORMAL_LADDERS
            };
            ladder[i] = *seen < limit;
            *seen += 1;
        }
        let abnormal_count = seen_abnormal;
        Plan {
            order,
            ladder,
            abnormal_count,
            omitted_normal: seen_normal.saturating_sub(NORMAL_LADDERS),
            omitted_abnormal: seen_abnormal.saturating_sub(MAX_ABNORMAL_LADDERS),
            abnormal,
        }
    }
}

/// The fragment id of a connection's ladder: captures number their streams
/// from 0 each, so the capture's index is part of it.
fn anchor(capture: usize, stream: u64) -> String {
    format!("conn-{capture}-{stream}")
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Error => "sev-error",
        Severity::Warning => "sev-warning",
        Severity::Info => "sev-info",
    }
}

// ---------------------------------------------------------------------------
// Head and tail
// ---------------------------------------------------------------------------

/// The document head with the inline stylesheet, and an error trap that runs
/// before any other script so a browser test can find script errors in the
/// DOM (`data-script-error` on `<html>`).
fn write_head(out: &mut dyn Write, analyses: &[Analysis]) -> io::Result<()> {
    let names: Vec<&str> = analyses.iter().map(|a| a.file.as_str()).collect();
    let title = if names.is_empty() {
        "no capture".to_string()
    } else {
        names.join(", ")
    };
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"tcpstate {}\">\n\
         <title>tcpstate: {}</title>\n<style>\n{STYLE}</style>\n",
        env!("CARGO_PKG_VERSION"),
        Esc(&title)
    )?;
    writeln!(
        out,
        "<script>window.addEventListener(\"error\", function (e) {{ \
         document.documentElement.setAttribute(\"data-script-error\", String(e.message)); }});</script>"
    )?;
    writeln!(out, "</head>\n<body>\n<h1>tcpstate report</h1>")?;
    writeln!(out, "<p class=\"muted\">{}</p>", Esc(&title))?;
    writeln!(
        out,
        "<nav><a href=\"#totals\">Totals</a><a href=\"#graph\">State transitions</a>\
         <a href=\"#timeline\">Timeline</a><a href=\"#anomalies\">Anomalies</a>\
         <a href=\"#ladders\">Connections</a></nav>"
    )
}

/// The timeline script goes last, after the elements it draws into.
fn write_tail(out: &mut dyn Write) -> io::Result<()> {
    write!(out, "<script>\n{SCRIPT}</script>\n</body>\n</html>\n")
}

/// The colour legend shared by the graph and the timeline.
fn write_legend(out: &mut dyn Write) -> io::Result<()> {
    write!(out, "<div class=\"legend\">")?;
    for s in State::ALL {
        write!(
            out,
            "<span><i style=\"background:{}\"></i>{}</span>",
            colour(s),
            s.name()
        )?;
    }
    writeln!(out, "</div>")
}

// ---------------------------------------------------------------------------
// 1. Totals
// ---------------------------------------------------------------------------

/// What a reader wants before any detail: how much was read, how the
/// connections ended, which anomalies occurred and how bad they are, and
/// whether every frame is accounted for.
fn write_totals(out: &mut dyn Write, analyses: &[Analysis], plans: &[Plan]) -> io::Result<()> {
    let connections: usize = analyses.iter().map(|a| a.connections.len()).sum();
    let frames: u64 = analyses.iter().map(|a| a.accounting.frames).sum();
    let abnormal: usize = plans.iter().map(|p| p.abnormal_count).sum();
    let mut outcomes: BTreeMap<&'static str, u64> = BTreeMap::new();
    // code -> (occurrences, connections)
    let mut codes: BTreeMap<AnomalyCode, (u64, u64)> = BTreeMap::new();
    let mut severities: BTreeMap<Severity, u64> = BTreeMap::new();
    for c in analyses.iter().flat_map(|a| &a.connections) {
        *outcomes.entry(c.tcp.outcome().name()).or_default() += 1;
        let anomalies = c.anomalies();
        for a in &anomalies {
            codes.entry(a.code).or_default().0 += 1;
            *severities.entry(a.code.severity()).or_default() += 1;
        }
        let mut distinct: Vec<AnomalyCode> = anomalies.iter().map(|a| a.code).collect();
        distinct.sort();
        distinct.dedup();
        for code in distinct {
            codes.entry(code).or_default().1 += 1;
        }
    }
    let occurrences: u64 = severities.values().sum();

    writeln!(
        out,
        "<section id=\"totals\">\n<h2>Totals</h2>\n<div class=\"cards\">"
    )?;
    let cards = [
        ("captures", analyses.len() as u64),
        ("frames", frames),
        ("connections", connections as u64),
        ("abnormal connections", abnormal as u64),
        ("anomalies", occurrences),
    ];
    for (label, n) in cards {
        writeln!(out, "<div class=\"card\"><b>{n}</b>{label}</div>")?;
    }
    writeln!(out, "</div>")?;

    write_capture_table(out, analyses)?;

    writeln!(
        out,
        "<div class=\"grid\">\n<div>\n<h3>Connections by outcome</h3>"
    )?;
    writeln!(
        out,
        "<table><tr><th>outcome</th><th class=\"num\">connections</th></tr>"
    )?;
    for (name, n) in &outcomes {
        writeln!(out, "<tr><td>{name}</td><td class=\"num\">{n}</td></tr>")?;
    }
    writeln!(
        out,
        "</table>\n</div>\n<div>\n<h3>Anomalies by severity</h3>"
    )?;
    writeln!(
        out,
        "<table><tr><th>severity</th><th class=\"num\">occurrences</th></tr>"
    )?;
    for sev in [Severity::Error, Severity::Warning, Severity::Info] {
        let n = severities.get(&sev).copied().unwrap_or(0);
        writeln!(
            out,
            "<tr><td class=\"{}\">{sev}</td><td class=\"num\">{n}</td></tr>",
            severity_class(sev)
        )?;
    }
    writeln!(out, "</table>\n</div>\n</div>")?;

    writeln!(out, "<h3>Anomalies by code</h3>")?;
    if codes.is_empty() {
        writeln!(out, "<p class=\"muted\">No anomalies.</p>")?;
    } else {
        writeln!(
            out,
            "<table><tr><th>code</th><th>severity</th><th class=\"num\">occurrences</th>\
             <th class=\"num\">connections</th><th>meaning</th></tr>"
        )?;
        let mut rows: Vec<(&AnomalyCode, &(u64, u64))> = codes.iter().collect();
        rows.sort_by_key(|(code, _)| (std::cmp::Reverse(code.severity()), code.code()));
        for (code, (n, conns)) in rows {
            let sev = code.severity();
            writeln!(
                out,
                "<tr><td><code>{}</code></td><td class=\"{}\">{sev}</td><td class=\"num\">{n}</td>\
                 <td class=\"num\">{conns}</td><td>{}</td></tr>",
                code.code(),
                severity_class(sev),
                Esc(code.meaning())
            )?;
        }
        writeln!(out, "</table>")?;
    }
    writeln!(out, "</section>")
}

/// One row per capture with its frame accounting (frames = TCP + other IP +
/// non-IP + undecodable), the breakdowns below, and any read error.
fn write_capture_table(out: &mut dyn Write, analyses: &[Analysis]) -> io::Result<()> {
    writeln!(out, "<h3>Captures and frame accounting</h3>")?;
    writeln!(
        out,
        "<table><tr><th>file</th><th>format</th><th>starts</th><th class=\"num\">frames</th>\
         <th class=\"num\">TCP</th><th class=\"num\">other IP</th><th class=\"num\">non-IP</th>\
         <th class=\"num\">undecodable</th><th class=\"num\">connections</th>\
         <th class=\"num\">port reuses</th></tr>"
    )?;
    let mut total = crate::pipeline::accounting::FrameAccounting::default();
    for a in analyses {
        let format = match a.format {
            Some(f) if a.compressed => format!("{f}, gzip"),
            Some(f) => f.to_string(),
            None => "unreadable".into(),
        };
        let starts = a.first_ts_ns.map(rfc3339_ns).unwrap_or_else(|| "-".into());
        let acc = &a.accounting;
        writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            Esc(&a.file),
            Esc(&format),
            Esc(&starts),
            acc.frames,
            acc.tcp,
            acc.other_ip,
            acc.non_ip,
            acc.undecodable,
            a.connections.len(),
            a.port_reuses
        )?;
        total.frames += acc.frames;
        total.tcp += acc.tcp;
        total.other_ip += acc.other_ip;
        total.non_ip += acc.non_ip;
        total.undecodable += acc.undecodable;
    }
    if analyses.len() > 1 {
        let conns: usize = analyses.iter().map(|a| a.connections.len()).sum();
        let reuses: u64 = analyses.iter().map(|a| a.port_reuses).sum();
        writeln!(
            out,
            "<tr class=\"total\"><td>all</td><td></td><td></td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{conns}</td><td class=\"num\">{reuses}</td></tr>",
            total.frames, total.tcp, total.other_ip, total.non_ip, total.undecodable
        )?;
    }
    writeln!(out, "</table>")?;
    for a in analyses {
        let acc = &a.accounting;
        let balanced = if acc.is_balanced() {
            ""
        } else {
            " (does not add up!)"
        };
        let mut parts: Vec<String> = Vec::new();
        let mut named = |label: &str, items: Vec<String>| {
            if !items.is_empty() {
                parts.push(format!("{label}: {}", items.join(", ")));
            }
        };
        named(
            "other IP",
            acc.other_ip_by_protocol
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect(),
        );
        named(
            "non-IP",
            acc.non_ip_by_kind
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect(),
        );
        named(
            "undecodable",
            acc.undecodable_by_reason
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect(),
        );
        if acc.tcp_bad_header_len > 0 {
            parts.push(format!(
                "TCP with a header length below 20 bytes: {}",
                acc.tcp_bad_header_len
            ));
        }
        if acc.amsdu_subframes > 0 {
            parts.push(format!(
                "packets beyond the first in 802.11 A-MSDU frames: {}",
                acc.amsdu_subframes
            ));
        }
        let breakdown = if parts.is_empty() {
            String::new()
        } else {
            format!("; {}", parts.join("; "))
        };
        writeln!(
            out,
            "<p class=\"note\"><span class=\"mono\">{}</span>: frames {} = TCP {} + other IP {} + \
             non-IP {} + undecodable {}{balanced}{}</p>",
            Esc(&a.file),
            acc.frames,
            acc.tcp,
            acc.other_ip,
            acc.non_ip,
            acc.undecodable,
            Esc(&breakdown)
        )?;
        for e in &a.errors {
            writeln!(
                out,
                "<p class=\"sev-error\">read error: {} (what was read before it is analysed)</p>",
                Esc(e)
            )?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 2. The state-transition graph
// ---------------------------------------------------------------------------

/// How often one edge was taken, per side, and how often only inferred.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct EdgeCount {
    client: u64,
    server: u64,
    inferred: u64,
}

impl EdgeCount {
    fn total(&self) -> u64 {
        self.client + self.server
    }
}

/// Every observed (from, to) edge over all connections of all captures.
fn edge_counts(analyses: &[Analysis]) -> BTreeMap<(State, State), EdgeCount> {
    let mut edges: BTreeMap<(State, State), EdgeCount> = BTreeMap::new();
    for c in analyses.iter().flat_map(|a| &a.connections) {
        for t in c.tcp.transitions() {
            let e = edges.entry((t.from, t.to)).or_default();
            match t.side {
                Side::Client => e.client += 1,
                Side::Server => e.server += 1,
            }
            if t.inferred {
                e.inferred += 1;
            }
        }
    }
    edges
}

const GRAPH_W: f64 = 980.0;
const GRAPH_H: f64 = 650.0;
const NODE_W: f64 = 132.0;
const NODE_H: f64 = 34.0;

/// Where a state's box sits, after the RFC 9293 diagram turned so that the
/// client's path runs down the left (active open, active close) and the
/// server's down the right (passive open, passive close), ESTABLISHED in the
/// middle. Like the RFC's figure, CLOSED appears twice: edges leave the one
/// at the top and arrive at the one at the bottom, so the many transitions
/// into CLOSED do not cross the whole picture.
fn node_position(state: State, arriving: bool) -> (f64, f64) {
    match state {
        State::Closed if arriving => (650.0, 600.0),
        State::Closed => (330.0, 45.0),
        State::Listen => (650.0, 45.0),
        State::SynSent => (170.0, 150.0),
        State::SynRcvd => (810.0, 150.0),
        State::Established => (490.0, 255.0),
        State::FinWait1 => (170.0, 360.0),
        State::CloseWait => (810.0, 360.0),
        State::Closing => (490.0, 440.0),
        State::FinWait2 => (170.0, 490.0),
        State::LastAck => (810.0, 490.0),
        State::TimeWait => (330.0, 600.0),
    }
}

/// The point where the ray from a box's centre towards `(tx, ty)` leaves the box.
fn box_exit(cx: f64, cy: f64, tx: f64, ty: f64, pad: f64) -> (f64, f64) {
    let (dx, dy) = (tx - cx, ty - cy);
    let hw = NODE_W / 2.0 + pad;
    let hh = NODE_H / 2.0 + pad;
    let sx = if dx.abs() > 1e-9 {
        hw / dx.abs()
    } else {
        f64::INFINITY
    };
    let sy = if dy.abs() > 1e-9 {
        hh / dy.abs()
    } else {
        f64::INFINITY
    };
    let s = sx.min(sy).min(1.0);
    (cx + dx * s, cy + dy * s)
}

/// Stroke width grows with the logarithm of the count, so one busy edge does
/// not drown the rare ones that are usually the interesting ones.
fn stroke_width(count: u64) -> f64 {
    (1.2 + (count.max(1) as f64).log10() * 1.3).min(6.0)
}

/// The graph as inline SVG, then the same numbers as a table for readers
/// (and tests) that prefer text. Edges that are not in the RFC diagram are
/// red; edges only ever inferred (the capture missed the segment) are dashed.
fn write_graph(out: &mut dyn Write, analyses: &[Analysis]) -> io::Result<()> {
    let edges = edge_counts(analyses);
    let mut entered = [0u64; 11];
    let mut left = [0u64; 11];
    for (&(from, to), e) in &edges {
        entered[state_index(to)] += e.total();
        left[state_index(from)] += e.total();
    }

    writeln!(out, "<section id=\"graph\">\n<h2>State transitions</h2>")?;
    writeln!(
        out,
        "<p class=\"note\">Every transition of every connection's two RFC 9293 machines, \
         client and server summed; the number on an arrow is how often it was taken \
         (hover for the split). The client's usual path runs down the left, the server's \
         down the right; CLOSED is drawn twice, as in the RFC: arrows leave the top one and \
         arrive at the bottom one. Red arrows are not edges of the RFC diagram; dashed ones \
         were only inferred.</p>"
    )?;
    writeln!(
        out,
        "<svg class=\"graph\" viewBox=\"0 0 {GRAPH_W} {GRAPH_H}\" \
         role=\"img\" aria-label=\"state-transition graph\">"
    )?;
    writeln!(out, "<defs>")?;
    for (id, fill) in [("arrow", "#455a64"), ("arrow-odd", "#c62828")] {
        writeln!(
            out,
            "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" \
             markerHeight=\"6\" markerUnits=\"userSpaceOnUse\" orient=\"auto\">\
             <path d=\"M0,0 L10,5 L0,10 z\" fill=\"{fill}\"/></marker>"
        )?;
    }
    writeln!(out, "</defs>")?;

    // Nodes first, then arrows over them, then the labels over everything.
    write_graph_nodes(out, &entered, &left)?;
    let mut labels = String::new();
    for (&(from, to), e) in &edges {
        write_graph_edge(out, &mut labels, from, to, e)?;
    }
    out.write_all(labels.as_bytes())?;
    writeln!(out, "</svg>")?;
    write_legend(out)?;

    writeln!(out, "<details><summary>The same as a table</summary>")?;
    writeln!(
        out,
        "<table class=\"edges\"><tr><th>from</th><th>to</th><th class=\"num\">client</th>\
         <th class=\"num\">server</th><th class=\"num\">inferred</th><th>RFC edge</th></tr>"
    )?;
    for (&(from, to), e) in &edges {
        writeln!(
            out,
            "<tr><td>{from}</td><td>{to}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            e.client,
            e.server,
            e.inferred,
            if is_rfc_edge(from, to) { "yes" } else { "no" }
        )?;
    }
    writeln!(out, "</table></details>\n</section>")
}

/// The eleven state boxes (CLOSED twice), greyed out when no side ever was there.
fn write_graph_nodes(out: &mut dyn Write, entered: &[u64; 11], left: &[u64; 11]) -> io::Result<()> {
    let places = State::ALL
        .iter()
        .map(|&s| (s, node_position(s, false), false))
        .chain(std::iter::once((
            State::Closed,
            node_position(State::Closed, true),
            true,
        )));
    for (s, (x, y), arriving) in places {
        let i = state_index(s);
        let used = if s == State::Closed {
            if arriving {
                entered[i] > 0
            } else {
                left[i] > 0
            }
        } else {
            entered[i] + left[i] > 0
        };
        let (stroke, text, dash) = if used {
            (colour(s), "#1d2329", "")
        } else {
            ("#cfd4d9", "#9aa3ab", " stroke-dasharray=\"4 3\"")
        };
        writeln!(
            out,
            "<g class=\"node\"><title>{}: entered {} times, left {} times</title>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"7\" \
             fill=\"#ffffff\" stroke=\"{stroke}\" stroke-width=\"3\"{dash}/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\" \
             font-weight=\"600\" fill=\"{text}\">{}</text></g>",
            s.name(),
            entered[i],
            left[i],
            x - NODE_W / 2.0,
            y - NODE_H / 2.0,
            y + 4.5,
            s.name()
        )?;
    }
    Ok(())
}

/// One arrow as a quadratic curve bent to the right of its direction, so that
/// A -> B and B -> A run side by side instead of on top of each other; its
/// count label is appended to `labels` to be drawn last.
fn write_graph_edge(
    out: &mut dyn Write,
    labels: &mut String,
    from: State,
    to: State,
    e: &EdgeCount,
) -> io::Result<()> {
    use fmt::Write as _;
    let (ax, ay) = node_position(from, false);
    let (bx, by) = node_position(to, true);
    let rfc = is_rfc_edge(from, to);
    let colour = if rfc { "#455a64" } else { "#c62828" };
    let marker = if rfc { "arrow" } else { "arrow-odd" };
    let dash = if e.inferred == e.total() {
        " stroke-dasharray=\"6 4\""
    } else {
        ""
    };
    let title = format!(
        "{from} \u{2192} {to}: {} (client {}, server {}, inferred {}){}",
        e.total(),
        e.client,
        e.server,
        e.inferred,
        if rfc { "" } else { "; not an RFC 9293 edge" }
    );
    let (sx, sy, cx, cy, ex, ey);
    if (ax, ay) == (bx, by) {
        // A state to itself: a loop above the box.
        (sx, sy) = (ax - 20.0, ay - NODE_H / 2.0);
        (ex, ey) = (ax + 20.0, ay - NODE_H / 2.0 - 2.0);
        (cx, cy) = (ax, ay - NODE_H / 2.0 - 60.0);
    } else {
        let (dx, dy) = (bx - ax, by - ay);
        let len = (dx * dx + dy * dy).sqrt();
        let bend = 14.0 + 0.08 * len;
        // Right of the direction of travel in SVG's y-down coordinates.
        let (nx, ny) = (-dy / len, dx / len);
        (cx, cy) = ((ax + bx) / 2.0 + nx * bend, (ay + by) / 2.0 + ny * bend);
        (sx, sy) = box_exit(ax, ay, cx, cy, 1.0);
        (ex, ey) = box_exit(bx, by, cx, cy, 3.0);
    }
    writeln!(
        out,
        "<path class=\"edge\" d=\"M{sx:.1},{sy:.1} Q{cx:.1},{cy:.1} {ex:.1},{ey:.1}\" fill=\"none\" \
         stroke=\"{colour}\" stroke-width=\"{:.2}\"{dash} marker-end=\"url(#{marker})\">\
         <title>{}</title></path>",
        stroke_width(e.total()),
        Esc(&title)
    )?;
    // The curve's midpoint (t = 1/2 of the quadratic Bézier).
    let (lx, ly) = (
        0.25 * sx + 0.5 * cx + 0.25 * ex,
        0.25 * sy + 0.5 * cy + 0.25 * ey,
    );
    let _ = writeln!(
        labels,
        "<text class=\"edge-label\" x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\" \
         font-weight=\"700\" fill=\"{colour}\" stroke=\"#ffffff\" stroke-width=\"4\" \
         paint-order=\"stroke\"><title>{}</title>{}</text>",
        ly + 4.0,
        Esc(&title),
        e.total()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// 3. The timeline
// ---------------------------------------------------------------------------

/// Microseconds since the capture's first frame: the timeline's unit, small
/// integers that keep the JSON compact.
fn micros(a: &Analysis, ts_ns: i64) -> i64 {
    (ts_ns - a.first_ts_ns.unwrap_or(ts_ns)) / 1000
}

/// The last instant the capture shows: its last frame, or a timer that fired
/// before the end. States still held at the end are drawn up to here.
fn capture_end_ns(a: &Analysis) -> i64 {
    a.connections
        .iter()
        .map(|c| {
            c.tcp
                .transitions()
                .map(|t| t.ts_ns)
                .fold(c.flow.end_ns, i64::max)
        })
        .max()
        .or(a.first_ts_ns)
        .unwrap_or(0)
}

/// One side's states over time as flat `[state, from_us, to_us, ...]`
/// triples. CLOSED is left out (nothing to draw); a final state other than
/// CLOSED lasts to the end of the capture, except LISTEN, which only means
/// the server was ready and lasts to the connection's last packet.
fn side_segments(a: &Analysis, c: &Connection, side: Side, end_ns: i64) -> Vec<i64> {
    let mut segs = Vec::new();
    let mut push = |state: State, from: i64, to: i64| {
        if state != State::Closed {
            segs.extend([
                state_index(state) as i64,
                micros(a, from),
                micros(a, to.max(from)),
            ]);
        }
    };
    let mut state = c.tcp.states(side).first().copied().unwrap_or_default();
    let mut since = c.flow.start_ns;
    for t in c.tcp.transitions().filter(|t| t.side == side) {
        push(state, since, t.ts_ns);
        state = t.to;
        since = t.ts_ns;
    }
    let until = if state == State::Listen {
        c.flow.end_ns
    } else {
        end_ns
    };
    push(state, since, until);
    segs
}

/// One timeline per capture (each has its own time origin). The rows go into
/// a JSON array, one compact array per connection, in display order:
/// `[stream, client, server, outcome index, flags (1 abnormal, 2 has a
/// ladder), start_us, end_us, client segments, server segments, anomaly code
/// indices]`; the script draws only the rows in view.
fn write_timelines(out: &mut dyn Write, analyses: &[Analysis], plans: &[Plan]) -> io::Result<()> {
    writeln!(out, "<section id=\"timeline\">\n<h2>Timeline</h2>")?;
    writeln!(
        out,
        "<p class=\"note\">One bar per connection along capture time: the client's states on \
         the upper half, the server's on the lower half; CLOSED is left blank. Abnormal \
         connections (an anomaly of severity warning or error, or an outcome other than \
         <code>closed</code>) come first, marked <b>!</b> and separated by a red line. Hover \
         for details, click to jump to the connection's transitions. \
         <em>Each connection's own duration</em> stretches every bar to the full width, to \
         see the states of short connections in a long capture.</p>"
    )?;
    write_legend(out)?;
    let outcome_names: Vec<&str> = OUTCOMES.iter().map(|o| o.name()).collect();
    let code_names: Vec<&str> = AnomalyCode::ALL.iter().map(|c| c.code()).collect();
    for (ci, (a, plan)) in analyses.iter().zip(plans).enumerate() {
        let end_ns = capture_end_ns(a);
        let rows: Vec<Value> = plan
            .order
            .iter()
            .map(|&i| {
                let c = &a.connections[i];
                let flags = u8::from(plan.abnormal[i]) | (u8::from(plan.ladder[i]) << 1);
                let mut codes: Vec<usize> = c
                    .anomalies()
                    .iter()
                    .filter_map(|x| AnomalyCode::ALL.iter().position(|&k| k == x.code))
                    .collect();
                codes.sort_unstable();
                codes.dedup();
                json!([
                    c.flow.stream,
                    c.flow.client().to_string(),
                    c.flow.server().to_string(),
                    OUTCOMES
                        .iter()
                        .position(|&o| o == c.tcp.outcome())
                        .unwrap_or(0),
                    flags,
                    micros(a, c.flow.start_ns),
                    micros(a, c.flow.end_ns),
                    side_segments(a, c, Side::Client, end_ns),
                    side_segments(a, c, Side::Server, end_ns),
                    codes,
                ])
            })
            .collect();
        let data = json!({
            "cap": ci,
            "file": a.file,
            "end": micros(a, end_ns),
            "abnormal": plan.abnormal_count,
            "colors": STATE_COLOURS,
            "outcomes": outcome_names,
            "codes": code_names,
            "rows": rows,
        });
        writeln!(
            out,
            "<h3>{} <span class=\"muted\">({} connections, {} abnormal, {} s)</span></h3>",
            Esc(&a.file),
            a.connections.len(),
            plan.abnormal_count,
            relative(a, end_ns)
        )?;
        if a.connections.is_empty() {
            writeln!(out, "<p class=\"muted\">No TCP connections.</p>")?;
            continue;
        }
        writeln!(
            out,
            "<div class=\"timeline\" data-capture=\"{ci}\">\n\
             <div class=\"tl-controls\"><label>scale: <select>\
             <option value=\"capture\">capture time</option>\
             <option value=\"own\">each connection's own duration</option></select></label></div>\n\
             <canvas class=\"tl-axis\"></canvas>\n\
             <div class=\"tl-scroll\"><div class=\"tl-spacer\"></div><canvas class=\"tl-rows\"></canvas></div>\n\
             <div class=\"tl-tip\" hidden></div>\n\
             <script type=\"application/json\">{}</script>\n</div>",
            script_json(&data)
        )?;
    }
    writeln!(out, "</section>")
}

/// Outcomes in the order the timeline's JSON numbers them.
const OUTCOMES: [Outcome; 10] = Outcome::ALL;

// ---------------------------------------------------------------------------
// 4. The anomaly table and the ladders
// ---------------------------------------------------------------------------

/// A stream number, linked to its ladder when the page has one.
fn stream_link(ci: usize, stream: u64, has_ladder: bool) -> String {
    if has_ladder {
        format!("<a href=\"#{}\">{stream}</a>", anchor(ci, stream))
    } else {
        stream.to_string()
    }
}

fn frame_text(frame: Option<u64>) -> String {
    frame.map_or_else(|| "-".to_string(), |f| f.to_string())
}

fn side_text(side: Option<Side>) -> &'static str {
    match side {
        Some(Side::Client) => "client",
        Some(Side::Server) => "server",
        None => "-",
    }
}

/// Every anomaly, the worst first, then by capture, stream and frame; each
/// stream number links to the connection's ladder.
fn write_anomaly_table(
    out: &mut dyn Write,
    analyses: &[Analysis],
    plans: &[Plan],
) -> io::Result<()> {
    // (capture, connection index, anomaly)
    let mut all: Vec<(usize, usize, &Anomaly)> = Vec::new();
    for (ci, a) in analyses.iter().enumerate() {
        for (i, c) in a.connections.iter().enumerate() {
            all.extend(c.anomalies().into_iter().map(|x| (ci, i, x)));
        }
    }
    all.sort_by_key(|&(ci, i, x)| {
        (
            std::cmp::Reverse(x.code.severity()),
            ci,
            analyses[ci].connections[i].flow.stream,
            x.frame.unwrap_or(u64::MAX),
        )
    });
    let several = analyses.len() > 1;
    writeln!(out, "<section id=\"anomalies\">\n<h2>Anomalies</h2>")?;
    if all.is_empty() {
        writeln!(out, "<p class=\"muted\">No anomalies.</p>\n</section>")?;
        return Ok(());
    }
    if all.len() > MAX_ANOMALY_ROWS {
        writeln!(
            out,
            "<p class=\"note\">The first {MAX_ANOMALY_ROWS} of {} anomalies, the worst first; \
             the totals above count them all.</p>",
            all.len()
        )?;
    }
    write!(
        out,
        "<table class=\"anomalies\"><tr><th>code</th><th>severity</th>"
    )?;
    if several {
        write!(out, "<th>file</th>")?;
    }
    writeln!(
        out,
        "<th class=\"num\">stream</th><th class=\"num\">frame</th><th>side</th><th>detail</th></tr>"
    )?;
    for &(ci, i, x) in all.iter().take(MAX_ANOMALY_ROWS) {
        let c = &analyses[ci].connections[i];
        let sev = x.code.severity();
        write!(
            out,
            "<tr><td><code>{}</code></td><td class=\"{}\">{sev}</td>",
            x.code.code(),
            severity_class(sev)
        )?;
        if several {
            write!(out, "<td>{}</td>", Esc(&analyses[ci].file))?;
        }
        writeln!(
            out,
            "<td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            stream_link(ci, c.flow.stream, plans[ci].ladder[i]),
            frame_text(x.frame),
            side_text(x.side),
            Esc(&x.detail)
        )?;
    }
    writeln!(out, "</table>\n</section>")
}

/// One event of a ladder: a transition or an anomaly.
enum Event<'a> {
    Transition(&'a Transition),
    Anomaly(&'a Anomaly),
}

/// Transitions and anomalies merged in frame order; those without a frame
/// (timer expiries, conditions found at capture end) come last, transitions
/// before anomalies at the same frame.
fn ladder_events(c: &Connection) -> Vec<Event<'_>> {
    let mut events: Vec<(u64, u8, Event<'_>)> = c
        .tcp
        .transitions()
        .map(|t| (t.frame.unwrap_or(u64::MAX), 0, Event::Transition(t)))
        .collect();
    events.extend(
        c.anomalies()
            .into_iter()
            .map(|x| (x.frame.unwrap_or(u64::MAX), 1, Event::Anomaly(x))),
    );
    events.sort_by_key(|&(frame, kind, _)| (frame, kind));
    events.into_iter().map(|(_, _, e)| e).collect()
}

/// Per connection, its whole story: endpoints and counters, every
/// transition and anomaly in frame order, and the Wireshark filter to go
/// back to the packets. Captures with many connections get ladders for the
/// abnormal ones and the first few hundred others, and the page says so.
fn write_ladders(out: &mut dyn Write, analyses: &[Analysis], plans: &[Plan]) -> io::Result<()> {
    writeln!(out, "<section id=\"ladders\">\n<h2>Connections</h2>")?;
    for (ci, (a, plan)) in analyses.iter().zip(plans).enumerate() {
        writeln!(out, "<h3 class=\"capture\">{}</h3>", Esc(&a.file))?;
        if plan.omitted_normal > 0 || plan.omitted_abnormal > 0 {
            writeln!(
                out,
                "<p class=\"note omitted\">This capture has {} connections: shown here are the \
                 abnormal ones ({} of {}) and the first {NORMAL_LADDERS} others; {} normal and {} \
                 abnormal connections are left out. The timeline shows them all; \
                 <code>tcpstate --history</code> lists every transition.</p>",
                a.connections.len(),
                plan.abnormal_count - plan.omitted_abnormal,
                plan.abnormal_count,
                plan.omitted_normal,
                plan.omitted_abnormal
            )?;
        }
        for &i in plan.order.iter().filter(|&&i| plan.ladder[i]) {
            write_ladder(out, ci, a, &a.connections[i], plan.abnormal[i])?;
        }
    }
    writeln!(out, "</section>")
}

/// One connection's ladder.
fn write_ladder(
    out: &mut dyn Write,
    ci: usize,
    a: &Analysis,
    c: &Connection,
    abnormal: bool,
) -> io::Result<()> {
    let f = &c.flow;
    let [pc, ps] = f.packets;
    let [bc, bs] = f.bytes;
    let path = |side: Side| {
        let states = c
            .tcp
            .states(side)
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(" \u{2192} ");
        if c.tcp.state_inferred(side) {
            format!(
                "{states} <span class=\"inferred\" title=\"the state rests on transitions the capture \
                 did not show\">(inferred)</span>"
            )
        } else {
            states
        }
    };
    writeln!(
        out,
        "<div class=\"ladder\" id=\"{}\">\n<h3>{}stream {} &nbsp; {} \u{2192} {} \
         <span class=\"muted\">({})</span></h3>",
        anchor(ci, f.stream),
        if abnormal {
            "<span class=\"sev-error\">!</span> "
        } else {
            ""
        },
        f.stream,
        Esc(f.client()),
        Esc(f.server()),
        c.tcp.outcome()
    )?;
    writeln!(
        out,
        "<p class=\"note\">frames {}\u{2013}{}, {} s from {} s; packets client/server {pc}/{ps}, \
         payload bytes {bc}/{bs}; Zeek conn_state <code>{}</code>, history <code>{}</code>; \
         client chosen by <code>{}</code><br>client: {}<br>server: {}<br>\
         Wireshark: <code class=\"filter\">tcp.stream eq {}</code></p>",
        f.first_frame,
        f.last_frame,
        format_args!("{:.6}", f.duration_ns() as f64 / 1e9),
        relative(a, f.start_ns),
        c.zeek.conn_state(),
        Esc(c.zeek.history()),
        f.client_reason,
        path(Side::Client),
        path(Side::Server),
        f.stream
    )?;
    writeln!(
        out,
        "<table><tr><th>frame</th><th>time</th><th>side</th>\
         <th>transition</th><th>cause</th><th>inferred</th></tr>"
    )?;
    for e in ladder_events(c) {
        match e {
            Event::Transition(t) => writeln!(
                out,
                "<tr{}><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{} \u{2192} {}</td><td>{}</td><td>{}</td></tr>",
                if t.inferred {
                    " class=\"inferred\""
                } else {
                    ""
                },
                frame_text(t.frame),
                relative(a, t.ts_ns),
                t.side,
                t.from,
                t.to,
                Esc(t.cause),
                match (t.inferred, t.evidence_frame) {
                    (true, Some(ev)) => format!("yes (evidence: frame {ev})"),
                    (true, None) => "yes".to_string(),
                    (false, _) => String::new(),
                }
            )?,
            Event::Anomaly(x) => {
                let sev = x.code.severity();
                writeln!(
                    out,
                    "<tr class=\"anomaly\"><td>{}</td><td></td><td>{}</td>\
                     <td colspan=\"3\"><span class=\"{}\">\u{26a0} <code>{}</code> ({sev})</span> {}</td></tr>",
                    frame_text(x.frame),
                    side_text(x.side),
                    severity_class(sev),
                    x.code.code(),
                    Esc(&x.detail)
                )?
            }
        }
    }
    writeln!(out, "</table>\n</div>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_special_characters() {
        assert_eq!(Esc("a<b>&\"c'").to_string(), "a&lt;b&gt;&amp;&quot;c&#39;");
        assert_eq!(Esc("plain ünïcode").to_string(), "plain ünïcode");
    }

    #[test]
    fn script_json_cannot_close_its_element() {
        let v = json!({"file": "</script><!--&"});
        let s = script_json(&v);
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&'));
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn every_state_has_a_place_and_a_colour() {
        for s in State::ALL {
            let (x, y) = node_position(s, false);
            assert!(x > NODE_W / 2.0 && x < GRAPH_W - NODE_W / 2.0, "{s}");
            assert!(y > NODE_H / 2.0 && y < GRAPH_H - NODE_H / 2.0, "{s}");
            assert_eq!(STATE_COLOURS[state_index(s)], colour(s));
        }
        assert_ne!(
            node_position(State::Closed, false),
            node_position(State::Closed, true)
        );
    }

    #[test]
    fn box_exit_lands_on_the_border() {
        let (x, y) = box_exit(100.0, 100.0, 400.0, 100.0, 0.0);
        assert_eq!((x, y), (100.0 + NODE_W / 2.0, 100.0));
        let (x, y) = box_exit(100.0, 100.0, 100.0, 0.0, 0.0);
        assert_eq!((x, y), (100.0, 100.0 - NODE_H / 2.0));
    }
}
