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

use super::columns::Columns;
use super::format::{flag_letters, relative, rfc3339_ns, seconds};
use super::row::{anomaly_codes, flag_count, state_cell, INFERRED_LEGEND};

/// How the connection table looks. The default has neither colour nor a
/// width, as for a pipe or a file; the CLI sets both for a terminal (colour
/// only if `NO_COLOR` is unset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// Colour anomaly codes by severity (red for error, yellow for warning)
    /// with ANSI escapes.
    pub color: bool,
    /// Cut the widest columns until a line fits this many characters.
    pub width: Option<usize>,
}

/// The connection table's columns; PATH goes before ANOMALIES for captures
/// with VLANs or tunnels.
const HEADER: [&str; 17] = [
    "STREAM",
    "CLIENT",
    "SERVER",
    "FIRST",
    "LAST",
    "START",
    "DURATION",
    "PACKETS C/S",
    "BYTES C/S",
    "FLAGS C/S",
    "CLIENT STATE",
    "SERVER STATE",
    "CONN_STATE",
    "HISTORY",
    "RETX C/S",
    "IRTT MS",
    "ANOMALIES",
];

/// The overview, then per capture its heading, one line per connection and
/// the accounting.
pub(super) fn write_table(
    out: &mut dyn Write,
    analyses: &[Analysis],
    style: Style,
) -> io::Result<()> {
    write_overview(out, analyses, style)?;
    for (i, a) in analyses.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_file_heading(out, a)?;
        // Only captures with VLANs or tunnels get the column.
        let show_path = a.connections.iter().any(|c| !c.flow.path.is_empty());
        let mut header = HEADER.to_vec();
        if show_path {
            // Before ANOMALIES, which stays last (it is coloured).
            header.insert(header.len() - 1, "PATH");
        }
        let mut table = Columns::new(header);
        for ac in &a.connections {
            let c = &ac.flow;
            let [cp, sp] = c.packets;
            let [cb, sb] = c.bytes;
            let [cf, sf] = c.flags;
            let anomalies = anomaly_codes(ac);
            let mut row = vec![
                c.stream.to_string(),
                c.client().to_string(),
                c.server().to_string(),
                c.first_frame.to_string(),
                c.last_frame.to_string(),
                relative(a, c.start_ns),
                format!("{:.6}", seconds(c.duration_ns())),
                format!("{cp}/{sp}"),
                format!("{cb}/{sb}"),
                format!("{}/{}", flag_letters(cf), flag_letters(sf)),
                state_cell(ac, Side::Client),
                state_cell(ac, Side::Server),
                ac.zeek.conn_state().to_string(),
                ac.zeek.history().to_string(),
                format!(
                    "{}/{}",
                    flag_count(ac, Side::Client, "retransmission"),
                    flag_count(ac, Side::Server, "retransmission")
                ),
                ac.seq
                    .handshake_rtt()
                    .total_ns
                    .map_or("-".into(), |ns| format!("{:.3}", ns as f64 / 1e6)),
                if anomalies.is_empty() {
                    "-".into()
                } else {
                    anomalies.join(",")
                },
            ];
            if show_path {
                row.insert(row.len() - 1, c.path.to_string());
            }
            table.push(row);
        }
        if !table.is_empty() {
            if let Some(width) = style.width {
                table.shrink_to(width);
            }
            if style.color {
                // Each connection's anomaly codes in the colour of its worst.
                for (cell, c) in table.last_cells_mut().zip(&a.connections) {
                    let worst = c.anomalies().iter().map(|x| x.code.severity()).max();
                    *cell = paint(style, worst, cell);
                }
            }
            table.write(out)?;
            let inferred = |c: &Connection| Side::BOTH.iter().any(|s| c.tcp.state_inferred(*s));
            if a.connections.iter().any(inferred) {
                writeln!(out, "{INFERRED_LEGEND}")?;
            }
        }
        write_file_footer(out, a)?;
    }
    Ok(())
}

/// Per connection a line on how it went, its transitions as
/// `FRAME TIME SIDE TRANSITION CAUSE` and its anomalies.
pub(super) fn write_history_table(out: &mut dyn Write, analyses: &[Analysis]) -> io::Result<()> {
    for (i, a) in analyses.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_file_heading(out, a)?;
        for ac in &a.connections {
            let c = &ac.flow;
            writeln!(
                out,
                "\nstream {}  {} -> {}  ({}; conn_state {}, history {})",
                c.stream,
                c.client(),
                c.server(),
                ac.tcp.outcome(),
                ac.zeek.conn_state(),
                ac.zeek.history()
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
            history.write(out)?;
            for an in ac.anomalies() {
                let frame = an.frame.map_or("end".into(), |f| format!("frame {f}"));
                writeln!(
                    out,
                    "  ! {} ({}, {frame}): {}",
                    an.code,
                    an.code.severity(),
                    an.detail
                )?;
            }
        }
        writeln!(out)?;
        write_file_footer(out, a)?;
    }
    Ok(())
}

