//! `cargo xtask bench layers`, the create half: make a layer of the debootstrap root
//! filesystem with `ocimg layer create`, side by side with `umoci repack` (gzip) and with
//! `tar -c | zstd -3 -T0` (zstd), and measure ocimg's peak memory, also on a 1 GiB layer.
//!
//! Goals (issue 3): gzip at most 0.5 of umoci's wall time with a layer at most 1.05 of
//! umoci's size; zstd at most 1.2 of tar and zstd's time; peak RSS under 64 MiB.
//!
//! The tree: `OCI_ROOTFS`, else `target/bench/rootfs`, built once with
//! `debootstrap --variant=minbase bookworm DIR MIRROR` (MIRROR from apt's own sources), else
//! a generated tree of similar shape. Each command runs [`RUNS`] times on a warm page cache;
//! the best time counts. For umoci only `umoci repack` is timed, on a fresh bundle each run
//! (`umoci init`, `new`, `unpack`, then the tree copied into the bundle's rootfs).

use super::{Measure, build_ocimg, have, make_big_tree, measure, reset, sh};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

const RUNS: usize = 3;

pub fn run() -> anyhow::Result<bool> {
    let project = crate::project_root();
    let work = project.join("target/bench/layers-create");
    for tool in ["umoci", "zstd", "tar", "/usr/bin/time"] {
        if !have(tool) {
            bail!("{tool} is not installed");
        }
    }
    let rootfs = rootfs(&project)?;
    reset(&work)?;
    let ocimg = build_ocimg("layers create", &project)?;

    // Warm the page cache for everyone.
    sh(Command::new("sh")
        .arg("-c")
        .arg(r#"tar -C "$1" -cf - . | cat > /dev/null"#)
        .arg("sh")
        .arg(&rootfs))?;

    eprintln!("layers create: ocimg gzip");
    let gz = work.join("ocimg.tar.gz");
    let ours_gz = best(|| ocimg_create(&ocimg, "gzip", &rootfs, &gz))?;
    let ours_gz_size = std::fs::metadata(&gz)?.len();

    eprintln!("layers create: umoci repack (setup untimed)");
    let mut umoci_best: Option<Measure> = None;
    let mut umoci_size = 0;
    for run in 0..RUNS {
        let layout = work.join("umoci-layout");
        let bundle = work.join("umoci-bundle");
        for d in [&layout, &bundle] {
            if d.exists() {
                std::fs::remove_dir_all(d)?;
            }
        }
        let img = format!("{}:t", layout.display());
        sh(Command::new("umoci")
            .args(["init", "--layout"])
            .arg(&layout))?;
        sh(Command::new("umoci").args(["new", "--image", &img]))?;
        sh(Command::new("umoci")
            .args(["unpack", "--image", &img])
            .arg(&bundle))?;
        sh(Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", rootfs.display()))
            .arg(bundle.join("rootfs")))?;
        sh(&mut Command::new("sync"))?;
        let mut repack = Command::new("umoci");
        repack.args(["repack", "--image", &img]).arg(&bundle);
        let m = measure(&repack)?;
        eprintln!("  run {run}: {:.3} s", m.secs);
        if umoci_best.as_ref().is_none_or(|b| m.secs < b.secs) {
            umoci_best = Some(m);
        }
        umoci_size = largest_blob(&layout.join("blobs/sha256"))?;
    }
    let umoci = umoci_best.context("no umoci run")?;

    eprintln!("layers create: ocimg zstd and tar | zstd -3 -T0");
    let zst = work.join("ocimg.tar.zst");
    let ours_zst = best(|| ocimg_create(&ocimg, "zstd", &rootfs, &zst))?;
    let ours_zst_size = std::fs::metadata(&zst)?.len();
    let peer_zst = work.join("peer.tar.zst");
    let tar_zstd = best(|| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(r#"tar -C "$1" --numeric-owner -cf - . | zstd -q -3 -T0 -f -o "$2""#)
            .arg("sh")
            .arg(&rootfs)
            .arg(&peer_zst);
        c
    })?;
    let peer_zst_size = std::fs::metadata(&peer_zst)?.len();

    eprintln!("layers create: a 1 GiB tree for peak memory");
    let big_tree = project.join("target/bench/big-tree-create");
    make_big_tree(&big_tree)?;
    let big_gz = work.join("big.tar.gz");
    let big_zst = work.join("big.tar.zst");
    // One run each: these measure memory, not speed.
    let ours_big_gz = measure(&ocimg_create(&ocimg, "gzip", &big_tree, &big_gz))?;
    let ours_big_zst = measure(&ocimg_create(&ocimg, "zstd", &big_tree, &big_zst))?;
    let big_gz_size = std::fs::metadata(&big_gz)?.len();

    let mib = |b: u64| b as f64 / 1_048_576.0;
    let rss = |m: &Measure| m.rss_kib as f64 / 1024.0;
    println!("layers create ({})", rootfs.display());
    println!(
        "  {:<34} {:>8} {:>8} {:>12} {:>12}",
        "command", "seconds", "CPU s", "layer MiB", "peak RSS MiB"
    );
    for (name, m, size) in [
        ("ocimg layer create (gzip 6)", &ours_gz, ours_gz_size),
        ("umoci repack", &umoci, umoci_size),
        ("ocimg layer create (zstd 3)", &ours_zst, ours_zst_size),
        ("tar -c | zstd -3 -T0", &tar_zstd, peer_zst_size),
        ("ocimg gzip, 1 GiB tree", &ours_big_gz, big_gz_size),
        (
            "ocimg zstd, 1 GiB tree",
            &ours_big_zst,
            std::fs::metadata(&big_zst)?.len(),
        ),
    ] {
        println!(
            "  {:<34} {:>8.3} {:>8.3} {:>12.2} {:>12.1}",
            name,
            m.secs,
            m.cpu,
            mib(size),
            rss(m)
        );
    }
    let peak = [&ours_gz, &ours_zst, &ours_big_gz, &ours_big_zst]
        .iter()
        .map(|m| rss(m))
        .fold(0.0, f64::max);
    let goals = [
        ("gzip time / umoci repack", ours_gz.secs / umoci.secs, 0.5),
        (
            "gzip size / umoci's layer",
            ours_gz_size as f64 / umoci_size as f64,
            1.05,
        ),
        ("zstd time / tar | zstd", ours_zst.secs / tar_zstd.secs, 1.2),
        ("peak RSS MiB (all, 1 GiB too)", peak, 64.0),
    ];
    // Information: on a busy machine wall times follow the number of threads each side
    // has; CPU time compares the work done.
    println!(
        "  {:<34} {:>8.3}  (information)",
        "gzip CPU / umoci repack CPU",
        ours_gz.cpu / umoci.cpu
    );
    println!(
        "  {:<34} {:>8.3}  (information)",
        "zstd CPU / tar | zstd CPU",
        ours_zst.cpu / tar_zstd.cpu
    );
    let mut ok = true;
    for (name, value, goal) in goals {
        let met = value <= goal;
        ok &= met;
        println!(
            "  {:<34} {:>8.3}  goal <= {goal}  {}",
            name,
            value,
            if met { "met" } else { "MISSED" }
        );
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(ok)
}

fn ocimg_create(ocimg: &Path, compress: &str, tree: &Path, out: &Path) -> Command {
    let mut c = Command::new(ocimg);
    c.args(["layer", "create", "--compress", compress])
        .arg(tree)
        .arg("-o")
        .arg(out);
    c
}

/// The root filesystem to measure: `OCI_ROOTFS`, the debootstrap tree (built once when
/// missing), or a generated tree of the same shape.
fn rootfs(project: &Path) -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("OCI_ROOTFS") {
        return Ok(PathBuf::from(p));
    }
    let dir = project.join("target/bench/rootfs");
    if dir.join("usr").is_dir() {
        return Ok(dir);
    }
    if have("debootstrap")
        && let Some(mirror) = apt_mirror()
    {
        eprintln!("layers create: debootstrap --variant=minbase bookworm {mirror}");
        let _ = std::fs::remove_dir_all(&dir);
        let ok = Command::new("debootstrap")
            .args(["--variant=minbase", "bookworm"])
            .arg(&dir)
            .arg(&mirror)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(dir);
        }
        eprintln!("layers create: debootstrap failed, using a generated tree");
        let _ = std::fs::remove_dir_all(&dir);
    }
    let generated = project.join("target/bench/generated-rootfs");
    if !generated.join("usr").is_dir() {
        generate_rootfs(&generated)?;
    }
    Ok(generated)
}

