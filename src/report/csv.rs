//! The CSV reports: connections.csv (one record per connection),
//! transitions.csv (`--history`, one per state transition) and
//! anomalies.csv (one per listed anomaly occurrence).

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::anomaly::{AnomalyCode, Severity};
use crate::flow::ClientReason;
use crate::model::Side;
use crate::pipeline::Connection;
use crate::tcp::machine::{Outcome, State};
use crate::tcp::sequence::Flag;

use super::format::{flag_letters, rfc3339_ns, seconds};
use super::json::IrttJson;
use super::{anomaly_codes, flag_count};

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

/// Columns of anomalies.csv.
pub const ANOMALY_CSV_COLUMNS: [&str; 7] = [
    "file", "stream", "code", "severity", "frame", "side", "detail",
];

pub(super) fn write_csv_header(out: &mut impl Write, header: &[&str]) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header)?;
    w.flush()
}
