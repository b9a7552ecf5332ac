//! Zeek's view of TCP, for users who read conn.log: which connections Zeek
//! would log, when each starts and ends, and its `conn_state`, `history`,
//! byte and packet counts and `missed_bytes`, worked out by Zeek's rules
//! (read in Zeek's source, cited next to each rule) rather than by
//! Wireshark's.
//!
//! Zeek keys a connection by its 5-tuple alone ([`ZeekSessions`]; tunnels
//! never, VLANs as [`crate::flow::KeyOptions::vlan`] says) and ends it by
//! timers ([`ZeekConfig`]: the attempt timer, the close delay, the
//! inactivity timeout) or when a SYN reuses its ports; the next packet then
//! starts a new connection with Zeek's own guess of who originated it. So
//! one Wireshark stream may be several conn.log records, and the uplink and
//! downlink of a connection in two tunnels one record.
//!
//! Per connection (`tracker.rs`) Zeek keeps coarse endpoint states
//! ([`ZeekState`]), sequence spaces in its own representation, and a
//! reassembler whose acknowledged-but-unseen ranges are the content gaps
//! (G/g, `missed_bytes`); `endpoint.rs` has those, `history.rs` the
//! letters, `record.rs` what is logged, `ports.rs` Zeek's likely server
//! ports, `sessions.rs` Zeek's connection table.

mod endpoint;
mod history;
mod ports;
mod record;
mod sessions;
mod tracker;

pub use endpoint::ZeekState;
pub use record::{ZeekRecord, ZeekView};
pub use sessions::{Finished, Touch, ZeekSessions};

/// Zeek's timers and limits that decide where conn.log records begin and
/// end; the defaults are Zeek's (`scripts/base/init-bare.zeek`,
/// `base/frameworks/tunnels`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZeekConfig {
    /// `tcp_attempt_delay`: a connection whose originator sent a SYN and
    /// whose responder never spoke is removed this long after the SYN
    /// (0: never).
    pub attempt_delay_ns: i64,
    /// `tcp_close_delay`: a connection is removed this long after its last
    /// packet once it closed (both FINs, a RST, or a FIN to a silent peer).
    pub close_delay_ns: i64,
    /// `tcp_inactivity_timeout`: a connection is removed after this long
    /// without a packet (0: never), once its handshake is over (before
    /// that Zeek uses `udp_inactivity_timeout`, 1 min).
    pub inactivity_timeout_ns: i64,
    /// `Tunnel::max_changes_per_connection`: tunnel changes counted before
    /// the next one marks the history with `X` (0: no limit).
    pub max_tunnel_changes: u32,
}

impl Default for ZeekConfig {
    /// 5 s, 5 s, 5 min and 5, as Zeek ships them.
    fn default() -> ZeekConfig {
        ZeekConfig {
            attempt_delay_ns: 5_000_000_000,
            close_delay_ns: 5_000_000_000,
            inactivity_timeout_ns: 300_000_000_000,
            max_tunnel_changes: 5,
        }
    }
}

#[cfg(test)]
mod tests;
