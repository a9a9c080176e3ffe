//! `cargo xtask bench images`: whole-image commands side by side with the Go tools, on an
//! image of the debootstrap root filesystem, in one run.
//!
//! Goals (issue 4), each a ratio of median wall times:
//! - `ocimg build` (new gzip layer) at most 0.5 of `umoci repack`, with a layer at most
//!   1.05 of umoci's size;
//! - `ocimg unpack` at most 0.6 of `umoci unpack`;
//! - `ocimg copy --compress zstd` at most 0.7 of `skopeo copy --dest-compress-format zstd`;
//! - `ocimg fsck` at most the time of the sequential baseline: `openssl dgst -sha256` over
//!   every blob of the layout, then `pigz -dc LAYER | openssl dgst -sha256` for each gzip
//!   layer;
//! - peak RSS under 64 MiB for every ocimg command.
//!
//! The tree: `OCI_ROOTFS`, else `target/bench/rootfs` (see `bench layers`). Each pair runs
//! `OCI_BENCH_RUNS` times (default [`DEFAULT_RUNS`]), interleaved, on a warm page cache,
//! each run after a `sync`; the median counts, peak RSS is the largest seen (GNU time's
//! `%M`). Setup is untimed: umoci's bundle for `repack` is made as `bench layers` does
//! (`umoci init`, `new`, `unpack`, the tree copied into the bundle's rootfs); destinations
//! are fresh for every run, and trees are removed only at the end. The load average is printed at the start and the end: on a
//! shared machine the ratios are only as good as the quiet they were measured in.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

use super::{Measure, build_ocimg, have, measure, reset, sh};

const DEFAULT_RUNS: usize = 5;
const RSS_GOAL_MIB: f64 = 64.0;

