//! Records set aside until the end of a report: a temporary file (removed
//! once opened, where the system allows), or memory when no temporary file
//! can be made or its disk fills up. The terminal reports keep each connection's row or state
//! history here, so they need memory for an index only (an offset per
//! connection), and still list connections in stream order.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};

/// Records written one after the other, read back in any order. A record
/// is framed by its length (u32, little-endian), so an offset is all it
/// takes to find it again.
pub(crate) struct Spill {
    store: Store,
    /// Bytes written.
    len: u64,
    /// File bytes read at `window_start` on: records read one after the
    /// other in the order they were written cost a read per window, not
    /// one per record.
    window: Vec<u8>,
    window_start: u64,
}

enum Store {
    File(BufWriter<File>),
    Memory(Vec<u8>),
}

/// Appends one record to `buf`: its length, then what `encode` writes.
pub(crate) fn frame(buf: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    encode(buf);
    // A record is one connection's row or history: far below 4 GiB, which
    // `Spill::record` would report as unreadable rather than misread.
    let len = u32::try_from(buf.len() - at - 4).unwrap_or(u32::MAX);
    buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

impl Spill {
    /// A spill in a new temporary file, or in memory if none can be made.
    pub(crate) fn new() -> Spill {
        match temp_file() {
            Some(f) => Spill {
                store: Store::File(BufWriter::with_capacity(1 << 16, f)),
                ..Spill::in_memory()
            },
            None => Spill::in_memory(),
        }
    }

    /// A spill in memory: what [`Spill::new`] falls back to, and what a
    /// report that set nothing aside reads from.
    pub(crate) fn in_memory() -> Spill {
        Spill {
            store: Store::Memory(Vec::new()),
            len: 0,
            window: Vec::new(),
            window_start: 0,
        }
    }

    /// Appends framed records (see [`frame`]); returns the offset of the
    /// first byte, from which the records' offsets follow.
    /// If the temporary file cannot take them (its disk is full), what it
    /// holds moves to memory and the report goes on there.
    pub(crate) fn push(&mut self, records: &[u8]) -> io::Result<u64> {
        let at = self.len;
        if let Store::File(f) = &mut self.store {
            if f.write_all(records).is_err() {
                self.store = Store::Memory(self.take_back()?);
            }
        }
        if let Store::Memory(v) = &mut self.store {
            v.extend_from_slice(records);
        }
        self.len += records.len() as u64;
        Ok(at)
    }

    /// The bytes pushed so far, from a file store that failed a write: what
    /// reached the file, then what its buffer still holds, as far as the
    /// pushes that succeeded go (a failed write leaves any part of itself
    /// after them).
    fn take_back(&mut self) -> io::Result<Vec<u8>> {
        let Store::File(f) = std::mem::replace(&mut self.store, Store::Memory(Vec::new())) else {
            return Ok(Vec::new());
        };
        let (file, buffered) = f.into_parts();
        let len = usize::try_from(self.len)
            .map_err(|_| temp_error(io::Error::other("too large for memory")))?;
        let on_disk = file.metadata().map_err(temp_error)?.len();
        let mut bytes = vec![0; on_disk.min(self.len) as usize];
        read_at(&file, &mut bytes, 0).map_err(temp_error)?;
        bytes.extend_from_slice(&buffered.unwrap_or_else(|e| e.into_inner()));
        if bytes.len() < len {
            return Err(temp_error(io::Error::other("pushed records were lost")));
        }
        bytes.truncate(len);
        Ok(bytes)
    }

    /// The record at `offset` (without its length). On a miss the window is
    /// refilled with the record and up to `ahead` bytes after it: a large
    /// `ahead` for records read in the order they were written, a small one
    /// for records read out of order.
    pub(crate) fn record(&mut self, offset: u64, ahead: usize) -> io::Result<&[u8]> {
        if let Store::File(f) = &mut self.store {
            if f.flush().is_err() {
                self.store = Store::Memory(self.take_back()?);
            }
        }
        let len = u32::from_le_bytes(
            self.bytes(offset, 4, 4 + ahead)?
                .try_into()
                .map_err(|_| unreadable())?,
        ) as usize;
        self.bytes(offset + 4, len, len + ahead)
    }

    /// `n` bytes at `offset`, reading `fill` bytes from there (as many as
    /// there are) if the window does not hold them.
    fn bytes(&mut self, offset: u64, n: usize, fill: usize) -> io::Result<&[u8]> {
        let end = offset
            .checked_add(n as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(unreadable)?;
        let file = match &self.store {
            Store::Memory(v) => return Ok(&v[offset as usize..end as usize]),
            Store::File(f) => f.get_ref(),
        };
        let window_end = self.window_start + self.window.len() as u64;
        if offset < self.window_start || end > window_end {
            let fill = (fill as u64).max(n as u64).min(self.len - offset) as usize;
            self.window.resize(fill, 0);
            read_at(file, &mut self.window, offset).map_err(temp_error)?;
            self.window_start = offset;
        }
        let at = (offset - self.window_start) as usize;
        Ok(&self.window[at..at + n])
    }
}

/// Fills `buf` from `offset` of `file`, without moving the position the
/// writes append at.
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from `offset` of `file`, then puts the position back at the
/// end for the writes.
#[cfg(not(unix))]
fn read_at(mut file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)?;
    file.seek(SeekFrom::End(0)).map(|_| ())
}

fn unreadable() -> io::Error {
    io::Error::other("a table row set aside in a temporary file could not be read back")
}

/// An error of the temporary file, saying which file it is about.
fn temp_error(e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("temporary file for the table report: {e}"),
    )
}

