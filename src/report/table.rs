//! The reports for people at a terminal: the connection table and the
//! state histories (`--history`), each capture with its heading and closed
//! by its frame accounting.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::{self, Write};

use crate::anomaly::{AnomalyCode, Severity};
use crate::model::Side;
use crate::pipeline::accounting::FrameAccounting;
use crate::pipeline::{Analysis, Connection, Summary};

use super::columns::{cell_width, two_lines, wrap_list, wrap_words, Columns};
use super::format::{flag_letters, relative, rfc3339_ns, seconds};
use super::layout::{self, Column, PathNeed, Shape};
use super::row::{anomaly_codes, flag_count, state_cell, INFERRED_LEGEND};

/// How the terminal reports look. The default has no colour, no width and
/// every column, as for a pipe or a file; the CLI sets colour and the
/// width for a terminal (colour only if `NO_COLOR` is unset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// Colour anomaly codes by severity (red for error, yellow for warning)
    /// with ANSI escapes.
    pub color: bool,
    /// Lay the reports out for a terminal this many characters wide: the
    /// connection table's columns are chosen by priority (see
    /// [`layout::fit`]) and long lines are wrapped; nothing is cut, so no
    /// line is longer unless an endpoint alone is. `None`: every column,
    /// lines as long as they get.
    pub width: Option<usize>,
    /// Exactly these connection-table columns in this order, one line per
    /// connection (`--columns`); the width then only wraps the other lines.
    pub columns: Option<Vec<Column>>,
}

/// The overview, then per capture its heading, one line per connection and
/// the accounting.
pub(super) fn write_table(
    out: &mut dyn Write,
    analyses: &[Analysis],
    style: &Style,
) -> io::Result<()> {
    write_overview(out, analyses, style)?;
    for (i, a) in analyses.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_file_heading(out, a, style.width)?;
        if !a.connections.is_empty() {
            connection_table(a, style).write(out)?;
            let inferred = |c: &Connection| Side::BOTH.iter().any(|s| c.tcp.state_inferred(*s));
            if a.connections.iter().any(inferred) {
                writeln!(out, "{INFERRED_LEGEND}")?;
            }
        }
        write_file_footer(out, a, style.width)?;
    }
    Ok(())
}

/// One capture's connections in the columns the style asks for.
fn connection_table(a: &Analysis, style: &Style) -> Columns {
    // Only captures with VLANs or tunnels get PATH unless it is asked for.
    let has_path = a.connections.iter().any(|c| !c.flow.path.is_empty());
    let path = if !has_path {
        PathNeed::None
    } else if paths_tell_apart(a) {
        PathNeed::Essential
    } else {
        PathNeed::Useful
    };
    let layout = match (&style.columns, style.width) {
        (Some(columns), _) => layout::listed(columns),
        (None, Some(width)) => {
            let natural = natural_widths(a);
            let longest_code = a
                .connections
                .iter()
                .flat_map(|c| c.anomalies())
                .map(|x| x.code.code().len())
                .max()
                .unwrap_or(0);
            layout::fit(
                width,
                path,
                |c, shape| natural[column_index(c)][shape_index(shape)],
                longest_code.max(Column::Anomalies.header(Shape::OneLine).len()),
            )
        }
        (None, None) => layout::full(has_path),
    };
    let mut table = Columns::new(layout.columns.iter().map(|c| c.header(layout.shape)));
    for ac in &a.connections {
        let row: Vec<String> = layout
            .columns
            .iter()
            .map(|&c| cell(c, layout.shape, a, ac, style.color, layout.anomalies_width))
            .collect();
        table.push(row);
    }
    table
}

/// Whether two connections have the same endpoints but different paths,
/// so that only PATH tells them apart.
fn paths_tell_apart(a: &Analysis) -> bool {
    let mut paths = std::collections::HashMap::new();
    a.connections.iter().any(|c| {
        let first = paths
            .entry((c.flow.client(), c.flow.server()))
            .or_insert(&c.flow.path);
        **first != c.flow.path
    })
}

fn column_index(c: Column) -> usize {
    Column::ALL.iter().position(|&x| x == c).unwrap_or(0)
}

