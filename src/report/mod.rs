//! Reports: the connection table for people, CSV for spreadsheets, JSON lines
//! for programs. One serialisable row struct is the schema of both CSV and JSON,
//! so the two can never disagree.

pub mod check;
mod columns;
pub mod filter;
mod format;
pub mod html;
pub mod show;
pub mod zeek;

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::anomaly::{AnomalyCode, Severity};
use crate::flow::ClientReason;
use crate::model::Side;
use crate::pipeline::accounting::FrameAccounting;
use crate::pipeline::{Analysis, Connection, Summary, Totals, SCHEMA_VERSION};
use crate::tcp::machine::{Cause, Outcome, State, Transition};
use crate::tcp::sequence::Flag;

use columns::Columns;
pub use format::{flag_letters, rfc3339_ns};
use format::{relative, seconds};

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

/// A value per role, in JSON `{"client": x, "server": y}`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PerRole<T> {
    /// The client endpoint (`addr:port`).
    pub client: T,
    /// The server endpoint (`addr:port`).
    pub server: T,
}

/// One anomaly occurrence in JSON.
#[derive(Debug, Serialize)]
pub struct AnomalyJson<'a> {
    /// The anomaly code.
    pub code: AnomalyCode,
    /// How bad it is.
    pub severity: Severity,
    /// Wireshark frame number.
    pub frame: Option<u64>,
    /// The side concerned.
    pub side: Option<Side>,
    /// What exactly happened.
    pub detail: &'a str,
}

/// One transition in JSON.
#[derive(Debug, Serialize)]
pub struct TransitionJson {
    /// Wireshark frame number.
    pub frame: Option<u64>,
    /// Capture time, RFC 3339 UTC with nanoseconds.
    pub time: String,
    /// The side concerned.
    pub side: Side,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why, as a snake_case code.
    pub cause: Cause,
    /// Inferred without its triggering segment.
    pub inferred: bool,
    /// The frame that proves an inferred transition.
    pub evidence_frame: Option<u64>,
}

/// One connection as JSON shows it: the stable schema, in the schema's order.
#[derive(Debug, Serialize)]
pub struct ConnectionJson<'a> {
    /// Version of the JSON schema.
    pub schema_version: u32,
    /// The input's name as given (`-` for stdin).
    pub file: &'a str,
    /// Wireshark's tcp.stream index.
    pub stream: u64,
    /// A later part of a stream reported before: it went idle past the
    /// idle timeout (or was evicted for memory) and then carried on.
    pub continues: bool,
    /// The client endpoint (`addr:port`).
    pub client: String,
    /// The server endpoint (`addr:port`).
    pub server: String,
    /// Why that side is the client.
    pub client_reason: ClientReason,
    /// Frame number of the first packet.
    pub first_frame: u64,
    /// Frame number of the last packet.
    pub last_frame: u64,
    /// First packet's time, RFC 3339 UTC.
    pub start: String,
    /// Last packet's time, RFC 3339 UTC.
    pub end: String,
    /// Seconds from first to last packet.
    pub duration: f64,
    /// Packets per side.
    pub packets: PerRole<u64>,
    /// Payload bytes per side.
    pub bytes: PerRole<u64>,
    /// TCP flags.
    pub flags: PerRole<Vec<&'static str>>,
    /// States the client went through, initial first.
    pub client_states: Vec<State>,
    /// States the server went through, initial first.
    pub server_states: Vec<State>,
    /// The client's final state.
    pub client_state: State,
    /// The server's final state.
    pub server_state: State,
    /// How the connection ended.
    pub outcome: Outcome,
    /// Zeek's conn_state.
    pub conn_state: &'static str,
    /// Zeek's history letters.
    pub history: &'a str,
    /// Segments per sequence-analysis flag, per side.
    pub analysis: PerRole<&'a BTreeMap<&'static str, u64>>,
    /// Payload bytes retransmitted, per side.
    pub retransmitted_bytes: PerRole<u64>,
    /// Bytes of the two streams the capture missed (Zeek's missed_bytes).
    pub missed_bytes: u64,
    /// Handshake RTT (Wireshark's initial_rtt), seconds.
    pub irtt: IrttJson,
    /// Anomaly occurrences: the first 100 of each code.
    pub anomalies: Vec<AnomalyJson<'a>>,
    /// Occurrences of each code, listed or not.
    pub anomaly_counts: BTreeMap<&'static str, u64>,
    /// VLAN IDs of the first packet, outermost first.
    pub vlan: Vec<u16>,
    /// Tunnels of the first packet, outermost first (null when none).
    pub tunnel: Option<String>,
    /// Every state transition, in order.
    pub transitions: Vec<TransitionJson>,
}

