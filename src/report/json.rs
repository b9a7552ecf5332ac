//! JSON lines: one object per connection in the schema of docs/REFERENCE.md
//! (field order included), then one `{"summary": ...}` object.

use std::io::{self, Write};

use serde::Serialize;

use crate::model::Side;
use crate::pipeline::{Summary, SCHEMA_VERSION};

use super::format::push_rfc3339_ns;
use super::row::ConnectionRow;
use super::zeek::ConnRecord;
#[cfg(test)]
use {
    super::format::rfc3339_ns,
    super::row::{AckRtt, Irtt, PerRole, TimeInState},
    crate::anomaly::{Anomaly, AnomalyCode, Severity},
    crate::flow::ClientReason,
    crate::tcp::machine::{Cause, Outcome, State, Transition},
    std::collections::BTreeMap,
};

/// One connection as a JSON object: the shared row, nested per role, with
/// the anomalies and every transition. The schema as serde would write it:
/// the reference [`write_connection`] is checked against.
#[cfg(test)]
#[derive(Serialize)]
struct ConnectionJson<'r> {
    schema_version: u32,
    file: &'r str,
    stream: u64,
    continues: bool,
    client: &'r str,
    server: &'r str,
    community_id: &'r str,
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
    /// Seconds per state, per side.
    time_in_state: &'r PerRole<TimeInState>,
    /// ACK round-trip times, per side that sent the ACKs.
    ack_rtt: &'r PerRole<AckRtt>,
    transitions: Vec<TransitionJson>,
}

/// One anomaly occurrence in a connection's `anomalies`.
#[cfg(test)]
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
#[cfg(test)]
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

#[cfg(test)]
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
            community_id: row.community_id,
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
            time_in_state: &row.time_in_state,
            ack_rtt: &row.ack_rtt,
            transitions: ac.tcp.transitions().map(TransitionJson::of).collect(),
        }
    }
}

#[cfg(test)]
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

#[cfg(test)]
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

