//! Reports: the connection table for people, CSV for spreadsheets, JSON lines
//! for programs. One serialisable row struct is the schema of both CSV and JSON,
//! so the two can never disagree.

pub mod check;
mod columns;
mod csv;
pub mod filter;
mod format;
pub mod html;
mod json;
mod row;
pub mod show;
mod stream;
mod table;
pub mod zeek;

use std::io::{self, Write};

use crate::pipeline::Analysis;

pub use format::{flag_letters, rfc3339_ns};
pub use stream::{write_out_dir, Part, StreamingReport, OUT_DIR_FILES};
pub use table::{write_accounting, Style};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal, with the frame accounting after each file.
    Table,
    /// One row per connection with a header line.
    Csv,
    /// JSON lines: one object per connection, then one `{"summary": ...}` object.
    Json,
    /// Zeek's conn.log, TSV with its header lines.
    Zeek,
    /// Zeek's conn.log as JSON lines.
    ZeekJson,
}

/// What to write: the connection report, or every connection's state history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// Connections.
    Connections,
    /// History.
    History,
}

/// Writes all analyses in the chosen format. JSON always carries the
/// transitions, so `Report::History` changes only the table and CSV.
pub fn write_report(
    out: &mut dyn Write,
    format: Format,
    report: Report,
    style: Style,
    analyses: &[Analysis],
) -> io::Result<()> {
    match (format, report) {
        (Format::Zeek, _) => zeek::write_conn_log(out, analyses, false),
        (Format::Table, Report::Connections) => table::write_table(out, analyses, style),
        (Format::Table, Report::History) => table::write_history_table(out, analyses),
        _ => {
            let mut w = StreamingReport::new();
            w.add(Part::of(format, report), out);
            w.write_all(analyses)
        }
    }
}
