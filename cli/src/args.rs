//! The command line as clap sees it, and its one turn into what the library
//! takes: [`AnalysisArgs::analyzer`] builds the [`Analyzer`], [`FilterArgs::filter`]
//! the connection filter. Nothing else reads the flags' raw form.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use tcpstate::report::check::parse_codes;
use tcpstate::report::filter::{Filter, Prefix};
use tcpstate::report::rollup::{GroupKey, DEFAULT_MAX_GROUPS};
use tcpstate::report::{Column, Format};
use tcpstate::{Analyzer, Outcome, State};

/// Exit status when every input was read to its end (and `check` passed).
pub const EXIT_OK: i32 = 0;
/// Exit status for `check` finding a policy violation, or a failure that is
/// not about the input (e.g. cannot write the report).
pub const EXIT_FAILURE: i32 = 1;
/// Exit status when an input could not be read, or not to its end, and for
/// a bad command line.
pub const EXIT_BAD_INPUT: i32 = 2;

const EXAMPLES: &str = "\
Examples:
  tcpstate capture.pcap                   summary, then every TCP connection in a capture
  tcpstate --history capture.pcap         every state transition: frame, time, side, FROM -> TO
  tcpstate show 3 capture.pcap            connection 3's packet ladder beside both sides' states
  tcpstate check --fail-on refused,reset recorded/   CI gate: exit 1 when the policy is broken
  tcpstate check --junit junit.xml tcpstate.toml recorded/   the same with a policy file, JUnit XML for CI
  tcpstate captures/ 'ring_*.pcapng'      a directory (searched by content) and a glob
  tcpstate --merge ring_00*.pcap          rotated files as one capture
  tcpstate --out-dir report/ x.pcap       connections.csv, transitions.csv, anomalies.csv, summary.json
  tcpstate --format zeek x.pcap           Zeek's conn.log (zeek-json for its JSON form)
  tcpstate --anomaly close_wait_stuck --port 443 x.pcap
  tcpstate --host 10.0.0.0/8 --server-port 443 --outcome reset_by_server x.pcap
  tcpdump -i lo -w - | tcpstate -         read a live capture from stdin
  tcpstate --list-anomalies               the catalogue of anomaly codes
  tcpstate diff client.pcap server.pcap   two vantage points: lost, delayed, changed between them

Stream numbers are Wireshark's tcp.stream: `tcp.stream eq N` in Wireshark shows
connection N. Frame numbers are Wireshark's frame.number.
Flags are Wireshark's letters: N(S) C(WR) E(CE) U(RG) A(CK) P(SH) R(ST) S(YN) F(IN).

Exit status: 0 when every input was read to its end, 2 when an input was
unreadable or truncated (what could be read is still reported) or the command
line is wrong, 1 when `check` found a violation or a report could not be written.";

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
    /// Write the frames of the selected connections (by the filters of the
    /// default job) as pcapng, with their interfaces, link types and
    /// timestamps; --annotate adds a comment on every frame that moved a
    /// state or raised an anomaly, for `wireshark -Y frame.comment`.
    Extract(ExtractArgs),
    /// CI gate: exit 0 when the captures satisfy the policy, 1 when not, 2
    /// when a capture cannot be read; print the offending connections with
    /// their Wireshark filters (or JSON, or JUnit XML).
    Check(CheckArgs),
    /// Write a self-contained HTML report (totals, state graph, timeline).
    Report(ReportArgs),
    /// Compare two captures of the same traffic (two vantage points): match
    /// connections (also through NAT and ISN rewriting), estimate the clock
    /// offset and drift, and list per connection the segments lost or
    /// created between the points, one-way delays, reordering, what a
    /// middlebox changed, and whether the state histories agree.
    Diff(DiffArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of tcpstate or of one of its subcommands,
    /// or write them all into a directory.
    Man(ManArgs),
}

