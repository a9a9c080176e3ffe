//! `cargo xtask demo`: the main job end to end, on a sample the demo makes itself.
//!
//! It builds `ocimg`, makes a small root filesystem (files, an executable, a directory
//! tree, a symlink, a hardlink), turns it into a gzip layer, writes an OCI image layout
//! around it (config, manifest, index.json, oci-layout), validates every document,
//! checks every blob's digest, applies the layer into a new root and compares the two
//! trees. Everything goes through the `ocimg` command line, as a user would run it.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use crate::project_root;

/// Runs the demo; `Ok(false)` when a check fails.
pub fn run(args: &[String]) -> anyhow::Result<bool> {
    if let Some(extra) = args.first() {
        bail!("demo takes no arguments, got {extra:?}");
    }
    let root = project_root();
    let work = root.join("target/demo");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    fs::create_dir_all(&work)?;

    step("building ocimg");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "oci-cli"])
        .current_dir(&root)
        .status()?;
    ensure!(status.success(), "cargo build -p oci-cli failed");
    let ocimg = Ocimg(root.join("target/debug/ocimg"));

    step("making a sample root filesystem");
    let rootfs = work.join("rootfs");
    make_sample_tree(&rootfs)?;

    step("creating a gzip layer from it");
    let layer_path = work.join("layer.tar.gz");
    let layer = ocimg.json(&[
        "layer",
        "create",
        "--compress",
        "gzip",
        "--source-date-epoch",
        "1700000000",
        path_str(&rootfs)?,
        "-o",
        path_str(&layer_path)?,
    ])?;
    println!("{}", serde_json::to_string_pretty(&layer)?);
    let layer_digest = field(&layer, "digest")?;
    let diff_id = field(&layer, "diffID")?;

    step("writing an OCI image layout around it");
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let put_blob = |bytes: &[u8]| -> anyhow::Result<(String, u64)> {
        let tmp = work.join("blob.tmp");
        fs::write(&tmp, bytes)?;
        let digest = ocimg.digest(&tmp)?;
        let encoded = digest
            .strip_prefix("sha256:")
            .context("ocimg digest printed sha256")?;
        fs::rename(&tmp, blobs.join(encoded))?;
        Ok((digest, bytes.len() as u64))
    };
    let encoded = layer_digest
        .strip_prefix("sha256:")
        .context("layer digest is sha256")?;
    fs::copy(&layer_path, blobs.join(encoded))?;
    let config = json!({
        "created": "2023-11-14T22:13:20Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": ["/bin/hello"],
            "Env": ["PATH=/bin"],
            "WorkingDir": "/"
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "cargo xtask demo"}]
    });
    let (config_digest, config_size) = put_blob(&serde_json::to_vec(&config)?)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size
        },
        "layers": [{
            "mediaType": field(&layer, "mediaType")?,
            "digest": layer_digest,
            "size": layer["size"]
        }]
    });
    let (manifest_digest, manifest_size) = put_blob(&serde_json::to_vec(&manifest)?)?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": "demo"}
        }]
    });
    fs::write(layout.join("index.json"), serde_json::to_vec(&index)?)?;
    println!(
        "layout {} holds manifest {manifest_digest}",
        layout.display()
    );

    step("validating every document");
    let blob = |d: &str| blobs.join(d.trim_start_matches("sha256:"));
    let mut ok = true;
    for (kind, path) in [
        ("oci-layout", layout.join("oci-layout")),
        ("index", layout.join("index.json")),
        ("manifest", blob(&manifest_digest)),
        ("config", blob(&config_digest)),
    ] {
        let report = ocimg.run(&["validate", "--kind", kind, "--json", path_str(&path)?])?;
        let valid = report.status.success();
        println!(
            "{kind:<10} {} {}",
            if valid { "valid  " } else { "INVALID" },
            path.display()
        );
        if !valid {
            println!("{}", String::from_utf8_lossy(&report.stdout));
        }
        ok &= valid;
    }

    step("checking every blob against its name");
    for entry in fs::read_dir(&blobs)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .context("blob name")?
            .to_owned();
        let digest = ocimg.digest(&path)?;
        let matches = digest == format!("sha256:{name}");
        println!("{} sha256:{name}", if matches { "ok " } else { "BAD" });
        ok &= matches;
    }

    step("applying the layer into a new root and comparing the trees");
    let unpacked = work.join("unpacked");
    let applied = ocimg.json(&[
        "layer",
        "apply",
        "--json",
        path_str(&blob(layer_digest))?,
        path_str(&unpacked)?,
    ])?;
    println!("{}", serde_json::to_string(&applied)?);
    let (want, got) = (snapshot(&rootfs)?, snapshot(&unpacked)?);
    if want == got {
        println!("identical: {} entries", want.len());
    } else {
        ok = false;
        for (path, entry) in &want {
            if got.get(path) != Some(entry) {
                println!("differs: {path}: want {entry:?}, got {:?}", got.get(path));
            }
        }
        for path in got.keys().filter(|p| !want.contains_key(*p)) {
            println!("extra: {path}");
        }
    }

    step(if ok { "demo passed" } else { "demo FAILED" });
    Ok(ok)
}

