//! The facts the CSV and JSON reports give about one connection, worked out
//! once per connection. [`json`](super::json) and [`csv`](super::csv) only
//! arrange them: nested per role and with the transitions in JSON, flattened
//! into one record in CSV.

use serde::Serialize;

use crate::flow::ClientReason;
use crate::model::{Endpoint, Side, TunnelPath};
use crate::pipeline::Connection;
use crate::tcp::machine::{Outcome, State, StatePath, TimeSpent};
use crate::tcp::sequence::{HandshakeRtt, RttSummary};

use super::format::seconds;

/// One value for each end of a connection; JSON writes it as
/// `{"client": x, "server": y}`, CSV as two columns `client_*` and `server_*`.
#[derive(Debug, Serialize)]
pub(crate) struct PerRole<T> {
    pub(crate) client: T,
    pub(crate) server: T,
}

impl<T> PerRole<T> {
    /// The value of one side's role.
    pub(crate) fn of(&self, side: Side) -> &T {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// Both roles' values from one function of the side.
    fn by_side(mut f: impl FnMut(Side) -> T) -> PerRole<T> {
        PerRole {
            client: f(Side::Client),
            server: f(Side::Server),
        }
    }
}

/// The handshake round-trip times in seconds; `None` (JSON `null`, an empty
/// CSV cell) where the handshake was not seen. (The writers' serde
/// references; the writers take [`HandshakeRtt`] in ns.)
#[cfg(test)]
#[derive(Debug, Serialize)]
pub(crate) struct Irtt {
    /// Wireshark's `tcp.analysis.initial_rtt`.
    pub(crate) total: Option<f64>,
    /// SYN-ACK to ACK: the client's side of the capture point.
    pub(crate) client_side: Option<f64>,
    /// SYN to SYN-ACK: the server's side of the capture point.
    pub(crate) server_side: Option<f64>,
}

/// One side's ACK round-trip times in seconds (Wireshark's
/// `tcp.analysis.ack_rtt` on the ACKs that side sent); min, median, p95 and
/// max `None` (JSON `null`, an empty CSV cell) without samples.
#[derive(Debug, Serialize)]
pub(crate) struct AckRtt {
    pub(crate) min: Option<f64>,
    pub(crate) median: Option<f64>,
    pub(crate) p95: Option<f64>,
    pub(crate) max: Option<f64>,
    pub(crate) samples: u64,
}

#[cfg(test)]
impl Irtt {
    /// The handshake of connection `ac`.
    pub(crate) fn of(ac: &Connection) -> Irtt {
        let rtt = ac.seq.handshake_rtt();
        Irtt {
            total: rtt.total_ns.map(seconds),
            client_side: rtt.client_side_ns.map(seconds),
            server_side: rtt.server_side_ns.map(seconds),
        }
    }
}

impl AckRtt {
    /// The ACKs side `side` of connection `ac` sent.
    pub(crate) fn of(ac: &Connection, side: Side) -> AckRtt {
        AckRtt::of_summary(ac.seq.ack_rtt(side).summary())
    }

    /// The summary `s` in seconds.
    pub(crate) fn of_summary(s: Option<RttSummary>) -> AckRtt {
        AckRtt {
            min: s.map(|s| seconds(s.min_ns)),
            median: s.map(|s| seconds(s.median_ns)),
            p95: s.map(|s| seconds(s.p95_ns)),
            max: s.map(|s| seconds(s.max_ns)),
            samples: s.map_or(0, |s| s.samples),
        }
    }
}

/// Seconds a side spent in each state, in the order first entered; JSON
/// writes it as an object `{"CLOSED": 0.0, "SYN_SENT": 0.0002, ...}`, CSV as
/// `CLOSED=0.0 SYN_SENT=0.0002 ...`.
#[derive(Debug)]
pub(crate) struct TimeInState(pub(crate) Vec<(State, f64)>);

impl TimeInState {
    /// Side `side` of connection `ac`, from its first packet.
    pub(crate) fn of(ac: &Connection, side: Side) -> TimeInState {
        TimeInState(
            ac.tcp
                .time_in_state(side, ac.flow.start_ns)
                .into_iter()
                .map(|(state, ns)| (state, seconds(ns)))
                .collect(),
        )
    }
}

impl Serialize for TimeInState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (state, secs) in &self.0 {
            m.serialize_entry(state.name(), secs)?;
        }
        m.end()
    }
}

