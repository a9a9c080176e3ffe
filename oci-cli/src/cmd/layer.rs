//! `ocimg layer create|apply|ls`.

use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg layer create rootfs -o layer.tar.gz
  ocimg layer ls layer.tar.gz
  ocimg layer apply base.tar.gz app.tar.gz ./root")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create a layer from a directory, or from the difference of two.
    Create(super::layer_create::CreateArgs),
    /// List the entries of a layer.
    Ls(super::layer_ls::LsArgs),
    /// Apply layers in order onto a root directory.
    Apply(super::layer_apply::ApplyArgs),
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.command {
        Command::Create(a) => super::layer_create::create(a),
        Command::Ls(a) => super::layer_ls::ls(a),
        Command::Apply(a) => super::layer_apply::apply(a),
    }
}