/// Arguments of `tcpstate man`.
#[derive(Debug, ClapArgs)]
pub struct ManArgs {
    /// The subcommand whose page to print (tcpstate-SUBCOMMAND(1)); without
    /// it, tcpstate(1).
    #[arg(value_name = "SUBCOMMAND", conflicts_with = "dir")]
    pub subcommand: Option<String>,
    /// Write every page (tcpstate.1, tcpstate-show.1, tcpstate-check.1 ...)
    /// into this directory instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Options of the analysis itself, shared by every job.
#[derive(Debug, ClapArgs)]
pub struct AnalysisArgs {
    /// Maximum segment lifetime in seconds; TIME_WAIT lasts twice this.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = seconds_arg, allow_negative_numbers = true)]
    pub msl: f64,

    /// Seconds in CLOSE_WAIT at capture end that count as close_wait_stuck.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = seconds_arg, allow_negative_numbers = true)]
    pub close_wait_threshold: f64,

    /// Seconds in FIN_WAIT_2 at capture end that count as fin_wait_2_stuck.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = seconds_arg, allow_negative_numbers = true)]
    pub fin_wait_2_threshold: f64,

    /// Treat the files as one consecutive capture (rotated files of `tcpdump
    /// -C`/`-G` or a dumpcap ring buffer), read in the order of their first
    /// packets whatever their names: frames and connections continue across
    /// files; files that overlap in time or leave a gap are warned about.
    #[arg(long)]
    pub merge: bool,

    /// Tell connections apart by their VLAN tags too (as Zeek's vlan-aware ids do).
    #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::On)]
    pub vlan_key: OnOff,

    /// Tell connections apart by their tunnel path too (outer addresses, VNI or
    /// GRE key), so two tenants' identical inner 4-tuples stay two connections;
    /// paired direction by direction, so one connection's uplink and downlink
    /// may travel in different tunnels.
    #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::On)]
    pub tunnel_key: OnOff,

    /// Verify checksums as Zeek does without -C: TCP segments with a bad
    /// checksum are counted, get Zeek's C history letter and are not fed to
    /// the state machines; packets with a bad IPv4 header checksum are not
    /// analysed (counted as undecodable). Off by default because capture
    /// hosts with checksum offload record bad checksums (a warning names the
    /// host when the bad ones look like offload).
    #[arg(long)]
    pub verify_checksums: bool,

    /// Seconds of capture time without a packet after which a connection is
    /// finished, reported and freed (a later packet of its endpoints starts
    /// a new connection). Closed connections are freed 2*MSL after their
    /// last packet.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0, value_parser = seconds_arg, allow_negative_numbers = true)]
    pub idle_timeout: f64,

    /// Live connections kept in memory at most (about 1.5 kB each); past
    /// it, closed connections and then the longest idle are finished early.
    /// The summary counts these evictions.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = at_least_one)]
    pub max_connections: usize,

    /// Zeek's tcp_attempt_delay, for the Zeek outputs: seconds after an
    /// unanswered SYN at which Zeek removes the connection (a later packet
    /// starts a new conn.log record); 0 turns it off.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub zeek_attempt_delay: f64,

    /// Zeek's tcp_close_delay: seconds a closed connection still takes
    /// packets before the next one starts a new conn.log record.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub zeek_close_delay: f64,

    /// Zeek's tcp_inactivity_timeout: seconds without a packet after which
    /// Zeek removes a connection; 0 turns it off.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    pub zeek_inactivity_timeout: f64,

    /// Zeek's Tunnel::max_changes_per_connection: tunnel changes counted
    /// before the next one marks the history with X; 0 for no limit.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub zeek_max_tunnel_changes: u32,

