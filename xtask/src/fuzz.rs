//! `cargo xtask fuzz [TARGET] [--time N] [--in-process]`: runs the fuzz targets of `fuzz/`
//! for N seconds each (default 60).
//!
//! With cargo-fuzz installed: writes the generated seed corpus to `fuzz/corpus/TARGET/`
//! and runs `cargo fuzz run -s none TARGET -- -max_total_time=N` (stable toolchain, no
//! sanitizer). Without it (or with `--in-process`): replays each target whose body lives
//! in `fuzz/src/lib.rs` over the seeds, then over mutated inputs until N seconds pass,
//! catching panics; a crashing input is saved under `target/fuzz-crashes/`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)] // The file also serves cargo-fuzz, which uses other parts.
mod targets;

/// Runs the task; `Ok(false)` means a target crashed.
pub fn run(args: &[String]) -> anyhow::Result<bool> {
    let mut only: Option<String> = None;
    let mut seconds: u64 = 60;
    let mut in_process = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--time" => {
                let n = it.next().context("--time needs a number of seconds")?;
                seconds = n.parse().with_context(|| format!("--time {n:?}"))?;
            }
            "--in-process" => in_process = true,
            name if !name.starts_with('-') && only.is_none() => only = Some(name.to_owned()),
            other => anyhow::bail!(
                "unknown argument {other:?} (usage: cargo xtask fuzz [TARGET] [--time N] [--in-process])"
            ),
        }
    }
    if let Some(name) = &only {
        anyhow::ensure!(
            targets::ALL_TARGET_NAMES.contains(&name.as_str()),
            "unknown fuzz target {name:?} (targets: {})",
            targets::ALL_TARGET_NAMES.join(", ")
        );
    }
    let names: Vec<&str> = targets::ALL_TARGET_NAMES
        .iter()
        .copied()
        .filter(|n| only.as_deref().is_none_or(|o| o == *n))
        .collect();
    let root = crate::project_root();
    let use_cargo_fuzz = !in_process && cargo_fuzz_installed();
    if !use_cargo_fuzz && !in_process {
        println!(
            "cargo-fuzz is not installed (cargo install cargo-fuzz --locked): replaying in-process"
        );
    }
    let mut ok = true;
    for name in names {
        let passed = if use_cargo_fuzz {
            with_cargo_fuzz(&root.join("fuzz"), name, seconds)?
        } else {
            in_process_run(&root, name, Duration::from_secs(seconds))?
        };
        ok &= passed;
    }
    Ok(ok)
}

fn cargo_fuzz_installed() -> bool {
    Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn with_cargo_fuzz(fuzz_dir: &Path, name: &str, seconds: u64) -> anyhow::Result<bool> {
    let corpus = fuzz_dir.join("corpus").join(name);
    std::fs::create_dir_all(&corpus).with_context(|| format!("create {}", corpus.display()))?;
    for (i, seed) in targets::seeds(name).iter().enumerate() {
        let path = corpus.join(format!("seed-{i:03}"));
        std::fs::write(&path, seed).with_context(|| format!("write {}", path.display()))?;
    }
    println!("fuzz {name}: cargo fuzz run -s none {name} -- -max_total_time={seconds}");
    let status = Command::new("cargo")
        .current_dir(fuzz_dir)
        .args(["fuzz", "run", "-s", "none", name, "--"])
        .arg(format!("-max_total_time={seconds}"))
        .status()
        .context("run cargo fuzz")?;
    println!(
        "fuzz {name}: {}",
        if status.success() {
            "no crash"
        } else {
            "CRASH (see fuzz/artifacts)"
        }
    );
    Ok(status.success())
}

fn in_process_run(root: &Path, name: &str, budget: Duration) -> anyhow::Result<bool> {
    let Some((_, target)) = targets::TARGETS.iter().find(|(n, _)| *n == name) else {
        println!(
            "fuzz {name}: skipped in-process (its body lives in fuzz/fuzz_targets/{name}.rs; use cargo-fuzz)"
        );
        return Ok(true);
    };
    let seeds = targets::seeds(name);
    let crash_dir = root.join("target").join("fuzz-crashes");
    let run_one = |input: &[u8]| -> anyhow::Result<bool> {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(input)));
        if result.is_ok() {
            return Ok(true);
        }
        std::fs::create_dir_all(&crash_dir)?;
        let path = crash_dir.join(format!("{name}-{:016x}", fnv(input)));
        std::fs::write(&path, input).with_context(|| format!("write {}", path.display()))?;
        println!("fuzz {name}: CRASH, input saved to {}", path.display());
        Ok(false)
    };
    for seed in &seeds {
        if !run_one(seed)? {
            return Ok(false);
        }
    }
    let start = Instant::now();
    let mut rng = targets::Rng::new(0x0c1_0c1 ^ fnv(name.as_bytes()));
    let mut pool = seeds.clone();
    let mut runs: u64 = 0;
    while start.elapsed() < budget {
        let base = pool[rng.below(pool.len())].clone();
        let input = targets::mutate(&mut rng, &base, &pool);
        runs += 1;
        if !run_one(&input)? {
            return Ok(false);
        }
        // Keep some mutants as bases, so mutations stack up.
        if input.len() < 64 * 1024 && rng.below(8) == 0 {
            if pool.len() < 4096 {
                pool.push(input);
            } else {
                let i = rng.below(pool.len());
                pool[i] = input;
            }
        }
    }
    println!(
        "fuzz {name}: {runs} inputs in {:.0?} (in-process), no crash",
        start.elapsed()
    );
    Ok(true)
}

/// FNV-1a, for crash file names and seeding.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
