//! The jobs: the default report (streamed or collected), `show`, `check`
//! and `report --html`, each from parsed arguments to an exit status.

use std::fs;
use std::io::{self, BufWriter, Write};

use rayon::prelude::*;
use tcpstate::anomaly::catalogue_text;
use tcpstate::capture::{expand_inputs, Input};
use tcpstate::pipeline::display_name;
use tcpstate::pipeline::Progress;
use tcpstate::report::check::{parse_codes, Policy};
use tcpstate::report::filter::Filter;
use tcpstate::report::show;
use tcpstate::report::{write_report, Format, Part, Report, StreamingReport, OUT_DIR_FILES};
use tcpstate::{Analysis, Analyzer};

use crate::args::{
    AnalysisArgs, CheckArgs, Cli, Command, ReportArgs, RunArgs, ShowArgs, EXIT_BAD_INPUT,
    EXIT_FAILURE, EXIT_OK,
};
use crate::output::{write_atomically, AtomicFile};
use crate::terminal::{progress_for, table_style};

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

/// Expands the arguments and analyses the inputs, in parallel or merged.
fn analyse(files: &[String], args: &AnalysisArgs) -> Result<Vec<Analysis>, String> {
    let inputs = expand_inputs(files)?;
    if inputs.iter().filter(|i| **i == Input::Stdin).count() > 1 {
        return Err("standard input (-) can be read only once".into());
    }
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

/// Prints read errors; the exit status they call for.
fn report_errors(analyses: &[Analysis]) -> i32 {
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
    if args.out_dir.is_some() || Part::streamable(Format::from(args.format)) {
        return run_streaming_report(&args, &filter);
    }
    let mut analyses = analyse(&args.files, &args.analysis)?;
    let mut status = report_errors(&analyses);
    note_undecodable(&analyses, Format::from(args.format));
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
    let style = table_style(args.output.is_none());
    let written = if let Some(path) = &args.output {
        write_atomically(path, |w| {
            write_report(w, Format::from(args.format), report, style, &analyses)
        })
    } else {
        let stdout = io::stdout();
        let mut w = BufWriter::new(stdout.lock());
        write_report(&mut w, Format::from(args.format), report, style, &analyses)
            .and_then(|_| w.flush())
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
fn note_undecodable(analyses: &[Analysis], format: Format) {
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
        if a.zeek_unattached_dropped > 0 {
            eprintln!(
                "tcpstate: {}: {} Zeek records made only of bad-checksum packets not \
                 written (past --max-connections)",
                a.file, a.zeek_unattached_dropped
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
        AtomicFile::create(path)
            .map(|f| files.push((Part::of(Format::from(args.format), report), f)))
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
        out.add(Part::of(Format::from(args.format), report), &mut stdout);
    }
    for (part, f) in &mut files {
        out.add(*part, &mut f.w);
    }
    let bar = progress_for(&inputs);
    let analyzer = with_progress(args.analysis.analyzer(), &bar);
    let mut analyses = Vec::new();
    let mut failed: Option<io::Error> = None;
    let (mut seen, mut matched) = (0u64, 0u64);
    for (i, group) in groups.iter().enumerate() {
        out.file(i);
        let name = display_name(group);
        let a = analyzer.stream_inputs(group, &mut |mut batch| {
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
    note_undecodable(&analyses, Format::from(args.format));
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
    let story = show::collect(&input, args.stream, &args.analysis.analyzer());
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
    write_atomically(&args.html, |w| {
        tcpstate::report::html::write_html(w, &analyses)
    })
    .map_err(|e| format!("{}: {e}", args.html.display()))?;
    Ok(status)
}
