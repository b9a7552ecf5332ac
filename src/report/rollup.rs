//! Rollups (`--group-by`): connections summed up per server, client, server
//! port or client network, for the questions a report over many captures
//! asks: which service leaks CLOSE_WAIT, which hosts retransmit, where the
//! handshakes are slow.
//!
//! A [`Rollup`] takes connections as the analysis finishes them and keeps
//! one [`Group`] of counters per key, so memory follows the number of groups,
//! never the number of connections: round-trip times go into the bounded
//! sample sets the connections use ([`RttSamples`]: 1024 exact values, then a
//! histogram), offenders into a top-N list, and
//! groups past `max_groups` into one group `other`. Every format writes the
//! same columns ([`GroupRow::columns`]), the one list docs/REFERENCE.md
//! documents.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, Write};
use std::net::IpAddr;

use serde_json::{json, Map, Value as Json};

use crate::model::Side;
use crate::pipeline::Connection;
use crate::tcp::machine::{Outcome, State};
use crate::tcp::sequence::RttSamples;

use super::format::seconds;

/// The version of the rollup columns (docs/REFERENCE.md, "Rollups"), the
/// `schema_version` of each JSON object and of the Parquet file.
pub const ROLLUP_SCHEMA_VERSION: u32 = 1;

/// Groups kept by default before new keys go to `other`.
pub const DEFAULT_MAX_GROUPS: usize = 10_000;

/// Offenders listed per group and kind.
pub const TOP_OFFENDERS: usize = 5;

/// What a group is keyed by; several combine (`server,server-port`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupKey {
    /// The server's address.
    Server,
    /// The client's address.
    Client,
    /// The server's port.
    ServerPort,
    /// The client's network: IPv4 addresses cut to the first length,
    /// IPv6 to the second.
    ClientNet {
        /// Prefix length for IPv4 clients (0 to 32).
        v4: u8,
        /// Prefix length for IPv6 clients (0 to 128).
        v6: u8,
    },
}

/// The IPv6 prefix length of `client-net/N` when none is given: a site's /64.
pub const DEFAULT_CLIENT_NET_V6: u8 = 64;

impl GroupKey {
    /// Parses `server`, `client`, `server-port`, `client-net/N` or
    /// `client-net/N/M` (IPv4 /N, IPv6 /M; M defaults to 64).
    pub fn from_name(s: &str) -> Result<GroupKey, String> {
        match s {
            "server" => return Ok(GroupKey::Server),
            "client" => return Ok(GroupKey::Client),
            "server-port" => return Ok(GroupKey::ServerPort),
            _ => {}
        }
        let bad = || {
            format!(
                "unknown group key {s:?}: server, client, server-port or client-net/N \
                 (IPv4 /N, 0-32; client-net/N/M also sets the IPv6 length, default 64)"
            )
        };
        let lengths = s.strip_prefix("client-net/").ok_or_else(bad)?;
        let mut parts = lengths.split('/');
        let v4: u8 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let v6: u8 = match parts.next() {
            Some(p) => p.parse().map_err(|_| bad())?,
            None => DEFAULT_CLIENT_NET_V6,
        };
        if v4 > 32 || v6 > 128 || parts.next().is_some() {
            return Err(bad());
        }
        Ok(GroupKey::ClientNet { v4, v6 })
    }

    /// The column holding this key's value.
    pub fn column(self) -> &'static str {
        match self {
            GroupKey::Server => "server",
            GroupKey::Client => "client",
            GroupKey::ServerPort => "server_port",
            GroupKey::ClientNet { .. } => "client_net",
        }
    }

    fn of(self, c: &Connection) -> KeyPart {
        match self {
            GroupKey::Server => KeyPart::Addr(c.flow.server().addr),
            GroupKey::Client => KeyPart::Addr(c.flow.client().addr),
            GroupKey::ServerPort => KeyPart::Port(c.flow.server().port),
            GroupKey::ClientNet { v4, v6 } => {
                let addr = c.flow.client().addr;
                let len = if addr.is_ipv4() { v4 } else { v6 };
                KeyPart::Net(network(addr, len), len)
            }
        }
    }
}

/// `addr` with the bits past `len` cleared.
fn network(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// One key's value for a group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum KeyPart {
    Addr(IpAddr),
    Port(u16),
    Net(IpAddr, u8),
}

