//! Writes the self-contained HTML report for one or more captures:
//! `cargo run --example html_report -- OUT.html CAPTURE...`
//! (until `tcpstate report --html` is wired into the command line).

use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;
use std::time::Instant;

use tcpstate::capture::Input;
use tcpstate::report::html::write_html;
use tcpstate::Analyzer;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((out, captures)) = args.split_first().filter(|(_, c)| !c.is_empty()) else {
        eprintln!("usage: html_report OUT.html CAPTURE...");
        return ExitCode::from(2);
    };
    let started = Instant::now();
    let analyses: Vec<_> = captures
        .iter()
        .map(|c| Analyzer::new().analyze_inputs(&[Input::from_arg(c)]))
        .collect();
    let analysed = started.elapsed();
    let written = File::create(out).and_then(|f| {
        let mut w = BufWriter::new(f);
        write_html(&mut w, &analyses)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    if let Err(e) = written {
        eprintln!("html_report: {out}: {e}");
        return ExitCode::FAILURE;
    }
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "{out}: {size} bytes; analysis {:.3} s, HTML {:.3} s",
        analysed.as_secs_f64(),
        (started.elapsed() - analysed).as_secs_f64()
    );
    let unreadable = analyses.iter().any(|a| !a.errors.is_empty());
    if unreadable {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
