#![warn(missing_docs)]
//! tcpstate: reconstruct what happened to every TCP connection in a packet capture.
//!
//! The data path is a straight line of modules, each with one job:
//! [`capture`] (bytes to numbered records) -> [`decode`] (records to TCP
//! segments) -> [`flow`] (segments to connections numbered like Wireshark's
//! `tcp.stream`) -> [`report`] (connections to tables, CSV, JSON), with
//! [`accounting`] keeping every frame counted, [`defrag`] rebuilding IP
//! datagrams in frame order, and [`analysis`] driving one capture through the
//! line. [`cli`] turns command-line flags into that call.
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

pub mod accounting;
pub mod analysis;
pub mod anomaly;
pub mod api;
pub mod capture;
pub mod check;
pub mod cli;
pub mod conn_log;
pub mod decode;
pub mod defrag;
pub mod filter;
pub mod flow;
pub mod html;
pub mod report;
pub mod seq_analysis;
pub mod show;
pub mod state_machine;
pub mod zeek;

#[cfg(test)]
mod test_support;

pub use analysis::AnalysedConnection as Connection;
pub use anomaly::{Anomaly, AnomalyCode, Severity};
pub use api::{Analysis, Analyzer, Packet};
pub use state_machine::{Outcome, Side, State};
