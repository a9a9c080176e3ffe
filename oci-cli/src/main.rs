//! `ocimg`: the command-line tool. A thin layer of argument parsing and output over the
//! library crates; exit codes are decided here, in one place (see `../shared/CLI.md`):
//! 0 success, 1 a check failed, 2 usage or I/O error.

// The binary's job is to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cmd;
#[cfg(test)]
mod docs;
mod logging;
mod progress;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

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
    propagate_version = true,
    after_help = "Examples:
  ocimg init layout
  ocimg build layout:app --rootfs ./rootfs --entrypoint '[\"/bin/app\"]'
  ocimg copy oci:layout:app docker-archive:app.tar:app:latest
  ocimg unpack layout:app ./app-root
  ocimg validate --kind manifest manifest.json

Each command's --help has more examples."
)]
struct Cli {
    /// Print no progress and no notices (errors and warnings still go to standard error).
    #[arg(short, long, global = true, conflicts_with = "debug")]
    quiet: bool,
    /// Log each step and each HTTP request on standard error (as OCIMG_LOG=debug does).
    #[arg(long, global = true)]
    debug: bool,
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
    /// Copy an image between oci:, oci-archive:, docker-archive:, docker:// and discover:
    /// endpoints.
    Copy(cmd::copy::Args),
    /// List every tag of a registry repository (docker://HOST/REPO).
    Tags(cmd::tags::Args),
    /// Delete an image from a registry (docker://HOST/REPO:TAG|@DIGEST).
    Delete(cmd::tags::DeleteArgs),
    /// List the manifests that refer to an image (signatures, SBOMs).
    Referrers(cmd::referrers::Args),
    /// Generate signing keys (cosign key pairs).
    Key(cmd::key::Args),
    /// Sign an image's manifest digest (simple signing or cosign) and store the signature.
    Sign(cmd::sign::Args),
    /// Check an image and its signatures against a trust policy (exit 0 accepted, 1 rejected).
    Verify(cmd::verify::Args),
    /// Log in to a registry: check the credentials, then store them (as skopeo login).
    Login(cmd::login::Args),
    /// Remove a registry's stored credentials (or every registry's, with --all).
    Logout(cmd::login::LogoutArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
}

/// `ocimg completions SHELL`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg completions bash > ~/.local/share/bash-completion/completions/ocimg
  ocimg completions zsh > ~/.zfunc/_ocimg
  ocimg completions fish > ~/.config/fish/completions/ocimg.fish")]
struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => return usage_error(&e),
    };
    let json = wants_json(&matches);
    let path = command_path(&matches);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let debug = logging::init(cli.debug, cli.quiet);
    progress::configure(progress::Settings {
        quiet: cli.quiet,
        logging: debug,
    });
    tracing::debug!(command = %path, json, "start");
    let started = std::time::Instant::now();
    let result = run(cli.command);
    let code = exit_code(&result);
    if let Err(e) = &result
        && code != 0
    {
        eprintln!("ocimg: {e:#}");
    }
    if json && code != 0 && !json_printed() {
        // One place for the JSON error (CLI.md): the command failed before it printed
        // its report. A command that returned a non-zero outcome without an error has
        // already said why on standard error.
        let message = match &result {
            Err(e) => format!("{e:#}"),
            Ok(_) => format!("ocimg {path} failed"),
        };
        let _ = print_json(&serde_json::json!({ "error": message }));
    }
    tracing::debug!(
        command = %path,
        exit = code,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "done"
    );
    ExitCode::from(code)
}

fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Validate(args) => cmd::validate::run(args),
        Command::Digest(args) => cmd::digest::run(args),
        Command::Name(args) => cmd::name::run(args),
        Command::Layer(args) => cmd::layer::run(args),
        Command::Init(args) => cmd::init::run(args),
        Command::Key(args) => cmd::key::run(args),
        Command::Sign(args) => cmd::sign::run(args),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Login(args) => cmd::login::run(args),
        Command::Logout(args) => cmd::login::run_logout(args),
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
        Command::Tags(args) => cmd::tags::run(args),
        Command::Delete(args) => cmd::tags::run_delete(args),
        Command::Referrers(args) => cmd::referrers::run(args),
        Command::Completions(args) => completions(&args),
    }
}

/// The exit code of a command's result: 0, 1 for a failed check (an [`Outcome`] or a
/// [`CheckFailed`] error), 2 for any other error; a broken pipe is success (the reader
/// went away, as `ocimg ls | head` does).
fn exit_code(result: &anyhow::Result<Outcome>) -> u8 {
    match result {
        Ok(Outcome::Ok) => 0,
        Ok(Outcome::CheckFailed) => 1,
        Ok(Outcome::IoFailed) => 2,
        Err(e) if is_broken_pipe(e) => 0,
        Err(e) if e.chain().any(|c| c.is::<CheckFailed>()) => 1,
        Err(_) => 2,
    }
}

/// Reports a command-line usage error as clap does (exit 2; `--help` and `--version`
/// exit 0), plus the JSON error when the arguments asked for `--json`.
fn usage_error(e: &clap::Error) -> ExitCode {
    let code = if e.use_stderr() { 2 } else { 0 };
    let _ = e.print();
    if code != 0 && argv_asks_for_json() {
        // The message is clap's, up to its usage lines, on one line.
        let rendered = e.render().to_string();
        let message = rendered
            .lines()
            .take_while(|l| !l.starts_with("Usage:"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let message = message.strip_prefix("error: ").unwrap_or(&message);
        let _ = print_json(&serde_json::json!({ "error": message }));
    }
    ExitCode::from(code)
}

/// Whether `--json` is among the options of a command line clap could not parse.
fn argv_asks_for_json() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Whether the innermost subcommand has a `--json` flag and it was given.
fn wants_json(matches: &ArgMatches) -> bool {
    let mut m = matches;
    while let Some((_, sub)) = m.subcommand() {
        m = sub;
    }
    matches!(m.try_get_one::<bool>("json"), Ok(Some(true)))
}

/// The subcommand names, as `layer create`.
fn command_path(matches: &ArgMatches) -> String {
    let mut names = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        names.push(name);
        m = sub;
    }
    names.join(" ")
}

fn completions(args: &CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut Cli::command(), "ocimg", &mut out);
    out.flush()?;
    Ok(Outcome::Ok)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A failed check (exit 1: an invalid name, a refused layer entry, a damaged blob) as an
/// error, so that `main` reports it like any other, in one place. Its message is the
/// whole chain of the error it wraps.
#[derive(Debug)]
pub struct CheckFailed(anyhow::Error);

impl std::fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for CheckFailed {}

/// Wraps `error` as a failed check: `main` prints it and exits 1 (with `{"error": ...}`
/// under `--json`).
pub fn check_failed(error: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(CheckFailed(error.into()))
}

/// Whether anything was printed with [`print_json`].
static JSON_PRINTED: AtomicBool = AtomicBool::new(false);

fn json_printed() -> bool {
    JSON_PRINTED.load(Ordering::Relaxed)
}

/// Prints one JSON value on standard output, followed by a newline.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    JSON_PRINTED.store(true, Ordering::Relaxed);
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
