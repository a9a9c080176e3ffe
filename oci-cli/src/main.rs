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
