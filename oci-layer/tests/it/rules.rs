//! Rules of the image-spec checklist (REQUIREMENTS.md) about layers that no other test
//! checks: each test names the rule ids it covers; `conformance/rules.tsv` maps the
//! rules to these tests.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use oci_layer::{Compression, CreateOptions};

use super::apply::{Node, apply, dir, file, pax_record, push_pax, scratch, snapshot, tar};

/// Pads `out` to a whole number of 512-byte blocks.
fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(512), 0);
}

/// A ustar header with user and group names as well as numeric ids.
fn named_header(name: &str, uid: u64, gid: u64, uname: &str, gname: &str) -> [u8; 512] {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).expect("path");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o640);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_username(uname).expect("uname");
    h.set_groupname(gname).expect("gname");
    h.set_mtime(1_600_000_000);
    h.set_size(1);
    h.set_cksum();
    let mut out = [0u8; 512];
    out.copy_from_slice(h.as_bytes());
    out
}

/// Y4: the numeric uid and gid decide a file's owner; `uname` and `gname` (in the
/// header or in PAX records) are ignored, even when they name existing users.
#[test]
fn apply_ignores_user_and_group_names_when_ids_are_numeric() {
    let root = scratch("rules-y4");
    let mut layer = Vec::new();
    for (name, uid, gid, uname, gname) in [
        ("a", 4321, 4322, "root", "root"),
        ("b", 0, 0, "nobody", "nogroup"),
        ("c", 1, 2, "no-such-user-here", "no-such-group-here"),
    ] {
        layer.extend_from_slice(&named_header(name, uid, gid, uname, gname));
        layer.extend_from_slice(b"x");
        pad(&mut layer);
    }
    // PAX names override the header's for that entry: still ignored.
    let mut records = pax_record("uname", b"root");
    records.extend(pax_record("gname", b"root"));
    push_pax(&mut layer, &records);
    layer.extend_from_slice(&named_header("d", 777, 778, "", ""));
    layer.extend_from_slice(b"x");
    pad(&mut layer);
    layer.extend_from_slice(&[0u8; 1024]);

    apply(&root, &layer).expect("apply");
    let s = snapshot(&root);
    let owner = |p: &str| (s[p].uid, s[p].gid);
    assert_eq!(owner("a"), (4321, 4322));
    assert_eq!(owner("b"), (0, 0));
    assert_eq!(owner("c"), (1, 2));
    assert_eq!(owner("d"), (777, 778));
}

/// The entries of an uncompressed layer: (path, typeflag, PAX keys, content).
fn entries(layer: &[u8]) -> Vec<(String, u8, Vec<String>, Vec<u8>)> {
    let mut archive = tar::Archive::new(layer);
    let mut out = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = String::from_utf8(entry.path_bytes().into_owned()).expect("utf-8 path");
        let mut keys = Vec::new();
        if let Some(pax) = entry.pax_extensions().expect("pax") {
            for ext in pax {
                keys.push(ext.expect("record").key().expect("key").to_owned());
            }
        }
        let flag = entry.header().entry_type().as_byte();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("content");
        out.push((path, flag, keys, content));
    }
    out
}

/// Y5: a sparse source file becomes a plain regular-file entry with every byte (holes
/// as zeros): never a GNU sparse entry (`S`) nor PAX `GNU.sparse.*` records.
#[test]
fn a_sparse_file_becomes_a_regular_entry() {
    let dir = scratch("rules-y5").join("tree");
    fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("sparse");
    let len: u64 = 8 << 20;
    {
        let mut f = fs::File::create(&path).expect("create");
        f.write_all(b"head").expect("write");
        f.seek(SeekFrom::Start(len - 4)).expect("seek");
        f.write_all(b"tail").expect("write");
    }
    let md = fs::metadata(&path).expect("stat");
    assert_eq!(md.len(), len);
    assert!(
        md.blocks() * 512 < len,
        "the source file is sparse ({} blocks)",
        md.blocks()
    );
    let mut layer = Vec::new();
    let options = CreateOptions {
        compression: Compression::None,
        ..CreateOptions::default()
    };
    oci_layer::create(&dir, &mut layer, &options).expect("create");
    let found = entries(&layer);
    let (_, flag, keys, content) = found
        .iter()
        .find(|(p, ..)| p == "sparse")
        .expect("an entry for the sparse file");
    assert_eq!(*flag, b'0', "a regular-file entry");
    assert!(
        keys.iter().all(|k| !k.starts_with("GNU.sparse")),
        "{keys:?}"
    );
    assert_eq!(content.len() as u64, len);
    assert_eq!(&content[..4], b"head");
    assert_eq!(&content[content.len() - 4..], b"tail");
    assert!(content[4..content.len() - 4].iter().all(|b| *b == 0));
    assert!(found.iter().all(|(_, flag, ..)| *flag != b'S'));
}

/// A tree's paths, each with its node and sorted extended attributes.
type State = Vec<(String, Node, Vec<(String, Vec<u8>)>)>;

