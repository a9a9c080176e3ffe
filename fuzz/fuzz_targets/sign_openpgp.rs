//! Fuzz target: the OpenPGP packet reader and signed-message checks
//! (`oci_sign::openpgp::read_packets`, `verify_message` against keys parsed from the
//! input itself) and the storage framing (`oci_sign::StoredSignature::from_blob`).
#![no_main]

use oci_sign::StoredSignature;
use oci_sign::openpgp::{Keyring, read_packets, verify_message};

libfuzzer_sys::fuzz_target!(|data: &[u8]| sign_openpgp(data));

/// The target body, over bytes.
pub fn sign_openpgp(data: &[u8]) {
    if let Ok(packets) = read_packets(data) {
        assert!(packets.len() <= 16, "the packet count is bounded");
    }
    let _ = StoredSignature::from_blob(data);
    if let Ok(ring) = Keyring::from_bytes(data) {
        let _ = ring.fingerprints();
        let _ = verify_message(data, &ring, 0);
    }
}
