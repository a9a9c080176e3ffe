//! (being written)

use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct CreateArgs {}
#[derive(Debug, clap::Args)]
pub struct LsArgs {}

pub fn create(_args: CreateArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("this command is being written")
}
pub fn ls(_args: LsArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("this command is being written")
}
