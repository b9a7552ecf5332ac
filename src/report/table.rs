//! The reports for people at a terminal: the connection table and the
//! state histories (`--history`), each capture with its heading and closed
//! by its frame accounting.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::{self, Write};

use crate::anomaly::{AnomalyCode, Severity};
use crate::flow::Flow;
use crate::model::Side;
use crate::pipeline::accounting::FrameAccounting;
use crate::pipeline::{Analysis, Connection, Summary, Totals};
use crate::tcp::machine::{Outcome, State};

use super::columns::{cell_width, two_lines, wrap_list, wrap_words, write_row, Columns};
use super::format::{flag_letters, relative, rfc3339_ns, seconds};
use super::layout::{self, Column, PathNeed, Shape};
use super::row::{anomaly_codes, flag_count, state_text, INFERRED_LEGEND};
use super::spill::{Piece, Spill};
use super::Report;

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

/// What the connection table shows of one connection: a few hundred
/// bytes, so a capture's rows can be kept until its end (the table is in
/// stream order under a heading that counts them) while the connections
/// themselves are dropped as they finish.
#[derive(Clone, Debug)]
pub(crate) struct TableRow {
    flow: Flow,
    outcome: Outcome,
    /// Each side's final state, and whether it was inferred.
    states: [(State, bool); 2],
    conn_state: &'static str,
    history: Box<str>,
    retx: [u64; 2],
    irtt_ns: Option<i64>,
    /// Distinct anomaly codes in order of first occurrence.
    anomalies: Box<[&'static str]>,
}

impl TableRow {
    pub(crate) fn new(ac: &Connection) -> TableRow {
        TableRow {
            flow: ac.flow.clone(),
            outcome: ac.tcp.outcome(),
            states: Side::BOTH.map(|s| (ac.tcp.state(s), ac.tcp.state_inferred(s))),
            conn_state: ac.zeek.conn_state(),
            history: ac.zeek.history().into(),
            retx: Side::BOTH.map(|s| flag_count(ac, s, "retransmission")),
            irtt_ns: ac.seq.handshake_rtt().total_ns,
            anomalies: anomaly_codes(ac).into(),
        }
    }

    /// A side's state cell, as [`super::row::state_cell`] makes it.
    fn state(&self, side: Side) -> String {
        let (state, inferred) = self.states[side.idx()];
        state_text(state, inferred)
    }

    /// The order of the table: stream order, a stream's earlier part first.
    pub(crate) fn order(&self) -> (u64, u64) {
        (self.flow.stream, self.flow.first_frame)
    }
}

/// The overview, then per capture its heading, one line per connection and
/// the accounting.
pub(super) fn write_table(
    out: &mut dyn Write,
    analyses: &[Analysis],
    style: &Style,
) -> io::Result<()> {
    let rows: Vec<Vec<TableRow>> = analyses
        .iter()
        .map(|a| a.connections.iter().map(TableRow::new).collect())
        .collect();
    write_table_rows(out, analyses, &rows, &Totals::of(analyses), style)
}

/// [`write_table`] from each analysis's rows (in stream order) and the
/// totals of its connections, which the analyses need not hold.
pub(crate) fn write_table_rows(
    out: &mut dyn Write,
    analyses: &[Analysis],
    rows: &[Vec<TableRow>],
    totals: &Totals,
    style: &Style,
) -> io::Result<()> {
    write_overview(out, &Summary::with_totals(analyses, totals), style)?;
    for (i, a) in analyses.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let rows = rows.get(i).map_or(&[][..], Vec::as_slice);
        write_file_heading(out, a, rows.len(), style.width)?;
        if !rows.is_empty() {
            write_connection_table(out, a, rows, style)?;
            if rows.iter().any(|r| r.states.iter().any(|s| s.1)) {
                writeln!(out, "{INFERRED_LEGEND}")?;
            }
        }
        write_file_footer(out, a, style.width)?;
    }
    Ok(())
}

