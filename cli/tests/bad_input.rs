//! Bad input: every reader error gives one line naming the file and byte offset,
//! exit status 2, and the frames read before the problem are still reported.
//! The files are written by `cargo run --example gen_testdata` (testdata/synth/bad).

use assert_cmd::Command;

fn run(args: &[&str], stdin: Option<Vec<u8>>) -> (i32, String, serde_json::Value) {
    let mut cmd = Command::cargo_bin("tcpstate").unwrap();
    cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["--format", "json"])
        .args(args);
    if let Some(bytes) = stdin {
        cmd.write_stdin(bytes);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let summary =
        serde_json::from_str::<serde_json::Value>(stdout.lines().last().unwrap()).unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        summary["summary"].clone(),
    )
}

/// (file, exact stderr line after "tcpstate: <file>: ", frames read before the error, connections)
const CASES: &[(&str, &str, u64, u64)] = &[
    ("not_a_capture.txt", "byte 0: not a pcap or pcapng file (starts with 54 68 69 73)", 0, 0),
    ("empty.pcap", "byte 0: file is empty, not a pcap or pcapng capture", 0, 0),
    ("truncated_header.pcap", "byte 0: truncated: the pcap file header starts here but the input ends at byte 10", 0, 0),
    ("truncated_record.pcap", "byte 234: truncated: a record starts here but the input ends at byte 297", 3, 1),
    ("truncated_record_header.pcap", "byte 234: truncated: a record header starts here but the input ends at byte 241", 3, 1),
    ("caplen_over_snaplen.pcap", "byte 234: record claims a captured length of 200 bytes, more than the file's snaplen (128)", 3, 1),
    ("huge_caplen.pcap", "byte 234: record claims a captured length of 4294967280 bytes, more than the 256 MiB limit (268435456)", 3, 1),
    ("pcapng_bad_block_len.pcapng", "byte 352: pcapng block has an invalid length 13 (must be a multiple of 4, at least 12, at most 268500992)", 3, 1),
    ("pcapng_huge_block.pcapng", "byte 352: pcapng block has an invalid length 4294967280 (must be a multiple of 4, at least 12, at most 268500992)", 3, 1),
    ("pcapng_truncated.pcapng", "byte 352: truncated: a pcapng block starts here but the input ends at byte 416", 3, 1),
    ("pcapng_truncated_block_header.pcapng", "byte 352: truncated: a pcapng block header starts here but the input ends at byte 357", 3, 1),
    ("pcapng_truncated_shb.pcapng", "byte 0: truncated: a section header block starts here but the input ends at byte 10", 0, 0),
    ("pcapng_bad_byte_order.pcapng", "byte 0: section header block has an unknown byte-order magic 0x12345678", 0, 0),
    ("pcapng_trailer_mismatch.pcapng", "byte 352: pcapng block length 128 does not match its trailing length 4", 3, 1),
    ("pcapng_bad_tsresol.pcapng", "byte 352: interface description block has an unusable if_tsresol 20", 3, 1),
    ("pcapng_undefined_interface.pcapng", "byte 352: packet block refers to interface 5, which no interface description block defined", 3, 1),
    ("pcapng_spb_without_idb.pcapng", "byte 52: packet block refers to interface 0, which no interface description block defined", 0, 0),
    ("pcapng_caplen_over_block.pcapng", "byte 352: enhanced packet block claims 1000 captured bytes but holds 96", 3, 1),
    ("pcapng_short_epb.pcapng", "byte 352: enhanced packet block has length 16, less than the 32 bytes of its fixed fields", 3, 1),
    ("pcapng_short_obsolete_pb.pcapng", "byte 352: obsolete packet block has length 28, less than the 32 bytes of its fixed fields", 3, 1),
    ("pcapng_obsolete_pb_caplen.pcapng", "byte 352: obsolete packet block claims 1000 captured bytes but holds 96", 3, 1),
    ("swapped_modified.pcap", "byte 0: unsupported pcap header (byte-swapped modified pcap?)", 0, 0),
    // The largest length the reader believes: it makes room for 256 MiB, then finds the input ends.
    ("max_caplen.pcap", "byte 234: truncated: a record starts here but the input ends at byte 282", 3, 1),
    // Every frame decompresses; the gzip trailer's CRC-32 then fails.
    ("bad_crc.pcap.gz", "byte 814 (of decompressed data): corrupt gzip data: corrupt gzip stream does not have a matching checksum", 9, 1),
    ("corrupt_deflate.pcap.gz", "byte 0 (of decompressed data): corrupt gzip data: corrupt deflate stream", 0, 0),
];

