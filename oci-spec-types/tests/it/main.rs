//! Integration tests of oci-spec-types.

mod docker;
mod types;
mod validate;
