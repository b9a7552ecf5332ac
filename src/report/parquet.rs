//! Parquet: the three tables of `--out-dir` (connections, transitions,
//! anomalies) with their types, for DuckDB, pandas, Spark and the like.
//!
//! The columns are those of CSV and JSON, typed: capture times are
//! `timestamp[ns, UTC]`, counts unsigned integers, states, codes and names
//! dictionary strings, lists (states, flags, VLANs, anomaly codes) lists,
//! the per-flag and per-code counts maps. Per-role values are flattened into
//! `client_*`/`server_*` columns as in CSV, so a query needs no struct
//! access. The schema of each table is built in one place (its `Columns`
//! type's `finish`), the same for an empty and a full table.
//!
//! Rows are appended as the analysis finishes connections; the writer cuts
//! a row group every [`ROW_GROUP_ROWS`] rows, so memory holds one row group
//! per table, whatever the capture's size.

use std::io::{self, Write};
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float64Builder, ListBuilder, MapBuilder, StringBuilder,
    StringDictionaryBuilder, StructBuilder, TimestampNanosecondBuilder, UInt16Builder,
    UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::anomaly::Severity;
use crate::model::Side;
use crate::pipeline::Connection;

use super::format::seconds;
use super::rollup::{Rollups, Value, ROLLUP_SCHEMA_VERSION};
use super::row::{anomaly_codes, flag_count, AckRtt, ConnectionRow};

/// The version of the Parquet schemas (docs/REFERENCE.md, "Parquet"), in
/// each file's key-value metadata as `tcpstate.schema_version`; bumped when
/// a column is removed or changes meaning.
pub const PARQUET_SCHEMA_VERSION: u32 = 1;

/// Rows per row group: large enough for engines to scan well, small enough
/// that the rows a writer holds stay a few megabytes.
pub const ROW_GROUP_ROWS: usize = 65_536;

/// The tables written as Parquet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// One row per connection (the rows of connections.csv and JSON).
    Connections,
    /// One row per state transition (transitions.csv).
    Transitions,
    /// One row per listed anomaly occurrence (anomalies.csv).
    Anomalies,
}

impl Table {
    /// Every table, connections first.
    pub const ALL: [Table; 3] = [Table::Connections, Table::Transitions, Table::Anomalies];

    /// The table's name: `connections`, `transitions`, `anomalies`.
    pub fn name(self) -> &'static str {
        match self {
            Table::Connections => "connections",
            Table::Transitions => "transitions",
            Table::Anomalies => "anomalies",
        }
    }

    /// The Arrow schema of the table's files.
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Connections => ConnectionColumns::default().batch().schema(),
            Table::Transitions => TransitionColumns::default().batch().schema(),
            Table::Anomalies => AnomalyColumns::default().batch().schema(),
        }
    }
}

/// A dictionary-encoded string column (states, codes, names).
type DictBuilder = StringDictionaryBuilder<Int32Type>;
/// A map from names to counts (`analysis`, `anomaly_counts`).
type CountsBuilder = MapBuilder<StringBuilder, UInt64Builder>;
/// A map from state names to seconds (`time_in_state`).
type SecondsBuilder = MapBuilder<StringBuilder, Float64Builder>;

fn timestamps() -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::new().with_timezone("UTC")
}

/// The columns of one table's batch as (name, nullable, values), in order.
type Columns = Vec<(&'static str, bool, ArrayRef)>;

/// A builder's rows as an array (the builder starts over).
fn done(b: &mut impl ArrayBuilder) -> ArrayRef {
    ArrayBuilder::finish(b)
}

fn batch_of(columns: Columns) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, nullable, a)| Field::new(*name, a.data_type().clone(), *nullable))
        .collect();
    let arrays: Vec<ArrayRef> = columns.into_iter().map(|(_, _, a)| a).collect();
    // The fields are made from the arrays themselves: they always agree.
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .unwrap_or_else(|e| unreachable!("a batch's fields come from its arrays: {e}"))
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Server => "server",
    }
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

/// Per-role values as two builders, `client_*` and `server_*`.
#[derive(Default)]
struct Roles<B> {
    client: B,
    server: B,
}

