//! Decompression on its own thread, a bounded distance ahead of the tar reader.
//!
//! Inflating a layer and writing its files are the two halves of extraction; run one after the
//! other on one thread they add up, run on two threads they overlap. The decoder thread stays at
//! most [`DEPTH`] chunks of [`CHUNK`] bytes ahead (memory stays flat, and a decompression bomb
//! cannot run ahead of the tar reader's limits), and stops as soon as the reader is dropped.
//! Only verified bytes ever reach it: a layer is extracted after its digest was checked.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};

/// Bytes per chunk handed from the decoder thread to the tar reader.
pub(crate) const CHUNK: usize = 256 * 1024;
/// Chunks that may wait in the channel.
pub(crate) const DEPTH: usize = 4;

/// A filled chunk (`len` bytes valid) or the decoder's error.
type Message = io::Result<(Vec<u8>, usize)>;

/// The tar reader's end: reads what the decoder thread produced, in order.
pub(crate) struct ReadAhead {
    chunks: Receiver<Message>,
    spent: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    len: usize,
    pos: usize,
    finished: bool,
}

/// The decoder thread's end: run it with [`Producer::run`] on another thread.
pub(crate) struct Producer<R> {
    decoder: R,
    chunks: SyncSender<Message>,
    spent: Receiver<Vec<u8>>,
}

/// Connects `decoder` (read on another thread by the returned [`Producer`]) to a reader.
pub(crate) fn pipe<R: Read>(decoder: R) -> (ReadAhead, Producer<R>) {
    let (chunks_tx, chunks_rx) = mpsc::sync_channel(DEPTH);
    // Buffers come back for reuse; at most DEPTH + 2 exist at once.
    let (spent_tx, spent_rx) = mpsc::sync_channel(DEPTH + 2);
    (
        ReadAhead {
            chunks: chunks_rx,
            spent: spent_tx,
            current: Vec::new(),
            len: 0,
            pos: 0,
            finished: false,
        },
        Producer {
            decoder,
            chunks: chunks_tx,
            spent: spent_rx,
        },
    )
}

impl<R> Producer<R> {
    /// The decoder, for reading on the current thread when no second thread is available.
    pub(crate) fn into_decoder(self) -> R {
        self.decoder
    }
}

impl<R: Read> Producer<R> {
    /// Decodes until the end of the stream, the first error (passed on to the reader), or the
    /// reader being dropped.
    pub(crate) fn run(mut self) {
        loop {
            let mut buf = self.spent.try_recv().unwrap_or_else(|_| vec![0; CHUNK]);
            let mut len = 0;
            let mut error = None;
            while len < buf.len() {
                match self.decoder.read(&mut buf[len..]) {
                    Ok(0) => break,
                    Ok(n) => len += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            if len > 0 && self.chunks.send(Ok((buf, len))).is_err() {
                return;
            }
            if let Some(e) = error {
                let _ = self.chunks.send(Err(e));
                return;
            }
            if len == 0 {
                // End of stream: dropping the sender tells the reader.
                return;
            }
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pos < self.len {
                let n = out.len().min(self.len - self.pos);
                out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            let spent = std::mem::take(&mut self.current);
            if !spent.is_empty() {
                let _ = self.spent.try_send(spent);
            }
            match self.chunks.recv() {
                Ok(Ok((buf, len))) => {
                    self.current = buf;
                    self.len = len;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.finished = true;
                    self.len = 0;
                    return Err(e);
                }
                // The producer is done (end of stream) or gone.
                Err(_) => {
                    self.finished = true;
                    self.len = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields `data` in odd-sized pieces, then `error` if given.
    struct Source {
        data: Vec<u8>,
        pos: usize,
        error: Option<io::ErrorKind>,
    }

    impl Read for Source {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.data.len() {
                return match self.error.take() {
                    Some(kind) => Err(io::Error::new(kind, "broken stream")),
                    None => Ok(0),
                };
            }
            let n = buf.len().min(self.data.len() - self.pos).min(70_001);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn passes_every_byte_in_order() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK * DEPTH + 17] {
            let expected = data(len);
            let (mut reader, producer) = pipe(Source {
                data: expected.clone(),
                pos: 0,
                error: None,
            });
            let got = std::thread::scope(|s| {
                s.spawn(|| producer.run());
                let mut got = Vec::new();
                let mut small = [0u8; 1000];
                // Small reads (like the tar reader's 512-byte headers), then the rest.
                let n = reader.read(&mut small).unwrap();
                got.extend_from_slice(&small[..n]);
                reader.read_to_end(&mut got).unwrap();
                got
            });
            assert_eq!(got.len(), expected.len());
            assert!(got == expected, "length {len}");
        }
    }

    #[test]
    fn the_decoder_error_arrives_after_the_bytes_before_it() {
        let expected = data(CHUNK + 5);
        let (mut reader, producer) = pipe(Source {
            data: expected.clone(),
            pos: 0,
            error: Some(io::ErrorKind::InvalidData),
        });
        std::thread::scope(|s| {
            s.spawn(|| producer.run());
            let mut got = vec![0u8; expected.len()];
            reader.read_exact(&mut got).unwrap();
            assert!(got == expected);
            let err = reader.read(&mut [0u8; 10]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        });
    }

    #[test]
    fn dropping_the_reader_stops_the_decoder() {
        // An endless stream: the producer can only stop because the reader went away.
        struct Endless;
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                buf.fill(7);
                Ok(buf.len())
            }
        }
        let (mut reader, producer) = pipe(Endless);
        std::thread::scope(|s| {
            let handle = s.spawn(|| producer.run());
            let mut first = [0u8; 10];
            reader.read_exact(&mut first).unwrap();
            drop(reader);
            // The scope would hang here if the producer kept going.
            handle.join().unwrap();
        });
    }
}
