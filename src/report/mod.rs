//! Reports: the connection table and state histories for people, CSV for
//! spreadsheets, JSON lines for programs, Zeek's conn.log for Zeek
//! pipelines, an HTML page ([`html`]), one connection's packet ladder
//! ([`show`]) and the CI gate ([`check`]).
//!
//! CSV and JSON arrange one shared row per connection, so the two can never
//! disagree, and each CSV header is the field names of its record type. CSV,
//! JSON lines and Zeek's conn.log (TSV and JSON) are written while the
//! analysis runs ([`StreamingReport`]); the table, in stream order under a
//! heading that counts its rows, sets each row aside in a temporary file
//! until every connection is in ([`TableReport`]). [`write_report`] writes
//! any format from finished analyses.

pub mod check;
mod columns;
mod csv;
pub mod diff;
pub mod extract;
pub mod filter;
mod format;
pub mod html;
mod json;
mod layout;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod rollup;
mod row;
pub mod show;
mod spill;
mod stream;
mod table;
mod zeek;

use std::io::{self, Write};

use crate::pipeline::Analysis;

pub use layout::Column;
pub use stream::{write_out_dir, Part, StreamingReport, OUT_DIR_FILES};
pub use table::{Style, TableReport};

/// The formats of `--format`: what [`write_report`] writes.
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
    /// One line (row, object) per connection.
    Connections,
    /// Every state transition of every connection (`--history`): the table
    /// lists them under each connection, CSV writes transitions.csv.
    History,
}

/// Writes all analyses in the chosen format. JSON always carries the
/// transitions, so `Report::History` changes only the table and CSV; Zeek's
/// formats ignore it.
pub fn write_report(
    out: &mut dyn Write,
    format: Format,
    report: Report,
    style: Style,
    analyses: &[Analysis],
) -> io::Result<()> {
    match (format, report) {
        (Format::Table, Report::Connections) => table::write_table(out, analyses, &style),
        (Format::Table, Report::History) => table::write_history_table(out, analyses, &style),
        _ => {
            let mut w = StreamingReport::new();
            w.add(Part::of(format, report), out);
            w.write_all(analyses)
        }
    }
}
