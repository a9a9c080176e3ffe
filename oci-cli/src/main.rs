//! `ocimg`: the command-line tool. A thin layer of argument parsing and output over the
//! library crates; exit codes are decided here, in one place (see `../shared/CLI.md`):
//! 0 success, 1 a check failed, 2 usage or I/O error.

// The binary's job is to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cmd;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// What a command reports back to `main`, which turns it into the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: a check failed (invalid document, digest mismatch, refused entry, ...).
    CheckFailed,
    /// Exit 2, where the command has already reported the errors itself (for example
    /// one unreadable file among several).
    IoFailed,
}

#[derive(Debug, Parser)]
#[command(
    name = "ocimg",
    version,
    about = "OCI image toolkit",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate OCI documents and report every violation.
    Validate(cmd::validate::Args),
    /// Print digests of files, like sha256sum.
    Digest(cmd::digest::Args),
    /// Work with image names: parse, resolve, discover.
    Name(cmd::name::Args),
    /// Create, apply and list layers.
    Layer(cmd::layer::Args),
    /// Create an empty OCI image layout.
    Init(cmd::init::Args),
    /// Tag an image of a layout (DIR:REF NEWTAG).
    Tag(cmd::tag::Args),
    /// Remove a tag from a layout (DIR:TAG).
    Untag(cmd::tag::UntagArgs),
    /// List the entries of a layout's index.json.
    Ls(cmd::ls::Args),
    /// Show an image's manifest, config, layers and history.
    Inspect(cmd::inspect::Args),
    /// Check a layout: blobs, documents, diffIDs, subjects.
    Fsck(cmd::fsck::Args),
    /// Remove blobs unreachable from a layout's index.json.
    Gc(cmd::gc::Args),
    /// Unpack an image into a new directory, verifying every layer.
    Unpack(cmd::unpack::Args),
    /// Make a runtime bundle (rootfs + config.json) that runc runs.
    Bundle(cmd::bundle::Args),
    /// Build an image from a root filesystem, on a base image or from scratch.
    Build(cmd::build::Args),
    /// Edit an image's config: a new config and manifest, the layers untouched.
    Config(cmd::config::Args),
    /// Work with image indexes: create.
    Index(cmd::index::Args),
    /// Copy an image between oci:, oci-archive:, docker-archive: and discover: endpoints.
    Copy(cmd::copy::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Validate(args) => cmd::validate::run(args),
        Command::Digest(args) => cmd::digest::run(args),
        Command::Name(args) => cmd::name::run(args),
        Command::Layer(args) => cmd::layer::run(args),
        Command::Init(args) => cmd::init::run(args),
        Command::Tag(args) => cmd::tag::run(args),
        Command::Untag(args) => cmd::tag::run_untag(args),
        Command::Ls(args) => cmd::ls::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Fsck(args) => cmd::fsck::run(args),
        Command::Gc(args) => cmd::gc::run(args),
        Command::Unpack(args) => cmd::unpack::run(args),
        Command::Bundle(args) => cmd::bundle::run(args),
        Command::Build(args) => cmd::build::run(args),
        Command::Config(args) => cmd::config::run(args),
        Command::Index(args) => cmd::index::run(args),
        Command::Copy(args) => cmd::copy::run(args),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(1),
        Ok(Outcome::IoFailed) => ExitCode::from(2),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("ocimg: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints one JSON value on standard output, followed by a newline.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
