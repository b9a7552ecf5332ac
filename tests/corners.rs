//! The state machine's corners (issue 14) on real Linux traffic recorded
//! between two network namespaces by scripts/record_corners.py (see
//! testdata/README.md). Each test names its capture and asserts exact states,
//! frames and counts; the same corners are rows of the unit table
//! `tcp::machine::tests::corners`, and tests/kernel_states.rs compares these
//! captures with the kernel's own socket states.

use std::path::PathBuf;

use tcpstate::anomaly::AnomalyCode as A;
use tcpstate::capture::Input;
use tcpstate::tcp::machine::{Cause, State};
use tcpstate::{Analyzer, Connection, Outcome, Side};

use State::*;

fn connections(name: &str) -> Vec<Connection> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/real")
        .join(name);
    Analyzer::new()
        .analyze_inputs(&[Input::Path(path)])
        .connections
}

/// The machines' anomaly codes of a connection, in frame order, each once.
fn codes(c: &Connection) -> Vec<A> {
    let mut v: Vec<_> = c.tcp.anomalies().iter().collect();
    v.sort_by_key(|a| a.frame.unwrap_or(u64::MAX));
    let mut out = Vec::new();
    for a in v {
        if !out.contains(&a.code) {
            out.push(a.code);
        }
    }
    out
}

/// Frames sequence analysis flagged with `code`.
fn flagged(c: &Connection, code: A) -> Vec<u64> {
    c.anomalies()
        .iter()
        .filter(|a| a.code == code)
        .filter_map(|a| a.frame)
        .collect()
}

/// (frame, side, state entered) of every standing transition.
fn moves(c: &Connection) -> Vec<(Option<u64>, Side, State)> {
    c.tcp
        .transitions()
        .map(|t| (t.frame, t.side, t.to))
        .collect()
}

const CLIENT_CLOSES_FIRST: [State; 6] =
    [Closed, SynSent, Established, FinWait1, FinWait2, TimeWait];
const SERVER_CLOSES_LAST: [State; 6] = [Listen, SynRcvd, Established, CloseWait, LastAck, Closed];

/// Corner 1: a SYN-ACK acknowledging ISN+1001; the client's kernel answers
/// RST <SEQ=SEG.ACK> and stays in SYN_SENT; the real SYN-ACK completes the
/// handshake and the connection closes normally.
#[test]
fn corner_1_unacceptable_syn_ack() {
    let c = &connections("bad_syn_ack.pcap")[0];
    assert_eq!(c.tcp.states(Side::Client), CLIENT_CLOSES_FIRST);
    assert_eq!(
        c.tcp.states(Side::Server),
        [
            Listen,
            SynRcvd,
            Listen,
            SynRcvd,
            Established,
            CloseWait,
            LastAck,
            Closed
        ]
    );
    // The bogus SYN-ACK (2) and the RST (3) move only the server, back to LISTEN.
    assert_eq!(
        moves(c)[..4],
        [
            (Some(1), Side::Client, SynSent),
            (Some(1), Side::Server, SynRcvd),
            (Some(3), Side::Server, Listen),
            (Some(5), Side::Server, SynRcvd),
        ]
    );
    assert_eq!(c.tcp.outcome(), Outcome::Closed);
    assert_eq!(codes(c), [A::SynAckBadAck]);
    assert_eq!(c.anomalies()[0].frame, Some(2));
    // Only the SYN's copies are retransmissions: the real SYN-ACK and the
    // server's data and FIN are not, whatever the bogus SYN-ACK numbered.
    assert_eq!(flagged(c, A::Retransmission), [4, 5]);
}

/// Corner 2: null, FIN and XMAS probes to a closed port (answered by RST),
/// the same to an open port (dropped), and ACK probes (answered by RST by
/// both): never a connection.
#[test]
fn corner_2_scan_probes_imply_no_connection() {
    let cs = connections("scan_probes.pcap");
    assert_eq!(cs.len(), 8);
    for (i, c) in cs.iter().enumerate() {
        let closed_port = i < 4;
        let invalid = i % 4 != 3;
        let server = if closed_port && invalid {
            Closed
        } else {
            Listen
        };
        assert_eq!(c.tcp.states(Side::Client), [Closed], "stream {i}");
        assert_eq!(c.tcp.states(Side::Server), [server], "stream {i}");
        assert_eq!(c.tcp.transitions().count(), 0, "stream {i}");
        assert_eq!(c.tcp.outcome(), Outcome::NoConnection, "stream {i}");
        let want: &[A] = match (closed_port, invalid) {
            (true, true) => &[A::InvalidFlags, A::Refused],
            (false, true) => &[A::InvalidFlags],
            (_, false) => &[],
        };
        assert_eq!(codes(c), want, "stream {i}");
    }
}