impl fmt::Display for KeyPart {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            KeyPart::Addr(a) => write!(f, "{a}"),
            KeyPart::Port(p) => write!(f, "{p}"),
            KeyPart::Net(a, len) => write!(f, "{a}/{len}"),
        }
    }
}

/// Time a group's connections spent in one state (CLOSE_WAIT, TIME_WAIT),
/// from each side's time in state (`PairedMachines::time_in_state`: the
/// last state lasts to where the analysis finished the connection).
#[derive(Clone, Debug, Default)]
struct StateTime {
    /// Connections where a side entered the state.
    connections: u64,
    /// Connections with a side still in it at their end.
    at_end: u64,
    /// Time both sides spent in it, and the longest one side did.
    total_ns: u128,
    max_ns: i64,
}

impl StateTime {
    fn add(&mut self, c: &Connection, state: State) {
        let mut entered = false;
        for side in Side::BOTH {
            let spent = c.tcp.time_in_state(side, c.flow.start_ns);
            if let Some(&(_, ns)) = spent.iter().find(|(s, _)| *s == state) {
                entered = true;
                self.total_ns += ns.max(0) as u128;
                self.max_ns = self.max_ns.max(ns);
            }
        }
        self.connections += u64::from(entered);
        self.at_end += u64::from(Side::BOTH.iter().any(|s| c.tcp.state(*s) == state));
    }

    /// (total seconds, longest in seconds).
    fn totals(&self) -> (f64, f64) {
        (self.total_ns as f64 / 1e9, seconds(self.max_ns))
    }
}

/// A stream that stands out in its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offender {
    /// Index of its input among the rollup's inputs.
    file: usize,
    /// Wireshark's `tcp.stream`.
    pub stream: u64,
    /// Anomalies or retransmitted segments.
    pub count: u64,
}

/// The streams with the highest counts, most first, ties by input and stream.
#[derive(Clone, Debug, Default)]
struct Top(Vec<Offender>);

impl Top {
    fn add(&mut self, o: Offender) {
        if o.count == 0 {
            return;
        }
        let before = |a: &Offender, b: &Offender| {
            (std::cmp::Reverse(a.count), a.file, a.stream)
                < (std::cmp::Reverse(b.count), b.file, b.stream)
        };
        let at = self
            .0
            .iter()
            .position(|x| before(&o, x))
            .unwrap_or(self.0.len());
        if at < TOP_OFFENDERS {
            self.0.insert(at, o);
            self.0.truncate(TOP_OFFENDERS);
        }
    }
}

/// The counters of one group.
#[derive(Clone, Debug, Default)]
pub struct Group {
    connections: u64,
    outcomes: [u64; Outcome::ALL.len()],
    anomalies: BTreeMap<&'static str, u64>,
    connections_with_anomalies: u64,
    data_segments: [u64; 2],
    retransmitted_segments: [u64; 2],
    /// Handshake RTTs (Wireshark's initial_rtt), one per connection.
    irtt: RttSamples,
    /// ACK RTTs of the ACKs each side sent.
    ack_rtt: [RttSamples; 2],
    close_wait: StateTime,
    time_wait: StateTime,
    top_anomalies: Top,
    top_retransmissions: Top,
}

impl Group {
    fn add(&mut self, file: usize, c: &Connection) {
        self.connections += 1;
        let outcome = c.tcp.outcome();
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.outcomes[i] += 1;
        }
        let counts = c.anomaly_counts();
        let mut anomalies = 0;
        for (code, n) in &counts {
            *self.anomalies.entry(code.code()).or_insert(0) += n;
            anomalies += n;
        }
        self.connections_with_anomalies += u64::from(anomalies > 0);
        let mut retransmitted = 0;
        for side in Side::BOTH {
            let s = c.seq.stats(side);
            self.data_segments[side.idx()] += s.data_segments;
            self.retransmitted_segments[side.idx()] += s.retransmitted_segments;
            retransmitted += s.retransmitted_segments;
            self.ack_rtt[side.idx()].merge(c.seq.ack_rtt(side));
        }
        if let Some(ns) = c.seq.handshake_rtt().total_ns {
            self.irtt.add(ns);
        }
        self.close_wait.add(c, State::CloseWait);
        self.time_wait.add(c, State::TimeWait);
        let stream = c.flow.stream;
        self.top_anomalies.add(Offender {
            file,
            stream,
            count: anomalies,
        });
        self.top_retransmissions.add(Offender {
            file,
            stream,
            count: retransmitted,
        });
    }
}

