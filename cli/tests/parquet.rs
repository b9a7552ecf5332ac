//! The Parquet files read back with the parquet crate and compared with the
//! JSON output of the same captures: every column of every row of the three
//! tables, and the columns' types (docs/REFERENCE.md, "Parquet").

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, TimestampNanosecondType, UInt16Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Map, Value};

use common::run;

/// Every capture shipped, read as the tests read them (directories).
const INPUTS: [&str; 2] = ["testdata/real", "testdata/synth"];

/// A Parquet file's rows as JSON objects (cells by [`cell`]), its key-value
/// metadata and its schema.
struct Read {
    rows: Vec<Map<String, Value>>,
    metadata: Vec<(String, String)>,
    schema: arrow_schema::SchemaRef,
}

fn read(path: &Path) -> Read {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let metadata = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let schema = builder.schema().clone();
    let reader = builder.build().unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch: RecordBatch = batch.unwrap();
        for i in 0..batch.num_rows() {
            let mut row = Map::new();
            for (f, col) in batch.schema().fields().iter().zip(batch.columns()) {
                row.insert(f.name().clone(), cell(col.as_ref(), i));
            }
            rows.push(row);
        }
    }
    Read {
        rows,
        metadata,
        schema,
    }
}

/// One cell as JSON: timestamps as their nanoseconds, dictionaries as
/// their strings, lists as arrays, maps and structs as objects.
fn cell(a: &dyn Array, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::UInt64 => json!(a.as_primitive::<UInt64Type>().value(i)),
        DataType::UInt16 => json!(a.as_primitive::<UInt16Type>().value(i)),
        DataType::Float64 => json!(a.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => json!(a.as_boolean().value(i)),
        DataType::Utf8 => json!(a.as_string::<i32>().value(i)),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            json!(a.as_primitive::<TimestampNanosecondType>().value(i))
        }
        DataType::Dictionary(_, _) => {
            let d = a.as_dictionary::<Int32Type>();
            let key = d.keys().value(i) as usize;
            json!(d.values().as_string::<i32>().value(key))
        }
        DataType::List(_) => {
            let items = a.as_list::<i32>().value(i);
            Value::Array((0..items.len()).map(|j| cell(items.as_ref(), j)).collect())
        }
        DataType::Map(_, _) => {
            let entries = a.as_map().value(i);
            let keys = entries.column(0);
            let values = entries.column(1);
            let mut m = Map::new();
            for j in 0..entries.len() {
                let k = cell(keys.as_ref(), j);
                m.insert(k.as_str().unwrap().to_string(), cell(values.as_ref(), j));
            }
            Value::Object(m)
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let mut m = Map::new();
            for (f, col) in fields.iter().zip(s.columns()) {
                m.insert(f.name().clone(), cell(col.as_ref(), i));
            }
            Value::Object(m)
        }
        t => panic!("a column of type {t} was not expected"),
    }
}

/// `2026-01-01T00:00:00.000000001Z` as nanoseconds since the epoch.
fn ns_of(rfc3339: &Value) -> Value {
    let s = rfc3339.as_str().unwrap();
    let (y, m, d) = (
        s[0..4].parse::<i64>().unwrap(),
        s[5..7].parse::<i64>().unwrap(),
        s[8..10].parse::<i64>().unwrap(),
    );
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = s[11..13].parse::<i64>().unwrap() * 3600
        + s[14..16].parse::<i64>().unwrap() * 60
        + s[17..19].parse::<i64>().unwrap();
    let frac: i64 = s[20..29].parse().unwrap();
    json!((days * 86_400 + secs) * 1_000_000_000 + frac)
}

/// `addr:port` or `[v6]:port` as (addr, port).
fn split_endpoint(e: &Value) -> (Value, Value) {
    let s = e.as_str().unwrap();
    let at = s.rfind(':').unwrap();
    let addr = s[..at].trim_start_matches('[').trim_end_matches(']');
    (json!(addr), json!(s[at + 1..].parse::<u16>().unwrap()))
}