#[test]
fn each_bad_file_names_file_and_offset_and_keeps_what_was_read() {
    for &(name, msg, frames, conns) in CASES {
        let path = format!("testdata/synth/bad/{name}");
        let (code, stderr, summary) = run(&[&path], None);
        assert_eq!(code, 2, "{name}");
        assert_eq!(stderr, format!("tcpstate: {path}: {msg}\n"), "{name}");
        assert_eq!(summary["frames"], frames, "{name}");
        assert_eq!(
            summary["tcp"], frames,
            "{name}: the good frames are all TCP"
        );
        assert_eq!(summary["connections"], conns, "{name}");
        assert_eq!(summary["errors"], 1, "{name}");
        assert_eq!(
            summary["files"][0]["error"],
            format!("{path}: {msg}"),
            "{name}"
        );
    }
}

#[test]
fn bad_stream_on_stdin_is_named_dash() {
    let bytes = std::fs::read(concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/.."),
        "/testdata/synth/bad/huge_caplen.pcap"
    ))
    .unwrap();
    let (code, stderr, summary) = run(&["-"], Some(bytes));
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("tcpstate: -: byte 234: record claims a captured length of 4294967280"),
        "{stderr}"
    );
    assert_eq!(summary["frames"], 3);
}

/// Every byte inflated before the cut is read (353, as many as zcat gives),
/// so every frame in them; the error says the gzip data ends early, at the
/// decompressed offset where it does.
#[test]
fn truncated_gzip_reports_decompressed_offset() {
    let gz = std::fs::read(concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/.."),
        "/testdata/real/normal_close_client.pcap.gz"
    ))
    .unwrap();
    let cut = gz[..gz.len() / 2].to_vec();
    let (code, stderr, summary) = run(&["-"], Some(cut));
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "tcpstate: -: byte 353 (of decompressed data): truncated gzip data: the input ends inside a gzip member's compressed data\n"
    );
    assert_eq!(summary["frames"], 3);
}

/// Bytes after the last gzip member that are not another member: every frame
/// is read, and the error says where the stray bytes start.
#[test]
fn bytes_after_the_gzip_data_are_reported_after_every_frame() {
    let mut gz = std::fs::read(concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/.."),
        "/testdata/real/normal_close_client.pcap.gz"
    ))
    .unwrap();
    let len = gz.len();
    gz.extend(b"junk");
    let (code, stderr, summary) = run(&["-"], Some(gz));
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        format!("tcpstate: -: byte 974 (of decompressed data): corrupt gzip data: invalid gzip header at compressed byte {len}, after 1 complete gzip member\n")
    );
    assert_eq!(summary["frames"], 11);
}

/// pcapng blocks shorter than their type's fixed fields, or whose fields run
/// past their end, each after three good packets (the first 352 bytes of
/// pcapng_truncated.pcapng). tcpstate checks the lengths before pcap-parser
/// sees a block, so each message names the block and the numbers; read from
/// a mapped file and from stdin alike.
#[test]
fn malformed_pcapng_blocks_have_precise_messages() {
    fn block(block_type: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len()) as u32;
        assert_eq!(len % 4, 0);
        let mut b = block_type.to_le_bytes().to_vec();
        b.extend(len.to_le_bytes());
        b.extend(body);
        b.extend(len.to_le_bytes());
        b
    }
    let good = std::fs::read(concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/.."),
        "/testdata/synth/bad/pcapng_truncated.pcapng"
    ))
    .unwrap()[..352]
        .to_vec();
    let bom = 0x1a2b_3c4du32.to_le_bytes();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            block(0x0a0d_0d0a, &[&bom[..], &[1, 0, 0, 0]].concat()),
            "section header block has length 20, less than the 28 bytes of its fixed fields",
        ),
        (
            block(1, &[1, 0, 0, 0]),
            "interface description block has length 16, less than the 20 bytes of its fixed fields",
        ),
        (
            block(3, &[]),
            "simple packet block has length 12, less than the 16 bytes of its fixed fields",
        ),
        (
            block(5, &[0; 8]),
            "interface statistics block has length 20, less than the 24 bytes of its fixed fields",
        ),
        (
            block(6, &[0; 16]),
            "enhanced packet block has length 28, less than the 32 bytes of its fixed fields",
        ),
        (
            block(6, &[[0u8; 12].as_slice(), &5u32.to_le_bytes(), &[0; 8]].concat()),
            "enhanced packet block claims 5 captured bytes but holds 4",
        ),
        (
            block(10, &[0; 4]),
            "decryption secrets block has length 16, less than the 20 bytes of its fixed fields",
        ),
        (
            block(0xbad, &[]),
            "custom block has length 12, less than the 16 bytes of its fixed fields",
        ),
        // Long enough for its fixed fields, but the secrets it announces are not there.
        (
            block(10, &[[0u8; 4].as_slice(), &100u32.to_le_bytes()].concat()),
            "malformed pcapng block of type 0x0000000a: block content is shorter than its fields say",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (bad, msg)) in cases.into_iter().enumerate() {
        let mut bytes = good.clone();
        bytes.extend(bad);
        let path = dir.path().join(format!("case{i}.pcapng"));
        std::fs::write(&path, &bytes).unwrap();
        let path = path.to_str().unwrap();
        for (arg, stdin) in [(path, None), ("-", Some(bytes))] {
            let (code, stderr, summary) = run(&[arg], stdin);
            assert_eq!(code, 2, "{msg}");
            assert_eq!(stderr, format!("tcpstate: {arg}: byte 352: {msg}\n"));
            assert_eq!(summary["frames"], 3, "{msg}");
        }
    }
}

