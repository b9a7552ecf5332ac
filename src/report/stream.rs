//! Reports written while the analysis runs: CSV, JSON lines, Zeek's JSON and
//! the files of `--out-dir`, each connection as soon as it is finished.

use std::io::{self, Write};

use serde::Serialize;

use crate::pipeline::{Analysis, Connection, Summary, Totals};

use super::csv::{
    write_csv_header, AnomalyCsv, ConnectionCsv, TransitionCsv, ANOMALY_CSV_COLUMNS,
    CONNECTION_CSV_COLUMNS, TRANSITION_CSV_COLUMNS,
};
use super::format::rfc3339_ns;
use super::json::{json_line, ConnectionJson};
use super::{Format, Report};

/// One output of a streaming report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// JSON lines, one per connection, then `{"summary": ...}`.
    ConnectionsJson,
    /// connections.csv.
    ConnectionsCsv,
    /// transitions.csv: every state transition.
    TransitionsCsv,
    /// anomalies.csv: every listed anomaly occurrence.
    AnomaliesCsv,
    /// Zeek's conn.log as JSON lines.
    ZeekJson,
    /// summary.json, pretty-printed, written at the end.
    SummaryJson,
}

/// The files of `--out-dir` and what each holds.
pub const OUT_DIR_FILES: [(&str, Part); 4] = [
    ("connections.csv", Part::ConnectionsCsv),
    ("transitions.csv", Part::TransitionsCsv),
    ("anomalies.csv", Part::AnomaliesCsv),
    ("summary.json", Part::SummaryJson),
];

impl Part {
    /// The part a streamable format writes. Table and Zeek TSV are not
    /// streamable: both need every connection before their first line.
    pub fn of(format: Format, report: Report) -> Part {
        match (format, report) {
            (Format::Csv, Report::History) => Part::TransitionsCsv,
            (Format::Csv, Report::Connections) => Part::ConnectionsCsv,
            (Format::ZeekJson, _) => Part::ZeekJson,
            _ => Part::ConnectionsJson,
        }
    }

    /// Whether this format can be written as connections finish.
    pub fn streamable(format: Format) -> bool {
        !matches!(format, Format::Table | Format::Zeek)
    }
}

/// An output and what has been written to it.
struct Output<'w> {
    part: Part,
    out: Box<dyn Write + 'w>,
    any_rows: bool,
}

impl Part {
    /// The header line of a CSV part.
    fn csv_header(self) -> Option<&'static [&'static str]> {
        match self {
            Part::ConnectionsCsv => Some(&CONNECTION_CSV_COLUMNS),
            Part::TransitionsCsv => Some(&TRANSITION_CSV_COLUMNS),
            Part::AnomaliesCsv => Some(&ANOMALY_CSV_COLUMNS),
            _ => None,
        }
    }

    /// The rows of one connection in this part, as bytes (CSV without header).
    fn render(self, file: &str, c: &Connection) -> io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(1024);
        let csv_writer = |buf: &mut Vec<u8>| {
            csv::WriterBuilder::new()
                .has_headers(false)
                .buffer_capacity(1024)
                .from_writer(std::mem::take(buf))
        };
        match self {
            Part::ConnectionsJson => json_line(&mut buf, &ConnectionJson::new(file, c))?,
            Part::ZeekJson => json_line(&mut buf, &crate::report::zeek::ConnRecord::new(file, c))?,
            Part::SummaryJson => {}
            Part::ConnectionsCsv => {
                let mut w = csv_writer(&mut buf);
                w.serialize(ConnectionCsv::new(file, c))?;
                buf = w.into_inner().map_err(|e| e.into_error())?;
            }
            Part::TransitionsCsv => {
                let mut w = csv_writer(&mut buf);
                for t in c.tcp.transitions() {
                    w.serialize(TransitionCsv {
                        file,
                        stream: c.flow.stream,
                        frame: t.frame,
                        time: rfc3339_ns(t.ts_ns),
                        side: t.side,
                        from: t.from,
                        to: t.to,
                        cause: t.cause.to_string(),
                        inferred: t.inferred,
                        evidence_frame: t.evidence_frame,
                    })?;
                }
                buf = w.into_inner().map_err(|e| e.into_error())?;
            }
            Part::AnomaliesCsv => {
                let mut w = csv_writer(&mut buf);
                for an in c.anomalies() {
                    w.serialize(AnomalyCsv {
                        file,
                        stream: c.flow.stream,
                        code: an.code,
                        severity: an.code.severity(),
                        frame: an.frame,
                        side: an.side,
                        detail: &an.detail,
                    })?;
                }
                buf = w.into_inner().map_err(|e| e.into_error())?;
            }
        }
        Ok(buf)
    }
}