/// The JSON keys the connections table holds, as they are or reshaped
/// (flattened per role, times as nanoseconds, uids of the Zeek records,
/// codes of the anomalies); `schema_version` is the files' metadata and
/// `transitions` the transitions table. A key JSON gains must be added here
/// and to the table.
const JSON_KEYS_IN_PARQUET: [&str; 37] = [
    "schema_version",
    "file",
    "stream",
    "continues",
    "client",
    "server",
    "community_id",
    "client_reason",
    "first_frame",
    "last_frame",
    "start",
    "end",
    "duration",
    "packets",
    "bytes",
    "flags",
    "client_states",
    "server_states",
    "client_state",
    "server_state",
    "client_state_inferred",
    "server_state_inferred",
    "outcome",
    "conn_state",
    "history",
    "analysis",
    "retransmitted_bytes",
    "missed_bytes",
    "zeek",
    "irtt",
    "anomalies",
    "anomaly_counts",
    "vlan",
    "tunnel",
    "time_in_state",
    "ack_rtt",
    "transitions",
];

/// What the connections table must hold for one JSON connection object.
fn expected_connection(j: &Value) -> Map<String, Value> {
    for k in j.as_object().unwrap().keys() {
        assert!(
            JSON_KEYS_IN_PARQUET.contains(&k.as_str()),
            "JSON key {k} is not in the Parquet connections table"
        );
    }
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    for k in [
        "stream",
        "file",
        "continues",
        "client",
        "server",
        "community_id",
        "client_reason",
        "first_frame",
        "last_frame",
        "duration",
        "client_states",
        "server_states",
        "client_state",
        "server_state",
        "client_state_inferred",
        "server_state_inferred",
        "outcome",
        "conn_state",
        "history",
        "missed_bytes",
        "anomaly_counts",
        "vlan",
        "tunnel",
    ] {
        put(k, j[k].clone());
    }
    let (ca, cp) = split_endpoint(&j["client"]);
    let (sa, sp) = split_endpoint(&j["server"]);
    put("client_addr", ca);
    put("client_port", cp);
    put("server_addr", sa);
    put("server_port", sp);
    put("start", ns_of(&j["start"]));
    put("end", ns_of(&j["end"]));
    for role in ["client", "server"] {
        put(&format!("{role}_packets"), j["packets"][role].clone());
        put(&format!("{role}_bytes"), j["bytes"][role].clone());
        put(&format!("{role}_flags"), j["flags"][role].clone());
        put(
            &format!("{role}_time_in_state"),
            j["time_in_state"][role].clone(),
        );
        for k in ["min", "median", "p95", "max", "samples"] {
            put(
                &format!("{role}_ack_rtt_{k}"),
                j["ack_rtt"][role][k].clone(),
            );
        }
        let analysis = &j["analysis"][role];
        put(&format!("{role}_analysis"), analysis.clone());
        let count = |code: &str| json!(analysis[code].as_u64().unwrap_or(0));
        put(&format!("{role}_retransmissions"), count("retransmission"));
        put(&format!("{role}_duplicate_acks"), count("duplicate_ack"));
        put(
            &format!("{role}_retransmitted_bytes"),
            j["retransmitted_bytes"][role].clone(),
        );
    }
    let uids: Vec<Value> = j["zeek"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uid"].clone())
        .collect();
    put("zeek_uids", Value::Array(uids));
    put("irtt", j["irtt"]["total"].clone());
    put("irtt_client_side", j["irtt"]["client_side"].clone());
    put("irtt_server_side", j["irtt"]["server_side"].clone());
    let mut codes: Vec<Value> = Vec::new();
    for a in j["anomalies"].as_array().unwrap() {
        if !codes.contains(&a["code"]) {
            codes.push(a["code"].clone());
        }
    }
    put("anomalies", Value::Array(codes));
    m
}

/// The JSON connection objects of `--format json` over the inputs, in order.
fn json_connections(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--format", "json"];
    all.extend(args);
    let (code, out, err) = run(&all);
    assert!(code == 0 || code == 2, "{err}");
    out.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("summary").is_none())
        .collect()
}