impl<B> Roles<B> {
    fn of(&mut self, side: Side) -> &mut B {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }
}

impl<B: ArrayBuilder> Roles<B> {
    fn finish(&mut self, client: &'static str, server: &'static str, nullable: bool) -> Columns {
        vec![
            (client, nullable, done(&mut self.client)),
            (server, nullable, done(&mut self.server)),
        ]
    }
}

/// The builders of the connections table.
struct ConnectionColumns {
    stream: UInt64Builder,
    file: DictBuilder,
    continues: BooleanBuilder,
    client: StringBuilder,
    server: StringBuilder,
    community_id: StringBuilder,
    client_addr: StringBuilder,
    client_port: UInt16Builder,
    server_addr: StringBuilder,
    server_port: UInt16Builder,
    client_reason: DictBuilder,
    first_frame: UInt64Builder,
    last_frame: UInt64Builder,
    start: TimestampNanosecondBuilder,
    end: TimestampNanosecondBuilder,
    duration: Float64Builder,
    packets: Roles<UInt64Builder>,
    bytes: Roles<UInt64Builder>,
    flags: Roles<ListBuilder<DictBuilder>>,
    states: Roles<ListBuilder<DictBuilder>>,
    state: Roles<DictBuilder>,
    state_inferred: Roles<BooleanBuilder>,
    outcome: DictBuilder,
    conn_state: DictBuilder,
    history: StringBuilder,
    analysis: Roles<CountsBuilder>,
    retransmissions: Roles<UInt64Builder>,
    retransmitted_bytes: Roles<UInt64Builder>,
    duplicate_acks: Roles<UInt64Builder>,
    missed_bytes: UInt64Builder,
    zeek_uids: ListBuilder<StringBuilder>,
    irtt: Float64Builder,
    irtt_client_side: Float64Builder,
    irtt_server_side: Float64Builder,
    anomalies: ListBuilder<DictBuilder>,
    anomaly_counts: CountsBuilder,
    vlan: ListBuilder<UInt16Builder>,
    tunnel: StringBuilder,
    time_in_state: Roles<SecondsBuilder>,
    ack_rtt_min: Roles<Float64Builder>,
    ack_rtt_median: Roles<Float64Builder>,
    ack_rtt_p95: Roles<Float64Builder>,
    ack_rtt_max: Roles<Float64Builder>,
    ack_rtt_samples: Roles<UInt64Builder>,
}

impl Default for ConnectionColumns {
    fn default() -> Self {
        let counts = || MapBuilder::new(None, StringBuilder::new(), UInt64Builder::new());
        let roles_counts = || Roles {
            client: counts(),
            server: counts(),
        };
        ConnectionColumns {
            stream: Default::default(),
            file: Default::default(),
            continues: Default::default(),
            client: Default::default(),
            server: Default::default(),
            community_id: Default::default(),
            client_addr: Default::default(),
            client_port: Default::default(),
            server_addr: Default::default(),
            server_port: Default::default(),
            client_reason: Default::default(),
            first_frame: Default::default(),
            last_frame: Default::default(),
            start: timestamps(),
            end: timestamps(),
            duration: Default::default(),
            packets: Default::default(),
            bytes: Default::default(),
            flags: Roles {
                client: ListBuilder::new(DictBuilder::new()),
                server: ListBuilder::new(DictBuilder::new()),
            },
            states: Roles {
                client: ListBuilder::new(DictBuilder::new()),
                server: ListBuilder::new(DictBuilder::new()),
            },
            state: Default::default(),
            state_inferred: Default::default(),
            outcome: Default::default(),
            conn_state: Default::default(),
            history: Default::default(),
            analysis: roles_counts(),
            retransmissions: Default::default(),
            retransmitted_bytes: Default::default(),
            duplicate_acks: Default::default(),
            missed_bytes: Default::default(),
            zeek_uids: ListBuilder::new(StringBuilder::new()),
            irtt: Default::default(),
            irtt_client_side: Default::default(),
            irtt_server_side: Default::default(),
            anomalies: ListBuilder::new(DictBuilder::new()),
            anomaly_counts: counts(),
            vlan: ListBuilder::new(UInt16Builder::new()),
            tunnel: Default::default(),
            time_in_state: Roles {
                client: MapBuilder::new(None, StringBuilder::new(), Float64Builder::new()),
                server: MapBuilder::new(None, StringBuilder::new(), Float64Builder::new()),
            },
            ack_rtt_min: Default::default(),
            ack_rtt_median: Default::default(),
            ack_rtt_p95: Default::default(),
            ack_rtt_max: Default::default(),
            ack_rtt_samples: Default::default(),
        }
    }
}

