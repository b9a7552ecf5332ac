//! The `tcpstate` binary: parse flags, run the library, exit with its status.

use clap::Parser;

fn main() {
    let args = tcpstate::cli::Cli::parse();
    std::process::exit(tcpstate::cli::run(args));
}
