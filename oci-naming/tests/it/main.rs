//! Integration tests of oci-naming: references, registries.conf and discovery.

// Skipped peers are reported on standard error, as the project's test rules ask.
#![allow(clippy::print_stderr)]

mod corpus;
mod discovery;
mod reference;
mod registries;

/// The runner of the upstream distribution/reference vectors. It lives here, inside the
/// package, so that the published crate's tests build; `cargo xtask conformance --corpus`
/// compiles the same file (xtask is never published). Its `use super::{Outcome, Status}`
/// finds the two types below.
mod upstream;

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