/// One connection of input `file`, with the values CSV, JSON and Parquet
/// write, worked out once. Times stay integer nanoseconds and endpoints
/// stay addresses: each writer appends their text straight to its output
/// (a String per value cost more than the rest of the row). What only one
/// of the formats writes it takes from `conn`.
pub(crate) struct ConnectionRow<'a> {
    /// The input's name as given (`-` for stdin).
    pub(crate) file: &'a str,
    /// The analysed connection, for what only one of the formats writes.
    pub(crate) conn: &'a Connection,
    /// Wireshark's `tcp.stream` index.
    pub(crate) stream: u64,
    /// A later part of a stream reported before: it went idle past the idle
    /// timeout (or was evicted for memory) and then carried on.
    pub(crate) continues: bool,
    /// The client endpoint.
    pub(crate) client: Endpoint,
    /// The server endpoint.
    pub(crate) server: Endpoint,
    /// The Community ID v1 of the endpoints.
    pub(crate) community_id: &'a str,
    pub(crate) client_reason: ClientReason,
    pub(crate) first_frame: u64,
    pub(crate) last_frame: u64,
    /// First packet's time.
    pub(crate) start_ns: i64,
    /// Last packet's time.
    pub(crate) end_ns: i64,
    /// From the first to the last packet.
    pub(crate) duration_ns: i64,
    /// Packets each side sent.
    pub(crate) packets: PerRole<u64>,
    /// Payload bytes each side sent.
    pub(crate) bytes: PerRole<u64>,
    /// The states each side went through, initial first.
    pub(crate) states: PerRole<StatePath>,
    /// Each side's final state.
    pub(crate) state: PerRole<State>,
    /// Whether each side's final state rests on inference (capture started
    /// mid-connection, SYN or SYN-ACK missing, one direction missing).
    pub(crate) state_inferred: PerRole<bool>,
    pub(crate) outcome: Outcome,
    /// Zeek's `conn_state` of the connection's first Zeek record.
    pub(crate) conn_state: &'static str,
    /// Zeek's history letters of that record.
    pub(crate) history: &'a str,
    /// Payload bytes each side sent again.
    pub(crate) retransmitted_bytes: PerRole<u64>,
    /// Bytes of the two streams the capture missed (Zeek's `missed_bytes`,
    /// all the connection's Zeek records).
    pub(crate) missed_bytes: u64,
    /// The handshake round-trip times ([`Irtt`] in seconds).
    pub(crate) irtt: HandshakeRtt,
    /// Nanoseconds each side spent in each state, in the order first
    /// entered ([`TimeInState`] in seconds).
    pub(crate) time_in_state: PerRole<TimeSpent>,
    /// ACK round-trip times of the ACKs each side sent; `None` without
    /// samples ([`AckRtt`] in seconds).
    pub(crate) ack_rtt: PerRole<Option<RttSummary>>,
    /// The tunnels of the first packet, outermost first.
    pub(crate) tunnel: Option<&'a TunnelPath>,
}

impl<'a> ConnectionRow<'a> {
    /// The row of connection `ac` of input `file`.
    pub(crate) fn new(file: &'a str, ac: &'a Connection) -> ConnectionRow<'a> {
        let c = &ac.flow;
        ConnectionRow {
            file,
            conn: ac,
            stream: c.stream,
            continues: c.continues,
            client: c.client(),
            server: c.server(),
            community_id: &ac.community_id,
            client_reason: c.client_reason,
            first_frame: c.first_frame,
            last_frame: c.last_frame,
            start_ns: c.start_ns,
            end_ns: c.end_ns,
            duration_ns: c.duration_ns(),
            packets: PerRole::by_side(|s| c.packets[s.idx()]),
            bytes: PerRole::by_side(|s| c.bytes[s.idx()]),
            states: PerRole::by_side(|s| ac.tcp.state_path(s)),
            state: PerRole::by_side(|s| ac.tcp.state(s)),
            state_inferred: PerRole::by_side(|s| ac.tcp.state_inferred(s)),
            outcome: ac.tcp.outcome(),
            conn_state: ac.zeek.conn_state(),
            history: ac.zeek.history(),
            retransmitted_bytes: PerRole::by_side(|s| ac.seq.stats(s).retransmitted_bytes),
            missed_bytes: ac.zeek.missed_bytes(),
            irtt: ac.seq.handshake_rtt(),
            tunnel: c.path.tunnel.as_deref(),
            time_in_state: PerRole::by_side(|s| ac.tcp.time_spent(s, c.start_ns)),
            ack_rtt: PerRole::by_side(|s| ac.seq.ack_rtt(s).summary()),
        }
    }
}

/// The values of a row the writers append as text, as `to_string` gives
/// them: what the serde references of the writers' tests serialise.
#[cfg(test)]
pub(crate) struct RowText {
    pub(crate) client: String,
    pub(crate) server: String,
    pub(crate) start: String,
    pub(crate) end: String,
    pub(crate) tunnel: Option<String>,
}

#[cfg(test)]
impl RowText {
    pub(crate) fn of(row: &ConnectionRow) -> RowText {
        use super::format::rfc3339_ns;
        RowText {
            client: row.client.to_string(),
            server: row.server.to_string(),
            start: rfc3339_ns(row.start_ns),
            end: rfc3339_ns(row.end_ns),
            tunnel: row.tunnel.map(|t| t.to_string()),
        }
    }
}

/// A side's final state as the terminal shows it: its RFC name, with `*`
/// when it rests on inference ([`INFERRED_LEGEND`]).
pub(crate) fn state_cell(ac: &Connection, side: Side) -> String {
    state_text(ac.tcp.state(side), ac.tcp.state_inferred(side))
}

/// A state as [`state_cell`] shows it: marked `*` when inferred.
pub(crate) fn state_text(state: State, inferred: bool) -> String {
    if inferred {
        format!("{state}*")
    } else {
        state.to_string()
    }
}

/// The line explaining [`state_cell`]'s marker, printed under a table that uses it.
pub(crate) const INFERRED_LEGEND: &str =
    "* inferred: the state rests on transitions the capture did not show \
     (it started mid-connection, missed the SYN or SYN-ACK, or saw one direction only)";

/// Segments `side` sent that the sequence analysis flagged with `code`.
pub(crate) fn flag_count(ac: &Connection, side: Side, code: &str) -> u64 {
    ac.seq.stats(side).flags.get(code).copied().unwrap_or(0)
}

/// Distinct anomaly codes of a connection, in order of first occurrence.
pub(crate) fn anomaly_codes(c: &Connection) -> Vec<&'static str> {
    let mut codes = Vec::new();
    // Most connections list none: then nothing is gathered or sorted.
    if c.tcp.anomalies().is_empty() && c.seq.anomaly_log().listed().is_empty() {
        return codes;
    }
    for a in c.anomalies() {
        if !codes.contains(&a.code.code()) {
            codes.push(a.code.code());
        }
    }
    codes
}
