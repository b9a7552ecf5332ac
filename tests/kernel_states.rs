//! tcpstate's states against the Linux kernel's own, on the real loopback
//! recordings: `scripts/record_loopback.py` polled `ss -tan` during each run and
//! wrote, per socket, the ordered distinct states the kernel reported
//! (`NAME.pcap.ss.txt`). The kernel's final state must equal ours, and every
//! state ss saw must appear, in order, in the states we inferred (ss polls every
//! few ms, so it misses short-lived states but never invents any).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use tcpstate::capture::Input;
use tcpstate::tcp::machine::State;
use tcpstate::Analyzer;
use tcpstate::Side;

/// ss's state names to ours; `(gone)` means the socket no longer exists.
fn kernel_state(name: &str) -> State {
    match name {
        "ESTAB" => State::Established,
        "SYN-SENT" => State::SynSent,
        "SYN-RECV" => State::SynRcvd,
        "FIN-WAIT-1" => State::FinWait1,
        "FIN-WAIT-2" => State::FinWait2,
        "TIME-WAIT" => State::TimeWait,
        "CLOSE-WAIT" => State::CloseWait,
        "LAST-ACK" => State::LastAck,
        "CLOSING" => State::Closing,
        "(gone)" => State::Closed,
        other => panic!("unknown ss state {other}"),
    }
}

/// (local endpoint, peer endpoint) -> states, from an .ss.txt file.
fn kernel_view(path: &Path) -> BTreeMap<(String, String), Vec<State>> {
    let mut m = BTreeMap::new();
    for line in fs::read_to_string(path).unwrap().lines() {
        if line.starts_with('#') || line.trim().is_empty() || line.contains(":*") {
            continue;
        }
        let (sockets, _) = line.split_once('|').unwrap();
        let mut words = sockets.split_whitespace();
        let local = words.next().unwrap().to_string();
        assert_eq!(words.next(), Some("->"));
        let peer = words.next().unwrap().to_string();
        m.insert((local, peer), words.map(kernel_state).collect());
    }
    m
}

fn is_subsequence(small: &[State], big: &[State]) -> bool {
    let mut it = big.iter();
    small.iter().all(|s| it.any(|b| b == s))
}

/// Checks one capture; returns how many sockets were compared.
fn check(name: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/real");
    let analysis = Analyzer::new().analyze_inputs(&[Input::Path(root.join(name))]);
    let kernel = kernel_view(&root.join(format!("{name}.ss.txt")));
    let mut compared = 0;
    for ((local, peer), seen) in &kernel {
        // Every connection on this socket pair, in order (port reuse gives several).
        let conns: Vec<_> = analysis
            .connections
            .iter()
            .filter(|c| {
                let (cl, sv) = (c.flow.client().to_string(), c.flow.server().to_string());
                (cl == *local && sv == *peer) || (sv == *local && cl == *peer)
            })
            .collect();
        assert!(
            !conns.is_empty(),
            "{name}: no connection for {local} -> {peer}"
        );
        let side_of = |c: &&tcpstate::pipeline::Connection| {
            if c.flow.client().to_string() == *local {
                Side::Client
            } else {
                Side::Server
            }
        };
        let ours: Vec<State> = conns
            .iter()
            .flat_map(|c| c.tcp.states(side_of(c)))
            .collect();
        let last = conns.last().unwrap();
        let our_final = last.tcp.state(side_of(last));
        assert_eq!(
            Some(&our_final),
            seen.last(),
            "{name}: {local} -> {peer}: kernel ended in {seen:?}, we in {our_final} ({ours:?})"
        );
        let open_states: Vec<State> = seen
            .iter()
            .copied()
            .filter(|s| *s != State::Closed)
            .collect();
        assert!(
            is_subsequence(&open_states, &ours),
            "{name}: {local} -> {peer}: kernel saw {seen:?}, we inferred {ours:?}"
        );
        compared += 1;
    }
    compared
}

#[test]
fn final_states_agree_with_the_kernel() {
    let cases = [
        ("normal_close_client.pcap", 2),
        ("normal_close_server.pcap", 2),
        ("half_close.pcap", 2),
        ("rst_abort.pcap", 2),
        ("unread_data_rst.pcap", 2),
        ("ipv6.pcap", 2),
        ("any_sll.pcap", 4),
        ("any_sll2.pcap", 4),
        ("port_reuse.pcap", 2),
        ("several_conns.pcap", 14),
        // Recorded between network namespaces by scripts/record_corners.py.
        ("bad_syn_ack.pcap", 2),
        ("rst_after_close.pcap", 2),
        ("tfo.pcap", 6),
        ("out_of_window.pcap", 3),
        ("rst_below_rcv_nxt.pcap", 4),
        ("injected_rst.pcap", 6),
    ];
    for (name, sockets) in cases {
        assert_eq!(check(name), sockets, "{name}");
    }
}

#[test]
fn refused_connections_never_had_a_server_socket() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/real");
    assert!(
        kernel_view(&root.join("refused.pcap.ss.txt")).is_empty(),
        "ss saw no socket at all"
    );
    let a = Analyzer::new().analyze_inputs(&[Input::Path(root.join("refused.pcap"))]);
    for c in &a.connections {
        assert_eq!(
            c.tcp.states(Side::Server),
            [State::Closed],
            "no listener: CLOSED throughout"
        );
        assert_eq!(
            c.tcp.states(Side::Client),
            [State::Closed, State::SynSent, State::Closed]
        );
    }
}

/// SYNs the server's namespace dropped (testdata/real/syn_client_rst.pcap):
/// the kernel never made a server socket for them, and tcpstate's server
/// stays in LISTEN, whether the client gave up silently or with a RST. (The
/// clients' close() in SYN-SENT sends nothing, so their final states are not
/// compared.)
#[test]
fn unanswered_syns_never_made_a_server_socket() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/real");
    let kernel = kernel_view(&root.join("syn_client_rst.pcap.ss.txt"));
    assert!(
        kernel.keys().all(|(local, _)| !local.ends_with(":6003")),
        "only client sockets: {kernel:?}"
    );
    let a = Analyzer::new().analyze_inputs(&[Input::Path(root.join("syn_client_rst.pcap"))]);
    assert_eq!(a.connections.len(), 2);
    for c in &a.connections {
        assert_eq!(c.tcp.states(Side::Server), [State::Listen]);
    }
}