/// The first Debian mirror in apt's own configuration.
fn apt_mirror() -> Option<String> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let name = f.to_string_lossy().to_string();
        if !(name.ends_with(".list") || name.ends_with(".sources")) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for line in text.lines() {
            let line = line.trim();
            let url = if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().next()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace().find(|w| w.contains("://"))
            } else {
                None
            };
            if let Some(url) = url
                && url.contains("debian")
                && !url.contains("security")
            {
                return Some(url.to_string());
            }
        }
    }
    None
}

/// About 6,800 entries and 200 MB, shaped like a small Debian root: many directories,
/// small text files, some larger binaries, symlinks and a few hardlinks.
fn generate_rootfs(dir: &Path) -> anyhow::Result<()> {
    reset(dir)?;
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut entries = 0;
    let mut bytes: u64 = 0;
    for top in [
        "usr/bin",
        "usr/lib",
        "usr/share/doc",
        "etc",
        "var/lib",
        "usr/share/locale",
    ] {
        for d in 0..40 {
            let sub = dir.join(top).join(format!("d{d}"));
            std::fs::create_dir_all(&sub)?;
            entries += 1;
            for f in 0..27 {
                let big = next() % 50 == 0;
                let len = if big {
                    (next() % (6 << 20)) as usize
                } else {
                    (next() % 12_000) as usize
                };
                let mut content = Vec::with_capacity(len);
                while content.len() < len {
                    let r = next();
                    if r % 4 == 0 {
                        content.extend_from_slice(&r.to_le_bytes());
                    } else {
                        content.extend_from_slice(b"lorem ipsum dolor sit amet ");
                    }
                }
                content.truncate(len);
                let path = sub.join(format!("f{f}"));
                std::fs::write(&path, &content)?;
                bytes += len as u64;
                entries += 1;
                if f % 9 == 0 {
                    std::os::unix::fs::symlink(format!("f{f}"), sub.join(format!("l{f}")))?;
                    entries += 1;
                }
            }
        }
    }
    eprintln!("layers create: generated {entries} entries, {bytes} bytes");
    Ok(())
}

fn largest_blob(dir: &Path) -> anyhow::Result<u64> {
    let mut max = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        max = max.max(e?.metadata()?.len());
    }
    Ok(max)
}

/// The best of [`RUNS`] runs (peak RSS: the largest seen).
fn best(cmd: impl Fn() -> Command) -> anyhow::Result<Measure> {
    let mut best: Option<Measure> = None;
    let mut max_rss = 0;
    for _ in 0..RUNS {
        let m = measure(&cmd())?;
        max_rss = max_rss.max(m.rss_kib);
        if best.as_ref().is_none_or(|b| m.secs < b.secs) {
            best = Some(m);
        }
    }
    let mut m = best.context("no run")?;
    m.rss_kib = max_rss;
    Ok(m)
}
