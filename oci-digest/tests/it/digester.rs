use oci_digest::{Algorithm, Digester};

fn check(algorithm: Algorithm, content: &[u8], expected: &str) {
    let m = Digester::digest_bytes(algorithm, content);
    assert_eq!(m.digest.as_str(), expected, "{algorithm} of {content:?}");
    assert_eq!(m.size, content.len() as u64);
}

#[test]
fn known_vectors_sha256() {
    check(
        Algorithm::Sha256,
        b"",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    check(
        Algorithm::Sha256,
        b"abc",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
}

#[test]
fn known_vectors_sha512() {
    check(
        Algorithm::Sha512,
        b"",
        "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    );
    check(
        Algorithm::Sha512,
        b"abc",
        "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    );
}

#[test]
fn known_vectors_blake3() {
    check(
        Algorithm::Blake3,
        b"",
        "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
    );
    check(
        Algorithm::Blake3,
        b"abc",
        "blake3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
    );
}

#[test]
fn empty_descriptor_content_digest() {
    check(
        Algorithm::Sha256,
        b"{}",
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    );
}

#[test]
fn digester_is_a_write_sink() {
    let mut d = Digester::new(Algorithm::Sha256);
    std::io::copy(&mut &b"abc"[..], &mut d).expect("copy into digester");
    assert_eq!(d.size(), 3);
    assert_eq!(
        d.finish().digest,
        Digester::digest_bytes(Algorithm::Sha256, b"abc").digest
    );
}

/// The `op: compute` rows of the shared digest vectors (content -> digest).
#[test]
fn shared_digest_compute_vectors() {
    let Some(vectors) = crate::shared_vectors("digest.jsonl") else {
        return;
    };
    let mut checked = 0;
    for v in vectors.iter().filter(|v| v["op"] == "compute") {
        let algorithm: Algorithm = v["algorithm"]
            .as_str()
            .expect("algorithm")
            .parse()
            .expect("registered algorithm");
        let content = v["content_utf8"].as_str().expect("content_utf8");
        let got = Digester::digest_bytes(algorithm, content.as_bytes());
        assert_eq!(got.digest.as_str(), v["expected"], "vector {}", v["id"]);
        checked += 1;
    }
    assert!(checked > 0, "no compute vectors found");
}