/// Appends one map entry list of counts.
fn push_counts<'k>(
    b: &mut CountsBuilder,
    entries: impl Iterator<Item = (&'k str, u64)>,
) -> io::Result<()> {
    for (k, v) in entries {
        b.keys().append_value(k);
        b.values().append_value(v);
    }
    b.append(true).map_err(io::Error::other)
}

impl ConnectionColumns {
    fn push(&mut self, row: &ConnectionRow) -> io::Result<()> {
        let ac = row.conn;
        let c = &ac.flow;
        self.stream.append_value(row.stream);
        self.file.append_value(row.file);
        self.continues.append_value(row.continues);
        self.client.append_value(row.client.to_string());
        self.server.append_value(row.server.to_string());
        self.community_id.append_value(row.community_id);
        let (client, server) = (c.client(), c.server());
        self.client_addr.append_value(client.addr.to_string());
        self.client_port.append_value(client.port);
        self.server_addr.append_value(server.addr.to_string());
        self.server_port.append_value(server.port);
        self.client_reason.append_value(row.client_reason.name());
        self.first_frame.append_value(row.first_frame);
        self.last_frame.append_value(row.last_frame);
        self.start.append_value(c.start_ns);
        self.end.append_value(c.end_ns);
        self.duration.append_value(seconds(row.duration_ns));
        for side in [Side::Client, Side::Server] {
            self.packets.of(side).append_value(*row.packets.of(side));
            self.bytes.of(side).append_value(*row.bytes.of(side));
            let flags = self.flags.of(side);
            for name in c.flags[side.idx()].names() {
                flags.values().append_value(name);
            }
            flags.append(true);
            let states = self.states.of(side);
            for st in row.states.of(side).iter() {
                states.values().append_value(st.name());
            }
            states.append(true);
            self.state.of(side).append_value(row.state.of(side).name());
            self.state_inferred
                .of(side)
                .append_value(*row.state_inferred.of(side));
            push_counts(
                self.analysis.of(side),
                ac.seq.stats(side).flags.iter().map(|(k, v)| (*k, *v)),
            )?;
            self.retransmissions
                .of(side)
                .append_value(flag_count(ac, side, "retransmission"));
            self.retransmitted_bytes
                .of(side)
                .append_value(*row.retransmitted_bytes.of(side));
            self.duplicate_acks
                .of(side)
                .append_value(flag_count(ac, side, "duplicate_ack"));
        }
        self.outcome.append_value(row.outcome.name());
        self.conn_state.append_value(row.conn_state);
        self.history.append_value(row.history);
        self.missed_bytes.append_value(row.missed_bytes);
        for r in ac.zeek.records() {
            self.zeek_uids.values().append_value(r.uid());
        }
        self.zeek_uids.append(true);
        self.irtt.append_option(row.irtt.total_ns.map(seconds));
        self.irtt_client_side
            .append_option(row.irtt.client_side_ns.map(seconds));
        self.irtt_server_side
            .append_option(row.irtt.server_side_ns.map(seconds));
        for code in anomaly_codes(ac) {
            self.anomalies.values().append_value(code);
        }
        self.anomalies.append(true);
        let mut counts: Vec<(&'static str, u64)> = ac
            .anomaly_counts()
            .into_iter()
            .map(|(code, n)| (code.code(), n))
            .collect();
        counts.sort_unstable_by_key(|&(code, _)| code);
        push_counts(&mut self.anomaly_counts, counts.into_iter())?;
        for id in c.path.vlans.ids() {
            self.vlan.values().append_value(id);
        }
        self.vlan.append(true);
        self.tunnel.append_option(row.tunnel.map(|t| t.to_string()));
        for side in [Side::Client, Side::Server] {
            let b = self.time_in_state.of(side);
            for &(state, ns) in row.time_in_state.of(side).iter() {
                b.keys().append_value(state.name());
                b.values().append_value(seconds(ns));
            }
            b.append(true).map_err(io::Error::other)?;
            let rtt = AckRtt::of_summary(*row.ack_rtt.of(side));
            self.ack_rtt_min.of(side).append_option(rtt.min);
            self.ack_rtt_median.of(side).append_option(rtt.median);
            self.ack_rtt_p95.of(side).append_option(rtt.p95);
            self.ack_rtt_max.of(side).append_option(rtt.max);
            self.ack_rtt_samples.of(side).append_value(rtt.samples);
        }
        Ok(())
    }

    /// The rows so far as a batch (the builders start over); the table's
    /// columns in order.
    fn batch(&mut self) -> RecordBatch {
        let mut cols: Columns = vec![
            ("stream", false, done(&mut self.stream)),
            ("file", false, done(&mut self.file)),
            ("continues", false, done(&mut self.continues)),
            ("client", false, done(&mut self.client)),
            ("server", false, done(&mut self.server)),
            ("community_id", false, done(&mut self.community_id)),
            ("client_addr", false, done(&mut self.client_addr)),
            ("client_port", false, done(&mut self.client_port)),
            ("server_addr", false, done(&mut self.server_addr)),
            ("server_port", false, done(&mut self.server_port)),
            ("client_reason", false, done(&mut self.client_reason)),
            ("first_frame", false, done(&mut self.first_frame)),
            ("last_frame", false, done(&mut self.last_frame)),
            ("start", false, done(&mut self.start)),
            ("end", false, done(&mut self.end)),
            ("duration", false, done(&mut self.duration)),
        ];
        cols.extend(
            self.packets
                .finish("client_packets", "server_packets", false),
        );
        cols.extend(self.bytes.finish("client_bytes", "server_bytes", false));
        cols.extend(self.flags.finish("client_flags", "server_flags", false));
        cols.extend(self.states.finish("client_states", "server_states", false));
        cols.extend(self.state.finish("client_state", "server_state", false));
        cols.extend(self.state_inferred.finish(
            "client_state_inferred",
            "server_state_inferred",
            false,
        ));
        cols.push(("outcome", false, done(&mut self.outcome)));
        cols.push(("conn_state", false, done(&mut self.conn_state)));
        cols.push(("history", false, done(&mut self.history)));
        cols.extend(
            self.analysis
                .finish("client_analysis", "server_analysis", false),
        );
        cols.extend(self.retransmissions.finish(
            "client_retransmissions",
            "server_retransmissions",
            false,
        ));
        cols.extend(self.retransmitted_bytes.finish(
            "client_retransmitted_bytes",
            "server_retransmitted_bytes",
            false,
        ));
        cols.extend(self.duplicate_acks.finish(
            "client_duplicate_acks",
            "server_duplicate_acks",
            false,
        ));
        cols.extend([
            ("missed_bytes", false, done(&mut self.missed_bytes)),
            ("zeek_uids", false, done(&mut self.zeek_uids)),
            ("irtt", true, done(&mut self.irtt)),
            ("irtt_client_side", true, done(&mut self.irtt_client_side)),
            ("irtt_server_side", true, done(&mut self.irtt_server_side)),
            ("anomalies", false, done(&mut self.anomalies)),
            ("anomaly_counts", false, done(&mut self.anomaly_counts)),
            ("vlan", false, done(&mut self.vlan)),
            ("tunnel", true, done(&mut self.tunnel)),
        ]);
        cols.extend(self.time_in_state.finish(
            "client_time_in_state",
            "server_time_in_state",
            false,
        ));
        // Per side, as CSV: client_ack_rtt_min ... client_ack_rtt_samples, then the server's.
        let mut ack: [Columns; 2] = [Vec::new(), Vec::new()];
        for (rtt, (client, server), nullable) in [
            (
                &mut self.ack_rtt_min,
                ("client_ack_rtt_min", "server_ack_rtt_min"),
                true,
            ),
            (
                &mut self.ack_rtt_median,
                ("client_ack_rtt_median", "server_ack_rtt_median"),
                true,
            ),
            (
                &mut self.ack_rtt_p95,
                ("client_ack_rtt_p95", "server_ack_rtt_p95"),
                true,
            ),
            (
                &mut self.ack_rtt_max,
                ("client_ack_rtt_max", "server_ack_rtt_max"),
                true,
            ),
        ] {
            let [c, s]: [_; 2] = rtt
                .finish(client, server, nullable)
                .try_into()
                .unwrap_or_else(|_| unreachable!("two roles"));
            ack[0].push(c);
            ack[1].push(s);
        }
        let [c, s]: [_; 2] = self
            .ack_rtt_samples
            .finish("client_ack_rtt_samples", "server_ack_rtt_samples", false)
            .try_into()
            .unwrap_or_else(|_| unreachable!("two roles"));
        ack[0].push(c);
        ack[1].push(s);
        let [client, server] = ack;
        cols.extend(client);
        cols.extend(server);
        batch_of(cols)
    }
}

/// The builders of the transitions table.
struct TransitionColumns {
    stream: UInt64Builder,
    file: DictBuilder,
    frame: UInt64Builder,
    time: TimestampNanosecondBuilder,
    side: DictBuilder,
    from: DictBuilder,
    to: DictBuilder,
    cause: DictBuilder,
    inferred: BooleanBuilder,
    evidence_frame: UInt64Builder,
}

impl Default for TransitionColumns {
    fn default() -> Self {
        TransitionColumns {
            stream: Default::default(),
            file: Default::default(),
            frame: Default::default(),
            time: timestamps(),
            side: Default::default(),
            from: Default::default(),
            to: Default::default(),
            cause: Default::default(),
            inferred: Default::default(),
            evidence_frame: Default::default(),
        }
    }
}

impl TransitionColumns {
    fn push(&mut self, file: &str, c: &Connection) -> io::Result<()> {
        for t in c.tcp.transitions() {
            self.stream.append_value(c.flow.stream);
            self.file.append_value(file);
            self.frame.append_option(t.frame);
            self.time.append_value(t.ts_ns);
            self.side.append_value(side_name(t.side));
            self.from.append_value(t.from.name());
            self.to.append_value(t.to.name());
            // The snake_case code JSON writes.
            let cause = serde_json::to_value(t.cause)?;
            self.cause.append_value(cause.as_str().unwrap_or_default());
            self.inferred.append_value(t.inferred);
            self.evidence_frame.append_option(t.evidence_frame);
        }
        Ok(())
    }

