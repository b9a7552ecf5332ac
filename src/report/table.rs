//! The reports for people at a terminal: the connection table and the
//! state histories (`--history`), each capture with its heading and closed
//! by its frame accounting.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::io::{self, Write};

use crate::anomaly::{AnomalyCode, Severity};
use crate::model::Side;
use crate::pipeline::accounting::FrameAccounting;
use crate::pipeline::{Analysis, Connection, Summary, Totals};

use super::columns::{cell_width, two_lines, wrap_list, wrap_words, write_row, Columns};
use super::format::{flag_letters, relative, rfc3339_ns, seconds};
use super::layout::{self, Column, PathNeed, Shape};
use super::row::{anomaly_codes, flag_count, state_text, INFERRED_LEGEND};
use super::spill::{frame, Spill};
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

/// One connection's row of the connection table, every cell rendered but
/// START, which counts from the capture's earliest frame (known only at
/// its end). [`encode_row`] writes it as a record of a [`Spill`], while the
/// capture is read; the table borrows it back from there, so memory holds
/// an offset per connection, not its row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableRow<'a> {
    /// Frame number of the first packet: a stream's parts in order.
    first_frame: u64,
    start_ns: i64,
    /// The connection has VLAN tags or tunnels.
    has_path: bool,
    /// A state rests on inference (marked `*`).
    inferred: bool,
    stream: &'a str,
    client: &'a str,
    server: &'a str,
    first: &'a str,
    last: &'a str,
    duration: &'a str,
    packets: [&'a str; 2],
    bytes: [&'a str; 2],
    flags: [&'a str; 2],
    /// Each side's final state, `*` marking an inferred one.
    states: [&'a str; 2],
    outcome: &'a str,
    conn_state: &'a str,
    history: &'a str,
    retx: [&'a str; 2],
    irtt: &'a str,
    /// `-` when there is none.
    path: &'a str,
    /// Distinct anomaly codes in order of first occurrence, comma-separated;
    /// empty when none.
    anomalies: &'a str,
}

/// Appends a connection's [`TableRow`] to `buf`: the first frame (u64),
/// the start (i64), a byte of flags (bit 0: a path, bit 1: an inferred
/// state), then the cells, each its length (LEB128) and its text.
pub(crate) fn encode_row(ac: &Connection, buf: &mut Vec<u8>) {
    let f = &ac.flow;
    buf.extend_from_slice(&f.first_frame.to_le_bytes());
    buf.extend_from_slice(&f.start_ns.to_le_bytes());
    let inferred = Side::BOTH.iter().any(|&s| ac.tcp.state_inferred(s));
    buf.push(u8::from(!f.path.is_empty()) | (u8::from(inferred) << 1));
    let mut w = CellWriter {
        buf,
        cell: String::new(),
    };
    w.put(format_args!("{}", f.stream));
    w.put(format_args!("{}", f.client()));
    w.put(format_args!("{}", f.server()));
    w.put(format_args!("{}", f.first_frame));
    w.put(format_args!("{}", f.last_frame));
    w.put(format_args!("{:.6}", seconds(f.duration_ns())));
    for s in Side::BOTH {
        w.put(format_args!("{}", f.packets[s.idx()]));
    }
    for s in Side::BOTH {
        w.put(format_args!("{}", f.bytes[s.idx()]));
    }
    for s in Side::BOTH {
        w.put(format_args!("{}", flag_letters(f.flags[s.idx()])));
    }
    for s in Side::BOTH {
        let state = state_text(ac.tcp.state(s), ac.tcp.state_inferred(s));
        w.put(format_args!("{state}"));
    }
    w.put(format_args!("{}", ac.tcp.outcome()));
    w.put(format_args!("{}", ac.zeek.conn_state()));
    w.put(format_args!("{}", ac.zeek.history()));
    for s in Side::BOTH {
        w.put(format_args!("{}", flag_count(ac, s, "retransmission")));
    }
    match ac.seq.handshake_rtt().total_ns {
        Some(ns) => w.put(format_args!("{:.3}", ns as f64 / 1e6)),
        None => w.put(format_args!("-")),
    }
    w.put(format_args!("{}", f.path));
    w.put(format_args!("{}", anomaly_codes(ac).join(",")));
}

/// Writes the cells of an encoded [`TableRow`].
struct CellWriter<'b> {
    buf: &'b mut Vec<u8>,
    /// The cell being formatted (its length goes first).
    cell: String,
}

impl CellWriter<'_> {
    fn put(&mut self, text: std::fmt::Arguments<'_>) {
        use std::fmt::Write as _;
        self.cell.clear();
        // Writing to a String cannot fail.
        let _ = self.cell.write_fmt(text);
        push_len(self.buf, self.cell.len());
        self.buf.extend_from_slice(self.cell.as_bytes());
    }
}

/// Appends `n` as LEB128: seven bits a byte, the high bit set on all but the last.
fn push_len(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

impl<'a> TableRow<'a> {
    /// The row [`encode_row`] wrote; None if the bytes are not one.
    pub(crate) fn decode(bytes: &'a [u8]) -> Option<TableRow<'a>> {
        let mut r = Bytes(bytes);
        let first_frame = r.u64()?;
        let start_ns = r.u64()? as i64;
        let bits = r.take(1)?[0];
        let mut t = || r.leb_text();
        let row = TableRow {
            first_frame,
            start_ns,
            has_path: bits & 1 != 0,
            inferred: bits & 2 != 0,
            stream: t()?,
            client: t()?,
            server: t()?,
            first: t()?,
            last: t()?,
            duration: t()?,
            packets: [t()?, t()?],
            bytes: [t()?, t()?],
            flags: [t()?, t()?],
            states: [t()?, t()?],
            outcome: t()?,
            conn_state: t()?,
            history: t()?,
            retx: [t()?, t()?],
            irtt: t()?,
            path: t()?,
            anomalies: t()?,
        };
        r.0.is_empty().then_some(row)
    }

    /// The distinct anomaly codes.
    fn codes(&self) -> impl Iterator<Item = &'a str> {
        self.anomalies.split(',').filter(|c| !c.is_empty())
    }
}

/// The overview, then per capture its heading, one line per connection and
/// the accounting.
pub(super) fn write_table(
    out: &mut dyn Write,
    analyses: &[Analysis],
    style: &Style,
) -> io::Result<()> {
    let mut report = TableReport::new(Report::Connections, style.clone(), out);
    for (i, a) in analyses.iter().enumerate() {
        report.connections(i, &a.connections)?;
    }
    report.finish(analyses)
}

/// What the layout of a capture's connection table depends on, gathered
/// from its rows in one read through them.
struct TableShape {
    /// Whether PATH is needed (only worked out for a terminal's width).
    path: PathNeed,
    /// Every column's width in both shapes, header included, anomalies
    /// unwrapped.
    natural: Vec<[usize; 2]>,
    /// The longest anomaly code.
    longest_code: usize,
}

/// Reads a capture's rows (`index`, in the order they were written) one
/// after the other, each decoded for `each`.
fn each_row(
    spill: &mut Spill,
    index: &[(u64, u64)],
    mut each: impl FnMut(&TableRow<'_>),
) -> io::Result<()> {
    for &(_, offset) in index {
        let bytes = spill.record(offset, SEQUENTIAL_AHEAD)?;
        each(&TableRow::decode(bytes).ok_or_else(unreadable_row)?);
    }
    Ok(())
}

/// Bytes read past a record read in the order the records were written.
const SEQUENTIAL_AHEAD: usize = 1 << 16;
/// Bytes read past a record read out of order: about its neighbours, which
/// finished about when it did and often follow it in stream order too.
const RANDOM_AHEAD: usize = 1 << 11;

fn unreadable_row() -> io::Error {
    io::Error::other("a table row set aside in a temporary file could not be read back")
}

/// One capture's connections in the columns the style asks for, in stream
/// order, a row at a time: the rows are read from the spill (in the order
/// they were written) to lay the table out and size its columns, then once
/// more in stream order to be written.
fn write_connection_table(
    out: &mut dyn Write,
    a: &Analysis,
    spill: &mut Spill,
    rows: &mut FileRows,
    style: &Style,
) -> io::Result<()> {
    let layout = match (&style.columns, style.width) {
        (Some(columns), _) => layout::listed(columns),
        (None, Some(width)) => {
            let shape = table_shape(a, spill, rows)?;
            layout::fit(
                width,
                shape.path,
                |c, s| shape.natural[column_index(c)][shape_index(s)],
                shape
                    .longest_code
                    .max(Column::Anomalies.header(Shape::OneLine).len()),
            )
        }
        (None, None) => layout::full(rows.has_path),
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
    each_row(spill, &rows.index, |r| {
        for (w, c) in widths.iter_mut().zip(cells(r)) {
            *w = (*w).max(cell_width(&c));
        }
    })?;
    write_row(out, &header, &widths)?;
    rows.index.sort_unstable();
    // A stream's parts (rarely more than one) by their first frame.
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for run in rows.index.chunk_by(|x, y| x.0 == y.0) {
        if let [(_, offset)] = run {
            let bytes = spill.record(*offset, RANDOM_AHEAD)?;
            let r = TableRow::decode(bytes).ok_or_else(unreadable_row)?;
            write_row(out, &cells(&r), &widths)?;
            continue;
        }
        parts.clear();
        for &(_, offset) in run {
            parts.push(spill.record(offset, RANDOM_AHEAD)?.to_vec());
        }
        let mut decoded = parts
            .iter()
            .map(|p| TableRow::decode(p).ok_or_else(unreadable_row))
            .collect::<io::Result<Vec<TableRow>>>()?;
        decoded.sort_by_key(|r| r.first_frame);
        for r in &decoded {
            write_row(out, &cells(r), &widths)?;
        }
    }
    Ok(())
}

/// What a terminal's layout needs to know of a capture's rows: PATH's
/// need, each column's natural widths, the longest anomaly code.
fn table_shape(a: &Analysis, spill: &mut Spill, rows: &FileRows) -> io::Result<TableShape> {
    let shapes = [Shape::OneLine, Shape::PerSide];
    let mut natural: Vec<[usize; 2]> = Column::ALL
        .iter()
        .map(|&c| shapes.map(|shape| cell_width(c.header(shape))))
        .collect();
    let mut longest_code = 0;
    each_row(spill, &rows.index, |r| {
        for (i, &c) in Column::ALL.iter().enumerate() {
            for (k, &shape) in shapes.iter().enumerate() {
                let w = cell_width(&cell(c, shape, a, r, false, None));
                natural[i][k] = natural[i][k].max(w);
            }
        }
        longest_code = r.codes().map(str::len).fold(longest_code, usize::max);
    })?;
    // Only captures with VLANs or tunnels get PATH unless it is asked for.
    let path = if !rows.has_path {
        PathNeed::None
    } else if paths_tell_apart(spill, &rows.index, endpoints_hash)? {
        PathNeed::Essential
    } else {
        PathNeed::Useful
    };
    Ok(TableShape {
        path,
        natural,
        longest_code,
    })
}

/// Whether two connections have the same endpoints but different paths,
/// so that only PATH tells them apart. Per pair of endpoints (by `hash`)
/// the first row's path (by number: paths are few) and place in `index`
/// are kept, 16 bytes, only for this moment. A path unlike the first is
/// checked against the first row itself; two pairs of one hash send the
/// question to [`paths_tell_apart_exactly`].
fn paths_tell_apart(
    spill: &mut Spill,
    index: &[(u64, u64)],
    hash: fn(&str, &str) -> u64,
) -> io::Result<bool> {
    let mut path_numbers: HashMap<String, u32> = HashMap::new();
    let mut first: HashMap<u64, (u32, u32)> = HashMap::new();
    for (k, &(_, offset)) in index.iter().enumerate() {
        let r =
            TableRow::decode(spill.record(offset, SEQUENTIAL_AHEAD)?).ok_or_else(unreadable_row)?;
        let next = path_numbers.len() as u32;
        let path = *path_numbers.entry(r.path.to_string()).or_insert(next);
        let slot = hash(r.client, r.server);
        let (first_path, at) = *first.entry(slot).or_insert((path, k as u32));
        if first_path == path {
            continue;
        }
        let ends = (r.client.to_string(), r.server.to_string());
        let f = TableRow::decode(spill.record(index[at as usize].1, RANDOM_AHEAD)?)
            .ok_or_else(unreadable_row)?;
        return if (f.client, f.server) == (ends.0.as_str(), ends.1.as_str()) {
            Ok(true)
        } else {
            paths_tell_apart_exactly(spill, index)
        };
    }
    Ok(false)
}

/// [`paths_tell_apart`] with every pair of endpoints and its first path
/// kept in full.
fn paths_tell_apart_exactly(spill: &mut Spill, index: &[(u64, u64)]) -> io::Result<bool> {
    let mut paths: HashMap<(String, String), String> = HashMap::new();
    let mut apart = false;
    each_row(spill, index, |r| {
        if !apart {
            let first = paths
                .entry((r.client.to_string(), r.server.to_string()))
                .or_insert_with(|| r.path.to_string());
            apart = *first != r.path;
        }
    })?;
    Ok(apart)
}

/// A pair of endpoints' hash, the same throughout a run.
fn endpoints_hash(client: &str, server: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one((client, server))
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
    let per_side = |[client, server]: [&str; 2]| match shape {
        Shape::OneLine => format!("{client}/{server}"),
        Shape::PerSide => format!("{client}\n{server}"),
    };
    match c {
        Column::Stream => r.stream.to_string(),
        Column::Client if shape == Shape::PerSide => format!("{}\n{}", r.client, r.server),
        Column::Client => r.client.to_string(),
        Column::Server => r.server.to_string(),
        Column::First => r.first.to_string(),
        Column::Last => r.last.to_string(),
        Column::Start => relative(a, r.start_ns),
        Column::Duration => r.duration.to_string(),
        Column::Packets => per_side(r.packets),
        Column::Bytes => per_side(r.bytes),
        Column::Flags => per_side(r.flags),
        Column::ClientState if shape == Shape::PerSide => per_side(r.states),
        Column::ClientState => r.states[Side::Client.idx()].to_string(),
        Column::ServerState => r.states[Side::Server.idx()].to_string(),
        Column::Outcome if shape == Shape::PerSide => format!(
            "{}\n{}",
            r.outcome,
            anomalies_cell(r, color, anomalies_width)
        ),
        Column::Outcome => r.outcome.to_string(),
        Column::ConnState => r.conn_state.to_string(),
        Column::History => r.history.to_string(),
        Column::Retx => per_side(r.retx),
        Column::Irtt => r.irtt.to_string(),
        // Two lines a connection: a long path (a tunnel) may take both.
        Column::Path if shape == Shape::PerSide && r.path.len() > 12 => two_lines(r.path),
        Column::Path => r.path.to_string(),
        Column::Anomalies => anomalies_cell(r, color, anomalies_width),
    }
}

/// A connection's distinct anomaly codes, each coloured by its severity if
/// `color`, comma-separated and wrapped to `width`; `-` when none.
fn anomalies_cell(r: &TableRow, color: bool, width: Option<usize>) -> String {
    let codes: Vec<String> = r
        .codes()
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

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn text(&mut self) -> Option<String> {
        let n = self.word()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    /// A text after its LEB128 length (see [`push_len`]).
    fn leb_text(&mut self) -> Option<&'a str> {
        let mut n = 0usize;
        for shift in (0..usize::BITS).step_by(7) {
            let b = self.take(1)?[0];
            n |= usize::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return std::str::from_utf8(self.take(n)?).ok();
            }
        }
        None
    }
}

/// The table reports fed connections as the analysis finishes them: each
/// connection's row (connection table) or block (state histories,
/// `--history`) goes to a [`Spill`] (a temporary file) as it comes, and
/// memory keeps its stream and offset (16 bytes); both are written in
/// stream order once every input is read, so memory holds neither the
/// connections nor their rows.
pub struct TableReport<'w> {
    out: Box<dyn Write + 'w>,
    style: Style,
    report: Report,
    totals: Totals,
    /// Per input: where its connections' records are.
    files: Vec<FileRows>,
    /// Made at the first connection.
    spill: Option<Spill>,
}

/// Where one input's connections are in the spill, and what the table
/// needs to know of all of them before its first line.
#[derive(Default)]
struct FileRows {
    /// Each connection's stream and its record's offset, in the order the
    /// records were written.
    index: Vec<(u64, u64)>,
    /// Some connection has VLAN tags or tunnels.
    has_path: bool,
    /// Some state rests on inference.
    inferred: bool,
}

/// Connections one rayon task encodes into one buffer.
const ENCODE_CHUNK: usize = 32;
/// Connections encoded before their records are written to the spill.
const ENCODE_SLICE: usize = 1024;

/// The records of a chunk of connections: rows, or history blocks after
/// their first frame.
fn encode_chunk(report: Report, chunk: &[Connection]) -> Encoded {
    let mut e = Encoded {
        records: Vec::with_capacity(chunk.len() * 256),
        ..Encoded::default()
    };
    for c in chunk {
        e.starts.push((c.flow.stream, e.records.len()));
        match report {
            Report::Connections => {
                frame(&mut e.records, |buf| encode_row(c, buf));
                e.has_path |= !c.flow.path.is_empty();
                e.inferred |= Side::BOTH.iter().any(|&s| c.tcp.state_inferred(s));
            }
            Report::History => frame(&mut e.records, |buf| {
                buf.extend_from_slice(&c.flow.first_frame.to_le_bytes());
                HistoryBlock::new(c).encode(buf);
            }),
        }
    }
    e
}

/// A chunk of connections encoded as records.
#[derive(Default)]
struct Encoded {
    records: Vec<u8>,
    /// Each connection's stream and where its record starts in `records`.
    starts: Vec<(u64, usize)>,
    has_path: bool,
    inferred: bool,
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
            files: Vec::new(),
            spill: None,
        }
    }

    /// Notes that input number `file_index` exists even if it has no connections.
    pub fn file(&mut self, file_index: usize) {
        if self.files.len() <= file_index {
            self.files.resize_with(file_index + 1, FileRows::default);
        }
        if self.totals.per_file.len() <= file_index {
            self.totals.per_file.resize(file_index + 1, 0);
        }
    }

    /// Takes finished connections of input number `file_index`.
    pub fn connections(&mut self, file_index: usize, conns: &[Connection]) -> io::Result<()> {
        use rayon::prelude::*;
        self.file(file_index);
        if conns.is_empty() {
            return Ok(());
        }
        for c in conns {
            self.totals.add(file_index, c);
        }
        let report = self.report;
        let spill = self.spill.get_or_insert_with(Spill::new);
        let rows = &mut self.files[file_index];
        // A slice at a time, so that the records waiting to be written
        // stay few even when a capture's end finishes every connection.
        for slice in conns.chunks(ENCODE_SLICE) {
            let chunks: Vec<Encoded> = slice
                .par_chunks(ENCODE_CHUNK)
                .map(|chunk| encode_chunk(report, chunk))
                .collect();
            for e in chunks {
                let at = spill.push(&e.records)?;
                rows.index.extend(
                    e.starts
                        .iter()
                        .map(|&(stream, start)| (stream, at + start as u64)),
                );
                rows.has_path |= e.has_path;
                rows.inferred |= e.inferred;
            }
        }
        Ok(())
    }

    /// Bytes of memory the report holds per connection it has taken: its
    /// place in the index. The rows themselves are in the spill.
    #[cfg(test)]
    pub(crate) fn memory_per_connection(&self) -> usize {
        let connections: usize = self.files.iter().map(|f| f.index.len()).sum();
        let held: usize = self
            .files
            .iter()
            .map(|f| f.index.capacity() * std::mem::size_of::<(u64, u64)>())
            .sum();
        held / connections.max(1)
    }

    /// Writes the report; `analyses` are the finished analyses, one per input.
    pub fn finish(mut self, analyses: &[Analysis]) -> io::Result<()> {
        self.file(analyses.len().saturating_sub(1));
        let mut spill = self.spill.take().unwrap_or_else(Spill::in_memory);
        let out = &mut self.out;
        if self.report == Report::Connections {
            let summary = Summary::with_totals(analyses, &self.totals);
            write_overview(out, &summary, &self.style)?;
        }
        let width = self.style.width;
        for (i, a) in analyses.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            let rows = &mut self.files[i];
            write_file_heading(out, a, rows.index.len(), width)?;
            match self.report {
                Report::Connections => {
                    if !rows.index.is_empty() {
                        write_connection_table(out, a, &mut spill, rows, &self.style)?;
                        if rows.inferred {
                            writeln!(out, "{INFERRED_LEGEND}")?;
                        }
                    }
                }
                Report::History => {
                    rows.index.sort_unstable();
                    let mut parts: Vec<(u64, HistoryBlock)> = Vec::new();
                    for run in rows.index.chunk_by(|x, y| x.0 == y.0) {
                        parts.clear();
                        for &(_, offset) in run {
                            let mut r = Bytes(spill.record(offset, RANDOM_AHEAD)?);
                            let part = r
                                .u64()
                                .and_then(|first| Some((first, HistoryBlock::decode(r.0)?)))
                                .ok_or_else(|| {
                                    io::Error::other(
                                        "a state history set aside could not be read back",
                                    )
                                })?;
                            parts.push(part);
                        }
                        // A stream's parts (rarely more than one) by their first frame.
                        parts.sort_by_key(|p| p.0);
                        for (_, block) in &parts {
                            block.write(out, a, width)?;
                        }
                    }
                    writeln!(out)?;
                }
            }
            write_file_footer(out, a, width)?;
        }
        out.flush()
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::capture::Input;
    use crate::pipeline::Analyzer;

    fn analysis(file: &str) -> Analysis {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
        let a = Analyzer::new().analyze_inputs(&[Input::Path(path)]);
        assert!(a.errors.is_empty(), "{file}: {:?}", a.errors);
        a
    }

    #[test]
    fn rows_come_back_from_their_encoding() {
        // Anomalies; VLAN paths; tunnels; inferred states.
        let files = [
            "testdata/synth/anomalies.pcap",
            "testdata/synth/encap/vlan_tenants.pcap",
            "testdata/synth/vlan.pcap",
            "testdata/synth/zeek_tunnels.pcap",
            "testdata/synth/scenarios.pcap",
        ];
        let (mut anomalies, mut paths, mut inferred, mut tunnels) = (0, 0, 0, 0);
        for file in files {
            let a = analysis(file);
            for c in &a.connections {
                let mut buf = Vec::new();
                encode_row(c, &mut buf);
                let r = TableRow::decode(&buf).expect("a row");
                let f = &c.flow;
                let both = |v: &dyn Fn(Side) -> String| Side::BOTH.map(v);
                assert_eq!(r.first_frame, f.first_frame);
                assert_eq!(r.start_ns, f.start_ns);
                assert_eq!(r.has_path, !f.path.is_empty());
                assert_eq!(r.path, f.path.to_string());
                assert_eq!(r.stream, f.stream.to_string());
                assert_eq!(r.client, f.client().to_string());
                assert_eq!(r.server, f.server().to_string());
                assert_eq!(r.first, f.first_frame.to_string());
                assert_eq!(r.last, f.last_frame.to_string());
                assert_eq!(r.duration, format!("{:.6}", seconds(f.duration_ns())));
                assert_eq!(r.packets, both(&|s| f.packets[s.idx()].to_string()));
                assert_eq!(r.bytes, both(&|s| f.bytes[s.idx()].to_string()));
                assert_eq!(r.flags, both(&|s| flag_letters(f.flags[s.idx()])));
                let states = both(&|s| state_text(c.tcp.state(s), c.tcp.state_inferred(s)));
                assert_eq!(r.states, states);
                assert_eq!(r.inferred, states.iter().any(|s| s.ends_with('*')));
                assert_eq!(r.outcome, c.tcp.outcome().to_string());
                assert_eq!(r.conn_state, c.zeek.conn_state());
                assert_eq!(r.history, c.zeek.history());
                let retx = both(&|s| flag_count(c, s, "retransmission").to_string());
                assert_eq!(r.retx, retx);
                let irtt = c.seq.handshake_rtt().total_ns;
                assert_eq!(
                    r.irtt,
                    irtt.map_or("-".into(), |ns| format!("{:.3}", ns as f64 / 1e6))
                );
                assert_eq!(r.codes().collect::<Vec<_>>(), anomaly_codes(c));
                anomalies += usize::from(!r.anomalies.is_empty());
                paths += usize::from(r.has_path);
                tunnels += usize::from(f.path.tunnel.is_some());
                inferred += usize::from(r.inferred);
                // A record cut short, or with bytes to spare, is no row.
                for cut in [0, 1, 17, buf.len() / 2, buf.len() - 1] {
                    assert_eq!(TableRow::decode(&buf[..cut]), None, "{file} cut at {cut}");
                }
                buf.push(0);
                assert_eq!(TableRow::decode(&buf), None);
            }
        }
        assert!(
            anomalies > 5 && paths >= 5 && inferred > 0,
            "{anomalies} {paths} {inferred}"
        );
        assert!(tunnels > 0);
    }

    #[test]
    fn a_cell_longer_than_a_length_byte_comes_back() {
        let mut buf = Vec::new();
        let long = "x".repeat(300);
        push_len(&mut buf, long.len());
        assert_eq!(buf, [0xac, 0x02]);
        buf.extend_from_slice(long.as_bytes());
        assert_eq!(Bytes(&buf).leb_text(), Some(long.as_str()));
    }

    /// The table holds an index entry per connection, not its row: 20,000
    /// connections given in reverse stream order cost at most 32 bytes each
    /// (16 and the index's spare room), and come out in stream order.
    #[test]
    fn the_table_keeps_an_index_entry_per_connection() {
        let a = analysis("testdata/synth/anomalies.pcap");
        let n = 20_000u64;
        let mut out = Vec::new();
        let mut report = TableReport::new(Report::Connections, Style::default(), &mut out);
        let mut batch = Vec::new();
        for stream in (0..n).rev() {
            let mut c = a.connections[(stream % 14) as usize].clone();
            c.flow.stream = stream;
            batch.push(c);
            if batch.len() == 1000 {
                report.connections(0, &batch).unwrap();
                batch.clear();
            }
        }
        let per_connection = report.memory_per_connection();
        assert!(
            (16..=32).contains(&per_connection),
            "{per_connection} bytes per connection"
        );
        let analyses = [Analysis {
            connections: Vec::new(),
            ..a
        }];
        report.finish(&analyses).unwrap();
        let text = String::from_utf8(out).unwrap();
        let streams: Vec<u64> = text
            .lines()
            .skip_while(|l| !l.starts_with("STREAM"))
            .skip(1)
            .map_while(|l| l.split(' ').next()?.parse().ok())
            .collect();
        assert_eq!(streams, (0..n).collect::<Vec<_>>());
        assert!(text.contains(&format!(": {n} connections")));
    }

    /// Parts of one stream (a connection that went idle and carried on)
    /// are listed by their first frame, whatever order they came in.
    #[test]
    fn a_streams_parts_come_in_frame_order() {
        let a = analysis("testdata/synth/anomalies.pcap");
        for report in [Report::Connections, Report::History] {
            let mut out = Vec::new();
            let mut table = TableReport::new(report, Style::default(), &mut out);
            let mut parts = a.connections[..3].to_vec();
            parts.reverse();
            for c in &mut parts {
                c.flow.stream = 7;
            }
            table.connections(0, &parts[..1]).unwrap();
            table.connections(0, &parts[1..]).unwrap();
            table.finish(std::slice::from_ref(&a)).unwrap();
            let text = String::from_utf8(out).unwrap();
            let at: Vec<usize> = a.connections[..3]
                .iter()
                .map(|c| text.find(&c.flow.client().to_string()).unwrap())
                .collect();
            assert!(at[0] < at[1] && at[1] < at[2], "{report:?}: {text}");
        }
    }

    /// PATH is essential where two connections differ by their paths only,
    /// whatever the endpoints hash to (here every pair to one value).
    #[test]
    fn paths_tell_apart_with_any_hash() {
        let tenants = analysis("testdata/synth/encap/vlan_tenants.pcap");
        let vlans = analysis("testdata/synth/vlan.pcap");
        let one_hash: fn(&str, &str) -> u64 = |_, _| 7;
        for (conns, apart) in [(&tenants.connections, true), (&vlans.connections, false)] {
            let mut spill = Spill::new();
            let mut index = Vec::new();
            for c in conns.iter() {
                let mut buf = Vec::new();
                frame(&mut buf, |b| encode_row(c, b));
                index.push((c.flow.stream, spill.push(&buf).unwrap()));
            }
            for hash in [endpoints_hash, one_hash] {
                assert_eq!(paths_tell_apart(&mut spill, &index, hash).unwrap(), apart);
            }
            assert_eq!(paths_tell_apart_exactly(&mut spill, &index).unwrap(), apart);
        }
    }
}
