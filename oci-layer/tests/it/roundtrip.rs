//! Create then apply gives back the identical tree: types, modes, owners, contents, link
//! targets, hard links, device numbers, extended attributes and mtimes (whole seconds, as
//! layers store them).
//!
//! The real root filesystem comes from `OCI_ROOTFS` (set by `.ci/run`), else
//! `target/bench/rootfs`, else `debootstrap --variant=minbase bookworm` builds it there
//! with the mirror of apt's own configuration; without debootstrap a generated tree of
//! similar shape stands in. A generated tree (long names, xattrs, devices, odd owners)
//! always makes a second round trip.

// Skips and fallbacks are reported on standard error, visibly.
#![allow(clippy::print_stderr)]

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use oci_layer::apply::{ApplyOptions, Expected, apply_layer};
use oci_layer::create::{Compression, CreateOptions, create};

use crate::apply::scratch;

/// One path's identity, everything a layer keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    kind: char,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    rdev: u64,
    /// Contents' digest for files, the target for symbolic links.
    data: Vec<u8>,
    xattrs: BTreeMap<String, Vec<u8>>,
    /// The first path (in order) of this inode's hard link group.
    group: String,
}

fn inventory(root: &Path) -> BTreeMap<String, Item> {
    let mut out = BTreeMap::new();
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    walk(root, root, &mut out, &mut inodes);
    out
}

