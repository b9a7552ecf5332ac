//! Command line: turns flags into calls to the library and an exit status.
//! Nothing here knows about packets.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Parser;
use rayon::prelude::*;

use crate::analysis::{analyze, CaptureAnalysis, Options};
use crate::anomaly::catalogue_text;
use crate::capture::Input;
use crate::report::{write_report, Format, Report};
use crate::state_machine::Config;

/// Exit status when every input was read to its end.
pub const EXIT_OK: i32 = 0;
/// Exit status for a failure that is not about the input (e.g. cannot write the report).
pub const EXIT_FAILURE: i32 = 1;
/// Exit status when an input could not be read, or not to its end.
pub const EXIT_BAD_INPUT: i32 = 2;

const EXAMPLES: &str = "\
Examples:
  tcpstate capture.pcap                   list every TCP connection in a capture
  tcpstate --history capture.pcap         every state transition: frame, time, side, FROM -> TO
  tcpstate --list-anomalies               the catalogue of anomaly codes
  tcpstate a.pcapng b.pcap.gz             several files; each keeps its own stream numbers
  tcpstate --format csv -o conns.csv x.pcap
  tcpstate --format json x.pcap | jq 'select(.stream == 3)'
  tcpdump -i lo -w - | tcpstate -         read a live capture from stdin

Stream numbers are Wireshark's tcp.stream: `tcp.stream eq N` in Wireshark shows
connection N. Frame numbers are Wireshark's frame.number.
Flags are Wireshark's letters: N(S) C(WR) E(CE) U(RG) A(CK) P(SH) R(ST) S(YN) F(IN).

Exit status: 0 when every input was read to its end, 2 when an input was
unreadable or truncated (what could be read is still reported), 1 on other errors.";

/// Reconstruct what happened to every TCP connection in pcap and pcapng captures.
#[derive(Debug, Parser)]
#[command(name = "tcpstate", version, about, after_help = EXAMPLES)]
pub struct Args {
    /// Capture files: pcap or pcapng, optionally gzip-compressed (detected by
    /// content); `-` reads standard input.
    #[arg(required_unless_present = "list_anomalies", value_name = "FILE")]
    pub files: Vec<String>,

    /// Print each connection's state history (frame, time, side, FROM -> TO,
    /// cause) instead of the connection table. JSON always includes it.
    #[arg(long)]
    pub history: bool,

    /// Print the catalogue of anomaly codes with severity and meaning, then exit.
    #[arg(long)]
    pub list_anomalies: bool,

    /// Maximum segment lifetime in seconds; TIME_WAIT lasts twice this.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub msl: f64,

    /// Seconds in CLOSE_WAIT at capture end that count as close_wait_stuck.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub close_wait_threshold: f64,

    /// Seconds in FIN_WAIT_2 at capture end that count as fin_wait_2_stuck.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub fin_wait_2_threshold: f64,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn nanos(seconds: f64) -> i64 {
    (seconds.max(0.0) * 1e9) as i64
}

/// Runs the tool; returns the process exit status.
pub fn run(args: Args) -> i32 {
    if args.list_anomalies {
        print!("{}", catalogue_text());
        return EXIT_OK;
    }
    let options = Options {
        machines: Config {
            msl_ns: nanos(args.msl),
            close_wait_threshold_ns: nanos(args.close_wait_threshold),
            fin_wait_2_threshold_ns: nanos(args.fin_wait_2_threshold),
        },
    };
    if args.files.iter().filter(|f| f.as_str() == "-").count() > 1 {
        eprintln!("tcpstate: standard input (-) can be read only once");
        return EXIT_BAD_INPUT;
    }
    let inputs: Vec<Input> = args.files.iter().map(|f| Input::from_arg(f)).collect();
    let analyses: Vec<CaptureAnalysis> = inputs.par_iter().map(|i| analyze(i, &options)).collect();
    let report = if args.history {
        Report::History
    } else {
        Report::Connections
    };

    let mut status = EXIT_OK;
    for a in &analyses {
        for e in &a.errors {
            eprintln!("tcpstate: {e}");
            status = EXIT_BAD_INPUT;
        }
        // The table shows the accounting itself; machine-readable output keeps
        // stdout clean, so people watching stderr still learn of it.
        if args.format != Format::Table && a.accounting.undecodable > 0 {
            let reasons: Vec<String> = a
                .accounting
                .undecodable_by_reason
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            eprintln!(
                "tcpstate: {}: {} undecodable frames ({})",
                a.file,
                a.accounting.undecodable,
                reasons.join(", ")
            );
        }
    }
    let written = match &args.output {
        Some(path) => write_atomically(path, |w| write_report(w, args.format, report, &analyses)),
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            write_report(&mut w, args.format, report, &analyses).and_then(|_| w.flush())
        }
    };
    match written {
        Ok(()) => status,
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => status,
        Err(e) => {
            let target = args
                .output
                .as_ref()
                .map_or("standard output".to_string(), |p| p.display().to_string());
            eprintln!("tcpstate: cannot write {target}: {e}");
            if status == EXIT_OK {
                EXIT_FAILURE
            } else {
                status
            }
        }
    }
}

/// Writes to a temporary file beside `path` and renames it into place, so a
/// failed run never leaves a half-written report that looks complete.
fn write_atomically(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut w = BufWriter::new(fs::File::create(&tmp)?);
        body(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()
    })();
    match result {
        Ok(()) => fs::rename(&tmp, path),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}
