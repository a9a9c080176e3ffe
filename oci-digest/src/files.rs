//! Digests of whole files and streams, one after another, through one buffer: what
//! `sha256sum` does.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::{Algorithm, Digester, Measured};

/// Bytes read at a time; one buffer, reused for every input.
///
/// Measured (`cargo xtask bench digest`, AMD EPYC with SHA-NI, 512 KiB L2 per core):
/// 64 KiB stays in the caches between the kernel's copy and the hashing and beats
/// openssl's CPU time; 128 KiB to 1 MiB spill out of L2 and cost about 50% more CPU.
/// A separate reader thread (double buffering) used more CPU and gained no wall time.
pub const DIGEST_BUFFER: usize = 64 * 1024;

/// One input of [`digest_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The process's standard input.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Stdin => f.write_str("standard input"),
            Input::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Why one input could not be digested.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {input}")]
pub struct DigestFileError {
    /// The input.
    pub input: Input,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// Digests `reader` to its end through `buf`, never holding more than one buffer of it.
pub fn digest_reader(
    mut reader: impl Read,
    algorithm: Algorithm,
    buf: &mut [u8],
) -> io::Result<Measured> {
    let mut digester = Digester::new(algorithm);
    loop {
        match reader.read(buf) {
            Ok(0) => return Ok(digester.finish()),
            Ok(n) => digester.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The digests of `inputs`, one at a time as the iterator is advanced, each with its
/// input: a failure on one input is reported for it, and the next ones are still read.
pub fn digest_files<I: IntoIterator<Item = Input>>(
    inputs: I,
    algorithm: Algorithm,
) -> DigestFiles<I::IntoIter> {
    DigestFiles {
        inputs: inputs.into_iter(),
        algorithm,
        buf: vec![0; DIGEST_BUFFER],
    }
}

/// The iterator of [`digest_files`].
#[derive(Debug)]
pub struct DigestFiles<I> {
    inputs: I,
    algorithm: Algorithm,
    buf: Vec<u8>,
}

impl<I: Iterator<Item = Input>> Iterator for DigestFiles<I> {
    type Item = (Input, Result<Measured, DigestFileError>);

    fn next(&mut self) -> Option<Self::Item> {
        let input = self.inputs.next()?;
        let measured = match &input {
            Input::Stdin => digest_reader(io::stdin().lock(), self.algorithm, &mut self.buf),
            Input::File(path) => {
                File::open(path).and_then(|f| digest_reader(f, self.algorithm, &mut self.buf))
            }
        };
        let result = measured.map_err(|source| DigestFileError {
            input: input.clone(),
            source,
        });
        Some((input, result))
    }
}
