//! `cargo xtask bench registry`: registry transfers side by side with skopeo (and umoci),
//! against one docker-registry on loopback, on an image of the debootstrap root
//! filesystem (about 90 MB gzip), in one run.
//!
//! Goals (issue 10), each a ratio of median wall times:
//! - push (`ocimg copy oci:... docker://...`) at most 0.8 of `skopeo copy`;
//! - pull to a layout at most 0.6 of skopeo's pull;
//! - a push where the registry has every blob at most skopeo's time;
//! - `ocimg unpack docker://...` at most 0.4 of `skopeo copy docker://... oci:...`
//!   followed by `umoci unpack`;
//! - peak RSS under 64 MiB for every ocimg command.
//!
//! The tree: `OCI_ROOTFS`, else `target/ci-rootfs`, else `target/bench/rootfs`. Each pair
//! runs `OCI_BENCH_RUNS` times (default 5), interleaved; every push goes to a fresh
//! repository (so that every blob is sent; skopeo's blob-info cache, which would mount
//! from the earlier repositories, is removed before each of its pushes), every pull into
//! a fresh directory. The image
//! is built once with `ocimg build` (one gzip layer) and pushed once as the source of the
//! pulls (untimed).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use super::images::{Series, interleaved, layers_of, load_average, remove};
use super::{build_ocimg, have, reset, sh};
use crate::registry::LocalRegistry;

const DEFAULT_RUNS: usize = 5;
const RSS_GOAL_MIB: f64 = 64.0;

/// containers/image remembers where it saw each blob (its blob-info cache) and mounts
/// from there instead of uploading: removed before each timed skopeo push (untimed), so
/// that skopeo sends every blob to a fresh repository as ocimg does.
fn forget_blob_locations() {
    let mut caches = vec![PathBuf::from(
        "/var/lib/containers/cache/blob-info-cache-v1.boltdb",
    )];
    if let Some(home) = std::env::var_os("HOME") {
        caches.push(
            PathBuf::from(home).join(".local/share/containers/cache/blob-info-cache-v1.boltdb"),
        );
    }
    for cache in caches {
        let _ = std::fs::remove_file(cache);
    }
}

