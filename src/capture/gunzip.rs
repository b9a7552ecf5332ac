//! Gzip decompression that hands out every byte inflated before a corruption.
//!
//! flate2's `GzDecoder` and `MultiGzDecoder` drop the output of the `read`
//! call that runs into corrupt deflate data, so how many frames of a corrupt
//! `.gz` capture came out depended on how its compressed bytes arrived (a file
//! read 1 MiB at a time lost them all, a slow pipe none;
//! testdata/fuzz/capture/gzip_frames_before_corruption.bin). This decoder
//! drives `flate2::Decompress` itself: output produced before an error is
//! returned first, the error on the next call.
//!
//! It reads RFC 1952 members one after the other (multi-member files, as `cat
//! a.gz b.gz` or pigz make them), checks every header (and its CRC-16 when
//! present) and every trailer (CRC-32 and length), and says whether the input
//! ended inside a member. The compressed input is a mapped file or a stream
//! read in chunks.

use std::io::{self, Read};

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::source::{Behind, FeedError, SharedMap};

/// Size of deflate's window, and of the ring buffer miniz_oxide inflates into
/// before copying out. miniz_oxide loses the bytes still in that ring buffer
/// when it meets corrupt data with too little room in the caller's output, so
/// each call is given exactly the room up to the ring buffer's wrap point
/// (which is `total_out % DICT`, as every byte is always copied out): then
/// everything it inflates fits. When the caller has less room than that, the
/// call inflates into the decoder's own `spill` buffer instead.
const DICT: usize = 32 * 1024;

const FTEXT_RESERVED: u8 = 0xe0;
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;

/// The compressed bytes: a mapped file, or a stream read in chunks.
pub(super) enum GzInput {
    /// A mapped file; `pos` is the next unread byte.
    Mapped {
        map: SharedMap,
        pos: usize,
        behind: Behind,
    },
    /// A stream; `buf[start..end]` is read and not yet decompressed.
    Stream {
        src: Box<dyn Read + Send>,
        buf: Vec<u8>,
        start: usize,
        end: usize,
        eof: bool,
    },
}

impl GzInput {
    fn available(&self) -> &[u8] {
        match self {
            GzInput::Mapped { map, pos, .. } => &map.bytes()[*pos..],
            GzInput::Stream {
                buf, start, end, ..
            } => &buf[*start..*end],
        }
    }

    fn consume(&mut self, n: usize) {
        match self {
            GzInput::Mapped { map, pos, behind } => {
                *pos += n;
                behind.release(map.mmap(), *pos);
            }
            GzInput::Stream { start, .. } => *start += n,
        }
    }