    /// Seed of the Community IDs (community_id in JSON, CSV and conn.log):
    /// 0, the default of the specification and of Zeek, Suricata and
    /// Wireshark; IDs match another tool's only under the same seed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub community_id_seed: u16,
}

/// A switch given as `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

impl OnOff {
    pub fn on(self) -> bool {
        self == OnOff::On
    }
}

/// Which connections to show.
#[derive(Debug, ClapArgs)]
pub struct FilterArgs {
    /// Only connections with an address in this prefix at either end: an
    /// address or a CIDR prefix such as 10.0.0.0/8 (repeatable).
    #[arg(long, value_name = "ADDR[/LEN]")]
    pub host: Vec<Prefix>,
    /// Only connections with this port at either end (repeatable).
    #[arg(long)]
    pub port: Vec<u16>,
    /// Only connections whose client uses this port (repeatable).
    #[arg(long, value_name = "PORT")]
    pub client_port: Vec<u16>,
    /// Only connections whose server uses this port (repeatable).
    #[arg(long, value_name = "PORT")]
    pub server_port: Vec<u16>,
    /// Only this Wireshark stream (repeatable).
    #[arg(long)]
    pub stream: Vec<u64>,
    /// Only connections with this anomaly code (repeatable, or comma-separated).
    #[arg(long, value_name = "CODE")]
    pub anomaly: Vec<String>,
    /// Only connections where either side ended in this state (e.g. CLOSE_WAIT).
    #[arg(long)]
    pub state: Vec<String>,
    /// Only connections with this outcome: closed, half_closed,
    /// reset_by_client, reset_by_server, refused, syn_unanswered, half_open,
    /// handshake_reset, open, no_connection (repeatable, or comma-separated).
    #[arg(long, value_name = "OUTCOME")]
    pub outcome: Vec<String>,
}

/// The default job: analyse and report.
#[derive(Debug, ClapArgs)]
pub struct RunArgs {
    /// Capture files, directories or glob patterns; pcap or pcapng,
    /// optionally gzip-compressed; `-` reads standard input. A directory is
    /// searched recursively for recordings: files starting like a capture or
    /// named like one (.pcap, .pcapng, .cap, tcpdump -C's .pcapN, .gz), and
    /// empty or unreadable files, which fail with their error.
    #[arg(required_unless_present = "list_anomalies", value_name = "FILE")]
    pub files: Vec<String>,

    /// Output format [default: table].
    #[arg(short, long, value_enum)]
    pub format: Option<FormatArg>,

    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Write connections.csv, transitions.csv, anomalies.csv and summary.json
    /// into this directory (created if needed) instead of the report; takes
    /// no --format. With --out-format parquet, one file per table per
    /// capture instead: DIR/connections/CAPTURE.parquet,
    /// DIR/transitions/CAPTURE.parquet, DIR/anomalies/CAPTURE.parquet and
    /// DIR/summary/CAPTURE.json.
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub out_dir: Option<PathBuf>,

    /// The files --out-dir writes: csv (one set for all inputs) or parquet
    /// (one file per table per capture, for a folder that accumulates runs).
    #[arg(long, value_enum, value_name = "FORMAT", requires = "out_dir")]
    pub out_format: Option<OutFormat>,

    /// Roll connections up per group instead of listing them: server or
    /// client address, server port, or client network (client-net/24,
    /// client-net/64 for IPv6); comma-separated keys combine (server,server-port
    /// is one group per service). Per group: connections, outcomes,
    /// anomalies, retransmission rates, handshake and ACK RTT percentiles,
    /// time in CLOSE_WAIT and TIME_WAIT, top offenders. Written as a table,
    /// or with --format csv, json or parquet.
    #[arg(long, value_name = "KEY[,KEY]", value_delimiter = ',', value_parser = parse_group_key)]
    pub group_by: Option<Vec<GroupKey>>,

    /// With --group-by: at most N groups; connections of further groups are
    /// counted in one group named `other`, so memory stays bounded.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_GROUPS, value_parser = at_least_one)]
    pub max_groups: usize,

    /// Print each connection's state history (frame, time, side, FROM -> TO,
    /// cause) instead of the connection table; with CSV, transitions.csv.
    /// JSON and --out-dir always include it; Zeek's formats cannot carry it.
    #[arg(long)]
    pub history: bool,