fn shape_index(shape: Shape) -> usize {
    match shape {
        Shape::OneLine => 0,
        Shape::PerSide => 1,
    }
}

/// Every column's width in both shapes, header included, anomalies unwrapped.
fn natural_widths(a: &Analysis) -> Vec<[usize; 2]> {
    let shapes = [Shape::OneLine, Shape::PerSide];
    Column::ALL
        .iter()
        .map(|&c| {
            shapes.map(|shape| {
                a.connections
                    .iter()
                    .map(|ac| cell_width(&cell(c, shape, a, ac, false, None)))
                    .chain(std::iter::once(cell_width(c.header(shape))))
                    .max()
                    .unwrap_or(0)
            })
        })
        .collect()
}

/// A connection's cell in column `c`: per-side values as `client/server`
/// on one line, or the client's over the server's. Anomaly codes are
/// coloured by severity if `color`, and wrapped to `anomalies_width`.
fn cell(
    c: Column,
    shape: Shape,
    a: &Analysis,
    ac: &Connection,
    color: bool,
    anomalies_width: Option<usize>,
) -> String {
    let f = &ac.flow;
    let per_side = |client: String, server: String| match shape {
        Shape::OneLine => format!("{client}/{server}"),
        Shape::PerSide => format!("{client}\n{server}"),
    };
    let by_side = |v: &dyn Fn(Side) -> String| per_side(v(Side::Client), v(Side::Server));
    match c {
        Column::Stream => f.stream.to_string(),
        Column::Client if shape == Shape::PerSide => format!("{}\n{}", f.client(), f.server()),
        Column::Client => f.client().to_string(),
        Column::Server => f.server().to_string(),
        Column::First => f.first_frame.to_string(),
        Column::Last => f.last_frame.to_string(),
        Column::Start => relative(a, f.start_ns),
        Column::Duration => format!("{:.6}", seconds(f.duration_ns())),
        Column::Packets => by_side(&|s| f.packets[s.idx()].to_string()),
        Column::Bytes => by_side(&|s| f.bytes[s.idx()].to_string()),
        Column::Flags => by_side(&|s| flag_letters(f.flags[s.idx()])),
        Column::ClientState if shape == Shape::PerSide => by_side(&|s| state_cell(ac, s)),
        Column::ClientState => state_cell(ac, Side::Client),
        Column::ServerState => state_cell(ac, Side::Server),
        Column::Outcome if shape == Shape::PerSide => format!(
            "{}\n{}",
            ac.tcp.outcome(),
            anomalies_cell(ac, color, anomalies_width)
        ),
        Column::Outcome => ac.tcp.outcome().to_string(),
        Column::ConnState => ac.zeek.conn_state().to_string(),
        Column::History => ac.zeek.history().to_string(),
        Column::Retx => by_side(&|s| flag_count(ac, s, "retransmission").to_string()),
        Column::Irtt => ac
            .seq
            .handshake_rtt()
            .total_ns
            .map_or("-".into(), |ns| format!("{:.3}", ns as f64 / 1e6)),
        // Two lines a connection: a long path (a tunnel) may take both.
        Column::Path if shape == Shape::PerSide && f.path.to_string().len() > 12 => {
            two_lines(&f.path.to_string())
        }
        Column::Path => f.path.to_string(),
        Column::Anomalies => anomalies_cell(ac, color, anomalies_width),
    }
}

/// A connection's distinct anomaly codes, each coloured by its severity if
/// `color`, comma-separated and wrapped to `width`; `-` when none.
fn anomalies_cell(ac: &Connection, color: bool, width: Option<usize>) -> String {
    let codes: Vec<String> = anomaly_codes(ac)
        .into_iter()
        .map(|code| {
            let severity = AnomalyCode::from_code(code).map(|x| x.severity());
            paint(color, severity, code)
        })
        .collect();
    match width {
        _ if codes.is_empty() => "-".into(),
        Some(width) => wrap_list(&codes, ",", width).join("\n"),
        None => codes.join(","),
    }
}

/// Joins words that a wrapped line keeps together (`reset 2`); written as
/// a plain space.
const KEEP_TOGETHER: char = '\u{a0}';

