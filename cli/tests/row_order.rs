//! The order of streamed rows (docs/REFERENCE.md, "Row order") and live
//! pipes: rows come as connections finish, `stream` first so `sort -n`
//! gives Wireshark's order; the order depends on the capture alone (thread
//! count, file or pipe, however slowly the pipe delivers); and a finished
//! connection's row reaches a pipe's reader before the capture ends.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tcpstate_synth::{Conv, Link, Packet, PcapFormat, PcapWriter, Side, EPOCH_2026_NS};

const SECOND: u64 = 1_000_000_000;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A connection from client port `port` that opens at `start_s` seconds and
/// closes a few milliseconds later.
fn short(port: u16, start_s: u64) -> Vec<Packet> {
    let mut c = Conv::new(
        addr(&format!("10.0.0.1:{port}")),
        addr("10.0.0.2:80"),
        1000,
        5000,
    )
    .starting_at(EPOCH_2026_NS + start_s * SECOND);
    c.handshake();
    c.data(Side::Client, 100);
    c.ack(Side::Server);
    c.fin(Side::Client);
    c.fin(Side::Server);
    c.ack(Side::Client);
    c.into_packets()
}

fn pcap(mut packets: Vec<Packet>) -> Vec<u8> {
    packets.sort_by_key(Packet::ts_ns);
    let mut w = PcapWriter::new(Vec::new(), Link::Ethernet, PcapFormat::default()).unwrap();
    w.write_packets(&packets).unwrap();
    w.into_inner().unwrap()
}

/// 300 s of capture: stream 0 stays open from 0 s to 300 s (a little data
/// every 20 s), streams 1 to 12 open at 25, 45, ... 245 s and close at once.
fn long_capture() -> Vec<u8> {
    let mut long =
        Conv::new(addr("10.0.0.9:2000"), addr("10.0.0.2:22"), 77, 88).starting_at(EPOCH_2026_NS);
    long.handshake();
    for _ in 0..14 {
        long.wait(20 * SECOND);
        long.data(Side::Client, 10);
        long.ack(Side::Server);
    }
    long.wait(20 * SECOND);
    long.fin(Side::Client);
    long.fin(Side::Server);
    long.ack(Side::Client);
    let mut packets = long.into_packets();
    for i in 1..=12u16 {
        packets.extend(short(1000 + i, 5 + 20 * u64::from(i)));
    }
    pcap(packets)
}

fn tcpstate(threads: usize, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tcpstate"));
    cmd.current_dir(root())
        .env("RAYON_NUM_THREADS", threads.to_string())
        .args(args);
    cmd
}

