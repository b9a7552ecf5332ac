//! Connection filters for reports and the CI gate: `--host` (an address or
//! a CIDR prefix), `--port`, `--client-port`, `--server-port`, `--stream`,
//! `--anomaly`, `--state`, `--outcome`. Each kind given must match (AND);
//! several values of one kind are alternatives (OR).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::anomaly::AnomalyCode;
use crate::model::Side;
use crate::pipeline::Connection;
use crate::tcp::machine::{Outcome, State};

/// An address prefix: `10.0.0.0/8`, `2001:db8::/32`, or one address (a
/// prefix of its full length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// The network address (bits past the prefix length are cleared).
    pub addr: IpAddr,
    /// Leading bits that must match.
    pub len: u8,
}

impl Prefix {
    /// Whether `addr` is inside this prefix. An IPv4 prefix never contains
    /// an IPv6 address and the other way round (`::ffff:10.0.0.1` is not
    /// in `10.0.0.0/8`), as in Wireshark's `ip.addr` and `ipv6.addr`.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                mask(u128::from(u32::from(a)), self.len, 32) == u128::from(u32::from(net))
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                mask(u128::from(a), self.len, 128) == u128::from(net)
            }
            _ => false,
        }
    }
}

/// `bits` (an address `width` bits wide) with all but the first `len` cleared.
fn mask(bits: u128, len: u8, width: u8) -> u128 {
    if len == 0 {
        return 0;
    }
    let keep = u128::MAX << (width - len);
    bits & keep & (u128::MAX >> (128 - u32::from(width)))
}

impl FromStr for Prefix {
    type Err = String;

    /// `ADDR` or `ADDR/LEN`; host bits set past the length are an error
    /// (`10.0.0.1/8` is probably a typo for `10.0.0.0/8` or `10.0.0.1`).
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR prefix (e.g. 10.0.0.0/8)"))?;
        let width: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => width,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= width)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {width}"))?,
        };
        let bits = match addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        if mask(bits, len, width) != bits {
            return Err(format!(
                "{s:?}: address bits are set past the /{len} prefix (did you mean {}/{len}?)",
                Prefix::network(addr, len)
            ));
        }
        Ok(Prefix { addr, len })
    }
}

impl Prefix {
    fn network(addr: IpAddr, len: u8) -> IpAddr {
        match addr {
            IpAddr::V4(a) => {
                let bits = mask(u128::from(u32::from(a)), len, 32);
                IpAddr::V4((u32::try_from(bits).unwrap_or(0)).into())
            }
            IpAddr::V6(a) => IpAddr::V6(mask(u128::from(a), len, 128).into()),
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl From<IpAddr> for Prefix {
    fn from(addr: IpAddr) -> Prefix {
        Prefix {
            addr,
            len: if addr.is_ipv4() { 32 } else { 128 },
        }
    }
}

/// Which connections a report shows. The default shows all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Address prefixes, either end.
    pub hosts: Vec<Prefix>,
    /// Ports, either end.
    pub ports: Vec<u16>,
    /// The client's port.
    pub client_ports: Vec<u16>,
    /// The server's port.
    pub server_ports: Vec<u16>,
    /// Wireshark stream indices.
    pub streams: Vec<u64>,
    /// Anomaly codes the connection must show.
    pub anomalies: Vec<AnomalyCode>,
    /// Final state of either side.
    pub states: Vec<State>,
    /// How the connection ended.
    pub outcomes: Vec<Outcome>,
}

impl Filter {
    /// True when nothing is filtered out.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Whether a connection passes every given kind of filter. A kind not
    /// given is not looked at (the sink asks this of every connection, and
    /// listing a connection's anomalies allocates).
    pub fn matches(&self, c: &Connection) -> bool {
        let (client, server) = (c.flow.client(), c.flow.server());
        let ends = [client, server];
        (self.hosts.is_empty()
            || ends
                .iter()
                .any(|e| self.hosts.iter().any(|p| p.contains(e.addr))))
            && (self.ports.is_empty() || ends.iter().any(|e| self.ports.contains(&e.port)))
            && (self.client_ports.is_empty() || self.client_ports.contains(&client.port))
            && (self.server_ports.is_empty() || self.server_ports.contains(&server.port))
            && (self.streams.is_empty() || self.streams.contains(&c.flow.stream))
            && (self.anomalies.is_empty()
                || c.anomalies()
                    .iter()
                    .any(|a| self.anomalies.contains(&a.code)))
            && (self.states.is_empty()
                || [Side::Client, Side::Server]
                    .iter()
                    .any(|s| self.states.contains(&c.tcp.state(*s))))
            && (self.outcomes.is_empty() || self.outcomes.contains(&c.tcp.outcome()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_contain_their_addresses_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(p("10.0.0.0/8").contains(ip("10.255.1.2")));
        assert!(!p("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(p("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!p("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(p("0.0.0.0/0").contains(ip("192.0.2.1")));
        assert!(!p("0.0.0.0/0").contains(ip("::1")));
        assert!(p("2001:db8::/32").contains(ip("2001:db8:1::5")));
        assert!(!p("2001:db8::/32").contains(ip("2001:db9::5")));
        assert!(p("::/0").contains(ip("::1")));
        assert!(!p("10.0.0.0/8").contains(ip("::ffff:10.0.0.1")));
        assert!(p("192.168.1.128/25").contains(ip("192.168.1.200")));
        assert!(!p("192.168.1.128/25").contains(ip("192.168.1.100")));
    }

    #[test]
    fn bad_prefixes_are_named() {
        assert!("10.0.0.0/33"
            .parse::<Prefix>()
            .unwrap_err()
            .contains("0 to 32"));
        assert!("10.0.0.1/8"
            .parse::<Prefix>()
            .unwrap_err()
            .contains("did you mean 10.0.0.0/8?"));
        assert!("host"
            .parse::<Prefix>()
            .unwrap_err()
            .contains("not an IP address"));
        assert_eq!(p("2001:db8::/32").to_string(), "2001:db8::/32");
    }
}
