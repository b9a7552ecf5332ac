//! The reading thread: records gathered into batches, so the next batch is
//! read while the last is analysed. Records of a mapped file are not copied:
//! a batch holds the map and where each record lies in it, and releases the
//! pages behind its records once it is cleared (after decoding); records of
//! a stream (a pipe, gzip, packets from an iterator) are copied out of the
//! reader's buffer, which moves on. A batch goes on when
//! it is full or, from a live source (a pipe), when input pauses or the
//! batch has waited [`FLUSH_AFTER`]: rows of a live capture then come within
//! about a second, and batch boundaries never change what is reported.

use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::options::Progress;
use super::shard::{KeyedFrame, SHARDS};
use super::source::Sources;
use super::warnings::SourceSpan;
use crate::capture::{CaptureError, FormatKind, RawPacket, SharedMap};
use crate::decode::{decode_frame_into, Content, DecodeOptions, Decoded};
use crate::flow::{KeyOptions, Keyer};

/// Frames decoded per parallel batch.
pub(crate) const BATCH_FRAMES: usize = 16384;

/// Wall time a live source's packets wait in a batch at most.
pub(crate) const FLUSH_AFTER: Duration = Duration::from_millis(500);

/// A live source without input for this long has paused: its batch goes on.
const PAUSE: Duration = Duration::from_millis(20);

/// A live source quiet for this long moves the capture clock on by the wall
/// time since its last packet came (see [`Batch::quiet_clock`]).
pub(crate) const QUIET_TICK: Duration = Duration::from_secs(1);

/// A batch of records, in a mapped file or copied out of the reader's
/// buffer, so they can be decoded in parallel.
#[derive(Default)]
pub(crate) struct Batch {
    /// The copied records' bytes (empty when the records lie in `map`).
    pub(crate) bytes: Vec<u8>,
    /// (frame, ts_ns, linktype, start in `map` or else in `bytes`, captured len, orig_len)
    pub(crate) records: Vec<(u64, i64, u16, usize, usize, u32)>,
    /// With no records: a live source has been quiet, and the capture clock
    /// has reached this time (its latest packet's time plus the wall time
    /// since that packet came), as a live Zeek's network time does. So a
    /// closed connection's TIME_WAIT and idle timeouts run out while nothing
    /// arrives, and their rows come without waiting for more traffic.
    pub(crate) quiet_clock: Option<i64>,
    /// The mapped file all the records lie in, if they are not copied.
    map: Option<SharedMap>,
    /// Where the last record ends in `map`.
    map_end: usize,
}

impl Batch {
    /// Copies a packet in; `frame_offset` continues numbering across merged files.
    pub(crate) fn push(&mut self, p: &RawPacket<'_>, frame_offset: u64) {
        debug_assert!(self.map.is_none());
        let start = self.bytes.len();
        self.bytes.extend_from_slice(p.data);
        self.push_record(p, frame_offset, start);
    }

    /// Takes a packet of `map` that starts at `at` in it, without copying.
    fn push_mapped(&mut self, p: &RawPacket<'_>, frame_offset: u64, map: &SharedMap, at: usize) {
        if self.map.is_none() {
            self.map = Some(map.clone());
        }
        self.map_end = at + p.data.len();
        self.push_record(p, frame_offset, at);
    }

    #[inline]
    fn push_record(&mut self, p: &RawPacket<'_>, frame_offset: u64, start: usize) {
        self.records.push((
            p.frame + frame_offset,
            p.ts_ns,
            p.linktype,
            start,
            p.data.len(),
            p.orig_len,
        ));
    }

    /// Whether records of `map` (None: copied records) can join this batch:
    /// a batch's records all lie in one map, or are all copied.
    fn takes(&self, map: Option<&SharedMap>) -> bool {
        self.records.is_empty()
            || match (&self.map, map) {
                (None, None) => true,
                (Some(a), Some(b)) => a.same(b),
                _ => false,
            }
    }