    fn batch(&mut self) -> RecordBatch {
        batch_of(vec![
            ("stream", false, done(&mut self.stream)),
            ("file", false, done(&mut self.file)),
            ("frame", true, done(&mut self.frame)),
            ("time", false, done(&mut self.time)),
            ("side", false, done(&mut self.side)),
            ("from", false, done(&mut self.from)),
            ("to", false, done(&mut self.to)),
            ("cause", false, done(&mut self.cause)),
            ("inferred", false, done(&mut self.inferred)),
            ("evidence_frame", true, done(&mut self.evidence_frame)),
        ])
    }
}

/// The builders of the anomalies table.
#[derive(Default)]
struct AnomalyColumns {
    stream: UInt64Builder,
    file: DictBuilder,
    code: DictBuilder,
    severity: DictBuilder,
    frame: UInt64Builder,
    side: DictBuilder,
    detail: StringBuilder,
}

impl AnomalyColumns {
    fn push(&mut self, file: &str, c: &Connection) {
        for a in c.anomalies() {
            self.stream.append_value(c.flow.stream);
            self.file.append_value(file);
            self.code.append_value(a.code.code());
            self.severity.append_value(severity_name(a.code.severity()));
            self.frame.append_option(a.frame);
            self.side.append_option(a.side.map(side_name));
            self.detail.append_value(&a.detail);
        }
    }