/// Reports written as the analysis finishes connections, so a report over
/// a huge capture needs no more memory than its live connections.
/// Connections arrive in the order they are finished: within each input,
/// those evicted during the capture first (batch by batch, each in stream
/// order), then the rest in stream order; the `stream` field says where each
/// belongs. A batch is rendered in parallel and written in order.
pub struct StreamingReport<'w> {
    outputs: Vec<Output<'w>>,
    totals: Totals,
}

impl Default for StreamingReport<'_> {
    fn default() -> Self {
        StreamingReport::new()
    }
}

impl<'w> StreamingReport<'w> {
    /// A report with no outputs yet.
    pub fn new() -> StreamingReport<'w> {
        StreamingReport {
            outputs: Vec::new(),
            totals: Totals::default(),
        }
    }

    /// Adds an output.
    pub fn add(&mut self, part: Part, out: impl Write + 'w) {
        self.outputs.push(Output {
            part,
            out: Box::new(out),
            any_rows: false,
        });
    }

    /// Writes finished connections of input number `file_index` (named `file`).
    pub fn connections(
        &mut self,
        file_index: usize,
        file: &str,
        conns: &[Connection],
    ) -> io::Result<()> {
        use rayon::prelude::*;
        for c in conns {
            self.totals.add(file_index, c);
        }
        let parts: Vec<Part> = self.outputs.iter().map(|o| o.part).collect();
        let rendered: Vec<io::Result<Vec<Vec<u8>>>> = conns
            .par_iter()
            .with_min_len(32)
            .map(|c| parts.iter().map(|p| p.render(file, c)).collect())
            .collect();
        for r in rendered {
            for (o, bytes) in self.outputs.iter_mut().zip(r?) {
                if bytes.is_empty() {
                    continue;
                }
                if let (false, Some(header)) = (o.any_rows, o.part.csv_header()) {
                    write_csv_header(&mut o.out, header)?;
                }
                o.any_rows = true;
                o.out.write_all(&bytes)?;
            }
        }
        Ok(())
    }

    /// Notes that input number `file_index` exists even if it has no connections.
    pub fn file(&mut self, file_index: usize) {
        if self.totals.per_file.len() <= file_index {
            self.totals.per_file.resize(file_index + 1, 0);
        }
    }

    /// Writes the closing parts (summaries, headers of empty tables) and
    /// flushes; `analyses` are the finished analyses, one per input.
    pub fn finish(mut self, analyses: &[Analysis]) -> io::Result<()> {
        self.file(analyses.len().saturating_sub(1));
        let summary = Summary::with_totals(analyses, &self.totals);
        #[derive(Serialize)]
        struct Wrapper<'a, 'b> {
            summary: &'b Summary<'a>,
        }
        for o in &mut self.outputs {
            match o.part {
                Part::ConnectionsJson => json_line(&mut o.out, &Wrapper { summary: &summary })?,
                Part::SummaryJson => {
                    serde_json::to_writer_pretty(&mut o.out, &summary)?;
                    o.out.write_all(b"\n")?;
                }
                part => {
                    if let (false, Some(header)) = (o.any_rows, part.csv_header()) {
                        // Still give consumers the header of an empty table.
                        write_csv_header(&mut o.out, header)?;
                    }
                }
            }
            o.out.flush()?;
        }
        Ok(())
    }

    /// Writes analyses whose connections were kept, then finishes.
    pub fn write_all(mut self, analyses: &[Analysis]) -> io::Result<()> {
        for (i, a) in analyses.iter().enumerate() {
            self.file(i);
            for chunk in a.connections.chunks(4096) {
                self.connections(i, &a.file, chunk)?;
            }
        }
        self.finish(analyses)
    }
}

/// The batch files of `--out-dir`: connections.csv, transitions.csv,
/// anomalies.csv and summary.json, each written through `write_file` (which
/// the CLI makes atomic).
pub fn write_out_dir(
    analyses: &[Analysis],
    mut write_file: impl FnMut(&str, &dyn Fn(&mut dyn Write) -> io::Result<()>) -> io::Result<()>,
) -> io::Result<()> {
    for (name, part) in OUT_DIR_FILES {
        write_file(name, &|w| {
            let mut r = StreamingReport::new();
            r.add(part, w);
            r.write_all(analyses)
        })?;
    }
    Ok(())
}