    /// Decodes every record into `frames` (cleared first; its buffer is
    /// reused), with the flow key and shard of each TCP segment whose key
    /// needs no shared state (no tunnel to intern).
    pub(crate) fn decode_into(
        &self,
        options: DecodeOptions,
        keys: KeyOptions,
        frames: &mut Vec<KeyedFrame>,
    ) {
        let data: &[u8] = match &self.map {
            Some(map) => map.bytes(),
            None => &self.bytes,
        };
        // Each frame is written over the last batch's in its place, so the
        // old frames are dropped by the workers, in parallel, not one by one
        // on the thread that orders the batch (collecting anew would drop
        // them all there first), and a segment is written straight into the
        // last batch's segment in its slot, not moved there.
        let n = self.records.len();
        frames.truncate(n);
        frames.resize_with(n, KeyedFrame::placeholder);
        frames
            .par_iter_mut()
            .zip(self.records.par_iter())
            .with_min_len(512)
            .for_each(|(slot, &(frame, ts_ns, linktype, start, len, orig_len))| {
                let pkt = RawPacket {
                    frame,
                    ts_ns,
                    linktype,
                    data: &data[start..start + len],
                    orig_len,
                };
                decode_frame_into(&pkt, options, &mut slot.frame);
                slot.key = match &slot.frame.content {
                    Content::Decoded(Decoded::Tcp(seg)) => {
                        Keyer::plain_key(keys, seg).map(|k| (k, k.shard(SHARDS) as u32))
                    }
                    _ => None,
                };
            });
    }

    /// Empties the batch for reuse; the pages of a mapped file before its
    /// last record's end are released (earlier batches are done too).
    pub(crate) fn clear(&mut self) {
        if let Some(map) = self.map.take() {
            map.release_before(self.map_end);
        }
        self.map_end = 0;
        self.bytes.clear();
        self.records.clear();
        self.quiet_clock = None;
    }
}

/// What the reading thread learnt about the inputs.
#[derive(Default)]
pub(crate) struct ReadSummary {
    pub(crate) format: Option<FormatKind>,
    pub(crate) compressed: bool,
    pub(crate) errors: Vec<CaptureError>,
    /// The earliest packet time (not the first packet's: out-of-order times
    /// and merged files that overlap never make a negative relative time).
    pub(crate) first_ts: Option<i64>,
    /// Each input's time span, in the order read (inputs with packets only).
    pub(crate) spans: Vec<SourceSpan>,
}

