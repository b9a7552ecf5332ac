//! Command line: turns flags into calls to the library and an exit status.
//! Nothing here knows about packets.

use std::fs;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args as ClapArgs, Parser, Subcommand};
use rayon::prelude::*;

use crate::analysis::{
    analyze_merged, display_name, stream_merged, CaptureAnalysis, FlowLimits, Options, Progress,
};
use crate::anomaly::catalogue_text;
use crate::capture::{expand_inputs, Input};
use crate::check::{parse_codes, Policy};
use crate::decode::DecodeOptions;
use crate::filter::Filter;
use crate::flow::KeyOptions;
use crate::report::{write_report, Format, Part, Report, StreamingReport, Style, OUT_DIR_FILES};
use crate::show;
use crate::state_machine::{Config, State};

/// Exit status when every input was read to its end (and `check` passed).
pub const EXIT_OK: i32 = 0;
/// Exit status for `check` finding a policy violation, or a failure that is
/// not about the input (e.g. cannot write the report).
pub const EXIT_FAILURE: i32 = 1;
/// Exit status when an input could not be read, or not to its end.
pub const EXIT_BAD_INPUT: i32 = 2;

const EXAMPLES: &str = "\
Examples:
  tcpstate capture.pcap                   summary, then every TCP connection in a capture
  tcpstate --history capture.pcap         every state transition: frame, time, side, FROM -> TO
  tcpstate show 3 capture.pcap            connection 3's packet ladder beside both sides' states
  tcpstate check --fail-on refused,reset recorded/   CI gate: exit 1 when the policy is broken
  tcpstate captures/ 'ring_*.pcapng'      a directory (searched by content) and a glob
  tcpstate --merge ring_00*.pcap          rotated files as one capture
  tcpstate --out-dir report/ x.pcap       connections.csv, transitions.csv, anomalies.csv, summary.json
  tcpstate --format zeek x.pcap           Zeek's conn.log (zeek-json for its JSON form)
  tcpstate --anomaly close_wait_stuck --port 443 x.pcap
  tcpdump -i lo -w - | tcpstate -         read a live capture from stdin
  tcpstate --list-anomalies               the catalogue of anomaly codes

Stream numbers are Wireshark's tcp.stream: `tcp.stream eq N` in Wireshark shows
connection N. Frame numbers are Wireshark's frame.number.
Flags are Wireshark's letters: N(S) C(WR) E(CE) U(RG) A(CK) P(SH) R(ST) S(YN) F(IN).

Exit status: 0 when every input was read to its end, 2 when an input was
unreadable or truncated (what could be read is still reported), 1 when `check`
found a violation or on other errors.";

/// The version and the git commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("TCPSTATE_GIT_COMMIT"),
    ")"
);

/// Reconstruct what happened to every TCP connection in pcap and pcapng captures.
#[derive(Debug, Parser)]
#[command(
    name = "tcpstate",
    version = VERSION,
    about,
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    /// A job other than the default report.
    pub command: Option<Command>,

    #[command(flatten)]
    /// The default job's arguments.
    pub run: RunArgs,
}

/// The other jobs besides the default report.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// One connection's full story: the packet ladder with relative sequence
    /// numbers, both sides' states, anomalies, and its Wireshark filter.
    Show(ShowArgs),
    /// CI gate: exit 0 when the captures satisfy the policy, 1 when not, and
    /// print only the offending connections with their Wireshark filters.
    Check(CheckArgs),
    /// Write a self-contained HTML report (totals, state graph, timeline).
    Report(ReportArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output.
    Man,
}

/// Options of the analysis itself, shared by every job.
#[derive(Debug, ClapArgs)]
pub struct AnalysisArgs {
    /// Maximum segment lifetime in seconds; TIME_WAIT lasts twice this.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub msl: f64,

    /// Seconds in CLOSE_WAIT at capture end that count as close_wait_stuck.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub close_wait_threshold: f64,

    /// Seconds in FIN_WAIT_2 at capture end that count as fin_wait_2_stuck.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub fin_wait_2_threshold: f64,

    /// Treat the files as one consecutive capture (rotated files of `tcpdump
    /// -G` or a dumpcap ring buffer): frames and connections continue across files.
    #[arg(long)]
    pub merge: bool,

    /// Tell connections apart by their VLAN tags too (as Zeek's vlan-aware ids do).
    #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::On)]
    pub vlan_key: OnOff,

    /// Tell connections apart by their tunnel path too (outer addresses, VNI or
    /// GRE key), so two tenants' identical inner 4-tuples stay two connections.
    #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::On)]
    pub tunnel_key: OnOff,

