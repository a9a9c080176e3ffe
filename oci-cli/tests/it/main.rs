//! Integration tests of the `ocimg` binary: spellings, JSON shapes and exit codes of CLI.md.

mod build;
mod causes;
mod copy;
mod copy_discover;
mod digest;
mod image;
mod json_errors;
mod key;
mod layer_apply;
mod layer_create;
mod login;
mod name;
mod output;
mod registry;
mod sign;
mod unpack;
mod validate;

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `ocimg` with `args`, without standard input.
pub fn ocimg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ocimg"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ocimg")
}

/// A fresh, empty directory under the target directory, for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}
