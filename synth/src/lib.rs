#![warn(missing_docs)]
//! Deterministic synthetic capture generator, used to build the test captures
//! of tcpstate (a development-only crate of its workspace: never published,
//! and not a dependency of the library itself).
//!
//! Real captures are large, often private, and rarely contain the exact corner
//! cases a TCP state tracker has to get right, so the test suite writes its own:
//!
//! * [`Conv`] scripts one TCP connection and keeps the sequence and
//!   acknowledgement numbers consistent, so a scenario is a few lines long;
//! * [`frame`] / [`packet_frame`] turn a [`Segment`] (or a non-TCP [`Special`]
//!   frame) into link-layer bytes for any [`Link`], using etherparse's
//!   `PacketBuilder` so lengths and checksums are right; [`wrapped_frame`] puts
//!   tunnels ([`Wrap`]) in between, and [`fragment_tcp`] and its siblings cut
//!   packets into IP fragments;
//! * [`PcapWriter`] and [`PcapNgWriter`] store frames in either capture format,
//!   including the odd variants readers must cope with (big-endian files,
//!   nanosecond and binary timestamp resolutions, snaplen truncation, simple
//!   and obsolete pcapng packet blocks, unknown blocks, several sections).
//!
//! Nothing here reads a clock or a random source: the same calls always give
//! the same bytes, so generated files can be committed and compared.
//! This is test-support code: invalid requests (e.g. an IPv4 source with an
//! IPv6 destination) panic instead of returning errors.
//!
//! The crate does not depend on tcpstate: [`Segment`], [`TcpFlags`] and
//! [`Side`] are the generator's own script types. The library's unit tests
//! decode generated frames with the real decoder (`test_support` in tcpstate).
//!
//! Modules, one job each: `conv` (scripting), `segment` (script types),
//! `frame` (link types and frame building), `tunnel` (encapsulations),
//! `fragment` (IP fragments), `pcap` and `pcapng` (file writers).

mod conv;
mod fragment;
mod frame;
mod pcap;
mod pcapng;
mod segment;
mod tunnel;

#[cfg(test)]
mod tests;

pub use conv::{filler, typical_syn_options, workload, Conv, Side, Translation, EPOCH_2026_NS};
pub use fragment::{fragment_ipv4_packet, fragment_tcp, fragment_tcp_v6, tcp_transport_bytes};
pub use frame::{frame, packet_frame, Link, Packet, Special, AF_INET, AF_INET6};
pub use pcap::{ByteOrder, PcapFormat, PcapWriter, TsPrecision};
pub use pcapng::{Interface, PcapNgWriter};
pub use segment::{IpExtras, Segment, TcpFlags};
pub use tunnel::{aggregated_frame, ayiya_message, gtpu_message, wrapped_frame, Wrap};