/// Corner 3: SYNs the server never saw, given up silently (stream 0) or with
/// the client's RST (stream 1): the server stays LISTEN either way.
#[test]
fn corner_3_unanswered_syn_leaves_the_server_listening() {
    let cs = connections("syn_client_rst.pcap");
    assert_eq!(cs[0].tcp.states(Side::Client), [Closed, SynSent]);
    assert_eq!(cs[1].tcp.states(Side::Client), [Closed, SynSent, Closed]);
    for c in &cs {
        assert_eq!(c.tcp.states(Side::Server), [Listen]);
        assert_eq!(c.tcp.outcome(), Outcome::SynUnanswered);
        assert_eq!(codes(c), [A::SynUnanswered]);
        assert_eq!(c.tcp.anomalies()[0].frame, Some(c.flow.first_frame));
    }
}

/// Corner 4: after both FINs were exchanged and acknowledged, the server
/// (CLOSED) answers a duplicate ACK with RST, which ends the client's
/// TIME_WAIT: segments after close, not a reset; Zeek's SF stays.
#[test]
fn corner_4_rst_after_both_closed() {
    let c = &connections("rst_after_close.pcap")[0];
    let mut client = CLIENT_CLOSES_FIRST.to_vec();
    client.push(Closed);
    assert_eq!(c.tcp.states(Side::Client), client);
    assert_eq!(c.tcp.states(Side::Server), SERVER_CLOSES_LAST);
    let last = c.tcp.transitions().last().unwrap();
    assert_eq!(
        (last.frame, last.side, last.cause),
        (Some(13), Side::Client, Cause::ReceivedRst)
    );
    assert_eq!(c.tcp.outcome(), Outcome::Closed);
    assert_eq!(codes(c), [A::SegmentAfterClose]);
    assert_eq!(flagged(c, A::SegmentAfterClose), [12, 13]);
    assert_eq!(c.zeek.conn_state(), "SF");
}

/// Corner 5: a cookie request (stream 0, no data), TCP Fast Open data
/// accepted (stream 1), and data on a SYN the server ignored (stream 2).
#[test]
fn corner_5_data_on_the_syn() {
    let cs = connections("tfo.pcap");
    assert!(codes(&cs[0]).is_empty());
    for (c, accepted) in [(&cs[1], true), (&cs[2], false)] {
        assert_eq!(codes(c), [A::SynWithData]);
        let a = &c.tcp.anomalies()[0];
        assert_eq!(a.frame, Some(c.flow.first_frame));
        assert!(a.detail.starts_with("16 bytes of data on the client's SYN"));
        assert_eq!(
            a.detail.ends_with("accepted (TCP Fast Open)"),
            accepted,
            "{}",
            a.detail
        );
        assert_eq!(c.tcp.states(Side::Client), CLIENT_CLOSES_FIRST);
        assert_eq!(c.tcp.outcome(), Outcome::Closed);
    }
    // Not accepted: the client sends the 16 bytes again after the handshake.
    assert_eq!(cs[2].seq.stats(Side::Client).retransmitted_bytes, 16);
}

/// Corner 6: one connection seen client->server only, one server->client
/// only: `one_sided` names the silent side, and every state is marked inferred.
#[test]
fn corner_6_one_sided() {
    let cs = connections("one_sided.pcap");
    for (c, silent) in [(&cs[0], Side::Server), (&cs[1], Side::Client)] {
        let a = c
            .tcp
            .anomalies()
            .iter()
            .find(|a| a.code == A::OneSided)
            .unwrap();
        assert_eq!((a.frame, a.side), (None, Some(silent)));
        assert!(a
            .detail
            .contains(&format!("only the {}->{silent} direction", silent.peer())));
        assert!(c.tcp.state_inferred(Side::Client) && c.tcp.state_inferred(Side::Server));
        assert!(c
            .tcp
            .transitions()
            .filter(|t| t.side == silent)
            .all(|t| t.inferred && t.evidence_frame.is_some()));
        assert_eq!(c.flow.packets[silent.idx()], 0);
    }
    assert_eq!(
        cs[0].tcp.states(Side::Client),
        [Closed, SynSent, Established, FinWait1]
    );
    assert_eq!(codes(&cs[0]), [A::OneSided]);
    assert_eq!(codes(&cs[1]), [A::Midstream, A::OneSided]);
}

