//! What one capture (or one merged set of files) gave.

use serde::Serialize;

use super::accounting::FrameAccounting;
use super::connection::Connection;
use super::warnings::Warning;
use crate::capture::{CaptureError, FormatKind};
use crate::tcp::zeek::ZeekRecord;

/// Connections finished before the end of the capture, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Evictions {
    /// Both sides had closed and the connection was quiet for 2*MSL.
    pub closed: u64,
    /// No packet for the idle timeout.
    pub idle: u64,
    /// The flow table was full.
    pub limit: u64,
}

impl Evictions {
    /// Adds another count to this one.
    pub fn add(&mut self, o: Evictions) {
        self.closed += o.closed;
        self.idle += o.idle;
        self.limit += o.limit;
    }

    /// All evictions.
    pub fn total(&self) -> u64 {
        self.closed + self.idle + self.limit
    }
}

/// Everything learnt from one capture, including a read error that cut it short.
#[derive(Debug)]
pub struct Analysis {
    /// The input's name as given on the command line (`-` for stdin).
    pub file: String,
    /// None when the file could not even be opened or recognised.
    pub format: Option<FormatKind>,
    /// The input was gzip-compressed.
    pub compressed: bool,
    /// Time of the first frame, the origin of relative times.
    pub first_ts_ns: Option<i64>,
    /// Connections reported.
    pub connections: Vec<Connection>,
    /// The frame accounting.
    pub accounting: FrameAccounting,
    /// Zeek records that no connection holds: every packet of them had a
    /// bad checksum (`--verify-checksums`), so only Zeek's view saw them.
    /// conn.log writes them after the connections' records. At most
    /// `--max-connections` are kept, to bound memory.
    pub zeek_unattached: Vec<ZeekRecord>,
    /// Such records past that bound: counted, not kept.
    pub zeek_unattached_dropped: u64,
    /// SYNs that started a new connection on an endpoint pair already seen.
    pub port_reuses: u64,
    /// Connections finished before the end of the capture to free memory.
    pub evictions: Evictions,
    /// Errors that stopped reading a file; what was read before each is still
    /// analysed (with `--merge`, reading goes on with the next file).
    pub errors: Vec<CaptureError>,
    /// What the report would otherwise hide: merged files that overlap or
    /// leave a gap, checksum offload.
    pub warnings: Vec<Warning>,
}

impl Analysis {
    /// An analysis of nothing: an input with no packets at all.
    pub fn empty(file: &str) -> Analysis {
        Analysis {
            file: file.to_string(),
            format: None,
            compressed: false,
            first_ts_ns: None,
            connections: Vec::new(),
            accounting: FrameAccounting::default(),
            zeek_unattached: Vec::new(),
            zeek_unattached_dropped: 0,
            port_reuses: 0,
            evictions: Evictions::default(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The first read error, if any.
    pub fn error(&self) -> Option<&CaptureError> {
        self.errors.first()
    }
}

impl Analysis {
    /// The connections, in Wireshark's `tcp.stream` order.
    pub fn connections(&self) -> impl Iterator<Item = &Connection> {
        self.connections.iter()
    }

    /// Read errors; what was read before each is still analysed.
    pub fn errors(&self) -> &[CaptureError] {
        &self.errors
    }
}

impl IntoIterator for Analysis {
    type Item = Connection;
    type IntoIter = std::vec::IntoIter<Connection>;

    /// The connections by value, in stream order.
    fn into_iter(self) -> Self::IntoIter {
        self.connections.into_iter()
    }
}
