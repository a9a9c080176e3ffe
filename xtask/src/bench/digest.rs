//! `cargo xtask bench digest`: `ocimg digest` against `openssl dgst -sha256` on a 1 GiB file.
//!
//! Goals: throughput at least 0.9 of openssl's, peak RSS of ocimg under 16 MiB.
//! Benchmarks report; they fail only when something cannot run.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const FILE_SIZE: u64 = 1 << 30;
const REPETITIONS: usize = 5;
const RATIO_GOAL: f64 = 0.9;
const RSS_GOAL_KIB: u64 = 16 * 1024;

pub fn run() -> anyhow::Result<bool> {
    let root = crate::project_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let data = target.join("bench").join("digest-1GiB.bin");
    ensure_data(&data)?;

    let ocimg = super::build_ocimg("bench digest", &root)?;
    let data_arg = data.to_str().context("benchmark file path is not UTF-8")?;

    report_cpu();

    // Warm the page cache so both tools read from memory.
    let mut sink = vec![0u8; 1 << 20];
    let mut f = File::open(&data).with_context(|| format!("opening {}", data.display()))?;
    while f.read(&mut sink)? != 0 {}

    let ocimg_cmd = || {
        let mut c = Command::new(&ocimg);
        c.args(["digest", data_arg]);
        c
    };
    let openssl_cmd = || {
        let mut c = Command::new("openssl");
        c.args(["dgst", "-sha256", data_arg]);
        c
    };
    // Both must agree before timing means anything.
    let ours = output_of(ocimg_cmd())?;
    let theirs = output_of(openssl_cmd())?;
    let ours_hex = ours
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_start_matches("sha256:");
    let theirs_hex = theirs.split_whitespace().last().unwrap_or("");
    if ours_hex != theirs_hex {
        bail!("ocimg and openssl disagree: {ours:?} vs {theirs:?}");
    }

    let mut ocimg_runs = Vec::new();
    let mut openssl_runs = Vec::new();
    for _ in 0..REPETITIONS {
        ocimg_runs.push(measure(ocimg_cmd())?);
        openssl_runs.push(measure(openssl_cmd())?);
    }
    let blake3 = {
        let mut c = Command::new(&ocimg);
        c.args(["digest", "--algorithm", "blake3", data_arg]);
        measure(c)?
    };

    println!(
        "file: {} ({} MiB, page cache warm)",
        data.display(),
        FILE_SIZE >> 20
    );
    println!(
        "{REPETITIONS} alternating runs each (* one run, for information); wall-clock throughput of the best run [median], CPU time (user+sys) of the best run"
    );
    let ours = Summary::of(&ocimg_runs);
    let theirs = Summary::of(&openssl_runs);
    ours.print("ocimg digest (sha256)");
    theirs.print("openssl dgst -sha256");
    Summary::of(&[blake3]).print("ocimg digest (blake3) *");
    let ratio = theirs.best_wall.as_secs_f64() / ours.best_wall.as_secs_f64();
    let median_ratio = theirs.median_wall.as_secs_f64() / ours.median_wall.as_secs_f64();
    println!(
        "  ratio ocimg/openssl (wall clock, best): {ratio:.3} (median {median_ratio:.3}); goal >= {RATIO_GOAL}: {}",
        verdict(ratio >= RATIO_GOAL)
    );
    if let (Some(o), Some(t)) = (ours.best_cpu, theirs.best_cpu) {
        println!(
            "  ratio ocimg/openssl (CPU time, best): {:.3} (less sensitive to other load on the machine)",
            t.as_secs_f64() / o.as_secs_f64()
        );
    }
    match ocimg_runs.iter().filter_map(|r| r.rss_kib).max() {
        Some(kib) => println!(
            "  peak RSS of ocimg digest: {:.1} MiB (max over runs, /usr/bin/time); goal < {} MiB: {}",
            kib as f64 / 1024.0,
            RSS_GOAL_KIB / 1024,
            verdict(kib < RSS_GOAL_KIB)
        ),
        None => match peak_rss_kib(ocimg_cmd())? {
            Some(kib) => println!(
                "  peak RSS of ocimg digest: {:.1} MiB (sampled VmHWM); goal < {} MiB: {}",
                kib as f64 / 1024.0,
                RSS_GOAL_KIB / 1024,
                verdict(kib < RSS_GOAL_KIB)
            ),
            None => println!("  peak RSS of ocimg digest: could not be measured"),
        },
    }
    Ok(true)
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "MISSED" }
}

