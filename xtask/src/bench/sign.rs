//! `cargo xtask bench sign`: `ocimg verify` side by side with `skopeo standalone-verify`
//! on the same simple signature (an ed25519 OpenPGP key made by gpg in a private
//! `GNUPGHOME`), in one run.
//!
//! Goal (issue 11): `ocimg verify` at most 0.5 of skopeo's median wall time. Both check
//! the same things: the OpenPGP signature by the expected key, the manifest digest and
//! the exact signed reference (`ocimg verify` under a policy of `signedBy` with
//! `exactReference`; it also reads the layout and finds the signature among the image's
//! referrers, which skopeo is handed as files). Setup (the key, the image, the signature)
//! is untimed; each pair runs `OCI_BENCH_RUNS` times (default [`DEFAULT_RUNS`]),
//! interleaved, each run after a `sync`.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

use super::{Measure, build_ocimg, have, measure, reset, sh};

const DEFAULT_RUNS: usize = 21;
const GOAL: f64 = 0.5;

pub fn run() -> anyhow::Result<bool> {
    let project = crate::project_root();
    for tool in ["gpg", "skopeo", "/usr/bin/time"] {
        if !have(tool) {
            bail!("{tool} is not installed");
        }
    }
    let runs = match std::env::var("OCI_BENCH_RUNS") {
        Ok(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("OCI_BENCH_RUNS={v} is not a positive number"))?,
        Err(_) => DEFAULT_RUNS,
    };
    let work = project
        .join("target/bench")
        .join(format!("sign-{}", std::process::id()));
    reset(&work)?;
    // gpg-agent's socket path must be short: the home goes under /tmp.
    let home = std::path::PathBuf::from(format!("/tmp/ocimg-bench-gpg-{}", std::process::id()));
    reset(&home)?;
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let result = run_in(&project, &work, &home, runs);
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &home)
        .args(["--kill", "gpg-agent"])
        .output();
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn output(cmd: &mut Command) -> anyhow::Result<Vec<u8>> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

fn run_in(project: &Path, work: &Path, home: &Path, runs: usize) -> anyhow::Result<bool> {
    let ocimg = build_ocimg("sign", project)?;
    let gpg = || {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", home)
            .args(["--batch", "--yes", "--quiet"]);
        c
    };
    output(gpg().args([
        "--passphrase",
        "",
        "--pinentry-mode",
        "loopback",
        "--quick-gen-key",
        "Bench Signer <bench@example.com>",
        "ed25519",
        "sign",
        "never",
    ]))?;
    let listing = String::from_utf8(output(gpg().args(["--list-keys", "--with-colons"]))?)?;
    let fingerprint = listing
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .context("no fingerprint")?
        .to_owned();
    let secret = work.join("signer.sec.gpg");
    let public = work.join("signer.pub.gpg");
    std::fs::write(
        &secret,
        output(gpg().args(["--export-secret-keys", &fingerprint]))?,
    )?;
    std::fs::write(&public, output(gpg().args(["--export", &fingerprint]))?)?;

    // A small image, signed by ocimg; skopeo is handed the manifest and signature files.
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc"))?;
    std::fs::write(rootfs.join("etc/motd"), "bench\n")?;
    let layout = work.join("layout");
    let image = format!("oci:{}:v1", layout.display());
    sh(Command::new(&ocimg)
        .args(["build", "--source-date-epoch", "1"])
        .arg(format!("{}:v1", layout.display()))
        .arg("--rootfs")
        .arg(&rootfs))?;
    let identity = "example.com/bench:v1";
    sh(Command::new(&ocimg)
        .args(["sign", &image, "--identity", identity, "--key"])
        .arg(&secret))?;
    let read_json = |path: &Path| -> anyhow::Result<serde_json::Value> {
        let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("parse {}", path.display()))
    };
    let blob = |digest: &str| layout.join("blobs").join(digest.replacen(':', "/", 1));
    let index = read_json(&layout.join("index.json"))?;
    let entries = index["manifests"].as_array().context("index.json")?;
    let manifest_digest = entries
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
        .and_then(|m| m["digest"].as_str())
        .context("no v1 entry")?;
    let referrer = entries
        .iter()
        .find(|m| m["artifactType"] == "application/vnd.ocimg.simple-signing.v1")
        .and_then(|m| m["digest"].as_str())
        .context("no signature referrer")?;
    let referrer = read_json(&blob(referrer))?;
    let sig_digest = referrer["layers"][0]["digest"]
        .as_str()
        .context("signature layer")?;
    let manifest_file = work.join("manifest.json");
    let sig_file = work.join("signature");
    std::fs::copy(blob(manifest_digest), &manifest_file)?;
    std::fs::copy(blob(sig_digest), &sig_file)?;
    let policy = work.join("policy.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"default":[{{"type":"reject"}}],"transports":{{"oci":{{"{}":[{{"type":"signedBy","keyType":"GPGKeys","keyPath":"{}","signedIdentity":{{"type":"exactReference","dockerReference":"{identity}"}}}}]}}}}}}"#,
            layout.display(),
            public.display()
        ),
    )?;

    let mut ours = Command::new(&ocimg);
    ours.args(["verify", &image, "--policy"]).arg(&policy);
    let mut theirs = Command::new("skopeo");
    theirs
        .env("GNUPGHOME", home)
        .arg("standalone-verify")
        .arg(&manifest_file)
        .args([identity, &fingerprint])
        .arg(&sig_file);
    // Both accept before anything is timed (measure fails on a non-zero exit).
    output(&mut ours)?;
    output(&mut theirs)?;
    let load_start = load_average();
    eprintln!("sign: load average {load_start}; {runs} interleaved runs per side");
    let mut ocimg_runs: Vec<Measure> = Vec::new();
    let mut skopeo_runs: Vec<Measure> = Vec::new();
    for run in 0..runs {
        let order: [bool; 2] = if run % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for ocimg_first in order {
            if ocimg_first {
                ocimg_runs.push(measure(&ours)?);
            } else {
                skopeo_runs.push(measure(&theirs)?);
            }
        }
    }
    let median = |runs: &[Measure], f: fn(&Measure) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    println!(
        "sign ({runs} interleaved runs per side, median wall time; load average at start {load_start})"
    );
    println!(
        "  {:<44} {:>9} {:>9} {:>12}",
        "command", "median ms", "CPU ms", "peak RSS MiB"
    );
    for (name, series) in [
        ("ocimg verify --policy", &ocimg_runs),
        ("skopeo standalone-verify", &skopeo_runs),
    ] {
        println!(
            "  {name:<44} {:>9.2} {:>9.2} {:>12.1}",
            median(series, |m| m.secs) * 1000.0,
            median(series, |m| m.cpu) * 1000.0,
            series.iter().map(|m| m.rss_kib).max().unwrap_or(0) as f64 / 1024.0
        );
    }
    let ratio = median(&ocimg_runs, |m| m.secs) / median(&skopeo_runs, |m| m.secs);
    let met = ratio <= GOAL;
    println!(
        "  {:<44} {ratio:>9.3}  goal <= {GOAL}  {}",
        "verify time / skopeo standalone-verify",
        if met { "met" } else { "MISSED" }
    );
    println!("  load average at end {}", load_average());
    Ok(met)
}

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}
