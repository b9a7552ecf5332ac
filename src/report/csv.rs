//! The CSV reports: connections.csv (one record per connection),
//! transitions.csv (`--history`, one per state transition) and
//! anomalies.csv (one per listed anomaly occurrence).
//!
//! Each is one `#[derive(Serialize)]` record type, and its header is what the
//! `csv` crate writes for that type: the serde field names, in field order.
//! A column cannot be added, renamed or moved without the header following.

use std::io::{self, Write};

use serde::Serialize;

use crate::anomaly::{Anomaly, AnomalyCode, Severity};
use crate::flow::ClientReason;
use crate::model::Side;
use crate::pipeline::Connection;
use crate::tcp::machine::{Outcome, State, Transition};
use crate::tcp::sequence::Flag;

use super::format::{flag_letters, rfc3339_ns};
use super::row::{anomaly_codes, flag_count, ConnectionRow, TimeInState};

/// A record type of a CSV report.
pub(super) trait Record: Serialize {
    /// Any record of the type, serialised only for its header (the field
    /// names), so that a report with no records still has one.
    fn example() -> Self;
}

/// One connection as a record of connections.csv: the shared row flattened,
/// lists joined with spaces.
#[derive(Serialize)]
pub(super) struct ConnectionCsv<'r> {
    /// First, so `sort -n` gives Wireshark's order (rows come as connections finish).
    stream: u64,
    file: &'r str,
    continues: bool,
    client: &'r str,
    server: &'r str,
    client_reason: ClientReason,
    first_frame: u64,
    last_frame: u64,
    start: &'r str,
    end: &'r str,
    duration: f64,
    client_packets: u64,
    server_packets: u64,
    client_bytes: u64,
    server_bytes: u64,
    /// Wireshark's flag letters, e.g. `SAPF`.
    client_flags: String,
    server_flags: String,
    client_states: String,
    server_states: String,
    client_state: State,
    server_state: State,
    /// The final state rests on inferred transitions.
    client_state_inferred: bool,
    server_state_inferred: bool,
    outcome: Outcome,
    conn_state: &'static str,
    history: &'r str,
    client_retransmissions: u64,
    server_retransmissions: u64,
    client_retransmitted_bytes: u64,
    server_retransmitted_bytes: u64,
    client_duplicate_acks: u64,
    server_duplicate_acks: u64,
    missed_bytes: u64,
    irtt: Option<f64>,
    irtt_client_side: Option<f64>,
    irtt_server_side: Option<f64>,
    /// Every sequence-analysis flag with its count, `code=n` space-separated.
    client_analysis: String,
    server_analysis: String,
    /// The distinct anomaly codes, in order of first occurrence.
    anomalies: String,
    /// VLAN IDs, `200.300`, outermost first.
    vlan: String,
    tunnel: &'r str,
    /// The Community ID v1 of the endpoints.
    community_id: &'r str,
    /// Seconds in each state, `STATE=seconds` space-separated, in the order
    /// first entered.
    client_time_in_state: String,
    server_time_in_state: String,
    /// ACK round-trip times of the client's ACKs, seconds (empty without samples).
    client_ack_rtt_min: Option<f64>,
    client_ack_rtt_median: Option<f64>,
    client_ack_rtt_p95: Option<f64>,
    client_ack_rtt_max: Option<f64>,
    client_ack_rtt_samples: u64,
    server_ack_rtt_min: Option<f64>,
    server_ack_rtt_median: Option<f64>,
    server_ack_rtt_p95: Option<f64>,
    server_ack_rtt_max: Option<f64>,
    server_ack_rtt_samples: u64,
}

/// One state transition as a record of transitions.csv; `cause` is in words.
#[derive(Serialize)]
pub(super) struct TransitionCsv<'a> {
    stream: u64,
    file: &'a str,
    frame: Option<u64>,
    time: String,
    side: Side,
    from: State,
    to: State,
    cause: String,
    inferred: bool,
    evidence_frame: Option<u64>,
}

