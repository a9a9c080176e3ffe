//! Integration tests of oci-sign: payloads, OpenPGP against gpg and skopeo, cosign
//! against openssl and Python, policies against skopeo.

mod cosign;
mod openpgp;
mod payload;
mod policy;
mod support;