    fn batch(&mut self) -> RecordBatch {
        batch_of(vec![
            ("stream", false, done(&mut self.stream)),
            ("file", false, done(&mut self.file)),
            ("code", false, done(&mut self.code)),
            ("severity", false, done(&mut self.severity)),
            ("frame", true, done(&mut self.frame)),
            ("side", true, done(&mut self.side)),
            ("detail", false, done(&mut self.detail)),
        ])
    }
}

/// The builders of one table.
enum Builders {
    Connections(Box<ConnectionColumns>),
    Transitions(Box<TransitionColumns>),
    Anomalies(Box<AnomalyColumns>),
}

impl Builders {
    fn new(table: Table) -> Builders {
        match table {
            Table::Connections => Builders::Connections(Box::default()),
            Table::Transitions => Builders::Transitions(Box::default()),
            Table::Anomalies => Builders::Anomalies(Box::default()),
        }
    }

    fn push(&mut self, file: &str, c: &Connection) -> io::Result<()> {
        match self {
            Builders::Connections(b) => b.push(&ConnectionRow::new(file, c)),
            Builders::Transitions(b) => b.push(file, c),
            Builders::Anomalies(b) => {
                b.push(file, c);
                Ok(())
            }
        }
    }

    fn batch(&mut self) -> RecordBatch {
        match self {
            Builders::Connections(b) => b.batch(),
            Builders::Transitions(b) => b.batch(),
            Builders::Anomalies(b) => b.batch(),
        }
    }
}

/// A Parquet file of one table being written: each batch of finished
/// connections is appended as it comes; [`ParquetWriter::finish`] writes
/// the footer.
pub struct ParquetWriter<'w> {
    table: Table,
    builders: Builders,
    writer: ArrowWriter<Box<dyn Write + Send + 'w>>,
}