/// Appends a connection's JSON line to `out`: [`ConnectionJson`] written
/// directly, key by key, instead of through serde (which cost a third of a
/// JSON run), with the same bytes (`direct_lines_are_serde_jsons_lines`
/// checks it on every test capture).
pub(super) fn write_connection(out: &mut Vec<u8>, row: &ConnectionRow) -> io::Result<()> {
    let ac = row.conn;
    let c = &ac.flow;
    let mut j = Json { buf: out };
    j.raw(b"{\"schema_version\":");
    j.u64(u64::from(SCHEMA_VERSION));
    j.key("file");
    j.str(row.file);
    j.key("stream");
    j.u64(row.stream);
    j.key("continues");
    j.bool(row.continues);
    j.key("client");
    j.str(&row.client);
    j.key("server");
    j.str(&row.server);
    j.key("community_id");
    j.str(row.community_id);
    j.key("client_reason");
    j.str(row.client_reason.name());
    j.key("first_frame");
    j.u64(row.first_frame);
    j.key("last_frame");
    j.u64(row.last_frame);
    j.key("start");
    j.str(&row.start);
    j.key("end");
    j.str(&row.end);
    j.key("duration");
    j.f64(row.duration)?;
    j.key("packets");
    j.per_role(|j, s| j.u64(*row.packets.of(s)));
    j.key("bytes");
    j.per_role(|j, s| j.u64(*row.bytes.of(s)));
    j.key("flags");
    j.per_role(|j, s| j.list(c.flags[s.idx()].names(), |j, n| j.str(n)));
    j.key("client_states");
    j.list(row.states.client.iter(), |j, st| j.str(st.name()));
    j.key("server_states");
    j.list(row.states.server.iter(), |j, st| j.str(st.name()));
    j.key("client_state");
    j.str(row.state.client.name());
    j.key("server_state");
    j.str(row.state.server.name());
    j.key("client_state_inferred");
    j.bool(row.state_inferred.client);
    j.key("server_state_inferred");
    j.bool(row.state_inferred.server);
    j.key("outcome");
    j.str(row.outcome.name());
    j.key("conn_state");
    j.str(row.conn_state);
    j.key("history");
    j.str(row.history);
    j.key("analysis");
    j.per_role(|j, s| j.map(ac.seq.stats(s).flags.iter().map(|(k, v)| (*k, *v))));
    j.key("retransmitted_bytes");
    j.per_role(|j, s| j.u64(*row.retransmitted_bytes.of(s)));
    j.key("missed_bytes");
    j.u64(row.missed_bytes);
    j.key("zeek");
    j.raw(b"[");
    for (i, r) in ac.zeek.records().iter().enumerate() {
        if i > 0 {
            j.raw(b",");
        }
        // Rare (one record per connection, usually): serde is fine here.
        serde_json::to_writer(&mut *j.buf, &ConnRecord::new(r))?;
    }
    j.raw(b"]");
    j.key("irtt");
    j.raw(b"{\"total\":");
    j.opt_f64(row.irtt.total)?;
    j.key("client_side");
    j.opt_f64(row.irtt.client_side)?;
    j.key("server_side");
    j.opt_f64(row.irtt.server_side)?;
    j.raw(b"}");
    j.key("anomalies");
    j.raw(b"[");
    for (i, a) in ac.anomalies().into_iter().enumerate() {
        if i > 0 {
            j.raw(b",");
        }
        j.raw(b"{\"code\":");
        j.str(a.code.code());
        j.key("severity");
        j.str(severity_name(a.code.severity()));
        j.key("frame");
        j.opt_u64(a.frame);
        j.key("side");
        match a.side {
            Some(s) => j.str(side_name(s)),
            None => j.raw(b"null"),
        }
        j.key("detail");
        j.str(&a.detail);
        j.raw(b"}");
    }
    j.raw(b"]");
    j.key("anomaly_counts");
    // Keyed by code name, in name order, as the BTreeMap of ConnectionJson.
    let mut counts: Vec<(&'static str, u64)> = ac
        .anomaly_counts()
        .into_iter()
        .map(|(code, n)| (code.code(), n))
        .collect();
    counts.sort_unstable_by_key(|&(code, _)| code);
    j.map(counts.into_iter());
    j.key("vlan");
    j.list(c.path.vlans.ids(), |j, id| j.u64(u64::from(id)));
    j.key("tunnel");
    match row.tunnel.as_deref() {
        Some(t) => j.str(t),
        None => j.raw(b"null"),
    }
    j.key("time_in_state");
    for (i, side) in Side::BOTH.into_iter().enumerate() {
        j.raw(if i == 0 {
            b"{\"client\":{"
        } else {
            b",\"server\":{"
        });
        for (i, (state, secs)) in row.time_in_state.of(side).0.iter().enumerate() {
            if i > 0 {
                j.raw(b",");
            }
            j.str(state.name());
            j.raw(b":");
            j.f64(*secs)?;
        }
        j.raw(b"}");
    }
    j.raw(b"}");
    j.key("ack_rtt");
    for (i, side) in Side::BOTH.into_iter().enumerate() {
        let r = row.ack_rtt.of(side);
        j.raw(if i == 0 {
            b"{\"client\":{\"min\":"
        } else {
            b",\"server\":{\"min\":"
        });
        j.opt_f64(r.min)?;
        j.key("median");
        j.opt_f64(r.median)?;
        j.key("p95");
        j.opt_f64(r.p95)?;
        j.key("max");
        j.opt_f64(r.max)?;
        j.key("samples");
        j.u64(r.samples);
        j.raw(b"}");
    }
    j.raw(b"}");
    j.key("transitions");
    j.raw(b"[");
    let mut time = String::with_capacity(30);
    for (i, t) in ac.tcp.transitions().enumerate() {
        if i > 0 {
            j.raw(b",");
        }
        j.raw(b"{\"frame\":");
        j.opt_u64(t.frame);
        j.key("time");
        time.clear();
        push_rfc3339_ns(&mut time, t.ts_ns);
        j.str(&time);
        j.key("side");
        j.str(side_name(t.side));
        j.key("from");
        j.str(t.from.name());
        j.key("to");
        j.str(t.to.name());
        j.key("cause");
        serde_json::to_writer(&mut *j.buf, &t.cause)?;
        j.key("inferred");
        j.bool(t.inferred);
        j.key("evidence_frame");
        j.opt_u64(t.evidence_frame);
        j.raw(b"}");
    }
    j.raw(b"]}\n");
    Ok(())
}

/// The bytes a JSON string escapes: control characters, `"` and `\\`.
const ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// A side as serde names it.
fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Server => "server",
    }
}

