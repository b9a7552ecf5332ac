//! JSON lines: one object per connection in the schema of docs/REFERENCE.md
//! (field order included), then one `{"summary": ...}` object.

use std::cell::RefCell;
use std::io::{self, Write};

use serde::Serialize;

use crate::model::Side;
use crate::pipeline::{Summary, SCHEMA_VERSION};

use super::format::{push_endpoint, push_exact_seconds, push_ip, push_rfc3339_ns, seconds};
use super::row::ConnectionRow;
use crate::tcp::machine::Cause;
use crate::tcp::zeek::ZeekRecord;
#[cfg(test)]
use {
    super::format::rfc3339_ns,
    super::row::{AckRtt, Irtt, PerRole, RowText, TimeInState},
    super::zeek::ConnRecord,
    crate::anomaly::{Anomaly, AnomalyCode, Severity},
    crate::flow::ClientReason,
    crate::tcp::machine::{Outcome, State, Transition},
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
    irtt: Irtt,
    /// Anomaly occurrences: the first 100 of each code.
    anomalies: Vec<AnomalyJson<'r>>,
    /// Occurrences of each code, listed or not.
    anomaly_counts: BTreeMap<&'static str, u64>,
    /// VLAN IDs of the first packet, outermost first.
    vlan: Vec<u16>,
    tunnel: Option<&'r str>,
    /// Seconds per state, per side.
    time_in_state: PerRole<TimeInState>,
    /// ACK round-trip times, per side that sent the ACKs.
    ack_rtt: PerRole<AckRtt>,
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
    fn new(row: &'r ConnectionRow<'r>, text: &'r RowText) -> ConnectionJson<'r> {
        let ac = row.conn;
        let c = &ac.flow;
        ConnectionJson {
            schema_version: SCHEMA_VERSION,
            file: row.file,
            stream: row.stream,
            continues: row.continues,
            client: &text.client,
            server: &text.server,
            community_id: row.community_id,
            client_reason: row.client_reason,
            first_frame: row.first_frame,
            last_frame: row.last_frame,
            start: &text.start,
            end: &text.end,
            duration: seconds(row.duration_ns),
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
            irtt: Irtt::of(ac),
            anomalies: ac.anomalies().into_iter().map(AnomalyJson::of).collect(),
            anomaly_counts: ac
                .anomaly_counts()
                .into_iter()
                .map(|(code, n)| (code.code(), n))
                .collect(),
            vlan: c.path.vlans.ids().collect(),
            tunnel: text.tunnel.as_deref(),
            time_in_state: PerRole {
                client: TimeInState::of(ac, Side::Client),
                server: TimeInState::of(ac, Side::Server),
            },
            ack_rtt: PerRole {
                client: AckRtt::of(ac, Side::Client),
                server: AckRtt::of(ac, Side::Server),
            },
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
/// directly, key by key, each value's text straight into `out`, instead of
/// through serde (which cost a third of a JSON run), with the same bytes
/// (`direct_lines_are_serde_jsons_lines` checks it on every test capture).
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
    // Endpoints and times hold nothing JSON escapes.
    j.key("client");
    j.quoted(|buf| push_endpoint(buf, &row.client));
    j.key("server");
    j.quoted(|buf| push_endpoint(buf, &row.server));
    j.key("community_id");
    j.str(row.community_id);
    j.key("client_reason");
    j.name(row.client_reason.name());
    j.key("first_frame");
    j.u64(row.first_frame);
    j.key("last_frame");
    j.u64(row.last_frame);
    j.key("start");
    j.quoted(|buf| push_rfc3339_ns(buf, row.start_ns));
    j.key("end");
    j.quoted(|buf| push_rfc3339_ns(buf, row.end_ns));
    j.key("duration");
    j.seconds(row.duration_ns);
    j.key("packets");
    j.per_role(|j, s| j.u64(*row.packets.of(s)));
    j.key("bytes");
    j.per_role(|j, s| j.u64(*row.bytes.of(s)));
    j.key("flags");
    j.per_role(|j, s| j.list(c.flags[s.idx()].names(), |j, n| j.name(n)));
    j.key("client_states");
    j.list(row.states.client.iter(), |j, st| j.name(st.name()));
    j.key("server_states");
    j.list(row.states.server.iter(), |j, st| j.name(st.name()));
    j.key("client_state");
    j.name(row.state.client.name());
    j.key("server_state");
    j.name(row.state.server.name());
    j.key("client_state_inferred");
    j.bool(row.state_inferred.client);
    j.key("server_state_inferred");
    j.bool(row.state_inferred.server);
    j.key("outcome");
    j.name(row.outcome.name());
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
    j.list(ac.zeek.records().iter(), Json::zeek_record);
    j.key("irtt");
    j.raw(b"{\"total\":");
    j.opt_seconds(row.irtt.total_ns);
    j.key("client_side");
    j.opt_seconds(row.irtt.client_side_ns);
    j.key("server_side");
    j.opt_seconds(row.irtt.server_side_ns);
    j.raw(b"}");
    j.key("anomalies");
    j.list(ac.anomalies().into_iter(), |j, a| {
        j.raw(b"{\"code\":");
        j.name(a.code.code());
        j.key("severity");
        j.name(severity_name(a.code.severity()));
        j.key("frame");
        j.opt_u64(a.frame);
        j.key("side");
        match a.side {
            Some(s) => j.name(side_name(s)),
            None => j.raw(b"null"),
        }
        j.key("detail");
        j.str(&a.detail);
        j.raw(b"}");
    });
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
    match row.tunnel {
        Some(t) => j.str(&t.to_string()),
        None => j.raw(b"null"),
    }
    j.key("time_in_state");
    j.per_role(|j, side| {
        j.raw(b"{");
        for (i, &(state, ns)) in row.time_in_state.of(side).iter().enumerate() {
            if i > 0 {
                j.raw(b",");
            }
            j.name(state.name());
            j.raw(b":");
            j.seconds(ns);
        }
        j.raw(b"}");
    });
    j.key("ack_rtt");
    j.per_role(|j, side| {
        let r = row.ack_rtt.of(side);
        j.raw(b"{\"min\":");
        j.opt_seconds(r.map(|r| r.min_ns));
        j.key("median");
        j.opt_seconds(r.map(|r| r.median_ns));
        j.key("p95");
        j.opt_seconds(r.map(|r| r.p95_ns));
        j.key("max");
        j.opt_seconds(r.map(|r| r.max_ns));
        j.key("samples");
        j.u64(r.map_or(0, |r| r.samples));
        j.raw(b"}");
    });
    j.key("transitions");
    j.list(ac.tcp.transitions(), |j, t| {
        j.raw(b"{\"frame\":");
        j.opt_u64(t.frame);
        j.key("time");
        j.quoted(|buf| push_rfc3339_ns(buf, t.ts_ns));
        j.key("side");
        j.name(side_name(t.side));
        j.key("from");
        j.name(t.from.name());
        j.key("to");
        j.name(t.to.name());
        j.key("cause");
        push_cause(j.buf, t.cause);
        j.key("inferred");
        j.bool(t.inferred);
        j.key("evidence_frame");
        j.opt_u64(t.evidence_frame);
        j.raw(b"}");
    });
    j.raw(b"}\n");
    Ok(())
}

/// Appends a transition's cause as serde_json writes it (`"sent_syn"`:
/// serde's `rename_all` names the causes). Each cause is serialised once
/// per thread and its text kept: serialising cost as much as the rest of
/// the transition.
fn push_cause(out: &mut Vec<u8>, cause: Cause) {
    thread_local! {
        static KNOWN: RefCell<Vec<(Cause, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
    }
    KNOWN.with_borrow_mut(|known| {
        let text = match known.iter().position(|(c, _)| *c == cause) {
            Some(i) => &known[i].1,
            None => {
                // A unit variant's name: serialising it cannot fail.
                let text = serde_json::to_vec(&cause).unwrap_or_default();
                known.push((cause, text));
                &known[known.len() - 1].1
            }
        };
        out.extend_from_slice(text);
    });
}

/// Appends one Zeek record's conn.log JSON line (Zeek's JSON-lines
/// conn.log), as serde_json writes [`ConnRecord`](super::zeek::ConnRecord).
pub(super) fn write_zeek_line(out: &mut Vec<u8>, r: &ZeekRecord) {
    Json { buf: out }.zeek_record(r);
    out.push(b'\n');
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
    #[inline(always)]
    fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// `,"name":` (the object's first key is written with its brace); key
    /// names are plain ASCII, so nothing in them is escaped. Always inlined,
    /// as [`Json::raw`] and [`Json::name`]: the lengths are then constants
    /// and the copies a few moves rather than calls to `memcpy`.
    #[inline(always)]
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
        // Mostly nothing to escape: a test without early exit (the compiler
        // makes it a few vector compares), then one copy.
        let plain = !bytes.iter().fold(false, |esc, &b| {
            esc | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if plain {
            self.buf.extend_from_slice(bytes);
            self.buf.push(b'"');
            return;
        }
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

    /// A name known to hold nothing JSON escapes (a fixed identifier).
    #[inline(always)]
    fn name(&mut self, s: &'static str) {
        debug_assert!(!s.bytes().any(|b| ESCAPED[usize::from(b)]));
        self.quoted(|buf| buf.extend_from_slice(s.as_bytes()));
    }

    /// A string `text` appends, which holds nothing JSON escapes.
    fn quoted(&mut self, text: impl FnOnce(&mut Vec<u8>)) {
        self.buf.push(b'"');
        text(self.buf);
        self.buf.push(b'"');
    }

    /// A float as serde_json writes it: its shortest round-trip digits.
    fn f64(&mut self, v: f64) {
        use serde_json::ser::{CompactFormatter, Formatter};
        if v.is_finite() {
            // Writing to a Vec cannot fail.
            let _ = CompactFormatter.write_f64(&mut *self.buf, v);
        } else {
            self.raw(b"null");
        }
    }

    /// Seconds as serde_json writes the f64 [`seconds`] of `ns`, with
    /// integers where they settle it.
    fn seconds(&mut self, ns: i64) {
        if !push_exact_seconds(self.buf, ns) {
            self.f64(seconds(ns));
        }
    }

    fn opt_seconds(&mut self, ns: Option<i64>) {
        match ns {
            Some(ns) => self.seconds(ns),
            None => self.raw(b"null"),
        }
    }

    /// One Zeek record as an object, the fields of [`ConnRecord`](super::zeek::ConnRecord) in its
    /// order; Zeek leaves duration and sizes unset (here: out) for a record
    /// of no duration, and history unset when it has no letters.
    fn zeek_record(&mut self, r: &ZeekRecord) {
        self.raw(b"{\"ts\":");
        self.f64(r.start_ns as f64 / 1e9);
        self.key("uid");
        self.str(&r.uid());
        self.key("id.orig_h");
        self.quoted(|buf| push_ip(buf, r.orig.addr));
        self.key("id.orig_p");
        self.u64(u64::from(r.orig.port));
        self.key("id.resp_h");
        self.quoted(|buf| push_ip(buf, r.resp.addr));
        self.key("id.resp_p");
        self.u64(u64::from(r.resp.port));
        self.raw(b",\"proto\":\"tcp\"");
        let duration = r.duration_ns();
        if duration > 0 {
            self.key("duration");
            self.seconds(duration);
            self.key("orig_bytes");
            self.u64(r.orig_bytes);
            self.key("resp_bytes");
            self.u64(r.resp_bytes);
        }
        self.key("conn_state");
        self.str(r.conn_state);
        self.key("missed_bytes");
        self.u64(r.missed_bytes);
        if !r.history.is_empty() {
            self.key("history");
            self.str(&r.history);
        }
        self.key("orig_pkts");
        self.u64(r.orig_pkts);
        self.key("orig_ip_bytes");
        self.u64(r.orig_ip_bytes);
        self.key("resp_pkts");
        self.u64(r.resp_pkts);
        self.key("resp_ip_bytes");
        self.u64(r.resp_ip_bytes);
        self.key("community_id");
        self.str(&r.community_id);
        self.raw(b"}");
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
                    let text = RowText::of(&row);
                    let mut direct = Vec::new();
                    write_connection(&mut direct, &row).unwrap();
                    let mut serde = Vec::new();
                    write_line(&mut serde, &ConnectionJson::new(&row, &text)).unwrap();
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
