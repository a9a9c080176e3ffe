//! `cargo xtask`: project tasks (conformance, benchmarks, fuzzing, the demo, the generated
//! command reference and the pinned public API).

// xtask reports to the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod api;
mod bench;
mod conformance;
mod demo;
mod fuzz;
mod package;
mod registry;
mod tidy;

use std::path::{Path, PathBuf};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("conformance") => conformance::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        Some("api") => api::run(&args[1..]),
        Some("docs") => docs(),
        Some("package") => package::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <conformance [--corpus DIR] | bench [digest|layers|images|registry|sign] | fuzz [TARGET] | demo | docs | api | package [--no-verify]>"
            );
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// `cargo xtask docs`: regenerates the command reference (docs/reference.md, docs/man/)
/// from the clap definitions, through oci-cli's `docs::reference_is_current` test.
fn docs() -> anyhow::Result<bool> {
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(project_root())
            .args([
                "test",
                "--quiet",
                "-p",
                "oci-cli",
                "--bin",
                "ocimg",
                "docs::reference_is_current",
            ])
            .env("OCIMG_BLESS", "1")
            .status()?;
    anyhow::ensure!(status.success(), "regenerating the reference failed");
    println!("docs: wrote docs/reference.md and docs/man/");
    Ok(true)
}

/// The root of the repository.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_path_buf()
}