/// One anomaly occurrence as a record of anomalies.csv.
#[derive(Serialize)]
pub(super) struct AnomalyCsv<'a> {
    stream: u64,
    file: &'a str,
    code: AnomalyCode,
    severity: Severity,
    frame: Option<u64>,
    side: Option<Side>,
    detail: &'a str,
}

impl<'r> ConnectionCsv<'r> {
    /// The record of a row, as serde sees it (the reference of the direct writer).
    #[cfg(test)]
    fn new(row: &'r ConnectionRow<'r>) -> ConnectionCsv<'r> {
        let ac = row.conn;
        let c = &ac.flow;
        ConnectionCsv {
            file: row.file,
            stream: row.stream,
            continues: row.continues,
            client: &row.client,
            server: &row.server,
            client_reason: row.client_reason,
            first_frame: row.first_frame,
            last_frame: row.last_frame,
            start: &row.start,
            end: &row.end,
            duration: row.duration,
            client_packets: row.packets.client,
            server_packets: row.packets.server,
            client_bytes: row.bytes.client,
            server_bytes: row.bytes.server,
            client_flags: flag_letters(c.flags[Side::Client.idx()]),
            server_flags: flag_letters(c.flags[Side::Server.idx()]),
            client_states: states_text(&row.states.client),
            server_states: states_text(&row.states.server),
            client_state: row.state.client,
            server_state: row.state.server,
            client_state_inferred: row.state_inferred.client,
            server_state_inferred: row.state_inferred.server,
            outcome: row.outcome,
            conn_state: row.conn_state,
            history: row.history,
            client_retransmissions: flag_count(ac, Side::Client, "retransmission"),
            server_retransmissions: flag_count(ac, Side::Server, "retransmission"),
            client_retransmitted_bytes: row.retransmitted_bytes.client,
            server_retransmitted_bytes: row.retransmitted_bytes.server,
            client_duplicate_acks: flag_count(ac, Side::Client, "duplicate_ack"),
            server_duplicate_acks: flag_count(ac, Side::Server, "duplicate_ack"),
            missed_bytes: row.missed_bytes,
            irtt: row.irtt.total,
            irtt_client_side: row.irtt.client_side,
            irtt_server_side: row.irtt.server_side,
            client_analysis: analysis_text(ac, Side::Client),
            server_analysis: analysis_text(ac, Side::Server),
            anomalies: anomaly_codes(ac).join(" "),
            vlan: c.path.vlans.to_string(),
            tunnel: row.tunnel.as_deref().unwrap_or(""),
            community_id: row.community_id,
            client_time_in_state: time_in_state_text(&row.time_in_state.client),
            server_time_in_state: time_in_state_text(&row.time_in_state.server),
            client_ack_rtt_min: row.ack_rtt.client.min,
            client_ack_rtt_median: row.ack_rtt.client.median,
            client_ack_rtt_p95: row.ack_rtt.client.p95,
            client_ack_rtt_max: row.ack_rtt.client.max,
            client_ack_rtt_samples: row.ack_rtt.client.samples,
            server_ack_rtt_min: row.ack_rtt.server.min,
            server_ack_rtt_median: row.ack_rtt.server.median,
            server_ack_rtt_p95: row.ack_rtt.server.p95,
            server_ack_rtt_max: row.ack_rtt.server.max,
            server_ack_rtt_samples: row.ack_rtt.server.samples,
        }
    }
}

