//! `cargo xtask bench [digest|layers|images]`: side-by-side benchmarks against the peers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

mod digest;
mod images;
mod layers_apply;
mod layers_create;

/// Runs the named benchmarks (all when none is named).
pub fn run(args: &[String]) -> anyhow::Result<bool> {
    let all = args.is_empty();
    let wants = |name: &str| all || args.iter().any(|a| a == name);
    let mut ok = true;
    if wants("digest") {
        ok &= digest::run()?;
    }
    if wants("layers") {
        ok &= layers_create::run()?;
        ok &= layers_apply::run()?;
    }
    if wants("images") {
        ok &= images::run()?;
    }
    Ok(ok)
}

/// Whether a command (or an absolute path) exists.
pub(super) fn have(tool: &str) -> bool {
    if tool.starts_with('/') {
        return Path::new(tool).exists();
    }
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(super) fn reset(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))
}

pub(super) fn sh(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd
        .stdout(Stdio::null())
        .output()
        .with_context(|| format!("run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Builds the release `ocimg` and returns its path; `label` prefixes the log line.
pub(super) fn build_ocimg(label: &str, project: &Path) -> anyhow::Result<PathBuf> {
    eprintln!("{label}: cargo build --release -p oci-cli");
    sh(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
            .current_dir(project)
            .args(["build", "--release", "--quiet", "-p", "oci-cli"]),
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project.join("target"));
    Ok(target.join("release/ocimg"))
}