    /// Verify TCP checksums: bad segments are counted, get Zeek's C history
    /// letter and are not fed to the state machines. Off by default because
    /// capture hosts with checksum offload record bad checksums.
    #[arg(long)]
    pub verify_checksums: bool,

    /// Seconds of capture time without a packet after which a connection is
    /// finished, reported and freed (a later packet of its endpoints starts
    /// a new connection). Closed connections are freed 2*MSL after their
    /// last packet.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    pub idle_timeout: f64,

    /// Live connections kept in memory at most (about 1.5 kB each); past
    /// it, closed connections and then the longest idle are finished early.
    /// The summary counts these evictions.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_connections: usize,
}

/// A switch given as `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

impl OnOff {
    fn on(self) -> bool {
        self == OnOff::On
    }
}

/// Which connections to show.
#[derive(Debug, ClapArgs)]
pub struct FilterArgs {
    /// Only connections with this address at either end (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub host: Vec<IpAddr>,
    /// Only connections with this port at either end (repeatable).
    #[arg(long)]
    pub port: Vec<u16>,
    /// Only this Wireshark stream (repeatable).
    #[arg(long)]
    pub stream: Vec<u64>,
    /// Only connections with this anomaly code (repeatable, or comma-separated).
    #[arg(long, value_name = "CODE")]
    pub anomaly: Vec<String>,
    /// Only connections where either side ended in this state (e.g. CLOSE_WAIT).
    #[arg(long)]
    pub state: Vec<String>,
}

/// The default job: analyse and report.
#[derive(Debug, ClapArgs)]
pub struct RunArgs {
    /// Capture files, directories (searched recursively for captures, by
    /// content) or glob patterns; pcap or pcapng, optionally gzip-compressed;
    /// `-` reads standard input.
    #[arg(required_unless_present = "list_anomalies", value_name = "FILE")]
    pub files: Vec<String>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Write connections.csv, transitions.csv, anomalies.csv and summary.json
    /// into this directory (created if needed) instead of the report.
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub out_dir: Option<PathBuf>,

    /// Print each connection's state history (frame, time, side, FROM -> TO,
    /// cause) instead of the connection table. JSON always includes it.
    #[arg(long)]
    pub history: bool,

    /// Print the catalogue of anomaly codes with severity and meaning, then exit.
    #[arg(long)]
    pub list_anomalies: bool,

    #[command(flatten)]
    /// Options of the analysis.
    pub analysis: AnalysisArgs,

    #[command(flatten)]
    /// Which connections to show.
    pub filter: FilterArgs,
}

#[derive(Debug, ClapArgs)]
/// Arguments of `tcpstate show`.
pub struct ShowArgs {
    /// The connection, as Wireshark's tcp.stream index.
    pub stream: u64,
    /// The capture (`-` for stdin).
    #[arg(value_name = "FILE")]
    pub file: String,
    #[command(flatten)]
    /// Options of the analysis.
    pub analysis: AnalysisArgs,
}

#[derive(Debug, ClapArgs)]
/// Arguments of `tcpstate check`.
pub struct CheckArgs {
    /// Captures, directories or globs, as for the default job.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Fail when a connection shows any of these anomaly codes (comma-separated,
    /// repeatable). Without any rule, check fails on every error-severity code.
    #[arg(long, value_name = "CODE[,CODE...]")]
    pub fail_on: Vec<String>,
    /// Fail when more than N anomalies of warning or error severity occur in total.
    #[arg(long, value_name = "N")]
    pub max_anomalies: Option<u64>,
    /// Fail when a connection does not end with both sides' FINs.
    #[arg(long)]
    pub require_closed: bool,
    /// Ignore these anomaly codes in every rule (comma-separated, repeatable).
    #[arg(long, value_name = "CODE")]
    pub allow: Vec<String>,
    /// Read the policy from a TOML file (fail_on, max_anomalies,
    /// require_closed, allow); flags add to it.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    /// Options of the analysis.
    pub analysis: AnalysisArgs,
}

#[derive(Debug, ClapArgs)]
/// Arguments of `tcpstate report`.
pub struct ReportArgs {
    /// The HTML file to write.
    #[arg(long, value_name = "FILE.html")]
    pub html: PathBuf,
    /// Captures, directories or globs.
    #[arg(required = true, value_name = "CAPTURE")]
    pub files: Vec<String>,
    #[command(flatten)]
    /// Options of the analysis.
    pub analysis: AnalysisArgs,
}