impl Record for ConnectionCsv<'_> {
    fn example() -> Self {
        ConnectionCsv {
            file: "",
            stream: 0,
            continues: false,
            client: "",
            server: "",
            client_reason: ClientReason::Syn,
            first_frame: 0,
            last_frame: 0,
            start: "",
            end: "",
            duration: 0.0,
            client_packets: 0,
            server_packets: 0,
            client_bytes: 0,
            server_bytes: 0,
            client_flags: String::new(),
            server_flags: String::new(),
            client_states: String::new(),
            server_states: String::new(),
            client_state: State::Closed,
            server_state: State::Closed,
            client_state_inferred: false,
            server_state_inferred: false,
            outcome: Outcome::Closed,
            conn_state: "",
            history: "",
            client_retransmissions: 0,
            server_retransmissions: 0,
            client_retransmitted_bytes: 0,
            server_retransmitted_bytes: 0,
            client_duplicate_acks: 0,
            server_duplicate_acks: 0,
            missed_bytes: 0,
            irtt: None,
            irtt_client_side: None,
            irtt_server_side: None,
            client_analysis: String::new(),
            server_analysis: String::new(),
            anomalies: String::new(),
            vlan: String::new(),
            tunnel: "",
            community_id: "",
            client_time_in_state: String::new(),
            server_time_in_state: String::new(),
            client_ack_rtt_min: None,
            client_ack_rtt_median: None,
            client_ack_rtt_p95: None,
            client_ack_rtt_max: None,
            client_ack_rtt_samples: 0,
            server_ack_rtt_min: None,
            server_ack_rtt_median: None,
            server_ack_rtt_p95: None,
            server_ack_rtt_max: None,
            server_ack_rtt_samples: 0,
        }
    }
}

impl<'a> TransitionCsv<'a> {
    fn new(file: &'a str, stream: u64, t: &Transition) -> TransitionCsv<'a> {
        TransitionCsv {
            file,
            stream,
            frame: t.frame,
            time: rfc3339_ns(t.ts_ns),
            side: t.side,
            from: t.from,
            to: t.to,
            cause: t.cause.to_string(),
            inferred: t.inferred,
            evidence_frame: t.evidence_frame,
        }
    }
}

impl Record for TransitionCsv<'_> {
    fn example() -> Self {
        TransitionCsv {
            file: "",
            stream: 0,
            frame: None,
            time: String::new(),
            side: Side::Client,
            from: State::Closed,
            to: State::Closed,
            cause: String::new(),
            inferred: false,
            evidence_frame: None,
        }
    }
}

impl<'a> AnomalyCsv<'a> {
    fn new(file: &'a str, stream: u64, a: &'a Anomaly) -> AnomalyCsv<'a> {
        AnomalyCsv {
            file,
            stream,
            code: a.code,
            severity: a.code.severity(),
            frame: a.frame,
            side: a.side,
            detail: &a.detail,
        }
    }
}

impl Record for AnomalyCsv<'_> {
    fn example() -> Self {
        AnomalyCsv {
            file: "",
            stream: 0,
            code: AnomalyCode::ALL[0],
            severity: Severity::Info,
            frame: None,
            side: None,
            detail: "",
        }
    }
}

/// `CLOSED SYN_SENT ESTABLISHED`.
fn states_text(v: &[State]) -> String {
    v.iter().map(|s| s.name()).collect::<Vec<_>>().join(" ")
}

/// `CLOSED=0.0 SYN_SENT=0.000015 ESTABLISHED=0.200672`.
fn time_in_state_text(t: &TimeInState) -> String {
    let mut s = String::new();
    for (state, secs) in &t.0 {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(state.name());
        s.push('=');
        s.push_str(ryu::Buffer::new().format(*secs));
    }
    s
}

