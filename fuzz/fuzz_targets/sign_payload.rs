//! Fuzz target: the strict simple-signing payload reader (`oci_sign::Payload::parse`).
//! Besides "never panics": whatever parses writes back to bytes that parse to the same
//! payload.
#![no_main]

use oci_sign::{ATOMIC_TYPE, COSIGN_TYPE, Payload};

libfuzzer_sys::fuzz_target!(|data: &[u8]| sign_payload(data));

/// The target body, over bytes.
pub fn sign_payload(data: &[u8]) {
    for expected in [ATOMIC_TYPE, COSIGN_TYPE] {
        if let Ok(p) = Payload::parse(data, expected) {
            let again = Payload::parse(&p.to_bytes(), expected).expect("written payloads parse");
            assert_eq!(again, p, "payload round trip");
        }
    }
}
