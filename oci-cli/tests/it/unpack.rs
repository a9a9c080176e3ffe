//! `ocimg unpack` and `ocimg bundle`: JSON shapes, exit codes, nothing left after a
//! failure; a busybox image run by runc; the same tree as `umoci unpack`.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use oci_image::{Layout, Reference};
use oci_layer::{Compression, CreateOptions};
use oci_spec_types::config::ExecConfig;
use oci_spec_types::{
    Algorithm, Descriptor, Document, ImageConfig, ImageManifest, Platform, media_type,
};
use serde_json::Value;

use oci_test_support::cli::peer_with as peer;

use crate::{ocimg, scratch};

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Stores an image of the tree at `tree` (one gzip layer made by `oci_layer::create`)
/// with `exec` as its config, and tags it `tag` through the layout API.
fn image_of_tree(layout: &Layout, tree: &Path, exec: Option<ExecConfig>, tag: &str) -> Descriptor {
    let options = CreateOptions {
        compression: Compression::DEFAULT_GZIP,
        source_date_epoch: Some(1_700_000_000),
        ..CreateOptions::default()
    };
    let mut blob = Vec::new();
    let created = oci_layer::create(tree, &mut blob, &options).expect("create layer");
    let blobs = layout.blobs();
    let m = blobs
        .put_bytes(&blob, Algorithm::Sha256)
        .expect("put layer");
    let layer = Descriptor::new(media_type::LAYER_TAR_GZIP, m.digest, m.size);
    let platform = Platform::host();
    let mut config = ImageConfig::new(&platform, vec![created.diff_id]);
    config.config = exec;
    let config = Document::from_value(config);
    let c = blobs
        .put_bytes(config.bytes(), Algorithm::Sha256)
        .expect("put config");
    let manifest = Document::from_value(ImageManifest::new(
        Descriptor::new(media_type::IMAGE_CONFIG, c.digest, c.size),
        vec![layer.clone()],
    ));
    let m = blobs
        .put_bytes(manifest.bytes(), Algorithm::Sha256)
        .expect("put manifest");
    layout
        .tag(Some(&Reference::Digest(m.digest)), None, tag)
        .expect("tag");
    layer
}