/// `retransmission=3 duplicate_ack=2`: the flags one side's segments got,
/// in catalogue order.
fn analysis_text(ac: &Connection, side: Side) -> String {
    let m = &ac.seq.stats(side).flags;
    Flag::ALL
        .iter()
        .filter_map(|f| m.get(f.code()).map(|n| format!("{}={n}", f.code())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes the header line of record type `R`.
pub(super) fn write_header<R: Record>(out: &mut dyn Write) -> io::Result<()> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.serialize(R::example())?;
    let text = w.into_inner().map_err(|e| e.into_error())?;
    // The header is the first line; the example record after it is dropped.
    let end = text
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| i + 1);
    out.write_all(&text[..end])
}

/// Appends `records` to `buf` as CSV lines, without a header.
fn append<R: Serialize>(buf: &mut Vec<u8>, records: impl IntoIterator<Item = R>) -> io::Result<()> {
    let mut w = ::csv::WriterBuilder::new()
        .has_headers(false)
        .buffer_capacity(1024)
        .from_writer(std::mem::take(buf));
    for r in records {
        w.serialize(r)?;
    }
    *buf = w.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}

/// Appends a connection's record of connections.csv to `buf`: the fields
/// of [`ConnectionCsv`] in its order, written directly rather than through
/// serde and the csv crate (a quarter of a CSV run's time went there), with
/// the same bytes (`direct_records_are_the_csv_crates_records` checks it).
pub(super) fn write_connection(buf: &mut Vec<u8>, row: &ConnectionRow) -> io::Result<()> {
    let ac = row.conn;
    let c = &ac.flow;
    let (client, server) = (Side::Client, Side::Server);
    let mut w = Line { buf, first: true };
    w.u64(row.stream);
    w.str(row.file);
    w.bool(row.continues);
    w.str(&row.client);
    w.str(&row.server);
    w.str(row.client_reason.name());
    w.u64(row.first_frame);
    w.u64(row.last_frame);
    w.str(&row.start);
    w.str(&row.end);
    w.f64(row.duration);
    w.u64(row.packets.client);
    w.u64(row.packets.server);
    w.u64(row.bytes.client);
    w.u64(row.bytes.server);
    w.str(&flag_letters(c.flags[client.idx()]));
    w.str(&flag_letters(c.flags[server.idx()]));
    w.str(&states_text(&row.states.client));
    w.str(&states_text(&row.states.server));
    w.str(row.state.client.name());
    w.str(row.state.server.name());
    w.bool(row.state_inferred.client);
    w.bool(row.state_inferred.server);
    w.str(row.outcome.name());
    w.str(row.conn_state);
    w.str(row.history);
    w.u64(flag_count(ac, client, "retransmission"));
    w.u64(flag_count(ac, server, "retransmission"));
    w.u64(row.retransmitted_bytes.client);
    w.u64(row.retransmitted_bytes.server);
    w.u64(flag_count(ac, client, "duplicate_ack"));
    w.u64(flag_count(ac, server, "duplicate_ack"));
    w.u64(row.missed_bytes);
    w.opt_f64(row.irtt.total);
    w.opt_f64(row.irtt.client_side);
    w.opt_f64(row.irtt.server_side);
    w.str(&analysis_text(ac, client));
    w.str(&analysis_text(ac, server));
    w.str(&anomaly_codes(ac).join(" "));
    w.str(&c.path.vlans.to_string());
    w.str(row.tunnel.as_deref().unwrap_or(""));
    w.str(row.community_id);
    w.str(&time_in_state_text(&row.time_in_state.client));
    w.str(&time_in_state_text(&row.time_in_state.server));
    for side in Side::BOTH {
        let r = row.ack_rtt.of(side);
        w.opt_f64(r.min);
        w.opt_f64(r.median);
        w.opt_f64(r.p95);
        w.opt_f64(r.max);
        w.u64(r.samples);
    }
    w.buf.push(b'\n');
    Ok(())
}

/// One CSV record being appended, as the csv crate writes it by default:
/// fields separated by commas, a field quoted (its quotes doubled) when it
/// holds a comma, a quote, CR or LF; numbers as itoa and ryu write them.
struct Line<'b> {
    buf: &'b mut Vec<u8>,
    first: bool,
}

