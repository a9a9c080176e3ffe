//! Block-parallel gzip with libdeflate: one gzip member per block.
//!
//! The uncompressed stream is cut into blocks of [`BLOCK`] bytes. Each block becomes a
//! complete gzip member of its own (RFC 1952 §2.2: a gzip file is a series of members),
//! compressed by libdeflate at the requested level, which is about twice as fast as zlib
//! for the same size. libdeflate compresses whole buffers and ends every stream with a
//! final block, so blocks cannot share one member; every multi-member reader (gzip,
//! pigz, Go's `gzip.Reader` used by containerd, umoci and skopeo, flate2's
//! `MultiGzDecoder`) reads the members back as one stream.
//!
//! A member's bytes depend only on its block and the level (the header is fixed: no name,
//! mtime 0, OS unknown), so the output is the same whatever the number of threads (one
//! thread compresses inline, with the very same function). An empty stream is one empty
//! member.
//!
//! Memory stays bounded: at most `2 × threads + 2` blocks are in flight.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use libdeflater::{CompressionLvl, Compressor};

/// Uncompressed bytes per block, hence per gzip member.
pub(crate) const BLOCK: usize = 256 * 1024;

struct Job {
    data: Vec<u8>,
    out: Vec<u8>,
    reply: SyncSender<io::Result<Done>>,
}

struct Done {
    /// One complete gzip member.
    member: Vec<u8>,
    /// The input buffer, handed back for reuse.
    data: Vec<u8>,
}

/// A gzip writer compressing blocks on `threads` worker threads.
pub(crate) struct ParGz<W: Write> {
    out: W,
    block: Vec<u8>,
    /// Whether a member was written (an empty stream still gets one).
    wrote_member: bool,
    inflight: VecDeque<Receiver<io::Result<Done>>>,
    max_inflight: usize,
    /// Spent input and output buffers, for reuse.
    free: Vec<Vec<u8>>,
    free_out: Vec<Vec<u8>>,
    /// The compressor for inline compression (one thread); none with a pool.
    inline: Option<Compressor>,
    /// Worker threads; none when compressing inline (one thread).
    pool: Option<Pool>,
}

struct Pool {
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl<W: Write> ParGz<W> {
    /// `level` is libdeflate's (0 to 12; the caller checks the range it offers).
    pub(crate) fn new(out: W, level: u32, threads: usize) -> io::Result<ParGz<W>> {
        let level = i32::try_from(level)
            .ok()
            .and_then(|l| CompressionLvl::new(l).ok())
            .ok_or_else(|| io::Error::other(format!("gzip level {level} out of range")))?;
        let threads = threads.max(1);
        let (inline, pool) = if threads == 1 {
            (Some(Compressor::new(level)), None)
        } else {
            let (tx, rx) = mpsc::sync_channel::<Job>(threads);
            let rx = Arc::new(Mutex::new(rx));
            let workers = (0..threads)
                .map(|_| {
                    let rx = Arc::clone(&rx);
                    std::thread::spawn(move || worker(&rx, level))
                })
                .collect();
            let pool = Pool {
                jobs: Some(tx),
                workers,
            };
            (None, Some(pool))
        };
        Ok(ParGz {
            out,
            block: Vec::with_capacity(BLOCK),
            wrote_member: false,
            inflight: VecDeque::new(),
            max_inflight: 2 * threads + 2,
            free: Vec::new(),
            free_out: Vec::new(),
            inline,
            pool,
        })
    }

    /// Hands the current block to a worker (or compresses it inline).
    fn dispatch(&mut self) -> io::Result<()> {
        self.wrote_member = true;
        let next = self.free.pop().unwrap_or_else(|| Vec::with_capacity(BLOCK));
        let data = std::mem::replace(&mut self.block, next);
        let out = self.free_out.pop().unwrap_or_default();
        if let Some(c) = self.inline.as_mut() {
            let done = compress_block(c, data, out)?;
            return self.write_done(done);
        }
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let job = Job {
            data,
            out,
            reply: reply_tx,
        };
        let jobs = self
            .pool
            .as_ref()
            .and_then(|p| p.jobs.as_ref())
            .ok_or_else(|| io::Error::other("gzip worker threads stopped"))?;
        jobs.send(job)
            .map_err(|_| io::Error::other("gzip worker threads stopped"))?;
        self.inflight.push_back(reply_rx);
        while self.inflight.len() > self.max_inflight {
            self.collect_one()?;
        }
        Ok(())
    }

    fn collect_one(&mut self) -> io::Result<()> {
        if let Some(rx) = self.inflight.pop_front() {
            let done = rx
                .recv()
                .map_err(|_| io::Error::other("a gzip worker thread stopped"))??;
            self.write_done(done)?;
        }
        Ok(())
    }

    fn write_done(&mut self, mut done: Done) -> io::Result<()> {
        self.out.write_all(&done.member)?;
        done.member.clear();
        self.free_out.push(done.member);
        done.data.clear();
        self.free.push(done.data);
        Ok(())
    }

    /// Compresses what is left and gives the writer back.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.block.is_empty() || !self.wrote_member {
            self.dispatch()?;
        }
        while !self.inflight.is_empty() {
            self.collect_one()?;
        }
        self.pool = None;
        Ok(self.out)
    }
}

