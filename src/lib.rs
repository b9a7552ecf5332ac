#![warn(missing_docs)]
//! tcpstate: reconstruct what happened to every TCP connection in a packet capture.
//!
//! The library is a straight line of layers, each depending only on the ones
//! before it: [`model`] (the vocabulary: sides, sequence numbers, segments)
//! -> [`capture`] (bytes to numbered records) -> `decode` (records to TCP
//! segments, IP reassembly) -> [`flow`] (segments to connections numbered
//! like Wireshark's `tcp.stream`) -> [`tcp`] (the RFC 9293 machines, the
//! sequence analysis, Zeek's view) -> [`pipeline`] (drives a capture through
//! the line in parallel with bounded memory) -> [`report`] (tables, CSV,
//! JSON, Zeek's conn.log, HTML, the CI gate). [`anomaly`] is the catalogue of
//! codes every analyser raises.
//!
//! Most programs need only [`Analyzer`]:
//!
//! ```
//! use tcpstate::{Analyzer, AnomalyCode, Side, State};
//!
//! let analysis = Analyzer::new().analyze_path("testdata/real/refused.pcap")?;
//! let conns: Vec<_> = analysis.connections().collect();
//! assert_eq!(conns.len(), 2);
//! // Nobody listened on the port: the server side was CLOSED throughout.
//! assert_eq!(conns[0].tcp.states(Side::Server), [State::Closed]);
//! assert!(conns[0].anomalies().iter().any(|a| a.code == AnomalyCode::Refused));
//! # Ok::<(), tcpstate::capture::CaptureError>(())
//! ```

pub mod anomaly;
pub mod capture;
pub(crate) mod decode;
pub mod diff;
pub mod flow;
pub mod model;
pub mod pipeline;
pub mod report;
pub mod tcp;
#[cfg(test)]
mod test_support;

pub use anomaly::{Anomaly, AnomalyCode, Severity};
pub use model::Side;
pub use pipeline::{Analysis, Analyzer, Connection, Packet};
pub use tcp::machine::{Outcome, State};

/// What the integration tests, benches, fuzz targets and examples of this
/// repository reach below the front door. Not part of the API: it changes
/// without notice.
#[doc(hidden)]
pub mod internals {
    pub use crate::decode::defrag::{DefragLimits, FragmentFate, Reassembler};
    pub use crate::decode::{
        decode, decode_frame, decode_reassembled, Content, DecodeOptions, Decoded, Fragment,
        FragmentKey, Frame, IpProtocol, Layers, NonIp, Undecodable, MAX_TUNNELS,
    };
}
