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

use super::format::{
    any_byte, has_byte, push_endpoint, push_exact_seconds, push_flag_letters, push_rfc3339_ns,
    push_u64, rfc3339_ns, seconds, Short,
};
use super::row::{anomaly_codes, flag_count, ConnectionRow};
#[cfg(test)]
use super::{
    format::flag_letters,
    row::{AckRtt, Irtt, RowText, TimeInState},
};

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
    fn new(row: &'r ConnectionRow<'r>, text: &'r RowText) -> ConnectionCsv<'r> {
        let ac = row.conn;
        let c = &ac.flow;
        let irtt = Irtt::of(ac);
        let rtt = |side| AckRtt::of(ac, side);
        let (crtt, srtt) = (rtt(Side::Client), rtt(Side::Server));
        ConnectionCsv {
            file: row.file,
            stream: row.stream,
            continues: row.continues,
            client: &text.client,
            server: &text.server,
            client_reason: row.client_reason,
            first_frame: row.first_frame,
            last_frame: row.last_frame,
            start: &text.start,
            end: &text.end,
            duration: seconds(row.duration_ns),
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
            irtt: irtt.total,
            irtt_client_side: irtt.client_side,
            irtt_server_side: irtt.server_side,
            client_analysis: analysis_text(ac, Side::Client),
            server_analysis: analysis_text(ac, Side::Server),
            anomalies: anomaly_codes(ac).join(" "),
            vlan: c.path.vlans.to_string(),
            tunnel: text.tunnel.as_deref().unwrap_or(""),
            community_id: row.community_id,
            client_time_in_state: time_in_state_text(&TimeInState::of(ac, Side::Client)),
            server_time_in_state: time_in_state_text(&TimeInState::of(ac, Side::Server)),
            client_ack_rtt_min: crtt.min,
            client_ack_rtt_median: crtt.median,
            client_ack_rtt_p95: crtt.p95,
            client_ack_rtt_max: crtt.max,
            client_ack_rtt_samples: crtt.samples,
            server_ack_rtt_min: srtt.min,
            server_ack_rtt_median: srtt.median,
            server_ack_rtt_p95: srtt.p95,
            server_ack_rtt_max: srtt.max,
            server_ack_rtt_samples: srtt.samples,
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
#[cfg(test)]
fn states_text(v: &[State]) -> String {
    v.iter().map(|s| s.name()).collect::<Vec<_>>().join(" ")
}

/// `CLOSED=0.0 SYN_SENT=0.000015 ESTABLISHED=0.200672`.
#[cfg(test)]
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
#[cfg(test)]
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
/// serde and the csv crate (a quarter of a CSV run's time went there), each
/// value's text straight into `buf`, with the same bytes
/// (`direct_records_are_the_csv_crates_records` checks it).
pub(super) fn write_connection(buf: &mut Vec<u8>, row: &ConnectionRow) -> io::Result<()> {
    let ac = row.conn;
    let c = &ac.flow;
    let mut w = Line { buf, first: true };
    w.u64(row.stream);
    w.str(row.file);
    w.bool(row.continues);
    // Endpoints, times, names and flag letters hold nothing CSV quotes.
    w.sep();
    push_endpoint(w.buf, &row.client);
    w.sep();
    push_endpoint(w.buf, &row.server);
    w.plain(row.client_reason.name());
    w.u64(row.first_frame);
    w.u64(row.last_frame);
    w.sep();
    push_rfc3339_ns(w.buf, row.start_ns);
    w.sep();
    push_rfc3339_ns(w.buf, row.end_ns);
    w.seconds(row.duration_ns);
    w.u64(row.packets.client);
    w.u64(row.packets.server);
    w.u64(row.bytes.client);
    w.u64(row.bytes.server);
    for side in Side::BOTH {
        w.sep();
        push_flag_letters(w.buf, c.flags[side.idx()]);
    }
    for side in Side::BOTH {
        w.sep();
        w.joined(b' ', row.states.of(side).iter(), |buf, st| {
            STATE_NAME[*st as usize].push_to(buf)
        });
    }
    for side in Side::BOTH {
        w.sep();
        STATE_NAME[*row.state.of(side) as usize].push_to(w.buf);
    }
    w.bool(row.state_inferred.client);
    w.bool(row.state_inferred.server);
    w.plain(row.outcome.name());
    w.str(row.conn_state);
    w.str(row.history);
    let (client, server) = (Side::Client, Side::Server);
    w.u64(flag_count(ac, client, "retransmission"));
    w.u64(flag_count(ac, server, "retransmission"));
    w.u64(row.retransmitted_bytes.client);
    w.u64(row.retransmitted_bytes.server);
    w.u64(flag_count(ac, client, "duplicate_ack"));
    w.u64(flag_count(ac, server, "duplicate_ack"));
    w.u64(row.missed_bytes);
    w.opt_seconds(row.irtt.total_ns);
    w.opt_seconds(row.irtt.client_side_ns);
    w.opt_seconds(row.irtt.server_side_ns);
    // `retransmission=3 duplicate_ack=2`: the flags one side's segments
    // got, in catalogue order.
    for side in Side::BOTH {
        let m = &ac.seq.stats(side).flags;
        w.sep();
        if m.is_empty() {
            continue;
        }
        let counted = Flag::ALL
            .iter()
            .filter_map(|f| m.get(f.code()).map(|&n| (f.code(), n)));
        w.joined(b' ', counted, |buf, (code, n)| {
            buf.extend_from_slice(code.as_bytes());
            buf.push(b'=');
            push_u64(buf, n);
        });
    }
    // The distinct anomaly codes, in order of first occurrence.
    w.sep();
    w.joined(b' ', anomaly_codes(ac).into_iter(), |buf, code| {
        buf.extend_from_slice(code.as_bytes())
    });
    // VLAN IDs, `200.300`, outermost first.
    w.sep();
    w.joined(b'.', c.path.vlans.ids(), |buf, id| {
        push_u64(buf, u64::from(id))
    });
    match row.tunnel {
        Some(t) => w.str(&t.to_string()),
        None => w.sep(),
    }
    w.str(row.community_id);
    // `CLOSED=0.0 SYN_SENT=0.000015 ESTABLISHED=0.200672`.
    for side in Side::BOTH {
        w.sep();
        w.joined(b' ', row.time_in_state.of(side).iter(), |buf, &(st, ns)| {
            STATE_NAME[st as usize].push_to(buf);
            buf.push(b'=');
            push_seconds(buf, ns);
        });
    }
    for side in Side::BOTH {
        let r = row.ack_rtt.of(side);
        w.opt_seconds(r.map(|r| r.min_ns));
        w.opt_seconds(r.map(|r| r.median_ns));
        w.opt_seconds(r.map(|r| r.p95_ns));
        w.opt_seconds(r.map(|r| r.max_ns));
        w.u64(r.map_or(0, |r| r.samples));
    }
    w.buf.push(b'\n');
    Ok(())
}

/// Each state's name by `State as usize`, appended as a fixed-size copy
/// (a name of varying length cost a call to memcpy; a record has a dozen).
const STATE_NAME: [Short; State::ALL.len()] = {
    let mut t = [Short::of(&[]); State::ALL.len()];
    let mut i = 0;
    while i < t.len() {
        let s = State::ALL[i];
        assert!(s as usize == i);
        t[i] = Short::of(&[s.name()]);
        i += 1;
    }
    t
};

/// Appends seconds as the csv crate writes the f64 [`seconds`] of `ns`
/// (ryu's shortest text), with integers where they settle it.
fn push_seconds(buf: &mut Vec<u8>, ns: i64) {
    if !push_exact_seconds(buf, ns) {
        buf.extend_from_slice(ryu::Buffer::new().format(seconds(ns)).as_bytes());
    }
}

/// One CSV record being appended, as the csv crate writes it by default:
/// fields separated by commas, a field quoted (its quotes doubled) when it
/// holds a comma, a quote, CR or LF; numbers as itoa and ryu write them.
struct Line<'b> {
    buf: &'b mut Vec<u8>,
    first: bool,
}

impl Line<'_> {
    /// Starts a field: the comma before all but the first.
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    fn str(&mut self, s: &str) {
        self.sep();
        let quoted = |b: u8| matches!(b, b',' | b'"' | b'\r' | b'\n');
        let any_quoted = |w: u64| {
            has_byte(w, b',') || has_byte(w, b'"') || has_byte(w, b'\r') || has_byte(w, b'\n')
        };
        if !any_byte(s.as_bytes(), any_quoted, quoted) {
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

    /// A field known to hold nothing CSV quotes (a fixed name).
    fn plain(&mut self, s: &'static str) {
        debug_assert!(!s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')));
        self.sep();
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// The items of one field, separated by `sep`, each appended by `item`
    /// (which writes nothing CSV quotes).
    fn joined<T>(
        &mut self,
        sep: u8,
        items: impl Iterator<Item = T>,
        mut item: impl FnMut(&mut Vec<u8>, T),
    ) {
        for (i, x) in items.enumerate() {
            if i > 0 {
                self.buf.push(sep);
            }
            item(self.buf, x);
        }
    }

    fn u64(&mut self, v: u64) {
        self.sep();
        push_u64(self.buf, v);
    }

    fn bool(&mut self, v: bool) {
        self.sep();
        self.buf
            .extend_from_slice(if v { b"true" as &[u8] } else { b"false" });
    }

    fn seconds(&mut self, ns: i64) {
        self.sep();
        push_seconds(self.buf, ns);
    }

    /// Seconds, or an empty field for `None`.
    fn opt_seconds(&mut self, ns: Option<i64>) {
        match ns {
            Some(ns) => self.seconds(ns),
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
                    let text = RowText::of(&row);
                    let mut direct = Vec::new();
                    write_connection(&mut direct, &row).unwrap();
                    let mut serde = Vec::new();
                    append(&mut serde, [ConnectionCsv::new(&row, &text)]).unwrap();
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
    fn fields_are_quoted_as_the_csv_crate_quotes_them() {
        // One byte CSV quotes for (or one it does not) at each place of
        // strings of each length, around the eight-byte words the test for
        // quoting reads.
        for len in 1..40 {
            for at in 0..len {
                for special in [',', '"', '\r', '\n', ' ', ';', '\'', 'é'] {
                    let mut s: String = "a".repeat(len);
                    s.replace_range(at..at + 1, &special.to_string());
                    let mut direct = Vec::new();
                    let mut w = Line {
                        buf: &mut direct,
                        first: true,
                    };
                    w.str(&s);
                    w.buf.push(b'\n');
                    let mut crate_csv = ::csv::WriterBuilder::new()
                        .has_headers(false)
                        .from_writer(Vec::new());
                    crate_csv.write_record([&s]).unwrap();
                    assert_eq!(direct, crate_csv.into_inner().unwrap(), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn empty_reports_get_the_header_of_real_records() {
        let a = Analyzer::new()
            .analyze_path("testdata/real/several_conns.pcap")
            .unwrap();
        let c = &a.connections[0];
        let row = ConnectionRow::new(&a.file, c);
        let text = RowText::of(&row);
        assert_eq!(
            header::<ConnectionCsv>(),
            header_before([ConnectionCsv::new(&row, &text)])
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