fn compare(table: &str, actual: &[Map<String, Value>], expected: &[Map<String, Value>]) {
    assert_eq!(actual.len(), expected.len(), "{table}: rows");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let names_a: BTreeSet<&String> = a.keys().collect();
        let names_e: BTreeSet<&String> = e.keys().collect();
        assert_eq!(names_a, names_e, "{table}: every column is checked");
        for (k, v) in e {
            assert_eq!(&a[k], v, "{table} row {i} column {k}: {e:?}");
        }
    }
}

#[test]
fn parquet_tables_hold_what_json_holds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.parquet");
    let mut args = vec!["--format", "parquet", "-o", file.to_str().unwrap()];
    args.extend(INPUTS);
    let (code, out, err) = run(&args);
    assert!(code == 0 || code == 2, "{err}");
    assert_eq!(out, "", "Parquet goes to files only");
    let json = json_connections(&INPUTS);
    assert!(json.len() > 150, "{}", json.len());

    let conns = read(&file);
    let expected: Vec<Map<String, Value>> = json.iter().map(expected_connection).collect();
    compare("connections", &conns.rows, &expected);

    let mut transitions = Vec::new();
    let mut anomalies = Vec::new();
    for j in &json {
        for t in j["transitions"].as_array().unwrap() {
            let mut m = t.as_object().unwrap().clone();
            m.insert("stream".into(), j["stream"].clone());
            m.insert("file".into(), j["file"].clone());
            m.insert("time".into(), ns_of(&t["time"]));
            transitions.push(m);
        }
        for a in j["anomalies"].as_array().unwrap() {
            let mut m = a.as_object().unwrap().clone();
            m.insert("stream".into(), j["stream"].clone());
            m.insert("file".into(), j["file"].clone());
            anomalies.push(m);
        }
    }
    assert!(transitions.len() > 500 && anomalies.len() > 100);
    let t = read(&dir.path().join("all.transitions.parquet"));
    compare("transitions", &t.rows, &transitions);
    let a = read(&dir.path().join("all.anomalies.parquet"));
    compare("anomalies", &a.rows, &anomalies);

    for (r, table) in [
        (&conns, "connections"),
        (&t, "transitions"),
        (&a, "anomalies"),
    ] {
        assert!(r
            .metadata
            .contains(&("tcpstate.table".into(), table.into())));
        assert!(r
            .metadata
            .contains(&("tcpstate.schema_version".into(), "1".into())));
    }
    // The types the page promises.
    let ty = |r: &Read, name: &str| r.schema.field_with_name(name).unwrap().data_type().clone();
    assert_eq!(
        ty(&conns, "start"),
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
    );
    assert_eq!(ty(&conns, "client_packets"), DataType::UInt64);
    assert!(matches!(
        ty(&conns, "client_state"),
        DataType::Dictionary(_, _)
    ));
    assert!(matches!(ty(&a, "code"), DataType::Dictionary(_, _)));
}