fn mib_per_s(d: Duration) -> f64 {
    (FILE_SIZE as f64 / (1 << 20) as f64) / d.as_secs_f64()
}

/// Creates the pseudo-random benchmark file once; reuses it when present with the right size.
fn ensure_data(path: &Path) -> anyhow::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == FILE_SIZE) {
        return Ok(());
    }
    println!(
        "bench digest: writing {} ({} MiB of pseudo-random bytes)",
        path.display(),
        FILE_SIZE >> 20
    );
    let dir = path.parent().context("benchmark file has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let partial = path.with_extension("partial");
    let mut out = BufWriter::new(
        File::create(&partial).with_context(|| format!("creating {}", partial.display()))?,
    );
    // xorshift64*: fast, deterministic, incompressible enough for hashing.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..(FILE_SIZE / chunk.len() as u64) {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            word.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        out.write_all(&chunk)?;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&partial, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

fn output_of(mut cmd: Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One timed run.
struct Run {
    wall: Duration,
    /// User plus system time, when `/usr/bin/time` is installed.
    cpu: Option<Duration>,
    /// Peak RSS, when `/usr/bin/time` is installed.
    rss_kib: Option<u64>,
}

const GNU_TIME: &str = "/usr/bin/time";

/// Runs `cmd` once (under `/usr/bin/time` when installed, for CPU time and peak RSS).
fn measure(cmd: Command) -> anyhow::Result<Run> {
    let gnu_time = Path::new(GNU_TIME).exists();
    let mut run = if gnu_time {
        let mut c = Command::new(GNU_TIME);
        c.args(["-f", "@@ %U %S %M"])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        c
    } else {
        cmd
    };
    run.stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let out = run.output().with_context(|| format!("running {run:?}"))?;
    let wall = start.elapsed();
    if !out.status.success() {
        bail!(
            "{run:?} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let fields: Vec<f64> = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("@@ "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let (cpu, rss_kib) = match fields[..] {
        [user, sys, rss] => (Some(Duration::from_secs_f64(user + sys)), Some(rss as u64)),
        _ => (None, None),
    };
    Ok(Run { wall, cpu, rss_kib })
}

/// Best and median of a set of runs.
struct Summary {
    best_wall: Duration,
    median_wall: Duration,
    best_cpu: Option<Duration>,
}

impl Summary {
    fn of(runs: &[Run]) -> Summary {
        let mut walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
        walls.sort();
        Summary {
            best_wall: walls[0],
            median_wall: walls[walls.len() / 2],
            best_cpu: runs.iter().filter_map(|r| r.cpu).min(),
        }
    }

    fn print(&self, label: &str) {
        let cpu = self
            .best_cpu
            .map(|c| format!("{:.2} s CPU", c.as_secs_f64()))
            .unwrap_or_else(|| "CPU time not measured".to_owned());
        println!(
            "  {label:<24} {:>7.0} MiB/s [{:.0} MiB/s]  {cpu}",
            mib_per_s(self.best_wall),
            mib_per_s(self.median_wall)
        );
    }
}

/// Peak RSS in KiB of one run, without `/usr/bin/time`: samples VmHWM (the kernel's
/// high-water mark) in /proc while the child runs.
fn peak_rss_kib(mut cmd: Command) -> anyhow::Result<Option<u64>> {
    let mut child = cmd
        .stdout(Stdio::null())
        .spawn()
        .context("spawning ocimg")?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = None;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path)
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = Some(peak.map_or(kib, |p: u64| p.max(kib)));
        }
        if child.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(peak)
}

/// Whether the CPU has SHA extensions, which sha2 0.11 detects at run time (cpufeatures:
/// "sha" and "sse4.1") and uses for sha256.
fn report_cpu() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']))
        .unwrap_or("unknown");
    println!(
        "cpu: {model}; sha_ni: {}, sse4_1: {}, avx2: {} (sha2 uses SHA-NI at run time when sha_ni and sse4_1 are present)",
        has("sha_ni"),
        has("sse4_1"),
        has("avx2")
    );
}
