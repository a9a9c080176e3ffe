//! One module per command; each has `Args` (clap) and `run(Args) -> anyhow::Result<Outcome>`.

pub mod digest;
pub mod layer;
pub mod layer_apply;
pub mod layer_create;
pub mod name;
pub mod validate;