/// Corner 7: a capture starting after the client's FIN shows the server's
/// FIN first; the close it reconstructs is a guess, and says so.
#[test]
fn corner_7_inference_is_marked() {
    let c = &connections("cut_after_fin.pcap")[0];
    assert_eq!(
        c.tcp.states(Side::Client),
        [Closed, SynSent, Established, CloseWait]
    );
    assert_eq!(
        c.tcp.states(Side::Server),
        [Listen, SynRcvd, Established, FinWait1, FinWait2]
    );
    assert!(c.tcp.state_inferred(Side::Client) && c.tcp.state_inferred(Side::Server));
    // The start is inferred at the first frame, proven by the client's
    // segment (frame 3), the first from the other direction.
    let inferred: Vec<_> = c
        .tcp
        .transitions()
        .filter(|t| t.inferred)
        .map(|t| (t.frame, t.evidence_frame))
        .collect();
    assert_eq!(inferred, [(Some(1), Some(3)); 4]);
    assert_eq!(codes(c), [A::Midstream]);
}

/// Corner 8: a FIN 5 MB beyond the server's 64 KB window (stream 0), and a
/// handshake-completing ACK 100,000 bytes past the server's RCV.NXT
/// (stream 1): reported, no state moved; the right ACK completes it.
#[test]
fn corner_8_acceptability_before_transitions() {
    let cs = connections("out_of_window.pcap");
    assert_eq!(cs[0].tcp.states(Side::Client), CLIENT_CLOSES_FIRST);
    assert_eq!(cs[0].tcp.states(Side::Server), SERVER_CLOSES_LAST);
    assert_eq!(flagged(&cs[0], A::OutOfWindowSegment), [8]);
    let close_wait = cs[0].tcp.transitions().find(|t| t.to == CloseWait).unwrap();
    assert_eq!(close_wait.frame, Some(10), "the real FIN, not frame 8's");
    assert_eq!(flagged(&cs[1], A::OutOfWindowSegment), [16]);
    let established = cs[1]
        .tcp
        .transitions()
        .find(|t| t.side == Side::Server && t.to == Established)
        .unwrap();
    assert_eq!(established.frame, Some(18), "the right ACK, not frame 16");
    for c in &cs {
        assert_eq!(codes(c), [A::OutOfWindowSegment]);
        assert_eq!(c.tcp.outcome(), Outcome::Closed);
    }
}

/// Corner 9 (stream 0): a RST at the server's last ACK, below the request the
/// server had just received: ignored (Linux answered a challenge ACK and
/// carried on). Corner 11 (stream 1): a RST inside the window, challenged.
#[test]
fn corner_9_rst_window_starts_at_what_was_received() {
    let cs = connections("rst_below_rcv_nxt.pcap");
    for c in &cs {
        assert_eq!(c.tcp.states(Side::Client), CLIENT_CLOSES_FIRST);
        assert_eq!(c.tcp.states(Side::Server), SERVER_CLOSES_LAST);
        assert_eq!(c.tcp.outcome(), Outcome::Closed);
    }
    assert_eq!(codes(&cs[0]), [A::OutOfWindowRst]);
    let a = &cs[0].tcp.anomalies()[0];
    assert_eq!(a.frame, Some(5));
    assert!(
        a.detail.contains("below what the server has received"),
        "{}",
        a.detail
    );
    assert_eq!(codes(&cs[1]), [A::RstChallenged]);
}

/// Corner 10: RST/ACKs injected before the real SYN-ACK. A wrong timestamp
/// echo (stream 0) or a wrong ACK (stream 1): Linux ignored them and so does
/// tcpstate, the handshake completes. Acknowledging the SYN with the right
/// echo (stream 2): the client was refused.
#[test]
fn corner_10_rst_in_syn_sent() {
    let cs = connections("injected_rst.pcap");
    for (c, why) in [(&cs[0], "echoes timestamp"), (&cs[1], "acknowledges")] {
        assert_eq!(c.tcp.states(Side::Client), CLIENT_CLOSES_FIRST);
        assert_eq!(c.tcp.outcome(), Outcome::Closed);
        assert_eq!(codes(c), [A::OutOfWindowRst]);
        assert!(c.tcp.anomalies()[0].detail.contains(why));
    }
    assert_eq!(cs[2].tcp.states(Side::Client), [Closed, SynSent, Closed]);
    assert_eq!(cs[2].tcp.states(Side::Server), [Closed]);
    assert_eq!(cs[2].tcp.outcome(), Outcome::Refused);
    assert_eq!(cs[3].tcp.outcome(), Outcome::Closed);
}