/// Connections summed up per group as they come.
pub struct Rollup {
    keys: Vec<GroupKey>,
    max_groups: usize,
    groups: HashMap<Vec<KeyPart>, Group>,
    /// Connections of keys past `max_groups`.
    other: Option<Group>,
    /// The inputs' names, in the order first seen.
    files: Vec<String>,
}

impl Rollup {
    /// A rollup by `keys` (at least one) keeping at most `max_groups` groups.
    pub fn new(keys: Vec<GroupKey>, max_groups: usize) -> Rollup {
        Rollup {
            keys,
            max_groups: max_groups.max(1),
            groups: HashMap::new(),
            other: None,
            files: Vec::new(),
        }
    }

    /// Adds finished connections of input `file`.
    pub fn add(&mut self, file: &str, conns: &[Connection]) {
        let fi = match self.files.iter().position(|f| f == file) {
            Some(i) => i,
            None => {
                self.files.push(file.to_string());
                self.files.len() - 1
            }
        };
        for c in conns {
            let key: Vec<KeyPart> = self.keys.iter().map(|k| k.of(c)).collect();
            let full = self.groups.len() >= self.max_groups;
            let group = match self.groups.get_mut(&key) {
                Some(g) => g,
                None if full => self.other.get_or_insert_with(Group::default),
                None => self.groups.entry(key).or_default(),
            };
            group.add(fi, c);
        }
    }

    /// The groups as rows: most connections first (ties by key), `other` last.
    pub fn finish(self) -> Rollups {
        let mut groups: Vec<(Vec<KeyPart>, Group)> = self.groups.into_iter().collect();
        groups.sort_by(|a, b| b.1.connections.cmp(&a.1.connections).then(a.0.cmp(&b.0)));
        let mut rows: Vec<GroupRow> = groups
            .into_iter()
            .map(|(k, g)| GroupRow::new(Some(k), &g, &self.files))
            .collect();
        if let Some(g) = self.other {
            rows.push(GroupRow::new(None, &g, &self.files));
        }
        Rollups {
            keys: self.keys,
            rows,
            many_files: self.files.len() > 1,
        }
    }
}

/// The finished groups.
pub struct Rollups {
    keys: Vec<GroupKey>,
    rows: Vec<GroupRow>,
    /// Offenders name their input (more than one input).
    many_files: bool,
}