fn walk(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, Item>,
    inodes: &mut HashMap<(u64, u64), String>,
) {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    names.sort();
    for path in names {
        let md = fs::symlink_metadata(&path).expect("lstat");
        let ft = md.file_type();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let kind = if ft.is_dir() {
            'd'
        } else if ft.is_symlink() {
            'l'
        } else if ft.is_file() {
            'f'
        } else if ft.is_fifo() {
            'p'
        } else if ft.is_char_device() {
            'c'
        } else if ft.is_block_device() {
            'b'
        } else {
            continue; // sockets are not stored in layers
        };
        let data = match kind {
            'f' => oci_digest::Digester::digest_bytes(
                oci_spec_types::digest::Algorithm::Sha256,
                &fs::read(&path).expect("read"),
            )
            .digest
            .into_string()
            .into_bytes(),
            'l' => fs::read_link(&path)
                .unwrap()
                .into_os_string()
                .into_encoded_bytes(),
            _ => Vec::new(),
        };
        let xattrs = if kind == 'l' {
            BTreeMap::new()
        } else {
            xattr::list(&path)
                .map(|names| {
                    names
                        .filter_map(|n| {
                            let v = xattr::get(&path, &n).ok().flatten()?;
                            Some((n.to_string_lossy().into_owned(), v))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let group = if kind != 'd' && md.nlink() > 1 {
            inodes
                .entry((md.dev(), md.ino()))
                .or_insert_with(|| rel.clone())
                .clone()
        } else {
            rel.clone()
        };
        out.insert(
            rel.clone(),
            Item {
                kind,
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                mtime: md.mtime(),
                rdev: if matches!(kind, 'c' | 'b') {
                    md.rdev()
                } else {
                    0
                },
                data,
                xattrs,
                group,
            },
        );
        if kind == 'd' {
            walk(root, &path, out, inodes);
        }
    }
}

/// Creates a gzip layer of `tree`, applies it to a fresh root and compares.
fn round_trip(tree: &Path, name: &str) {
    let work = scratch(name);
    let layer_path = work.join("layer.tar.gz");
    let out = fs::File::create(&layer_path).unwrap();
    let options = CreateOptions {
        compression: Compression::Gzip { level: 1 },
        ..CreateOptions::default()
    };
    let created = create(tree, std::io::BufWriter::new(out), &options).expect("create");
    let root = work.join("root");
    fs::create_dir(&root).unwrap();
    let expected = Expected {
        digest: Some(created.digest.clone()),
        diff_id: Some(created.diff_id.clone()),
    };
    let layer = fs::File::open(&layer_path).unwrap();
    let applied = apply_layer(&root, layer, &expected, &ApplyOptions::default()).expect("apply");
    assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
    let want = inventory(tree);
    let got = inventory(&root);
    assert!(want.len() > 10);
    assert_eq!(applied.entries as usize, want.len());
    let missing: Vec<_> = want
        .keys()
        .filter(|k| !got.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .keys()
        .filter(|k| !want.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    let differ: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(v))
        .take(5)
        .map(|(k, v)| format!("{k}: want {v:?}, got {:?}", got.get(k)))
        .collect();
    assert!(
        differ.is_empty(),
        "{} differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The mirror of apt's own configuration (deb822 `.sources` first, then `.list`).
fn apt_mirror() -> Option<String> {
    let mut texts = Vec::new();
    if let Ok(rd) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext == "sources" || ext == "list" {
                texts.push(fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    texts.push(fs::read_to_string("/etc/apt/sources.list").unwrap_or_default());
    texts.iter().flat_map(|t| t.lines()).find_map(|line| {
        let line = line.trim();
        let uri = if let Some(rest) = line.strip_prefix("URIs:") {
            rest.split_whitespace().next()
        } else if let Some(rest) = line.strip_prefix("deb ") {
            rest.split_whitespace().find(|w| !w.starts_with('['))
        } else {
            None
        }?;
        uri.trim_end_matches('/')
            .ends_with("/debian")
            .then(|| uri.to_owned())
    })
}

/// The real root filesystem, built when needed; `None` when it cannot be had.
fn real_rootfs() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OCI_ROOTFS") {
        return Some(PathBuf::from(p));
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench/rootfs");
    if target.join("usr").is_dir() {
        return Some(target);
    }
    let have = Command::new("sh")
        .args(["-c", "command -v debootstrap"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(!in_ci(), "debootstrap is not installed");
        eprintln!("skipped: debootstrap not installed (round trip over a generated tree instead)");
        return None;
    }
    let mirror = apt_mirror()?;
    let building = target.with_extension("building");
    let _ = fs::remove_dir_all(&building);
    let ok = Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&building)
        .arg(&mirror)
        .output()
        .is_ok_and(|o| o.status.success());
    if ok && fs::rename(&building, &target).is_ok() {
        Some(target)
    } else {
        eprintln!("debootstrap from {mirror} failed: round trip over a generated tree instead");
        None
    }
}

/// A tree with the shape of a small root filesystem and every kind of entry.
fn generated_tree(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).unwrap();
    let mut n = 0u64;
    for top in [
        "bin",
        "etc",
        "usr/lib/x86_64-linux-gnu",
        "usr/share/doc",
        "var/lib/dpkg",
    ] {
        for sub in 0..12 {
            let d = dir.join(top).join(format!("pkg{sub}"));
            fs::create_dir_all(&d).unwrap();
            for f in 0..40 {
                n += 1;
                let p = d.join(format!("file{f}.txt"));
                let size = (n * 7919) % 20_000;
                fs::write(&p, vec![b'a' + (n % 26) as u8; size as usize]).unwrap();
                let mode = [0o644, 0o755, 0o600, 0o4755, 0o2711][(n % 5) as usize];
                fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
                std::os::unix::fs::lchown(&p, Some((n % 3) as u32 * 1000), Some((n % 4) as u32))
                    .unwrap();
                let when =
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000 + n * 977);
                fs::File::options()
                    .write(true)
                    .open(&p)
                    .and_then(|f| f.set_modified(when))
                    .unwrap();
            }
            symlink(format!("file{}.txt", sub), d.join("rel-link")).unwrap();
            symlink("/etc/passwd", d.join("abs-link")).unwrap();
            symlink("../nowhere", d.join("dangling")).unwrap();
            fs::hard_link(d.join("file1.txt"), d.join("hard1")).unwrap();
        }
    }
    let long = dir
        .join("usr/share/doc")
        .join("n".repeat(120))
        .join("m".repeat(150));
    fs::create_dir_all(&long).unwrap();
    fs::write(long.join("f".repeat(200)), "long name").unwrap();
    symlink("t".repeat(300), long.join("long-target")).unwrap();
    xattr::set(dir.join("etc/pkg0/file0.txt"), "user.one", b"1").unwrap();
    xattr::set(dir.join("etc/pkg0"), "user.dir", b"dir value").unwrap();
    // Needs root; left out otherwise.
    let _ = xattr::set(
        dir.join("bin/pkg1/file1.txt"),
        "trusted.overlay.x",
        b"\0\x01",
    );
    let dev = dir.join("dev");
    fs::create_dir(&dev).unwrap();
    let mk = |name: &str, kind: u32, maj: u32, min: u32| {
        let p =
            std::ffi::CString::new(dev.join(name).into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: mknod with a valid NUL-terminated path.
        let r = unsafe { libc::mknod(p.as_ptr(), kind | 0o666, libc::makedev(maj, min)) };
        assert_eq!(r, 0, "mknod {name}");
    };
    mk("null", libc::S_IFCHR, 1, 3);
    mk("loop0", libc::S_IFBLK, 7, 0);
    mk("fifo", libc::S_IFIFO, 0, 0);
    fs::set_permissions(dir.join("dev"), fs::Permissions::from_mode(0o700)).unwrap();
    // Fixed mtimes for directories (their contents are final now), bottom up.
    let out = Command::new("find")
        .arg(dir)
        .args([
            "-type",
            "d",
            "-exec",
            "touch",
            "-d",
            "@1700000000",
            "{}",
            "+",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn round_trip_generated_tree() {
    let tree = scratch("roundtrip-generated-src");
    generated_tree(&tree);
    round_trip(&tree, "roundtrip-generated");
}

#[test]
fn round_trip_real_root_filesystem() {
    match real_rootfs() {
        Some(rootfs) => round_trip(&rootfs, "roundtrip-rootfs"),
        None => {
            let tree = scratch("roundtrip-fallback-src");
            generated_tree(&tree);
            round_trip(&tree, "roundtrip-fallback");
        }
    }
}