/// The handshake RTT in seconds; null where the handshake was not seen.
#[derive(Debug, Serialize)]
pub struct IrttJson {
    /// Wireshark's tcp.analysis.initial_rtt.
    pub total: Option<f64>,
    /// SYN-ACK to ACK: the client's side of the capture point.
    pub client_side: Option<f64>,
    /// SYN to SYN-ACK: the server's side of the capture point.
    pub server_side: Option<f64>,
}

impl IrttJson {
    fn of(ac: &Connection) -> IrttJson {
        let r = ac.seq.handshake_rtt();
        IrttJson {
            total: r.total_ns.map(seconds),
            client_side: r.client_side_ns.map(seconds),
            server_side: r.server_side_ns.map(seconds),
        }
    }
}

/// One connection as a CSV row: the same facts as JSON, flattened; lists are
/// joined with spaces.
#[derive(Debug, Serialize)]
pub struct ConnectionCsv<'a> {
    /// The input's name as given (`-` for stdin).
    pub file: &'a str,
    /// Wireshark's tcp.stream index.
    pub stream: u64,
    /// A later part of a stream reported before: it went idle past the
    /// idle timeout (or was evicted for memory) and then carried on.
    pub continues: bool,
    /// The client endpoint (`addr:port`).
    pub client: String,
    /// The server endpoint (`addr:port`).
    pub server: String,
    /// Why that side is the client.
    pub client_reason: ClientReason,
    /// Frame number of the first packet.
    pub first_frame: u64,
    /// Frame number of the last packet.
    pub last_frame: u64,
    /// First packet's time, RFC 3339 UTC.
    pub start: String,
    /// Last packet's time, RFC 3339 UTC.
    pub end: String,
    /// Seconds from first to last packet.
    pub duration: f64,
    /// Packets the client sent.
    pub client_packets: u64,
    /// Packets the server sent.
    pub server_packets: u64,
    /// Payload bytes the client sent.
    pub client_bytes: u64,
    /// Payload bytes the server sent.
    pub server_bytes: u64,
    /// TCP flags the client sent (Wireshark letters).
    pub client_flags: String,
    /// TCP flags the server sent (Wireshark letters).
    pub server_flags: String,
    /// States the client went through, initial first.
    pub client_states: String,
    /// States the server went through, initial first.
    pub server_states: String,
    /// The client's final state.
    pub client_state: State,
    /// The server's final state.
    pub server_state: State,
    /// How the connection ended.
    pub outcome: Outcome,
    /// Zeek's conn_state.
    pub conn_state: &'static str,
    /// Zeek's history letters.
    pub history: &'a str,
    /// Retransmissions by the client.
    pub client_retransmissions: u64,
    /// Retransmissions by the server.
    pub server_retransmissions: u64,
    /// Payload bytes the client retransmitted.
    pub client_retransmitted_bytes: u64,
    /// Payload bytes the server retransmitted.
    pub server_retransmitted_bytes: u64,
    /// Duplicate ACKs the client sent.
    pub client_duplicate_acks: u64,
    /// Duplicate ACKs the server sent.
    pub server_duplicate_acks: u64,
    /// Bytes acknowledged but never captured (Zeek's missed_bytes).
    pub missed_bytes: u64,
    /// Handshake RTT (Wireshark's initial_rtt), seconds.
    pub irtt: Option<f64>,
    /// SYN-ACK to ACK, seconds.
    pub irtt_client_side: Option<f64>,
    /// SYN to SYN-ACK, seconds.
    pub irtt_server_side: Option<f64>,
    /// Every sequence-analysis flag with its count, `code=n` space-separated.
    pub client_analysis: String,
    /// The server's sequence-analysis counts as `code=n` pairs.
    pub server_analysis: String,
    /// Anomaly occurrences.
    pub anomalies: String,
    /// `200.300`, outermost first.
    pub vlan: String,
    /// The tunnel path.
    pub tunnel: String,
}