/// Writes a line of prose, wrapped to `width` if there is one (never
/// between words joined by [`KEEP_TOGETHER`]).
fn prose(out: &mut dyn Write, width: Option<usize>, text: &str) -> io::Result<()> {
    let lines = match width {
        Some(width) => wrap_words(text, width),
        None => vec![text.to_string()],
    };
    for line in lines {
        writeln!(out, "{}", line.replace(KEEP_TOGETHER, " "))?;
    }
    Ok(())
}

/// Per connection a line on how it went, its transitions as
/// `FRAME TIME SIDE TRANSITION CAUSE` and its anomalies.
pub(super) fn write_history_table(
    out: &mut dyn Write,
    analyses: &[Analysis],
    style: &Style,
) -> io::Result<()> {
    let width = style.width;
    for (i, a) in analyses.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_file_heading(out, a, width)?;
        for ac in &a.connections {
            let c = &ac.flow;
            writeln!(out)?;
            prose(
                out,
                width,
                &format!(
                    "stream {}  {} -> {}  ({}; conn_state {}, history {})",
                    c.stream,
                    c.client(),
                    c.server(),
                    ac.tcp.outcome(),
                    ac.zeek.conn_state(),
                    ac.zeek.history()
                ),
            )?;
            let mut history = Columns::new(["FRAME", "TIME", "SIDE", "TRANSITION", "CAUSE"]);
            for t in ac.tcp.transitions() {
                let mut cause = t.cause.to_string();
                if let (true, Some(e)) = (t.inferred, t.evidence_frame) {
                    cause.push_str(&format!(" (evidence: frame {e})"));
                }
                history.push(vec![
                    t.frame.map_or("-".into(), |f| f.to_string()),
                    relative(a, t.ts_ns),
                    t.side.to_string(),
                    format!("{} -> {}", t.from, t.to),
                    cause,
                ]);
            }
            if let Some(width) = width {
                history.wrap_last_column(width);
            }
            history.write(out)?;
            for an in ac.anomalies() {
                let frame = an.frame.map_or("end".into(), |f| format!("frame {f}"));
                let line = format!(
                    "  ! {} ({}, {frame}): {}",
                    an.code,
                    an.code.severity(),
                    an.detail
                );
                prose(out, width, &line)?;
            }
        }
        writeln!(out)?;
        write_file_footer(out, a, width)?;
    }
    Ok(())
}

/// The short summary the table starts with: captures, frames, connections by
/// outcome, anomalies by code (the worst severity first), read errors.
fn write_overview(out: &mut dyn Write, analyses: &[Analysis], style: &Style) -> io::Result<()> {
    let s = Summary::of(analyses);
    let width = style.width;
    prose(
        out,
        width,
        &format!(
            "{} capture{}, {} frames{} (tcp {}, other IP {}, non-IP {}, undecodable {}), {} connections",
            s.files.len(),
            if s.files.len() == 1 { "" } else { "s" },
            s.frames,
            if s.amsdu_subframes > 0 {
                format!(" + {} A-MSDU subframes", s.amsdu_subframes)
            } else {
                String::new()
            },
            s.tcp,
            s.other_ip,
            s.non_ip,
            s.undecodable,
            s.connections
        ),
    )?;
    if !s.outcomes.is_empty() {
        let parts: Vec<String> = s
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k}{KEEP_TOGETHER}{v}"))
            .collect();
        prose(out, width, &format!("outcomes: {}", parts.join(", ")))?;
    }
    if !s.anomalies.is_empty() {
        let mut codes: Vec<(&&str, &u64)> = s.anomalies.iter().collect();
        codes.sort_by_key(|(code, n)| {
            let sev = AnomalyCode::from_code(code).map(|c| c.severity());
            (std::cmp::Reverse(sev), std::cmp::Reverse(**n))
        });
        let parts: Vec<String> = codes
            .iter()
            .map(|(code, n)| {
                let sev = AnomalyCode::from_code(code).map(|c| c.severity());
                format!("{}{KEEP_TOGETHER}{n}", paint(style.color, sev, code))
            })
            .collect();
        prose(out, width, &format!("anomalies: {}", parts.join(", ")))?;
    }
    if s.errors > 0 {
        prose(
            out,
            width,
            &format!("read errors: {} (see below)", s.errors),
        )?;
    }
    if s.warnings > 0 {
        writeln!(out, "warnings: {} (see below)", s.warnings)?;
    }
    writeln!(out)
}