fn nanos(seconds: f64) -> i64 {
    (seconds.max(0.0) * 1e9) as i64
}

impl AnalysisArgs {
    fn options(&self) -> Options {
        Options {
            machines: Config {
                msl_ns: nanos(self.msl),
                close_wait_threshold_ns: nanos(self.close_wait_threshold),
                fin_wait_2_threshold_ns: nanos(self.fin_wait_2_threshold),
            },
            keys: KeyOptions {
                vlan: self.vlan_key.on(),
                tunnel: self.tunnel_key.on(),
            },
            decode: DecodeOptions {
                verify_checksums: self.verify_checksums,
            },
            flows: FlowLimits {
                idle_timeout_ns: nanos(self.idle_timeout),
                max_connections: self.max_connections.max(1),
            },
            ..Options::default()
        }
    }
}

impl FilterArgs {
    fn filter(&self) -> Result<Filter, String> {
        let states = self
            .state
            .iter()
            .flat_map(|s| s.split(','))
            .map(|s| State::from_name(s).ok_or_else(|| format!("unknown state {s:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter {
            hosts: self.host.clone(),
            ports: self.port.clone(),
            streams: self.stream.clone(),
            anomalies: parse_codes(self.anomaly.iter().map(String::as_str))?
                .into_iter()
                .collect(),
            states,
        })
    }
}

/// Runs the tool; returns the process exit status.
pub fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Some(Command::Show(a)) => run_show(a),
        Some(Command::Check(a)) => run_check(a),
        Some(Command::Report(a)) => run_html(a),
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "tcpstate", &mut io::stdout());
            Ok(EXIT_OK)
        }
        Some(Command::Man) => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd)
                .render(&mut io::stdout())
                .map(|_| EXIT_OK)
                .map_err(|e| format!("cannot write the man page: {e}"))
        }
        None => run_report(cli.run),
    };
    result.unwrap_or_else(|e| {
        eprintln!("tcpstate: {e}");
        EXIT_BAD_INPUT
    })
}

/// A progress bar on stderr over the input files' sizes, only for a terminal.
fn progress_for(inputs: &[Input]) -> Option<(indicatif::ProgressBar, Progress)> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = inputs
        .iter()
        .filter_map(|i| match i {
            Input::Path(p) => fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
        })
        .sum();
    // Small inputs finish before a bar would be readable.
    if total < 32 << 20 {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} eta {eta}",
    ) {
        bar.set_style(style);
    }
    let b = bar.clone();
    let update: Progress = Arc::new(move |bytes, frames| {
        b.inc(bytes);
        b.set_message(format!("{frames} frames"));
    });
    Some((bar, update))
}

/// Expands the arguments and analyses the inputs, in parallel or merged.
fn analyse(files: &[String], args: &AnalysisArgs) -> Result<Vec<CaptureAnalysis>, String> {
    let inputs = expand_inputs(files)?;
    if inputs.iter().filter(|i| **i == Input::Stdin).count() > 1 {
        return Err("standard input (-) can be read only once".into());
    }
    let mut options = args.options();
    let bar = progress_for(&inputs);
    options.progress = bar.as_ref().map(|b| b.1.clone());
    let analyses = if args.merge {
        vec![analyze_merged(&inputs, &options, &mut |_, _, _| {})]
    } else {
        inputs
            .par_iter()
            .map(|i| analyze_merged(std::slice::from_ref(i), &options, &mut |_, _, _| {}))
            .collect()
    };
    if let Some((bar, _)) = bar {
        bar.finish_and_clear();
    }
    Ok(analyses)
}

/// Prints read errors; the exit status they call for.
fn report_errors(analyses: &[CaptureAnalysis]) -> i32 {
    let mut status = EXIT_OK;
    for a in analyses {
        for e in &a.errors {
            eprintln!("tcpstate: {e}");
            status = EXIT_BAD_INPUT;
        }
    }
    status
}