/// One transition as a CSV row (`--history --format csv`).
#[derive(Debug, Serialize)]
pub struct TransitionCsv<'a> {
    /// The input's name as given (`-` for stdin).
    pub file: &'a str,
    /// Wireshark's tcp.stream index.
    pub stream: u64,
    /// Wireshark frame number.
    pub frame: Option<u64>,
    /// Capture time, RFC 3339 UTC with nanoseconds.
    pub time: String,
    /// The side concerned.
    pub side: Side,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why, in words.
    pub cause: String,
    /// Inferred without its triggering segment.
    pub inferred: bool,
    /// The frame that proves an inferred transition.
    pub evidence_frame: Option<u64>,
}

fn transition_json(t: &Transition) -> TransitionJson {
    TransitionJson {
        frame: t.frame,
        time: rfc3339_ns(t.ts_ns),
        side: t.side,
        from: t.from,
        to: t.to,
        cause: t.cause,
        inferred: t.inferred,
        evidence_frame: t.evidence_frame,
    }
}

fn flag_count(ac: &Connection, side: Side, code: &str) -> u64 {
    ac.seq.stats(side).flags.get(code).copied().unwrap_or(0)
}

/// `retransmission=3 duplicate_ack=2`, in catalogue order.
fn counts_text(m: &BTreeMap<&'static str, u64>) -> String {
    Flag::ALL
        .iter()
        .filter_map(|f| m.get(f.code()).map(|n| format!("{}={n}", f.code())))
        .collect::<Vec<_>>()
        .join(" ")
}

fn states_text(v: &[State]) -> String {
    v.iter().map(|s| s.name()).collect::<Vec<_>>().join(" ")
}

/// Distinct anomaly codes of a connection, in order of first occurrence.
fn anomaly_codes(c: &Connection) -> Vec<&'static str> {
    let mut codes = Vec::new();
    for a in c.anomalies() {
        if !codes.contains(&a.code.code()) {
            codes.push(a.code.code());
        }
    }
    codes
}

impl<'a> ConnectionJson<'a> {
    /// A new, empty one.
    pub fn new(file: &'a str, ac: &'a Connection) -> ConnectionJson<'a> {
        let c = &ac.flow;
        let [cp, sp] = c.packets;
        let [cb, sb] = c.bytes;
        let [cf, sf] = c.flags;
        ConnectionJson {
            schema_version: SCHEMA_VERSION,
            file,
            stream: c.stream,
            continues: c.continues,
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
            client_states: ac.tcp.states(Side::Client),
            server_states: ac.tcp.states(Side::Server),
            client_state: ac.tcp.state(Side::Client),
            server_state: ac.tcp.state(Side::Server),
            outcome: ac.tcp.outcome(),
            conn_state: ac.zeek.conn_state(),
            history: ac.zeek.history(),
            analysis: PerRole {
                client: &ac.seq.stats(Side::Client).flags,
                server: &ac.seq.stats(Side::Server).flags,
            },
            retransmitted_bytes: PerRole {
                client: ac.seq.stats(Side::Client).retransmitted_bytes,
                server: ac.seq.stats(Side::Server).retransmitted_bytes,
            },
            missed_bytes: ac.zeek.missed_bytes(),
            irtt: IrttJson::of(ac),
            anomalies: ac
                .anomalies()
                .into_iter()
                .map(|a| AnomalyJson {
                    code: a.code,
                    severity: a.code.severity(),
                    frame: a.frame,
                    side: a.side,
                    detail: &a.detail,
                })
                .collect(),
            anomaly_counts: ac
                .anomaly_counts()
                .into_iter()
                .map(|(code, n)| (code.code(), n))
                .collect(),
            vlan: c.path.vlans.ids().collect(),
            tunnel: c.path.tunnel.as_ref().map(|t| t.to_string()),
            transitions: ac.tcp.transitions().map(transition_json).collect(),
        }
    }
}

