//! The pipeline: drives packets from a [`PacketSource`] through decoding,
//! reassembly, flow placement and the TCP analysers, with memory bounded by
//! the live connections, and hands finished [`Connection`]s out.
//!
//! [`Analyzer`] is the front door (the CLI builds one from its flags too).
//! Inside: `reader` fills batches of records on a thread of its own;
//! `engine` decodes each batch in parallel, reassembles fragments and counts
//! frames in frame order ([`accounting`]), deals segments to `shard`s by flow
//! key and runs the shards in parallel; `connection` holds the analysers of
//! one connection; [`Analysis`] and [`Summary`] are what comes out.

pub mod accounting;
mod analysis;
mod analyzer;
mod connection;
mod engine;
mod options;
mod reader;
mod shard;
mod source;
mod summary;
mod warnings;

pub use analysis::{Analysis, Evictions};
pub use analyzer::{display_name, Analyzer};
pub use connection::Connection;
pub use engine::{ConnectionSink, Finished, SegmentObserver};
pub use options::{FlowLimits, Progress};
pub use source::{Packet, PacketSource};
pub use summary::{FileSummary, Summary, Totals, SCHEMA_VERSION};
pub use warnings::Warning;