fn run_report(args: RunArgs) -> Result<i32, String> {
    if args.list_anomalies {
        print!("{}", catalogue_text());
        return Ok(EXIT_OK);
    }
    let filter = args.filter.filter()?;
    if args.out_dir.is_some() || Part::streamable(args.format) {
        return run_streaming_report(&args, &filter);
    }
    let mut analyses = analyse(&args.files, &args.analysis)?;
    let mut status = report_errors(&analyses);
    note_undecodable(&analyses, args.format);
    if !filter.is_empty() {
        let before: usize = analyses.iter().map(|a| a.connections.len()).sum();
        for a in &mut analyses {
            a.connections.retain(|c| filter.matches(c));
        }
        let after: usize = analyses.iter().map(|a| a.connections.len()).sum();
        eprintln!("tcpstate: {after} of {before} connections match the filters");
    }
    let report = if args.history {
        Report::History
    } else {
        Report::Connections
    };
    let stdout_tty = io::stdout().is_terminal() && args.output.is_none();
    let style = Style {
        color: stdout_tty && std::env::var_os("NO_COLOR").is_none(),
        width: if stdout_tty {
            terminal_size::terminal_size().map(|(w, _)| w.0 as usize)
        } else {
            None
        },
    };
    let written = if let Some(path) = &args.output {
        write_atomically(path, |w| {
            write_report(w, args.format, report, style, &analyses)
        })
    } else {
        let stdout = io::stdout();
        let mut w = BufWriter::new(stdout.lock());
        write_report(&mut w, args.format, report, style, &analyses).and_then(|_| w.flush())
    };
    if let Err(e) = written {
        report_write_error(&args, e, &mut status);
    }
    Ok(status)
}

/// A failed write: a closed pipe (`| head`) is the reader's choice, anything
/// else is reported and fails the run.
fn report_write_error(args: &RunArgs, e: io::Error, status: &mut i32) {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return;
    }
    let target = args
        .out_dir
        .as_ref()
        .or(args.output.as_ref())
        .map_or("standard output".to_string(), |p| p.display().to_string());
    eprintln!("tcpstate: cannot write {target}: {e}");
    if *status == EXIT_OK {
        *status = EXIT_FAILURE;
    }
}