impl Line<'_> {
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    fn str(&mut self, s: &str) {
        self.sep();
        if !s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
            self.buf.extend_from_slice(s.as_bytes());
            return;
        }
        self.buf.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                self.buf.push(b'"');
            }
            self.buf.push(b);
        }
        self.buf.push(b'"');
    }

    fn u64(&mut self, v: u64) {
        self.sep();
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    fn bool(&mut self, v: bool) {
        self.sep();
        self.buf
            .extend_from_slice(if v { b"true" as &[u8] } else { b"false" });
    }

    fn f64(&mut self, v: f64) {
        self.sep();
        self.buf
            .extend_from_slice(ryu::Buffer::new().format(v).as_bytes());
    }

    fn opt_f64(&mut self, v: Option<f64>) {
        match v {
            Some(v) => self.f64(v),
            None => self.sep(),
        }
    }
}

/// Appends the records of transitions.csv for connection `c` of `file`.
pub(super) fn write_transitions(buf: &mut Vec<u8>, file: &str, c: &Connection) -> io::Result<()> {
    let stream = c.flow.stream;
    append(
        buf,
        c.tcp
            .transitions()
            .map(|t| TransitionCsv::new(file, stream, t)),
    )
}

/// Appends the records of anomalies.csv for connection `c` of `file`.
pub(super) fn write_anomalies(buf: &mut Vec<u8>, file: &str, c: &Connection) -> io::Result<()> {
    let stream = c.flow.stream;
    append(
        buf,
        c.anomalies()
            .into_iter()
            .map(|a| AnomalyCsv::new(file, stream, a)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Analyzer;

    fn header<R: Record>() -> Vec<u8> {
        let mut out = Vec::new();
        write_header::<R>(&mut out).unwrap();
        out
    }

    /// The header line csv writes in front of `records` (at least one).
    fn header_before(records: impl IntoIterator<Item = impl Serialize>) -> Vec<u8> {
        let mut w = ::csv::Writer::from_writer(Vec::new());
        for r in records {
            w.serialize(r).unwrap();
        }
        let mut text = w.into_inner().unwrap();
        text.truncate(text.iter().position(|&b| b == b'\n').unwrap() + 1);
        text
    }

    #[test]
    fn direct_records_are_the_csv_crates_records() {
        let captures = crate::test_support::shipped_captures();
        let mut rows = 0;
        for path in &captures {
            let Ok(a) = Analyzer::new().analyze_path(path) else {
                continue;
            };
            // A name that needs quoting, too.
            for file in [path.as_str(), "a,\"b\"\nc"] {
                for c in &a.connections {
                    let row = ConnectionRow::new(file, c);
                    let mut direct = Vec::new();
                    write_connection(&mut direct, &row).unwrap();
                    let mut serde = Vec::new();
                    append(&mut serde, [ConnectionCsv::new(&row)]).unwrap();
                    assert_eq!(
                        String::from_utf8(direct).unwrap(),
                        String::from_utf8(serde).unwrap()
                    );
                    rows += 1;
                }
            }
        }
        assert!(rows > 100, "{rows}");
    }

    #[test]
    fn empty_reports_get_the_header_of_real_records() {
        let a = Analyzer::new()
            .analyze_path("testdata/real/several_conns.pcap")
            .unwrap();
        let c = &a.connections[0];
        let row = ConnectionRow::new(&a.file, c);
        assert_eq!(
            header::<ConnectionCsv>(),
            header_before([ConnectionCsv::new(&row)])
        );
        let transitions = c.tcp.transitions();
        assert_eq!(
            header::<TransitionCsv>(),
            header_before(transitions.map(|t| TransitionCsv::new(&a.file, 0, t)))
        );
        let anomalies: Vec<_> = a.connections.iter().flat_map(|c| c.anomalies()).collect();
        assert_eq!(
            header::<AnomalyCsv>(),
            header_before(anomalies.iter().map(|x| AnomalyCsv::new(&a.file, 0, x)))
        );
    }
}
