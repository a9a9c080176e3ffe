//! Block-parallel gzip, as pigz does it.
//!
//! The uncompressed stream is cut into blocks of [`BLOCK`] bytes. Each block is deflated
//! on its own (raw deflate, zlib-rs backend) with the last 32 KiB of the previous block as
//! preset dictionary, and ends with a sync flush (the last block with a final block). The
//! pieces are concatenated into ONE gzip member whose CRC-32 is combined from the blocks'
//! CRCs. A block's compressed bytes depend only on its data, its dictionary and the level,
//! so the output is the same whatever the number of threads (one thread compresses inline,
//! with the very same function).
//!
//! Memory stays bounded: at most `2 × threads + 2` blocks are in flight.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Uncompressed bytes per block.
pub(crate) const BLOCK: usize = 256 * 1024;
/// The deflate window: the dictionary each block gets from the previous one.
const DICT: usize = 32 * 1024;

struct Job {
    data: Vec<u8>,
    dict: Vec<u8>,
    last: bool,
    reply: SyncSender<io::Result<Done>>,
}

struct Done {
    compressed: Vec<u8>,
    crc: crc32fast::Hasher,
    /// The input buffer, handed back for reuse.
    data: Vec<u8>,
}

/// A gzip writer compressing blocks on `threads` worker threads.
pub(crate) struct ParGz<W: Write> {
    out: W,
    level: u32,
    block: Vec<u8>,
    dict: Vec<u8>,
    crc: crc32fast::Hasher,
    total: u64,
    header_written: bool,
    inflight: VecDeque<Receiver<io::Result<Done>>>,
    max_inflight: usize,
    free: Vec<Vec<u8>>,
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
    pub(crate) fn new(out: W, level: u32, threads: usize) -> ParGz<W> {
        let threads = threads.max(1);
        let pool = if threads == 1 {
            None
        } else {
            let (tx, rx) = mpsc::sync_channel::<Job>(threads);
            let rx = Arc::new(Mutex::new(rx));
            let workers = (0..threads)
                .map(|_| {
                    let rx = Arc::clone(&rx);
                    std::thread::spawn(move || worker(&rx, level))
                })
                .collect();
            Some(Pool {
                jobs: Some(tx),
                workers,
            })
        };
        ParGz {
            out,
            level,
            block: Vec::with_capacity(BLOCK),
            dict: Vec::new(),
            crc: crc32fast::Hasher::new(),
            total: 0,
            header_written: false,
            inflight: VecDeque::new(),
            max_inflight: 2 * threads + 2,
            free: Vec::new(),
            pool,
        }
    }

    fn header(&mut self) -> io::Result<()> {
        if !self.header_written {
            // Magic, deflate, no flags, mtime 0, extra flags as Go and zlib set them, OS unknown.
            let xfl = match self.level {
                9 => 2,
                1 => 4,
                _ => 0,
            };
            self.out
                .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])?;
            self.header_written = true;
        }
        Ok(())
    }

    /// Hands the current block to a worker (or compresses it inline).
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        self.header()?;
        let next = self.free.pop().unwrap_or_else(|| Vec::with_capacity(BLOCK));
        let data = std::mem::replace(&mut self.block, next);
        let dict = std::mem::take(&mut self.dict);
        let start = data.len().saturating_sub(DICT);
        self.dict = data[start..].to_vec();
        if self.pool.is_none() {
            let done = compress_block(self.level, &dict, data, last)?;
            self.write_done(done)?;
            return Ok(());
        }
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let job = Job {
            data,
            dict,
            last,
            reply: reply_tx,
        };
        let jobs = self
            .pool
            .as_ref()
            .and_then(|p| p.jobs.as_ref())
            .expect("a pool with its job queue exists until finish");
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
        self.out.write_all(&done.compressed)?;
        self.crc.combine(&done.crc);
        done.data.clear();
        self.free.push(done.data);
        Ok(())
    }

    /// Compresses what is left, writes the trailer and gives the writer back.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while !self.inflight.is_empty() {
            self.collect_one()?;
        }
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&(self.total as u32).to_le_bytes())?;
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
                self.dispatch(false)?;
            }
        }
        self.total += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn worker(jobs: &Mutex<Receiver<Job>>, level: u32) {
    loop {
        let job = {
            let Ok(rx) = jobs.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let result = compress_block(level, &job.dict, job.data, job.last);
        let _ = job.reply.send(result);
    }
}

/// Deflates one block: dictionary, data, then a sync flush (or the final block).
///
/// A fresh compressor every time, on purpose: zlib-rs's `deflateReset` keeps the previous
/// stream's window bytes, and they can change the output of the next stream, which would
/// make the bytes depend on which worker compressed which block. A fresh compressor starts
/// from a zeroed window; its allocation is small next to deflating a block.
fn compress_block(level: u32, dict: &[u8], data: Vec<u8>, last: bool) -> io::Result<Done> {
    let mut c = Compress::new(Compression::new(level), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let mut consumed = 0usize;
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(4096));
        }
        let before = c.total_in();
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        consumed += (c.total_in() - before) as usize;
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            _ => consumed == data.len() && out.len() < out.capacity(),
        };
        if done {
            break;
        }
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&data);
    Ok(Done {
        compressed: out,
        crc,
        data,
    })
}