/// A severity as serde names it.
fn severity_name(s: crate::anomaly::Severity) -> &'static str {
    use crate::anomaly::Severity;
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

/// A JSON value being appended, written as serde_json writes it compactly.
struct Json<'b> {
    buf: &'b mut Vec<u8>,
}

impl Json<'_> {
    fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// `,"name":` (the object's first key is written with its brace); key
    /// names are plain ASCII identifiers, so nothing in them is escaped.
    fn key(&mut self, name: &'static str) {
        debug_assert!(!name.bytes().any(|b| ESCAPED[usize::from(b)]));
        self.buf.extend_from_slice(b",\"");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// A string, escaped as serde_json escapes: `"` and `\\`, and control
    /// characters as `\b \t \n \f \r` or `\u00xx`.
    fn str(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.buf.push(b'"');
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if !ESCAPED[usize::from(b)] {
                continue;
            }
            let esc: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0x00..=0x1f => &[],
                _ => continue,
            };
            self.buf.extend_from_slice(&bytes[start..i]);
            if esc.is_empty() {
                self.buf.extend_from_slice(b"\\u00");
                self.buf.push(HEX[usize::from(b >> 4)]);
                self.buf.push(HEX[usize::from(b & 0xf)]);
            } else {
                self.buf.extend_from_slice(esc);
            }
            start = i + 1;
        }
        self.buf.extend_from_slice(&bytes[start..]);
        self.buf.push(b'"');
    }

    fn u64(&mut self, v: u64) {
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.u64(v),
            None => self.raw(b"null"),
        }
    }

    fn bool(&mut self, v: bool) {
        self.raw(if v { b"true" } else { b"false" });
    }

    /// Through serde_json itself: its shortest round-trip digits.
    fn f64(&mut self, v: f64) -> io::Result<()> {
        serde_json::to_writer(&mut *self.buf, &v)?;
        Ok(())
    }

    fn opt_f64(&mut self, v: Option<f64>) -> io::Result<()> {
        match v {
            Some(v) => self.f64(v),
            None => {
                self.raw(b"null");
                Ok(())
            }
        }
    }

    /// `{"client":..,"server":..}`.
    fn per_role(&mut self, mut value: impl FnMut(&mut Self, Side)) {
        self.raw(b"{\"client\":");
        value(self, Side::Client);
        self.raw(b",\"server\":");
        value(self, Side::Server);
        self.raw(b"}");
    }

    fn list<T>(&mut self, items: impl Iterator<Item = T>, mut item: impl FnMut(&mut Self, T)) {
        self.raw(b"[");
        for (i, x) in items.enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            item(self, x);
        }
        self.raw(b"]");
    }

    /// An object of counts, in the order given.
    fn map<'k>(&mut self, entries: impl Iterator<Item = (&'k str, u64)>) {
        self.raw(b"{");
        for (i, (k, v)) in entries.enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            self.str(k);
            self.raw(b":");
            self.u64(v);
        }
        self.raw(b"}");
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Analyzer;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut all: String = (0u8..=0x7f).map(char::from).collect();
        all.push_str("é€😀\u{7f}\u{80}\u{2028}");
        for s in [all.as_str(), "", "plain", "a\"b\\c\nd"] {
            let mut direct = Vec::new();
            Json { buf: &mut direct }.str(s);
            assert_eq!(
                String::from_utf8(direct).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    #[test]
    fn direct_lines_are_serde_jsons_lines() {
        let captures = crate::test_support::shipped_captures();
        let mut lines = 0;
        for path in &captures {
            let Ok(a) = Analyzer::new().analyze_path(path) else {
                continue;
            };
            for file in [path.as_str(), "a,\"b\"\n\u{1}c"] {
                for c in &a.connections {
                    let row = ConnectionRow::new(file, c);
                    let mut direct = Vec::new();
                    write_connection(&mut direct, &row).unwrap();
                    let mut serde = Vec::new();
                    write_line(&mut serde, &ConnectionJson::new(&row)).unwrap();
                    assert_eq!(
                        String::from_utf8(direct).unwrap(),
                        String::from_utf8(serde).unwrap()
                    );
                    lines += 1;
                }
            }
        }
        assert!(lines > 100, "{lines}");
    }
}
