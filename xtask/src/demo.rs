//! `cargo xtask demo`: the main job end to end, on a sample the demo makes itself.
//!
//! It builds `ocimg`, makes a small root filesystem (files, a directory tree, a symlink,
//! a hardlink, a user database, and Debian's busybox-static when it is installed), builds
//! an image from it into an OCI layout with an entrypoint, a cmd, an environment
//! variable, a working directory and a named user, checks the layout with `fsck`,
//! unpacks the image and compares the tree with the sample, copies it through a
//! docker-archive into a second layout recompressed with zstd (checked and unpacked
//! again), turns the image into a runtime bundle and, where runc is installed and we are
//! root, runs it and checks what it prints. Where Debian's `docker-registry` is installed
//! it then takes the registry path: starts one on loopback, pushes the image to it, lists
//! its tags, unpacks it from `docker://` and compares the tree, and makes a bundle from
//! `docker://` and runs that too (it says plainly when it skipped this). Everything goes
//! through the `ocimg` command line, as a user would run it.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use serde_json::Value;

use crate::project_root;
use crate::registry::LocalRegistry;

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
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let ocimg = Ocimg(target.join("debug/ocimg"));

    step("making a sample root filesystem");
    let rootfs = work.join("rootfs");
    let runnable = make_sample_tree(&rootfs)?;
    if !runnable {
        println!("(no {BUSYBOX}: the image gets no shell, and the demo will not run it)");
    }

    step("building an image from it into a layout");
    let layout = work.join("layout");
    let image = format!("{}:demo", path_str(&layout)?);
    let built = ocimg.json(&[
        "build",
        &image,
        "--rootfs",
        path_str(&rootfs)?,
        "--entrypoint",
        r#"["/bin/sh","-c"]"#,
        "--cmd",
        r#"["echo \"$GREETING from $(pwd) as uid $(id -u)\""]"#,
        "--env",
        "GREETING=hello",
        "--workdir",
        "/srv",
        "--user",
        "demo",
        "--label",
        "org.example.demo=true",
        "--source-date-epoch",
        "1700000000",
        "--json",
    ])?;
    println!("{}", serde_json::to_string_pretty(&built)?);

    step("checking the layout with fsck");
    let mut ok = true;
    let fsck = ocimg.run(&["fsck", "--json", path_str(&layout)?])?;
    let report: Value = serde_json::from_slice(&fsck.stdout).context("fsck printed no JSON")?;
    println!("{}", serde_json::to_string(&report)?);
    ok &= fsck.status.success() && report["ok"] == Value::Bool(true);

    step("validating index.json");
    let index = ocimg.run(&[
        "validate",
        "--kind",
        "index",
        path_str(&layout.join("index.json"))?,
    ])?;
    println!(
        "index.json {}",
        if index.status.success() {
            "valid"
        } else {
            "INVALID"
        }
    );
    ok &= index.status.success();

    step("unpacking the image and comparing with the sample");
    let unpacked = work.join("unpacked");
    let out = ocimg.json(&["unpack", "--json", &image, path_str(&unpacked)?])?;
    println!("{}", serde_json::to_string(&out)?);
    ok &= same_trees(&rootfs, &unpacked)?;

    step("copying it through a docker-archive into a new layout, recompressed with zstd");
    let archive = work.join("demo-docker.tar");
    let copied = work.join("copied");
    let copied_image = format!("{}:demo", path_str(&copied)?);
    let out = ocimg.json(&[
        "copy",
        "--json",
        &format!("oci:{image}"),
        &format!("docker-archive:{}:demo:latest", path_str(&archive)?),
    ])?;
    println!("{}", serde_json::to_string(&out)?);
    let out = ocimg.json(&[
        "copy",
        "--json",
        "--compress",
        "zstd",
        &format!("docker-archive:{}", path_str(&archive)?),
        &format!("oci:{copied_image}"),
    ])?;
    println!("{}", serde_json::to_string(&out)?);
    let fsck = ocimg.run(&["fsck", "--json", path_str(&copied)?])?;
    let report: Value = serde_json::from_slice(&fsck.stdout).context("fsck printed no JSON")?;
    println!("fsck of the copy: ok={}", report["ok"]);
    ok &= fsck.status.success() && report["ok"] == Value::Bool(true);
    let unpacked_copy = work.join("unpacked-copy");
    ocimg.json(&["unpack", "--json", &copied_image, path_str(&unpacked_copy)?])?;
    ok &= same_trees(&rootfs, &unpacked_copy)?;

    step("turning the image into a runtime bundle");
    let bundle = work.join("bundle");
    let out = ocimg.json(&["bundle", "--json", &image, path_str(&bundle)?])?;
    println!("{}", serde_json::to_string(&out)?);

    let runc_present = Command::new("runc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    // SAFETY: geteuid has no preconditions and cannot fail.
    let is_root = unsafe { libc::geteuid() } == 0;
    if runnable && runc_present && is_root {
        step("running the bundle with runc");
        let id = format!("ocimg-demo-{}", std::process::id());
        let run = Command::new("runc")
            .args(["run", "-b", path_str(&bundle)?, &id])
            .output()?;
        let _ = Command::new("runc").args(["delete", "-f", &id]).output();
        let printed = String::from_utf8_lossy(&run.stdout);
        print!("{printed}");
        let want = "hello from /srv as uid 1000";
        let ran = run.status.success() && printed.trim() == want;
        if !ran {
            println!(
                "runc: {}\nwanted {want:?}",
                String::from_utf8_lossy(&run.stderr)
            );
        }
        ok &= ran;
    } else {
        step("not running the bundle: it needs runc, root and busybox-static");
    }

    let can_run = runnable && runc_present && is_root;
    ok &= registry_path(&ocimg, &work, &image, &built, &rootfs, can_run)?;

    step(if ok { "demo passed" } else { "demo FAILED" });
    Ok(ok)
}