impl<W: Write> Write for ParGz<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let n = buf.len();
        while !buf.is_empty() {
            let room = BLOCK - self.block.len();
            let take = room.min(buf.len());
            self.block.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.block.len() == BLOCK {
                self.dispatch()?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn worker(jobs: &Mutex<Receiver<Job>>, level: CompressionLvl) {
    let mut compressor = Compressor::new(level);
    loop {
        let job = {
            let Ok(rx) = jobs.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let result = compress_block(&mut compressor, job.data, job.out);
        let _ = job.reply.send(result);
    }
}

/// Compresses one block into one gzip member (libdeflate writes the header: no flags,
/// mtime 0, XFL from the level, OS unknown; then the CRC-32 and size trailer).
///
/// libdeflate keeps no state between calls, so reusing a compressor never changes the
/// bytes: a member depends on its block and the level only.
fn compress_block(c: &mut Compressor, data: Vec<u8>, mut out: Vec<u8>) -> io::Result<Done> {
    out.resize(c.gzip_compress_bound(data.len()), 0);
    let n = c
        .gzip_compress(&data, &mut out)
        .map_err(|e| io::Error::other(format!("gzip compression: {e}")))?;
    out.truncate(n);
    Ok(Done { member: out, data })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::{BLOCK, ParGz};

    fn gzip(data: &[u8], threads: usize) -> Vec<u8> {
        let mut gz = ParGz::new(Vec::new(), 6, threads).expect("level 6");
        // Uneven writes, across block boundaries.
        for chunk in data.chunks(100_003) {
            gz.write_all(chunk).expect("write");
        }
        gz.finish().expect("finish")
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(gz)
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    }

    /// The number of gzip members.
    fn members(gz: &[u8]) -> usize {
        let mut rest = gz;
        let mut n = 0;
        while !rest.is_empty() {
            let mut d = flate2::bufread::GzDecoder::new(rest);
            std::io::copy(&mut d, &mut std::io::sink()).expect("member");
            rest = d.into_inner();
            n += 1;
        }
        n
    }

    #[test]
    fn empty_input_is_one_empty_member() {
        for threads in [1, 2] {
            let gz = gzip(b"", threads);
            assert_eq!(members(&gz), 1);
            assert!(gunzip(&gz).is_empty());
        }
    }

    #[test]
    fn whole_blocks_get_no_trailing_empty_member() {
        let data: Vec<u8> = (0..2 * BLOCK).map(|i| (i % 251) as u8).collect();
        let one = gzip(&data, 1);
        assert_eq!(members(&one), 2);
        assert!(gunzip(&one) == data);
        for threads in 2..=4 {
            assert!(gzip(&data, threads) == one, "{threads} threads");
        }
    }

    #[test]
    fn levels_beyond_libdeflate_are_refused() {
        assert!(ParGz::new(Vec::new(), 13, 1).is_err());
        assert!(ParGz::new(Vec::new(), 12, 1).is_ok());
    }
}
