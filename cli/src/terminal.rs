//! What only a terminal gets: a progress bar on stderr for long inputs, and
//! the table's width and colours. A pipe or a file gets none of it.

use std::fs;
use std::io::{self, IsTerminal};
use std::sync::Arc;

use tcpstate::capture::Input;
use tcpstate::pipeline::Progress;
use tcpstate::report::Style;

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

/// How the table looks: trimmed to the terminal's width and coloured (unless
/// `NO_COLOR` is set) when it goes to a terminal's standard output.
pub fn table_style(to_stdout: bool) -> Style {
    let tty = to_stdout && io::stdout().is_terminal();
    Style {
        color: tty && std::env::var_os("NO_COLOR").is_none(),
        width: if tty {
            terminal_size::terminal_size().map(|(w, _)| w.0 as usize)
        } else {
            None
        },
    }
}
