//! Integration tests of oci-layer.

mod apply;
mod create;
mod hostile;
mod roundtrip;
mod rules;