pub fn run() -> anyhow::Result<bool> {
    let project = crate::project_root();
    let rootfs = match std::env::var_os("OCI_ROOTFS") {
        Some(p) => PathBuf::from(p),
        None if project.join("target/ci-rootfs/usr").is_dir() => project.join("target/ci-rootfs"),
        None => project.join("target/bench/rootfs"),
    };
    if !rootfs.join("usr").is_dir() {
        bail!(
            "no root filesystem at {} (set OCI_ROOTFS, or run `cargo xtask bench layers` once)",
            rootfs.display()
        );
    }
    let runs = match std::env::var("OCI_BENCH_RUNS") {
        Ok(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("OCI_BENCH_RUNS={v} is not a positive number"))?,
        Err(_) => DEFAULT_RUNS,
    };
    for tool in ["skopeo", "umoci", "/usr/bin/time"] {
        if !have(tool) {
            bail!("{tool} is not installed");
        }
    }
    if !LocalRegistry::available() {
        bail!("docker-registry is not installed");
    }
    let work = project
        .join("target/bench")
        .join(format!("registry-{}", std::process::id()));
    reset(&work)?;
    let result = run_in(&project, &rootfs, &work, runs);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn run_in(project: &Path, rootfs: &Path, work: &Path, runs: usize) -> anyhow::Result<bool> {
    let ocimg = build_ocimg("registry", project)?;
    let registry = LocalRegistry::start(&work.join("registry"))?;
    let host = registry.host();
    let load_start = load_average();
    eprintln!(
        "registry: docker-registry at {host}; load average {load_start}; {runs} interleaved runs per pair"
    );
    let policy = work.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
    )?;
    let skopeo = |args: &[&str]| {
        let mut c = Command::new("skopeo");
        c.arg("--policy")
            .arg(&policy)
            .args(["copy", "--quiet"])
            .args(args);
        c
    };

    eprintln!(
        "registry: building the image of {} (untimed)",
        rootfs.display()
    );
    let layout = work.join("image");
    sh(Command::new(&ocimg)
        .arg("build")
        .arg(format!("{}:t", layout.display()))
        .arg("--rootfs")
        .arg(rootfs))?;
    let layer_bytes: u64 = layers_of(&layout, "t")?.iter().map(|l| l.size).sum();
    let source = format!("oci:{}:t", layout.display());
    let remote = |repo: &str| format!("docker://{host}/{repo}:t");

    // Push: a fresh repository each run, so that every blob is sent.
    eprintln!("registry: push, ocimg copy vs skopeo copy");
    let [push, skopeo_push] = interleaved(
        runs,
        [
            &mut |run| {
                let mut c = Command::new(&ocimg);
                c.args(["copy", "--dest-tls-verify=false", &source])
                    .arg(remote(&format!("push/ocimg-{run}")));
                Ok(c)
            },
            &mut |run| {
                forget_blob_locations();
                Ok(skopeo(&[
                    "--dest-tls-verify=false",
                    &source,
                    &remote(&format!("push/skopeo-{run}")),
                ]))
            },
        ],
    )?;

    // A push where the registry has every blob: the same repositories again.
    eprintln!("registry: push where every blob is there");
    let [again, skopeo_again] = interleaved(
        runs,
        [
            &mut |_| {
                let mut c = Command::new(&ocimg);
                c.args(["copy", "--dest-tls-verify=false", &source])
                    .arg(remote("push/ocimg-0"));
                Ok(c)
            },
            &mut |_| {
                Ok(skopeo(&[
                    "--dest-tls-verify=false",
                    &source,
                    &remote("push/skopeo-0"),
                ]))
            },
        ],
    )?;

    // Pull to a layout, from one repository, into fresh directories.
    let pulled = remote("push/ocimg-0");
    let pulls = work.join("pull");
    std::fs::create_dir_all(&pulls)?;
    eprintln!("registry: pull to a layout, ocimg copy vs skopeo copy");
    let [pull, skopeo_pull] = interleaved(
        runs,
        [
            &mut |run| {
                let dir = pulls.join(format!("ocimg-{run}"));
                remove(&dir)?;
                let mut c = Command::new(&ocimg);
                c.args(["copy", "--src-tls-verify=false", &pulled])
                    .arg(format!("oci:{}:t", dir.display()));
                Ok(c)
            },
            &mut |run| {
                let dir = pulls.join(format!("skopeo-{run}"));
                remove(&dir)?;
                Ok(skopeo(&[
                    "--src-tls-verify=false",
                    &pulled,
                    &format!("oci:{}:t", dir.display()),
                ]))
            },
        ],
    )?;
    remove(&pulls)?;

    // unpack from the registry vs skopeo copy + umoci unpack.
    let unpacks = work.join("unpack");
    std::fs::create_dir_all(&unpacks)?;
    eprintln!("registry: ocimg unpack docker:// vs skopeo copy + umoci unpack");
    let [unpack, skopeo_umoci] = interleaved(
        runs,
        [
            &mut |run| {
                let mut c = Command::new(&ocimg);
                c.args(["unpack", "--tls-verify=false", &pulled])
                    .arg(unpacks.join(format!("ocimg-{run}")));
                Ok(c)
            },
            &mut |run| {
                let dir = unpacks.join(format!("skopeo-layout-{run}"));
                let bundle = unpacks.join(format!("umoci-{run}"));
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(
                        r#"set -e
skopeo --policy "$1" copy --quiet --src-tls-verify=false "$2" "oci:$3:t"
umoci unpack --image "$3:t" "$4" >/dev/null"#,
                    )
                    .arg("sh")
                    .arg(&policy)
                    .arg(&pulled)
                    .arg(&dir)
                    .arg(&bundle);
                Ok(c)
            },
        ],
    )?;
    let load_end = load_average();

    println!(
        "registry ({}, {:.1} MiB of layers, {runs} interleaved runs per pair, median wall time; load average at start {load_start})",
        rootfs.display(),
        layer_bytes as f64 / 1_048_576.0
    );
    println!(
        "  {:<48} {:>8} {:>8} {:>8} {:>12}",
        "command", "median s", "min s", "CPU s", "peak RSS MiB"
    );
    let row = |name: &str, s: &Series| {
        println!(
            "  {:<48} {:>8.3} {:>8.3} {:>8.3} {:>12.1}",
            name,
            s.median_secs(),
            s.min_secs(),
            s.median_cpu(),
            s.max_rss_mib()
        );
    };
    row("ocimg copy oci: docker:// (push)", &push);
    row("skopeo copy oci: docker:// (push)", &skopeo_push);
    row("ocimg copy, every blob there", &again);
    row("skopeo copy, every blob there", &skopeo_again);
    row("ocimg copy docker:// oci: (pull)", &pull);
    row("skopeo copy docker:// oci: (pull)", &skopeo_pull);
    row("ocimg unpack docker://", &unpack);
    row("skopeo copy docker:// oci: + umoci unpack", &skopeo_umoci);

    let ratio = |ours: &Series, theirs: &Series| ours.median_secs() / theirs.median_secs();
    let peak = [&push, &again, &pull, &unpack]
        .iter()
        .map(|s| s.max_rss_mib())
        .fold(0.0, f64::max);
    let goals = [
        ("push time / skopeo", ratio(&push, &skopeo_push), 0.8, false),
        ("pull time / skopeo", ratio(&pull, &skopeo_pull), 0.6, false),
        (
            "push, every blob there / skopeo",
            ratio(&again, &skopeo_again),
            1.0,
            false,
        ),
        (
            "unpack docker:// / skopeo + umoci",
            ratio(&unpack, &skopeo_umoci),
            0.4,
            false,
        ),
        (
            "peak RSS MiB, every ocimg command",
            peak,
            RSS_GOAL_MIB,
            true,
        ),
    ];
    let mut ok = true;
    for (name, value, goal, strict) in goals {
        let met = if strict { value < goal } else { value <= goal };
        ok &= met;
        println!(
            "  {name:<48} {value:>8.3}  goal {} {goal}  {}",
            if strict { "<" } else { "<=" },
            if met { "met" } else { "MISSED" }
        );
    }
    println!("  load average at end {load_end}");
    drop(registry);
    Ok(ok)
}
