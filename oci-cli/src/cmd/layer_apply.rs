//! (being written)

use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {}

pub fn apply(_args: ApplyArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("this command is being written")
}