    /// Print the catalogue of anomaly codes with severity and meaning, then exit.
    #[arg(long, exclusive = true)]
    pub list_anomalies: bool,

    #[command(flatten)]
    /// Options of the analysis.
    pub analysis: AnalysisArgs,

    #[command(flatten)]
    /// Which connections to show.
    pub filter: FilterArgs,

    #[command(flatten)]
    /// How the table fits a terminal.
    pub table: TableArgs,
}

/// How the connection table fits a terminal.
#[derive(Debug, ClapArgs)]
pub struct TableArgs {
    /// The table's columns, in this order (comma-separated): stream, client,
    /// server, first, last, start, duration, packets, bytes, flags,
    /// client_state, server_state, outcome, conn_state, history, retx, irtt,
    /// path, anomalies. One line per connection, nothing left out or cut.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_column)]
    pub columns: Option<Vec<Column>>,

    /// Every column, lines as long as they get, even on a terminal: the
    /// table exactly as a pipe or a file gets it (e.g. for `less -S`).
    #[arg(long, conflicts_with_all = ["columns", "width"])]
    pub wide: bool,

    /// Lay the table out for a terminal N characters wide, wherever it goes
    /// (default: the terminal's width; a pipe or a file gets every column).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(20..))]
    pub width: Option<u16>,
}

fn parse_column(name: &str) -> Result<Column, String> {
    Column::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
        format!(
            "unknown column {name:?}; the columns are {}",
            names.join(", ")
        )
    })
}

impl TableArgs {
    /// The options shape the table (and, but for `--columns`, the
    /// history) only: an error naming the option given for another output.
    pub fn check_applies(
        &self,
        format: FormatArg,
        history: bool,
        out_dir: bool,
    ) -> Result<(), String> {
        let given = if self.columns.is_some() {
            "--columns"
        } else if self.wide {
            "--wide"
        } else if self.width.is_some() {
            "--width"
        } else {
            return Ok(());
        };
        if out_dir || format != FormatArg::Table {
            return Err(format!(
                "{given} shapes the table; it does not apply to --format {} or --out-dir",
                format.name()
            ));
        }
        if history && self.columns.is_some() {
            return Err("--columns picks table columns; --history has its own".into());
        }
        Ok(())
    }
}

#[derive(Debug, ClapArgs)]
/// Arguments of `tcpstate diff`.
pub struct DiffArgs {
    /// Capture A (the first vantage point): a file, or a directory or glob
    /// of rotated files read as one capture (as with --merge).
    #[arg(value_name = "A")]
    pub a: String,
    /// Capture B (the second vantage point), as A.
    #[arg(value_name = "B")]
    pub b: String,
    /// Output format: the table (summary first), JSON lines (one object per
    /// connection, then the summary) or CSV (one row per connection); see
    /// docs/REFERENCE.md.
    #[arg(short, long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
    /// Also write the comparison as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Seconds a segment waits for its copy in the other capture (after
    /// clock correction); later copies count as lost and created. Memory
    /// holds the segments of this much time.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, value_parser = seconds_arg)]
    pub window: f64,
    /// B's clock minus A's in seconds, when the captures are too far apart
    /// in time to find it (it is refined from the traffic either way).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub offset: Option<f64>,
    #[command(flatten)]
    /// Options of the analysis (of each capture).
    pub analysis: AnalysisArgs,
}

/// `diff --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// The summary, then one line per connection, for people.
    Table,
    /// JSON lines.
    Json,
    /// CSV.
    Csv,
}

#[derive(Debug, ClapArgs)]
/// Arguments of `tcpstate show`.
pub struct ShowArgs {
    /// The connection, as Wireshark's tcp.stream index.
    pub stream: u64,
    /// Captures, directories or globs, as for the default job (`-` for
    /// stdin): the stream of each, or of all as one capture with `--merge`.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Output format: the ladder as text, or one JSON object per capture
    /// that has the stream (docs/REFERENCE.md).
    #[arg(short, long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
    #[command(flatten)]
    /// Options of the analysis.
    pub analysis: AnalysisArgs,
}

