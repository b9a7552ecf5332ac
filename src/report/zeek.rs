//! Zeek's conn.log, for existing Zeek pipelines and zeek-cut style tools: the
//! TSV format with its `#separator`, `#fields` and `#types` header lines, or
//! Zeek's JSON-lines variant. One row per Zeek record (`tcp::zeek`: Zeek's
//! own connection boundaries, which may split a stream or join two),
//! written as the connection holding each record's first packet is
//! finished, in the row order of the other streamed reports (Zeek itself
//! writes rows as it removes connections).
//!
//! `#open` and `#close` carry the capture's first and last packet times rather
//! than the wall clock, so the same capture always gives the same log; a
//! streamed log's `#open` is the earliest frame time analysed before its
//! first row.

use std::io::{self, Write};

use serde::Serialize;

use crate::pipeline::{Analysis, Connection};
use crate::tcp::zeek::ZeekRecord;

use super::format::{push_fixed6, push_ip, push_u64};

/// conn.log's fields: Zeek's base `Conn::Info`, then `community_id`, which
/// Zeek's `policy/protocols/conn/community-id-logging.zeek` adds with a
/// `redef record Conn::Info += { community_id: string &optional &log; }`
/// (so after the base fields).
const FIELDS: [(&str, &str); 22] = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("local_orig", "bool"),
    ("local_resp", "bool"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
    ("community_id", "string"),
];

/// One conn.log record; `None` is Zeek's unset field (`-`, omitted in JSON).
#[derive(Debug, Serialize)]
pub(crate) struct ConnRecord {
    /// Time of the first packet, seconds since the epoch.
    ts: f64,
    /// Zeek-style id (see [`ZeekRecord::uid`]).
    uid: String,
    #[serde(rename = "id.orig_h")]
    /// Originator address (Zeek's guess of roles, flips included).
    orig_h: String,
    #[serde(rename = "id.orig_p")]
    /// Originator port.
    orig_p: u16,
    #[serde(rename = "id.resp_h")]
    /// Responder address.
    resp_h: String,
    #[serde(rename = "id.resp_p")]
    /// Responder port.
    resp_p: u16,
    /// Always `tcp`.
    proto: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Seconds from first to last packet; unset unless positive.
    duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Originator's payload bytes from sequence numbers (Zeek's Size()).
    orig_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Responder's payload bytes from sequence numbers.
    resp_bytes: Option<u64>,
    /// Zeek's conn_state.
    conn_state: &'static str,
    /// Bytes in content gaps.
    missed_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Zeek's history letters; unset when there are none.
    history: Option<String>,
    /// Packets from the originator.
    orig_pkts: u64,
    /// IP bytes (headers included) from the originator.
    orig_ip_bytes: u64,
    /// Packets from the responder.
    resp_pkts: u64,
    /// IP bytes from the responder.
    resp_ip_bytes: u64,
    /// The Community ID v1 of the endpoints.
    community_id: String,
}

impl ConnRecord {
    /// The conn.log line of one Zeek record (`Conn::set_conn` at removal).
    pub(crate) fn new(r: &ZeekRecord) -> ConnRecord {
        // Zeek leaves duration and sizes unset for a connection of no duration.
        let duration = r.duration_ns();
        let lasting = duration > 0;
        ConnRecord {
            ts: r.start_ns as f64 / 1e9,
            uid: r.uid(),
            orig_h: r.orig.addr.to_string(),
            orig_p: r.orig.port,
            resp_h: r.resp.addr.to_string(),
            resp_p: r.resp.port,
            proto: "tcp",
            duration: lasting.then_some(duration as f64 / 1e9),
            orig_bytes: lasting.then_some(r.orig_bytes),
            resp_bytes: lasting.then_some(r.resp_bytes),
            conn_state: r.conn_state,
            missed_bytes: r.missed_bytes,
            history: (!r.history.is_empty()).then(|| r.history.clone()),
            orig_pkts: r.orig_pkts,
            orig_ip_bytes: r.orig_ip_bytes,
            resp_pkts: r.resp_pkts,
            resp_ip_bytes: r.resp_ip_bytes,
            community_id: r.community_id.clone(),
        }
    }

    /// The record as a TSV line of Zeek's ASCII writer (the reference of
    /// [`write_tsv_record`]).
    #[cfg(test)]
    fn tsv(&self) -> String {
        let opt_f = |v: Option<f64>| v.map_or("-".to_string(), |d| format!("{d:.6}"));
        let opt_u = |v: Option<u64>| v.map_or("-".to_string(), |n| n.to_string());
        [
            format!("{:.6}", self.ts),
            self.uid.clone(),
            self.orig_h.clone(),
            self.orig_p.to_string(),
            self.resp_h.clone(),
            self.resp_p.to_string(),
            self.proto.to_string(),
            "-".into(),
            opt_f(self.duration),
            opt_u(self.orig_bytes),
            opt_u(self.resp_bytes),
            self.conn_state.to_string(),
            "-".into(),
            "-".into(),
            self.missed_bytes.to_string(),
            self.history.clone().unwrap_or_else(|| "-".into()),
            self.orig_pkts.to_string(),
            self.orig_ip_bytes.to_string(),
            self.resp_pkts.to_string(),
            self.resp_ip_bytes.to_string(),
            "-".into(),
            self.community_id.clone(),
        ]
        .join("\t")
    }
}

