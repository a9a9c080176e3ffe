//! Fuzz target: arbitrary bytes applied as a layer (gzip, zstd or plain tar, as detected)
//! into a fresh root next to a sentinel tree. Besides "never panics", nothing outside the
//! root may change: every entry, content, mode, link count and mtime of the sentinel and
//! of the arena around the root is compared before and after.
#![no_main]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oci_layer::apply::{ApplyOptions, Expected, Limits, Resolver, apply_layer};

libfuzzer_sys::fuzz_target!(|data: &[u8]| layer_apply(data));

/// The arena: `ARENA/root` (emptied for each input) and the sentinel `ARENA/outside`.
fn arena() -> &'static PathBuf {
    static ARENA: OnceLock<PathBuf> = OnceLock::new();
    ARENA.get_or_init(|| {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/fuzz-layer-apply")
            .join(std::process::id().to_string());
        let _ = fs::remove_dir_all(&base);
        let outside = base.join("outside");
        fs::create_dir_all(outside.join("dir")).expect("create arena");
        fs::write(outside.join("secret"), "secret").expect("write sentinel");
        fs::write(outside.join("dir/x"), "x").expect("write sentinel");
        symlink("secret", outside.join("link")).expect("symlink sentinel");
        base
    })
}

/// Everything under `dir` except `skip`: type, mode, owner, links, size, mtime, content.
fn snapshot(
    dir: &Path,
    skip: &Path,
    out: &mut BTreeMap<PathBuf, (u32, u32, u64, u64, i64, i64, Vec<u8>)>,
) {
    if dir == skip {
        return;
    }
    let Ok(md) = fs::symlink_metadata(dir) else {
        return;
    };
    let data = if md.is_file() {
        fs::read(dir).unwrap_or_default()
    } else if md.file_type().is_symlink() {
        fs::read_link(dir)
            .map(|p| p.into_os_string().into_encoded_bytes())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    out.insert(
        dir.to_path_buf(),
        (
            md.mode(),
            md.uid(),
            md.nlink(),
            md.size(),
            md.mtime(),
            md.mtime_nsec(),
            data,
        ),
    );
    if md.is_dir() {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            snapshot(&entry.path(), skip, out);
        }
    }
}

/// The target body, over bytes.
pub fn layer_apply(data: &[u8]) {
    let base = arena();
    let root = base.join("root");
    if root.exists() {
        fs::remove_dir_all(&root).expect("empty the root");
    }
    fs::create_dir(&root).expect("create the root");
    let mut before = BTreeMap::new();
    snapshot(base, &root, &mut before);
    let options = ApplyOptions {
        limits: Limits {
            max_bytes: 64 << 20,
            max_entries: 10_000,
            ..Limits::default()
        },
        resolver: if data.len() % 2 == 0 {
            Resolver::Auto
        } else {
            Resolver::Walk
        },
        ..ApplyOptions::default()
    };
    let _ = apply_layer(&root, data, &Expected::default(), &options);
    let mut after = BTreeMap::new();
    snapshot(base, &root, &mut after);
    assert!(before == after, "something outside the root changed");
    assert!(
        fs::symlink_metadata(&root).is_ok_and(|m| m.is_dir()),
        "the root is no longer a directory"
    );
}
