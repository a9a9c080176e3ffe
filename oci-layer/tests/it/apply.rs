//! Semantics of applying layers: whiteouts, opaque directories, type changes, hard
//! links, modes, times, extended attributes, duplicates, digests, rootless mode; and a
//! property test against a model of layer.md.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use oci_digest::Digester;
use oci_layer::apply::{Applied, ApplyOptions, Error, Expected, Refusal, Resolver};
use oci_spec_types::digest::Algorithm;

// ---------------------------------------------------------------------------------------
// Helpers shared with hostile.rs and roundtrip.rs.

/// A fresh, empty directory under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("layer-apply")
        .join(name);
    if dir.exists() {
        make_removable(&dir);
        fs::remove_dir_all(&dir).expect("clear scratch dir");
    }
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Gives every directory under `dir` owner rwx so it can be removed.
fn make_removable(dir: &Path) {
    if let Ok(md) = fs::symlink_metadata(dir)
        && md.is_dir()
    {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        if let Ok(rd) = fs::read_dir(dir) {
            for e in rd.flatten() {
                make_removable(&e.path());
            }
        }
    }
}

/// One tar entry to write.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: Vec<u8>,
    pub flag: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Vec<u8>,
    pub data: Vec<u8>,
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Written in the header's size field instead of the data length.
    pub header_size: Option<u64>,
    /// Written as a PAX `size` record.
    pub pax_size: Option<u64>,
}