/// One capture's connections in the columns the style asks for, a row at a
/// time: the cells are made twice (for the widths, then to be written)
/// rather than held all at once.
fn write_connection_table(
    out: &mut dyn Write,
    a: &Analysis,
    rows: &[TableRow],
    style: &Style,
) -> io::Result<()> {
    // Only captures with VLANs or tunnels get PATH unless it is asked for.
    let has_path = rows.iter().any(|r| !r.flow.path.is_empty());
    let path = if !has_path {
        PathNeed::None
    } else if paths_tell_apart(rows) {
        PathNeed::Essential
    } else {
        PathNeed::Useful
    };
    let layout = match (&style.columns, style.width) {
        (Some(columns), _) => layout::listed(columns),
        (None, Some(width)) => {
            let natural = natural_widths(a, rows);
            let longest_code = rows
                .iter()
                .flat_map(|r| &r.anomalies)
                .map(|code| code.len())
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
    let header: Vec<String> = layout
        .columns
        .iter()
        .map(|c| c.header(layout.shape).to_string())
        .collect();
    let cells = |r: &TableRow| -> Vec<String> {
        layout
            .columns
            .iter()
            .map(|&c| cell(c, layout.shape, a, r, style.color, layout.anomalies_width))
            .collect()
    };
    let mut widths: Vec<usize> = header.iter().map(|h| cell_width(h)).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(cells(r)) {
            *w = (*w).max(cell_width(&c));
        }
    }
    write_row(out, &header, &widths)?;
    for r in rows {
        write_row(out, &cells(r), &widths)?;
    }
    Ok(())
}

/// Whether two connections have the same endpoints but different paths,
/// so that only PATH tells them apart.
fn paths_tell_apart(rows: &[TableRow]) -> bool {
    let mut paths = std::collections::HashMap::new();
    rows.iter().any(|r| {
        let first = paths
            .entry((r.flow.client(), r.flow.server()))
            .or_insert(&r.flow.path);
        **first != r.flow.path
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
fn natural_widths(a: &Analysis, rows: &[TableRow]) -> Vec<[usize; 2]> {
    let shapes = [Shape::OneLine, Shape::PerSide];
    Column::ALL
        .iter()
        .map(|&c| {
            shapes.map(|shape| {
                rows.iter()
                    .map(|r| cell_width(&cell(c, shape, a, r, false, None)))
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
    r: &TableRow,
    color: bool,
    anomalies_width: Option<usize>,
) -> String {
    let f = &r.flow;
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
        Column::ClientState if shape == Shape::PerSide => by_side(&|s| r.state(s)),
        Column::ClientState => r.state(Side::Client),
        Column::ServerState => r.state(Side::Server),
        Column::Outcome if shape == Shape::PerSide => format!(
            "{}\n{}",
            r.outcome,
            anomalies_cell(r, color, anomalies_width)
        ),
        Column::Outcome => r.outcome.to_string(),
        Column::ConnState => r.conn_state.to_string(),
        Column::History => r.history.to_string(),
        Column::Retx => by_side(&|s| r.retx[s.idx()].to_string()),
        Column::Irtt => r
            .irtt_ns
            .map_or("-".into(), |ns| format!("{:.3}", ns as f64 / 1e6)),
        // Two lines a connection: a long path (a tunnel) may take both.
        Column::Path if shape == Shape::PerSide && f.path.to_string().len() > 12 => {
            two_lines(&f.path.to_string())
        }
        Column::Path => f.path.to_string(),
        Column::Anomalies => anomalies_cell(r, color, anomalies_width),
    }
}

/// A connection's distinct anomaly codes, each coloured by its severity if
/// `color`, comma-separated and wrapped to `width`; `-` when none.
fn anomalies_cell(r: &TableRow, color: bool, width: Option<usize>) -> String {
    let codes: Vec<String> = r
        .anomalies
        .iter()
        .map(|&code| {
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
    for (i, a) in analyses.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_file_heading(out, a, a.connections.len(), style.width)?;
        for ac in &a.connections {
            HistoryBlock::new(ac).write(out, a, style.width)?;
        }
        writeln!(out)?;
        write_file_footer(out, a, style.width)?;
    }
    Ok(())
}

/// One connection's part of the state-history table with every cell
/// rendered but the times, which count from the capture's earliest frame
/// (known only at its end). Encoded as bytes, it waits in a [`Spill`]
/// while the capture is read.
struct HistoryBlock {
    heading: String,
    /// FRAME, the time (ns since the epoch), SIDE, TRANSITION, CAUSE.
    transitions: Vec<(String, i64, String, String, String)>,
    /// The anomaly lines.
    anomalies: Vec<String>,
}

impl HistoryBlock {
    fn new(ac: &Connection) -> HistoryBlock {
        let c = &ac.flow;
        let heading = format!(
            "stream {}  {} -> {}  ({}; conn_state {}, history {})",
            c.stream,
            c.client(),
            c.server(),
            ac.tcp.outcome(),
            ac.zeek.conn_state(),
            ac.zeek.history()
        );
        let transitions = ac
            .tcp
            .transitions()
            .map(|t| {
                let mut cause = t.cause.to_string();
                if let (true, Some(e)) = (t.inferred, t.evidence_frame) {
                    cause.push_str(&format!(" (evidence: frame {e})"));
                }
                (
                    t.frame.map_or("-".into(), |f| f.to_string()),
                    t.ts_ns,
                    t.side.to_string(),
                    format!("{} -> {}", t.from, t.to),
                    cause,
                )
            })
            .collect();
        let anomalies = ac
            .anomalies()
            .iter()
            .map(|an| {
                let frame = an.frame.map_or("end".into(), |f| format!("frame {f}"));
                format!(
                    "  ! {} ({}, {frame}): {}",
                    an.code,
                    an.code.severity(),
                    an.detail
                )
            })
            .collect();
        HistoryBlock {
            heading,
            transitions,
            anomalies,
        }
    }

    fn write(&self, out: &mut dyn Write, a: &Analysis, width: Option<usize>) -> io::Result<()> {
        writeln!(out)?;
        prose(out, width, &self.heading)?;
        let mut history = Columns::new(["FRAME", "TIME", "SIDE", "TRANSITION", "CAUSE"]);
        for (frame, ts_ns, side, transition, cause) in &self.transitions {
            history.push(vec![
                frame.clone(),
                relative(a, *ts_ns),
                side.clone(),
                transition.clone(),
                cause.clone(),
            ]);
        }
        if let Some(width) = width {
            history.wrap_last_column(width);
        }
        history.write(out)?;
        for line in &self.anomalies {
            prose(out, width, line)?;
        }
        Ok(())
    }

    /// The block as bytes: counts as u32, times as i64, strings with their
    /// u32 length first, all little-endian.
    fn encode(&self, buf: &mut Vec<u8>) {
        fn text(buf: &mut Vec<u8>, s: &str) {
            buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
        text(buf, &self.heading);
        buf.extend_from_slice(&(self.transitions.len() as u32).to_le_bytes());
        for (frame, ts_ns, side, transition, cause) in &self.transitions {
            text(buf, frame);
            buf.extend_from_slice(&ts_ns.to_le_bytes());
            text(buf, side);
            text(buf, transition);
            text(buf, cause);
        }
        buf.extend_from_slice(&(self.anomalies.len() as u32).to_le_bytes());
        for line in &self.anomalies {
            text(buf, line);
        }
    }

    /// The block [`HistoryBlock::encode`] wrote; None if the bytes are not one.
    fn decode(bytes: &[u8]) -> Option<HistoryBlock> {
        let mut r = Bytes(bytes);
        let heading = r.text()?;
        let mut transitions = Vec::new();
        for _ in 0..r.word()? {
            let frame = r.text()?;
            let ts_ns = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
            transitions.push((frame, ts_ns, r.text()?, r.text()?, r.text()?));
        }
        let mut anomalies = Vec::new();
        for _ in 0..r.word()? {
            anomalies.push(r.text()?);
        }
        Some(HistoryBlock {
            heading,
            transitions,
            anomalies,
        })
    }
}

/// The bytes of an encoded [`HistoryBlock`] not read yet.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn word(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn text(&mut self) -> Option<String> {
        let n = self.word()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// The table reports fed connections as the analysis finishes them: the
/// connection table keeps a small [`TableRow`] per connection, the state
/// histories (`--history`) keep each connection's block in a [`Spill`] (a
/// temporary file) and an index in memory; both are written in stream order
/// once every input is read, so memory no longer holds the connections.
pub struct TableReport<'w> {
    out: Box<dyn Write + 'w>,
    style: Style,
    report: Report,
    totals: Totals,
    /// Per input: its rows (connection table).
    rows: Vec<Vec<TableRow>>,
    /// Per input: where each connection's history block is, and its order.
    blocks: Vec<Vec<((u64, u64), Piece)>>,
    spill: Option<Spill>,
}

impl<'w> TableReport<'w> {
    /// A table report (`report`: the connection table or the histories)
    /// that will be written to `out`.
    pub fn new(report: Report, style: Style, out: impl Write + 'w) -> TableReport<'w> {
        TableReport {
            out: Box::new(out),
            style,
            report,
            totals: Totals::default(),
            rows: Vec::new(),
            blocks: Vec::new(),
            spill: None,
        }
    }

    /// Notes that input number `file_index` exists even if it has no connections.
    pub fn file(&mut self, file_index: usize) {
        if self.rows.len() <= file_index {
            self.rows.resize_with(file_index + 1, Vec::new);
            self.blocks.resize_with(file_index + 1, Vec::new);
        }
        if self.totals.per_file.len() <= file_index {
            self.totals.per_file.resize(file_index + 1, 0);
        }
    }

    /// Takes finished connections of input number `file_index`.
    pub fn connections(&mut self, file_index: usize, conns: &[Connection]) -> io::Result<()> {
        use rayon::prelude::*;
        self.file(file_index);
        for c in conns {
            self.totals.add(file_index, c);
        }
        match self.report {
            Report::Connections => self.rows[file_index].extend(conns.iter().map(TableRow::new)),
            Report::History => {
                let encoded: Vec<((u64, u64), Vec<u8>)> = conns
                    .par_iter()
                    .with_min_len(32)
                    .map(|c| {
                        let mut buf = Vec::with_capacity(1024);
                        HistoryBlock::new(c).encode(&mut buf);
                        ((c.flow.stream, c.flow.first_frame), buf)
                    })
                    .collect();
                let spill = self.spill.get_or_insert_with(Spill::new);
                for (order, bytes) in encoded {
                    let piece = spill.push(&bytes)?;
                    self.blocks[file_index].push((order, piece));
                }
            }
        }
        Ok(())
    }

    /// Writes the report; `analyses` are the finished analyses, one per input.
    pub fn finish(mut self, analyses: &[Analysis]) -> io::Result<()> {
        self.file(analyses.len().saturating_sub(1));
        match self.report {
            Report::Connections => {
                for rows in &mut self.rows {
                    rows.sort_by_key(TableRow::order);
                }
                write_table_rows(
                    &mut self.out,
                    analyses,
                    &self.rows,
                    &self.totals,
                    &self.style,
                )?;
            }
            Report::History => {
                let width = self.style.width;
                let mut buf = Vec::new();
                for (i, a) in analyses.iter().enumerate() {
                    if i > 0 {
                        writeln!(self.out)?;
                    }
                    let blocks = &mut self.blocks[i];
                    blocks.sort_by_key(|(order, _)| *order);
                    write_file_heading(&mut self.out, a, blocks.len(), width)?;
                    for &(_, piece) in blocks.iter() {
                        if let Some(spill) = self.spill.as_mut() {
                            spill.read(piece, &mut buf)?;
                        }
                        let block = HistoryBlock::decode(&buf).ok_or_else(|| {
                            io::Error::other("a state history set aside could not be read back")
                        })?;
                        block.write(&mut self.out, a, width)?;
                    }
                    writeln!(self.out)?;
                    write_file_footer(&mut self.out, a, width)?;
                }
            }
        }
        self.out.flush()
    }
}

/// The short summary the table starts with: captures, frames, connections by
/// outcome, anomalies by code (the worst severity first), read errors.
fn write_overview(out: &mut dyn Write, s: &Summary<'_>, style: &Style) -> io::Result<()> {
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
fn write_file_heading(
    out: &mut dyn Write,
    a: &Analysis,
    connections: usize,
    width: Option<usize>,
) -> io::Result<()> {
    let format = match a.format {
        Some(f) if a.compressed => format!("{f}, gzip"),
        Some(f) => f.to_string(),
        None => "unreadable".into(),
    };
    let mut line = format!("# {} ({format}): {connections} connections", a.file);
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
