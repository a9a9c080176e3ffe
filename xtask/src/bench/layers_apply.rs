//! `cargo xtask bench layers`, the apply half: apply a gzip layer of the debootstrap root
//! filesystem with `ocimg layer apply`, side by side with `umoci unpack` of an image
//! holding the same tree and with `pigz -dc | tar -x`.
//!
//! Goals (issue 3): at most 0.6 of umoci's wall time, at most 1.1 of pigz and tar's, peak
//! memory under 64 MiB, also for a 1 GiB layer. Each command runs a few times on a warm
//! page cache after a `sync`; the best time counts. Peak memory is GNU time's `%M`.

use super::{Measure, build_ocimg, have, make_big_tree, measure, reset, sh};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

const RUNS: usize = 3;

pub fn run() -> anyhow::Result<bool> {
    let project = crate::project_root();
    // One directory per run, so that two runs at once do not clobber each other.
    let work = project
        .join("target/bench")
        .join(format!("layers-apply-{}", std::process::id()));
    let rootfs = match std::env::var_os("OCI_ROOTFS") {
        Some(p) => PathBuf::from(p),
        None => project.join("target/bench/rootfs"),
    };
    if !rootfs.join("usr").is_dir() {
        bail!(
            "no root filesystem at {} (set OCI_ROOTFS, or run `debootstrap --variant=minbase bookworm {} MIRROR`)",
            rootfs.display(),
            rootfs.display()
        );
    }
    for tool in ["umoci", "pigz", "tar", "/usr/bin/time"] {
        if !have(tool) {
            bail!("{tool} is not installed");
        }
    }
    reset(&work)?;
    let ocimg = build_ocimg("layers apply", &project)?;

    eprintln!(
        "layers apply: making the gzip layer of {}",
        rootfs.display()
    );
    let layer = work.join("rootfs.tar.gz");
    make_layer(&ocimg, &rootfs, &layer)?;
    let layer_size = std::fs::metadata(&layer)?.len();

    eprintln!("layers apply: building the umoci image");
    let image = work.join("image");
    let bundle = work.join("bundle");
    let img = format!("{}:t", image.display());
    sh(Command::new("umoci").args(["init", "--layout"]).arg(&image))?;
    sh(Command::new("umoci").args(["new", "--image", &img]))?;
    sh(Command::new("umoci")
        .args(["unpack", "--image", &img])
        .arg(&bundle))?;
    sh(Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", rootfs.display()))
        .arg(bundle.join("rootfs")))?;
    sh(Command::new("umoci")
        .args(["repack", "--image", &img])
        .arg(&bundle))?;

    eprintln!("layers apply: timing, {RUNS} interleaved runs each");
    let apply_cmd = |layer: &Path| {
        let ocimg = ocimg.clone();
        let layer = layer.to_path_buf();
        move |d: &Path| {
            let mut c = Command::new(&ocimg);
            c.args(["layer", "apply"]).arg(&layer).arg(d);
            c
        }
    };
    let umoci_cmd = |d: &Path| {
        let mut c = Command::new("umoci");
        c.args(["unpack", "--image", &img]).arg(d);
        c
    };
    let pigz_cmd = |d: &Path| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(r#"mkdir -p "$2" && pigz -dc "$1" | tar -x --numeric-owner -C "$2""#)
            .arg("sh")
            .arg(&layer)
            .arg(d);
        c
    };
    let ours_cmd = apply_cmd(&layer);
    let [ours, umoci, pigz_tar] = interleaved(&work, [&ours_cmd, &umoci_cmd, &pigz_cmd])?;

    eprintln!("layers apply: a 1 GiB layer for peak memory");
    let big_tree = work.join("big-tree");
    make_big_tree(&big_tree)?;
    let big = work.join("big.tar.gz");
    make_layer(&ocimg, &big_tree, &big)?;
    let big_size = std::fs::metadata(&big)?.len();
    std::fs::remove_dir_all(&big_tree)?;
    let big_cmd = apply_cmd(&big);
    let [ours_big] = interleaved(&work, [&big_cmd])?;

    std::fs::remove_dir_all(&work).with_context(|| format!("remove {}", work.display()))?;

    let vs_umoci = ours.secs / umoci.secs;
    let vs_pigz = ours.secs / pigz_tar.secs;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "layers apply ({}, gzip layer {:.1} MiB)",
        rootfs.display(),
        layer_size as f64 / 1048576.0
    );
    println!(
        "  {:<28} {:>8} {:>12}",
        "command", "seconds", "peak RSS MiB"
    );
    for (name, m) in [
        ("ocimg layer apply", &ours),
        ("umoci unpack", &umoci),
        ("pigz -dc | tar -x", &pigz_tar),
        ("ocimg layer apply (1 GiB)", &ours_big),
    ] {
        println!("  {:<28} {:>8.3} {:>12.1}", name, m.secs, mib(m.rss_kib));
    }
    println!(
        "  1 GiB layer: {:.1} MiB compressed",
        big_size as f64 / 1048576.0
    );
    let goals = [
        ("ocimg / umoci unpack", vs_umoci, 0.6),
        ("ocimg / pigz|tar", vs_pigz, 1.1),
        ("peak RSS MiB", mib(ours.rss_kib), 64.0),
        ("peak RSS MiB, 1 GiB layer", mib(ours_big.rss_kib), 64.0),
    ];
    let mut ok = true;
    for (name, value, goal) in goals {
        let met = value <= goal;
        ok &= met;
        println!(
            "  {:<28} {:>8.3}  goal <= {goal}  {}",
            name,
            value,
            if met { "met" } else { "MISSED" }
        );
    }
    Ok(ok)
}

/// A gzip layer of `tree`: `ocimg layer create` when it works, else `tar | pigz`.
fn make_layer(ocimg: &Path, tree: &Path, out: &Path) -> anyhow::Result<()> {
    let created = Command::new(ocimg)
        .args(["layer", "create", "--compress", "gzip"])
        .arg(tree)
        .arg("-o")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if created {
        return Ok(());
    }
    eprintln!("layers apply: `ocimg layer create` unavailable, using tar | pigz");
    sh(Command::new("sh")
        .arg("-c")
        .arg(r#"tar -C "$1" --numeric-owner -cf - . | pigz > "$2""#)
        .arg("sh")
        .arg(tree)
        .arg(out))
}

/// The best of `RUNS` runs of each command, interleaved, each into a fresh directory
/// (ext4 skips recently deleted inodes when allocating, so removing a tree just before a
/// run slows that run down: the trees are removed only at the end).
fn interleaved<const N: usize>(
    work: &Path,
    cmds: [&dyn Fn(&Path) -> Command; N],
) -> anyhow::Result<[Measure; N]> {
    let dests = work.join("dests");
    std::fs::create_dir_all(&dests)?;
    let mut best: [Option<Measure>; N] = std::array::from_fn(|_| None);
    for run in 0..RUNS {
        for (i, cmd) in cmds.iter().enumerate() {
            let dest = dests.join(format!("{i}-{run}"));
            let m = measure(&cmd(&dest))?;
            if best[i].as_ref().is_none_or(|b| m.secs < b.secs) {
                best[i] = Some(m);
            }
        }
    }
    std::fs::remove_dir_all(&dests)?;
    let mut out = best.into_iter();
    Ok(std::array::from_fn(|_| {
        out.next().flatten().expect("RUNS > 0 gives a measure")
    }))
}