impl Spec {
    pub fn new(name: impl AsRef<[u8]>, flag: u8) -> Spec {
        Spec {
            name: name.as_ref().to_vec(),
            flag,
            mode: if flag == b'5' { 0o755 } else { 0o644 },
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            link: Vec::new(),
            data: Vec::new(),
            xattrs: Vec::new(),
            header_size: None,
            pax_size: None,
        }
    }
    pub fn mode(mut self, mode: u32) -> Spec {
        self.mode = mode;
        self
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> Spec {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn mtime(mut self, mtime: u64) -> Spec {
        self.mtime = mtime;
        self
    }
    pub fn xattr(mut self, key: &str, value: &[u8]) -> Spec {
        self.xattrs.push((key.to_owned(), value.to_vec()));
        self
    }
}

pub fn file(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Spec {
    let mut s = Spec::new(name, b'0');
    s.data = data.as_ref().to_vec();
    s
}
pub fn dir(name: impl AsRef<[u8]>) -> Spec {
    Spec::new(name, b'5')
}
pub fn symlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Spec {
    let mut s = Spec::new(name, b'2').mode(0o777);
    s.link = target.as_ref().to_vec();
    s
}
pub fn hardlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Spec {
    let mut s = Spec::new(name, b'1');
    s.link = target.as_ref().to_vec();
    s
}
pub fn whiteout(dir: &str, name: &str) -> Spec {
    let path = if dir.is_empty() {
        format!(".wh.{name}")
    } else {
        format!("{dir}/.wh.{name}")
    };
    file(path, "")
}
pub fn opaque(dir: &str) -> Spec {
    let path = if dir.is_empty() {
        ".wh..wh..opq".to_owned()
    } else {
        format!("{dir}/.wh..wh..opq")
    };
    file(path, "")
}

/// A raw ustar header block with a correct checksum; names longer than 100 bytes are
/// the caller's business (use a PAX record).
pub fn header(name: &[u8], flag: u8, size: u64, spec: &Spec) -> [u8; 512] {
    let mut h = tar::Header::new_ustar();
    {
        let u = h.as_ustar_mut().expect("ustar header");
        let n = name.len().min(100);
        u.name[..n].copy_from_slice(&name[..n]);
        let l = spec.link.len().min(100);
        u.linkname[..l].copy_from_slice(&spec.link[..l]);
    }
    h.set_entry_type(tar::EntryType::new(flag));
    h.set_mode(spec.mode);
    h.set_uid(spec.uid);
    h.set_gid(spec.gid);
    h.set_mtime(spec.mtime);
    h.set_size(size);
    h.set_cksum();
    let mut out = [0u8; 512];
    out.copy_from_slice(h.as_bytes());
    out
}

/// One PAX record, `LEN key=value\n`.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len.to_string().len() + rest != len {
        len += 1;
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

/// Appends a PAX extended header carrying `records`.
pub fn push_pax(out: &mut Vec<u8>, records: &[u8]) {
    let spec = Spec::new("pax", b'x');
    out.extend_from_slice(&header(b"PaxHeaders/x", b'x', records.len() as u64, &spec));
    out.extend_from_slice(records);
    pad(out);
}

/// Appends one entry (with a PAX header first when needed).
pub fn push(out: &mut Vec<u8>, spec: &Spec) {
    let mut records = Vec::new();
    if spec.name.len() > 100 {
        records.extend(pax_record("path", &spec.name));
    }
    if spec.link.len() > 100 {
        records.extend(pax_record("linkpath", &spec.link));
    }
    for (k, v) in &spec.xattrs {
        records.extend(pax_record(&format!("SCHILY.xattr.{k}"), v));
    }
    if let Some(s) = spec.pax_size {
        records.extend(pax_record("size", s.to_string().as_bytes()));
    }
    if !records.is_empty() {
        push_pax(out, &records);
    }
    let size = spec.header_size.unwrap_or(spec.data.len() as u64);
    out.extend_from_slice(&header(&spec.name, spec.flag, size, spec));
    out.extend_from_slice(&spec.data);
    pad(out);
}

/// A whole tar with its end-of-archive marker.
pub fn tar(specs: &[Spec]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in specs {
        push(&mut out, s);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).expect("zstd")
}

pub fn apply_with(root: &Path, layer: &[u8], options: &ApplyOptions) -> Result<Applied, Error> {
    oci_layer::apply::apply_layer(root, layer, &Expected::default(), options)
}

pub fn apply(root: &Path, layer: &[u8]) -> Result<Applied, Error> {
    apply_with(root, layer, &ApplyOptions::default())
}

/// Both resolvers, to run a test under each.
pub fn resolvers() -> [ApplyOptions; 2] {
    [
        ApplyOptions::default(),
        ApplyOptions {
            resolver: Resolver::Walk,
            ..ApplyOptions::default()
        },
    ]
}

/// What a tree holds, path by path: type, mode, owner, size, mtime, contents or target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: (i64, i64),
    pub data: Vec<u8>,
    pub ino: u64,
    pub nlink: u64,
    pub ctime: (i64, i64),
}

/// Everything under `dir` (not following symbolic links), keyed by relative path.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    snap(dir, dir, &mut out);
    out
}

fn snap(base: &Path, path: &Path, out: &mut BTreeMap<String, Node>) {
    let Ok(md) = fs::symlink_metadata(path) else {
        return;
    };
    let ft = md.file_type();
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
        's'
    };
    let data = match kind {
        'f' => fs::read(path).unwrap_or_default(),
        'l' => fs::read_link(path)
            .map(|p| p.into_os_string().into_encoded_bytes())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let rel = path
        .strip_prefix(base)
        .expect("under base")
        .to_string_lossy()
        .into_owned();
    out.insert(
        rel,
        Node {
            kind,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            mtime: (md.mtime(), md.mtime_nsec()),
            data,
            ino: md.ino(),
            nlink: md.nlink(),
            ctime: (md.ctime(), md.ctime_nsec()),
        },
    );
    if kind == 'd' {
        let mut names: Vec<_> = fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for p in names {
            snap(base, &p, out);
        }
    }
}

/// A compact view of a tree for assertions: `path kind mode [data]`, directories' own
/// mtimes and inodes left out.
pub fn listing(root: &Path) -> Vec<String> {
    snapshot(root)
        .into_iter()
        .filter(|(p, _)| !p.is_empty())
        .map(|(p, n)| match n.kind {
            'f' => format!("{p} f {:o} {}", n.mode, String::from_utf8_lossy(&n.data)),
            'l' => format!("{p} l {}", String::from_utf8_lossy(&n.data)),
            k => format!("{p} {k} {:o}", n.mode),
        })
        .collect()
}

fn refusal(r: Result<Applied, Error>) -> Refusal {
    match r {
        Err(Error::Refused { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Semantics.

#[test]
fn files_dirs_symlinks_in_order() {
    for (i, opts) in resolvers().iter().enumerate() {
        let root = scratch(&format!("basic-{i}"));
        let layer = tar(&[
            dir("etc").mode(0o750),
            file("etc/hosts", "127.0.0.1 localhost\n").mode(0o640),
            symlink("etc/link", "hosts"),
            file("deep/er/file", "x"),
        ]);
        let applied = apply_with(&root, &layer, opts).expect("apply");
        assert_eq!(applied.entries, 4);
        assert_eq!(applied.bytes, 21);
        assert_eq!(
            listing(&root),
            [
                "deep d 755",
                "deep/er d 755",
                "deep/er/file f 644 x",
                "etc d 750",
                "etc/hosts f 640 127.0.0.1 localhost\n",
                "etc/link l hosts",
            ]
        );
    }
}

#[test]
fn whiteouts_remove_lower_entries() {
    let root = scratch("whiteout");
    apply(
        &root,
        &tar(&[
            file("a", "1"),
            dir("d"),
            file("d/x", "2"),
            file("keep", "3"),
        ]),
    )
    .unwrap();
    apply(&root, &tar(&[whiteout("", "a"), whiteout("", "d")])).unwrap();
    assert_eq!(listing(&root), ["keep f 644 3"]);
}

#[test]
fn opaque_directory_hides_lower_children_only() {
    let root = scratch("opaque");
    apply(
        &root,
        &tar(&[
            dir("d"),
            file("d/old", "1"),
            dir("d/sub"),
            file("d/sub/x", "2"),
        ]),
    )
    .unwrap();
    // The opaque marker after and before the new child: same result.
    for (i, order) in [true, false].into_iter().enumerate() {
        let root2 = scratch(&format!("opaque-{i}"));
        apply(
            &root2,
            &tar(&[
                dir("d"),
                file("d/old", "1"),
                dir("d/sub"),
                file("d/sub/x", "2"),
            ]),
        )
        .unwrap();
        let entries = if order {
            vec![dir("d"), file("d/new", "n"), opaque("d")]
        } else {
            vec![dir("d"), opaque("d"), file("d/new", "n")]
        };
        apply(&root2, &tar(&entries)).unwrap();
        assert_eq!(
            listing(&root2),
            ["d d 755", "d/new f 644 n"],
            "order {order}"
        );
    }
    // Opaque at the root of the layer.
    apply(&root, &tar(&[opaque(""), file("only", "o")])).unwrap();
    assert_eq!(listing(&root), ["only f 644 o"]);
}

#[test]
fn same_layer_whiteouts_spare_the_layer_entries() {
    for (i, before) in [true, false].into_iter().enumerate() {
        let root = scratch(&format!("same-layer-{i}"));
        apply(
            &root,
            &tar(&[file("a", "lower"), dir("d"), file("d/lower", "l")]),
        )
        .unwrap();
        let mut entries = vec![file("a", "upper"), dir("d"), file("d/upper", "u")];
        let wh = vec![whiteout("", "a"), whiteout("", "d")];
        if before {
            entries.splice(0..0, wh);
        } else {
            entries.extend(wh);
        }
        apply(&root, &tar(&entries)).unwrap();
        assert_eq!(
            listing(&root),
            ["a f 644 upper", "d d 755", "d/upper f 644 u"],
            "whiteouts before: {before}"
        );
    }
}

#[test]
fn type_changes_replace_entries() {
    let root = scratch("types");
    apply(
        &root,
        &tar(&[dir("x"), file("x/child", "c"), file("y", "file")]),
    )
    .unwrap();
    // File over directory, directory over file.
    apply(
        &root,
        &tar(&[file("x", "now a file"), dir("y").mode(0o700)]),
    )
    .unwrap();
    assert_eq!(listing(&root), ["x f 644 now a file", "y d 700"]);
    // And back; symlink over file; file over symlink.
    apply(
        &root,
        &tar(&[dir("x"), file("y", "again"), symlink("z", "x")]),
    )
    .unwrap();
    apply(&root, &tar(&[symlink("y", "x"), file("z", "plain")])).unwrap();
    assert_eq!(listing(&root), ["x d 755", "y l x", "z f 644 plain"]);
    // Directory over directory keeps the children and takes the new attributes.
    apply(&root, &tar(&[file("x/kid", "k")])).unwrap();
    apply(&root, &tar(&[dir("x").mode(0o711)])).unwrap();
    assert_eq!(
        listing(&root),
        ["x d 711", "x/kid f 644 k", "y l x", "z f 644 plain"]
    );
}

#[test]
fn hardlinks_within_and_across_layers() {
    let root = scratch("hardlinks");
    apply(
        &root,
        &tar(&[
            file("a", "shared"),
            hardlink("b", "a"),
            hardlink("c", "./x/../a"),
        ]),
    )
    .unwrap();
    let s = snapshot(&root);
    assert_eq!(s["a"].ino, s["b"].ino);
    assert_eq!(s["a"].ino, s["c"].ino);
    apply(&root, &tar(&[hardlink("d", "/b")])).unwrap();
    let s = snapshot(&root);
    assert_eq!(s["a"].ino, s["d"].ino);
    // Replacing a linked path with a new file does not write into the shared inode.
    apply(&root, &tar(&[file("b", "new")])).unwrap();
    assert_eq!(fs::read(root.join("a")).unwrap(), b"shared");
    assert_eq!(fs::read(root.join("b")).unwrap(), b"new");
    // Missing target, directory target.
    assert!(matches!(
        refusal(apply(&root, &tar(&[hardlink("e", "nope")]))),
        Refusal::LinkTargetMissing { .. }
    ));
    fs::create_dir(root.join("dd")).unwrap();
    assert!(matches!(
        refusal(apply(&root, &tar(&[hardlink("e", "dd")]))),
        Refusal::LinkTargetInvalid { .. }
    ));
}

#[test]
fn ownership_before_mode_keeps_setuid() {
    let root = scratch("setuid");
    apply(
        &root,
        &tar(&[
            file("su", "x").mode(0o4755).owner(1000, 1000),
            file("sg", "x").mode(0o2755).owner(0, 1234),
            dir("sticky").mode(0o1777).owner(5, 6),
            symlink("l", "su").owner(7, 8),
            Spec::new("fifo", b'6').mode(0o640).owner(9, 10),
        ]),
    )
    .unwrap();
    let s = snapshot(&root);
    assert_eq!(
        (s["su"].mode, s["su"].uid, s["su"].gid),
        (0o4755, 1000, 1000)
    );
    assert_eq!((s["sg"].mode, s["sg"].gid), (0o2755, 1234));
    assert_eq!((s["sticky"].mode, s["sticky"].uid), (0o1777, 5));
    assert_eq!((s["l"].uid, s["l"].gid), (7, 8));
    assert_eq!(
        (s["fifo"].kind, s["fifo"].mode, s["fifo"].uid),
        ('p', 0o640, 9)
    );
}

#[test]
fn times_directories_after_children() {
    let root = scratch("times");
    apply(
        &root,
        &tar(&[
            dir("d").mtime(1_000_000),
            dir("d/e").mtime(2_000_000),
            file("d/e/f", "x").mtime(3_000_000),
            symlink("d/l", "e").mtime(4_000_000),
            file("d/g", "y").mtime(5_000_000),
        ]),
    )
    .unwrap();
    let s = snapshot(&root);
    assert_eq!(s["d"].mtime, (1_000_000, 0));
    assert_eq!(s["d/e"].mtime, (2_000_000, 0));
    assert_eq!(s["d/e/f"].mtime, (3_000_000, 0));
    assert_eq!(s["d/l"].mtime, (4_000_000, 0));
    assert_eq!(s["d/g"].mtime, (5_000_000, 0));
    // PAX sub-second times.
    let mut layer = Vec::new();
    push_pax(&mut layer, &pax_record("mtime", b"1234567.5"));
    push(&mut layer, &file("frac", "z"));
    layer.extend_from_slice(&[0; 1024]);
    apply(&root, &layer).unwrap();
    assert_eq!(snapshot(&root)["frac"].mtime, (1_234_567, 500_000_000));
}

#[test]
fn extended_attributes() {
    let root = scratch("xattrs");
    apply(
        &root,
        &tar(&[
            dir("d").xattr("user.dir", b"dv"),
            file("d/f", "x")
                .xattr("user.one", b"1")
                .xattr("user.bin", &[0, 255, 7]),
        ]),
    )
    .unwrap();
    let get = |p: &str, k: &str| xattr::get(root.join(p), k).unwrap();
    assert_eq!(get("d", "user.dir"), Some(b"dv".to_vec()));
    assert_eq!(get("d/f", "user.one"), Some(b"1".to_vec()));
    assert_eq!(get("d/f", "user.bin"), Some(vec![0, 255, 7]));
}

#[test]
fn duplicates_last_wins_or_strict_error() {
    let root = scratch("duplicates");
    let layer = tar(&[
        file("a", "first"),
        file("a", "second"),
        dir("d").mode(0o700),
        dir("d").mode(0o751),
    ]);
    apply(&root, &layer).unwrap();
    assert_eq!(listing(&root), ["a f 644 second", "d d 751"]);
    let strict = ApplyOptions {
        strict: true,
        ..ApplyOptions::default()
    };
    let root = scratch("duplicates-strict");
    assert_eq!(
        refusal(apply_with(&root, &layer, &strict)),
        Refusal::Duplicate
    );
}

#[test]
fn compression_detected_from_bytes() {
    let layer = tar(&[file("a", "alpha"), file("b", "beta")]);
    let mut two_members = gzip(&layer[..1024]);
    two_members.extend(gzip(&layer[1024..]));
    let mut skippable = vec![0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3];
    skippable.extend(zstd(&layer));
    for (i, bytes) in [
        layer.clone(),
        gzip(&layer),
        two_members,
        zstd(&layer),
        skippable,
    ]
    .iter()
    .enumerate()
    {
        let root = scratch(&format!("compression-{i}"));
        apply(&root, bytes).unwrap_or_else(|e| panic!("input {i}: {e}"));
        assert_eq!(
            listing(&root),
            ["a f 644 alpha", "b f 644 beta"],
            "input {i}"
        );
    }
}

#[test]
fn digest_and_diff_id_checked() {
    let layer = tar(&[file("a", "alpha")]);
    let gz = gzip(&layer);
    let digest = Digester::digest_bytes(Algorithm::Sha256, &gz).digest;
    let diff_id = Digester::digest_bytes(Algorithm::Sha256, &layer).digest;
    let opts = ApplyOptions::default();
    let root = scratch("digests");
    let ok = Expected {
        digest: Some(digest.clone()),
        diff_id: Some(diff_id.clone()),
    };
    let applied = oci_layer::apply::apply_layer(&root, gz.as_slice(), &ok, &opts).unwrap();
    assert_eq!(applied.digest, Some(digest.clone()));
    assert_eq!(applied.diff_id, Some(diff_id.clone()));
    // Swapped: both mismatch; the digest is checked first.
    let bad = Expected {
        digest: Some(diff_id.clone()),
        diff_id: None,
    };
    match oci_layer::apply::apply_layer(&root, gz.as_slice(), &bad, &opts) {
        Err(Error::DigestMismatch { expected, actual }) => {
            assert_eq!((expected, actual), (diff_id.clone(), digest.clone()));
        }
        other => panic!("{other:?}"),
    }
    let bad = Expected {
        digest: None,
        diff_id: Some(digest.clone()),
    };
    match oci_layer::apply::apply_layer(&root, gz.as_slice(), &bad, &opts) {
        Err(e @ Error::DiffIdMismatch { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(digest.as_str()) && msg.contains(diff_id.as_str()),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Trailing bytes after the end marker count for the digest: read to the end.
    let mut padded = layer.clone();
    padded.extend_from_slice(&[0; 8192]);
    let padded_id = Digester::digest_bytes(Algorithm::Sha256, &padded).digest;
    let want = Expected {
        digest: None,
        diff_id: Some(padded_id.clone()),
    };
    let applied = oci_layer::apply::apply_layer(&root, padded.as_slice(), &want, &opts).unwrap();
    assert_eq!(applied.diff_id, Some(padded_id));
}

#[test]
fn rootless_mode() {
    let root = scratch("rootless");
    let opts = ApplyOptions {
        rootless: true,
        ..ApplyOptions::default()
    };
    let mut dev = Spec::new("dev/null", b'3').mode(0o666);
    dev.uid = 0;
    let applied = apply_with(
        &root,
        &tar(&[
            dir("ro").mode(0o555),
            file("ro/inside", "x").owner(1000, 1000),
            dev,
        ]),
        &opts,
    )
    .unwrap();
    assert_eq!(applied.warnings.len(), 1, "{:?}", applied.warnings);
    assert!(applied.warnings[0].contains("dev/null"));
    let s = snapshot(&root);
    assert_eq!(s["dev/null"].kind, 'f');
    assert_eq!(s["ro"].mode, 0o555);
    // No ownership change in rootless mode.
    let me = unsafe { libc::geteuid() };
    assert_eq!(s["ro/inside"].uid, me);
    // A later layer still writes into the read-only directory, which keeps its mode.
    apply_with(&root, &tar(&[file("ro/later", "y")]), &opts).unwrap();
    let s = snapshot(&root);
    assert_eq!(s["ro/later"].data, b"y");
    assert_eq!(s["ro"].mode, 0o555);
}

#[test]
fn id_mapping() {
    let root = scratch("idmap");
    let opts = ApplyOptions {
        id_map: Some(oci_layer::IdMap {
            uids: vec![oci_layer::IdRange {
                inside: 0,
                outside: 100_000,
                count: 1000,
            }],
            gids: vec![oci_layer::IdRange {
                inside: 0,
                outside: 200_000,
                count: 1000,
            }],
        }),
        ..ApplyOptions::default()
    };
    apply_with(&root, &tar(&[file("a", "x").owner(5, 6)]), &opts).unwrap();
    let s = snapshot(&root);
    assert_eq!((s["a"].uid, s["a"].gid), (100_005, 200_006));
    assert!(matches!(
        refusal(apply_with(
            &root,
            &tar(&[file("b", "x").owner(5000, 6)]),
            &opts
        )),
        Refusal::Unmapped {
            kind: "uid",
            id: 5000
        }
    ));
}

// ---------------------------------------------------------------------------------------
// Property test: random changesets against a model of layer.md.

mod model {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Node {
        File(u32, Vec<u8>),
        Dir(u32),
        Link(Vec<u8>),
    }

    #[derive(Debug, Clone)]
    pub enum Op {
        Put(String, Node),
        Whiteout(String),
        Opaque(String),
    }

    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..=3)
            .prop_map(|v| v.join("/"))
    }

    fn node() -> impl Strategy<Value = Node> {
        prop_oneof![
            (
                prop::sample::select(vec![0o644u32, 0o600, 0o4755]),
                "[a-z]{0,3}"
            )
                .prop_map(|(m, s)| Node::File(m, s.into_bytes())),
            prop::sample::select(vec![0o755u32, 0o700, 0o751]).prop_map(Node::Dir),
            "[x-z]{1,2}".prop_map(|s| Node::Link(s.into_bytes())),
        ]
    }

    pub fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (path(), node()).prop_map(|(p, n)| Op::Put(p, n)),
            1 => path().prop_map(Op::Whiteout),
            1 => prop::option::of(path()).prop_map(|p| Op::Opaque(p.unwrap_or_default())),
        ]
    }

    fn parent(p: &str) -> &str {
        p.rsplit_once('/').map_or("", |(a, _)| a)
    }

    fn ancestors(p: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut cur = p;
        while let Some((a, _)) = cur.rsplit_once('/') {
            out.push(a);
            cur = a;
        }
        out.reverse();
        out
    }

    fn under(state: &HashMap<String, Node>, p: &str) -> Vec<String> {
        let prefix = format!("{p}/");
        state
            .keys()
            .filter(|k| p.is_empty() || k.starts_with(&prefix))
            .cloned()
            .collect()
    }

    fn children(state: &HashMap<String, Node>, p: &str) -> Vec<String> {
        state
            .keys()
            .filter(|k| parent(k) == p && !k.is_empty())
            .cloned()
            .collect()
    }

    fn remove_lower(state: &mut HashMap<String, Node>, marks: &HashSet<String>, p: &str) {
        if !marks.contains(p) {
            for k in under(state, p) {
                state.remove(&k);
            }
            state.remove(p);
        } else if matches!(state.get(p), Some(Node::Dir(_))) {
            for c in children(state, p) {
                remove_lower(state, marks, &c);
            }
        }
    }

    /// Applies one layer to the model; returns the ops that are valid (entries whose
    /// parents are directories, whiteouts whose parents are not symbolic links).
    pub fn apply_layer(state: &mut HashMap<String, Node>, ops: &[Op], umask: u32) -> Vec<Op> {
        let mut marks: HashSet<String> = HashSet::new();
        let mark = |marks: &mut HashSet<String>, p: &str| {
            marks.insert(p.to_owned());
            for a in ancestors(p) {
                marks.insert(a.to_owned());
            }
        };
        let mut valid = Vec::new();
        for op in ops {
            match op {
                Op::Put(p, n) => {
                    let anc = ancestors(p);
                    if anc
                        .iter()
                        .any(|a| matches!(state.get(*a), Some(Node::File(..) | Node::Link(_))))
                    {
                        continue;
                    }
                    for a in anc {
                        if !state.contains_key(a) {
                            state.insert(a.to_owned(), Node::Dir(0o755 & !umask));
                            mark(&mut marks, a);
                        }
                    }
                    match (state.get(p), n) {
                        (Some(Node::Dir(_)), Node::Dir(m)) => {
                            state.insert(p.clone(), Node::Dir(*m));
                        }
                        _ => {
                            for k in under(state, p) {
                                state.remove(&k);
                            }
                            state.insert(p.clone(), n.clone());
                        }
                    }
                    mark(&mut marks, p);
                }
                Op::Whiteout(p) => {
                    let par = parent(p);
                    if ancestors(p)
                        .iter()
                        .any(|a| matches!(state.get(*a), Some(Node::Link(_))))
                    {
                        continue;
                    }
                    if par.is_empty() || matches!(state.get(par), Some(Node::Dir(_))) {
                        remove_lower(state, &marks, p);
                    }
                }
                Op::Opaque(p) => {
                    let mut chain = ancestors(p);
                    chain.push(p);
                    if !p.is_empty()
                        && chain
                            .iter()
                            .any(|a| matches!(state.get(*a), Some(Node::Link(_))))
                    {
                        continue;
                    }
                    if p.is_empty() || matches!(state.get(p.as_str()), Some(Node::Dir(_))) {
                        for c in children(state, p) {
                            remove_lower(state, &marks, &c);
                        }
                    }
                }
            }
            valid.push(op.clone());
        }
        valid
    }

    pub fn to_specs(ops: &[Op]) -> Vec<Spec> {
        ops.iter()
            .map(|op| match op {
                Op::Put(p, Node::File(m, d)) => file(p, d).mode(*m),
                Op::Put(p, Node::Dir(m)) => dir(p).mode(*m),
                Op::Put(p, Node::Link(t)) => symlink(p, t),
                Op::Whiteout(p) => {
                    let (d, n) = p.rsplit_once('/').unwrap_or(("", p));
                    whiteout(d, n)
                }
                Op::Opaque(p) => opaque(p),
            })
            .collect()
    }

    pub fn listing(state: &HashMap<String, Node>) -> Vec<String> {
        let mut out: Vec<String> = state
            .iter()
            .map(|(p, n)| match n {
                Node::File(m, d) => format!("{p} f {m:o} {}", String::from_utf8_lossy(d)),
                Node::Dir(m) => format!("{p} d {m:o}"),
                Node::Link(t) => format!("{p} l {}", String::from_utf8_lossy(t)),
            })
            .collect();
        out.sort();
        out
    }
}

fn current_umask() -> u32 {
    // SAFETY: umask has no preconditions; it is set back at once.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]
    #[test]
    fn random_changesets_match_the_model(
        layers in proptest::collection::vec(proptest::collection::vec(model::op(), 1..12), 1..4),
        walk in proptest::bool::ANY,
    ) {
        let umask = current_umask();
        let root = scratch("proptest");
        let opts = ApplyOptions {
            resolver: if walk { Resolver::Walk } else { Resolver::Auto },
            ..ApplyOptions::default()
        };
        let mut state = std::collections::HashMap::new();
        for ops in &layers {
            let valid = model::apply_layer(&mut state, ops, umask);
            apply_with(&root, &tar(&model::to_specs(&valid)), &opts)
                .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(listing(&root), model::listing(&state), "layer {:?}", valid);
        }
    }
}
