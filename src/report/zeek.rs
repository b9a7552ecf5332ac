//! Zeek's conn.log, for existing Zeek pipelines and zeek-cut style tools: the
//! TSV format with its `#separator`, `#fields` and `#types` header lines, or
//! Zeek's JSON-lines variant. One row per connection, in stream order (Zeek
//! itself writes rows when connections are removed, which is later).
//!
//! `#open` and `#close` carry the capture's first and last packet times rather
//! than the wall clock, so the same capture always gives the same log.

use std::io::{self, Write};

use serde::Serialize;

use crate::pipeline::{Analysis, Connection};

const FIELDS: [(&str, &str); 21] = [
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
];

/// One conn.log record; `None` is Zeek's unset field (`-`, omitted in JSON).
#[derive(Debug, Serialize)]
pub(crate) struct ConnRecord {
    /// Start of the connection, seconds since the epoch.
    ts: f64,
    /// Stable connection id (see [`uid`]).
    uid: String,
    #[serde(rename = "id.orig_h")]
    /// Originator (client) address.
    orig_h: String,
    #[serde(rename = "id.orig_p")]
    /// Originator port.
    orig_p: u16,
    #[serde(rename = "id.resp_h")]
    /// Responder (server) address.
    resp_h: String,
    #[serde(rename = "id.resp_p")]
    /// Responder port.
    resp_p: u16,
    /// Always `tcp`.
    proto: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Seconds from first to last packet; unset when zero.
    duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Originator's payload bytes from sequence numbers (Zeek's Size()).
    orig_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Responder's payload bytes from sequence numbers.
    resp_bytes: Option<u64>,
    /// Zeek's conn_state.
    conn_state: &'static str,
    /// Bytes acknowledged but never captured.
    missed_bytes: u64,
    /// Zeek's history letters.
    history: String,
    /// Packets from the originator.
    orig_pkts: u64,
    /// IP bytes (headers included) from the originator.
    orig_ip_bytes: u64,
    /// Packets from the responder.
    resp_pkts: u64,
    /// IP bytes from the responder.
    resp_ip_bytes: u64,
}

/// A stable Zeek-style connection id ("C" and 17 base-62 characters) derived
/// from the file name and stream index, so reruns give the same uids.
fn uid(file: &str, stream: u64) -> String {
    // FNV-1a over the name and stream, then mixed: deterministic, not secret.
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in file.bytes().chain(stream.to_le_bytes()) {
        h ^= b as u128;
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = String::from("C");
    for _ in 0..17 {
        s.push(ALPHABET[(h % 62) as usize] as char);
        h /= 62;
    }
    s
}

impl ConnRecord {
    /// The record of one analysed connection of `file`.
    pub(crate) fn new(file: &str, c: &Connection) -> ConnRecord {
        let f = &c.flow;
        let [op, rp] = f.packets;
        let [oib, rib] = f.ip_bytes;
        let (ob, rb) = c.zeek.bytes();
        let duration = f.duration_ns();
        // Zeek leaves duration and sizes unset for a connection of no duration.
        let lasting = duration > 0;
        ConnRecord {
            ts: f.start_ns as f64 / 1e9,
            // A later part of a stream (after eviction) gets its own uid,
            // derived from where it starts, so uids stay unique.
            uid: if f.continues {
                uid(&format!("{file}#{}", f.first_frame), f.stream)
            } else {
                uid(file, f.stream)
            },
            orig_h: f.client().addr.to_string(),
            orig_p: f.client().port,
            resp_h: f.server().addr.to_string(),
            resp_p: f.server().port,
            proto: "tcp",
            duration: lasting.then_some(duration as f64 / 1e9),
            orig_bytes: lasting.then_some(ob),
            resp_bytes: lasting.then_some(rb),
            conn_state: c.zeek.conn_state(),
            missed_bytes: c.zeek.missed_bytes(),
            history: c.zeek.history().to_string(),
            orig_pkts: op,
            orig_ip_bytes: oib,
            resp_pkts: rp,
            resp_ip_bytes: rib,
        }
    }

    /// The record as a TSV line of Zeek's ASCII writer.
    fn tsv(&self) -> String {
        let opt_f = |v: Option<f64>| v.map_or("-".to_string(), |d| format!("{d:.6}"));
        let opt_u = |v: Option<u64>| v.map_or("-".to_string(), |n| n.to_string());
        let history = if self.history.is_empty() {
            "(empty)".to_string()
        } else {
            self.history.clone()
        };
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
            history,
            self.orig_pkts.to_string(),
            self.orig_ip_bytes.to_string(),
            self.resp_pkts.to_string(),
            self.resp_ip_bytes.to_string(),
            "-".into(),
        ]
        .join("\t")
    }
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
            .map(move |c| ConnRecord::new(&a.file, c))
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
        .flat_map(|a| a.connections.iter().map(|c| c.flow.end_ns))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_stable_and_zeek_shaped() {
        let a = uid("x.pcap", 3);
        assert_eq!(a, uid("x.pcap", 3));
        assert_ne!(a, uid("x.pcap", 4));
        assert_eq!(a.len(), 18);
        assert!(a.starts_with('C') && a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