/// The records of an analysis no connection holds, written last.
pub(crate) fn unattached(a: &Analysis) -> impl Iterator<Item = ConnRecord> + '_ {
    a.zeek_unattached.iter().map(ConnRecord::new)
}

/// Zeek's `#open`/`#close` time format.
fn zeek_time(ts_ns: i64) -> String {
    use time::macros::format_description;
    let fmt = format_description!("[year]-[month]-[day]-[hour]-[minute]-[second]");
    time::OffsetDateTime::from_unix_timestamp_nanos(ts_ns as i128)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "-".into())
}

/// conn.log's TSV header lines, `#open` at `first_ns`.
pub(crate) fn write_tsv_header(out: &mut dyn Write, first_ns: i64) -> io::Result<()> {
    writeln!(out, "#separator \\x09")?;
    writeln!(out, "#set_separator\t,")?;
    writeln!(out, "#empty_field\t(empty)")?;
    writeln!(out, "#unset_field\t-")?;
    writeln!(out, "#path\tconn")?;
    writeln!(out, "#open\t{}", zeek_time(first_ns))?;
    let names: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
    let types: Vec<&str> = FIELDS.iter().map(|f| f.1).collect();
    writeln!(out, "#fields\t{}", names.join("\t"))?;
    writeln!(out, "#types\t{}", types.join("\t"))
}

/// conn.log's TSV trailer, `#close` at `last_ns`.
pub(crate) fn write_tsv_close(out: &mut dyn Write, last_ns: i64) -> io::Result<()> {
    writeln!(out, "#close\t{}", zeek_time(last_ns))
}

/// Appends the TSV line of one record, newline included: the fields of
/// [`ConnRecord`] in [`FIELDS`] order, written straight into `out` (one
/// String per field cost more than the rest of the record), times as
/// `{:.6}` writes their f64 seconds; `-` for what Zeek leaves unset.
pub(crate) fn write_tsv_record(out: &mut Vec<u8>, r: &ZeekRecord) {
    let duration = r.duration_ns();
    let lasting = duration > 0;
    push_fixed6(out, r.start_ns as f64 / 1e9);
    out.push(b'\t');
    out.extend_from_slice(r.uid().as_bytes());
    for e in [r.orig, r.resp] {
        out.push(b'\t');
        push_ip(out, e.addr);
        out.push(b'\t');
        push_u64(out, u64::from(e.port));
    }
    out.extend_from_slice(b"\ttcp\t-\t");
    if lasting {
        push_fixed6(out, duration as f64 / 1e9);
        out.push(b'\t');
        push_u64(out, r.orig_bytes);
        out.push(b'\t');
        push_u64(out, r.resp_bytes);
    } else {
        out.extend_from_slice(b"-\t-\t-");
    }
    out.push(b'\t');
    out.extend_from_slice(r.conn_state.as_bytes());
    out.extend_from_slice(b"\t-\t-\t");
    push_u64(out, r.missed_bytes);
    out.push(b'\t');
    if r.history.is_empty() {
        out.push(b'-');
    } else {
        out.extend_from_slice(r.history.as_bytes());
    }
    for n in [r.orig_pkts, r.orig_ip_bytes, r.resp_pkts, r.resp_ip_bytes] {
        out.push(b'\t');
        push_u64(out, n);
    }
    out.extend_from_slice(b"\t-\t");
    out.extend_from_slice(r.community_id.as_bytes());
    out.push(b'\n');
}

/// The latest packet time conn.log's `#close` must cover for one
/// connection: its own last packet's and its records'.
pub(crate) fn last_ns_of(c: &Connection) -> i64 {
    c.zeek
        .owned()
        .map(|r| r.last_ns)
        .fold(c.flow.end_ns, i64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Analyzer;

    #[test]
    fn direct_tsv_lines_are_the_references() {
        let mut lines = 0;
        for path in crate::test_support::shipped_captures() {
            let Ok(a) = Analyzer::new().analyze_path(&path) else {
                continue;
            };
            let records = a
                .connections
                .iter()
                .flat_map(|c| c.zeek.records())
                .chain(&a.zeek_unattached);
            for r in records {
                let mut direct = Vec::new();
                write_tsv_record(&mut direct, r);
                let reference = format!("{}\n", ConnRecord::new(r).tsv());
                assert_eq!(String::from_utf8(direct).unwrap(), reference);
                lines += 1;
            }
        }
        assert!(lines > 100, "{lines}");
    }
}
