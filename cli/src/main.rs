//! The `tcpstate` binary: parse flags, run the library, exit with its status.
//! The command-line crates (clap, completions, man page, progress bar,
//! terminal size) live here and nowhere in the library.

mod args;
mod commands;
mod output;
mod terminal;

use clap::Parser;

fn main() {
    settle_allocator();
    let cli = args::Cli::parse();
    std::process::exit(commands::run(cli));
}

/// Fixes glibc's mmap threshold at 4 MiB. By default glibc raises the
/// threshold to the size of any mmapped block freed (up to 32 MiB), after
/// which the big short-lived vectors (a check's finished connections: tens
/// of MB when a flood meets the connection limit) come from the heap, whose
/// freed tops and holes are kept rather than given back. On a flood of a
/// million SYNs peak RSS was 460 MB for a 394 MB heap (massif); with the
/// threshold fixed, 349 MB. At 4 MiB the per-batch buffers (under 1 MB)
/// stay on the heap: 128 KiB cost 0.4 s of system time on the 1 GB
/// benchmark capture, in page faults. (mimalloc instead: 350-375 MB on that
/// capture against 215, and 586 MB on the flood.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn settle_allocator() {
    // SAFETY: mallopt only changes the allocator's settings, before any
    // thread is started; a refusal (0) leaves glibc's default, which is
    // only less frugal.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4096 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn settle_allocator() {}
