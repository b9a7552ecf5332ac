//! Analysis of one capture: the straight line capture -> decode -> flow.
//!
//! Records are read in batches; rayon decodes a batch in parallel (decoding is
//! independent per frame), then segments are placed into connections in frame
//! order, which stream numbering requires.

use rayon::prelude::*;

use crate::accounting::FrameAccounting;
use crate::capture::{CaptureError, CaptureReader, FormatKind, Input, RawPacket};
use crate::decode::{decode, Decoded, Segment};
use crate::flow::{Connection, Dir, FlowTable};

/// Frames decoded per parallel batch.
const BATCH_FRAMES: usize = 8192;

/// Everything learnt from one capture, including a read error that cut it short.
#[derive(Debug)]
pub struct CaptureAnalysis {
    /// The input's name as given on the command line (`-` for stdin).
    pub file: String,
    /// None when the file could not even be opened or recognised.
    pub format: Option<FormatKind>,
    pub compressed: bool,
    pub connections: Vec<Connection>,
    pub accounting: FrameAccounting,
    /// SYNs that started a new connection on an endpoint pair already seen.
    pub port_reuses: u64,
    /// The error that stopped reading; what was read before it is still analysed.
    pub error: Option<CaptureError>,
}

/// Called for every TCP segment in frame order, with its stream index and direction.
pub type SegmentObserver<'a> = &'a mut dyn FnMut(&Segment, u64, Dir);

/// Reads and analyses one input to its end or to its first unreadable byte.
pub fn analyze(input: &Input) -> CaptureAnalysis {
    analyze_with(input, &mut |_, _, _| {})
}

/// Like [`analyze`], also showing every segment to `observer` as it is placed.
pub fn analyze_with(input: &Input, observer: SegmentObserver<'_>) -> CaptureAnalysis {
    match CaptureReader::open(input) {
        Ok(reader) => analyze_reader(reader, observer),
        Err(e) => CaptureAnalysis {
            file: input.display_name(),
            format: None,
            compressed: false,
            connections: Vec::new(),
            accounting: FrameAccounting::default(),
            port_reuses: 0,
            error: Some(e),
        },
    }
}

/// A batch of records copied out of the reader's buffer so they can be decoded in parallel.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// (frame, ts_ns, linktype, start in `bytes`, captured len, orig_len)
    records: Vec<(u64, i64, u16, usize, usize, u32)>,
}

impl Batch {
    fn push(&mut self, p: &RawPacket<'_>) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(p.data);
        self.records.push((
            p.frame,
            p.ts_ns,
            p.linktype,
            start,
            p.data.len(),
            p.orig_len,
        ));
    }

    fn decode_all(&self) -> Vec<Decoded> {
        self.records
            .par_iter()
            .with_min_len(256)
            .map(|&(frame, ts_ns, linktype, start, len, orig_len)| {
                decode(&RawPacket {
                    frame,
                    ts_ns,
                    linktype,
                    data: &self.bytes[start..start + len],
                    orig_len,
                })
            })
            .collect()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
    }
}

/// Analyses an already-opened capture.
pub fn analyze_reader(mut reader: CaptureReader, observer: SegmentObserver<'_>) -> CaptureAnalysis {
    let mut accounting = FrameAccounting::default();
    let mut flows = FlowTable::new();
    let mut batch = Batch::default();
    let mut error = None;
    loop {
        let mut done = false;
        while batch.records.len() < BATCH_FRAMES {
            match reader.next_packet() {
                Ok(Some(p)) => batch.push(&p),
                Ok(None) => {
                    done = true;
                    break;
                }
                Err(e) => {
                    error = Some(e);
                    done = true;
                    break;
                }
            }
        }
        for d in batch.decode_all() {
            accounting.count(&d);
            if let Decoded::Tcp(seg) = d {
                let (stream, dir) = flows.add(&seg);
                observer(&seg, stream, dir);
            }
        }
        batch.clear();
        if done {
            break;
        }
    }
    CaptureAnalysis {
        file: reader.name().to_string(),
        format: Some(reader.format()),
        compressed: reader.is_compressed(),
        port_reuses: flows.port_reuses(),
        connections: flows.into_connections(),
        accounting,
        error,
    }
}
