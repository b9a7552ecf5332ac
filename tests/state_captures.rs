//! Every RFC 9293 path and every anomaly of the catalogue, on capture files:
//! testdata/synth/scenarios.pcap (one path per client port) and
//! testdata/synth/anomalies.pcap (one anomaly per client port), described in
//! testdata/README.md. Each row is one connection: the states each side went
//! through (C=CLOSED L=LISTEN SS=SYN_SENT SR=SYN_RCVD E=ESTABLISHED
//! FW1/FW2=FIN_WAIT_1/2 CL=CLOSING TW=TIME_WAIT CW=CLOSE_WAIT LA=LAST_ACK), the
//! outcome, Zeek's conn_state and history (of the connection's first Zeek
//! record), and the anomaly codes in order.

use std::path::PathBuf;

use tcpstate::capture::Input;
use tcpstate::tcp::machine::State;
use tcpstate::Analyzer;
use tcpstate::Side;

type Row = (
    u64,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

fn short(s: State) -> &'static str {
    match s {
        State::Closed => "C",
        State::Listen => "L",
        State::SynSent => "SS",
        State::SynRcvd => "SR",
        State::Established => "E",
        State::FinWait1 => "FW1",
        State::FinWait2 => "FW2",
        State::Closing => "CL",
        State::TimeWait => "TW",
        State::CloseWait => "CW",
        State::LastAck => "LA",
    }
}

