//! `digest_files`: one result per input, in order; a failure names its input and the
//! inputs after it are still digested.

use oci_digest::{Algorithm, Digester, Input, digest_files, digest_reader};

use crate::scratch;

#[test]
fn every_input_gets_its_own_result() {
    let dir = scratch("files-digest");
    let a = dir.join("a");
    let b = dir.join("b");
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&a, b"hello\n").expect("write");
    std::fs::write(&b, &big).expect("write");
    let missing = dir.join("missing");
    let inputs = [
        Input::File(a.clone()),
        Input::File(missing.clone()),
        Input::File(b.clone()),
    ];
    let results: Vec<_> = digest_files(inputs.clone(), Algorithm::Sha512).collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].0, inputs[0]);
    assert_eq!(
        results[0].1.as_ref().expect("a"),
        &Digester::digest_bytes(Algorithm::Sha512, b"hello\n")
    );
    let err = results[1].1.as_ref().expect_err("missing");
    assert_eq!(err.input, Input::File(missing.clone()));
    assert_eq!(err.source.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!("cannot read {}", missing.display())
    );
    assert_eq!(
        results[2].1.as_ref().expect("b"),
        &Digester::digest_bytes(Algorithm::Sha512, &big)
    );
}

#[test]
fn a_reader_is_digested_through_a_small_buffer() {
    let data = vec![3u8; 10_000];
    let mut buf = [0u8; 7];
    let measured = digest_reader(&data[..], Algorithm::Blake3, &mut buf).expect("digest");
    assert_eq!(measured, Digester::digest_bytes(Algorithm::Blake3, &data));
    assert_eq!(Input::Stdin.to_string(), "standard input");
}