/// The short summary the table starts with: captures, frames, connections by
/// outcome, anomalies by code (the worst severity first), read errors.
fn write_overview(out: &mut dyn Write, analyses: &[Analysis], style: Style) -> io::Result<()> {
    let s = Summary::of(analyses);
    writeln!(
        out,
        "{} capture{}, {} frames (tcp {}, other IP {}, non-IP {}, undecodable {}), {} connections",
        s.files.len(),
        if s.files.len() == 1 { "" } else { "s" },
        s.frames,
        s.tcp,
        s.other_ip,
        s.non_ip,
        s.undecodable,
        s.connections
    )?;
    if !s.outcomes.is_empty() {
        let parts: Vec<String> = s.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(out, "outcomes: {}", parts.join(", "))?;
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
                format!("{} {n}", paint(style, sev, code))
            })
            .collect();
        writeln!(out, "anomalies: {}", parts.join(", "))?;
    }
    if s.errors > 0 {
        writeln!(out, "read errors: {} (see below)", s.errors)?;
    }
    writeln!(out)
}

/// `text` in red for errors and yellow for warnings, if the style has colour.
fn paint(style: Style, severity: Option<Severity>, text: &str) -> String {
    let code = match severity {
        _ if !style.color => return text.to_string(),
        Some(Severity::Error) => "31",
        Some(Severity::Warning) => "33",
        _ => return text.to_string(),
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// `# file (format): N connections, capture starts TIME`.
fn write_file_heading(out: &mut dyn Write, a: &Analysis) -> io::Result<()> {
    let format = match a.format {
        Some(f) if a.compressed => format!("{f}, gzip"),
        Some(f) => f.to_string(),
        None => "unreadable".into(),
    };
    write!(
        out,
        "# {} ({format}): {} connections",
        a.file,
        a.connections.len()
    )?;
    if let Some(t) = a.first_ts_ns {
        write!(out, ", capture starts {}", rfc3339_ns(t))?;
    }
    writeln!(out)
}

/// A capture's closing lines: its accounting, port reuse and read errors.
fn write_file_footer(out: &mut dyn Write, a: &Analysis) -> io::Result<()> {
    write_accounting(out, &a.accounting)?;
    if a.port_reuses > 0 {
        writeln!(
            out,
            "port reuse: {} new connection(s) on an endpoint pair seen before",
            a.port_reuses
        )?;
    }
    for e in &a.errors {
        writeln!(out, "error: {e}")?;
    }
    Ok(())
}

/// Where every frame went: `frames: N = tcp + other IP + non-IP +
/// undecodable`, then one indented line per non-empty breakdown.
fn write_accounting(out: &mut dyn Write, a: &FrameAccounting) -> io::Result<()> {
    write!(
        out,
        "frames: {} = tcp {} + other IP {} + non-IP {} + undecodable {}",
        a.frames, a.tcp, a.other_ip, a.non_ip, a.undecodable
    )?;
    if a.ip_fragments > 0 {
        write!(out, " + IP fragments {}", a.ip_fragments)?;
    }
    writeln!(out)?;
    fn named<K: Display>(m: &BTreeMap<K, u64>) -> Vec<String> {
        m.iter().map(|(k, v)| format!("{k} {v}")).collect()
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
            writeln!(out, "  {label}: {}", parts.join(", "))?;
        }
    }
    if a.tcp_bad_header_len > 0 {
        writeln!(
            out,
            "  tcp with a header length below 20 bytes: {}",
            a.tcp_bad_header_len
        )?;
    }
    if a.reassembled_datagrams + a.overlapping_datagrams > 0 {
        writeln!(
            out,
            "  IP datagrams: {} reassembled, {} dropped for overlapping fragments",
            a.reassembled_datagrams, a.overlapping_datagrams
        )?;
    }
    if a.tcp_bad_checksum > 0 {
        writeln!(
            out,
            "  tcp with a bad checksum (not fed to the state machines): {}",
            a.tcp_bad_checksum
        )?;
    }
    Ok(())
}
