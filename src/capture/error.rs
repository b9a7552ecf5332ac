//! Errors of the capture reader: one line naming the file and the byte offset.

use std::fmt;
use std::io;

use super::limits::MAX_BLOCK_LEN;

/// A capture that could not be read (or not read to its end).
///
/// Displayed as one line naming the file and the byte offset where reading
/// stopped; for gzip input the offset counts decompressed bytes, and says so.
#[derive(Debug)]
pub struct CaptureError {
    /// The input's name as given (`-` for stdin).
    pub file: String,
    /// Byte offset in the input.
    pub offset: u64,
    /// The input was gzip-compressed.
    pub compressed: bool,
    /// What went wrong.
    pub kind: CaptureErrorKind,
}

#[derive(Debug)]
/// What stopped the reader.
pub enum CaptureErrorKind {
    /// The file could not be opened.
    Open(io::Error),
    /// Reading failed after the file was opened.
    Io(io::Error),
    /// The input holds no byte at all.
    Empty,
    /// The first four bytes are no pcap, pcapng or gzip magic number.
    NotACapture([u8; 4]),
    /// The input ended at byte `end` inside the named structure.
    Truncated {
        /// The structure that was cut short.
        what: &'static str,
        /// Byte offset where the input ends.
        end: u64,
    },
    /// A record longer than a limit: corruption, not a packet.
    RecordTooLong {
        /// The captured length the record claims.
        caplen: u32,
        /// The limit it exceeds.
        limit: u32,
        /// What the limit is.
        why: &'static str,
    },
    /// A pcapng block length below 12, not a multiple of 4, or over the limit.
    BadBlockLength(u32),
    /// A header or block contradicts itself (the text says how).
    Malformed(String),
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CaptureErrorKind::*;
        if let Open(e) = &self.kind {
            return write!(f, "{}: cannot open: {e}", self.file);
        }
        let at = if self.compressed {
            format!("byte {} (of decompressed data)", self.offset)
        } else {
            format!("byte {}", self.offset)
        };
        write!(f, "{}: {at}: ", self.file)?;
        match &self.kind {
            Open(_) => Ok(()),
            Io(e) => write!(f, "read error: {e}"),
            Empty => f.write_str("file is empty, not a pcap or pcapng capture"),
            NotACapture(m) => write!(
                f,
                "not a pcap or pcapng file (starts with {:02x} {:02x} {:02x} {:02x})",
                m[0], m[1], m[2], m[3]
            ),
            Truncated { what, end } => write!(
                f,
                "truncated: {what} starts here but the input ends at byte {end}"
            ),
            RecordTooLong { caplen, limit, why } => write!(
                f,
                "record claims a captured length of {caplen} bytes, more than the {why} ({limit})"
            ),
            BadBlockLength(len) => write!(
                f,
                "pcapng block has an invalid length {len} (must be a multiple of 4, at least 12, at most {MAX_BLOCK_LEN})"
            ),
            Malformed(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for CaptureError {}
