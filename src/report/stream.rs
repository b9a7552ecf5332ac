//! Reports written while the analysis runs: CSV, JSON lines, Zeek's conn.log
//! (TSV and JSON) and the files of `--out-dir`, each connection as soon as it
//! is finished.

use std::io::{self, Write};

use crate::pipeline::{Analysis, Connection, Summary, Totals};

use super::csv::{self, AnomalyCsv, ConnectionCsv, TransitionCsv};
use super::json;
use super::row::ConnectionRow;
use super::zeek::{self, unattached};
use super::{Format, Report};

/// One output of a streaming report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// JSON lines, one per connection, then `{"summary": ...}`.
    ConnectionsJson,
    /// connections.csv: one record per connection.
    ConnectionsCsv,
    /// transitions.csv: every state transition.
    TransitionsCsv,
    /// anomalies.csv: every listed anomaly occurrence.
    AnomaliesCsv,
    /// Zeek's conn.log as JSON lines: each connection's records, then those
    /// no connection holds.
    ZeekJson,
    /// Zeek's conn.log as TSV: the header lines (before the first record),
    /// the records as for [`Part::ZeekJson`], then `#close`.
    ZeekTsv,
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
    /// The part a streamable format writes. The table is not streamable:
    /// it lists connections in stream order, under a heading that counts
    /// them (see [`super::TableReport`]).
    pub fn of(format: Format, report: Report) -> Part {
        match (format, report) {
            (Format::Csv, Report::History) => Part::TransitionsCsv,
            (Format::Csv, Report::Connections) => Part::ConnectionsCsv,
            (Format::ZeekJson, _) => Part::ZeekJson,
            (Format::Zeek, _) => Part::ZeekTsv,
            _ => Part::ConnectionsJson,
        }
    }

    /// Whether this format can be written as connections finish.
    pub fn streamable(format: Format) -> bool {
        format != Format::Table
    }

    /// Writes the header line if this part is a CSV file; nothing otherwise.
    fn write_csv_header(self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Part::ConnectionsCsv => csv::write_header::<ConnectionCsv>(out),
            Part::TransitionsCsv => csv::write_header::<TransitionCsv>(out),
            Part::AnomaliesCsv => csv::write_header::<AnomalyCsv>(out),
            Part::ConnectionsJson | Part::ZeekJson | Part::ZeekTsv | Part::SummaryJson => Ok(()),
        }
    }

    /// Appends the lines of one connection in this part to `buf` (CSV
    /// without its header); nothing if the part has none for it.
    fn render(self, buf: &mut Vec<u8>, file: &str, c: &Connection) -> io::Result<()> {
        match self {
            Part::ConnectionsJson => json::write_connection(buf, &ConnectionRow::new(file, c))?,
            Part::ConnectionsCsv => csv::write_connection(buf, &ConnectionRow::new(file, c))?,
            Part::TransitionsCsv => csv::write_transitions(buf, file, c)?,
            Part::AnomaliesCsv => csv::write_anomalies(buf, file, c)?,
            Part::ZeekJson => {
                for r in c.zeek.owned() {
                    json::write_zeek_line(buf, r);
                }
            }
            Part::ZeekTsv => {
                for r in c.zeek.owned() {
                    zeek::write_tsv_record(buf, r);
                }
            }
            Part::SummaryJson => {}
        }
        Ok(())
    }
}

/// Connections one rayon task renders into one buffer per part: enough to
/// spread a batch over the threads, few enough buffers that allocating and
/// writing them costs little per connection.
const RENDER_CHUNK: usize = 32;

/// An output and what has been written to it.
struct Output<'w> {
    part: Part,
    out: Box<dyn Write + 'w>,
    any_rows: bool,
    /// Bytes a connection took in the last batch, on average: what a
    /// chunk's buffer starts with room for, so it seldom grows (growing
    /// copied each row several times).
    bytes_per_conn: usize,
}

