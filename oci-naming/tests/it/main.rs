//! Integration tests of oci-naming: references, registries.conf and discovery.

// Skipped peers are reported on standard error, as the project's test rules ask.
#![allow(clippy::print_stderr)]

mod corpus;
mod discovery;
mod reference;
mod registries;

/// The xtask corpus runner, compiled here too so that `cargo test -p oci-naming` checks
/// the upstream vectors without xtask. Its `use super::{Outcome, Status}` finds the two
/// types below.
#[path = "../../../xtask/src/conformance/reference.rs"]
mod xtask_reference;

/// The verdict on one corpus vector (mirrors xtask's type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub id: String,
    pub status: Status,
}

/// Whether our code agrees with a vector (mirrors xtask's type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Agree,
    Disagree(String),
    Excused(String),
}