#[derive(Debug, ClapArgs)]
/// Arguments of `tcpstate extract`.
pub struct ExtractArgs {
    /// The capture (pcap or pcapng, optionally gzip-compressed). It is read
    /// twice, so it must be a file: standard input is refused.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the pcapng file (atomically); `-` for standard output.
    #[arg(short = 'w', long = "write", value_name = "OUT.pcapng")]
    pub output: PathBuf,
    /// Add a pcapng comment (Wireshark's frame.comment) to every frame that
    /// moved a state or raised an anomaly: "client FIN_WAIT_1 -> FIN_WAIT_2;
    /// server ESTABLISHED -> CLOSE_WAIT", "out_of_window_rst: ...".
    #[arg(long)]
    pub annotate: bool,
    #[command(flatten)]
    /// Which connections.
    pub filter: FilterArgs,
    #[command(flatten)]
    /// Options of the analysis.
    pub analysis: AnalysisArgs,
}

/// `show --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// The packet ladder and the anomalies, for people.
    Text,
    /// One JSON object per capture that has the stream.
    Json,
}

#[derive(Debug, ClapArgs)]
/// Arguments of `tcpstate check`.
pub struct CheckArgs {
    /// Captures, directories or globs, as for the default job; an argument
    /// ending in `.toml` is the policy file (as --policy).
    #[arg(required = true, value_name = "FILE|DIR|GLOB|POLICY.toml")]
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
    /// The report on standard output: text for people, or one JSON object.
    #[arg(short, long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Also write the result as JUnit XML to this file: a test suite per
    /// capture, a test case per rule.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    /// Options of the analysis.
    pub analysis: AnalysisArgs,
    #[command(flatten)]
    /// Which connections the policy applies to.
    pub filter: FilterArgs,
}

/// `check --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// The offending connections, then one summary line.
    Text,
    /// One JSON object (docs/REFERENCE.md, "JSON: check").
    Json,
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
    #[command(flatten)]
    /// Which connections the page shows.
    pub filter: FilterArgs,
}

/// `--out-format`: what `--out-dir` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    /// connections.csv, transitions.csv, anomalies.csv and summary.json.
    Csv,
    /// One Parquet file per table per capture, and its summary.
    Parquet,
}

fn parse_group_key(s: &str) -> Result<GroupKey, String> {
    GroupKey::from_name(s)
}

/// `--format`: the report formats, as the command line spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Aligned columns for a terminal, with the frame accounting after each file.
    Table,
    /// One row per connection with a header line.
    Csv,
    /// JSON lines: one object per connection, then one `{"summary": ...}` object.
    Json,
    /// Zeek's conn.log, TSV with its header lines.
    Zeek,
    /// Zeek's conn.log as JSON lines.
    ZeekJson,
    /// Parquet: the connections table to -o FILE, the transitions and
    /// anomalies tables beside it (FILE.transitions.parquet,
    /// FILE.anomalies.parquet, .parquet of FILE replaced).
    Parquet,
}

impl FormatArg {
    /// As `--format` spells it.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

impl FormatArg {
    /// The report format of the library's writers; `None` for Parquet,
    /// which has its own (three files, [`tcpstate::report::parquet`]).
    pub fn report_format(self) -> Option<Format> {
        match self {
            FormatArg::Table => Some(Format::Table),
            FormatArg::Csv => Some(Format::Csv),
            FormatArg::Json => Some(Format::Json),
            FormatArg::Zeek => Some(Format::Zeek),
            FormatArg::ZeekJson => Some(Format::ZeekJson),
            FormatArg::Parquet => None,
        }
    }
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

/// A duration flag: a finite number of seconds, not negative.
fn seconds_arg(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s:?}: seconds must be a finite number, 0 or more"));
    }
    Ok(v)
}