fn check(file: &str, want: &[Row]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/synth")
        .join(file);
    let a = Analyzer::new().analyze_inputs(&[Input::Path(path)]);
    assert_eq!(a.connections.len(), want.len(), "{file}");
    for (c, row) in a.connections.iter().zip(want) {
        let states = |side| {
            c.tcp
                .states(side)
                .into_iter()
                .map(short)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut codes: Vec<&str> = Vec::new();
        // The state machines' own anomalies; sequence-analysis flags are
        // checked against tshark in tests/wireshark_analysis.rs.
        let mut state_anomalies: Vec<_> = c.tcp.anomalies().iter().collect();
        state_anomalies.sort_by_key(|a| a.frame.unwrap_or(u64::MAX));
        for an in state_anomalies {
            if !codes.contains(&an.code.code()) {
                codes.push(an.code.code());
            }
        }
        let outcome = c.tcp.outcome().to_string();
        let got = (
            c.flow.stream,
            states(Side::Client),
            states(Side::Server),
            outcome.as_str(),
            c.zeek.conn_state(),
            c.zeek.history(),
            codes.join(" "),
        );
        let want = (
            row.0,
            row.1.to_string(),
            row.2.to_string(),
            row.3,
            row.4,
            row.5,
            row.6.to_string(),
        );
        assert_eq!(got, want, "{file} stream {}", row.0);
        assert!(
            c.tcp.all_transitions_are_rfc_edges(),
            "{file} stream {}",
            row.0
        );
    }
}

#[test]
fn every_rfc_path_on_a_capture() {
    check(
        "scenarios.pcap",
        &[
            (
                0,
                "C SS SR E FW1 FW2 TW C",
                "C SS SR E CW LA C",
                "closed",
                // Zeek takes the second SYN for a reuse of the ports
                // (IsReuse compares it with the originator's ISN): its first
                // record is the lone SYN (tests/zeek_records.rs has both).
                "S0",
                "S",
                "simultaneous_open",
            ),
            (
                1,
                "C SS E FW1 CL TW C",
                "L SR E FW1 CL TW C",
                "closed",
                "SF",
                "ShADaFf",
                "simultaneous_close",
            ),
            (
                2,
                "C SS E FW1 TW C",
                "L SR E CW LA C",
                "closed",
                "SF",
                "ShADFf",
                "",
            ),
            (
                3,
                "C SS E FW1 FW2 TW C",
                "L SR E CW LA C",
                "closed",
                "SF",
                "ShADFadf",
                "",
            ),
            (
                4,
                "C SS E FW1 FW2 TW C",
                "L SR E CW LA C",
                "closed",
                "SF",
                "ShADFaf",
                "",
            ),
            (
                5,
                "C SS E FW1 FW2 TW C",
                "L SR E CW LA C",
                "closed",
                "SF",
                "ShADFaf",
                "",
            ),
            (
                6,
                "C SS E FW1 FW2 TW C",
                "L SR E CW LA C",
                "closed",
                "SF",
                "SThAdFaf",
                "syn_with_data",
            ),
            (
                7,
                "C SS E FW1 FW2 TW C",
                "L SR E CW LA C",
                "closed",
                "RSTO",
                "ShADRdFaf",
                "out_of_window_rst",
            ),
            (
                8,
                "C SS E CW LA C",
                "L SR E FW1 FW2 TW C",
                "closed",
                "SF",
                "DdAfFa",
                "midstream",
            ),
            (
                9,
                "C SS E FW1 FW2 TW C",
                "L SR E CW LA C",
                "closed",
                "SF",
                "ShADadFf",
                "",
            ),
            (
                10,
                "C SS E CW LA C",
                "L SR E FW1 FW2 TW C",
                "closed",
                "SF",
                "ShADdfFa",
                "",
            ),
            (
                11,
                "C SS E C",
                "L SR L",
                "handshake_reset",
                "RSTO",
                "ShR",
                "handshake_reset",
            ),
            (
                12,
                "C SS E FW1 FW2 C",
                "L SR E CW C",
                "reset_by_server",
                "RSTR",
                "ShADFar",
                "reset",
            ),
            (
                13,
                "C SS E C",
                "L SR E C",
                "reset_by_client",
                "RSTO",
                "ShADdR",
                "reset",
            ),
            (14, "C SS C", "C", "refused", "REJ", "Sr", "refused"),
            (
                15,
                "C SS",
                "L",
                "syn_unanswered",
                "S0",
                "S",
                "syn_unanswered",
            ),
            (
                16,
                "C SS E C",
                "L SR E C",
                "reset_by_server",
                "RSTR",
                "ShADrr",
                "rst_challenged reset",
            ),
            (
                17,
                "C SS E FW1 FW2 C",
                "L SR E CW C",
                "reset_by_server",
                "RSTR",
                "ShAdFar",
                "reset",
            ),
        ],
    );
}

#[test]
fn every_anomaly_on_a_capture() {
    check(
        "anomalies.pcap",
        &[
            (
                0,
                "C SS",
                "L SR L",
                "syn_unanswered",
                "RSTO",
                "ShGR",
                "syn_ack_bad_ack",
            ),
            (
                1,
                "C SS E FW1 TW C",
                "L SR E CW LA C",
                "closed",
                "SF",
                "SDhAFf",
                "data_before_handshake",
            ),
            (
                2,
                "C SS E FW1 FW2 TW C",
                "L SR E CW LA C",
                "closed",
                "SF",
                "ShAFDaf",
                "data_after_fin",
            ),
            (
                3,
                "C SS E C",
                "L SR E C",
                "reset_by_client",
                "RSTO",
                "ShARd",
                "reset segment_after_close",
            ),
            (
                4,
                "C SS E FW1 FW2 TW C",
                "L SR E CW LA C",
                "closed",
                "SF",
                "ShAFaf",
                "fin_retransmitted_in_time_wait",
            ),
            (
                5,
                "C SS E FW1 FW2",
                "L SR E CW",
                "half_closed",
                "S2",
                "ShADFa",
                "close_wait_stuck fin_wait_2_stuck",
            ),
            (6, "C", "L", "no_connection", "SH", "Q", "invalid_flags"),
            (7, "C", "L", "no_connection", "OTH", "Q", "invalid_flags"),
            (8, "C", "L", "no_connection", "OTH", "", "invalid_flags"),
            (9, "C", "L", "no_connection", "SH", "F", "invalid_flags"),
            (10, "C", "L", "no_connection", "SH", "F", "invalid_flags"),
            (
                11,
                "C SS E FW1 TW C",
                "L SR E CW LA C",
                "closed",
                "SF",
                "ShAgFf",
                "",
            ),
            (12, "C SS E", "L SR E", "open", "S1", "ShADd", "no_close"),
            (13, "C SS E", "L SR", "half_open", "S1", "Sh", "half_open"),
        ],
    );
}

#[test]
fn port_reuse_during_time_wait_on_captures() {
    for (file, stream) in [
        ("testdata/synth/reuse.pcap", 1),
        ("testdata/real/port_reuse.pcap", 1),
    ] {
        let a = Analyzer::new().analyze_inputs(&[Input::Path(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file),
        )]);
        let c = &a.connections[stream];
        assert!(
            c.anomalies()
                .iter()
                .any(|an| an.code.code() == "port_reuse_in_time_wait"),
            "{file}: {:?}",
            c.anomalies()
        );
        let old = &a.connections[stream - 1];
        let last = old.tcp.transitions().last().unwrap();
        assert_eq!(
            (last.from, last.to),
            (State::TimeWait, State::Closed),
            "{file}: TIME_WAIT ended by the reuse"
        );
    }
}

#[test]
fn catalogue_is_fully_covered_by_the_captures() {
    use tcpstate::anomaly::AnomalyCode;
    let mut seen = std::collections::BTreeSet::new();
    for file in [
        "synth/scenarios.pcap",
        "synth/anomalies.pcap",
        "synth/reuse.pcap",
        "synth/seq_analysis.pcap",
        "real/several_conns.pcap",
        "real/out_of_window.pcap",
        "real/one_sided.pcap",
    ] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(file);
        for c in Analyzer::new()
            .analyze_inputs(&[Input::Path(path)])
            .connections
        {
            seen.extend(c.anomalies().iter().map(|a| a.code));
        }
    }
    let missing: Vec<_> = AnomalyCode::ALL
        .iter()
        .filter(|c| !seen.contains(c))
        .collect();
    assert!(missing.is_empty(), "no capture shows {missing:?}");
}
