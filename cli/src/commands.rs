//! The jobs: the default report (streamed or collected), `show`, `check`
//! and `report --html`, each from parsed arguments to an exit status.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tcpstate::anomaly::catalogue_text;
use tcpstate::capture::{expand, in_time_order, Input};
use tcpstate::pipeline::display_name;
use tcpstate::pipeline::Progress;
use tcpstate::report::check::{is_policy_path, parse_codes, CheckReport, CheckTally, Policy};
use tcpstate::report::filter::Filter;
use tcpstate::report::parquet::Table;
use tcpstate::report::rollup::{self, GroupKey, Rollup};
use tcpstate::report::{extract, show};
use tcpstate::report::{Format, Part, Report, StreamingReport, TableReport, OUT_DIR_FILES};
use tcpstate::{Analysis, Analyzer};

use crate::args::{
    AnalysisArgs, CheckArgs, CheckFormat, Cli, Command, DiffArgs, DiffFormat, ExtractArgs,
    FormatArg, ManArgs, OutFormat, ReportArgs, RunArgs, ShowArgs, ShowFormat, EXIT_BAD_INPUT,
    EXIT_FAILURE, EXIT_OK,
};
use crate::output::{write_atomically, AtomicFile};
use crate::terminal::{progress_for, table_style};

/// Runs the tool; returns the process exit status.
pub fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Some(Command::Show(a)) => run_show(a),
        Some(Command::Extract(a)) => run_extract(a),
        Some(Command::Check(a)) => run_check(a),
        Some(Command::Report(a)) => run_html(a),
        Some(Command::Diff(a)) => run_diff(a),
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "tcpstate", &mut io::stdout());
            Ok(EXIT_OK)
        }
        Some(Command::Man(a)) => run_man(a),
        None => run_report(cli.run),
    };
    result.unwrap_or_else(|e| {
        eprintln!("tcpstate: {e}");
        EXIT_BAD_INPUT
    })
}

