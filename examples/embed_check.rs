//! Embedding tcpstate in another project's test suite: replay a capture that
//! the project recorded and assert that its connections behaved.
//!
//! `cargo run --example embed_check -- testdata/real/several_conns.pcap`
//!
//! In your own crate, add `tcpstate` as a dev-dependency and put the body of
//! `check_capture` in a `#[test]`.

use std::process::ExitCode;

use tcpstate::{Analyzer, AnomalyCode, Outcome, Severity, State};

/// Every connection must have finished its handshake, and none may show an
/// error-severity anomaly or end refused; TIME_WAIT or CLOSED at the end is fine.
fn check_capture(path: &str) -> Result<usize, String> {
    let analysis = Analyzer::new()
        .analyze_path(path)
        .map_err(|e| format!("cannot read: {e}"))?;
    if let Some(e) = analysis.errors().first() {
        return Err(format!("capture is damaged: {e}"));
    }
    let mut checked = 0;
    for conn in analysis.connections() {
        let name = format!(
            "stream {} ({} -> {})",
            conn.flow.stream,
            conn.flow.client(),
            conn.flow.server()
        );
        if conn.tcp.outcome() == Outcome::Refused {
            return Err(format!("{name}: refused"));
        }
        if let Some(a) = conn
            .anomalies()
            .iter()
            .find(|a| a.code.severity() == Severity::Error)
        {
            return Err(format!(
                "{name}: {} at frame {:?}: {}",
                a.code, a.frame, a.detail
            ));
        }
        let client_states = conn.tcp.states(tcpstate::Side::Client);
        if !client_states.contains(&State::Established) {
            return Err(format!("{name}: never established ({client_states:?})"));
        }
        // A leak detector in one line: the server must not sit in CLOSE_WAIT.
        if conn
            .anomalies()
            .iter()
            .any(|a| a.code == AnomalyCode::CloseWaitStuck)
        {
            return Err(format!("{name}: the server never closed its socket"));
        }
        checked += 1;
    }
    Ok(checked)
}

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "testdata/real/several_conns.pcap".into());
    match check_capture(&path) {
        Ok(n) => {
            println!("{path}: {n} connections behaved");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
