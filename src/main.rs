//! The `tcpstate` binary: parse flags, run the library, exit with its status.

use clap::Parser;

fn main() {
    let args = tcpstate::cli::Args::parse();
    std::process::exit(tcpstate::cli::run(args));
}
