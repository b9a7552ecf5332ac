//! What only a terminal gets: a progress bar on stderr for long inputs, and
//! the table's width and colours. A pipe or a file gets none of it.

use std::fs;
use std::io::{self, IsTerminal};
use std::sync::Arc;

use tcpstate::capture::Input;
use tcpstate::pipeline::Progress;
use tcpstate::report::Style;

use crate::args::TableArgs;

/// A progress bar on stderr over the input files' sizes, only for a terminal.
pub fn progress_for(inputs: &[Input]) -> Option<(indicatif::ProgressBar, Progress)> {
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

/// How the table looks. On a terminal's standard output: laid out for its
/// width (the columns that fit, long lines wrapped) and coloured unless
/// `NO_COLOR` is set. `--width` lays it out for that width wherever it goes;
/// `--wide` and a pipe or a file get every column.
pub fn table_style(args: &TableArgs, to_stdout: bool) -> Style {
    let tty = to_stdout && io::stdout().is_terminal();
    let width = if args.wide {
        None
    } else if let Some(w) = args.width {
        Some(usize::from(w))
    } else if tty {
        terminal_width()
    } else {
        None
    };
    Style {
        color: tty && std::env::var_os("NO_COLOR").is_none(),
        width,
        columns: args.columns.clone(),
    }
}

/// The width of the terminal on standard output; `COLUMNS` if it cannot be
/// asked.
fn terminal_width() -> Option<usize> {
    terminal_size::terminal_size()
        .map(|(w, _)| usize::from(w.0))
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .filter(|&w| w > 0)
}
