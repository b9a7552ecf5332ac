//! `tcpstate extract`: the frames of the connections a filter selects,
//! written as pcapng with their interfaces, link types and timestamps, and
//! optionally a comment on every frame that moved a state or raised an
//! anomaly, so Wireshark (`-Y frame.comment`) walks through what happened.
//!
//! Two passes over the file: the analysis (connections are judged by the
//! filter as they finish, and the frame numbers of the selected ones kept),
//! then the file read again and the selected frames copied. Memory holds the
//! frame numbers of the live connections and of the selected ones (8 bytes
//! each) and the comments of the selected ones.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::capture::{CaptureError, CaptureReader, Input, PcapNgWriter};
use crate::pipeline::{Analyzer, Connection};

use super::filter::Filter;

/// What an extraction wrote and what stopped it reading.
#[derive(Debug, Default)]
pub struct Extract {
    /// Connections (parts of streams) the filter selected.
    pub connections: u64,
    /// Frames written.
    pub frames: u64,
    /// Frames written with a comment.
    pub comments: u64,
    /// Errors that stopped reading the input: what was read before is
    /// analysed and its selected frames written.
    pub errors: Vec<CaptureError>,
}

/// The comment of each frame of `c` that moved a state or raised an
/// anomaly: `client FIN_WAIT_1 -> FIN_WAIT_2; server ESTABLISHED ->
/// CLOSE_WAIT`, `out_of_window_rst: <detail>`, joined by `; ` in that order.
pub fn frame_comments(c: &Connection) -> HashMap<u64, String> {
    let mut comments: HashMap<u64, String> = HashMap::new();
    let mut add = |frame: u64, text: String| {
        let s = comments.entry(frame).or_default();
        if !s.is_empty() {
            s.push_str("; ");
        }
        s.push_str(&text);
    };
    for t in c.tcp.transitions() {
        if let Some(frame) = t.frame {
            let inferred = if t.inferred { " (inferred)" } else { "" };
            add(
                frame,
                format!("{} {} -> {}{inferred}", t.side, t.from, t.to),
            );
        }
    }
    for a in c.anomalies() {
        if let Some(frame) = a.frame {
            add(frame, format!("{}: {}", a.code, a.detail));
        }
    }
    comments
}

/// Writes to `out` the frames of capture file `path` that belong to the
/// connections `filter` selects, with comments when `annotate`. Fails
/// only when the file cannot be opened or is not a capture, or `out`
/// cannot be written.
pub fn extract(
    analyzer: &Analyzer,
    path: &Path,
    filter: &Filter,
    annotate: bool,
    out: impl Write,
) -> Result<Extract, ExtractError> {
    let input = Input::Path(path.to_path_buf());
    // Fail early, before the analysis, if the file is no capture at all.
    CaptureReader::open(&input).map_err(ExtractError::Capture)?;

    // Pass 1: frames per live stream; a finished connection's frames (those
    // up to its last frame: a stream's next part may have begun) are kept
    // if the filter selects it, dropped otherwise.
    let live: RefCell<HashMap<u64, Vec<u64>>> = RefCell::default();
    let mut selected: Vec<u64> = Vec::new();
    let mut comments: HashMap<u64, String> = HashMap::new();
    let mut connections = 0;
    let analysis = analyzer.observe_stream_inputs(
        std::slice::from_ref(&input),
        &mut |seg, stream, _| live.borrow_mut().entry(stream).or_default().push(seg.frame),
        &mut |finished| {
            let mut live = live.borrow_mut();
            for c in finished {
                let stream = c.flow.stream;
                let frames = live.remove(&stream).unwrap_or_default();
                let (mine, later): (Vec<u64>, Vec<u64>) =
                    frames.into_iter().partition(|&f| f <= c.flow.last_frame);
                if !later.is_empty() {
                    live.insert(stream, later);
                }
                if filter.matches(&c) {
                    connections += 1;
                    selected.extend(mine);
                    if annotate {
                        comments.extend(frame_comments(&c));
                    }
                }
            }
        },
    );
    selected.sort_unstable();
    selected.dedup();

    // Pass 2: copy the selected frames.
    let mut done = Extract {
        connections,
        errors: analysis.errors,
        ..Extract::default()
    };
    let mut reader = CaptureReader::open(&input).map_err(ExtractError::Capture)?;
    let mut w = PcapNgWriter::new(out).map_err(ExtractError::Write)?;
    let mut wanted = selected.iter().copied().peekable();
    while wanted.peek().is_some() {
        let pkt = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                // The analysis stopped at the same place and said so.
                if done.errors.is_empty() {
                    done.errors.push(e);
                }
                break;
            }
        };
        if wanted.peek() != Some(&pkt.frame) {
            continue;
        }
        wanted.next();
        let (frame, ts_ns, orig_len) = (pkt.frame, pkt.ts_ns, pkt.orig_len);
        // A copy, so the reader can be asked where the packet came from.
        let data = pkt.data.to_vec();
        let Some(origin) = reader.last_origin() else {
            continue;
        };
        let comment = comments.get(&frame).map(String::as_str);
        w.write_packet(&origin, ts_ns, &data, orig_len, comment)
            .map_err(ExtractError::Write)?;
        done.frames += 1;
        done.comments += u64::from(comment.is_some());
    }
    w.finish().map_err(ExtractError::Write)?;
    Ok(done)
}

/// Why an extraction could not be done at all.
#[derive(Debug)]
pub enum ExtractError {
    /// The input could not be opened or is not a capture.
    Capture(CaptureError),
    /// The output could not be written.
    Write(std::io::Error),
}

impl std::fmt::Display for ExtractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExtractError::Capture(e) => write!(f, "{e}"),
            ExtractError::Write(e) => write!(f, "cannot write the extract: {e}"),
        }
    }
}

impl std::error::Error for ExtractError {}
