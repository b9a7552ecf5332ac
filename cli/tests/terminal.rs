//! The table as a person at a terminal sees it (issue 16): at 80, 120 and
//! 160 columns no line is longer than the terminal, every address is
//! whole, and the stream, both states, the outcome and every anomaly code
//! are there; counters come when there is room. `--width` lays the table out
//! exactly as a terminal that wide gets it; one test runs the binary on a
//! real pseudo-terminal to prove the terminal path uses its width too.

use std::collections::BTreeSet;

mod common;
use common::{ok, root, run};

/// Long IPv6 endpoints (teredo), many and long anomaly codes, tenants
/// told apart only by their tunnels, a loopback capture, a lossy transfer.
const CAPTURES: [&str; 5] = [
    "testdata/synth/encap/teredo.pcap",
    "testdata/synth/anomalies.pcap",
    "testdata/synth/encap/vxlan.pcap",
    "testdata/real/several_conns.pcap",
    "testdata/real/lossy_bulk.pcap",
];

/// What each connection's table row must show whatever the width, from
/// the CSV of the same captures: endpoints, states, outcome, anomaly codes.
fn essentials(captures: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec!["--format", "csv"];
    args.extend(captures);
    let csv = ok(&args);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let mut want: Vec<String> = [
                "client",
                "server",
                "client_state",
                "server_state",
                "outcome",
            ]
            .iter()
            .map(|n| f[col(n)].to_string())
            .collect();
            want.extend(
                f[col("anomalies")]
                    .split(' ')
                    .filter(|c| !c.is_empty())
                    .map(String::from),
            );
            want
        })
        .collect()
}

/// Every whitespace- or comma-separated word of a text.
fn words(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect()
}

