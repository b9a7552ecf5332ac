//! The `tcpstate` binary: parse flags, run the library, exit with its status.
//! The command-line crates (clap, completions, man page, progress bar,
//! terminal size) live here and nowhere in the library.

mod args;
mod commands;
mod output;
mod terminal;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    std::process::exit(commands::run(cli));
}
