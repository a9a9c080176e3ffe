use std::io::{self, Read};

use oci_digest::{Algorithm, Digester, Unverifiable, VerifyError, VerifyingReader};

/// Reads `reader` to the end and returns the content or the typed verification error.
fn read_all(mut reader: impl Read) -> Result<Vec<u8>, VerifyError> {
    let mut out = Vec::new();
    match reader.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => Err(VerifyError::from_io(&e)
            .unwrap_or_else(|| panic!("not a verification error: {e}"))
            .clone()),
    }
}

#[test]
fn verifying_reader_accepts_exact_content() {
    for algorithm in Algorithm::ALL {
        let m = Digester::digest_bytes(algorithm, b"hello world");
        let mut r = VerifyingReader::new(&b"hello world"[..], &m.digest, m.size).expect("new");
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("verified read");
        assert_eq!(out, b"hello world");
        assert_eq!(r.verified(), Some(&m), "{algorithm}");
        // Reading again after the end stays at the end.
        assert_eq!(r.read(&mut [0; 8]).expect("read after end"), 0);
    }
}

#[test]
fn verifying_reader_accepts_sha256_without_size() {
    let m = Digester::digest_bytes(Algorithm::Sha256, b"abc");
    let r = VerifyingReader::without_size(&b"abc"[..], &m.digest).expect("new");
    assert_eq!(read_all(r).expect("verified"), b"abc");
}

#[test]
fn verifying_reader_rejects_wrong_digest() {
    let m = Digester::digest_bytes(Algorithm::Sha256, b"abc");
    let r = VerifyingReader::new(&b"abd"[..], &m.digest, 3).expect("new");
    match read_all(r) {
        Err(VerifyError::DigestMismatch { expected, actual }) => {
            assert_eq!(expected, m.digest);
            assert_eq!(actual, Digester::digest_bytes(Algorithm::Sha256, b"abd"));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
}

#[test]
fn verifying_reader_rejects_wrong_digest_without_size() {
    for algorithm in Algorithm::ALL {
        let m = Digester::digest_bytes(algorithm, b"abc");
        let r = VerifyingReader::without_size(&b"abcd"[..], &m.digest).expect("new");
        assert!(
            matches!(read_all(r), Err(VerifyError::DigestMismatch { .. })),
            "{algorithm}"
        );
    }
}

#[test]
fn verifying_reader_rejects_short_content() {
    let m = Digester::digest_bytes(Algorithm::Sha256, b"abcdef");
    let r = VerifyingReader::new(&b"abc"[..], &m.digest, m.size).expect("new");
    match read_all(r) {
        Err(VerifyError::TooShort {
            digest,
            expected_size,
            actual,
        }) => {
            assert_eq!(digest, m.digest);
            assert_eq!(expected_size, 6);
            assert_eq!(actual, Digester::digest_bytes(Algorithm::Sha256, b"abc"));
        }
        other => panic!("expected too short, got {other:?}"),
    }
}

#[test]
fn verifying_reader_rejects_size_mismatch_even_with_right_digest() {
    // The right content, but the descriptor claims another size (D8).
    let m = Digester::digest_bytes(Algorithm::Sha256, b"abc");
    let r = VerifyingReader::new(&b"abc"[..], &m.digest, 4).expect("new");
    assert!(matches!(read_all(r), Err(VerifyError::TooShort { .. })));
    let r = VerifyingReader::new(&b"abc"[..], &m.digest, 2).expect("new");
    assert!(matches!(read_all(r), Err(VerifyError::TooLong { .. })));
}

#[test]
fn verifying_reader_rejects_long_content() {
    let m = Digester::digest_bytes(Algorithm::Sha256, b"abc");
    let r = VerifyingReader::new(&b"abcdef"[..], &m.digest, 3).expect("new");
    match read_all(r) {
        Err(VerifyError::TooLong {
            digest,
            expected_size,
            read,
        }) => {
            assert_eq!(digest, m.digest);
            assert_eq!(expected_size, 3);
            assert!(read > 3);
        }
        other => panic!("expected too long, got {other:?}"),
    }
}

/// Counts the bytes handed out by an endless stream.
struct Endless {
    handed_out: u64,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        buf.fill(b'x');
        self.handed_out += buf.len() as u64;
        Ok(buf.len())
    }
}

#[test]
fn verifying_reader_fails_early_when_size_exceeded() {
    let m = Digester::digest_bytes(Algorithm::Sha256, &[b'x'; 1000]);
    let mut r = VerifyingReader::new(Endless { handed_out: 0 }, &m.digest, 1000).expect("new");
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    let error = loop {
        match r.read(&mut buf) {
            Ok(0) => panic!("an endless stream cannot end"),
            Ok(n) => total += n,
            Err(e) => break e,
        }
    };
    assert!(
        total <= 1000,
        "no byte beyond the expected size is passed on"
    );
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    assert_eq!(
        VerifyError::from_io(&error),
        Some(&VerifyError::TooLong {
            digest: m.digest.clone(),
            expected_size: 1000,
            read: 1001,
        })
    );
    // Never more than one byte past the expected size was asked from the inner reader.
    assert_eq!(r.get_ref().handed_out, 1001);
    // The failure sticks.
    let again = r.read(&mut buf).expect_err("still failed");
    assert!(matches!(
        VerifyError::from_io(&again),
        Some(VerifyError::TooLong { .. })
    ));
}

#[test]
fn verifying_reader_refuses_unregistered_algorithm() {
    let d = crate::digest("md5:d41d8cd98f00b204e9800998ecf8427e");
    let e: Unverifiable = VerifyingReader::new(&b""[..], &d, 0).expect_err("unverifiable");
    assert_eq!(e.digest, d);
    assert!(e.to_string().contains("md5"), "{e}");
    assert!(VerifyingReader::without_size(&b""[..], &d).is_err());
}

#[test]
fn verifying_reader_verify_to_end_reports_mismatch() {
    let m = Digester::digest_bytes(Algorithm::Blake3, b"abc");
    let mut r = VerifyingReader::new(&b"abc"[..], &m.digest, 3).expect("new");
    assert_eq!(r.verify_to_end().expect("verified"), m);
    let mut r = VerifyingReader::new(&b"xyz"[..], &m.digest, 3).expect("new");
    let e = r.verify_to_end().expect_err("mismatch");
    assert!(matches!(
        VerifyError::from_io(&e),
        Some(VerifyError::DigestMismatch { .. })
    ));
}

#[test]
fn verify_error_messages_name_the_digests() {
    let m = Digester::digest_bytes(Algorithm::Sha256, b"abc");
    let r = VerifyingReader::new(&b"abd"[..], &m.digest, 3).expect("new");
    let e = read_all(r).expect_err("mismatch");
    let text = e.to_string();
    assert!(text.contains(m.digest.as_str()), "{text}");
    assert!(
        text.contains(
            Digester::digest_bytes(Algorithm::Sha256, b"abd")
                .digest
                .as_str()
        ),
        "{text}"
    );
}