/// Reports written as the analysis finishes connections, so a report over
/// a huge capture needs no more memory than its live connections.
/// Connections are written in the order they are given: from the
/// analysis, the order they finish (docs/REFERENCE.md, "Row order"); the
/// `stream` field says where each belongs. A batch is rendered in parallel,
/// written in order and flushed, so a live capture's rows are not held back.
pub struct StreamingReport<'w> {
    outputs: Vec<Output<'w>>,
    /// Parquet files, one table each.
    #[cfg(feature = "parquet")]
    parquet: Vec<super::parquet::ParquetWriter<'w>>,
    totals: Totals,
    /// Zeek's `#open`: the earliest frame time before the first rows.
    first_ts_ns: Option<i64>,
    /// Zeek's `#close`: the latest packet of the connections written.
    last_ts_ns: Option<i64>,
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
            #[cfg(feature = "parquet")]
            parquet: Vec::new(),
            totals: Totals::default(),
            first_ts_ns: None,
            last_ts_ns: None,
        }
    }

    /// Adds a Parquet output: `table` will be written to `out`.
    #[cfg(feature = "parquet")]
    pub fn add_parquet(
        &mut self,
        table: super::parquet::Table,
        out: impl Write + Send + 'w,
    ) -> io::Result<()> {
        self.parquet
            .push(super::parquet::ParquetWriter::new(table, out)?);
        Ok(())
    }

    /// Adds an output: `part` will be written to `out`.
    pub fn add(&mut self, part: Part, out: impl Write + 'w) {
        self.outputs.push(Output {
            part,
            out: Box::new(out),
            any_rows: false,
            // Until a batch tells: JSON lines take ~4 kB, CSV records ~700 B.
            bytes_per_conn: 2048,
        });
    }

    /// Notes the earliest frame time analysed so far (the first call
    /// counts): Zeek's TSV header, written before the first rows, opens at it.
    pub fn started_at(&mut self, first_ts_ns: i64) {
        self.first_ts_ns.get_or_insert(first_ts_ns);
    }

    /// Writes a part's opening lines before its first row.
    fn open(&mut self, k: usize) -> io::Result<()> {
        let first = self.first_ts_ns.unwrap_or(0);
        let o = &mut self.outputs[k];
        if !o.any_rows {
            o.any_rows = true;
            match o.part {
                Part::ZeekTsv => zeek::write_tsv_header(&mut o.out, first)?,
                part => part.write_csv_header(&mut o.out)?,
            }
        }
        Ok(())
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
            let last = zeek::last_ns_of(c);
            self.last_ts_ns = Some(self.last_ts_ns.map_or(last, |l| l.max(last)));
        }
        let parts: Vec<(Part, usize)> = self
            .outputs
            .iter()
            .map(|o| (o.part, o.bytes_per_conn))
            .collect();
        let rendered: Vec<io::Result<Vec<Vec<u8>>>> = conns
            .par_chunks(RENDER_CHUNK)
            .map(|chunk| {
                // A quarter more than the average, for the chunk's variety.
                let mut bufs: Vec<Vec<u8>> = parts
                    .iter()
                    .map(|&(_, n)| Vec::with_capacity(chunk.len() * (n + n / 4)))
                    .collect();
                for c in chunk {
                    for ((p, _), buf) in parts.iter().zip(&mut bufs) {
                        p.render(buf, file, c)?;
                    }
                }
                Ok(bufs)
            })
            .collect();
        let mut written = vec![0; parts.len()];
        for r in rendered {
            for (k, bytes) in r?.into_iter().enumerate() {
                if bytes.is_empty() {
                    continue;
                }
                written[k] += bytes.len();
                self.open(k)?;
                self.outputs[k].out.write_all(&bytes)?;
            }
        }
        if !conns.is_empty() {
            for (o, n) in self.outputs.iter_mut().zip(written) {
                o.bytes_per_conn = n / conns.len();
            }
        }
        // The Parquet tables, each on its own thread.
        #[cfg(feature = "parquet")]
        self.parquet
            .par_iter_mut()
            .map(|w| w.connections(file, conns))
            .collect::<io::Result<()>>()?;
        // Rows of a live capture reach the reader as they are finished.
        for o in &mut self.outputs {
            o.out.flush()?;
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
        // An empty log still opens at the capture's first frame.
        let earliest = analyses.iter().filter_map(|a| a.first_ts_ns).min();
        if let Some(t) = earliest {
            self.started_at(t);
        }
        let unattached_last = analyses
            .iter()
            .flat_map(|a| &a.zeek_unattached)
            .map(|r| r.last_ns)
            .max();
        let last = self
            .last_ts_ns
            .into_iter()
            .chain(unattached_last)
            .max()
            .unwrap_or(self.first_ts_ns.unwrap_or(0));
        let summary = Summary::with_totals(analyses, &self.totals);
        for k in 0..self.outputs.len() {
            match self.outputs[k].part {
                Part::ConnectionsJson => {
                    json::write_summary_line(&mut self.outputs[k].out, &summary)?
                }
                Part::ZeekJson => {
                    for r in analyses.iter().flat_map(unattached) {
                        json::write_line(&mut self.outputs[k].out, &r)?;
                    }
                }
                Part::ZeekTsv => {
                    self.open(k)?;
                    let o = &mut self.outputs[k];
                    let mut buf = Vec::new();
                    for r in analyses.iter().flat_map(|a| &a.zeek_unattached) {
                        zeek::write_tsv_record(&mut buf, r);
                    }
                    o.out.write_all(&buf)?;
                    zeek::write_tsv_close(&mut o.out, last)?;
                }
                Part::SummaryJson => json::write_summary_file(&mut self.outputs[k].out, &summary)?,
                // Still give consumers the header of an empty table.
                _ => self.open(k)?,
            }
            self.outputs[k].out.flush()?;
        }
        #[cfg(feature = "parquet")]
        for w in self.parquet {
            w.finish()?;
        }
        Ok(())
    }

    /// Writes analyses whose connections were kept, then finishes.
    pub fn write_all(mut self, analyses: &[Analysis]) -> io::Result<()> {
        if let Some(t) = analyses.iter().filter_map(|a| a.first_ts_ns).min() {
            self.started_at(t);
        }
        for (i, a) in analyses.iter().enumerate() {
            self.file(i);
            for chunk in a.connections.chunks(4096) {
                self.connections(i, &a.file, chunk)?;
            }
        }
        self.finish(analyses)
    }
}

/// The files of `--out-dir` ([`OUT_DIR_FILES`]) from finished analyses, each
/// written by `write_file(name, write)`, which chooses where the bytes go and
/// calls `write` with that writer. (The CLI streams the same files with a
/// [`StreamingReport`] instead.)
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
