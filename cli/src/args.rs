//! The command line as clap sees it, and its one turn into what the library
//! takes: [`AnalysisArgs::analyzer`] builds the [`Analyzer`], [`FilterArgs::filter`]
//! the connection filter. Nothing else reads the flags' raw form.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use tcpstate::report::check::parse_codes;
use tcpstate::report::filter::Filter;
use tcpstate::report::Format;
use tcpstate::{Analyzer, State};

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

    /// Verify checksums as Zeek does without -C: TCP segments with a bad
    /// checksum are counted, get Zeek's C history letter and are not fed to
    /// the state machines; packets with a bad IPv4 header checksum are not
    /// analysed (counted as undecodable). Off by default because capture
    /// hosts with checksum offload record bad checksums.
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
    #[arg(short, long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,

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
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Table => Format::Table,
            FormatArg::Csv => Format::Csv,
            FormatArg::Json => Format::Json,
            FormatArg::Zeek => Format::Zeek,
            FormatArg::ZeekJson => Format::ZeekJson,
        }
    }
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
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