#[test]
fn out_dir_parquet_writes_one_file_per_table_per_capture() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let captures = [
        "testdata/real/half_close.pcap",
        "testdata/synth/anomalies.pcap",
    ];
    let mut args = vec!["--out-dir", d, "--out-format", "parquet"];
    args.extend(captures);
    assert_eq!(common::ok(&args), "");
    for capture in captures {
        let name = Path::new(capture).file_name().unwrap().to_str().unwrap();
        let json = json_connections(&[capture]);
        let conns = read(&dir.path().join(format!("connections/{name}.parquet")));
        let expected: Vec<Map<String, Value>> = json.iter().map(expected_connection).collect();
        compare("connections", &conns.rows, &expected);
        let transitions: usize = json
            .iter()
            .map(|j| j["transitions"].as_array().unwrap().len())
            .sum();
        let t = read(&dir.path().join(format!("transitions/{name}.parquet")));
        assert_eq!(t.rows.len(), transitions);
        let anomalies: usize = json
            .iter()
            .map(|j| j["anomalies"].as_array().unwrap().len())
            .sum();
        let a = read(&dir.path().join(format!("anomalies/{name}.parquet")));
        assert_eq!(a.rows.len(), anomalies);
        let summary: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("summary/{name}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(summary["connections"], json.len());
        assert_eq!(summary["files"][0]["file"], capture);
    }
    // Nothing half-written is left behind.
    for sub in ["connections", "transitions", "anomalies", "summary"] {
        let names: Vec<String> = std::fs::read_dir(dir.path().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{sub}: {names:?}");
        assert!(names.iter().all(|n| !n.ends_with(".tmp")));
    }
}

#[test]
fn same_names_get_a_suffix_and_an_empty_capture_gets_empty_tables() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // The same capture twice: the second one's files must not overwrite the first's.
    let twice = ["testdata/real/refused.pcap", "./testdata/real/refused.pcap"];
    let mut args = vec!["--out-dir", d, "--out-format", "parquet"];
    args.extend(twice);
    common::ok(&args);
    let json = json_connections(&["testdata/real/refused.pcap"]);
    assert!(!json.is_empty());
    for (name, file) in [("refused.pcap", twice[0]), ("refused.pcap~2", twice[1])] {
        let r = read(&dir.path().join(format!("connections/{name}.parquet")));
        assert_eq!(r.rows.len(), json.len(), "{name}");
        assert!(r.rows.iter().all(|row| row["file"] == file), "{name}");
    }
    // Filters can leave a table empty: it still has its schema.
    let file = dir.path().join("none.parquet");
    common::ok(&[
        "--format",
        "parquet",
        "-o",
        file.to_str().unwrap(),
        "--port",
        "1",
        "testdata/real/refused.pcap",
    ]);
    let r = read(&file);
    assert!(r.rows.is_empty());
    assert!(r.schema.field_with_name("client_states").is_ok());
}

#[test]
fn parquet_needs_a_file() {
    let (code, _, err) = run(&["--format", "parquet", "testdata/real/refused.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("-o FILE"), "{err}");
    let (code, _, err) = run(&["--out-format", "parquet", "testdata/real/refused.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("--out-dir"), "{err}");
}

#[test]
fn rollup_parquet_holds_what_rollup_json_holds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("groups.parquet");
    let inputs = [
        "testdata/synth/scenarios.pcap",
        "testdata/real/several_conns.pcap",
        "testdata/real/lossy_bulk.pcap",
        "testdata/synth/basic_v6.pcap",
    ];
    // Two groups kept, the rest in `other` (null keys).
    let mut args = vec![
        "--group-by",
        "server,server-port",
        "--max-groups",
        "2",
        "--format",
        "parquet",
        "-o",
        file.to_str().unwrap(),
    ];
    args.extend(inputs);
    assert_eq!(common::ok(&args), "");
    let mut args = vec![
        "--group-by",
        "server,server-port",
        "--max-groups",
        "2",
        "--format",
        "json",
    ];
    args.extend(inputs);
    let expected: Vec<Map<String, Value>> = common::ok(&args)
        .lines()
        .map(|l| {
            let mut m: Map<String, Value> = serde_json::from_str(l).unwrap();
            assert_eq!(m.remove("schema_version"), Some(json!(1)));
            m
        })
        .collect();
    assert_eq!(expected.len(), 3);
    let r = read(&file);
    compare("rollup", &r.rows, &expected);
    assert!(r
        .metadata
        .contains(&("tcpstate.table".into(), "rollup".into())));
    assert_eq!(
        r.schema.field_with_name("server_port").unwrap().data_type(),
        &DataType::UInt16
    );
}

#[test]
fn unwritable_targets_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the folder should be.
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let (code, _, err) = run(&[
        "--out-dir",
        file.to_str().unwrap(),
        "--out-format",
        "parquet",
        "testdata/real/refused.pcap",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot write"), "{err}");
    // A folder that does not exist: nothing is left behind.
    let missing = dir.path().join("no/such/x.parquet");
    let (code, _, err) = run(&[
        "--format",
        "parquet",
        "-o",
        missing.to_str().unwrap(),
        "testdata/real/refused.pcap",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot write"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the plain file");
}