fn parquet_error(e: parquet::errors::ParquetError) -> io::Error {
    match e {
        parquet::errors::ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => *io,
            Err(other) => io::Error::other(other),
        },
        e => io::Error::other(e),
    }
}

impl<'w> ParquetWriter<'w> {
    /// A writer of `table` to `out`.
    pub fn new(table: Table, out: impl Write + Send + 'w) -> io::Result<ParquetWriter<'w>> {
        let props = WriterProperties::builder()
            .set_compression(Compression::LZ4_RAW)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("tcpstate {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![
                KeyValue::new("tcpstate.table".into(), table.name().to_string()),
                KeyValue::new(
                    "tcpstate.schema_version".into(),
                    PARQUET_SCHEMA_VERSION.to_string(),
                ),
            ]))
            .build();
        let out: Box<dyn Write + Send + 'w> = Box::new(out);
        let writer =
            ArrowWriter::try_new(out, table.schema(), Some(props)).map_err(parquet_error)?;
        Ok(ParquetWriter {
            table,
            builders: Builders::new(table),
            writer,
        })
    }

    /// The table this writer writes.
    pub fn table(&self) -> Table {
        self.table
    }

    /// Appends the rows of finished connections of input `file`.
    pub fn connections(&mut self, file: &str, conns: &[Connection]) -> io::Result<()> {
        for c in conns {
            self.builders.push(file, c)?;
        }
        let batch = self.builders.batch();
        if batch.num_rows() > 0 {
            self.writer.write(&batch).map_err(parquet_error)?;
        }
        Ok(())
    }

    /// Writes the last row group and the footer, and flushes.
    pub fn finish(self) -> io::Result<()> {
        let mut out = self.writer.into_inner().map_err(parquet_error)?;
        out.flush()
    }
}

/// One rollup column being built, by the kind of its values.
enum RollupColumn {
    Text(StringBuilder),
    Port(UInt16Builder),
    Count(UInt64Builder),
    Number(Float64Builder),
    Counts(CountsBuilder),
    Offenders(ListBuilder<StructBuilder>),
}

fn offender_fields() -> Fields {
    Fields::from(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("stream", DataType::UInt64, false),
        Field::new("count", DataType::UInt64, false),
    ])
}