impl<'a> ConnectionCsv<'a> {
    /// Built directly, not through the JSON row: CSV has no transitions to format.
    pub fn new(file: &'a str, ac: &'a Connection) -> ConnectionCsv<'a> {
        let c = &ac.flow;
        let irtt = IrttJson::of(ac);
        let [cp, sp] = c.packets;
        let [cb, sb] = c.bytes;
        let [cf, sf] = c.flags;
        ConnectionCsv {
            file,
            stream: c.stream,
            continues: c.continues,
            client: c.client().to_string(),
            server: c.server().to_string(),
            client_reason: c.client_reason,
            first_frame: c.first_frame,
            last_frame: c.last_frame,
            start: rfc3339_ns(c.start_ns),
            end: rfc3339_ns(c.end_ns),
            duration: seconds(c.duration_ns()),
            client_packets: cp,
            server_packets: sp,
            client_bytes: cb,
            server_bytes: sb,
            client_flags: flag_letters(cf),
            server_flags: flag_letters(sf),
            client_states: states_text(&ac.tcp.states(Side::Client)),
            server_states: states_text(&ac.tcp.states(Side::Server)),
            client_state: ac.tcp.state(Side::Client),
            server_state: ac.tcp.state(Side::Server),
            outcome: ac.tcp.outcome(),
            conn_state: ac.zeek.conn_state(),
            history: ac.zeek.history(),
            client_retransmissions: flag_count(ac, Side::Client, "retransmission"),
            server_retransmissions: flag_count(ac, Side::Server, "retransmission"),
            client_retransmitted_bytes: ac.seq.stats(Side::Client).retransmitted_bytes,
            server_retransmitted_bytes: ac.seq.stats(Side::Server).retransmitted_bytes,
            client_duplicate_acks: flag_count(ac, Side::Client, "duplicate_ack"),
            server_duplicate_acks: flag_count(ac, Side::Server, "duplicate_ack"),
            missed_bytes: ac.zeek.missed_bytes(),
            irtt: irtt.total,
            irtt_client_side: irtt.client_side,
            irtt_server_side: irtt.server_side,
            client_analysis: counts_text(&ac.seq.stats(Side::Client).flags),
            server_analysis: counts_text(&ac.seq.stats(Side::Server).flags),
            anomalies: anomaly_codes(ac).join(" "),
            vlan: c.path.vlans.to_string(),
            tunnel: c
                .path
                .tunnel
                .as_ref()
                .map_or(String::new(), |t| t.to_string()),
        }
    }
}

/// What to write: the connection report, or every connection's state history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// Connections.
    Connections,
    /// History.
    History,
}

/// Columns of the connections CSV, for the header of an empty report.
pub const CONNECTION_CSV_COLUMNS: [&str; 39] = [
    "file",
    "stream",
    "continues",
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
    "client_states",
    "server_states",
    "client_state",
    "server_state",
    "outcome",
    "conn_state",
    "history",
    "client_retransmissions",
    "server_retransmissions",
    "client_retransmitted_bytes",
    "server_retransmitted_bytes",
    "client_duplicate_acks",
    "server_duplicate_acks",
    "missed_bytes",
    "irtt",
    "irtt_client_side",
    "irtt_server_side",
    "client_analysis",
    "server_analysis",
    "anomalies",
    "vlan",
    "tunnel",
];

