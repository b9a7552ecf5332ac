//! Zeek's `likely_server_ports` for TCP: the ports its base protocol
//! scripts register (`redef likely_server_ports += { ports }` in
//! `scripts/base/protocols/*/main.zeek`, as `zeek -r` loads them by
//! default). Used where Zeek guesses who the originator is
//! (`TCPAnalyzer::WantConnection`) and by `Conn::port_inactivity_timeouts`.

/// The TCP ports, sorted: ftp (21, 2811), ssh (22), smtp (25, 587), dns
/// (53), finger (79), http (80, 81, 631, 1080, 3128, 8000, 8080, 8888), krb
/// (88), pop3 (110), dce-rpc (135), smb (139, 445), imap (143), ldap (389,
/// 3268), ssl (443, 563, 585, 614, 636, 989, 990, 992, 993, 995, 5223),
/// modbus (502), socks (1080), mqtt (1883), rdp (3389), xmpp (5222, 5269),
/// postgresql (5432), irc (6666-6669), redis (6379), dnp3 (20000).
const LIKELY_SERVER_PORTS: [u16; 46] = [
    21, 22, 25, 53, 79, 80, 81, 88, 110, 135, 139, 143, 389, 443, 445, 502, 563, 585, 587, 614,
    631, 636, 989, 990, 992, 993, 995, 1080, 1883, 2811, 3128, 3268, 3389, 5222, 5223, 5269, 5432,
    6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000,
];

/// Zeek's `IPBasedAnalyzer::IsLikelyServerPort` for a TCP port.
pub(super) fn likely_server_port(port: u16) -> bool {
    LIKELY_SERVER_PORTS.binary_search(&port).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_answers() {
        assert!(LIKELY_SERVER_PORTS.windows(2).all(|w| w[0] < w[1]));
        assert!(likely_server_port(80) && likely_server_port(443) && likely_server_port(22));
        assert!(!likely_server_port(50000) && !likely_server_port(12345));
    }
}
