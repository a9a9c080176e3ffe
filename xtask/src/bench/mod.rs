//! `cargo xtask bench [digest|layers|images|registry|sign]`: side-by-side benchmarks against the peers.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

mod digest;
mod images;
mod layers_apply;
mod layers_create;
mod registry;
mod sign;

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
    if wants("registry") {
        ok &= registry::run()?;
    }
    if wants("sign") {
        ok &= sign::run()?;
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

/// Builds `ocimg` and returns its path; `label` prefixes the log line. The benchmarks
/// measure the binary users install, the `release` profile (no debug info);
/// `OCIMG_BENCH_PROFILE=profiling` builds the same code with symbols, for `perf record`.
pub(super) fn build_ocimg(label: &str, project: &Path) -> anyhow::Result<PathBuf> {
    let profile = std::env::var("OCIMG_BENCH_PROFILE").unwrap_or_else(|_| "release".to_owned());
    eprintln!("{label}: cargo build --profile {profile} -p oci-cli");
    sh(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
            .current_dir(project)
            .args(["build", "--profile", &profile, "--quiet", "-p", "oci-cli"]),
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project.join("target"));
    Ok(target.join(profile).join("ocimg"))
}

/// One measured run of a command.
pub(super) struct Measure {
    /// Wall time.
    pub(super) secs: f64,
    /// User plus system CPU time.
    pub(super) cpu: f64,
    /// Peak RSS (GNU time's `%M`).
    pub(super) rss_kib: u64,
}

/// One run of `inner` under GNU time, after a `sync`: wall time, CPU time, peak RSS.
pub(super) fn measure(inner: &Command) -> anyhow::Result<Measure> {
    sh(&mut Command::new("sync"))?;
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("%U %S %M")
        .arg(inner.get_program())
        .args(inner.get_args());
    // The environment `inner` sets (GNUPGHOME for skopeo, say) goes along.
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    let start = Instant::now();
    let out = cmd.stdout(Stdio::null()).output()?;
    let secs = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{inner:?} failed: {stderr}");
    }
    let fields: Vec<f64> = stderr
        .lines()
        .last()
        .context("GNU time output")?
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [user, sys, rss] = fields[..] else {
        bail!("unexpected GNU time output: {stderr}");
    };
    Ok(Measure {
        secs,
        cpu: user + sys,
        rss_kib: rss as u64,
    })
}

/// About 1 GiB: four large files of text-like bytes (about 2:1) and many small ones.
/// Made once; a marker file says the tree is complete.
pub(super) fn make_big_tree(dir: &Path) -> anyhow::Result<()> {
    let marker = dir.join(".complete");
    if marker.exists() {
        return Ok(());
    }
    reset(dir)?;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for f in 0..4 {
        let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("big{f}")))?);
        for _ in 0..256 {
            for chunk in block.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                for (i, b) in chunk.iter_mut().enumerate() {
                    *b = b'a' + ((state >> (i * 4)) & 0x0f) as u8;
                }
            }
            file.write_all(&block)?;
        }
        file.flush()?;
    }
    for d in 0..50 {
        let sub = dir.join(format!("d{d}"));
        std::fs::create_dir(&sub)?;
        for i in 0..100 {
            std::fs::write(sub.join(format!("f{i}")), format!("small file {d} {i}\n"))?;
        }
    }
    std::fs::write(&marker, b"")?;
    Ok(())
}
