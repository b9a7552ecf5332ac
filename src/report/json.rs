//! JSON lines: one object per connection in the schema of docs/REFERENCE.md
//! (field order included), then one `{"summary": ...}` object.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::anomaly::{Anomaly, AnomalyCode, Severity};
use crate::flow::ClientReason;
use crate::model::Side;
use crate::pipeline::{Summary, SCHEMA_VERSION};
use crate::tcp::machine::{Cause, Outcome, State, Transition};

use super::format::rfc3339_ns;
use super::row::{ConnectionRow, Irtt, PerRole};
use super::zeek::ConnRecord;

/// One connection as a JSON object: the shared row, nested per role, with
/// the anomalies and every transition.
#[derive(Serialize)]
struct ConnectionJson<'r> {
    schema_version: u32,
    file: &'r str,
    stream: u64,
    continues: bool,
    client: &'r str,
    server: &'r str,
    client_reason: ClientReason,
    first_frame: u64,
    last_frame: u64,
    start: &'r str,
    end: &'r str,
    duration: f64,
    packets: &'r PerRole<u64>,
    bytes: &'r PerRole<u64>,
    /// Flag names each side sent.
    flags: PerRole<Vec<&'static str>>,
    client_states: &'r [State],
    server_states: &'r [State],
    client_state: State,
    server_state: State,
    /// The final state rests on inferred transitions.
    client_state_inferred: bool,
    server_state_inferred: bool,
    outcome: Outcome,
    conn_state: &'static str,
    history: &'r str,
    /// Segments per sequence-analysis flag, per side.
    analysis: PerRole<&'r BTreeMap<&'static str, u64>>,
    retransmitted_bytes: &'r PerRole<u64>,
    missed_bytes: u64,
    /// The Zeek records (conn.log rows) holding this connection's packets.
    zeek: Vec<ConnRecord>,
    irtt: &'r Irtt,
    /// Anomaly occurrences: the first 100 of each code.
    anomalies: Vec<AnomalyJson<'r>>,
    /// Occurrences of each code, listed or not.
    anomaly_counts: BTreeMap<&'static str, u64>,
    /// VLAN IDs of the first packet, outermost first.
    vlan: Vec<u16>,
    tunnel: Option<&'r str>,
    transitions: Vec<TransitionJson>,
}

/// One anomaly occurrence in a connection's `anomalies`.
#[derive(Serialize)]
struct AnomalyJson<'a> {
    code: AnomalyCode,
    severity: Severity,
    frame: Option<u64>,
    side: Option<Side>,
    detail: &'a str,
}

/// One state transition in a connection's `transitions`; `cause` is the
/// snake_case code.
#[derive(Serialize)]
struct TransitionJson {
    frame: Option<u64>,
    time: String,
    side: Side,
    from: State,
    to: State,
    cause: Cause,
    inferred: bool,
    evidence_frame: Option<u64>,
}

impl<'r> ConnectionJson<'r> {
    fn new(row: &'r ConnectionRow<'r>) -> ConnectionJson<'r> {
        let ac = row.conn;
        let c = &ac.flow;
        ConnectionJson {
            schema_version: SCHEMA_VERSION,
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
            packets: &row.packets,
            bytes: &row.bytes,
            flags: PerRole {
                client: c.flags[Side::Client.idx()].names().collect(),
                server: c.flags[Side::Server.idx()].names().collect(),
            },
            client_states: &row.states.client,
            server_states: &row.states.server,
            client_state: row.state.client,
            server_state: row.state.server,
            client_state_inferred: row.state_inferred.client,
            server_state_inferred: row.state_inferred.server,
            outcome: row.outcome,
            conn_state: row.conn_state,
            history: row.history,
            analysis: PerRole {
                client: &ac.seq.stats(Side::Client).flags,
                server: &ac.seq.stats(Side::Server).flags,
            },
            retransmitted_bytes: &row.retransmitted_bytes,
            missed_bytes: row.missed_bytes,
            zeek: ac.zeek.records().iter().map(ConnRecord::new).collect(),
            irtt: &row.irtt,
            anomalies: ac.anomalies().into_iter().map(AnomalyJson::of).collect(),
            anomaly_counts: ac
                .anomaly_counts()
                .into_iter()
                .map(|(code, n)| (code.code(), n))
                .collect(),
            vlan: c.path.vlans.ids().collect(),
            tunnel: row.tunnel.as_deref(),
            transitions: ac.tcp.transitions().map(TransitionJson::of).collect(),
        }
    }
}

impl<'a> AnomalyJson<'a> {
    fn of(a: &'a Anomaly) -> AnomalyJson<'a> {
        AnomalyJson {
            code: a.code,
            severity: a.code.severity(),
            frame: a.frame,
            side: a.side,
            detail: &a.detail,
        }
    }
}

impl TransitionJson {
    fn of(t: &Transition) -> TransitionJson {
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
}

/// Appends a connection's JSON line to `out`.
pub(super) fn write_connection(out: &mut Vec<u8>, row: &ConnectionRow) -> io::Result<()> {
    write_line(out, &ConnectionJson::new(row))
}

/// Writes the closing `{"summary": ...}` line of the JSON lines report.
pub(super) fn write_summary_line(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    #[derive(Serialize)]
    struct Wrapper<'a, 'b> {
        summary: &'b Summary<'a>,
    }
    write_line(out, &Wrapper { summary })
}

/// Writes the summary as summary.json: pretty-printed, with a final newline.
pub(super) fn write_summary_file(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, summary)?;
    out.write_all(b"\n")
}

/// Writes `value` as one line of JSON.
pub(super) fn write_line(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}
