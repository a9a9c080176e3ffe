//! `cargo xtask`: project tasks (conformance, benchmarks, fuzzing, the demo).

// xtask reports to the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod conformance;
mod demo;
mod fuzz;
mod tidy;

use std::path::{Path, PathBuf};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("conformance") => conformance::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <conformance [--corpus DIR] | bench [digest|layers|images] | fuzz [TARGET] | demo>"
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

/// The root of the repository.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_path_buf()
}