/// Everything of a tree that a layer tool could change, extended attributes included.
fn state(root: &Path) -> State {
    snapshot(root)
        .into_iter()
        .map(|(p, n)| {
            let full = root.join(&p);
            let mut xattrs: Vec<(String, Vec<u8>)> = if n.kind == 'l' {
                Vec::new()
            } else {
                xattr::list(&full)
                    .expect("list xattrs")
                    .map(|k| {
                        let v = xattr::get(&full, &k).expect("xattr").unwrap_or_default();
                        (k.to_string_lossy().into_owned(), v)
                    })
                    .collect()
            };
            xattrs.sort();
            (p, n, xattrs)
        })
        .collect()
}

fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/empty")).expect("mkdir");
    fs::create_dir_all(root.join("bin")).expect("mkdir");
    fs::write(root.join("etc/hostname"), "box\n").expect("write");
    fs::write(root.join("bin/tool"), vec![7u8; 300_000]).expect("write");
    fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o4755)).expect("chmod");
    fs::hard_link(root.join("bin/tool"), root.join("bin/tool2")).expect("link");
    symlink("tool", root.join("bin/link")).expect("symlink");
    xattr::set(root.join("etc/hostname"), "user.note", b"kept").expect("xattr");
    let fifo = std::ffi::CString::new(root.join("etc/fifo").into_os_string().into_encoded_bytes())
        .expect("no NUL");
    // SAFETY: a valid C string; mkfifo only reads it.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
}

/// Y8: creating a layer of a tree, or the difference of two trees, leaves both source
/// trees exactly as they were (contents, modes, owners, times, inodes, links, xattrs).
#[test]
fn creating_a_layer_leaves_the_source_trees_unchanged() {
    let base = scratch("rules-y8");
    let old = base.join("old");
    let new = base.join("new");
    sample_tree(&old);
    sample_tree(&new);
    fs::write(new.join("etc/hostname"), "other\n").expect("write");
    fs::remove_file(new.join("bin/link")).expect("rm");
    fs::create_dir_all(new.join("var/lib")).expect("mkdir");
    fs::write(new.join("var/lib/state"), "s").expect("write");
    let before = (state(&old), state(&new));
    for compression in [
        Compression::None,
        Compression::DEFAULT_GZIP,
        Compression::Zstd { level: 3 },
    ] {
        for opaque in [false, true] {
            let options = CreateOptions {
                compression,
                opaque,
                ..CreateOptions::default()
            };
            oci_layer::create(&new, Vec::new(), &options).expect("create");
            oci_layer::diff(&old, &new, Vec::new(), &options).expect("diff");
        }
    }
    assert_eq!((state(&old), state(&new)), before);
}

/// Lower layer: directory `d` (mode 755, owner 1:2, mtime 1000000, xattr user.old) with
/// a child; upper layer: directory `d` again (mode 1700, owner 3:4, mtime 2000000, xattr
/// user.new). Returns the tree and the inode `d` had after the lower layer.
fn directory_over_directory(test: &str) -> (std::path::PathBuf, u64) {
    let root = scratch(test);
    apply(
        &root,
        &tar(&[
            dir("d")
                .mode(0o755)
                .owner(1, 2)
                .mtime(1_000_000)
                .xattr("user.old", b"1"),
            file("d/child", "c"),
        ]),
    )
    .expect("lower layer");
    let inode = snapshot(&root)["d"].ino;
    apply(
        &root,
        &tar(&[dir("d")
            .mode(0o1700)
            .owner(3, 4)
            .mtime(2_000_000)
            .xattr("user.new", b"2")]),
    )
    .expect("upper layer");
    (root, inode)
}

/// Y10: a directory entry over an existing directory replaces its mode, owner and
/// times, and adds the entry's extended attributes; the directory itself (same inode)
/// and its children stay.
#[test]
fn a_directory_over_a_directory_takes_the_entry_mode_owner_and_times() {
    let (root, inode) = directory_over_directory("rules-y10");
    let s = snapshot(&root);
    let d = &s["d"];
    assert_eq!(d.kind, 'd');
    assert_eq!(d.ino, inode, "the directory is kept, not recreated");
    assert_eq!((d.mode, d.uid, d.gid), (0o1700, 3, 4));
    assert_eq!(d.mtime, (2_000_000, 0));
    assert_eq!(s["d/child"].data, b"c");
    assert_eq!(
        xattr::get(root.join("d"), "user.new").expect("xattr"),
        Some(b"2".to_vec())
    );
}

/// Y10 (with Y3: extended attributes are among a layer's attributes): the lower
/// directory's extended attributes are replaced too, so one the entry lacks is gone.
#[test]
fn a_directory_over_a_directory_drops_the_lower_extended_attributes() {
    let (root, _) = directory_over_directory("rules-y10-xattrs");
    assert_eq!(
        xattr::get(root.join("d"), "user.new").expect("xattr"),
        Some(b"2".to_vec())
    );
    assert_eq!(
        xattr::get(root.join("d"), "user.old").expect("xattr"),
        None,
        "the lower directory's extended attributes are replaced too"
    );
}