/// A new file in the temporary directory, unlinked at once on Unix (the
/// system frees it when the process ends, however it ends).
fn temp_file() -> Option<File> {
    let dir = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for attempt in 0..16u32 {
        let path = dir.join(format!(
            "tcpstate-{}-{nanos}-{attempt}.spill",
            std::process::id()
        ));
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path);
        match opened {
            Ok(f) => {
                #[cfg(unix)]
                let _ = std::fs::remove_file(&path);
                #[cfg(not(unix))]
                let _ = &path;
                return Some(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(pieces: &[&[u8]]) -> (Vec<u8>, Vec<u64>) {
        let mut buf = Vec::new();
        let mut offsets = Vec::new();
        for p in pieces {
            offsets.push(buf.len() as u64);
            frame(&mut buf, |b| b.extend_from_slice(p));
        }
        (buf, offsets)
    }

    fn records_come_back_in_any_order(mut s: Spill) {
        let (buf, offsets) = records(&[b"first", b"", b"third piece"]);
        let at = s.push(&buf).unwrap();
        let [a, b, c] = [0, 1, 2].map(|i| at + offsets[i]);
        assert_eq!(s.record(c, 0).unwrap(), b"third piece");
        assert_eq!(s.record(a, 1 << 16).unwrap(), b"first");
        assert_eq!(s.record(b, 0).unwrap(), b"");
        // Writing after reading appends, and a window read before the
        // write does not hide what follows.
        let (buf, _) = records(&[b"fourth"]);
        let d = s.push(&buf).unwrap();
        assert_eq!(s.record(a, 1 << 16).unwrap(), b"first");
        assert_eq!(s.record(d, 0).unwrap(), b"fourth");
        assert_eq!(s.record(c, 3).unwrap(), b"third piece");
        // An offset past the end is an error, not a panic.
        assert!(s.record(d + 100, 0).is_err());
    }

    #[test]
    fn records_come_back_from_a_file_in_any_order() {
        let s = Spill::new();
        assert!(matches!(s.store, Store::File(_)), "no temporary file");
        records_come_back_in_any_order(s);
    }

    /// A disk that fills up: the records move to memory and still come back.
    #[cfg(target_os = "linux")]
    #[test]
    fn records_come_back_when_the_disk_is_full() {
        let full = OpenOptions::new().read(true).write(true).open("/dev/full");
        let mut s = Spill {
            store: Store::File(BufWriter::with_capacity(64, full.unwrap())),
            ..Spill::in_memory()
        };
        let pieces: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; usize::from(i)]).collect();
        let mut offsets = Vec::new();
        for p in &pieces {
            let (buf, _) = records(&[p]);
            offsets.push(s.push(&buf).unwrap());
        }
        assert!(matches!(s.store, Store::Memory(_)));
        for (p, &at) in pieces.iter().zip(&offsets).rev() {
            assert_eq!(s.record(at, 0).unwrap(), &p[..]);
        }
        // Records still in the buffer when the first read flushes it.
        let full = OpenOptions::new().read(true).write(true).open("/dev/full");
        let mut s = Spill {
            store: Store::File(BufWriter::with_capacity(1 << 16, full.unwrap())),
            ..Spill::in_memory()
        };
        let (buf, offsets) = records(&[b"one", b"two"]);
        let at = s.push(&buf).unwrap();
        assert_eq!(s.record(at + offsets[1], 0).unwrap(), b"two");
        assert!(matches!(s.store, Store::Memory(_)));
    }

    #[test]
    fn records_come_back_from_memory_in_any_order() {
        records_come_back_in_any_order(Spill::in_memory());
    }
}