fn small_tree(tree: &Path) {
    std::fs::create_dir_all(tree.join("etc")).expect("mkdir");
    std::fs::create_dir_all(tree.join("usr/lib")).expect("mkdir");
    std::fs::write(tree.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").expect("write");
    std::fs::write(tree.join("usr/lib/data"), "data\n").expect("write");
    std::fs::set_permissions(
        tree.join("usr/lib/data"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    std::os::unix::fs::symlink("lib/data", tree.join("usr/link")).expect("symlink");
}

/// Anything in `dir` besides `keep`.
fn extra(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

/// Every entry under `root`: type, mode, owner, mtime, content or link target.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            let t = meta.file_type();
            let what = if t.is_dir() {
                "dir".to_owned()
            } else if t.is_symlink() {
                format!("symlink {:?}", std::fs::read_link(&path).expect("readlink"))
            } else if t.is_file() {
                let bytes = std::fs::read(&path).expect("read");
                format!(
                    "file {} bytes {}",
                    bytes.len(),
                    oci_digest::Digester::digest_bytes(Algorithm::Sha256, &bytes).digest
                )
            } else {
                format!("special {:o} rdev {}", meta.mode() & 0o170000, meta.rdev())
            };
            let rel = path.strip_prefix(root).expect("under root");
            out.insert(
                rel.to_string_lossy().into_owned(),
                format!(
                    "{what} mode {:o} owner {}:{} mtime {}",
                    meta.mode() & 0o7777,
                    meta.uid(),
                    meta.gid(),
                    meta.mtime()
                ),
            );
            if t.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn unpack_json_and_exit_codes() {
    let work = scratch("unpack-cli");
    let layout = Layout::init(work.join("layout")).expect("init");
    let tree = work.join("tree");
    small_tree(&tree);
    let layer = image_of_tree(&layout, &tree, None, "t");
    let name = format!("{}:t", path(layout.root()));
    let out_dir = work.join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let dest = out_dir.join("dest");

    let out = ocimg(&["unpack", "--json", &name, path(&dest)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json_of(&out);
    assert_eq!(v["dest"], path(&dest));
    assert_eq!(v["layers"], 1);
    assert!(v["entries"].as_u64().is_some_and(|n| n >= 5), "{v}");
    assert_eq!(v.as_object().map(|o| o.len()), Some(3), "{v}");
    assert!(
        out.stderr.is_empty(),
        "no progress when piped: {}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("usr/link")).expect("read via link"),
        "data\n"
    );

    // DEST exists: exit 2, untouched.
    let before = snapshot(&dest);
    let out = ocimg(&["unpack", &name, path(&dest)]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(snapshot(&dest), before);
    std::fs::remove_dir_all(&dest).expect("rm");

    // Options after the positional arguments, and the human output.
    let out = ocimg(&[
        "unpack",
        &name,
        path(&dest),
        "--platform",
        &Platform::host().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 layers"),
        "{out:?}"
    );
    std::fs::remove_dir_all(&dest).expect("rm");

    // A corrupted, truncated, then missing layer blob: exit 1 naming the digest, nothing
    // at DEST, no staging directory left.
    let blob = layout.blobs().blob_path(&layer.digest);
    let good = std::fs::read(&blob).expect("read blob");
    let mut corrupt = good.clone();
    let n = corrupt.len();
    corrupt[n / 2] ^= 0x01;
    for (what, bytes) in [
        ("corrupted", Some(corrupt)),
        ("truncated", Some(good[..good.len() - 7].to_vec())),
        ("missing", None),
    ] {
        match bytes {
            Some(bytes) => std::fs::write(&blob, bytes).expect("write"),
            None => std::fs::remove_file(&blob).expect("rm"),
        }
        let out = ocimg(&["unpack", "--json", &name, path(&dest)]);
        assert_eq!(out.status.code(), Some(1), "{what}: {out:?}");
        assert!(
            stderr(&out).contains(layer.digest.as_str()),
            "{what}: {}",
            stderr(&out)
        );
        // CLI.md: with --json, the one object {"error": MESSAGE} on stdout.
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
        assert!(v["error"].is_string(), "{what}: {v}");
        assert!(!dest.exists(), "{what}");
        assert_eq!(extra(&out_dir, &[]), Vec::<String>::new(), "{what}");
    }

    // Usage errors: a missing layout, an unknown tag.
    let out = ocimg(&[
        "unpack",
        &format!("{}:t", path(&work.join("nope"))),
        path(&dest),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = ocimg(&[
        "unpack",
        &format!("{}:absent", path(layout.root())),
        path(&dest),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!dest.exists());
}

/// A root filesystem of Debian's busybox-static with a named user, or `None` when
/// busybox is not installed (skipped, or a failure under CI).
fn busybox_tree(tree: &Path) -> Option<()> {
    let busybox = Path::new("/bin/busybox");
    if !peer("busybox", Command::new(busybox).arg("true")) {
        return None;
    }
    std::fs::create_dir_all(tree.join("bin")).expect("mkdir");
    std::fs::copy(busybox, tree.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "echo", "id", "pwd", "env"] {
        std::os::unix::fs::symlink("busybox", tree.join("bin").join(applet)).expect("symlink");
    }
    std::fs::create_dir_all(tree.join("etc")).expect("mkdir");
    std::fs::write(
        tree.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nworker:x:1234:2345:worker:/home/worker:/bin/sh\n",
    )
    .expect("write passwd");
    std::fs::write(tree.join("etc/group"), "root:x:0:\nworkers:x:2345:\n").expect("write group");
    std::fs::create_dir_all(tree.join("home/worker/work")).expect("mkdir");
    std::os::unix::fs::chown(tree.join("home/worker"), Some(1234), Some(2345)).expect("chown");
    for d in ["proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(tree.join(d)).expect("mkdir");
    }
    Some(())
}

fn busybox_exec() -> ExecConfig {
    ExecConfig {
        user: Some("worker".to_owned()),
        env: Some(vec![
            "PATH=/bin".to_owned(),
            "GREETING=hello from the image".to_owned(),
        ]),
        entrypoint: Some(vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            r#"echo "args: $0 $*"; echo "GREETING=$GREETING"; echo "pwd: $(pwd)"; echo "uid: $(id -u)"; echo "gid: $(id -g)""#.to_owned(),
        ]),
        cmd: Some(vec!["first".to_owned(), "second".to_owned()]),
        working_dir: Some("/home/worker/work".to_owned()),
        ..ExecConfig::default()
    }
}

#[test]
fn bundle_json_and_runc_run() {
    let work = scratch("bundle-runc");
    let tree = work.join("tree");
    if busybox_tree(&tree).is_none() {
        return;
    }
    let layout = Layout::init(work.join("layout")).expect("init");
    image_of_tree(&layout, &tree, Some(busybox_exec()), "busybox");
    let name = format!("{}:busybox", path(layout.root()));
    let dir = work.join("bundle");
    let out = ocimg(&["bundle", "--json", &name, path(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json_of(&out);
    assert_eq!(v["bundle"], path(&dir));
    assert_eq!(v["args"][0], "/bin/sh");
    assert_eq!(v["args"][3], "first");
    assert_eq!(v["args"][4], "second");
    assert_eq!(v["user"]["uid"], 1234);
    assert_eq!(v["user"]["gid"], 2345);
    assert_eq!(
        std::fs::metadata(&dir).expect("stat").mode() & 0o7777,
        0o700
    );
    // BUNDLE exists now: exit 2.
    let out = ocimg(&["bundle", &name, path(&dir)]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    if !peer("runc", Command::new("runc").arg("--version")) {
        return;
    }
    let id = format!(
        "ocimg-it-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let run = Command::new("runc")
        .args(["run", "-b", path(&dir), &id])
        .stdin(Stdio::null())
        .output()
        .expect("run runc");
    let _ = Command::new("runc")
        .args(["delete", "-f", &id])
        .stdin(Stdio::null())
        .output();
    assert!(run.status.success(), "runc run: {run:?}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    for line in [
        "args: first second",
        "GREETING=hello from the image",
        "pwd: /home/worker/work",
        "uid: 1234",
        "gid: 2345",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in {stdout}"
        );
    }
}

#[test]
fn bundle_unknown_user_exits_1_and_leaves_nothing() {
    let work = scratch("bundle-cli-user");
    let layout = Layout::init(work.join("layout")).expect("init");
    let tree = work.join("tree");
    small_tree(&tree);
    let exec = ExecConfig {
        user: Some("ghost".to_owned()),
        cmd: Some(vec!["/bin/true".to_owned()]),
        ..ExecConfig::default()
    };
    image_of_tree(&layout, &tree, Some(exec), "t");
    let dir = work.join("bundle");
    let out = ocimg(&[
        "bundle",
        "--json",
        &format!("{}:t", path(layout.root())),
        path(&dir),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("ghost"), "{}", stderr(&out));
    assert!(!dir.exists());
    assert_eq!(extra(&work, &["layout", "tree"]), Vec::<String>::new());
}

#[test]
fn same_tree_as_umoci_unpack() {
    if !peer("umoci", Command::new("umoci").arg("--version")) {
        return;
    }
    let work = scratch("unpack-umoci");
    let tree = work.join("tree");
    small_tree(&tree);
    // More kinds of entries: setuid, owners, a hard link, an empty dir, a fifo.
    std::fs::write(tree.join("usr/suid"), "x").expect("write");
    std::fs::set_permissions(
        tree.join("usr/suid"),
        std::fs::Permissions::from_mode(0o4711),
    )
    .expect("chmod");
    std::os::unix::fs::chown(tree.join("usr/suid"), Some(12), Some(34)).expect("chown");
    std::fs::hard_link(tree.join("usr/lib/data"), tree.join("usr/hard")).expect("link");
    std::fs::create_dir(tree.join("empty")).expect("mkdir");
    std::fs::set_permissions(tree.join("empty"), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod");
    let fifo = Command::new("mkfifo")
        .arg(tree.join("usr/fifo"))
        .status()
        .expect("mkfifo");
    assert!(fifo.success());
    let _ = busybox_tree(&tree);
    let layout = Layout::init(work.join("layout")).expect("init");
    image_of_tree(&layout, &tree, Some(busybox_exec()), "cmp");
    let name = format!("{}:cmp", path(layout.root()));
    let dest = work.join("ours");
    let out = ocimg(&["unpack", &name, path(&dest)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let theirs = work.join("theirs");
    let out = Command::new("umoci")
        .args(["unpack", "--image", &name, path(&theirs)])
        .stdin(Stdio::null())
        .output()
        .expect("run umoci");
    assert!(out.status.success(), "umoci unpack: {out:?}");
    let ours = snapshot(&dest);
    let umoci = snapshot(&theirs.join("rootfs"));
    assert!(ours.len() > 10, "{ours:?}");
    let diff: Vec<_> = ours
        .iter()
        .filter(|(k, v)| umoci.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: ours {v}, umoci {:?}", umoci.get(k)))
        .chain(
            umoci
                .keys()
                .filter(|k| !ours.contains_key(*k))
                .map(|k| format!("{k}: only in umoci's")),
        )
        .collect();
    assert!(diff.is_empty(), "trees differ:\n{}", diff.join("\n"));
    let root_mode = |p: &PathBuf| std::fs::metadata(p).expect("stat").mode() & 0o7777;
    assert_eq!(root_mode(&dest), root_mode(&theirs.join("rootfs")));
}

#[test]
fn inspect_unpack_and_bundle_read_every_transport() {
    let work = scratch("unpack-cli-transports");
    let layout = Layout::init(work.join("layout")).expect("init");
    let tree = work.join("tree");
    small_tree(&tree);
    let exec = ExecConfig {
        cmd: Some(vec!["/bin/true".to_owned()]),
        ..ExecConfig::default()
    };
    image_of_tree(&layout, &tree, Some(exec), "t");
    let dir = path(layout.root()).to_owned();
    let oci_archive = work.join("oci.tar");
    let docker_archive = work.join("docker.tar");
    let images = [
        format!("{dir}:t"),
        format!("oci:{dir}:t"),
        format!("oci-archive:{}:t", path(&oci_archive)),
        format!("docker-archive:{}", path(&docker_archive)),
    ];
    for destination in &images[2..] {
        let out = ocimg(&["copy", &images[1], destination]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    let mut trees = Vec::new();
    let mut configs = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let out = ocimg(&["inspect", "--json", image]);
        assert_eq!(out.status.code(), Some(0), "inspect {image}: {out:?}");
        let v = json_of(&out);
        configs.push((v["config"].clone(), v["layers"][0]["diffID"].clone()));
        let dest = work.join(format!("dest{i}"));
        let out = ocimg(&["unpack", "--json", image, path(&dest)]);
        assert_eq!(out.status.code(), Some(0), "unpack {image}: {out:?}");
        assert_eq!(json_of(&out)["layers"], 1, "{image}");
        trees.push(snapshot(&dest));
        let bundle = work.join(format!("bundle{i}"));
        let out = ocimg(&["bundle", "--json", image, path(&bundle)]);
        assert_eq!(out.status.code(), Some(0), "bundle {image}: {out:?}");
        assert!(bundle.join("config.json").is_file(), "{image}");
    }
    for (image, (tree, config)) in images.iter().zip(trees.iter().zip(&configs)) {
        assert_eq!(tree, &trees[0], "{image}: the layout's tree");
        assert_eq!(
            config, &configs[0],
            "{image}: the layout's config and diffID"
        );
    }
    // A transport the CLI does not know is a usage error; a missing archive too.
    let out = ocimg(&["unpack", "docker://example.com/x", path(&work.join("d"))]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let missing = format!("docker-archive:{}", path(&work.join("missing.tar")));
    let out = ocimg(&["inspect", &missing]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("missing.tar"), "{}", stderr(&out));
}

#[test]
fn inspect_and_unpack_read_discover() {
    use oci_test_support::http::{Reply, Server};
    let work = scratch("unpack-cli-discover");
    let layout = Layout::init(work.join("layout")).expect("init");
    let tree = work.join("tree");
    small_tree(&tree);
    image_of_tree(&layout, &tree, None, "v1");
    let root = layout.root().to_path_buf();
    let engines = serde_json::json!({
        "refEngines": [{"protocol": "oci-index-template-v1", "uri": "http://example.com/ref/{+path}"}],
        "casEngines": [{"protocol": "oci-cas-template-v1",
            "uri": "http://example.com/blobs/{algorithm}/{encoded}"}],
    })
    .to_string()
    .into_bytes();
    let served = root.clone();
    let server = Server::start(move |host, target| {
        if host != "example.com" {
            return Reply::not_found();
        }
        if target == "/.well-known/oci-host-ref-engines" {
            return Reply::ok(engines.clone());
        }
        if target == "/ref/app" {
            return Reply::ok(std::fs::read(served.join("index.json")).expect("index"));
        }
        match target
            .strip_prefix("/blobs/")
            .map(|r| served.join("blobs").join(r))
        {
            Some(file) if file.is_file() => Reply::ok(std::fs::read(file).expect("blob")),
            _ => Reply::not_found(),
        }
    });
    let resolve = format!("example.com={}", server.addr());
    let net = ["--insecure", "--resolve", resolve.as_str()];
    let layout_name = format!("{}:v1", path(&root));
    let discover = "discover:example.com/app#v1";
    let inspect = |image: &str| {
        let mut args = vec!["inspect", "--json", image];
        args.extend(net);
        let out = ocimg(&args);
        assert_eq!(out.status.code(), Some(0), "inspect {image}: {out:?}");
        json_of(&out)
    };
    assert_eq!(inspect(discover), inspect(&layout_name), "same inspection");
    let dest = work.join("from-discover");
    let mut args = vec!["unpack", "--json", discover, path(&dest)];
    args.extend(net);
    let out = ocimg(&args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mine = work.join("from-layout");
    let out = ocimg(&["unpack", &layout_name, path(&mine)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(snapshot(&dest), snapshot(&mine), "same tree");
}
