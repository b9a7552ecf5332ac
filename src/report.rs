//! Reports: the connection table for people, CSV for spreadsheets, JSON lines
//! for programs. One serialisable row struct is the schema of both CSV and JSON,
//! so the two can never disagree.

use std::io::{self, Write};

use serde::Serialize;

use crate::accounting::FrameAccounting;
use crate::analysis::CaptureAnalysis;
use crate::decode::TcpFlags;
use crate::flow::{ClientReason, Connection};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal, with the frame accounting after each file.
    Table,
    /// One row per connection with a header line.
    Csv,
    /// JSON lines: one object per connection, then one `{"summary": ...}` object.
    Json,
}

/// A value per role, in JSON `{"client": x, "server": y}`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PerRole<T> {
    pub client: T,
    pub server: T,
}

/// One connection as JSON shows it. Field order is the schema's order.
#[derive(Debug, Serialize)]
pub struct ConnectionJson<'a> {
    pub file: &'a str,
    pub stream: u64,
    pub client: String,
    pub server: String,
    pub client_reason: ClientReason,
    pub first_frame: u64,
    pub last_frame: u64,
    pub start: String,
    pub end: String,
    pub duration: f64,
    pub packets: PerRole<u64>,
    pub bytes: PerRole<u64>,
    pub flags: PerRole<Vec<&'static str>>,
}

/// One connection as a CSV row: the same facts as JSON, flattened.
#[derive(Debug, Serialize)]
pub struct ConnectionCsv<'a> {
    pub file: &'a str,
    pub stream: u64,
    pub client: String,
    pub server: String,
    pub client_reason: ClientReason,
    pub first_frame: u64,
    pub last_frame: u64,
    pub start: String,
    pub end: String,
    pub duration: f64,
    pub client_packets: u64,
    pub server_packets: u64,
    pub client_bytes: u64,
    pub server_bytes: u64,
    pub client_flags: String,
    pub server_flags: String,
}

/// Per-file part of the summary object.
#[derive(Debug, Serialize)]
pub struct FileSummary<'a> {
    pub file: &'a str,
    pub format: Option<String>,
    pub compressed: bool,
    pub connections: usize,
    pub port_reuses: u64,
    #[serde(flatten)]
    pub accounting: &'a FrameAccounting,
    pub error: Option<String>,
}

/// The final JSON object: totals over all files and each file's accounting.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub files: Vec<FileSummary<'a>>,
    pub frames: u64,
    pub tcp: u64,
    pub other_ip: u64,
    pub non_ip: u64,
    pub undecodable: u64,
    pub connections: usize,
    pub errors: usize,
}

impl<'a> Summary<'a> {
    pub fn of(analyses: &'a [CaptureAnalysis]) -> Summary<'a> {
        let files: Vec<FileSummary<'a>> = analyses.iter().map(file_summary).collect();
        let sum = |f: fn(&FrameAccounting) -> u64| analyses.iter().map(|a| f(&a.accounting)).sum();
        Summary {
            frames: sum(|a| a.frames),
            tcp: sum(|a| a.tcp),
            other_ip: sum(|a| a.other_ip),
            non_ip: sum(|a| a.non_ip),
            undecodable: sum(|a| a.undecodable),
            connections: analyses.iter().map(|a| a.connections.len()).sum(),
            errors: analyses.iter().filter(|a| a.error.is_some()).count(),
            files,
        }
    }
}

fn file_summary(a: &CaptureAnalysis) -> FileSummary<'_> {
    FileSummary {
        file: &a.file,
        format: a.format.map(|f| f.to_string()),
        compressed: a.compressed,
        connections: a.connections.len(),
        port_reuses: a.port_reuses,
        accounting: &a.accounting,
        error: a.error.as_ref().map(|e| e.to_string()),
    }
}

/// Capture time as RFC 3339 UTC with nanoseconds: `2026-01-01T00:00:00.000000000Z`.
pub fn rfc3339_ns(ts_ns: i64) -> String {
    use time::macros::format_description;
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(ts_ns as i128)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| format!("{ts_ns}ns"))
}