/// Issue 16: one event, one anomaly. The client acknowledging 100 bytes the
/// capture missed (testdata/synth/anomalies.pcap stream 11) used to be both
/// the machines' `ack_unseen_segment` and Wireshark's `ack_lost_segment`; it
/// is counted once, and the retired code still finds it.
#[test]
fn an_acked_unseen_segment_counts_once() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/synth/anomalies.pcap");
    let a = Analyzer::new().analyze_inputs(&[Input::Path(path)]);
    let c = &a.connections[11];
    let at_47: Vec<_> = c
        .anomalies()
        .iter()
        .filter(|a| a.frame == Some(47))
        .map(|a| a.code)
        .collect();
    assert_eq!(at_47, [A::AckLostSegment]);
    // Wireshark's flags of the whole connection: the ACK at 47, then the
    // server's FIN past the gap (49) and its ACK (50), as tshark says.
    assert_eq!(flagged(c, A::AckLostSegment), [47, 50]);
    assert_eq!(
        c.anomaly_counts(),
        [(A::LostSegment, 1), (A::AckLostSegment, 2)]
    );
    assert_eq!(A::from_code("ack_unseen_segment"), Some(A::AckLostSegment));
}

/// Corner 7 in every output: the table marks the guessed states and explains
/// the marker, JSON and CSV carry a boolean per side, `show` marks the frame
/// that inferred them and the final states, the HTML report says so after the
/// states. An observed connection shows none of it.
#[test]
fn inference_is_visible_in_every_output() {
    use tcpstate::report::html::write_html;
    use tcpstate::report::show::{collect, write_story};
    use tcpstate::report::{write_report, Format, Report, Style};

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/real");
    let render = |name: &str, format: Format| {
        let a = Analyzer::new().analyze_inputs(&[Input::Path(root.join(name))]);
        let mut out = Vec::new();
        let style = Style {
            color: false,
            width: None,
            columns: None,
        };
        write_report(&mut out, format, Report::Connections, style, &[a]).unwrap();
        String::from_utf8(out).unwrap()
    };
    let legend = "* inferred: the state rests on transitions the capture did not show";

    let table = render("cut_after_fin.pcap", Format::Table);
    assert!(
        table.contains("CLOSE_WAIT*") && table.contains("FIN_WAIT_2*"),
        "{table}"
    );
    assert!(table.contains(legend), "{table}");
    let plain = render("bad_syn_ack.pcap", Format::Table);
    assert!(!plain.contains('*') && !plain.contains(legend), "{plain}");

    let json = render("cut_after_fin.pcap", Format::Json);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["client_state_inferred"], true);
    assert_eq!(first["server_state_inferred"], true);
    let json = render("bad_syn_ack.pcap", Format::Json);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["client_state_inferred"], false);

    let csv = render("one_sided.pcap", Format::Csv);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        (
            row[col("client_state_inferred")],
            row[col("server_state_inferred")]
        ),
        ("true", "true")
    );

    let story = collect(
        &[Input::Path(root.join("cut_after_fin.pcap"))],
        0,
        &Analyzer::new(),
    );
    let mut out = Vec::new();
    write_story(&mut out, &story).unwrap();
    let show = String::from_utf8(out).unwrap();
    assert!(show.contains("?ESTABLISHED"), "{show}");
    assert!(
        show.contains("final states: client CLOSE_WAIT*, server FIN_WAIT_2*"),
        "{show}"
    );
    assert!(show.contains(legend), "{show}");

    let a = Analyzer::new().analyze_inputs(&[Input::Path(root.join("cut_after_fin.pcap"))]);
    let mut out = Vec::new();
    write_html(&mut out, &[a]).unwrap();
    let html = String::from_utf8(out).unwrap();
    assert!(
        html.contains("CLOSE_WAIT <span class=\"inferred\""),
        "the HTML ladder marks the states"
    );
}
