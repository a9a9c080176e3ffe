//! Verifying reads: hash content as it passes and check it against an expected digest and size.

use std::io::{self, Read};

use oci_spec_types::digest::{Algorithm, Digest};

use crate::digester::{Digester, Measured};

/// A digest whose algorithm is not registered: content cannot be checked against it (DG2, DG5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "digest {digest} uses the unregistered algorithm {:?}: its content cannot be verified",
    digest.algorithm_name()
)]
pub struct Unverifiable {
    /// The digest that was given.
    pub digest: Digest,
}

/// Returns the registered algorithm of `digest`, or [`Unverifiable`].
pub(crate) fn algorithm_of(digest: &Digest) -> Result<Algorithm, Unverifiable> {
    digest.algorithm().ok_or_else(|| Unverifiable {
        digest: digest.clone(),
    })
}

/// Content that does not match what was expected of it (D6, D8, DG3, DG5).
///
/// A [`VerifyingReader`] returns it wrapped in an [`io::Error`] of kind
/// [`io::ErrorKind::InvalidData`]; [`VerifyError::from_io`] gets it back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// More bytes arrived than the expected size; reported as soon as the first extra byte
    /// arrives, before it is hashed.
    #[error("content of {digest} is longer than the expected {expected_size} bytes")]
    TooLong {
        /// The expected digest.
        digest: Digest,
        /// The expected size.
        expected_size: u64,
        /// How many bytes had arrived when the excess was noticed (more than `expected_size`).
        read: u64,
    },
    /// The content ended before the expected size.
    #[error(
        "content of {digest} is {} bytes long, expected {expected_size} (its digest is {})",
        actual.size,
        actual.digest
    )]
    TooShort {
        /// The expected digest.
        digest: Digest,
        /// The expected size.
        expected_size: u64,
        /// What the content actually was.
        actual: Measured,
    },
    /// The content has the expected size (or none was given) and another digest.
    #[error(
        "content does not match digest {expected}: its digest is {} ({} bytes)",
        actual.digest,
        actual.size
    )]
    DigestMismatch {
        /// The expected digest.
        expected: Digest,
        /// What the content actually was.
        actual: Measured,
    },
}

impl VerifyError {
    /// The typed error inside an [`io::Error`] returned by a verifying reader or writer.
    pub fn from_io(error: &io::Error) -> Option<&VerifyError> {
        error
            .get_ref()
            .and_then(|e| e.downcast_ref::<VerifyError>())
    }

    /// The digest that was expected.
    pub fn expected_digest(&self) -> &Digest {
        match self {
            VerifyError::TooLong { digest, .. } | VerifyError::TooShort { digest, .. } => digest,
            VerifyError::DigestMismatch { expected, .. } => expected,
        }
    }

    pub(crate) fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// Checks content, fed in pieces, against an expected digest and optional size.
///
/// The shared core of [`VerifyingReader`] and the store's verifying writer.
#[derive(Debug, Clone)]
pub(crate) struct Verifier {
    expected: Digest,
    expected_size: Option<u64>,
    digester: Option<Digester>,
    /// The outcome once decided: the first failure is kept and returned again.
    outcome: Option<Result<Measured, VerifyError>>,
}

impl Verifier {
    pub(crate) fn new(expected: &Digest, expected_size: Option<u64>) -> Result<Self, Unverifiable> {
        let algorithm = algorithm_of(expected)?;
        Ok(Verifier {
            expected: expected.clone(),
            expected_size,
            digester: Some(Digester::new(algorithm)),
            outcome: None,
        })
    }

    /// Bytes fed so far.
    pub(crate) fn size(&self) -> u64 {
        match (&self.digester, &self.outcome) {
            (Some(d), _) => d.size(),
            (None, Some(Ok(m))) => m.size,
            (None, Some(Err(VerifyError::TooShort { actual, .. })))
            | (None, Some(Err(VerifyError::DigestMismatch { actual, .. }))) => actual.size,
            (None, Some(Err(VerifyError::TooLong { read, .. }))) => *read,
            (None, None) => 0,
        }
    }

    /// How many bytes may still arrive before the size is exceeded (`u64::MAX` when unknown).
    pub(crate) fn remaining(&self) -> u64 {
        match self.expected_size {
            Some(size) => size.saturating_sub(self.size()),
            None => u64::MAX,
        }
    }