impl RollupColumn {
    fn for_value(v: &Value) -> RollupColumn {
        match v {
            Value::Text(_) => RollupColumn::Text(StringBuilder::new()),
            Value::Port(_) => RollupColumn::Port(UInt16Builder::new()),
            Value::Count(_) => RollupColumn::Count(UInt64Builder::new()),
            Value::Number(_) => RollupColumn::Number(Float64Builder::new()),
            Value::Counts(_) => RollupColumn::Counts(MapBuilder::new(
                None,
                StringBuilder::new(),
                UInt64Builder::new(),
            )),
            Value::Offenders(_) => RollupColumn::Offenders(ListBuilder::new(
                StructBuilder::from_fields(offender_fields(), 0),
            )),
        }
    }

    fn push(&mut self, v: &Value) -> io::Result<()> {
        match (self, v) {
            (RollupColumn::Text(b), Value::Text(t)) => b.append_option(t.as_deref()),
            (RollupColumn::Port(b), Value::Port(p)) => b.append_option(*p),
            (RollupColumn::Count(b), Value::Count(n)) => b.append_value(*n),
            (RollupColumn::Number(b), Value::Number(x)) => b.append_option(*x),
            (RollupColumn::Counts(b), Value::Counts(c)) => {
                push_counts(b, c.iter().map(|(k, n)| (*k, *n)))?
            }
            (RollupColumn::Offenders(b), Value::Offenders(list)) => {
                let s = b.values();
                for (file, stream, count) in list {
                    s.field_builder::<StringBuilder>(0)
                        .ok_or_else(|| io::Error::other("offender file builder"))?
                        .append_value(file);
                    s.field_builder::<UInt64Builder>(1)
                        .ok_or_else(|| io::Error::other("offender stream builder"))?
                        .append_value(*stream);
                    s.field_builder::<UInt64Builder>(2)
                        .ok_or_else(|| io::Error::other("offender count builder"))?
                        .append_value(*count);
                    s.append(true);
                }
                b.append(true);
            }
            _ => return Err(io::Error::other("a rollup column changed kind")),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            RollupColumn::Text(b) => done(b),
            RollupColumn::Port(b) => done(b),
            RollupColumn::Count(b) => done(b),
            RollupColumn::Number(b) => done(b),
            RollupColumn::Counts(b) => done(b),
            RollupColumn::Offenders(b) => done(b),
        }
    }
}

/// Writes the groups of a rollup as one Parquet file: the columns of
/// docs/REFERENCE.md, "Rollups", typed (counts uint64, ports uint16,
/// seconds and rates float64, `anomaly_counts` a map, the offender lists
/// lists of `{file, stream, count}`).
/// Built in memory (a rollup holds at most `--max-groups` rows), then written.
pub fn write_rollup(out: &mut dyn Write, r: &Rollups) -> io::Result<()> {
    let names = r.column_names();
    let template = r.template();
    let mut cols: Vec<RollupColumn> = template.iter().map(RollupColumn::for_value).collect();
    for row in r.rows() {
        for (c, v) in cols.iter_mut().zip(&row) {
            c.push(v)?;
        }
    }
    let columns: Columns = names
        .iter()
        .zip(&template)
        .zip(cols.iter_mut())
        .map(|((name, kind), c)| {
            let nullable = matches!(kind, Value::Text(_) | Value::Port(_) | Value::Number(_))
                && *name != "group";
            (*name, nullable, c.finish())
        })
        .collect();
    let batch = batch_of(columns);
    let props = WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_created_by(format!("tcpstate {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![
            KeyValue::new("tcpstate.table".into(), "rollup".to_string()),
            KeyValue::new(
                "tcpstate.schema_version".into(),
                ROLLUP_SCHEMA_VERSION.to_string(),
            ),
        ]))
        .build();
    let mut w =
        ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props)).map_err(parquet_error)?;
    w.write(&batch).map_err(parquet_error)?;
    out.write_all(&w.into_inner().map_err(parquet_error)?)?;
    out.flush()
}