#[test]
fn a_good_file_after_a_bad_one_is_still_analysed() {
    let (code, _, summary) = run(
        &[
            "testdata/synth/bad/empty.pcap",
            "testdata/real/refused.pcap",
        ],
        None,
    );
    assert_eq!(code, 2);
    assert_eq!(summary["connections"], 2);
    assert_eq!(summary["frames"], 4);
}

#[test]
fn undecodable_frames_are_announced_on_stderr_for_machine_output() {
    let (code, stderr, summary) = run(&["testdata/synth/odd_frames.pcap"], None);
    assert_eq!(code, 0, "undecodable frames are not a read error");
    assert_eq!(
        stderr,
        "tcpstate: testdata/synth/odd_frames.pcap: 1 undecodable frames (bad IP header: truncated (12 of 20 bytes) 1)\n"
    );
    assert_eq!(summary["undecodable"], 1);
}

/// Asserts a single failing input: exit status 2, one stderr line, nothing read.
fn assert_unreadable(arg: &str, expected_stderr: &str) {
    let (code, stderr, summary) = run(&[arg], None);
    assert_eq!(code, 2, "{arg}");
    assert_eq!(stderr, format!("{expected_stderr}\n"), "{arg}");
    assert_eq!(summary["frames"], 0, "{arg}");
    assert_eq!(summary["errors"], 1, "{arg}");
}

#[test]
fn missing_file_cannot_be_opened() {
    assert_unreadable(
        "testdata/no_such_file.pcap",
        "tcpstate: testdata/no_such_file.pcap: cannot open: No such file or directory (os error 2)",
    );
}

/// The command line expands a directory into the captures in it; the reader
/// itself, given one, refuses it by name.
#[test]
fn reader_refuses_a_directory() {
    let dir = concat!(concat!(env!("CARGO_MANIFEST_DIR"), "/.."), "/testdata");
    let input = tcpstate::capture::Input::Path(dir.into());
    let e = tcpstate::capture::CaptureReader::open(&input).unwrap_err();
    assert_eq!(e.to_string(), format!("{dir}: cannot open: is a directory"));
}

/// A read error after opening: /proc/self/mem opens, but reading its first
/// page (never mapped) fails with EIO.
#[cfg(target_os = "linux")]
#[test]
fn read_error_names_file_and_offset() {
    assert_unreadable(
        "/proc/self/mem",
        "tcpstate: /proc/self/mem: byte 0: read error: Input/output error (os error 5)",
    );
}

#[test]
fn every_bad_file_has_a_case() {
    let dir = concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/.."),
        "/testdata/synth/bad"
    );
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let mut cases: Vec<String> = CASES.iter().map(|c| c.0.to_string()).collect();
    cases.sort();
    assert_eq!(names, cases, "testdata/synth/bad and CASES differ");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Inputs too short to tell what they are, plain and gzip-wrapped (the reader
/// detects the format again after decompressing).
#[test]
fn too_short_to_recognise() {
    let cases: [(Vec<u8>, &str); 3] = [
        (
            b"x".to_vec(),
            "byte 0: not a pcap or pcapng file (starts with 78 00 00 00)",
        ),
        (
            gzip(b""),
            "byte 0 (of decompressed data): file is empty, not a pcap or pcapng capture",
        ),
        (
            gzip(b"abc"),
            "byte 0 (of decompressed data): not a pcap or pcapng file (starts with 61 62 63 00)",
        ),
    ];
    for (bytes, msg) in cases {
        let (code, stderr, summary) = run(&["-"], Some(bytes));
        assert_eq!(code, 2, "{msg}");
        assert_eq!(stderr, format!("tcpstate: -: {msg}\n"));
        assert_eq!(summary["frames"], 0);
        assert_eq!(summary["errors"], 1);
    }
}