/// Flags as Wireshark's one-letter codes in its order (N C E U A P R S F), e.g. `SAPF`.
pub fn flag_letters(f: TcpFlags) -> String {
    const LETTERS: [(u16, char); 9] = [
        (TcpFlags::NS, 'N'),
        (TcpFlags::CWR, 'C'),
        (TcpFlags::ECE, 'E'),
        (TcpFlags::URG, 'U'),
        (TcpFlags::ACK, 'A'),
        (TcpFlags::PSH, 'P'),
        (TcpFlags::RST, 'R'),
        (TcpFlags::SYN, 'S'),
        (TcpFlags::FIN, 'F'),
    ];
    let s: String = LETTERS
        .iter()
        .filter(|(b, _)| f.0 & b != 0)
        .map(|&(_, c)| c)
        .collect();
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

fn seconds(ns: i64) -> f64 {
    ns as f64 / 1e9
}

impl<'a> ConnectionJson<'a> {
    pub fn new(file: &'a str, c: &Connection) -> ConnectionJson<'a> {
        let (cp, sp) = c.by_role(c.packets);
        let (cb, sb) = c.by_role(c.bytes);
        let (cf, sf) = c.by_role(c.flags);
        ConnectionJson {
            file,
            stream: c.stream,
            client: c.client().to_string(),
            server: c.server().to_string(),
            client_reason: c.client_reason,
            first_frame: c.first_frame,
            last_frame: c.last_frame,
            start: rfc3339_ns(c.start_ns),
            end: rfc3339_ns(c.end_ns),
            duration: seconds(c.duration_ns()),
            packets: PerRole {
                client: cp,
                server: sp,
            },
            bytes: PerRole {
                client: cb,
                server: sb,
            },
            flags: PerRole {
                client: cf.names().collect(),
                server: sf.names().collect(),
            },
        }
    }
}

impl<'a> ConnectionCsv<'a> {
    pub fn new(file: &'a str, c: &Connection) -> ConnectionCsv<'a> {
        let j = ConnectionJson::new(file, c);
        let (cf, sf) = c.by_role(c.flags);
        ConnectionCsv {
            file,
            stream: j.stream,
            client: j.client,
            server: j.server,
            client_reason: j.client_reason,
            first_frame: j.first_frame,
            last_frame: j.last_frame,
            start: j.start,
            end: j.end,
            duration: j.duration,
            client_packets: j.packets.client,
            server_packets: j.packets.server,
            client_bytes: j.bytes.client,
            server_bytes: j.bytes.server,
            client_flags: flag_letters(cf),
            server_flags: flag_letters(sf),
        }
    }
}

/// Writes all analyses in the chosen format.
pub fn write_report(
    out: &mut dyn Write,
    format: Format,
    analyses: &[CaptureAnalysis],
) -> io::Result<()> {
    match format {
        Format::Table => write_table(out, analyses),
        Format::Csv => write_csv(out, analyses),
        Format::Json => write_json(out, analyses),
    }
}

fn write_json(out: &mut dyn Write, analyses: &[CaptureAnalysis]) -> io::Result<()> {
    for a in analyses {
        for c in &a.connections {
            serde_json::to_writer(&mut *out, &ConnectionJson::new(&a.file, c))?;
            out.write_all(b"\n")?;
        }
    }
    #[derive(Serialize)]
    struct Wrapper<'a> {
        summary: Summary<'a>,
    }
    serde_json::to_writer(
        &mut *out,
        &Wrapper {
            summary: Summary::of(analyses),
        },
    )?;
    out.write_all(b"\n")
}

fn write_csv(out: &mut dyn Write, analyses: &[CaptureAnalysis]) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut any = false;
    for a in analyses {
        for c in &a.connections {
            w.serialize(ConnectionCsv::new(&a.file, c))?;
            any = true;
        }
    }
    if !any {
        // Still give consumers the header of an empty table.
        w.write_record([
            "file",
            "stream",
            "client",
            "server",
            "client_reason",
            "first_frame",
            "last_frame",
            "start",
            "end",
            "duration",
            "client_packets",
            "server_packets",
            "client_bytes",
            "server_bytes",
            "client_flags",
            "server_flags",
        ])?;
    }
    w.flush()
}

fn write_table(out: &mut dyn Write, analyses: &[CaptureAnalysis]) -> io::Result<()> {
    for (i, a) in analyses.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let format = match a.format {
            Some(f) if a.compressed => format!("{f}, gzip"),
            Some(f) => f.to_string(),
            None => "unreadable".into(),
        };
        let first_ts = a.connections.iter().map(|c| c.start_ns).min();
        write!(
            out,
            "# {} ({format}): {} connections",
            a.file,
            a.connections.len()
        )?;
        if let Some(t) = first_ts {
            write!(out, ", first at {}", rfc3339_ns(t))?;
        }
        writeln!(out)?;
        let header = [
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
        ];
        let rows: Vec<[String; 10]> = a
            .connections
            .iter()
            .map(|c| {
                let (cp, sp) = c.by_role(c.packets);
                let (cb, sb) = c.by_role(c.bytes);
                let (cf, sf) = c.by_role(c.flags);
                [
                    c.stream.to_string(),
                    c.client().to_string(),
                    c.server().to_string(),
                    c.first_frame.to_string(),
                    c.last_frame.to_string(),
                    format!("{:.6}", seconds(c.start_ns - first_ts.unwrap_or(0))),
                    format!("{:.6}", seconds(c.duration_ns())),
                    format!("{cp}/{sp}"),
                    format!("{cb}/{sb}"),
                    format!("{}/{}", flag_letters(cf), flag_letters(sf)),
                ]
            })
            .collect();
        if !rows.is_empty() {
            let mut widths = header.map(str::len);
            for r in &rows {
                for (w, cell) in widths.iter_mut().zip(r) {
                    *w = (*w).max(cell.len());
                }
            }
            write_cells(out, &header.map(String::from), &widths)?;
            for r in &rows {
                write_cells(out, r, &widths)?;
            }
        }
        write_accounting(out, &a.accounting)?;
        if a.port_reuses > 0 {
            writeln!(
                out,
                "port reuse: {} new connection(s) on an endpoint pair seen before",
                a.port_reuses
            )?;
        }
        if let Some(e) = &a.error {
            writeln!(out, "error: {e}")?;
        }
    }
    Ok(())
}

