use std::io::{Read, Write};

use oci_digest::{Algorithm, DigestReader, DigestWriter, Digester};

#[test]
fn digest_writer_tees_and_digests_in_one_pass() {
    let mut w = DigestWriter::new(Vec::new(), Algorithm::Sha256);
    w.write_all(b"ab").expect("write");
    w.write_all(b"c").expect("write");
    assert_eq!(w.size(), 3);
    let (inner, measured) = w.finish().expect("finish");
    assert_eq!(inner, b"abc");
    assert_eq!(measured, Digester::digest_bytes(Algorithm::Sha256, b"abc"));
}

/// A writer that accepts at most 2 bytes per call.
struct Trickle(Vec<u8>);

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(2);
        self.0.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn digest_writer_digests_only_accepted_bytes() {
    let mut w = DigestWriter::new(Trickle(Vec::new()), Algorithm::Blake3);
    assert_eq!(w.write(b"hello").expect("write"), 2);
    w.write_all(b"llo").expect("write");
    let (inner, measured) = w.finish().expect("finish");
    assert_eq!(inner.0, b"hello");
    assert_eq!(
        measured,
        Digester::digest_bytes(Algorithm::Blake3, b"hello")
    );
}

#[test]
fn digest_reader_digests_what_is_read() {
    let mut r = DigestReader::new(&b"some content"[..], Algorithm::Sha512);
    let mut out = String::new();
    r.read_to_string(&mut out).expect("read");
    let (_, measured) = r.finish();
    assert_eq!(out, "some content");
    assert_eq!(
        measured,
        Digester::digest_bytes(Algorithm::Sha512, b"some content")
    );
}