/// `text` in red for errors and yellow for warnings, if `color`.
fn paint(color: bool, severity: Option<Severity>, text: &str) -> String {
    let code = match severity {
        _ if !color => return text.to_string(),
        Some(Severity::Error) => "31",
        Some(Severity::Warning) => "33",
        _ => return text.to_string(),
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// `# file (format): N connections, capture starts TIME`.
fn write_file_heading(out: &mut dyn Write, a: &Analysis, width: Option<usize>) -> io::Result<()> {
    let format = match a.format {
        Some(f) if a.compressed => format!("{f}, gzip"),
        Some(f) => f.to_string(),
        None => "unreadable".into(),
    };
    let mut line = format!(
        "# {} ({format}): {} connections",
        a.file,
        a.connections.len()
    );
    if let Some(t) = a.first_ts_ns {
        line.push_str(&format!(", capture starts {}", rfc3339_ns(t)));
    }
    prose(out, width, &line)
}

/// A capture's closing lines: its accounting, port reuse and read errors.
fn write_file_footer(out: &mut dyn Write, a: &Analysis, width: Option<usize>) -> io::Result<()> {
    write_accounting(out, &a.accounting, width)?;
    if a.port_reuses > 0 {
        prose(
            out,
            width,
            &format!(
                "port reuse: {} new connection(s) on an endpoint pair seen before",
                a.port_reuses
            ),
        )?;
    }
    for e in &a.errors {
        prose(out, width, &format!("error: {e}"))?;
    }
    for w in &a.warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}

/// Where every frame went: `frames: N = tcp + other IP + non-IP +
/// undecodable` (`frames: N + A-MSDU subframes M = ...` when 802.11
/// aggregates carried more packets than frames), then one indented line per
/// non-empty breakdown.
fn write_accounting(
    out: &mut dyn Write,
    a: &FrameAccounting,
    width: Option<usize>,
) -> io::Result<()> {
    let subframes = if a.amsdu_subframes > 0 {
        format!(" + A-MSDU subframes {}", a.amsdu_subframes)
    } else {
        String::new()
    };
    let mut total = format!(
        "frames: {}{subframes} = tcp {} + other IP {} + non-IP {} + undecodable {}",
        a.frames, a.tcp, a.other_ip, a.non_ip, a.undecodable
    );
    if a.ip_fragments > 0 {
        total.push_str(&format!(" + IP fragments {}", a.ip_fragments));
    }
    prose(out, width, &total)?;
    fn named<K: Display>(m: &BTreeMap<K, u64>) -> Vec<String> {
        m.iter()
            .map(|(k, v)| format!("{k}{KEEP_TOGETHER}{v}"))
            .collect()
    }
    let breakdowns = [
        ("other IP", named(&a.other_ip_by_protocol)),
        ("non-IP", named(&a.non_ip_by_kind)),
        ("undecodable", named(&a.undecodable_by_reason)),
        ("IP fragments", named(&a.ip_fragments_by_fate)),
        ("encapsulations (frames)", named(&a.encapsulations)),
    ];
    for (label, parts) in breakdowns {
        if !parts.is_empty() {
            prose(out, width, &format!("  {label}: {}", parts.join(", ")))?;
        }
    }
    if a.tcp_bad_header_len > 0 {
        prose(
            out,
            width,
            &format!(
                "  tcp with a header length below 20 bytes: {}",
                a.tcp_bad_header_len
            ),
        )?;
    }
    if a.reassembled_datagrams + a.overlapping_datagrams > 0 {
        prose(
            out,
            width,
            &format!(
                "  IP datagrams: {} reassembled, {} dropped for overlapping fragments",
                a.reassembled_datagrams, a.overlapping_datagrams
            ),
        )?;
    }
    if a.tcp_bad_checksum > 0 {
        prose(
            out,
            width,
            &format!(
                "  tcp with a bad checksum (not fed to the state machines): {}",
                a.tcp_bad_checksum
            ),
        )?;
    }
    Ok(())
}