fn run(threads: usize, args: &[&str]) -> String {
    let out = tcpstate(threads, args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The first CSV column of every row.
fn streams(csv: &str) -> Vec<u64> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

/// The same bytes through a pipe into `tcpstate ARGS -`.
fn through_pipe(bytes: &[u8], args: &[&str]) -> String {
    let mut child = tcpstate(2, args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // In pieces, with pauses, so the reader hands over several batches.
    for piece in bytes.chunks(bytes.len() / 7 + 1) {
        stdin.write_all(piece).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn rows_come_as_connections_finish_with_the_stream_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.pcap");
    let bytes = long_capture();
    fs::write(&path, &bytes).unwrap();
    let file = path.to_str().unwrap();
    // TIME_WAIT is 60 s (MSL 30 s): streams 1 to 11 have closed and waited
    // 60 s before the capture ends at 300 s, each at a different check, so
    // they come first and in that order; streams 0 and 12 are live at the
    // end and come last, in stream order.
    let want: Vec<u64> = (1..=11).chain([0, 12]).collect();
    let csv = run(1, &["--format", "csv", file]);
    assert!(csv.starts_with("stream,file,continues,"), "{csv}");
    assert_eq!(streams(&csv), want);
    // Whatever the thread count, and through a pipe however it is fed.
    assert_eq!(run(2, &["--format", "csv", file]), csv);
    assert_eq!(run(8, &["--format", "csv", file]), csv);
    assert_eq!(
        through_pipe(&bytes, &["--format", "csv"]),
        csv.replace(file, "-")
    );
    // JSON lines and --out-dir in the same order.
    let json = run(2, &["--format", "json", file]);
    let json_streams: Vec<u64> = json
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["stream"].as_u64())
        .collect();
    assert_eq!(json_streams, want);
    let out = dir.path().join("out");
    run(2, &["--out-dir", out.to_str().unwrap(), file]);
    let conns = fs::read_to_string(out.join("connections.csv")).unwrap();
    assert_eq!(streams(&conns), want);
    let transitions = fs::read_to_string(out.join("transitions.csv")).unwrap();
    let mut seen: Vec<u64> = streams(&transitions);
    seen.dedup();
    assert_eq!(seen, want, "transitions grouped by connection, same order");
    // Sorting on the first column gives Wireshark's order.
    let mut sorted = streams(&csv);
    sorted.sort();
    assert_eq!(sorted, (0..=12).collect::<Vec<u64>>());
}

#[test]
fn a_live_pipe_gets_a_finished_connections_row_before_the_capture_ends() {
    // Stream 0 closes at 0 s; stream 1 starts at 70 s, after stream 0's
    // TIME_WAIT (60 s) has run, and lasts until 140 s.
    let first = short(1001, 0);
    let mut second = Conv::new(addr("10.0.0.1:1002"), addr("10.0.0.2:80"), 1, 2)
        .starting_at(EPOCH_2026_NS + 70 * SECOND);
    second.handshake();
    let head = pcap([first.clone(), second.clone().into_packets()].concat());
    second.wait(70 * SECOND);
    second.data(Side::Client, 10);
    let whole = pcap([first, second.into_packets()].concat());
    assert!(whole.starts_with(&head));

    let mut child = tcpstate(2, &["--format", "csv", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // Only the capture's head, and the pipe stays open.
    stdin.write_all(&head).unwrap();
    stdin.flush().unwrap();
    let wait = Duration::from_secs(20);
    let header = rx.recv_timeout(wait).expect("the header before the end");
    assert!(header.starts_with("stream,file,"), "{header}");
    let row = rx
        .recv_timeout(wait)
        .expect("stream 0's row before the end");
    assert!(row.starts_with("0,-,false,10.0.0.1:1001,"), "{row}");
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "stream 1 is still open"
    );
    // The rest, then the end: stream 1 follows, and the whole output is the
    // file's, byte for byte.
    stdin.write_all(&whole[head.len()..]).unwrap();
    drop(stdin);
    let rest: Vec<String> = rx.iter().collect();
    reader.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(rest.len(), 1, "{rest:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.pcap");
    fs::write(&path, &whole).unwrap();
    let from_file = run(1, &["--format", "csv", path.to_str().unwrap()]);
    let piped = [header, row, rest[0].clone()].join("\n") + "\n";
    assert_eq!(piped, from_file.replace(path.to_str().unwrap(), "-"));
    assert!(Path::new(&path).exists());
}

#[test]
fn a_quiet_pipe_finishes_a_closed_connection_by_wall_time() {
    // One connection that closes, then nothing: no later packet moves the
    // capture clock past its TIME_WAIT (2 s with --msl 1). While the pipe
    // stays open and quiet, the clock moves on with the wall clock (as a
    // live Zeek's network time does), so the row comes before the end.
    let mut child = tcpstate(2, &["--msl", "1", "--format", "csv", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let bytes = pcap(short(1001, 0));
    stdin.write_all(&bytes).unwrap();
    stdin.flush().unwrap();
    let wait = Duration::from_secs(30);
    let header = rx.recv_timeout(wait).expect("the header before the end");
    assert!(header.starts_with("stream,file,"), "{header}");
    let row = rx.recv_timeout(wait).expect("the row before the end");
    assert!(row.starts_with("0,-,false,10.0.0.1:1001,"), "{row}");
    // The file of the same bytes ends 7 ms in, with the client still in
    // TIME_WAIT; through the quiet pipe 2*MSL of (wall) time passed, so the
    // client's TIME_WAIT ran out: the only difference.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.pcap");
    fs::write(&path, &bytes).unwrap();
    let file = path.to_str().unwrap();
    let from_file = run(1, &["--msl", "1", "--format", "csv", file]);
    let from_file = from_file.lines().nth(1).unwrap().replace(file, "-");
    assert!(
        from_file.contains(" FIN_WAIT_1 TIME_WAIT,LISTEN "),
        "{from_file}"
    );
    // The time in each state differs with it: TIME_WAIT lasted until the
    // file's end (1 ms), through the pipe its full 2*MSL (then the client
    // was CLOSED until the connection was finished).
    let names: Vec<&str> = header.split(',').collect();
    let column = |line: &str, name: &str| -> String {
        let i = names.iter().position(|n| *n == name).unwrap();
        line.split(',').nth(i).unwrap().to_string()
    };
    let client = "client_time_in_state";
    assert!(
        column(&from_file, client).ends_with(" TIME_WAIT=0.001"),
        "{from_file}"
    );
    assert!(column(&row, client).contains(" TIME_WAIT=2.0"), "{row}");
    let without_times = |line: &str| -> Vec<String> {
        line.split(',')
            .zip(&names)
            .filter(|(_, n)| !n.ends_with("_time_in_state"))
            .map(|(v, _)| v.to_string())
            .collect()
    };
    assert_eq!(
        without_times(
            &from_file
                .replace(" FIN_WAIT_1 TIME_WAIT,", " FIN_WAIT_1 TIME_WAIT CLOSED,")
                .replace(",TIME_WAIT,CLOSED,", ",CLOSED,CLOSED,")
        ),
        without_times(&row)
    );
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