/// Columns of the transitions CSV.
pub const TRANSITION_CSV_COLUMNS: [&str; 10] = [
    "file",
    "stream",
    "frame",
    "time",
    "side",
    "from",
    "to",
    "cause",
    "inferred",
    "evidence_frame",
];

/// How the text table looks: colour (a terminal, `NO_COLOR` unset) and the
/// width to trim the widest columns to (a terminal's width).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// Use ANSI colours.
    pub color: bool,
    /// Terminal width to trim to, if any.
    pub width: Option<usize>,
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
        (Format::Zeek, _) => crate::report::zeek::write_conn_log(out, analyses, false),
        (Format::Table, Report::Connections) => write_table(out, analyses, style),
        (Format::Table, Report::History) => write_history_table(out, analyses),
        _ => {
            let mut w = StreamingReport::new();
            w.add(Part::of(format, report), out);
            w.write_all(analyses)
        }
    }
}

/// One anomaly occurrence as a row of anomalies.csv.
#[derive(Debug, Serialize)]
pub struct AnomalyCsv<'a> {
    /// The input's name as given (`-` for stdin).
    pub file: &'a str,
    /// Wireshark's tcp.stream index.
    pub stream: u64,
    /// The anomaly code.
    pub code: AnomalyCode,
    /// How bad it is.
    pub severity: Severity,
    /// Wireshark frame number.
    pub frame: Option<u64>,
    /// The side concerned.
    pub side: Option<Side>,
    /// What exactly happened.
    pub detail: &'a str,
}

/// Columns of anomalies.csv.
pub const ANOMALY_CSV_COLUMNS: [&str; 7] = [
    "file", "stream", "code", "severity", "frame", "side", "detail",
];

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

fn write_csv_header(out: &mut impl Write, header: &[&str]) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header)?;
    w.flush()
}

fn json_line(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// The files of `--out-dir` and what each holds.
pub const OUT_DIR_FILES: [(&str, Part); 4] = [
    ("connections.csv", Part::ConnectionsCsv),
    ("transitions.csv", Part::TransitionsCsv),
    ("anomalies.csv", Part::AnomaliesCsv),
    ("summary.json", Part::SummaryJson),
];

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

/// The short summary the table starts with: captures, frames, connections by
/// outcome, anomalies by code (with severity), frame accounting.
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

/// ANSI colour by severity, when the style allows it.
fn paint(style: Style, severity: Option<Severity>, text: &str) -> String {
    let code = match severity {
        _ if !style.color => return text.to_string(),
        Some(Severity::Error) => "31",
        Some(Severity::Warning) => "33",
        _ => return text.to_string(),
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The file heading of the table reports.
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

/// The closing lines of the table reports: accounting, reuse, error.
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
fn write_table(out: &mut dyn Write, analyses: &[Analysis], style: Style) -> io::Result<()> {
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
                ac.tcp.state(Side::Client).to_string(),
                ac.tcp.state(Side::Server).to_string(),
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
        }
        write_file_footer(out, a)?;
    }
    Ok(())
}

/// Per connection a line on how it went, its transitions as
/// `FRAME TIME SIDE TRANSITION CAUSE` and its anomalies.
fn write_history_table(out: &mut dyn Write, analyses: &[Analysis]) -> io::Result<()> {
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

/// The accounting line, then one indented line per non-empty breakdown.
pub fn write_accounting(out: &mut dyn Write, a: &FrameAccounting) -> io::Result<()> {
    write!(
        out,
        "frames: {} = tcp {} + other IP {} + non-IP {} + undecodable {}",
        a.frames, a.tcp, a.other_ip, a.non_ip, a.undecodable
    )?;
    if a.ip_fragments > 0 {
        write!(out, " + IP fragments {}", a.ip_fragments)?;
    }
    writeln!(out)?;
    fn named<K: std::fmt::Display>(m: &std::collections::BTreeMap<K, u64>) -> Vec<String> {
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
