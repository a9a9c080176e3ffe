//! Logging through `tracing` on standard error: `--debug` (or `OCIMG_LOG=debug`, or any
//! `tracing-subscriber` filter such as `OCIMG_LOG=oci_registry=debug`) logs each step and
//! each HTTP request; by default only warnings and errors the libraries log appear, and
//! `-q` keeps errors only.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// The environment variable holding the log filter.
pub const ENV: &str = "OCIMG_LOG";

/// Installs the logger; returns whether it logs below the warning level (then progress
/// bars stay off, so that they do not garble the log lines).
pub fn init(debug: bool, quiet: bool) -> bool {
    let from_env = std::env::var(ENV).ok().filter(|v| !v.trim().is_empty());
    let filter = if debug {
        EnvFilter::new("debug")
    } else if quiet {
        EnvFilter::new("error")
    } else if let Some(spec) = from_env {
        EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            // A notice, not an error: the command itself can still run.
            #[allow(clippy::print_stderr)] // the logger is not installed yet
            {
                eprintln!("ocimg: {ENV}={spec:?} is not a log filter ({e}); using \"warn\"");
            }
            EnvFilter::new("warn")
        })
    } else {
        EnvFilter::new("warn")
    };
    let verbose = filter
        .max_level_hint()
        .is_none_or(|level| level > tracing::level_filters::LevelFilter::WARN);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color(std::io::stderr().is_terminal()))
        .with_target(true)
        .try_init();
    verbose
}

/// Whether to colour output on a stream: only on a terminal, and never when `NO_COLOR`
/// is set to a non-empty value (<https://no-color.org>).
pub fn color(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
