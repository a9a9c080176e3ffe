//! Streaming digesters: hash bytes as they pass and give digest and size together.

use std::io::{self, Write};

use oci_spec_types::digest::{Algorithm, Digest};
use sha2::Digest as _;

/// What one pass over some content yields: its digest and its size, always together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Measured {
    /// The digest of the content.
    pub digest: Digest,
    /// The number of bytes.
    pub size: u64,
}

/// A streaming digester for one registered algorithm.
///
/// It is also a [`Write`] sink, so `io::copy(&mut reader, &mut digester)` digests a stream.
#[derive(Clone)]
pub struct Digester {
    state: State,
    size: u64,
}

#[derive(Clone)]
enum State {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Blake3(Box<blake3::Hasher>),
}

impl Digester {
    /// A digester for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Digester {
        let state = match algorithm {
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => State::Sha512(sha2::Sha512::new()),
            Algorithm::Blake3 => State::Blake3(Box::default()),
        };
        Digester { state, size: 0 }
    }

    /// The algorithm this digester computes.
    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            State::Sha256(_) => Algorithm::Sha256,
            State::Sha512(_) => Algorithm::Sha512,
            State::Blake3(_) => Algorithm::Blake3,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        match &mut self.state {
            State::Sha256(h) => h.update(bytes),
            State::Sha512(h) => h.update(bytes),
            State::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    /// The number of bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest and size of everything fed.
    pub fn finish(self) -> Measured {
        let algorithm = self.algorithm();
        let digest = match self.state {
            State::Sha256(h) => Digest::from_hash(algorithm, &h.finalize()),
            State::Sha512(h) => Digest::from_hash(algorithm, &h.finalize()),
            State::Blake3(h) => Digest::from_hash(algorithm, h.finalize().as_bytes()),
        };
        Measured {
            digest,
            size: self.size,
        }
    }

    /// The digest and size of a byte slice.
    pub fn digest_bytes(algorithm: Algorithm, bytes: &[u8]) -> Measured {
        let mut d = Digester::new(algorithm);
        d.update(bytes);
        d.finish()
    }
}

impl std::fmt::Debug for Digester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digester")
            .field("algorithm", &self.algorithm())
            .field("size", &self.size)
            .finish()
    }
}

impl Write for Digester {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_empty_digests() {
        assert_eq!(
            Digester::digest_bytes(Algorithm::Sha256, b"")
                .digest
                .as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            Digester::digest_bytes(Algorithm::Blake3, b"")
                .digest
                .as_str(),
            "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        let m = Digester::digest_bytes(Algorithm::Sha512, b"{}");
        assert_eq!(m.size, 2);
        assert_eq!(m.digest.encoded().len(), 128);
    }
}