fn write_cells(out: &mut dyn Write, cells: &[String; 10], widths: &[usize; 10]) -> io::Result<()> {
    let mut line = String::new();
    for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
        if i + 1 == cells.len() {
            line.push_str(c);
        } else {
            line.push_str(&format!("{c:<w$}  "));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

/// The accounting line, then one indented line per non-empty breakdown.
pub fn write_accounting(out: &mut dyn Write, a: &FrameAccounting) -> io::Result<()> {
    writeln!(
        out,
        "frames: {} = tcp {} + other IP {} + non-IP {} + undecodable {}",
        a.frames, a.tcp, a.other_ip, a.non_ip, a.undecodable
    )?;
    fn named<K: std::fmt::Display>(m: &std::collections::BTreeMap<K, u64>) -> Vec<String> {
        m.iter().map(|(k, v)| format!("{k} {v}")).collect()
    }
    let breakdowns = [
        ("other IP", named(&a.other_ip_by_protocol)),
        ("non-IP", named(&a.non_ip_by_kind)),
        ("undecodable", named(&a.undecodable_by_reason)),
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_nanoseconds() {
        assert_eq!(
            rfc3339_ns(1_767_225_600_000_000_001),
            "2026-01-01T00:00:00.000000001Z"
        );
    }

    #[test]
    fn flag_letters_follow_wireshark_order() {
        let f = TcpFlags(TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN | TcpFlags::PSH);
        assert_eq!(flag_letters(f), "APSF");
        assert_eq!(flag_letters(TcpFlags(0)), "-");
    }
}