/// A count that must be at least 1.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?}: must be a whole number, at least 1")),
    }
}

impl AnalysisArgs {
    /// The analyzer these flags ask for.
    pub fn analyzer(&self) -> Analyzer {
        Analyzer::new()
            .msl(seconds(self.msl))
            .close_wait_threshold(seconds(self.close_wait_threshold))
            .fin_wait_2_threshold(seconds(self.fin_wait_2_threshold))
            .vlan_key(self.vlan_key.on())
            .tunnel_key(self.tunnel_key.on())
            .verify_checksums(self.verify_checksums)
            .idle_timeout(seconds(self.idle_timeout))
            .max_connections(self.max_connections)
            .zeek_attempt_delay(seconds(self.zeek_attempt_delay))
            .zeek_close_delay(seconds(self.zeek_close_delay))
            .zeek_inactivity_timeout(seconds(self.zeek_inactivity_timeout))
            .zeek_max_tunnel_changes(self.zeek_max_tunnel_changes)
            .community_id_seed(self.community_id_seed)
    }
}
impl FilterArgs {
    pub fn filter(&self) -> Result<Filter, String> {
        let states = self
            .state
            .iter()
            .flat_map(|s| s.split(','))
            .map(|s| State::from_name(s).ok_or_else(|| format!("unknown state {s:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        let outcomes = self
            .outcome
            .iter()
            .flat_map(|s| s.split(','))
            .map(|s| {
                Outcome::from_name(s).ok_or_else(|| {
                    let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.name()).collect();
                    format!("unknown outcome {s:?} (one of {})", known.join(", "))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter {
            hosts: self.host.clone(),
            ports: self.port.clone(),
            client_ports: self.client_port.clone(),
            server_ports: self.server_port.clone(),
            streams: self.stream.clone(),
            anomalies: parse_codes(self.anomaly.iter().map(String::as_str))?
                .into_iter()
                .collect(),
            states,
            outcomes,
        })
    }
}

impl RunArgs {
    /// The output format asked for (table when none); `None` for Parquet.
    pub fn format(&self) -> Option<Format> {
        self.format.unwrap_or(FormatArg::Table).report_format()
    }

    /// Rejects options that would be silently ignored together.
    pub fn check_combinations(&self) -> Result<(), String> {
        if let (Some(_), Some(f)) = (&self.out_dir, self.format) {
            return Err(format!(
                "--out-dir writes connections.csv, transitions.csv, anomalies.csv and \
                 summary.json, so --format {} has nothing to apply to; drop one (-o FILE \
                 writes a single report in any format)",
                f.to_possible_value()
                    .map_or_else(String::new, |v| v.get_name().to_string())
            ));
        }
        if self.group_by.is_some() {
            if self.out_dir.is_some() {
                return Err(
                    "--group-by writes one table of groups, not the --out-dir files: \
                            drop one (-o FILE writes the groups to a file)"
                        .into(),
                );
            }
            if self.history {
                return Err("--group-by rolls connections up; --history lists each \
                            connection's transitions: drop one"
                    .into());
            }
            if let Some(f @ (FormatArg::Zeek | FormatArg::ZeekJson)) = self.format {
                return Err(format!(
                    "--group-by writes a table, csv, json or parquet, not --format {}",
                    f.name()
                ));
            }
        }
        if self.format == Some(FormatArg::Parquet) && self.output.is_none() {
            return Err(
                "--format parquet writes files, not standard output: give -o FILE \
                        (or --out-dir DIR --out-format parquet)"
                    .into(),
            );
        }
        if self.history && matches!(self.format, Some(FormatArg::Zeek | FormatArg::ZeekJson)) {
            return Err(
                "--history cannot be combined with --format zeek or zeek-json: Zeek's \
                        conn.log has no state history (use --format csv, json or table)"
                    .into(),
            );
        }
        Ok(())
    }
}
