//! JSON lines: one object per connection in the schema of docs/REFERENCE.md
//! (field order included), then one `{"summary": ...}` object.

use std::io::{self, Write};

use serde::Serialize;

use crate::anomaly::Anomaly;
use crate::model::{Side, TcpFlags};
use crate::pipeline::{Connection, Summary, SCHEMA_VERSION};
use crate::tcp::inline_vec::InlineVec;
use crate::tcp::machine::{Cause, State, Transition};
use crate::tcp::sequence::RttSummary;
use crate::tcp::zeek::ZeekRecord;

use super::format::{
    any_byte, has_byte, push_endpoint, push_exact_seconds, push_ip, push_rfc3339_ns, push_u64,
    seconds, Short, BYTE_ONES,
};
use super::row::ConnectionRow;
#[cfg(test)]
use {
    super::format::rfc3339_ns,
    super::row::{AckRtt, Irtt, PerRole, RowText, TimeInState},
    super::zeek::ConnRecord,
    crate::anomaly::{AnomalyCode, Severity},
    crate::flow::ClientReason,
    crate::tcp::machine::Outcome,
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
/// Each key is appended with the punctuation around it as one constant
/// (`,"stream":`), names that recur (states, causes, flags) from tables
/// of fixed-size texts, and the transitions straight from the machines'
/// compact records: what was left of the cost was the number of appends.
pub(super) fn write_connection(out: &mut Vec<u8>, row: &ConnectionRow) -> io::Result<()> {
    let ac = row.conn;
    let c = &ac.flow;
    let mut j = Json { buf: out };
    j.raw(b"{\"schema_version\":");
    j.u64(u64::from(SCHEMA_VERSION));
    j.raw(b",\"file\":");
    j.str(row.file);
    j.raw(b",\"stream\":");
    j.u64(row.stream);
    // Endpoints and times hold nothing JSON escapes.
    j.either(
        row.continues,
        b",\"continues\":true,\"client\":\"",
        b",\"continues\":false,\"client\":\"",
    );
    push_endpoint(j.buf, &row.client);
    j.raw(b"\",\"server\":\"");
    push_endpoint(j.buf, &row.server);
    j.raw(b"\",\"community_id\":");
    j.str(row.community_id);
    j.raw(b",\"client_reason\":");
    j.name(row.client_reason.name());
    j.raw(b",\"first_frame\":");
    j.u64(row.first_frame);
    j.raw(b",\"last_frame\":");
    j.u64(row.last_frame);
    j.raw(b",\"start\":\"");
    push_rfc3339_ns(j.buf, row.start_ns);
    j.raw(b"\",\"end\":\"");
    push_rfc3339_ns(j.buf, row.end_ns);
    j.raw(b"\",\"duration\":");
    j.seconds(row.duration_ns);
    j.raw(b",\"packets\":{\"client\":");
    j.u64(row.packets.client);
    j.raw(b",\"server\":");
    j.u64(row.packets.server);
    j.raw(b"},\"bytes\":{\"client\":");
    j.u64(row.bytes.client);
    j.raw(b",\"server\":");
    j.u64(row.bytes.server);
    j.raw(b"},\"flags\":{\"client\":");
    j.flag_names(c.flags[Side::Client.idx()]);
    j.raw(b",\"server\":");
    j.flag_names(c.flags[Side::Server.idx()]);
    j.raw(b"},\"client_states\":");
    j.states(&row.states.client);
    j.raw(b",\"server_states\":");
    j.states(&row.states.server);
    j.raw(b",\"client_state\":");
    j.state(row.state.client);
    j.raw(b",\"server_state\":");
    j.state(row.state.server);
    j.either(
        row.state_inferred.client,
        b",\"client_state_inferred\":true",
        b",\"client_state_inferred\":false",
    );
    j.either(
        row.state_inferred.server,
        b",\"server_state_inferred\":true,\"outcome\":",
        b",\"server_state_inferred\":false,\"outcome\":",
    );
    j.name(row.outcome.name());
    j.raw(b",\"conn_state\":");
    j.str(row.conn_state);
    j.raw(b",\"history\":");
    j.str(row.history);
    j.raw(b",\"analysis\":{\"client\":");
    j.counts(
        ac.seq
            .stats(Side::Client)
            .flags
            .iter()
            .map(|(k, v)| (*k, *v)),
    );
    j.raw(b",\"server\":");
    j.counts(
        ac.seq
            .stats(Side::Server)
            .flags
            .iter()
            .map(|(k, v)| (*k, *v)),
    );
    j.raw(b"},\"retransmitted_bytes\":{\"client\":");
    j.u64(row.retransmitted_bytes.client);
    j.raw(b",\"server\":");
    j.u64(row.retransmitted_bytes.server);
    j.raw(b"},\"missed_bytes\":");
    j.u64(row.missed_bytes);
    j.raw(b",\"zeek\":[");
    for r in ac.zeek.records() {
        j.zeek_record(r);
        j.raw(b",");
    }
    j.close(b']');
    j.raw(b",\"irtt\":{\"total\":");
    j.opt_seconds(row.irtt.total_ns);
    j.raw(b",\"client_side\":");
    j.opt_seconds(row.irtt.client_side_ns);
    j.raw(b",\"server_side\":");
    j.opt_seconds(row.irtt.server_side_ns);
    j.raw(b"},\"anomalies\":[");
    j.anomalies(ac);
    j.close(b']');
    j.raw(b",\"anomaly_counts\":");
    j.anomaly_counts(ac);
    j.raw(b",\"vlan\":[");
    for id in c.path.vlans.ids() {
        j.u64(u64::from(id));
        j.raw(b",");
    }
    j.close(b']');
    j.raw(b",\"tunnel\":");
    match row.tunnel {
        Some(t) => j.str(&t.to_string()),
        None => j.raw(b"null"),
    }
    j.raw(b",\"time_in_state\":{\"client\":");
    j.time_in_state(&row.time_in_state.client);
    j.raw(b",\"server\":");
    j.time_in_state(&row.time_in_state.server);
    j.raw(b"},\"ack_rtt\":{\"client\":");
    j.ack_rtt(row.ack_rtt.client);
    j.raw(b",\"server\":");
    j.ack_rtt(row.ack_rtt.server);
    j.raw(b"},\"transitions\":[");
    for t in ac.tcp.each_transition() {
        j.transition(&t);
    }
    j.close(b']');
    j.raw(b"}\n");
    Ok(())
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

/// Whether any byte of `bytes` is one JSON escapes, eight bytes at a time
/// (below a space: the classic has-less test on a word, exact as a whole).
fn any_escaped(bytes: &[u8]) -> bool {
    let below_space = |w: u64| w.wrapping_sub(BYTE_ONES * 0x20) & !w & (BYTE_ONES * 0x80) != 0;
    any_byte(
        bytes,
        |w| below_space(w) || has_byte(w, b'"') || has_byte(w, b'\\'),
        |b| ESCAPED[usize::from(b)],
    )
}

/// A short text of each state, cause and flag the JSON writer appends many
/// times per connection, indexed by the value (`State as usize`).
struct Names<const N: usize>([Short; N]);

/// `"TIME_WAIT"`.
const STATE_TEXT: Names<11> = {
    let mut t = [Short::of(&[]); 11];
    let mut i = 0;
    while i < t.len() {
        let s = State::ALL[i];
        assert!(s as usize == i);
        t[i] = Short::of(&["\"", s.name(), "\""]);
        i += 1;
    }
    Names(t)
};

/// `"TIME_WAIT",`: a list item.
const STATE_ITEM: Names<11> = {
    let mut t = [Short::of(&[]); 11];
    let mut i = 0;
    while i < t.len() {
        t[i] = Short::of(&["\"", State::ALL[i].name(), "\","]);
        i += 1;
    }
    Names(t)
};

/// `"TIME_WAIT":`: an object's key.
const STATE_KEY: Names<11> = {
    let mut t = [Short::of(&[]); 11];
    let mut i = 0;
    while i < t.len() {
        t[i] = Short::of(&["\"", State::ALL[i].name(), "\":"]);
        i += 1;
    }
    Names(t)
};

/// `"sent_syn"`: a cause as serde names it.
const CAUSE_TEXT: Names<16> = {
    let mut t = [Short::of(&[]); 16];
    let mut i = 0;
    while i < t.len() {
        let c = Cause::ALL[i];
        assert!(c as usize == i);
        t[i] = Short::of(&["\"", c.code(), "\""]);
        i += 1;
    }
    Names(t)
};

/// `"SYN",`: a flag's name as a list item, in [`TcpFlags::NAMES`]' order.
const FLAG_ITEM: Names<9> = {
    let mut t = [Short::of(&[]); 9];
    let mut i = 0;
    while i < t.len() {
        t[i] = Short::of(&["\"", TcpFlags::NAMES[i].1, "\","]);
        i += 1;
    }
    Names(t)
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
/// Lists and objects are written with a comma after every item, the last
/// one then turned into the closing bracket ([`Json::close`]).
struct Json<'b> {
    buf: &'b mut Vec<u8>,
}

impl Json<'_> {
    /// Always inlined, as [`Json::either`] and [`Short::push_to`]: the
    /// lengths are then constants and the copies a few moves rather than
    /// calls to `memcpy`.
    #[inline(always)]
    fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// `yes` if `cond`, else `no`, each a constant.
    #[inline(always)]
    fn either<const A: usize, const B: usize>(&mut self, cond: bool, yes: &[u8; A], no: &[u8; B]) {
        if cond {
            self.raw(yes)
        } else {
            self.raw(no)
        }
    }

    /// Ends a list or object whose items were each followed by a comma:
    /// the last comma becomes `bracket` (after none, `bracket` follows the
    /// opening one).
    #[inline(always)]
    fn close(&mut self, bracket: u8) {
        match self.buf.last_mut() {
            Some(last) if *last == b',' => *last = bracket,
            _ => self.buf.push(bracket),
        }
    }

    /// A string, escaped as serde_json escapes: `"` and `\\`, and control
    /// characters as `\b \t \n \f \r` or `\u00xx`.
    fn str(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.buf.push(b'"');
        let bytes = s.as_bytes();
        // Mostly nothing to escape: one test, then one copy.
        if !any_escaped(bytes) {
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

    #[inline]
    fn u64(&mut self, v: u64) {
        push_u64(self.buf, v);
    }

    fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.u64(v),
            None => self.raw(b"null"),
        }
    }

    /// A name known to hold nothing JSON escapes (a fixed identifier).
    fn name(&mut self, s: &'static str) {
        debug_assert!(!s.bytes().any(|b| ESCAPED[usize::from(b)]));
        self.buf.push(b'"');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(b'"');
    }

    #[inline]
    fn state(&mut self, s: State) {
        STATE_TEXT.0[s as usize].push_to(self.buf);
    }

    /// `["CLOSED","SYN_SENT"]`.
    fn states(&mut self, states: &[State]) {
        self.raw(b"[");
        for &s in states {
            STATE_ITEM.0[s as usize].push_to(self.buf);
        }
        self.close(b']');
    }

    /// The names of the flags set, in Wireshark's order: `["ACK","SYN"]`.
    fn flag_names(&mut self, f: TcpFlags) {
        self.raw(b"[");
        for (i, &(bit, _)) in TcpFlags::NAMES.iter().enumerate() {
            if f.0 & bit != 0 {
                FLAG_ITEM.0[i].push_to(self.buf);
            }
        }
        self.close(b']');
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
    #[inline]
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

    /// Seconds per state: `{"CLOSED":0.0,"SYN_SENT":0.000016}`.
    fn time_in_state(&mut self, spent: &[(State, i64)]) {
        self.raw(b"{");
        for &(state, ns) in spent {
            STATE_KEY.0[state as usize].push_to(self.buf);
            self.seconds(ns);
            self.raw(b",");
        }
        self.close(b'}');
    }

    /// One side's ACK round-trip times, nulls without samples.
    fn ack_rtt(&mut self, r: Option<RttSummary>) {
        let Some(r) = r else {
            self.raw(b"{\"min\":null,\"median\":null,\"p95\":null,\"max\":null,\"samples\":0}");
            return;
        };
        self.raw(b"{\"min\":");
        self.seconds(r.min_ns);
        self.raw(b",\"median\":");
        self.seconds(r.median_ns);
        self.raw(b",\"p95\":");
        self.seconds(r.p95_ns);
        self.raw(b",\"max\":");
        self.seconds(r.max_ns);
        self.raw(b",\"samples\":");
        self.u64(r.samples);
        self.raw(b"}");
    }

    /// One transition as an object, then a comma.
    fn transition(&mut self, t: &Transition) {
        self.raw(b"{\"frame\":");
        self.opt_u64(t.frame);
        self.raw(b",\"time\":\"");
        push_rfc3339_ns(self.buf, t.ts_ns);
        match t.side {
            Side::Client => self.raw(b"\",\"side\":\"client\",\"from\":"),
            Side::Server => self.raw(b"\",\"side\":\"server\",\"from\":"),
        }
        self.state(t.from);
        self.raw(b",\"to\":");
        self.state(t.to);
        self.raw(b",\"cause\":");
        CAUSE_TEXT.0[t.cause as usize].push_to(self.buf);
        self.either(
            t.inferred,
            b",\"inferred\":true,\"evidence_frame\":",
            b",\"inferred\":false,\"evidence_frame\":",
        );
        self.opt_u64(t.evidence_frame);
        self.raw(b"},");
    }

    /// The listed anomalies in frame order, each an object and a comma:
    /// nothing to do for most connections, and a list already in order
    /// when one analyser listed them all.
    fn anomalies(&mut self, ac: &Connection) {
        let (tcp, seq) = (ac.tcp.anomalies(), ac.seq.anomaly_log().listed());
        let key = |a: &Anomaly| a.frame.unwrap_or(u64::MAX);
        let one = match (tcp.is_empty(), seq.is_empty()) {
            (true, true) => return,
            (false, true) => tcp,
            (true, false) => seq,
            (false, false) => &[],
        };
        if !one.is_empty() && one.is_sorted_by_key(key) {
            for a in one {
                self.anomaly(a);
            }
        } else {
            for a in ac.anomalies() {
                self.anomaly(a);
            }
        }
    }

    fn anomaly(&mut self, a: &Anomaly) {
        self.raw(b"{\"code\":");
        self.name(a.code.code());
        self.raw(b",\"severity\":");
        self.name(severity_name(a.code.severity()));
        self.raw(b",\"frame\":");
        self.opt_u64(a.frame);
        match a.side {
            Some(s) => {
                self.raw(b",\"side\":");
                self.name(side_name(s));
                self.raw(b",\"detail\":");
            }
            None => self.raw(b",\"side\":null,\"detail\":"),
        }
        self.str(&a.detail);
        self.raw(b"},");
    }

    /// Occurrences per code, keyed by code name in name order (as the
    /// BTreeMap of [`ConnectionJson`]).
    fn anomaly_counts(&mut self, ac: &Connection) {
        let (tcp, seq) = (ac.tcp.anomaly_log().counts(), ac.seq.anomaly_log().counts());
        if tcp.is_empty() && seq.is_empty() {
            self.raw(b"{}");
            return;
        }
        let mut counts: InlineVec<(&'static str, u64), 8> = InlineVec::default();
        if tcp.is_empty() || seq.is_empty() {
            // One log: one entry per code already.
            for &(code, n) in tcp.iter().chain(seq) {
                counts.push((code.code(), n));
            }
        } else {
            for (code, n) in ac.anomaly_counts() {
                counts.push((code.code(), n));
            }
        }
        counts.sort_unstable_by_key(|&(code, _)| code);
        self.counts(counts.iter().copied());
    }

    /// Counts keyed by name, in the order given: `{"retransmission":3}`.
    fn counts<'k>(&mut self, entries: impl Iterator<Item = (&'k str, u64)>) {
        self.raw(b"{");
        for (k, v) in entries {
            self.str(k);
            self.raw(b":");
            self.u64(v);
            self.raw(b",");
        }
        self.close(b'}');
    }

    /// One Zeek record as an object, the fields of [`ConnRecord`](super::zeek::ConnRecord) in its
    /// order; Zeek leaves duration and sizes unset (here: out) for a record
    /// of no duration, and history unset when it has no letters.
    fn zeek_record(&mut self, r: &ZeekRecord) {
        self.raw(b"{\"ts\":");
        self.f64(r.start_ns as f64 / 1e9);
        self.raw(b",\"uid\":");
        self.str(&r.uid());
        self.raw(b",\"id.orig_h\":\"");
        push_ip(self.buf, r.orig.addr);
        self.raw(b"\",\"id.orig_p\":");
        self.u64(u64::from(r.orig.port));
        self.raw(b",\"id.resp_h\":\"");
        push_ip(self.buf, r.resp.addr);
        self.raw(b"\",\"id.resp_p\":");
        self.u64(u64::from(r.resp.port));
        let duration = r.duration_ns();
        if duration > 0 {
            self.raw(b",\"proto\":\"tcp\",\"duration\":");
            self.seconds(duration);
            self.raw(b",\"orig_bytes\":");
            self.u64(r.orig_bytes);
            self.raw(b",\"resp_bytes\":");
            self.u64(r.resp_bytes);
            self.raw(b",\"conn_state\":");
        } else {
            self.raw(b",\"proto\":\"tcp\",\"conn_state\":");
        }
        self.str(r.conn_state);
        self.raw(b",\"missed_bytes\":");
        self.u64(r.missed_bytes);
        if !r.history.is_empty() {
            self.raw(b",\"history\":");
            self.str(&r.history);
        }
        self.raw(b",\"orig_pkts\":");
        self.u64(r.orig_pkts);
        self.raw(b",\"orig_ip_bytes\":");
        self.u64(r.orig_ip_bytes);
        self.raw(b",\"resp_pkts\":");
        self.u64(r.resp_pkts);
        self.raw(b",\"resp_ip_bytes\":");
        self.u64(r.resp_ip_bytes);
        self.raw(b",\"community_id\":");
        self.str(&r.community_id);
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
        // One byte JSON escapes (or one it does not, of those near them)
        // at each place of strings of each length, around the eight-byte
        // words the test for escapes reads.
        let mut placed = Vec::new();
        for len in 1..40 {
            for at in 0..len {
                for special in ['\0', '\u{1f}', ' ', '"', '!', '#', '\\', '\u{7f}', 'é'] {
                    let mut s: String = "a".repeat(len);
                    s.replace_range(at..at + 1, &special.to_string());
                    placed.push(s);
                }
            }
        }
        let fixed = [all.as_str(), "", "plain", "a\"b\\c\nd"];
        for s in fixed.into_iter().chain(placed.iter().map(String::as_str)) {
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