pub fn run() -> anyhow::Result<bool> {
    let project = crate::project_root();
    let rootfs = match std::env::var_os("OCI_ROOTFS") {
        Some(p) => PathBuf::from(p),
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
    for tool in ["umoci", "skopeo", "pigz", "openssl", "/usr/bin/time"] {
        if !have(tool) {
            bail!("{tool} is not installed");
        }
    }
    // One directory per run, so that two runs at once do not clobber each other.
    let work = project
        .join("target/bench")
        .join(format!("images-{}", std::process::id()));
    reset(&work)?;
    let result = run_in(&project, &rootfs, &work, runs);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn run_in(project: &Path, rootfs: &Path, work: &Path, runs: usize) -> anyhow::Result<bool> {
    let ocimg = build_ocimg("images", project)?;
    let load_start = load_average();
    eprintln!("images: load average {load_start}; {runs} interleaved runs per pair");

    // Warm the page cache for everyone.
    sh(Command::new("sh")
        .arg("-c")
        .arg(r#"tar -C "$1" -cf - . | cat > /dev/null"#)
        .arg("sh")
        .arg(rootfs))?;

    // build vs umoci repack.
    eprintln!("images: ocimg build vs umoci repack (umoci's bundle setup untimed)");
    let builds = work.join("build");
    std::fs::create_dir_all(&builds)?;
    let image = work.join("image");
    let build_cmd = |dir: &Path| {
        let mut c = Command::new(&ocimg);
        c.arg("build")
            .arg(format!("{}:t", dir.display()))
            .arg("--rootfs")
            .arg(rootfs);
        c
    };
    // A layout and a bundle per umoci run, all kept until the end: ext4 skips inodes
    // freed in the last half minute when allocating, so removing a tree slows down
    // whatever creates files next (the unpacks that follow).
    let umoci_layout = |run: usize| builds.join(format!("umoci-layout-{run}"));
    let umoci_img = |run: usize| format!("{}:t", umoci_layout(run).display());
    let [build, repack] = interleaved(
        runs,
        [
            &mut |run| {
                let dir = builds.join(format!("ocimg-{run}"));
                remove(&dir)?;
                if run > 0 {
                    remove(&builds.join(format!("ocimg-{}", run - 1)))?;
                }
                Ok(build_cmd(&dir))
            },
            &mut |run| {
                let (layout, img) = (umoci_layout(run), umoci_img(run));
                let bundle = builds.join(format!("umoci-bundle-{run}"));
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
                let mut c = Command::new("umoci");
                c.args(["repack", "--image", &img]).arg(&bundle);
                Ok(c)
            },
        ],
    )?;
    std::fs::rename(builds.join(format!("ocimg-{}", runs - 1)), &image)?;
    let ours_layers = layers_of(&image, "t")?;
    let [ours_layer] = &ours_layers[..] else {
        bail!(
            "ocimg build made {} layers, expected one",
            ours_layers.len()
        );
    };
    if !ours_layer.media_type.ends_with("+gzip") {
        bail!(
            "ocimg build made a {} layer, expected gzip",
            ours_layer.media_type
        );
    }
    let umoci_layer_size = layers_of(&umoci_layout(runs - 1), "t")?
        .iter()
        .map(|l| l.size)
        .max()
        .context("umoci repack made no layer")?;

    // unpack vs umoci unpack, of the same image.
    eprintln!("images: ocimg unpack vs umoci unpack");
    let unpacks = work.join("unpack");
    std::fs::create_dir_all(&unpacks)?;
    let image_ref = format!("{}:t", image.display());
    let [unpack, umoci_unpack] = interleaved(
        runs,
        [
            &mut |run| {
                let mut c = Command::new(&ocimg);
                c.arg("unpack")
                    .arg(&image_ref)
                    .arg(unpacks.join(format!("ocimg-{run}")));
                Ok(c)
            },
            &mut |run| {
                let mut c = Command::new("umoci");
                c.args(["unpack", "--image", &image_ref])
                    .arg(unpacks.join(format!("umoci-{run}")));
                Ok(c)
            },
        ],
    )?;

    // copy --compress zstd vs skopeo copy --dest-compress-format zstd.
    let copies = work.join("copy");
    std::fs::create_dir_all(&copies)?;
    let copy_available = Command::new(&ocimg)
        .args(["copy", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let policy = work.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
    )?;
    let source = format!("oci:{}:t", image.display());
    let ours_copy_dir = copies.join("ocimg");
    let skopeo_copy_dir = copies.join("skopeo");
    let skopeo_cmd = || {
        let mut c = Command::new("skopeo");
        c.arg("--policy")
            .arg(&policy)
            .args(["copy", "--dest-compress-format", "zstd", &source])
            .arg(format!("oci:{}:t", skopeo_copy_dir.display()));
        c
    };
    let (copy, skopeo) = if copy_available {
        eprintln!("images: ocimg copy vs skopeo copy, to zstd");
        let [copy, skopeo] = interleaved(
            runs,
            [
                &mut |_| {
                    remove(&ours_copy_dir)?;
                    let mut c = Command::new(&ocimg);
                    c.args(["copy", "--compress", "zstd", &source])
                        .arg(format!("oci:{}:t", ours_copy_dir.display()));
                    Ok(c)
                },
                &mut |_| {
                    remove(&skopeo_copy_dir)?;
                    Ok(skopeo_cmd())
                },
            ],
        )?;
        for dir in [&ours_copy_dir, &skopeo_copy_dir] {
            let layers = layers_of(dir, "t")?;
            if layers.is_empty() || !layers.iter().all(|l| l.media_type.ends_with("+zstd")) {
                bail!("the copy in {} does not have zstd layers", dir.display());
            }
        }
        (Some(copy), skopeo)
    } else {
        eprintln!("images: `ocimg copy` is not available; timing skopeo alone");
        let [skopeo] = interleaved(
            runs,
            [&mut |_| {
                remove(&skopeo_copy_dir)?;
                Ok(skopeo_cmd())
            }],
        )?;
        (None, skopeo)
    };
    remove(&copies)?;

    // fsck vs openssl over every blob plus pigz -dc | openssl per gzip layer.
    eprintln!("images: ocimg fsck vs openssl dgst + pigz -dc | openssl dgst");
    let gzip_layers: Vec<PathBuf> = ours_layers
        .iter()
        .filter(|l| l.media_type.ends_with("+gzip"))
        .map(|l| image.join("blobs").join(l.digest.replacen(':', "/", 1)))
        .collect();
    let [fsck, baseline] = interleaved(
        runs,
        [
            &mut |_| {
                let mut c = Command::new(&ocimg);
                c.arg("fsck").arg(&image);
                Ok(c)
            },
            &mut |_| {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(
                        r#"set -e
layout=$1; shift
openssl dgst -sha256 "$layout"/blobs/sha256/* > /dev/null
for layer in "$@"; do pigz -dc "$layer" | openssl dgst -sha256 > /dev/null; done"#,
                    )
                    .arg("sh")
                    .arg(&image)
                    .args(&gzip_layers);
                Ok(c)
            },
        ],
    )?;
    let load_end = load_average();

    let mib = |b: u64| b as f64 / 1_048_576.0;
    println!(
        "images ({}, {runs} interleaved runs per pair, median wall time; load average at start {load_start})",
        rootfs.display()
    );
    println!(
        "  {:<44} {:>8} {:>8} {:>8} {:>12} {:>10}",
        "command", "median s", "min s", "CPU s", "peak RSS MiB", "layer MiB"
    );
    let row = |name: &str, s: &Series, layer: Option<u64>| {
        println!(
            "  {:<44} {:>8.3} {:>8.3} {:>8.3} {:>12.1} {:>10}",
            name,
            s.median_secs(),
            s.min_secs(),
            s.median_cpu(),
            s.max_rss_mib(),
            layer.map_or(String::new(), |b| format!("{:.2}", mib(b)))
        );
    };
    row(
        "ocimg build (gzip, default level)",
        &build,
        Some(ours_layer.size),
    );
    row("umoci repack", &repack, Some(umoci_layer_size));
    row("ocimg unpack", &unpack, None);
    row("umoci unpack", &umoci_unpack, None);
    match &copy {
        Some(copy) => row("ocimg copy --compress zstd", copy, None),
        None => println!("  {:<44} not available", "ocimg copy --compress zstd"),
    }
    row("skopeo copy --dest-compress-format zstd", &skopeo, None);
    row("ocimg fsck", &fsck, None);
    row("openssl dgst; pigz -dc | openssl dgst", &baseline, None);

    let ratio = |ours: &Series, theirs: &Series| ours.median_secs() / theirs.median_secs();
    let cpu_ratio = |ours: &Series, theirs: &Series| ours.median_cpu() / theirs.median_cpu();
    // Information: on a busy machine wall times follow the number of threads each side
    // has; CPU time compares the work done.
    for (name, value) in [
        (
            "build CPU / umoci repack CPU",
            Some(cpu_ratio(&build, &repack)),
        ),
        (
            "unpack CPU / umoci unpack CPU",
            Some(cpu_ratio(&unpack, &umoci_unpack)),
        ),
        (
            "copy CPU / skopeo copy CPU",
            copy.as_ref().map(|c| cpu_ratio(c, &skopeo)),
        ),
        ("fsck CPU / baseline CPU", Some(cpu_ratio(&fsck, &baseline))),
    ] {
        if let Some(value) = value {
            println!("  {name:<44} {value:>8.3}  (information)");
        }
    }
    let mut peak = [&build, &unpack, &fsck]
        .iter()
        .map(|s| s.max_rss_mib())
        .fold(0.0, f64::max);
    if let Some(copy) = &copy {
        peak = peak.max(copy.max_rss_mib());
    }
    // (what, measured, goal, whether the goal is a strict bound)
    let goals = [
        (
            "build time / umoci repack",
            Some(ratio(&build, &repack)),
            0.5,
            false,
        ),
        (
            "build layer size / umoci's",
            Some(ours_layer.size as f64 / umoci_layer_size as f64),
            1.05,
            false,
        ),
        (
            "unpack time / umoci unpack",
            Some(ratio(&unpack, &umoci_unpack)),
            0.6,
            false,
        ),
        (
            "copy zstd time / skopeo copy",
            copy.as_ref().map(|c| ratio(c, &skopeo)),
            0.7,
            false,
        ),
        (
            "fsck time / openssl + pigz baseline",
            Some(ratio(&fsck, &baseline)),
            1.0,
            false,
        ),
        (
            "peak RSS MiB, every ocimg command",
            Some(peak),
            RSS_GOAL_MIB,
            true,
        ),
    ];
    let mut ok = true;
    for (name, value, goal, strict) in goals {
        let bound = if strict { "<" } else { "<=" };
        match value {
            Some(value) => {
                let met = if strict { value < goal } else { value <= goal };
                ok &= met;
                println!(
                    "  {name:<44} {value:>8.3}  goal {bound} {goal}  {}",
                    if met { "met" } else { "MISSED" }
                );
            }
            None => {
                ok = false;
                println!(
                    "  {name:<44} {:>8}  goal {bound} {goal}  MISSED (not run)",
                    "-"
                );
            }
        }
    }
    println!("  load average at end {load_end}");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let busy = [&load_start, &load_end].iter().any(|l| {
        l.split_whitespace()
            .next()
            .and_then(|one| one.parse::<f64>().ok())
            .is_some_and(|one| one > cores as f64)
    });
    if busy {
        println!(
            "  note: load above the {cores} cores: wall times follow each side's share of the CPU; compare the CPU ratios too"
        );
    }
    Ok(ok)
}

/// `/proc/loadavg`'s three averages.
pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

pub(super) fn remove(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("remove {}", path.display())),
    }
}

/// A layer of an image, as its manifest says.
pub(super) struct Layer {
    pub(super) media_type: String,
    pub(super) digest: String,
    pub(super) size: u64,
}

/// The layers of the image tagged `tag` in the layout at `dir` (an image manifest).
pub(super) fn layers_of(dir: &Path, tag: &str) -> anyhow::Result<Vec<Layer>> {
    let read_json = |path: &Path| -> anyhow::Result<serde_json::Value> {
        let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("parse {}", path.display()))
    };
    let blob = |digest: &str| dir.join("blobs").join(digest.replacen(':', "/", 1));
    let index = read_json(&dir.join("index.json"))?;
    let entry = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .with_context(|| format!("no entry tagged {tag} in {}", dir.display()))?;
    let digest = entry["digest"].as_str().context("entry without a digest")?;
    let manifest = read_json(&blob(digest))?;
    let mut layers = Vec::new();
    for l in manifest["layers"].as_array().into_iter().flatten() {
        layers.push(Layer {
            media_type: l["mediaType"].as_str().unwrap_or_default().to_owned(),
            digest: l["digest"]
                .as_str()
                .context("layer without a digest")?
                .to_owned(),
            size: l["size"].as_u64().context("layer without a size")?,
        });
    }
    Ok(layers)
}

/// The runs of one command.
pub(super) struct Series(Vec<Measure>);

impl Series {
    fn median_of(&self, f: impl Fn(&Measure) -> f64) -> f64 {
        let mut values: Vec<f64> = self.0.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        }
    }

    pub(super) fn median_secs(&self) -> f64 {
        self.median_of(|m| m.secs)
    }

    pub(super) fn median_cpu(&self) -> f64 {
        self.median_of(|m| m.cpu)
    }

    pub(super) fn min_secs(&self) -> f64 {
        self.0.iter().map(|m| m.secs).fold(f64::INFINITY, f64::min)
    }

    pub(super) fn max_rss_mib(&self) -> f64 {
        self.0.iter().map(|m| m.rss_kib).max().unwrap_or(0) as f64 / 1024.0
    }
}

/// `runs` rounds; in each, every side prepares its command (untimed; given the round's
/// number) and runs it, measured. The order alternates from round to round, so that what
/// slows down the first command of a round (inodes freed by an earlier removal, which ext4
/// skips for up to a few minutes when allocating) does not always fall on the same side.
pub(super) fn interleaved<const N: usize>(
    runs: usize,
    mut sides: [&mut dyn FnMut(usize) -> anyhow::Result<Command>; N],
) -> anyhow::Result<[Series; N]> {
    let mut series: [Series; N] = std::array::from_fn(|_| Series(Vec::new()));
    for run in 0..runs {
        let mut order: Vec<usize> = (0..N).collect();
        if run % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let (side, out) = (&mut sides[i], &mut series[i]);
            let cmd = side(run)?;
            let m = measure(&cmd)?;
            eprintln!(
                "  run {run}: {:.3} s, {:.1} MiB  {}",
                m.secs,
                m.rss_kib as f64 / 1024.0,
                cmd.get_program().to_string_lossy()
            );
            out.0.push(m);
        }
    }
    Ok(series)
}