    /// The failure already decided, if any.
    pub(crate) fn failure(&self) -> Option<&VerifyError> {
        match &self.outcome {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    }

    /// Feeds bytes; fails as soon as the total exceeds the expected size, before hashing them.
    pub(crate) fn update(&mut self, bytes: &[u8]) -> Result<(), VerifyError> {
        if let Some(Err(e)) = &self.outcome {
            return Err(e.clone());
        }
        let Some(digester) = self.digester.as_mut() else {
            // Already finished successfully: any further byte is one too many.
            if bytes.is_empty() {
                return Ok(());
            }
            return Err(self.fail(VerifyError::TooLong {
                digest: self.expected.clone(),
                expected_size: self.expected_size.unwrap_or(self.size()),
                read: self.size() + bytes.len() as u64,
            }));
        };
        let total = digester.size() + bytes.len() as u64;
        if let Some(expected_size) = self.expected_size
            && total > expected_size
        {
            self.digester = None;
            return Err(self.fail(VerifyError::TooLong {
                digest: self.expected.clone(),
                expected_size,
                read: total,
            }));
        }
        digester.update(bytes);
        Ok(())
    }

    fn fail(&mut self, error: VerifyError) -> VerifyError {
        self.digester = None;
        self.outcome = Some(Err(error.clone()));
        error
    }

    /// Decides at the end of the content: size first, then digest. Idempotent.
    pub(crate) fn finish(&mut self) -> Result<Measured, VerifyError> {
        if let Some(outcome) = &self.outcome {
            return outcome.clone();
        }
        let Some(digester) = self.digester.take() else {
            unreachable!("a verifier without a digester has an outcome")
        };
        let actual = digester.finish();
        let outcome = match self.expected_size {
            Some(expected_size) if actual.size != expected_size => Err(VerifyError::TooShort {
                digest: self.expected.clone(),
                expected_size,
                actual,
            }),
            _ if actual.digest != self.expected => Err(VerifyError::DigestMismatch {
                expected: self.expected.clone(),
                actual,
            }),
            _ => Ok(actual),
        };
        self.outcome = Some(outcome.clone());
        outcome
    }
}

/// A reader that checks digest and size as it reads (D6, D8, DG3, DG5).
///
/// - As soon as more bytes than the expected size arrive, `read` fails; it never asks the
///   inner reader for more than one byte beyond the expected size, and the excess is not
///   hashed.
/// - At the end of the inner stream, `read` returns `Ok(0)` only when size and digest
///   match; otherwise it fails.
///
/// Failures are [`io::Error`]s of kind [`io::ErrorKind::InvalidData`] wrapping a
/// [`VerifyError`] (see [`VerifyError::from_io`]); once failed, every later read fails the
/// same way. Content is verified only when read to the end: a caller that stops early must
/// not trust what it read, or can call [`VerifyingReader::verify_to_end`].
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    verifier: Verifier,
}

impl<R: Read> VerifyingReader<R> {
    /// Verifies `inner` against `digest` and the exact `size` (as a descriptor gives them).
    pub fn new(inner: R, digest: &Digest, size: u64) -> Result<Self, Unverifiable> {
        Self::with_optional_size(inner, digest, Some(size))
    }

    /// Verifies `inner` against `digest` alone, of whatever size.
    pub fn without_size(inner: R, digest: &Digest) -> Result<Self, Unverifiable> {
        Self::with_optional_size(inner, digest, None)
    }

    /// Verifies `inner` against `digest` and, when given, `size`.
    ///
    /// Fails with [`Unverifiable`] when the algorithm of `digest` is not registered.
    pub fn with_optional_size(
        inner: R,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Self, Unverifiable> {
        Ok(VerifyingReader {
            inner,
            verifier: Verifier::new(digest, size)?,
        })
    }

    /// The expected digest.
    pub fn expected_digest(&self) -> &Digest {
        &self.verifier.expected
    }

    /// The expected size, when one was given.
    pub fn expected_size(&self) -> Option<u64> {
        self.verifier.expected_size
    }

    /// The number of bytes read (and hashed) so far.
    pub fn bytes_read(&self) -> u64 {
        self.verifier.size()
    }

    /// The verified digest and size, once the end was reached and everything matched.
    pub fn verified(&self) -> Option<&Measured> {
        match &self.verifier.outcome {
            Some(Ok(m)) => Some(m),
            _ => None,
        }
    }

    /// Reads (and discards) the rest of the content and returns the verified digest and size.
    ///
    /// A mismatch is an [`io::Error`] wrapping a [`VerifyError`].
    pub fn verify_to_end(&mut self) -> io::Result<Measured> {
        let mut buf = vec![0; 64 * 1024];
        while self.read(&mut buf)? != 0 {}
        match &self.verifier.outcome {
            Some(Ok(m)) => Ok(m.clone()),
            Some(Err(e)) => Err(e.clone().into_io()),
            None => unreachable!("a verifying reader at its end has an outcome"),
        }
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Gives back the inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.verifier.failure() {
            return Err(e.clone().into_io());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // Ask for at most one byte beyond the expected size, so an over-long stream is
        // caught without reading (or hashing) far past its end.
        let limit = self.verifier.remaining().saturating_add(1);
        let want = usize::try_from(limit).map_or(buf.len(), |l| l.min(buf.len()));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return self
                .verifier
                .finish()
                .map(|_| 0)
                .map_err(VerifyError::into_io);
        }
        self.verifier
            .update(&buf[..n])
            .map_err(VerifyError::into_io)?;
        Ok(n)
    }
}
