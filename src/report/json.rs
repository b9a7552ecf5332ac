//! JSON lines: one object per connection in the schema of docs/REFERENCE.md
//! (field order included), then one `{"summary": ...}` object.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::anomaly::{AnomalyCode, Severity};
use crate::flow::ClientReason;
use crate::model::Side;
use crate::pipeline::{Connection, SCHEMA_VERSION};
use crate::tcp::machine::{Cause, Outcome, State, Transition};

use super::format::{rfc3339_ns, seconds};

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
    pub(super) fn of(ac: &Connection) -> IrttJson {
        let r = ac.seq.handshake_rtt();
        IrttJson {
            total: r.total_ns.map(seconds),
            client_side: r.client_side_ns.map(seconds),
            server_side: r.server_side_ns.map(seconds),
        }
    }
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

pub(super) fn json_line(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}