/// The registry path: push to a loopback registry, list its tags, unpack and run from
/// `docker://`. `Ok(true)` when skipped (no registry installed), saying so.
fn registry_path(
    ocimg: &Ocimg,
    work: &Path,
    image: &str,
    built: &Value,
    rootfs: &Path,
    can_run: bool,
) -> anyhow::Result<bool> {
    if !LocalRegistry::available() {
        step(
            "SKIPPED the registry path: docker-registry is not installed (apt-get install docker-registry)",
        );
        return Ok(true);
    }
    step("starting a registry on loopback");
    let registry = LocalRegistry::start(&work.join("registry"))?;
    println!("docker-registry at {}", registry.host());
    let remote = format!("docker://{}/demo/app:demo", registry.host());
    let mut ok = true;

    step(&format!("pushing the image to {remote}"));
    let out = ocimg.json(&[
        "copy",
        "--json",
        "--dest-tls-verify=false",
        &format!("oci:{image}"),
        &remote,
    ])?;
    println!("{}", serde_json::to_string(&out)?);
    let same = out["digest"] == built["digest"];
    if !same {
        println!(
            "the registry holds {}, the layout {}",
            out["digest"], built["digest"]
        );
    }
    ok &= same;
    let tags = ocimg.json(&[
        "tags",
        "--json",
        "--tls-verify=false",
        &format!("docker://{}/demo/app", registry.host()),
    ])?;
    println!("{}", serde_json::to_string(&tags)?);
    ok &= tags["tags"] == serde_json::json!(["demo"]);

    step("unpacking it from the registry and comparing with the sample");
    let unpacked = work.join("unpacked-registry");
    let out = ocimg.json(&[
        "unpack",
        "--json",
        "--tls-verify=false",
        &remote,
        path_str(&unpacked)?,
    ])?;
    println!("{}", serde_json::to_string(&out)?);
    ok &= same_trees(rootfs, &unpacked)?;

    step("making a bundle from the registry");
    let bundle = work.join("bundle-registry");
    let out = ocimg.json(&[
        "bundle",
        "--json",
        "--tls-verify=false",
        &remote,
        path_str(&bundle)?,
    ])?;
    println!("{}", serde_json::to_string(&out)?);
    if can_run {
        step("running the bundle from the registry with runc");
        let id = format!("ocimg-demo-registry-{}", std::process::id());
        let run = Command::new("runc")
            .args(["run", "-b", path_str(&bundle)?, &id])
            .output()?;
        let _ = Command::new("runc").args(["delete", "-f", &id]).output();
        let printed = String::from_utf8_lossy(&run.stdout);
        print!("{printed}");
        let want = "hello from /srv as uid 1000";
        let ran = run.status.success() && printed.trim() == want;
        if !ran {
            println!(
                "runc: {}\nwanted {want:?}",
                String::from_utf8_lossy(&run.stderr)
            );
        }
        ok &= ran;
    } else {
        step("not running the bundle from the registry: it needs runc, root and busybox-static");
    }
    if !ok {
        println!("registry log:\n{}", registry.log());
    }
    Ok(ok)
}

/// Compares two trees and prints what differs.
fn same_trees(want_root: &Path, got_root: &Path) -> anyhow::Result<bool> {
    let (want, got) = (snapshot(want_root)?, snapshot(got_root)?);
    if want == got {
        println!("identical: {} entries", want.len());
        return Ok(true);
    }
    for (path, entry) in &want {
        if got.get(path) != Some(entry) {
            println!("differs: {path}: want {entry:?}, got {:?}", got.get(path));
        }
    }
    for path in got.keys().filter(|p| !want.contains_key(*p)) {
        println!("extra: {path}");
    }
    Ok(false)
}

/// Debian's statically linked busybox, which makes the sample image runnable.
const BUSYBOX: &str = "/bin/busybox";

fn step(what: &str) {
    println!("\n== {what}");
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not UTF-8", p.display()))
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
}

/// Makes the sample tree; returns whether it holds a shell (busybox) to run.
fn make_sample_tree(root: &Path) -> anyhow::Result<bool> {
    fs::create_dir_all(root.join("bin"))?;
    fs::create_dir_all(root.join("etc/app/conf.d"))?;
    fs::create_dir_all(root.join("var/empty"))?;
    fs::create_dir_all(root.join("srv"))?;
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\ndemo:x:1000:1000:demo:/srv:/bin/sh\n",
    )?;
    fs::write(root.join("etc/group"), "root:x:0:\ndemo:x:1000:\n")?;
    fs::write(root.join("etc/app/app.conf"), "greeting = hello\n")?;
    fs::write(root.join("etc/app/conf.d/10-extra.conf"), "extra = true\n")?;
    let big: Vec<u8> = (0..300_000u32)
        .flat_map(|i| (i.wrapping_mul(2_654_435_761)).to_le_bytes())
        .collect();
    fs::write(root.join("var/data.bin"), big)?;
    fs::write(root.join("srv/hello.txt"), "hello\n")?;
    std::os::unix::fs::symlink("app/app.conf", root.join("etc/app.conf"))?;
    fs::hard_link(root.join("srv/hello.txt"), root.join("srv/hello-again.txt"))?;
    fs::set_permissions(root.join("var/empty"), fs::Permissions::from_mode(0o1777))?;
    let runnable = Path::new(BUSYBOX).is_file();
    if runnable {
        fs::copy(BUSYBOX, root.join("bin/busybox"))?;
        for applet in ["sh", "echo", "id", "pwd"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))?;
        }
    }
    Ok(runnable)
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
