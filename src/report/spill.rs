//! Bytes set aside until the end of a report: a temporary file (removed
//! once opened, where the system allows), or memory when no temporary file
//! can be made. The state-history table keeps each connection's rendered
//! history here, so it needs memory for an index only, not for the
//! histories, and still lists connections in stream order.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Cursor, Read, Seek, SeekFrom, Write};

/// Somewhere bytes can be written, then read back from anywhere.
trait Store: Read + Write + Seek {}
impl<T: Read + Write + Seek> Store for T {}

/// Bytes written one piece after the other, read back in any order.
pub(crate) struct Spill {
    store: BufWriter<Box<dyn Store>>,
    len: u64,
    /// A read moved the position away from the end.
    moved: bool,
}

/// Where a piece is: its offset and length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Piece {
    offset: u64,
    len: u32,
}

impl Spill {
    /// A spill in a new temporary file, or in memory if none can be made.
    pub(crate) fn new() -> Spill {
        let store: Box<dyn Store> = match temp_file() {
            Some(f) => Box::new(f),
            None => Box::new(Cursor::new(Vec::new())),
        };
        Spill {
            store: BufWriter::with_capacity(1 << 16, store),
            len: 0,
            moved: false,
        }
    }

    /// Appends one piece.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> io::Result<Piece> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| io::Error::other("a piece of more than 4 GiB"))?;
        if self.moved {
            self.store.seek(SeekFrom::End(0))?;
            self.moved = false;
        }
        self.store.write_all(bytes)?;
        let piece = Piece {
            offset: self.len,
            len,
        };
        self.len += bytes.len() as u64;
        Ok(piece)
    }

    /// Reads a piece back into `buf` (replacing its contents).
    pub(crate) fn read(&mut self, piece: Piece, buf: &mut Vec<u8>) -> io::Result<()> {
        self.store.flush()?;
        self.moved = true;
        let store = self.store.get_mut();
        store.seek(SeekFrom::Start(piece.offset))?;
        buf.resize(piece.len as usize, 0);
        store.read_exact(buf)
    }
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

    #[test]
    fn pieces_come_back_in_any_order() {
        let mut s = Spill::new();
        let a = s.push(b"first").unwrap();
        let b = s.push(b"").unwrap();
        let c = s.push(b"third piece").unwrap();
        let mut buf = Vec::new();
        s.read(c, &mut buf).unwrap();
        assert_eq!(buf, b"third piece");
        s.read(a, &mut buf).unwrap();
        assert_eq!(buf, b"first");
        s.read(b, &mut buf).unwrap();
        assert_eq!(buf, b"");
        // Writing after reading appends.
        let d = s.push(b"fourth").unwrap();
        s.read(d, &mut buf).unwrap();
        assert_eq!(buf, b"fourth");
    }
}
