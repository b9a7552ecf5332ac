//! Reports written atomically: under a temporary name, then renamed.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file written under a temporary name beside its path and renamed into
/// place by [`AtomicFile::commit`], so a failed or interrupted run never
/// leaves a half-written report that looks complete.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    /// The writer of the temporary file.
    pub w: BufWriter<fs::File>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let w = BufWriter::with_capacity(1 << 20, fs::File::create(&tmp)?);
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            w,
        })
    }

    /// Flushes, syncs and renames into place; on failure the temporary goes.
    pub fn commit(mut self) -> io::Result<()> {
        let done = self
            .w
            .flush()
            .and_then(|_| self.w.get_ref().sync_all())
            .and_then(|_| fs::rename(&self.tmp, &self.path));
        if done.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        done
    }

    /// Removes the temporary file.
    pub fn discard(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Writes `path` through `body` atomically (see [`AtomicFile`]).
pub fn write_atomically(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    match body(&mut f.w) {
        Ok(()) => f.commit(),
        Err(e) => {
            f.discard();
            Err(e)
        }
    }
}