/// One value of a rollup column.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A key's text (address or network); null for `other`.
    Text(Option<String>),
    /// A port; null for `other`.
    Port(Option<u16>),
    /// A count.
    Count(u64),
    /// Seconds or a rate; null when there is nothing to measure.
    Number(Option<f64>),
    /// Counts by name (anomaly codes), in name order.
    Counts(Vec<(&'static str, u64)>),
    /// Streams with their counts, most first.
    Offenders(Vec<(String, u64, u64)>),
}

/// One group's row.
pub struct GroupRow {
    /// The key's values; `None` for `other`.
    key: Option<Vec<KeyPart>>,
    /// The columns after the keys, (name, value) in the documented order.
    fixed: Vec<(&'static str, Value)>,
}

/// The columns of a rollup row after `group` and the key columns, in order.
pub fn fixed_columns() -> Vec<&'static str> {
    GroupRow::new(None, &Group::default(), &[])
        .fixed
        .iter()
        .map(|(n, _)| *n)
        .collect()
}

const OUTCOME_COLUMNS: [&str; Outcome::ALL.len()] = {
    // Checked against Outcome::ALL (outcome_columns_follow_the_outcomes).
    [
        "outcome_closed",
        "outcome_half_closed",
        "outcome_reset_by_client",
        "outcome_reset_by_server",
        "outcome_refused",
        "outcome_syn_unanswered",
        "outcome_half_open",
        "outcome_handshake_reset",
        "outcome_open",
        "outcome_no_connection",
    ]
};

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl GroupRow {
    fn new(key: Option<Vec<KeyPart>>, g: &Group, files: &[String]) -> GroupRow {
        let mut columns: Vec<(&'static str, Value)> =
            vec![("connections", Value::Count(g.connections))];
        for (name, n) in OUTCOME_COLUMNS.iter().zip(g.outcomes) {
            columns.push((name, Value::Count(n)));
        }
        let anomalies: u64 = g.anomalies.values().sum();
        columns.push(("anomalies", Value::Count(anomalies)));
        columns.push((
            "connections_with_anomalies",
            Value::Count(g.connections_with_anomalies),
        ));
        columns.push((
            "anomaly_counts",
            Value::Counts(g.anomalies.iter().map(|(k, v)| (*k, *v)).collect()),
        ));
        for (side, [data, retx, rate_col]) in [
            (
                Side::Client,
                [
                    "client_data_segments",
                    "client_retransmitted_segments",
                    "client_retransmission_rate",
                ],
            ),
            (
                Side::Server,
                [
                    "server_data_segments",
                    "server_retransmitted_segments",
                    "server_retransmission_rate",
                ],
            ),
        ] {
            let (d, r) = (
                g.data_segments[side.idx()],
                g.retransmitted_segments[side.idx()],
            );
            columns.push((data, Value::Count(d)));
            columns.push((retx, Value::Count(r)));
            columns.push((rate_col, Value::Number(rate(r, d))));
        }
        for (samples, names) in [
            (
                &g.irtt,
                [
                    "irtt_samples",
                    "irtt_min",
                    "irtt_median",
                    "irtt_p95",
                    "irtt_max",
                ],
            ),
            (
                &g.ack_rtt[Side::Client.idx()],
                [
                    "client_ack_rtt_samples",
                    "client_ack_rtt_min",
                    "client_ack_rtt_median",
                    "client_ack_rtt_p95",
                    "client_ack_rtt_max",
                ],
            ),
            (
                &g.ack_rtt[Side::Server.idx()],
                [
                    "server_ack_rtt_samples",
                    "server_ack_rtt_min",
                    "server_ack_rtt_median",
                    "server_ack_rtt_p95",
                    "server_ack_rtt_max",
                ],
            ),
        ] {
            let s = samples.summary();
            let secs = |ns: fn(&crate::tcp::sequence::RttSummary) -> i64| {
                Value::Number(s.as_ref().map(|s| seconds(ns(s))))
            };
            columns.push((names[0], Value::Count(samples.count())));
            columns.push((names[1], secs(|s| s.min_ns)));
            columns.push((names[2], secs(|s| s.median_ns)));
            columns.push((names[3], secs(|s| s.p95_ns)));
            columns.push((names[4], secs(|s| s.max_ns)));
        }
        for (st, [conns, at_end, total, max]) in [
            (
                &g.close_wait,
                [
                    "close_wait_connections",
                    "close_wait_at_end",
                    "close_wait_seconds",
                    "close_wait_max",
                ],
            ),
            (
                &g.time_wait,
                [
                    "time_wait_connections",
                    "time_wait_at_end",
                    "time_wait_seconds",
                    "time_wait_max",
                ],
            ),
        ] {
            let (t, m) = st.totals();
            let some = st.connections > 0;
            columns.push((conns, Value::Count(st.connections)));
            columns.push((at_end, Value::Count(st.at_end)));
            columns.push((total, Value::Number(some.then_some(t))));
            columns.push((max, Value::Number(some.then_some(m))));
        }
        let offenders = |t: &Top| {
            Value::Offenders(
                t.0.iter()
                    .map(|o| {
                        (
                            files.get(o.file).cloned().unwrap_or_default(),
                            o.stream,
                            o.count,
                        )
                    })
                    .collect(),
            )
        };
        columns.push(("top_anomalies", offenders(&g.top_anomalies)));
        columns.push(("top_retransmissions", offenders(&g.top_retransmissions)));
        GroupRow {
            key,
            fixed: columns,
        }
    }
}

impl Rollups {
    /// The column names, key columns included, in order.
    pub fn column_names(&self) -> Vec<&'static str> {
        let mut names = vec!["group"];
        names.extend(self.keys.iter().map(|k| k.column()));
        names.extend(fixed_columns());
        names
    }

    /// Each row's values in [`Rollups::column_names`] order; `other` has
    /// the group `other` and null keys.
    pub fn rows(&self) -> impl Iterator<Item = Vec<Value>> + '_ {
        self.rows.iter().map(move |r| {
            let mut values: Vec<Value> = Vec::with_capacity(r.fixed.len() + 1 + self.keys.len());
            match &r.key {
                Some(k) => {
                    let text: Vec<String> = k.iter().map(|p| p.to_string()).collect();
                    values.push(Value::Text(Some(text.join(" "))));
                    values.extend(k.iter().map(|p| match p {
                        KeyPart::Port(p) => Value::Port(Some(*p)),
                        other => Value::Text(Some(other.to_string())),
                    }));
                }
                None => {
                    values.push(Value::Text(Some("other".into())));
                    values.extend(self.keys.iter().map(|k| match k {
                        GroupKey::ServerPort => Value::Port(None),
                        _ => Value::Text(None),
                    }));
                }
            }
            values.extend(r.fixed.iter().map(|(_, v)| v.clone()));
            values
        })
    }

    /// The keys grouped by.
    pub fn keys(&self) -> &[GroupKey] {
        &self.keys
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// A row of the right kinds with nothing in it (null keys, zero
    /// counts): each column's type, also when there are no groups.
    pub fn template(&self) -> Vec<Value> {
        let mut values = vec![Value::Text(None)];
        values.extend(self.keys.iter().map(|k| match k {
            GroupKey::ServerPort => Value::Port(None),
            _ => Value::Text(None),
        }));
        values.extend(
            GroupRow::new(None, &Group::default(), &[])
                .fixed
                .into_iter()
                .map(|(_, v)| v),
        );
        values
    }
}

/// An offender list as text: `7=12 3=5` (stream=count), each prefixed by
/// `FILE#` when the rollup spans several inputs.
fn offenders_text(list: &[(String, u64, u64)], many_files: bool) -> String {
    list.iter()
        .map(|(f, s, n)| {
            if many_files {
                format!("{f}#{s}={n}")
            } else {
                format!("{s}={n}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn counts_text(list: &[(&str, u64)]) -> String {
    list.iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value as a CSV cell (numbers as ryu writes them; null empty).
fn cell(v: &Value, many_files: bool) -> String {
    match v {
        Value::Text(t) => t.clone().unwrap_or_default(),
        Value::Port(p) => p.map(|p| p.to_string()).unwrap_or_default(),
        Value::Count(n) => n.to_string(),
        Value::Number(x) => x
            .map(|x| ryu::Buffer::new().format(x).to_string())
            .unwrap_or_default(),
        Value::Counts(c) => counts_text(c),
        Value::Offenders(o) => offenders_text(o, many_files),
    }
}

/// Writes the groups as CSV with a header line.
pub fn write_csv(out: &mut dyn Write, r: &Rollups) -> io::Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(r.column_names())?;
    for row in r.rows() {
        w.write_record(row.iter().map(|v| cell(v, r.many_files)))?;
    }
    w.flush()
}

/// A value as JSON: counts as objects, offenders as `{"file", "stream", "count"}`.
fn json_value(v: &Value) -> Json {
    match v {
        Value::Text(t) => json!(t),
        Value::Port(p) => json!(p),
        Value::Count(n) => json!(n),
        Value::Number(x) => json!(x),
        Value::Counts(c) => {
            Json::Object(c.iter().map(|(k, n)| (k.to_string(), json!(n))).collect())
        }
        Value::Offenders(o) => Json::Array(
            o.iter()
                .map(|(f, s, n)| json!({"file": f, "stream": s, "count": n}))
                .collect(),
        ),
    }
}

/// Writes one JSON object per group (JSON lines), `schema_version` first.
pub fn write_json(out: &mut dyn Write, r: &Rollups) -> io::Result<()> {
    let names = r.column_names();
    for row in r.rows() {
        let mut m = Map::new();
        m.insert("schema_version".into(), json!(ROLLUP_SCHEMA_VERSION));
        for (name, v) in names.iter().zip(&row) {
            m.insert(name.to_string(), json_value(v));
        }
        serde_json::to_writer(&mut *out, &Json::Object(m))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// A value for the table: rates in percent, times in milliseconds (RTT) or
/// seconds (state times), `-` for null.
fn table_cell(name: &str, v: &Value, many_files: bool) -> String {
    match v {
        Value::Number(None) | Value::Text(None) | Value::Port(None) => "-".into(),
        Value::Number(Some(x)) if name.ends_with("_rate") => format!("{:.2}%", x * 100.0),
        Value::Number(Some(x)) if name.contains("rtt") => format!("{:.3}ms", x * 1e3),
        Value::Number(Some(x)) => format!("{x:.3}s"),
        other => cell(other, many_files),
    }
}

/// Writes the groups as an aligned table for people: one line per group
/// with the columns that answer the usual questions (all columns are in
/// CSV, JSON and Parquet).
pub fn write_table(out: &mut dyn Write, r: &Rollups) -> io::Result<()> {
    let names = r.column_names();
    let idx = |n: &str| names.iter().position(|x| *x == n);
    let header = [
        "GROUP",
        "CONNS",
        "OUTCOMES",
        "ANOMALIES",
        "RETX C>S",
        "RETX S>C",
        "IRTT P50",
        "IRTT P95",
        "ACK RTT C",
        "ACK RTT S",
        "CLOSE_WAIT",
        "CW AT END",
        "CW MAX",
        "TIME_WAIT",
        "TOP ANOMALIES",
        "TOP RETX",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for row in r.rows() {
        let get = |n: &str| {
            idx(n)
                .map(|i| table_cell(n, &row[i], r.many_files))
                .unwrap_or_default()
        };
        let outcomes: Vec<String> = OUTCOME_COLUMNS
            .iter()
            .filter_map(|n| {
                let i = idx(n)?;
                match row[i] {
                    Value::Count(c) if c > 0 => {
                        Some(format!("{}={c}", n.trim_start_matches("outcome_")))
                    }
                    _ => None,
                }
            })
            .collect();
        lines.push(vec![
            get("group"),
            get("connections"),
            outcomes.join(" "),
            get("anomalies"),
            get("client_retransmission_rate"),
            get("server_retransmission_rate"),
            get("irtt_median"),
            get("irtt_p95"),
            get("client_ack_rtt_median"),
            get("server_ack_rtt_median"),
            get("close_wait_connections"),
            get("close_wait_at_end"),
            get("close_wait_max"),
            get("time_wait_connections"),
            get("top_anomalies"),
            get("top_retransmissions"),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for l in &lines {
        let mut text = String::new();
        for (i, c) in l.iter().enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(c);
            if i + 1 < l.len() {
                text.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count()));
            }
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    writeln!(
        out,
        "{} groups; RETX = retransmitted / data segments per direction; ACK RTT C, S = median \
         ACK RTT of the ACKs clients, servers sent; CLOSE_WAIT, TIME_WAIT = connections with a \
         side in it, CW AT END = still in it at the end",
        r.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_columns_follow_the_outcomes() {
        for (col, o) in OUTCOME_COLUMNS.iter().zip(Outcome::ALL) {
            assert_eq!(*col, format!("outcome_{}", o.name()));
        }
    }

    #[test]
    fn group_keys_parse_and_cut_networks() {
        assert_eq!(GroupKey::from_name("server"), Ok(GroupKey::Server));
        assert_eq!(GroupKey::from_name("server-port"), Ok(GroupKey::ServerPort));
        assert_eq!(
            GroupKey::from_name("client-net/24"),
            Ok(GroupKey::ClientNet { v4: 24, v6: 64 })
        );
        assert_eq!(
            GroupKey::from_name("client-net/16/48"),
            Ok(GroupKey::ClientNet { v4: 16, v6: 48 })
        );
        for bad in [
            "port",
            "client-net",
            "client-net/",
            "client-net/33",
            "client-net/8/129",
            "client-net/8/48/1",
        ] {
            assert!(GroupKey::from_name(bad).is_err(), "{bad}");
        }
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(network(v4, 24).to_string(), "10.1.2.0");
        assert_eq!(network(v4, 0).to_string(), "0.0.0.0");
        assert_eq!(network(v4, 32), v4);
        let v6: IpAddr = "2001:db8:1:2:3::4".parse().unwrap();
        assert_eq!(network(v6, 48).to_string(), "2001:db8:1::");
        assert_eq!(network(v6, 128), v6);
    }

    #[test]
    fn top_keeps_the_most_first() {
        let mut t = Top::default();
        for (stream, count) in [
            (1, 3),
            (2, 0),
            (3, 7),
            (4, 3),
            (5, 1),
            (6, 9),
            (7, 2),
            (8, 3),
        ] {
            t.add(Offender {
                file: 0,
                stream,
                count,
            });
        }
        let got: Vec<(u64, u64)> = t.0.iter().map(|o| (o.stream, o.count)).collect();
        assert_eq!(got, [(6, 9), (3, 7), (1, 3), (4, 3), (8, 3)]);
    }
}