fn step(what: &str) {
    println!("\n== {what}");
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not UTF-8", p.display()))
}

fn field<'a>(v: &'a Value, name: &str) -> anyhow::Result<&'a str> {
    v[name]
        .as_str()
        .with_context(|| format!("no string {name:?} in {v}"))
}

struct Ocimg(PathBuf);

impl Ocimg {
    fn run(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Command::new(&self.0)
            .args(args)
            .output()
            .with_context(|| format!("running ocimg {}", args.join(" ")))
    }

    /// Runs a command that must succeed and print one JSON value.
    fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let out = self.run(args)?;
        ensure!(
            out.status.success(),
            "ocimg {} exited with {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .with_context(|| format!("ocimg {} printed no JSON", args.join(" ")))
    }

    fn digest(&self, path: &Path) -> anyhow::Result<String> {
        let v = self.json(&["digest", "--json", path_str(path)?])?;
        Ok(field(&v[0], "digest")?.to_owned())
    }
}

fn make_sample_tree(root: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(root.join("bin"))?;
    fs::create_dir_all(root.join("etc/app/conf.d"))?;
    fs::create_dir_all(root.join("var/empty"))?;
    fs::write(
        root.join("bin/hello"),
        "#!/bin/sh\necho hello from the demo image\n",
    )?;
    fs::set_permissions(root.join("bin/hello"), fs::Permissions::from_mode(0o755))?;
    fs::write(root.join("etc/app/app.conf"), "greeting = hello\n")?;
    fs::write(root.join("etc/app/conf.d/10-extra.conf"), "extra = true\n")?;
    let big: Vec<u8> = (0..300_000u32)
        .flat_map(|i| (i.wrapping_mul(2_654_435_761)).to_le_bytes())
        .collect();
    fs::write(root.join("var/data.bin"), big)?;
    std::os::unix::fs::symlink("app/app.conf", root.join("etc/app.conf"))?;
    fs::hard_link(root.join("bin/hello"), root.join("bin/hello-again"))?;
    fs::set_permissions(root.join("var/empty"), fs::Permissions::from_mode(0o1777))?;
    Ok(())
}

/// What the demo compares of a tree: type, mode, size, content hash, link target, and
/// which entries share an inode.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    content: Option<Vec<u8>>,
    link: Option<PathBuf>,
    links: u64,
}

fn snapshot(root: &Path) -> anyhow::Result<BTreeMap<String, Entry>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            let meta = fs::symlink_metadata(&path)?;
            let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
            let ft = meta.file_type();
            let (kind, content, link) = if ft.is_dir() {
                stack.push(path.clone());
                ("dir", None, None)
            } else if ft.is_symlink() {
                ("symlink", None, Some(fs::read_link(&path)?))
            } else {
                ("file", Some(fs::read(&path)?), None)
            };
            let links = if ft.is_file() { meta.nlink() } else { 1 };
            out.insert(
                rel,
                Entry {
                    kind,
                    mode: meta.mode() & 0o7777,
                    content,
                    link,
                    links,
                },
            );
        }
    }
    Ok(out)
}
