//! tcpstate: reconstruct what happened to every TCP connection in a packet capture.
//!
//! The data path is a straight line of modules, each with one job:
//! [`capture`] (bytes to numbered records) -> [`decode`] (records to TCP
//! segments) -> [`flow`] (segments to connections numbered like Wireshark's
//! `tcp.stream`) -> [`report`] (connections to tables, CSV, JSON), with
//! [`accounting`] keeping every frame counted and [`analysis`] driving one
//! capture through the line. [`cli`] turns command-line flags into that call.

pub mod accounting;
pub mod analysis;
pub mod anomaly;
pub mod capture;
pub mod check;
pub mod cli;
pub mod conn_log;
pub mod decode;
pub mod filter;
pub mod flow;
pub mod report;
pub mod seq_analysis;
pub mod show;
pub mod state_machine;
pub mod synth;
pub mod zeek;