/// The inputs the arguments name: directories searched (their other files
/// noted on stderr), stdin at most once, and with `--merge` the files in the
/// order of their first packets.
fn inputs_of(files: &[String], merge: bool) -> Result<Vec<Input>, String> {
    let expansion = expand(files)?;
    if !expansion.skipped.is_empty() {
        const SHOWN: usize = 10;
        let names: Vec<String> = expansion
            .skipped
            .iter()
            .take(SHOWN)
            .map(|p| p.display().to_string())
            .collect();
        let more = expansion.skipped.len().saturating_sub(SHOWN);
        eprintln!(
            "tcpstate: note: {} not read, neither named nor starting like a capture (or hidden): {}{}",
            plural(expansion.skipped.len(), "file"),
            names.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        );
    }
    let inputs = expansion.inputs;
    let stdin = inputs.iter().filter(|i| **i == Input::Stdin).count();
    if stdin > 1 {
        return Err("standard input (-) can be read only once".into());
    }
    if merge && stdin > 0 && inputs.len() > 1 {
        return Err(
            "--merge orders files by their first packet, which standard input (-) \
                    cannot give before it is read: merge files only"
                .into(),
        );
    }
    Ok(if merge {
        in_time_order(&inputs)
    } else {
        inputs
    })
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Expands the arguments and analyses the inputs, in parallel or merged.
fn analyse(files: &[String], args: &AnalysisArgs) -> Result<Vec<Analysis>, String> {
    let inputs = inputs_of(files, args.merge)?;
    let bar = progress_for(&inputs);
    let analyzer = with_progress(args.analyzer(), &bar);
    let analyses = if args.merge {
        vec![analyzer.analyze_inputs(&inputs)]
    } else {
        inputs
            .par_iter()
            .map(|i| analyzer.analyze_inputs(std::slice::from_ref(i)))
            .collect()
    };
    if let Some((bar, _)) = bar {
        bar.finish_and_clear();
    }
    Ok(analyses)
}

/// The analyzer, telling the progress bar (if any) how far it got.
fn with_progress(analyzer: Analyzer, bar: &Option<(indicatif::ProgressBar, Progress)>) -> Analyzer {
    match bar {
        Some((_, progress)) => analyzer.progress(progress.clone()),
        None => analyzer,
    }
}

/// Prints read errors and warnings; the exit status the errors call for.
fn report_errors(analyses: &[Analysis]) -> i32 {
    let mut status = EXIT_OK;
    for a in analyses {
        for w in &a.warnings {
            eprintln!("tcpstate: warning: {w}");
        }
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
    args.check_combinations()?;
    let filter = args.filter.filter()?;
    args.table.check_applies(
        args.format.unwrap_or(FormatArg::Table),
        args.history,
        args.out_dir.is_some(),
    )?;
    if let Some(keys) = &args.group_by {
        return run_rollup(&args, keys, &filter);
    }
    if args.out_format == Some(OutFormat::Parquet) {
        return run_parquet_out_dir(&args, &filter);
    }
    run_streaming_report(&args, &filter)
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
/// still learn of undecodable frames (the connection table shows them itself).
fn note_undecodable(analyses: &[Analysis], table: bool) {
    for a in analyses {
        if !table && a.accounting.undecodable > 0 {
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
        if a.zeek_unattached_dropped > 0 {
            eprintln!(
                "tcpstate: {}: {} Zeek records made only of bad-checksum packets not \
                 written (past --max-connections)",
                a.file, a.zeek_unattached_dropped
            );
        }
    }
}

/// Every report format is fed connection by connection as the analysis
/// finishes them: CSV, JSON lines, Zeek's conn.log and `--out-dir` are
/// written at once, the table and the histories keep a row or a block per
/// connection in a temporary file (and 16 bytes of index), so memory follows the live
/// connections, not the capture's size. Inputs are analysed one after the
/// other (each on all threads).
fn run_streaming_report(args: &RunArgs, filter: &Filter) -> Result<i32, String> {
    let inputs = inputs_of(&args.files, args.analysis.merge)?;
    let format = args.format();
    let groups = capture_groups(&inputs, args.analysis.merge);
    let report = if args.history {
        Report::History
    } else {
        Report::Connections
    };
    let mut files: Vec<(Part, AtomicFile)> = Vec::new();
    let mut tables: Vec<(Table, AtomicFile)> = Vec::new();
    let opened = if let (None, Some(path)) = (format, &args.output) {
        parquet_paths(path).into_iter().try_for_each(|(table, p)| {
            tables.push((table, AtomicFile::create(&p)?));
            Ok(())
        })
    } else if let Some(dir) = &args.out_dir {
        fs::create_dir_all(dir).and_then(|_| {
            for (name, part) in OUT_DIR_FILES {
                files.push((part, AtomicFile::create(&dir.join(name))?));
            }
            Ok(())
        })
    } else if let (Some(format), Some(path)) = (format, &args.output) {
        AtomicFile::create(path).map(|f| files.push((Part::of(format, report), f)))
    } else {
        Ok(())
    };
    let stdout = io::stdout();
    let mut stdout = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut out = StreamingReport::new();
    let mut table = None;
    let opened = if format == Some(Format::Table) && args.out_dir.is_none() {
        opened.map(|_| {
            let style = table_style(&args.table, args.output.is_none());
            table = Some(match files.first_mut() {
                Some((_, f)) => TableReport::new(report, style, &mut f.w),
                None => TableReport::new(report, style, &mut stdout),
            });
        })
    } else {
        opened.and_then(|_| {
            if let (Some(format), true) = (format, files.is_empty()) {
                out.add(Part::of(format, report), &mut stdout);
            }
            for (part, f) in &mut files {
                out.add(*part, &mut f.w);
            }
            for (table, f) in &mut tables {
                out.add_parquet(*table, &mut f.w)?;
            }
            Ok(())
        })
    };
    if let Err(e) = opened {
        drop(out);
        drop(table);
        files.into_iter().for_each(|(_, f)| f.discard());
        tables.into_iter().for_each(|(_, f)| f.discard());
        // The inputs are still read, so their errors are told too (and
        // their status wins).
        let analyzer = args.analysis.analyzer();
        let analyses: Vec<Analysis> = groups
            .iter()
            .map(|g| analyzer.stream_inputs(g, &mut |_| {}))
            .collect();
        let mut status = report_errors(&analyses);
        report_write_error(args, e, &mut status);
        return Ok(status);
    }
    let bar = progress_for(&inputs);
    let analyzer = with_progress(args.analysis.analyzer(), &bar);
    let mut analyses = Vec::new();
    let mut failed: Option<io::Error> = None;
    let (mut seen, mut matched) = (0u64, 0u64);
    for (i, group) in groups.iter().enumerate() {
        out.file(i);
        if let Some(t) = table.as_mut() {
            t.file(i);
        }
        let name = display_name(group);
        let a = analyzer.stream_inputs(group, &mut |mut batch| {
            seen += batch.connections.len() as u64;
            if failed.is_some() {
                return;
            }
            batch.connections.retain(|c| filter.matches(c));
            matched += batch.connections.len() as u64;
            let written = match table.as_mut() {
                Some(t) => t.connections(i, &batch.connections),
                None => {
                    out.started_at(batch.first_ts_ns);
                    out.connections(i, &name, &batch.connections)
                }
            };
            if let Err(e) = written {
                failed = Some(e);
            }
        });
        analyses.push(a);
    }
    if let Some((bar, _)) = bar {
        bar.finish_and_clear();
    }
    let finished = match (failed, table) {
        (Some(e), _) => {
            drop(out);
            Err(e)
        }
        (None, Some(t)) => {
            drop(out);
            t.finish(&analyses)
        }
        (None, None) => out.finish(&analyses),
    };
    let mut status = report_errors(&analyses);
    note_undecodable(&analyses, format == Some(Format::Table));
    if !filter.is_empty() {
        eprintln!("tcpstate: {matched} of {seen} connections match the filters");
    }
    let all: Vec<AtomicFile> = files
        .into_iter()
        .map(|(_, f)| f)
        .chain(tables.into_iter().map(|(_, f)| f))
        .collect();
    let committed = commit_or_discard(finished, all).and_then(|_| stdout.flush());
    if let Err(e) = committed {
        report_write_error(args, e, &mut status);
    }
    Ok(status)
}

/// After a report that was written (`Ok`), commits its files; after one that
/// failed, discards them, so no temporary is left behind.
fn commit_or_discard(written: io::Result<()>, files: Vec<AtomicFile>) -> io::Result<()> {
    match written {
        Ok(()) => commit_all(files),
        Err(e) => {
            files.into_iter().for_each(AtomicFile::discard);
            Err(e)
        }
    }
}

/// Commits every file, or none past the first failure (the rest discarded).
fn commit_all(files: Vec<AtomicFile>) -> io::Result<()> {
    let mut result = Ok(());
    for f in files {
        if result.is_ok() {
            result = f.commit();
        } else {
            f.discard();
        }
    }
    result
}

/// The captures to analyse one by one: each input, or all of them as one
/// with `--merge`.
fn capture_groups(inputs: &[Input], merge: bool) -> Vec<Vec<Input>> {
    if merge {
        vec![inputs.to_vec()]
    } else {
        inputs.iter().map(|i| vec![i.clone()]).collect()
    }
}

/// The files of `--format parquet -o FILE`: the connections table at FILE,
/// the others beside it, named by FILE without its `.parquet`:
/// `x.parquet`, `x.transitions.parquet`, `x.anomalies.parquet`.
fn parquet_paths(path: &Path) -> Vec<(Table, PathBuf)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".parquet").unwrap_or(&name);
    Table::ALL
        .into_iter()
        .map(|t| match t {
            Table::Connections => (t, path.to_path_buf()),
            _ => (
                t,
                path.with_file_name(format!("{stem}.{}.parquet", t.name())),
            ),
        })
        .collect()
}

/// The name a capture's files get under `--out-dir DIR --out-format
/// parquet`: its file name (`x.pcap`), `stdin` for `-`, with `--merge` the
/// names joined by `+`; a name already used in this run gets `~2`, `~3`...
fn capture_file_name(group: &[Input], used: &mut Vec<String>) -> String {
    let names: Vec<String> = group
        .iter()
        .map(|i| match i {
            Input::Stdin => "stdin".to_string(),
            Input::Path(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
        })
        .collect();
    let base = names.join("+");
    let mut name = base.clone();
    let mut n = 1;
    while used.contains(&name) {
        n += 1;
        name = format!("{base}~{n}");
    }
    used.push(name.clone());
    name
}

/// `--out-dir DIR --out-format parquet`: per capture, one file per table
/// (DIR/TABLE/CAPTURE.parquet) and its summary (DIR/summary/CAPTURE.json),
/// so a folder that collects many runs is read with one glob per table. A
/// capture's files are committed when it is done.
fn run_parquet_out_dir(args: &RunArgs, filter: &Filter) -> Result<i32, String> {
    let Some(dir) = &args.out_dir else {
        return Err("--out-format needs --out-dir".into());
    };
    let inputs = inputs_of(&args.files, args.analysis.merge)?;
    let bar = progress_for(&inputs);
    let analyzer = with_progress(args.analysis.analyzer(), &bar);
    let mut status = EXIT_OK;
    let mut used = Vec::new();
    let (mut seen, mut matched) = (0u64, 0u64);
    for group in capture_groups(&inputs, args.analysis.merge) {
        let name = capture_file_name(&group, &mut used);
        let mut tables: Vec<(Table, AtomicFile)> = Vec::new();
        let mut summary: Option<AtomicFile> = None;
        let opened = (|| -> io::Result<()> {
            for table in Table::ALL {
                let sub = dir.join(table.name());
                fs::create_dir_all(&sub)?;
                tables.push((
                    table,
                    AtomicFile::create(&sub.join(format!("{name}.parquet")))?,
                ));
            }
            let sub = dir.join("summary");
            fs::create_dir_all(&sub)?;
            summary = Some(AtomicFile::create(&sub.join(format!("{name}.json")))?);
            Ok(())
        })();
        let mut out = StreamingReport::new();
        let opened = opened.and_then(|_| {
            for (table, f) in &mut tables {
                out.add_parquet(*table, &mut f.w)?;
            }
            if let Some(f) = &mut summary {
                out.add(Part::SummaryJson, &mut f.w);
            }
            Ok(())
        });
        if let Err(e) = opened {
            drop(out);
            tables.into_iter().for_each(|(_, f)| f.discard());
            summary.into_iter().for_each(AtomicFile::discard);
            report_write_error(args, e, &mut status);
            break;
        }
        out.file(0);
        let display = display_name(&group);
        let mut failed: Option<io::Error> = None;
        let a = analyzer.stream_inputs(&group, &mut |mut batch| {
            seen += batch.connections.len() as u64;
            if failed.is_some() {
                return;
            }
            batch.connections.retain(|c| filter.matches(c));
            matched += batch.connections.len() as u64;
            out.started_at(batch.first_ts_ns);
            if let Err(e) = out.connections(0, &display, &batch.connections) {
                failed = Some(e);
            }
        });
        let analyses = [a];
        let finished = match failed {
            Some(e) => {
                drop(out);
                Err(e)
            }
            None => out.finish(&analyses),
        };
        status = status.max(report_errors(&analyses));
        note_undecodable(&analyses, false);
        let all: Vec<AtomicFile> = tables.into_iter().map(|(_, f)| f).chain(summary).collect();
        if let Err(e) = commit_or_discard(finished, all) {
            report_write_error(args, e, &mut status);
            break;
        }
    }
    if let Some((bar, _)) = bar {
        bar.finish_and_clear();
    }
    if !filter.is_empty() {
        eprintln!("tcpstate: {matched} of {seen} connections match the filters");
    }
    Ok(status)
}

/// `--group-by`: the connections rolled up per group as they finish (memory
/// follows the groups, not the connections), then written in the format
/// asked for: the table, CSV, JSON lines or Parquet.
fn run_rollup(args: &RunArgs, keys: &[GroupKey], filter: &Filter) -> Result<i32, String> {
    let inputs = inputs_of(&args.files, args.analysis.merge)?;
    let bar = progress_for(&inputs);
    let analyzer = with_progress(args.analysis.analyzer(), &bar);
    let mut rollup = Rollup::new(keys.to_vec(), args.max_groups);
    let mut analyses = Vec::new();
    let (mut seen, mut matched) = (0u64, 0u64);
    for group in capture_groups(&inputs, args.analysis.merge) {
        let name = display_name(&group);
        analyses.push(analyzer.stream_inputs(&group, &mut |mut batch| {
            seen += batch.connections.len() as u64;
            batch.connections.retain(|c| filter.matches(c));
            matched += batch.connections.len() as u64;
            rollup.add(&name, &batch.connections);
        }));
    }
    if let Some((bar, _)) = bar {
        bar.finish_and_clear();
    }
    let mut status = report_errors(&analyses);
    note_undecodable(&analyses, false);
    if !filter.is_empty() {
        eprintln!("tcpstate: {matched} of {seen} connections match the filters");
    }
    let rollups = rollup.finish();
    let format = args.format.unwrap_or(FormatArg::Table);
    let write = |w: &mut dyn Write| -> io::Result<()> {
        match format {
            FormatArg::Csv => rollup::write_csv(w, &rollups),
            FormatArg::Json => rollup::write_json(w, &rollups),
            FormatArg::Parquet => tcpstate::report::parquet::write_rollup(w, &rollups),
            _ => rollup::write_table(w, &rollups),
        }
    };
    let written = if let Some(path) = &args.output {
        write_atomically(path, write)
    } else {
        let stdout = io::stdout();
        let mut w = BufWriter::new(stdout.lock());
        write(&mut w).and_then(|_| w.flush())
    };
    if let Err(e) = written {
        report_write_error(args, e, &mut status);
    }
    Ok(status)
}

/// `show`: the stream's story in each input (or in all of them as one
/// capture with `--merge`); exit 1 when no input has the stream.
fn run_show(args: ShowArgs) -> Result<i32, String> {
    let inputs = inputs_of(&args.files, args.analysis.merge)?;
    let groups: Vec<Vec<Input>> = if args.analysis.merge {
        vec![inputs]
    } else {
        inputs.into_iter().map(|i| vec![i]).collect()
    };
    let analyzer = args.analysis.analyzer();
    let stories: Vec<show::Story> = groups
        .par_iter()
        .map(|g| show::collect(g, args.stream, &analyzer))
        .collect();
    let analyses: Vec<&Analysis> = stories.iter().map(|s| &s.analysis).collect();
    let mut status = EXIT_OK;
    for a in &analyses {
        status = status.max(report_errors(std::slice::from_ref(*a)));
    }
    let found = stories
        .iter()
        .filter(|s| show::find(&s.analysis, s.stream).is_some())
        .count();
    let stdout = io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    let mut written = Ok(());
    for (i, story) in stories.iter().enumerate() {
        written = match args.format {
            ShowFormat::Text if i > 0 => writeln!(w).and_then(|_| show::write_story(&mut w, story)),
            ShowFormat::Text => show::write_story(&mut w, story),
            ShowFormat::Json => {
                if show::find(&story.analysis, story.stream).is_none() {
                    eprintln!(
                        "tcpstate: {}: no stream {} (the capture has {} connections)",
                        story.analysis.file,
                        story.stream,
                        story.analysis.connections.len()
                    );
                }
                show::write_story_json(&mut w, story)
            }
        };
        if written.is_err() {
            break;
        }
    }
    match written.and_then(|_| w.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(format!("cannot write: {e}")),
        _ if found == 0 && status == EXIT_OK => Ok(EXIT_FAILURE),
        _ => Ok(status),
    }
}

/// `extract`: the selected connections' frames as pcapng; exit 1 when the
/// filter selects none, 2 when the input is unreadable or cut short (what
/// was read is still written).
fn run_extract(args: ExtractArgs) -> Result<i32, String> {
    if args.file.as_os_str() == "-" {
        return Err(
            "extract reads its input twice (the analysis, then the frames): \
             save standard input to a file first (e.g. tcpdump -w FILE)"
                .into(),
        );
    }
    if args.analysis.merge {
        return Err("extract reads one capture: --merge does not apply".into());
    }
    let filter = args.filter.filter()?;
    let analyzer = args.analysis.analyzer();
    // The input's failure (not a capture) is told apart from the output's.
    let mut outcome: Option<Result<extract::Extract, extract::ExtractError>> = None;
    let mut body = |out: &mut dyn Write| -> io::Result<()> {
        match extract::extract(&analyzer, &args.file, &filter, args.annotate, out) {
            Err(extract::ExtractError::Write(e)) => Err(e),
            r => {
                let failed = r.is_err();
                outcome = Some(r);
                if failed {
                    Err(io::Error::other("the input is not a capture"))
                } else {
                    Ok(())
                }
            }
        }
    };
    let written = if args.output.as_os_str() == "-" {
        let stdout = io::stdout();
        let mut w = BufWriter::new(stdout.lock());
        body(&mut w).and_then(|_| w.flush())
    } else {
        write_atomically(&args.output, body)
    };
    let done = match (outcome, written) {
        (Some(Err(e)), _) => return Err(e.to_string()),
        (_, Err(e)) => {
            eprintln!("tcpstate: cannot write {}: {e}", args.output.display());
            return Ok(EXIT_FAILURE);
        }
        (Some(Ok(done)), Ok(())) => done,
        (None, Ok(())) => return Ok(EXIT_FAILURE),
    };
    let mut status = EXIT_OK;
    for e in &done.errors {
        eprintln!("tcpstate: {e}");
        status = EXIT_BAD_INPUT;
    }
    eprintln!(
        "tcpstate: wrote {} frames of {} connections ({} with comments) to {}",
        done.frames,
        done.connections,
        done.comments,
        args.output.display()
    );
    if done.connections == 0 && status == EXIT_OK {
        eprintln!("tcpstate: no connection matched the filters");
        return Ok(EXIT_FAILURE);
    }
    Ok(status)
}

fn run_check(args: CheckArgs) -> Result<i32, String> {
    let (policies, files): (Vec<&String>, Vec<&String>) =
        args.files.iter().partition(|f| is_policy_path(f));
    let policy_path = match (&args.policy, policies.as_slice()) {
        (Some(p), []) => Some(p.clone()),
        (None, [p]) => Some(p.into()),
        (None, []) => None,
        _ => {
            return Err(format!(
                "one policy file at most: {}",
                args.policy
                    .iter()
                    .map(|p| p.display().to_string())
                    .chain(policies.iter().map(|p| p.to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    };
    if files.is_empty() {
        return Err("check needs captures to read (FILE, DIR or GLOB) besides the policy".into());
    }
    let mut policy = match &policy_path {
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
    let filter = args.filter.filter()?;
    let files: Vec<String> = files.into_iter().cloned().collect();
    let (analyses, tallies) = check_inputs(&files, &args.analysis, &policy, &filter)?;
    report_errors(&analyses);
    let mut report = CheckReport::from_tallies(&policy, &analyses, tallies);
    if !filter.is_empty() {
        eprintln!(
            "tcpstate: {} of {} connections match the filters",
            report.connections(),
            report.connections() + report.filtered_out()
        );
    }
    if let Some(path) = &args.junit {
        if let Err(e) = write_atomically(path, |w| report.write_junit(w)) {
            let message = format!("cannot write {}: {e}", path.display());
            eprintln!("tcpstate: {message}");
            report.report_error = Some(message);
        }
    }
    let mut status = report.verdict().exit_status();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let written = match args.format {
        CheckFormat::Text => report.write_text(&mut out),
        CheckFormat::Json => report.write_json(&mut out),
    };
    match written.and_then(|_| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("tcpstate: cannot write standard output: {e}");
            if status == EXIT_OK {
                status = EXIT_FAILURE;
            }
        }
        _ => {}
    }
    Ok(status)
}

/// Analyses the inputs as [`analyse`] does, checking each connection as it
/// is finished rather than keeping it: memory follows the live connections
/// and the offending ones.
fn check_inputs(
    files: &[String],
    args: &AnalysisArgs,
    policy: &Policy,
    filter: &Filter,
) -> Result<(Vec<Analysis>, Vec<CheckTally>), String> {
    let inputs = inputs_of(files, args.merge)?;
    let groups: Vec<Vec<Input>> = if args.merge {
        vec![inputs.clone()]
    } else {
        inputs.iter().map(|i| vec![i.clone()]).collect()
    };
    let bar = progress_for(&inputs);
    let analyzer = with_progress(args.analyzer(), &bar);
    let checked: Vec<(Analysis, CheckTally)> = groups
        .par_iter()
        .map(|group| {
            let mut tally = CheckTally::default();
            let a = analyzer.stream_inputs(group, &mut |batch| {
                for c in &batch.connections {
                    tally.add(policy, filter, c);
                }
            });
            (a, tally)
        })
        .collect();
    if let Some((bar, _)) = bar {
        bar.finish_and_clear();
    }
    Ok(checked.into_iter().unzip())
}

fn run_html(args: ReportArgs) -> Result<i32, String> {
    let filter = args.filter.filter()?;
    let mut analyses = analyse(&args.files, &args.analysis)?;
    let mut status = report_errors(&analyses);
    if !filter.is_empty() {
        let before: usize = analyses.iter().map(|a| a.connections.len()).sum();
        for a in &mut analyses {
            a.connections.retain(|c| filter.matches(c));
        }
        let after: usize = analyses.iter().map(|a| a.connections.len()).sum();
        eprintln!("tcpstate: {after} of {before} connections match the filters");
    }
    let written = write_atomically(&args.html, |w| {
        tcpstate::report::html::write_html(w, &analyses)
    });
    if let Err(e) = written {
        eprintln!("tcpstate: cannot write {}: {e}", args.html.display());
        if status == EXIT_OK {
            status = EXIT_FAILURE;
        }
    }
    Ok(status)
}

/// `tcpstate diff A B`: JSON and CSV are written as connections finish;
/// the table and the HTML page need them all (they are small: one row per
/// connection).
fn run_diff(args: DiffArgs) -> Result<i32, String> {
    let side = |arg: &str| -> Result<Vec<Input>, String> {
        let inputs = inputs_of(std::slice::from_ref(&arg.to_string()), true)?;
        if inputs.is_empty() {
            return Err(format!("{arg}: no capture found"));
        }
        Ok(inputs)
    };
    let (a, b) = (side(&args.a)?, side(&args.b)?);
    let options = tcpstate::diff::DiffOptions {
        window: std::time::Duration::from_secs_f64(args.window.max(1e-6)),
        offset: args
            .offset
            .map(|o| std::time::Duration::from_secs_f64(o.abs().min(1e9))),
        offset_negative: args.offset.is_some_and(|o| o < 0.0),
    };
    let analyzer = args.analysis.analyzer();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let keep = args.format == DiffFormat::Table || args.html.is_some();
    let mut kept = Vec::new();
    let mut failed: Option<io::Error> = None;
    if args.format == DiffFormat::Csv {
        tcpstate::report::diff::write_csv_header(&mut out).map_err(|e| e.to_string())?;
    }
    let outcome = tcpstate::diff::diff(&analyzer, &a, &b, &options, &mut |c| {
        let written = match args.format {
            DiffFormat::Json => tcpstate::report::diff::write_json_conn(&mut out, &c),
            DiffFormat::Csv => tcpstate::report::diff::write_csv_conn(&mut out, &c),
            DiffFormat::Table => Ok(()),
        };
        if let (Err(e), None) = (written, &failed) {
            failed = Some(e);
        }
        if keep {
            kept.push(c);
        }
    })?;
    let mut status = EXIT_OK;
    for w in &outcome.warnings {
        eprintln!("tcpstate: warning: {w}");
    }
    for e in &outcome.errors {
        eprintln!("tcpstate: {e}");
        status = EXIT_BAD_INPUT;
    }
    let written = match args.format {
        DiffFormat::Json => tcpstate::report::diff::write_json_summary(&mut out, &outcome.summary),
        DiffFormat::Csv => Ok(()),
        DiffFormat::Table => tcpstate::report::diff::write_table(&mut out, &outcome.summary, &kept),
    };
    if let Some(e) = failed.or(written.err()).or(out.flush().err()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(format!("cannot write the comparison: {e}"));
        }
    }
    if let Some(path) = &args.html {
        let names = (display_name(&a), display_name(&b));
        let written = write_atomically(path, |w| {
            tcpstate::report::diff::write_html(w, (&names.0, &names.1), &outcome.summary, &kept)
        });
        if let Err(e) = written {
            eprintln!("tcpstate: cannot write {}: {e}", path.display());
            if status == EXIT_OK {
                status = EXIT_FAILURE;
            }
        }
    }
    Ok(status)
}

/// `tcpstate man`: tcpstate(1), tcpstate-SUBCOMMAND(1), or every page into
/// a directory. The help subcommand has no page, so no page refers to one.
fn run_man(args: ManArgs) -> Result<i32, String> {
    let mut cmd = <Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
    cmd.build();
    let source = format!("tcpstate {}", env!("CARGO_PKG_VERSION"));
    let page = |c: clap::Command| clap_mangen::Man::new(c).source(source.clone());
    if let Some(dir) = &args.dir {
        let mut pages = std::iter::once(cmd.clone()).chain(cmd.get_subcommands().cloned());
        fs::create_dir_all(dir)
            .and_then(|_| pages.try_for_each(|c| page(c).generate_to(dir).map(|_| ())))
            .map_err(|e| format!("cannot write the man pages into {}: {e}", dir.display()))?;
        return Ok(EXIT_OK);
    }
    let chosen = match &args.subcommand {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let known: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
                return Err(format!(
                    "no man page for {name:?}: the subcommands are {}",
                    known.join(", ")
                ));
            }
        },
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match page(chosen).render(&mut out).and_then(|_| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("tcpstate: cannot write the man page: {e}");
            Ok(EXIT_FAILURE)
        }
        _ => Ok(EXIT_OK),
    }
}