/// The connection tables of a report: from each header line to the
/// frame accounting (not the overview, which names outcomes and codes too).
fn tables(report: &str) -> String {
    let mut inside = false;
    let mut out = String::new();
    for line in report.lines() {
        if line.starts_with("STREAM") {
            inside = true;
        } else if line.starts_with("frames:") {
            inside = false;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The checks of the tables of `captures` laid out for `width` columns:
/// no line too long, nothing cut, every connection's essentials in its
/// capture's table.
fn assert_fits(out: &str, width: usize, captures: &[&str]) {
    for line in out.lines() {
        assert!(
            line.chars().count() <= width,
            "a line of {} characters at width {width}:\n{line}\n{out}",
            line.chars().count()
        );
    }
    assert!(!out.contains('…'), "nothing is cut:\n{out}");
    let tables = tables(out);
    let seen = words(&tables);
    for want in essentials(captures) {
        for w in &want {
            assert!(
                seen.contains(w.as_str()),
                "{w} missing at width {width}:\n{out}"
            );
        }
    }
}

#[test]
fn the_table_fits_80_120_and_160_columns_with_every_address_whole() {
    for width in [80, 120, 160] {
        let w = width.to_string();
        // Each capture alone (its table must hold its own essentials)...
        for capture in CAPTURES {
            let out = ok(&["--width", &w, capture]);
            assert_fits(&out, width, &[capture]);
        }
        // ...and all together, the summary first.
        let mut args = vec!["--width", &w];
        args.extend(CAPTURES);
        assert_fits(&ok(&args), width, &CAPTURES);
    }
}

#[test]
fn counters_come_when_there_is_room() {
    let table = |width: &str| ok(&["--width", width, "testdata/real/several_conns.pcap"]);
    // 80: a line per side, the anomalies under the outcome.
    let narrow = table("80");
    assert!(narrow.contains("STREAM  CLIENT "), "{narrow}");
    assert!(narrow.contains("\n        SERVER "), "{narrow}");
    assert!(!narrow.contains("PACKETS C/S"), "{narrow}");
    // 160: one line per connection with Zeek's view, counts and the RTT.
    let wide = table("160");
    let header = wide.lines().find(|l| l.starts_with("STREAM")).unwrap();
    for column in [
        "CLIENT",
        "SERVER",
        "CLIENT STATE",
        "SERVER STATE",
        "OUTCOME",
        "CONN_STATE",
        "HISTORY",
        "PACKETS C/S",
        "ANOMALIES",
    ] {
        assert!(header.contains(column), "{column} at 160: {header}");
    }
    assert!(
        wide.contains("3       127.0.0.1:30114  127.0.0.1:5011  "),
        "one line per connection:\n{wide}"
    );
}

#[test]
fn columns_picks_exactly_the_columns_asked_for() {
    let out = ok(&[
        "--columns",
        "stream,outcome,client,anomalies",
        "testdata/real/several_conns.pcap",
    ]);
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("STREAM"))
        .take(5)
        .collect();
    assert_eq!(
        table,
        [
            "STREAM  OUTCOME          CLIENT           ANOMALIES",
            "0       closed           127.0.0.1:30111  -",
            "1       closed           127.0.0.1:30112  -",
            "2       closed           127.0.0.1:30113  -",
            "3       reset_by_server  127.0.0.1:30114  reset",
        ]
    );
    // The names are listed when one is wrong; options for other outputs
    // are refused, not ignored.
    let (code, _, err) = run(&["--columns", "stream,nope", "testdata/real/refused.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown column \"nope\""), "{err}");
    assert!(err.contains("client_state, server_state, outcome"), "{err}");
    for args in [
        &["--format", "csv", "--columns", "stream"][..],
        &["--format", "json", "--width", "80"],
        &["--format", "zeek", "--wide"],
        &["--out-dir", "/nonexistent/never-created", "--width", "100"],
    ] {
        let mut args = args.to_vec();
        args.push("testdata/real/refused.pcap");
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains("shapes the table"), "{args:?}: {err}");
    }
    let (code, _, err) = run(&[
        "--history",
        "--columns",
        "stream",
        "testdata/real/refused.pcap",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--history"), "{err}");
    let (code, _, _) = run(&["--wide", "--width", "80", "testdata/real/refused.pcap"]);
    assert_eq!(code, 2);
}

#[test]
fn wide_and_a_pipe_get_every_column() {
    let piped = ok(&["testdata/real/several_conns.pcap"]);
    assert_eq!(ok(&["--wide", "testdata/real/several_conns.pcap"]), piped);
    assert!(piped.contains("FLAGS C/S  CLIENT STATE  SERVER STATE  CONN_STATE"));
}

#[test]
fn history_wraps_to_the_width_too() {
    let out = ok(&[
        "--history",
        "--width",
        "80",
        "testdata/synth/scenarios.pcap",
    ]);
    for line in out.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    // Nothing lost: the same words as the unwrapped history.
    let piped = ok(&["--history", "testdata/synth/scenarios.pcap"]);
    assert_eq!(words(&out), words(&piped));
    assert_ne!(out, piped, "scenarios.pcap has lines over 80 characters");
}

/// The binary on a real pseudo-terminal `cols` wide: what a person sees.
#[cfg(unix)]
mod pty {
    use std::fs::File;
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::process::Stdio;

    /// Runs tcpstate with standard output on a terminal `cols` wide (and
    /// `NO_COLOR` unset); its output with `\r` and colour escapes removed.
    pub fn run_on_terminal(cols: u16, args: &[&str]) -> (String, bool) {
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize {
            ws_row: 40,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors into the given integers and
        // reads the window size; the name and termios pointers may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here only.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tcpstate"))
            .current_dir(super::root())
            .env_remove("NO_COLOR")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(slave))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut raw = Vec::new();
        let mut master = master;
        let mut buf = [0u8; 4096];
        loop {
            match master.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                // Linux reports EIO once the last writer has closed the terminal.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
                Err(e) => panic!("reading the terminal: {e}"),
            }
        }
        assert!(child.wait().unwrap().success());
        let text = String::from_utf8(raw).unwrap().replace('\r', "");
        let coloured = text.contains('\x1b');
        let mut plain = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for e in chars.by_ref() {
                    if e.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        (plain, coloured)
    }
}

#[cfg(unix)]
#[test]
fn a_real_terminal_gets_the_layout_for_its_width() {
    for cols in [80u16, 120, 160] {
        let (seen, coloured) = pty::run_on_terminal(cols, &CAPTURES);
        assert_fits(&seen, usize::from(cols), &CAPTURES);
        assert!(coloured, "anomaly codes are coloured on a terminal");
        // Exactly what --width gives, but for the colours.
        let w = cols.to_string();
        let mut args = vec!["--width", w.as_str()];
        args.extend(CAPTURES);
        assert_eq!(seen, ok(&args), "at {cols} columns");
    }
    // --wide: on a terminal too, the table a pipe gets.
    let (seen, _) = pty::run_on_terminal(80, &["--wide", "testdata/real/several_conns.pcap"]);
    assert_eq!(seen, ok(&["testdata/real/several_conns.pcap"]));
}