/// Reads the inputs into batches of records and sends each full batch on,
/// taking emptied batches back from `recycled` so buffers are reused.
pub(crate) fn read_batches(
    readers: Sources<'_>,
    progress: Option<&Progress>,
    full: std::sync::mpsc::SyncSender<Batch>,
    recycled: std::sync::mpsc::Receiver<Batch>,
) -> ReadSummary {
    let mut out = ReadSummary::default();
    let mut frame_offset = 0;
    let mut batch = Batch::default();
    for reader in readers {
        let mut reader = match reader {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(e);
                continue;
            }
        };
        if let Some(format) = reader.format() {
            out.format.get_or_insert(format);
        }
        out.compressed |= reader.is_compressed();
        let mut reported = 0;
        let name = reader.name().to_string();
        let mut span: Option<(SourceSpan, i64)> = None;
        let live = reader.is_live();
        // A mapped file's records are not copied.
        let mut map = reader.shared_map();
        // When the batch's first packet arrived, for a live source.
        let mut since = Instant::now();
        // The latest packet time so far and the wall time it came, live only.
        let mut latest: Option<(i64, Instant)> = None;
        loop {
            if live && !batch.records.is_empty() {
                // About to wait for a pipe: hand over what there is first,
                // once input has paused or the batch is old enough.
                let left = FLUSH_AFTER.saturating_sub(since.elapsed());
                if left.is_zero() || (!reader.ready() && !reader.wait_input(left.min(PAUSE))) {
                    let next = recycled.try_recv().unwrap_or_default();
                    if full.send(std::mem::replace(&mut batch, next)).is_err() {
                        return out;
                    }
                }
            }
            if live && batch.records.is_empty() {
                if let Some((ts, came)) = latest {
                    // Nothing to hand over: while the pipe stays quiet, tell
                    // the analysis how far the clock has moved.
                    while !reader.ready() && !reader.wait_input(QUIET_TICK) {
                        let quiet = i64::try_from(came.elapsed().as_nanos()).unwrap_or(i64::MAX);
                        let tick = Batch {
                            quiet_clock: Some(ts.saturating_add(quiet)),
                            ..recycled.try_recv().unwrap_or_default()
                        };
                        if full.send(tick).is_err() {
                            return out;
                        }
                    }
                }
            }
            match reader.next_packet() {
                Ok(Some(p)) => {
                    out.first_ts = Some(out.first_ts.map_or(p.ts_ns, |t| t.min(p.ts_ns)));
                    match &mut span {
                        Some((s, prev)) => {
                            s.add(*prev, p.ts_ns);
                            *prev = p.ts_ns;
                        }
                        None => span = Some((SourceSpan::new(&name, p.ts_ns), p.ts_ns)),
                    }
                    if live {
                        if batch.records.is_empty() {
                            since = Instant::now();
                        }
                        if latest.is_none_or(|(ts, _)| p.ts_ns >= ts) {
                            latest = Some((p.ts_ns, Instant::now()));
                        }
                    }
                    let at = map.as_ref().and_then(|m| m.offset_of(p.data));
                    if at.is_none() {
                        // Never so for a map; copied from here on if it were.
                        map = None;
                    }
                    if !batch.takes(map.as_ref()) {
                        let next = recycled.try_recv().unwrap_or_default();
                        if full.send(std::mem::replace(&mut batch, next)).is_err() {
                            return out;
                        }
                    }
                    match (&map, at) {
                        (Some(m), Some(at)) => batch.push_mapped(&p, frame_offset, m, at),
                        _ => batch.push(&p, frame_offset),
                    }
                    if batch.records.len() >= BATCH_FRAMES {
                        let next = recycled.try_recv().unwrap_or_default();
                        if full.send(std::mem::replace(&mut batch, next)).is_err() {
                            return out;
                        }
                        if let (Some(progress), false) = (progress, reader.is_compressed()) {
                            progress(
                                reader.offset() - reported,
                                frame_offset + reader.frames_read(),
                            );
                            reported = reader.offset();
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.errors.push(e);
                    break;
                }
            }
        }
        frame_offset += reader.frames_read();
        out.spans.extend(span.map(|(s, _)| s));
    }
    if !batch.records.is_empty() {
        let _ = full.send(batch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureReader, Input};
    use crate::pipeline::source::PacketSource;

    /// Every batch `read_batches` hands on for one input, decoded.
    fn batches(path: &str) -> Vec<(bool, Vec<KeyedFrame>)> {
        let input = Input::Path(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path));
        let sources: Sources<'static> = Box::new(std::iter::once(
            CaptureReader::open(&input).map(|r| Box::new(r) as Box<dyn PacketSource>),
        ));
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel(1);
        let (_empty_tx, empty_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || read_batches(sources, None, full_tx, empty_rx));
        let mut out = Vec::new();
        for mut batch in full_rx {
            let mut frames = Vec::new();
            batch.decode_into(DecodeOptions::default(), KeyOptions::default(), &mut frames);
            out.push((batch.map.is_some() && batch.bytes.is_empty(), frames));
            batch.clear();
            assert!(batch.map.is_none());
        }
        let read = reader.join().unwrap();
        assert!(read.errors.is_empty());
        out
    }

    /// A mapped file's records are decoded where they lie; a gzip stream's
    /// are copied; both decode to the same frames and keys.
    #[test]
    fn mapped_records_are_not_copied_and_decode_as_copied_ones() {
        let mapped = batches("testdata/real/normal_close_client.pcap");
        let copied = batches("testdata/real/normal_close_client.pcap.gz");
        assert!(mapped.iter().all(|(in_map, _)| *in_map));
        assert!(copied.iter().all(|(in_map, _)| !*in_map));
        let frames = |b: &[(bool, Vec<KeyedFrame>)]| -> Vec<_> {
            b.iter()
                .flat_map(|(_, f)| f.iter().map(|k| (k.frame.clone(), k.key)))
                .collect()
        };
        let (m, c) = (frames(&mapped), frames(&copied));
        assert!(m.len() > 5);
        assert_eq!(m, c);
    }
}