    /// Called when nothing is available: reads more, false at the end of input.
    fn refill(&mut self) -> io::Result<bool> {
        match self {
            GzInput::Mapped { .. } => Ok(false),
            GzInput::Stream {
                src,
                buf,
                start,
                end,
                eof,
            } => {
                *start = 0;
                *end = 0;
                while !*eof {
                    match src.read(buf) {
                        Ok(0) => *eof = true,
                        Ok(n) => {
                            *end = n;
                            return Ok(true);
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(false)
            }
        }
    }

    /// Whether reading more may block (a pipe): then output ready is returned first.
    fn may_block(&self) -> bool {
        matches!(self, GzInput::Stream { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Fixed,
    XLen,
    Extra,
    Name,
    Comment,
    HeaderCrc,
}

/// An RFC 1952 member header, parsed a byte at a time (it may arrive in pieces
/// and its file name and comment have no length limit).
struct Header {
    step: Step,
    fixed: [u8; 10],
    /// Bytes seen of the current fixed-size part.
    n: usize,
    extra_left: usize,
    crc: Crc,
}

impl Header {
    fn new() -> Header {
        Header {
            step: Step::Fixed,
            fixed: [0; 10],
            n: 0,
            extra_left: 0,
            crc: Crc::new(),
        }
    }

    fn flags(&self) -> u8 {
        self.fixed[3]
    }

    /// The first part after `s` that the flags announce, or None: header complete.
    fn after(&self, s: Step) -> Option<Step> {
        [
            (Step::XLen, FEXTRA),
            (Step::Name, FNAME),
            (Step::Comment, FCOMMENT),
            (Step::HeaderCrc, FHCRC),
        ]
        .into_iter()
        .find(|&(step, flag)| step > s && self.flags() & flag != 0)
        .map(|(step, _)| step)
    }

    /// Consumes header bytes from `input`; returns how many, and whether the
    /// header is complete.
    fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), &'static str> {
        for (i, &b) in input.iter().enumerate() {
            if self.step != Step::HeaderCrc {
                self.crc.update(&[b]);
            }
            let next = match self.step {
                Step::Fixed => {
                    self.fixed[self.n] = b;
                    self.n += 1;
                    let bad = match self.n {
                        1 => b != 0x1f,
                        2 => b != 0x8b,
                        3 => b != 8,
                        4 => b & FTEXT_RESERVED != 0,
                        _ => false,
                    };
                    if bad {
                        return Err("invalid gzip header");
                    }
                    if self.n < 10 {
                        continue;
                    }
                    self.n = 0;
                    self.after(Step::Fixed)
                }
                Step::XLen => {
                    self.extra_left |= (b as usize) << (8 * self.n);
                    self.n += 1;
                    if self.n < 2 {
                        continue;
                    }
                    self.n = 0;
                    if self.extra_left > 0 {
                        Some(Step::Extra)
                    } else {
                        self.after(Step::Extra)
                    }
                }
                Step::Extra => {
                    self.extra_left -= 1;
                    if self.extra_left > 0 {
                        continue;
                    }
                    self.after(Step::Extra)
                }
                Step::Name | Step::Comment => {
                    if b != 0 {
                        continue;
                    }
                    self.after(self.step)
                }
                Step::HeaderCrc => {
                    self.extra_left |= (b as usize) << (8 * self.n);
                    self.n += 1;
                    if self.n < 2 {
                        continue;
                    }
                    if self.extra_left != (self.crc.sum() & 0xffff) as usize {
                        return Err("gzip header checksum (FHCRC) does not match the header");
                    }
                    None
                }
            };
            match next {
                Some(step) => {
                    self.step = step;
                    if step == Step::HeaderCrc {
                        self.extra_left = 0;
                    }
                }
                None => return Ok((i + 1, true)),
            }
        }
        Ok((input.len(), false))
    }
}

enum Stage {
    Header(Box<Header>),
    Body,
    Trailer {
        bytes: [u8; 8],
        n: usize,
    },
    /// After a member's trailer: another member, or the end of input.
    Between,
    End,
}

/// A gzip decoder over a mapped file or a stream.
pub(super) struct Gunzip {
    input: GzInput,
    inflate: Decompress,
    crc: Crc,
    stage: Stage,
    /// An error met after some output was produced, returned on the next call.
    pending: Option<FeedError>,
    /// Compressed bytes consumed, and where the current member started.
    consumed: u64,
    member_start: u64,
    /// Members read to their trailer.
    members: u64,
    /// Inflated bytes the caller had no room for: `spill[spill_at..spill_end]`.
    spill: Vec<u8>,
    spill_at: usize,
    spill_end: usize,
}

impl Gunzip {
    pub(super) fn new(input: GzInput) -> Gunzip {
        Gunzip {
            input,
            inflate: Decompress::new(false),
            crc: Crc::new(),
            stage: Stage::Header(Box::new(Header::new())),
            pending: None,
            consumed: 0,
            member_start: 0,
            members: 0,
            spill: Vec::new(),
            spill_at: 0,
            spill_end: 0,
        }
    }

    fn fail(&mut self, produced: usize, e: FeedError) -> Result<usize, FeedError> {
        self.stage = Stage::End;
        // Spilled bytes are left only when `out` is full.
        debug_assert!(self.spill_at == self.spill_end || produced > 0);
        if produced > 0 {
            self.pending = Some(e);
            Ok(produced)
        } else {
            Err(e)
        }
    }

    /// Moves spilled bytes to `out`; returns how many.
    fn drain_spill(&mut self, out: &mut [u8]) -> usize {
        let n = (self.spill_end - self.spill_at).min(out.len());
        out[..n].copy_from_slice(&self.spill[self.spill_at..self.spill_at + n]);
        self.spill_at += n;
        n
    }

    /// Decompresses into `out` (not empty). Returns the bytes produced, 0 only
    /// at the clean end of the last member. Output that precedes an error is
    /// returned first; the error comes with the next call.
    pub(super) fn read(&mut self, out: &mut [u8]) -> Result<usize, FeedError> {
        let mut produced = self.drain_spill(out);
        if produced == out.len() {
            return Ok(produced);
        }
        if let Some(e) = self.pending.take() {
            if produced > 0 {
                self.pending = Some(e);
                return Ok(produced);
            }
            return Err(e);
        }
        while produced < out.len() {
            if matches!(self.stage, Stage::End) {
                break;
            }
            if self.input.available().is_empty() {
                if produced > 0 && self.input.may_block() {
                    break;
                }
                match self.input.refill() {
                    Ok(true) => {}
                    Ok(false) if matches!(self.stage, Stage::Between) => {
                        self.stage = Stage::End;
                        break;
                    }
                    Ok(false) => {
                        let what = match self.stage {
                            Stage::Header(_) => "a gzip member's header",
                            Stage::Trailer { .. } => "a gzip member's trailer",
                            _ => "a gzip member's compressed data",
                        };
                        let msg = format!("truncated gzip data: the input ends inside {what}");
                        return self.fail(produced, FeedError::Gzip(msg));
                    }
                    Err(e) => return self.fail(produced, FeedError::Io(e)),
                }
            }
            match &mut self.stage {
                Stage::Header(h) => match h.feed(self.input.available()) {
                    Ok((n, done)) => {
                        self.input.consume(n);
                        self.consumed += n as u64;
                        if done {
                            self.stage = Stage::Body;
                        }
                    }
                    Err(msg) => {
                        let msg = if self.members == 0 {
                            format!("corrupt gzip data: {msg}")
                        } else {
                            // Trailing bytes that are not another member: the
                            // data before them is complete, so say where they start.
                            format!(
                                "corrupt gzip data: {msg} at compressed byte {}, after {} complete gzip member{}",
                                self.member_start,
                                self.members,
                                if self.members == 1 { "" } else { "s" }
                            )
                        };
                        return self.fail(produced, FeedError::Gzip(msg));
                    }
                },
                Stage::Body => {
                    let to_wrap = DICT - (self.inflate.total_out() % DICT as u64) as usize;
                    let direct = out.len() - produced >= to_wrap;
                    if !direct && self.spill.is_empty() {
                        self.spill = vec![0; DICT];
                    }
                    let dst = if direct {
                        &mut out[produced..produced + to_wrap]
                    } else {
                        &mut self.spill[..to_wrap]
                    };
                    let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
                    let r =
                        self.inflate
                            .decompress(self.input.available(), dst, FlushDecompress::None);
                    let consumed = (self.inflate.total_in() - in0) as usize;
                    let n = (self.inflate.total_out() - out0) as usize;
                    self.crc.update(&dst[..n]);
                    self.input.consume(consumed);
                    self.consumed += consumed as u64;
                    if direct {
                        produced += n;
                    } else {
                        (self.spill_at, self.spill_end) = (0, n);
                        produced += self.drain_spill(&mut out[produced..]);
                    }
                    match r {
                        Ok(Status::StreamEnd) => {
                            self.stage = Stage::Trailer {
                                bytes: [0; 8],
                                n: 0,
                            }
                        }
                        Ok(_) if consumed > 0 || n > 0 => {}
                        // Input and room, yet no progress: never seen, but
                        // looping on it would hang.
                        Ok(_) => {
                            let msg = "corrupt gzip data: the deflate decoder makes no progress";
                            return self.fail(produced, FeedError::Gzip(msg.into()));
                        }
                        Err(_) => {
                            let msg = "corrupt gzip data: corrupt deflate stream";
                            return self.fail(produced, FeedError::Gzip(msg.into()));
                        }
                    }
                }
                Stage::Trailer { bytes, n } => {
                    let avail = self.input.available();
                    let take = avail.len().min(8 - *n);
                    bytes[*n..*n + take].copy_from_slice(&avail[..take]);
                    *n += take;
                    self.input.consume(take);
                    self.consumed += take as u64;
                    if *n == 8 {
                        let crc = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                        let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
                        let msg = if crc != self.crc.sum() {
                            Some("corrupt gzip data: corrupt gzip stream does not have a matching checksum")
                        } else if len != self.crc.amount() {
                            Some("corrupt gzip data: the gzip trailer's length does not match the decompressed data")
                        } else {
                            None
                        };
                        if let Some(msg) = msg {
                            return self.fail(produced, FeedError::Gzip(msg.into()));
                        }
                        self.members += 1;
                        self.stage = Stage::Between;
                    }
                }
                Stage::Between => {
                    // More input after a member: the next member.
                    self.inflate.reset(false);
                    self.crc.reset();
                    self.member_start = self.consumed;
                    self.stage = Stage::Header(Box::new(Header::new()));
                }
                Stage::End => unreachable!("checked above"),
            }
        }
        Ok(produced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Reads everything with output chunks of `out` bytes and input reads of `chunk`.
    fn gunzip(gz: &[u8], chunk: usize, out: usize) -> (Vec<u8>, Option<String>) {
        struct Trickle(Cursor<Vec<u8>>, usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.1);
                self.0.read(&mut buf[..n])
            }
        }
        let mut g = Gunzip::new(GzInput::Stream {
            src: Box::new(Trickle(Cursor::new(gz.to_vec()), chunk)),
            buf: vec![0; 4096],
            start: 0,
            end: 0,
            eof: false,
        });
        let mut got = Vec::new();
        let mut buf = vec![0; out];
        loop {
            match g.read(&mut buf) {
                Ok(0) => return (got, None),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(FeedError::Gzip(m)) => return (got, Some(m)),
                Err(FeedError::Io(e)) => return (got, Some(e.to_string())),
            }
        }
    }

    /// Compressible, but not trivially: deflate makes Huffman blocks of it.
    fn data(n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 64);
        let mut i = 0u32;
        while v.len() < n {
            let x = i.wrapping_mul(2_654_435_761) >> 20;
            v.extend(format!("frame {i} seq {x} len {} ", x % 1500).bytes());
            i += 1;
        }
        v.truncate(n);
        v
    }

    #[test]
    fn members_of_every_size_in_any_pieces() {
        let a = data(100_000);
        let b = b"second member".to_vec();
        let mut gz = gzip(&a);
        gz.extend(gzip(b""));
        gz.extend(gzip(&b));
        let mut all = a.clone();
        all.extend(&b);
        for (chunk, out) in [
            (1, 7),
            (3, 1),
            (4096, 65536),
            (1 << 20, 1 << 20),
            (5, 40_000),
        ] {
            assert_eq!(
                gunzip(&gz, chunk, out),
                (all.clone(), None),
                "{chunk} {out}"
            );
        }
    }

    #[test]
    fn header_fields_are_skipped_and_checked() {
        let body = gzip(b"payload");
        // FEXTRA, FNAME, FCOMMENT and FHCRC, then the same deflate data and trailer.
        let mut h = vec![
            0x1f,
            0x8b,
            8,
            FEXTRA | FNAME | FCOMMENT | FHCRC,
            0,
            0,
            0,
            0,
            0,
            3,
        ];
        h.extend([3, 0, b'a', b'b', b'c']);
        h.extend(b"name.pcap\0a comment\0");
        let crc = {
            let mut c = Crc::new();
            c.update(&h);
            c.sum() as u16
        };
        let mut good = h.clone();
        good.extend(crc.to_le_bytes());
        good.extend(&body[10..]);
        assert_eq!(gunzip(&good, 2, 3), (b"payload".to_vec(), None));
        let mut bad = h;
        bad.extend((crc ^ 1).to_le_bytes());
        bad.extend(&body[10..]);
        let (out, err) = gunzip(&bad, 100, 100);
        assert!(out.is_empty());
        assert!(err.unwrap().contains("FHCRC"));
    }

    /// What a decoder given room for everything at once inflates from
    /// `gz` (a 10-byte header, then deflate data) before its corruption.
    fn before_corruption(gz: &[u8]) -> Vec<u8> {
        let mut d = Decompress::new(false);
        let mut out = vec![0; 1 << 24];
        let r = d.decompress(&gz[10..], &mut out, FlushDecompress::None);
        assert!(r.is_err(), "the damage must be detected");
        out.truncate(d.total_out() as usize);
        out
    }

    #[test]
    fn output_before_corruption_comes_out_however_the_input_arrives() {
        let a = data(300_000);
        let gz = gzip(&a);
        let mut checked = 0;
        for k in 1..40 {
            let at = 20 + (gz.len() - 40) * k / 40;
            let mut bad = gz.clone();
            for (j, b) in bad[at..at + 64].iter_mut().enumerate() {
                *b = if j % 3 == 0 { 0xff } else { *b ^ 0xa5 };
            }
            let mut d = Decompress::new(false);
            let r = d.decompress(&bad[10..], &mut vec![0; 1 << 24], FlushDecompress::None);
            if r.is_ok() {
                continue; // the damage decoded to other, valid data
            }
            let expected = before_corruption(&bad);
            for (chunk, out) in [
                (1 << 20, 1 << 20),
                (7, 3),
                (65536, 100_000),
                (1, 1),
                (1 << 20, 5000),
            ] {
                let (got, err) = gunzip(&bad, chunk, out);
                assert_eq!(
                    err.as_deref(),
                    Some("corrupt gzip data: corrupt deflate stream")
                );
                assert!(
                    got == expected,
                    "damage at {at}, pieces {chunk}/{out}: {} bytes, expected {}",
                    got.len(),
                    expected.len()
                );
            }
            checked += 1;
        }
        assert!(checked > 10, "{checked}");
    }

    #[test]
    fn truncation_and_trailing_bytes_are_errors() {
        let gz = gzip(b"0123456789");
        let (out, err) = gunzip(&gz[..gz.len() - 3], 1, 100);
        assert_eq!(out, b"0123456789");
        assert_eq!(
            err.unwrap(),
            "truncated gzip data: the input ends inside a gzip member's trailer"
        );
        let (_, err) = gunzip(&gz[..5], 1, 100);
        assert_eq!(
            err.unwrap(),
            "truncated gzip data: the input ends inside a gzip member's header"
        );
        let mut junk = gz.clone();
        junk.extend(b"junk");
        let (out, err) = gunzip(&junk, 1000, 100);
        assert_eq!(out, b"0123456789");
        assert_eq!(
            err.unwrap(),
            format!(
                "corrupt gzip data: invalid gzip header at compressed byte {}, after 1 complete gzip member",
                gz.len()
            )
        );
        let mut bad_first = gz.clone();
        bad_first[2] = 7; // not deflate
        let (_, err) = gunzip(&bad_first, 1000, 100);
        assert_eq!(err.unwrap(), "corrupt gzip data: invalid gzip header");
        let mut len = gz.clone();
        let n = len.len();
        len[n - 4] ^= 1;
        let (_, err) = gunzip(&len, 1000, 100);
        assert!(err.unwrap().contains("length does not match"));
    }
}
