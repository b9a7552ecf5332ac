//! Zeek's conn.log, for existing Zeek pipelines and zeek-cut style tools: the
//! TSV format with its `#separator`, `#fields` and `#types` header lines, or
//! Zeek's JSON-lines variant. One row per Zeek record (`tcp::zeek`: Zeek's
//! own connection boundaries, which may split a stream or join two),
//! grouped by the stream holding each record's first packet, in stream
//! order (Zeek itself writes rows as it removes connections).
//!
//! `#open` and `#close` carry the capture's first and last packet times rather
//! than the wall clock, so the same capture always gives the same log.

use std::io::{self, Write};

use serde::Serialize;

use crate::pipeline::{Analysis, Connection};
use crate::tcp::zeek::ZeekRecord;

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

    /// The record as a TSV line of Zeek's ASCII writer.
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

/// The records conn.log writes for one connection: those whose first
/// packet it holds, in order.
pub(crate) fn records_of(c: &Connection) -> impl Iterator<Item = ConnRecord> + '_ {
    c.zeek.owned().map(ConnRecord::new)
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

/// Writes conn.log for all analyses: TSV with headers, or JSON lines.
pub(crate) fn write_conn_log(
    out: &mut dyn Write,
    analyses: &[Analysis],
    json: bool,
) -> io::Result<()> {
    let rows = analyses.iter().flat_map(|a| {
        a.connections
            .iter()
            .flat_map(records_of)
            .chain(unattached(a))
    });
    if json {
        for r in rows {
            serde_json::to_writer(&mut *out, &r)?;
            out.write_all(b"\n")?;
        }
        return Ok(());
    }
    let first = analyses
        .iter()
        .filter_map(|a| a.first_ts_ns)
        .min()
        .unwrap_or(0);
    let last = analyses
        .iter()
        .flat_map(|a| {
            let records = a.connections.iter().flat_map(|c| c.zeek.owned());
            records.chain(&a.zeek_unattached).map(|r| r.last_ns)
        })
        .chain(
            analyses
                .iter()
                .flat_map(|a| a.connections.iter().map(|c| c.flow.end_ns)),
        )
        .max()
        .unwrap_or(first);
    writeln!(out, "#separator \\x09")?;
    writeln!(out, "#set_separator\t,")?;
    writeln!(out, "#empty_field\t(empty)")?;
    writeln!(out, "#unset_field\t-")?;
    writeln!(out, "#path\tconn")?;
    writeln!(out, "#open\t{}", zeek_time(first))?;
    let names: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
    let types: Vec<&str> = FIELDS.iter().map(|f| f.1).collect();
    writeln!(out, "#fields\t{}", names.join("\t"))?;
    writeln!(out, "#types\t{}", types.join("\t"))?;
    for r in rows {
        writeln!(out, "{}", r.tsv())?;
    }
    writeln!(out, "#close\t{}", zeek_time(last))
}
