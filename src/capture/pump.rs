//! A pipe (stdin, a FIFO, a device) read on a thread of its own: the reader
//! learns whether more input has arrived without waiting for it, so a live
//! capture's packets are analysed when the pipe falls quiet instead of when
//! a batch fills, and on a fast pipe the system calls overlap the parsing.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

/// Bytes asked for per read of the pipe.
const CHUNK: usize = 256 * 1024;
/// Chunks read ahead at most (so the pump holds at most 4 MiB).
const AHEAD: usize = 16;

/// The reading end: chunks the pump thread read, in order.
pub(super) struct Pump {
    rx: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    /// The pipe failed: handed out by the next read, after the bytes before it.
    failed: Option<io::Error>,
    /// The pipe ended (or failed): nothing more will arrive.
    ended: bool,
}

impl Pump {
    /// Starts reading `src` on a new thread. The thread ends at the end of
    /// the input, at an error, or once the pump is dropped and its next read
    /// returns.
    pub(super) fn start(mut src: Box<dyn Read + Send>) -> Pump {
        let (tx, rx) = sync_channel(AHEAD);
        std::thread::Builder::new()
            .name("tcpstate-pipe".into())
            .spawn(move || loop {
                let mut buf = vec![0; CHUNK];
                match src.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Ok(buf)).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| panic!("cannot start the thread reading the pipe: {e}"));
        Pump {
            rx,
            chunk: Vec::new(),
            pos: 0,
            failed: None,
            ended: false,
        }
    }

    /// Takes one message of the pump thread.
    fn take(&mut self, got: Result<io::Result<Vec<u8>>, ()>) {
        match got {
            Ok(Ok(chunk)) => {
                self.chunk = chunk;
                self.pos = 0;
            }
            Ok(Err(e)) => {
                self.failed = Some(e);
                self.ended = true;
            }
            Err(()) => self.ended = true,
        }
    }

    /// True if a read would return at once: bytes (or the end, or an error)
    /// have arrived and are not read yet.
    pub(super) fn ready(&mut self) -> bool {
        if self.pos < self.chunk.len() || self.ended {
            return true;
        }
        match self.rx.try_recv() {
            Ok(m) => self.take(Ok(m)),
            Err(TryRecvError::Empty) => return false,
            Err(TryRecvError::Disconnected) => self.take(Err(())),
        }
        true
    }

    /// Waits up to `timeout` for input; true if a read would now return at once.
    pub(super) fn wait(&mut self, timeout: Duration) -> bool {
        if self.ready() {
            return true;
        }
        match self.rx.recv_timeout(timeout) {
            Ok(m) => self.take(Ok(m)),
            Err(RecvTimeoutError::Timeout) => return false,
            Err(RecvTimeoutError::Disconnected) => self.take(Err(())),
        }
        true
    }
}

impl Read for Pump {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() {
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            if self.ended {
                return Ok(0);
            }
            let got = self.rx.recv().map_err(|_| ());
            self.take(got);
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            if self.pos == self.chunk.len() {
                return Ok(0);
            }
        }
        let n = dst.len().min(self.chunk.len() - self.pos);
        dst[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{channel, Receiver};
    use std::time::Instant;

    /// A pipe whose writer is a channel: a read blocks until bytes are sent.
    struct Slow(Receiver<Vec<u8>>);

    impl Read for Slow {
        fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
            match self.0.recv() {
                Ok(b) => {
                    dst[..b.len()].copy_from_slice(&b);
                    Ok(b.len())
                }
                Err(_) => Ok(0),
            }
        }
    }

    #[test]
    fn a_pump_hands_out_the_bytes_in_order_and_tells_when_none_are_waiting() {
        let (writer, rx) = channel();
        let mut pump = Pump::start(Box::new(Slow(rx)));
        assert!(!pump.ready(), "nothing written yet");
        let t = Instant::now();
        assert!(!pump.wait(Duration::from_millis(50)));
        assert!(t.elapsed() >= Duration::from_millis(50));
        writer.send(b"hello".to_vec()).unwrap();
        assert!(pump.wait(Duration::from_secs(10)));
        let mut buf = [0u8; 3];
        assert_eq!(pump.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf, b"hel");
        assert_eq!(pump.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"lo");
        drop(writer);
        assert!(pump.wait(Duration::from_secs(10)), "the end is news too");
        assert_eq!(pump.read(&mut buf).unwrap(), 0);
    }
}