/// Machine-readable output keeps stdout clean, so people watching stderr
/// still learn of undecodable frames (the table shows them itself).
fn note_undecodable(analyses: &[CaptureAnalysis], format: Format) {
    for a in analyses {
        if format != Format::Table && a.accounting.undecodable > 0 {
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
}

/// CSV, JSON lines, Zeek JSON and `--out-dir` are written connection by
/// connection as the analysis finishes them, so memory follows the live
/// connections, not the capture's size. Inputs are analysed one after the
/// other (each on all threads).
fn run_streaming_report(args: &RunArgs, filter: &Filter) -> Result<i32, String> {
    let inputs = expand_inputs(&args.files)?;
    if inputs.iter().filter(|i| **i == Input::Stdin).count() > 1 {
        return Err("standard input (-) can be read only once".into());
    }
    let groups: Vec<Vec<Input>> = if args.analysis.merge {
        vec![inputs.clone()]
    } else {
        inputs.iter().map(|i| vec![i.clone()]).collect()
    };
    let report = if args.history {
        Report::History
    } else {
        Report::Connections
    };
    let mut files: Vec<(Part, AtomicFile)> = Vec::new();
    let opened = if let Some(dir) = &args.out_dir {
        fs::create_dir_all(dir).and_then(|_| {
            for (name, part) in OUT_DIR_FILES {
                files.push((part, AtomicFile::create(&dir.join(name))?));
            }
            Ok(())
        })
    } else if let Some(path) = &args.output {
        AtomicFile::create(path).map(|f| files.push((Part::of(args.format, report), f)))
    } else {
        Ok(())
    };
    let mut status = EXIT_OK;
    if let Err(e) = opened {
        report_write_error(args, e, &mut status);
        files.into_iter().for_each(|(_, f)| f.discard());
        return Ok(status);
    }
    let stdout = io::stdout();
    let mut stdout = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut out = StreamingReport::new();
    if files.is_empty() {
        out.add(Part::of(args.format, report), &mut stdout);
    }
    for (part, f) in &mut files {
        out.add(*part, &mut f.w);
    }
    let mut options = args.analysis.options();
    let bar = progress_for(&inputs);
    options.progress = bar.as_ref().map(|b| b.1.clone());
    let mut analyses = Vec::new();
    let mut failed: Option<io::Error> = None;
    let (mut seen, mut matched) = (0u64, 0u64);
    for (i, group) in groups.iter().enumerate() {
        out.file(i);
        let name = display_name(group);
        let a = stream_merged(group, &options, &mut |mut batch| {
            seen += batch.len() as u64;
            if failed.is_some() {
                return;
            }
            batch.retain(|c| filter.matches(c));
            matched += batch.len() as u64;
            if let Err(e) = out.connections(i, &name, &batch) {
                failed = Some(e);
            }
        });
        analyses.push(a);
    }
    if let Some((bar, _)) = bar {
        bar.finish_and_clear();
    }
    let finished = match failed {
        Some(e) => {
            drop(out);
            Err(e)
        }
        None => out.finish(&analyses),
    };
    status = report_errors(&analyses);
    note_undecodable(&analyses, args.format);
    if !filter.is_empty() {
        eprintln!("tcpstate: {matched} of {seen} connections match the filters");
    }
    let committed = finished.and_then(|_| {
        let mut result = Ok(());
        for (_, f) in files.drain(..) {
            if result.is_ok() {
                result = f.commit();
            } else {
                f.discard();
            }
        }
        result
    });
    let committed = committed.and_then(|_| stdout.flush());
    if let Err(e) = committed {
        files.into_iter().for_each(|(_, f)| f.discard());
        report_write_error(args, e, &mut status);
    }
    Ok(status)
}

fn run_show(args: ShowArgs) -> Result<i32, String> {
    let input = Input::from_arg(&args.file);
    let story = show::collect(&input, args.stream, &args.analysis.options());
    let status = report_errors(std::slice::from_ref(&story.analysis));
    let stdout = io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    match show::write_story(&mut w, &story).and_then(|_| w.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(format!("cannot write: {e}")),
        _ if show::find(&story.analysis, story.stream).is_none() && status == EXIT_OK => {
            Ok(EXIT_FAILURE)
        }
        _ => Ok(status),
    }
}

fn run_check(args: CheckArgs) -> Result<i32, String> {
    let mut policy = match &args.policy {
        Some(p) => Policy::from_file(p)?,
        None => Policy::default(),
    };
    policy.merge(Policy {
        fail_on: parse_codes(args.fail_on.iter().map(String::as_str))?,
        max_anomalies: args.max_anomalies,
        require_closed: args.require_closed,
        allow: parse_codes(args.allow.iter().map(String::as_str))?,
    });
    let policy = policy.or_default();
    let analyses = analyse(&args.files, &args.analysis)?;
    let read_status = report_errors(&analyses);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut offending = 0;
    for a in &analyses {
        for c in &a.connections {
            let why = policy.connection_failures(c);
            if why.is_empty() {
                continue;
            }
            offending += 1;
            let (filter, _) = show::display_filters(c);
            let _ = writeln!(
                out,
                "{} stream {}: {} -> {} ({}): {}",
                a.file,
                c.flow.stream,
                c.flow.client(),
                c.flow.server(),
                c.tcp.outcome(),
                filter
            );
            for w in why {
                let _ = writeln!(out, "  {w}");
            }
        }
    }
    let counted = policy.counted_anomalies(&analyses);
    let too_many = policy.max_anomalies.is_some_and(|max| counted > max);
    if too_many {
        let _ = writeln!(
            out,
            "{counted} anomalies of warning or error severity, more than the {} allowed",
            policy.max_anomalies.unwrap_or(0)
        );
    }
    let connections: usize = analyses.iter().map(|a| a.connections.len()).sum();
    let passed = offending == 0 && !too_many;
    let _ = writeln!(
        out,
        "check {}: {offending} of {connections} connections break the policy, {counted} anomalies counted",
        if passed { "passed" } else { "failed" }
    );
    let _ = out.flush();
    Ok(if read_status != EXIT_OK {
        read_status
    } else if passed {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}

fn run_html(args: ReportArgs) -> Result<i32, String> {
    let analyses = analyse(&args.files, &args.analysis)?;
    let status = report_errors(&analyses);
    write_atomically(&args.html, |w| crate::html::write_html(w, &analyses))
        .map_err(|e| format!("{}: {e}", args.html.display()))?;
    Ok(status)
}

/// A file written under a temporary name beside its path and renamed into
/// place by [`AtomicFile::commit`], so a failed or interrupted run never
/// leaves a half-written report that looks complete.
struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    w: BufWriter<fs::File>,
}

impl AtomicFile {
    fn create(path: &Path) -> io::Result<AtomicFile> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let w = BufWriter::with_capacity(1 << 20, fs::File::create(&tmp)?);
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            w,
        })
    }

    /// Flushes, syncs and renames into place; on failure the temporary goes.
    fn commit(mut self) -> io::Result<()> {
        let done = self
            .w
            .flush()
            .and_then(|_| self.w.get_ref().sync_all())
            .and_then(|_| fs::rename(&self.tmp, &self.path));
        if done.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        done
    }

    /// Removes the temporary file.
    fn discard(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Writes `path` through `body` atomically (see [`AtomicFile`]).
fn write_atomically(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    match body(&mut f.w) {
        Ok(()) => f.commit(),
        Err(e) => {
            f.discard();
            Err(e)
        }
    }
}
