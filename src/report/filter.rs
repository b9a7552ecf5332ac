//! Connection filters for reports: `--host`, `--port`, `--stream`,
//! `--anomaly`, `--state`. Each kind given must match (AND); several values
//! of one kind are alternatives (OR).

use std::net::IpAddr;

use crate::anomaly::AnomalyCode;
use crate::model::Side;
use crate::pipeline::Connection;
use crate::tcp::machine::State;

/// Which connections a report shows. The default shows all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Addresses, either end.
    pub hosts: Vec<IpAddr>,
    /// Ports, either end.
    pub ports: Vec<u16>,
    /// Wireshark stream indices.
    pub streams: Vec<u64>,
    /// Anomaly codes the connection must show.
    pub anomalies: Vec<AnomalyCode>,
    /// Final state of either side.
    pub states: Vec<State>,
}

impl Filter {
    /// True when nothing is filtered out.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Whether a connection passes every given kind of filter.
    pub fn matches(&self, c: &Connection) -> bool {
        let ends = [c.flow.client(), c.flow.server()];
        let any = |ok: bool, empty: bool| empty || ok;
        any(
            ends.iter().any(|e| self.hosts.contains(&e.addr)),
            self.hosts.is_empty(),
        ) && any(
            ends.iter().any(|e| self.ports.contains(&e.port)),
            self.ports.is_empty(),
        ) && any(
            self.streams.contains(&c.flow.stream),
            self.streams.is_empty(),
        ) && any(
            c.anomalies()
                .iter()
                .any(|a| self.anomalies.contains(&a.code)),
            self.anomalies.is_empty(),
        ) && any(
            [Side::Client, Side::Server]
                .iter()
                .any(|s| self.states.contains(&c.tcp.state(*s))),
            self.states.is_empty(),
        )
    }
}
